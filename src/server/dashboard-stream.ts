/**
 * The dashboard's live feed: server-sent events read from the store's durable event log, so
 * a change made by any process (a remote worker, another `baton serve`) reaches every open
 * dashboard. The browser sends its token in the Authorization header through a streaming
 * `fetch` (EventSource cannot send headers, and a token must never ride in a URL).
 *
 * Messages: `hello` (the cursor the stream starts after: load state, then apply changes),
 * `change` (one event of the log), `progress` (a running task's progress, which the log does
 * not record: polled for the run being watched) and `ping` (keeps proxies from timing out).
 * A reconnecting client sends `Last-Event-ID` and misses nothing.
 */
import type { Context, Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { checkStorableText } from '../core/text.js';
import { parseOrThrow } from '../core/validation.js';
import { EventTail } from '../observability/event-tail.js';
import type { Store } from '../store/store.js';
import type { EventRecord, TokenRecord } from '../store/types.js';
import { requireRight } from './auth.js';
import type { ServerDeps } from './route.js';
import { idSchema } from '../protocol/schemas.js';

export interface EventStreamOptions {
  /** How often the log is read for changes made elsewhere (ms). Default 250. */
  pollIntervalMs?: number;
  /** Longest silence before a `ping` (ms). Default 15000. */
  keepAliveMs?: number;
}

const querySchema = z.strictObject({
  runId: idSchema.optional(),
  after: z.coerce.number().int().min(0).optional(),
});
const lastEventId = z.coerce.number().int().min(0);

/** The id of the newest event, found with O(log n) probes (the store has no "newest" read). */
export async function headEventId(store: Pick<Store, 'listEvents'>): Promise<number> {
  const exists = async (id: number): Promise<boolean> =>
    (await store.listEvents({ afterId: id - 1, limit: 1 })).length > 0;
  if (!(await exists(1))) {
    const first = await store.listEvents({ afterId: 0, limit: 1 });
    if (first.length === 0) return 0;
  }
  let low = 1;
  let high = 2;
  while (await exists(high)) {
    low = high;
    high *= 2;
  }
  // The newest event is at or after `low` and before `high`: ids may have gaps (cleanup), so
  // finish by reading forward from the last probe that found one.
  while (high - low > 64) {
    const mid = Math.floor((low + high) / 2);
    if (await exists(mid)) low = mid;
    else high = mid;
  }
  let head = low;
  for (;;) {
    const page = await store.listEvents({ afterId: head, limit: 500 });
    if (page.length === 0) return head;
    head = page[page.length - 1]!.id;
  }
}

function toMessage(e: EventRecord): Record<string, unknown> {
  return {
    id: e.id,
    at: e.at,
    type: e.type,
    taskId: e.taskId,
    runId: e.runId,
    workerId: e.workerId,
    from: e.from,
    to: e.to,
    reason: e.reason,
  };
}

export function mountEventStream(
  app: Hono,
  path: string,
  deps: ServerDeps,
  tokenOf: (c: Context) => Promise<TokenRecord>,
  options: EventStreamOptions = {},
): void {
  const pollIntervalMs = options.pollIntervalMs ?? 250;
  const keepAliveMs = options.keepAliveMs ?? 15_000;
  app.get(path, async (c) => {
    const token = await tokenOf(c);
    requireRight(token, 'read');
    // Token events (who made or revoked which token) are for admins only.
    const visible = (e: EventRecord): boolean =>
      token.role === 'admin' || !e.type.startsWith('token:');
    checkStorableText(c.req.query(), 'query', 'query');
    const query = parseOrThrow(querySchema, c.req.query(), 'query', 'query');
    const header = c.req.header('last-event-id');
    const resumeFrom =
      header === undefined ? undefined : parseOrThrow(lastEventId, header, 'Last-Event-ID');
    const after = resumeFrom ?? query.after ?? (await headEventId(deps.store));
    // Counts against the token's open streams; ends when the token is revoked.
    const open = deps.streams.open(token, c.req.raw.signal);
    return streamSSE(c, async (stream) => {
      const tail = new EventTail(deps.store, after);
      let wake: () => void = () => undefined;
      const nudge = (): void => wake();
      // Changes made in this process wake the stream at once; others are found by polling.
      const offs = (
        ['task:submitted', 'task:started', 'task:completed', 'task:failed', 'task:retry'] as const
      )
        .map((e) => deps.orchestrator.on(e, nudge))
        .concat([
          deps.orchestrator.on('task:cancelled', nudge),
          deps.orchestrator.on('task:progress', nudge),
          deps.orchestrator.on('task:checkpoint', nudge),
        ]);
      stream.onAbort(nudge);
      open.signal.addEventListener('abort', nudge, { once: true });
      const progress = new Map<string, number>();
      let lastWriteAt = Date.now();
      try {
        await stream.writeSSE({
          event: 'hello',
          id: String(after),
          data: JSON.stringify({ after }),
        });
        while (!stream.aborted && !stream.closed && !open.signal.aborted) {
          const changes: EventRecord[] = [];
          await tail.catchUp((events) => changes.push(...events));
          for (const e of changes) {
            if (query.runId !== undefined && e.runId !== query.runId) continue;
            if (!visible(e)) continue;
            await stream.writeSSE({
              event: 'change',
              id: String(e.id),
              data: JSON.stringify(toMessage(e)),
            });
            lastWriteAt = Date.now();
          }
          if (query.runId !== undefined) {
            const running = await deps.store.listTasks({ runId: query.runId, state: 'running' });
            for (const t of running) {
              if (progress.get(t.id) === t.progress) continue;
              progress.set(t.id, t.progress);
              await stream.writeSSE({
                event: 'progress',
                data: JSON.stringify({
                  taskId: t.id,
                  progress: t.progress,
                  message: t.progressMessage,
                }),
              });
              lastWriteAt = Date.now();
            }
          }
          if (Date.now() - lastWriteAt >= keepAliveMs) {
            await stream.writeSSE({ event: 'ping', data: '{}' });
            lastWriteAt = Date.now();
          }
          if (open.signal.aborted) break;
          await new Promise<void>((resolve) => {
            const cancel = deps.clock.setTimer(() => resolve(), pollIntervalMs);
            wake = () => {
              cancel();
              resolve();
            };
          });
        }
      } finally {
        for (const off of offs) off();
        open.close();
      }
    });
  });
}
