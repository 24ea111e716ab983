/**
 * A slow store, no fault (issue 18): one live worker under a backlog of 1,000,000 queued tasks
 * it cannot take. The report it answers: SQLite, one process, one worker, 100,000 queued tasks
 * of another type; the process declared its own live worker lost (its heartbeats waited behind
 * slow claims on the store's thread) and 64 of 20,000 no-op tasks ran twice.
 *
 * Here a real `baton worker --store` process (its own sweeper running, short heartbeat and
 * worker timeouts) runs no-op tasks on a durable store holding the backlog, while this
 * process submits them and sweeps too. Every task must complete, each started exactly once,
 * and no worker may be declared lost. Should a claim again cost time in proportion to the
 * backlog (a scan past 1,000,000 foreign rows, several times per heartbeat interval) while
 * beats or judgements wait behind it, the worker's silence would pass the 2.5 s timeout, a
 * sweeper would declare it lost and its running tasks would start again: `worker:lost`, a
 * second `task:started`, an attempt 2.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Orchestrator } from '../../src/engine/orchestrator.js';
import type { Store } from '../../src/store/store.js';
import type { EventRecord, TaskRecord } from '../../src/store/types.js';
import { useProcesses, waitUntil } from '../helpers/processes.js';
import { TIMING, workerArgs } from './workers.js';

const BACKLOG = 1_000_000;
const TASKS = 20_000;
const BATCH = 1000;

/** A store holding the backlog: what the worker is given as `--store`, and how to fill it. */
export interface BacklogBackend {
  store: Store;
  url: string;
  /**
   * Fills the backlog as `submit` would, fast: one statement copies the row of a task submitted
   * through the store (every column, its lane among them; the partial `tasks_lanes` index the
   * claims walk is kept by the database) `copies` times, as `backlog-1`, `backlog-2`, …
   */
  copyBacklog(templateId: string, copies: number): Promise<void>;
  close(): Promise<void>;
}

export function describeBacklogSuite(
  name: string,
  open: (dir: string) => Promise<BacklogBackend>,
): void {
  describe(`one live worker under a backlog it cannot take (${name})`, () => {
    let dir = '';
    let backend: BacklogBackend | null = null;
    let orchestrator: Orchestrator | null = null;
    // Registered before useProcesses(): after-hooks run in reverse order, so the worker is
    // killed before its store goes.
    afterEach(async () => {
      await orchestrator?.close({ graceful: false });
      orchestrator = null;
      await backend?.close();
      backend = null;
      rmSync(dir, { recursive: true, force: true });
    });
    const spawnBaton = useProcesses();

    it(`runs ${TASKS} no-op tasks next to ${BACKLOG} foreign queued ones: each starts once, no worker is lost`, async () => {
      dir = mkdtempSync(join(tmpdir(), 'baton-backlog-'));
      backend = await open(dir);
      const store = backend.store;
      orchestrator = new Orchestrator({ store, ...TIMING, pollIntervalMs: 50 });

      const template = await orchestrator.submit({ type: 'foreign' });
      await backend.copyBacklog(template.id, BACKLOG - 1);
      expect(await store.countTasks({})).toEqual({ queued: BACKLOG });

      // The backlog is real: a worker of its type gets its oldest tasks, in order. They are handed
      // back unstarted (queued again, attempt not spent) and the probe stops before any sweep.
      const probe = await store.registerWorker({
        id: 'probe',
        capabilities: [],
        types: ['foreign'],
        concurrency: 3,
        meta: {},
      });
      const taken = await store.claim({
        workerId: probe.id,
        capabilities: [],
        types: ['foreign'],
        limit: 3,
      });
      expect(taken.map((t) => t.id)).toEqual([template.id, 'backlog-1', 'backlog-2']);
      expect(
        await store.releaseUnstarted(
          probe.id,
          taken.map((t) => ({ taskId: t.id, epoch: t.epoch })),
        ),
      ).toEqual([true, true, true]);
      await store.setWorkerState(probe.id, 'stopped');
      expect(await store.countTasks({})).toEqual({ queued: BACKLOG });

      // This process sweeps as well: two sweepers judge the worker, one of them in its process.
      orchestrator.start();
      const worker = spawnBaton(workerArgs(backend.url, ['--concurrency', '8']));
      await waitUntil(
        async () => (await store.listWorkers()).some((w) => w.id !== probe.id),
        30_000,
        'the worker to register',
      );
      for (let sent = 0; sent < TASKS; sent += BATCH) {
        await orchestrator.submitMany(
          Array.from({ length: Math.min(BATCH, TASKS - sent) }, () => ({ type: 'noop' })),
        );
      }

      const events: EventRecord[] = [];
      let completed = 0;
      await waitUntil(
        async () => {
          for (;;) {
            const page = await store.listEvents({ afterId: events.at(-1)?.id ?? 0, limit: 5000 });
            events.push(...page);
            completed += page.filter((e) => e.type === 'task:completed').length;
            if (page.length < 5000) return completed >= TASKS;
          }
        },
        240_000,
        `${TASKS} tasks to complete`,
      );

      const noop = new Set(
        events
          .filter((e) => e.type === 'task:submitted' && e.taskId !== template.id)
          .map((e) => e.taskId),
      );
      expect(noop.size).toBe(TASKS);
      const starts = new Map<string, number>();
      for (const e of events) {
        if (e.type === 'task:started' && e.taskId !== null && noop.has(e.taskId)) {
          starts.set(e.taskId, (starts.get(e.taskId) ?? 0) + 1);
        }
      }
      expect(starts.size).toBe(TASKS);
      expect([...starts.values()].filter((n) => n !== 1)).toEqual([]);
      expect(events.filter((e) => e.type === 'worker:lost' || e.type === 'task:recovered')).toEqual(
        [],
      );

      const counts = await store.countTasks({});
      expect(counts).toEqual({ queued: BACKLOG, completed: TASKS });
      const tasks: TaskRecord[] = [];
      for (;;) {
        const after = tasks.at(-1)?.id;
        const page = await store.listTasks({ type: 'noop', limit: 1000, ...(after && { after }) });
        tasks.push(...page);
        if (page.length < 1000) break;
      }
      expect(tasks).toHaveLength(TASKS);
      expect(tasks.filter((t) => t.state !== 'completed' || t.attempt !== 1)).toEqual([]);
      const live = (await store.listWorkers()).filter((w) => w.id !== probe.id);
      expect(live.map((w) => w.state)).toEqual(['active']);
      expect(worker.output()).not.toMatch(/recovered|lost/);
    }, 300_000);
  });
}
