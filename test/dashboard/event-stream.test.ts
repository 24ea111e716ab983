/**
 * The dashboard's server-sent event feed over real HTTP: token in the header, events from
 * the durable log (also those written by another process), run filter, resumption with
 * Last-Event-ID, refusals.
 */
import { describe, expect, it } from 'vitest';
import { headEventId } from '../../src/server/dashboard-stream.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { useServer, type ServerHarness } from '../server/harness.js';

interface Message {
  event: string;
  id: string | null;
  data: Record<string, unknown>;
}

/** Reads SSE messages until `until` says stop; the connection is closed afterwards. */
async function readStream(
  h: ServerHarness,
  query: string,
  until: (seen: Message[]) => boolean,
  headers: Record<string, string> = {},
): Promise<Message[]> {
  const controller = new AbortController();
  const res = await fetch(`${h.url}/api/v1/dashboard/events${query}`, {
    headers: { Authorization: `Bearer ${h.tokens.read}`, ...headers },
    signal: controller.signal,
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const seen: Message[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    while (!until(seen)) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const field = (name: string): string | null =>
          block
            .split('\n')
            .find((l) => l.startsWith(`${name}:`))
            ?.slice(name.length + 1)
            .trim() ?? null;
        seen.push({
          event: field('event') ?? 'message',
          id: field('id'),
          data: JSON.parse(field('data') ?? 'null') as Record<string, unknown>,
        });
      }
    }
  } finally {
    controller.abort();
  }
  return seen;
}

describe('dashboard event stream', () => {
  const open = useServer();

  it('streams changes from the durable log, filtered by run, and resumes after an id', async () => {
    const h = await open();
    const { run } = await h.orchestrator.submitRun({
      name: 'streamed',
      tasks: [{ key: 'a', type: 'job' }],
    });
    await h.orchestrator.submitRun({ name: 'other', tasks: [{ key: 'x', type: 'job' }] });
    // A write from another connection to the same file (another process in production).
    const other = new SqliteStore({ path: h.store.path });
    const [task] = await h.store.listTasks({ runId: run.id });
    const reading = readStream(h, `?runId=${run.id}&after=0`, (seen) =>
      seen.some((m) => m.event === 'change' && m.data.type === 'task:cancelled'),
    );
    await other.cancel(task!.id, 'stopped elsewhere');
    const seen = await reading;
    await other.close();
    expect(seen[0]).toMatchObject({ event: 'hello', data: { after: 0 } });
    const changes = seen.filter((m) => m.event === 'change');
    expect(changes.every((m) => m.data.runId === run.id)).toBe(true);
    expect(changes.map((m) => m.data.type)).toEqual(['task:submitted', 'task:cancelled']);
    expect(changes[1]!.data).toMatchObject({ reason: 'stopped elsewhere', to: 'cancelled' });

    // Reconnecting with Last-Event-ID gives only what came after it.
    const firstId = changes[0]!.id!;
    const resumed = await readStream(
      h,
      `?runId=${run.id}`,
      (s) => s.some((m) => m.event === 'change'),
      { 'Last-Event-ID': firstId },
    );
    expect(resumed.find((m) => m.event === 'change')!.data.type).toBe('task:cancelled');

    // Without a cursor the stream starts at the head of the log: nothing old is replayed.
    const head = await headEventId(h.store);
    const fresh = await readStream(h, '', (s) => s.length >= 1);
    expect(fresh[0]).toMatchObject({ event: 'hello', data: { after: head } });
  });

  it('shows token events to admin tokens only', async () => {
    const h = await open();
    // The harness made its tokens (token:created events) before this run was submitted.
    const { run } = await h.orchestrator.submitRun({
      name: 'after-tokens',
      tasks: [{ key: 'a', type: 'job' }],
    });
    const untilRun = (seen: Message[]) =>
      seen.some((m) => m.event === 'change' && m.data.runId === run.id);
    const types = (seen: Message[]) =>
      seen.filter((m) => m.event === 'change').map((m) => String(m.data.type));
    const asRead = types(await readStream(h, '?after=0', untilRun));
    const asClient = types(
      await readStream(h, '?after=0', untilRun, { Authorization: `Bearer ${h.tokens.client}` }),
    );
    const asAdmin = types(
      await readStream(h, '?after=0', untilRun, { Authorization: `Bearer ${h.tokens.admin}` }),
    );
    for (const seen of [asRead, asClient]) {
      expect(seen).toContain('task:submitted');
      expect(seen.filter((t) => t.startsWith('token:'))).toEqual([]);
    }
    expect(asAdmin.filter((t) => t === 'token:created').length).toBeGreaterThanOrEqual(4);
  });

  it('refuses a missing token, a worker token and a bad cursor, changing nothing', async () => {
    const h = await open();
    const url = `${h.url}/api/v1/dashboard/events`;
    expect((await fetch(url)).status).toBe(401);
    const asWorker = await fetch(url, { headers: { Authorization: `Bearer ${h.tokens.worker}` } });
    expect(asWorker.status).toBe(403);
    const bad = await fetch(`${url}?after=-3`, {
      headers: { Authorization: `Bearer ${h.tokens.read}` },
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toContain('after');
  });

  it('finds the newest event id with few reads, across gaps', async () => {
    const h = await open();
    const newest = async (): Promise<number> => {
      let last = 0;
      for (let page = await h.store.listEvents({ limit: 1000 }); page.length > 0;) {
        last = page[page.length - 1]!.id;
        page = await h.store.listEvents({ afterId: last, limit: 1000 });
      }
      return last;
    };
    expect(await headEventId(h.store)).toBe(await newest());
    const note = (i: number) => ({
      type: 'note',
      taskId: null,
      runId: null,
      workerId: null,
      from: null,
      to: null,
      reason: `n${i}`,
      data: null,
    });
    for (let i = 0; i < 150; i++) await h.store.recordEvent(note(i));
    const lastNote = await newest();
    // A run after the notes, cancelled and removed: a gap of deleted ids at the end of the log.
    const { run, tasks } = await h.orchestrator.submitRun({
      name: 'gone',
      tasks: [{ key: 'a', type: 'job' }],
    });
    await h.orchestrator.cancel(tasks[0]!.id);
    expect(await h.store.deleteRuns([run.id])).toBe(1);
    expect(await newest()).toBe(lastNote);
    expect(await headEventId(h.store)).toBe(lastNote);
  });
});
