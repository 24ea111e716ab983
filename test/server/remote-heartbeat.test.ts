/**
 * A remote worker (`baton worker --server`, a real process) heartbeats from a thread of its
 * own: a handler that blocks the worker's event loop for 6 s, twice the worker timeout, keeps
 * its lease and completes on its first attempt. From the event loop, every beat would wait for
 * the handler, the server would declare the worker lost, and the task would run again.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from '../helpers/processes.js';
import { eventually, useProcesses, useServer } from './harness.js';

describe('remote worker heartbeats', () => {
  const open = useServer();
  const spawnBaton = useProcesses();

  it('a handler that blocks the event loop past the worker timeout keeps its lease', async () => {
    const h = await open({ engine: { workerTimeoutMs: 3000, sweepIntervalMs: 200 } });
    const task = await h.orchestrator.submit({
      type: 'busy',
      payload: { ms: 6000 },
      maxAttempts: 3,
    });
    const worker = spawnBaton(
      [
        'worker',
        '--server',
        h.url,
        '--token',
        h.tokens.worker,
        '--handlers',
        join(FIXTURES, 'ledger-handlers.mjs'),
        '--heartbeat-interval-ms',
        '300',
      ],
      h.dir,
    );
    const done = await eventually(
      async () => {
        const t = await h.store.getTask(task.id);
        return t !== null && ['completed', 'failed'].includes(t.state) ? t : undefined;
      },
      'the busy task to finish',
      60_000,
    );
    expect(done.state, worker.output()).toBe('completed');
    expect(done.attempt).toBe(1);
    expect(done.result).toEqual({ spins: true, attempt: 1 });
    const events = await h.store.listEvents({ limit: 1000 });
    expect(events.filter((e) => e.type === 'worker:lost')).toEqual([]);
    expect(events.filter((e) => e.type === 'task:started')).toHaveLength(1);
  }, 90_000);
});
