/**
 * The long-polling claim. A worker with free slots asks for up to `limit` tasks and may wait
 * up to `waitMs` for them: the server looks again whenever this server learns that work may
 * be claimable (see `ClaimSignal`), at the poll interval for work from other processes, and
 * when the earliest delayed task falls due. A new task reaches an idle worker in milliseconds.
 */
import { refuse } from './errors.js';
import { route } from './route.js';
import { checkCapabilities, ownWorker } from './worker-access.js';
import { narrowClaim } from './token-limits.js';
import { claimBody, claimResultSchema } from '../protocol/worker-schemas.js';

export function claimRoute() {
  return route({
    method: 'POST',
    path: '/worker/claim',
    right: 'worker',
    tag: 'worker protocol',
    summary: 'Claim up to limit ready tasks, waiting up to waitMs for work (long poll)',
    body: claimBody,
    response: claimResultSchema,
    async handle({ body, token, deps, signal }) {
      checkCapabilities(token, body.capabilities);
      const worker = await ownWorker(deps, token, body.workerId);
      const extra = body.capabilities.filter((c) => !worker.capabilities.includes(c));
      if (extra.length > 0) {
        throw refuse('FORBIDDEN', `worker ${worker.id} did not register ${extra.join(', ')}`, {
          field: 'capabilities',
          extra,
        });
      }
      const { clock, claims, store, options } = deps;
      // What the token allows, whatever the worker asks for or registered with.
      const request = narrowClaim(token, {
        workerId: body.workerId,
        limit: body.limit,
        capabilities: body.capabilities,
        types: body.types,
        ...(body.typeLimits !== undefined && { typeLimits: body.typeLimits }),
        ...(body.runId !== undefined && { runId: body.runId }),
      });
      const waitMs = Math.min(body.waitMs ?? 0, options.maxClaimWaitMs);
      // A long poll counts against the token's open streams and ends if the token is revoked.
      const open = waitMs > 0 ? deps.streams.open(token, signal) : null;
      try {
        const ended = open?.signal ?? signal;
        const deadline = clock.now() + waitMs;
        for (;;) {
          const seen = claims.generation;
          const tasks = await store.claim(request);
          const left = deadline - clock.now();
          if (tasks.length > 0 || ended.aborted || claims.closed || left <= 0) return { tasks };
          if (claims.generation !== seen) continue; // woken while we looked: look again
          const dueAt = await store.nextDueAt();
          const untilDue = dueAt === null ? left : Math.max(1, dueAt - clock.now());
          await claims.wait(Math.min(left, options.claimPollIntervalMs, untilDue), ended);
          // Hung up, or the token was revoked: claim nothing more for it.
          if (ended.aborted) return { tasks: [] };
        }
      } finally {
        open?.close();
      }
    },
  });
}
