/** The store contract: task logs. */
import type { TaskRecord } from '../../../src/store/types.js';
import { describe, expect, it } from 'vitest';
import type { Store } from '../../../src/store/store.js';
import { newTask, useStore, worker, type OpenStore } from './harness.js';

export function describeLogs(name: string, open: OpenStore): void {
  describe(`store conformance: ${name}: task logs`, () => {
    let store: Store;
    useStore(open, (opened) => (store = opened));

    async function held(): Promise<{ task: TaskRecord; workerId: string }> {
      const t = newTask();
      await store.submit([t]);
      const w = await store.registerWorker(worker());
      const [task] = await store.claim({ workerId: w.id, limit: 1, capabilities: [], types: null });
      if (!task) throw new Error('nothing claimed');
      return { task, workerId: w.id };
    }

    const lines = (taskId: string, epoch: number, from: number, to: number) =>
      Array.from({ length: to - from + 1 }, (_, i) => ({
        taskId,
        epoch,
        stream: 'stdout' as const,
        line: `line ${from + i}`,
      }));

    it('appends lines in order, numbered per task, with attempt, stream and time', async () => {
      const { task } = await held();
      const before = await store.now();
      expect(
        await store.appendLogs([
          { taskId: task.id, epoch: task.epoch, stream: 'stdout', line: 'one' },
          { taskId: task.id, epoch: task.epoch, stream: 'stderr', line: 'two ✓' },
        ]),
      ).toEqual([true, true]);
      expect(
        await store.appendLogs([
          { taskId: task.id, epoch: task.epoch, stream: 'stdout', line: '' },
        ]),
      ).toEqual([true]);
      const logs = await store.listLogs(task.id);
      expect(logs.map((l) => [l.seq, l.stream, l.line])).toEqual([
        [1, 'stdout', 'one'],
        [2, 'stderr', 'two ✓'],
        [3, 'stdout', ''],
      ]);
      for (const l of logs) {
        expect(l).toMatchObject({ taskId: task.id, attempt: 1 });
        expect(l.at).toBeGreaterThanOrEqual(before - 1000);
      }
      expect(await store.listLogs('no-such-task')).toEqual([]);
    });

    it('refuses the lines of a stale or finished lease, item by item', async () => {
      const { task, workerId } = await held();
      const other = (await held()).task;
      expect(
        await store.appendLogs([
          { taskId: task.id, epoch: task.epoch, stream: 'stdout', line: 'mine' },
          { taskId: task.id, epoch: task.epoch - 1, stream: 'stdout', line: 'stale' },
          { taskId: other.id, epoch: other.epoch, stream: 'stderr', line: 'other' },
          { taskId: 'no-such-task', epoch: 1, stream: 'stdout', line: 'ghost' },
        ]),
      ).toEqual([true, false, true, false]);
      expect((await store.listLogs(task.id)).map((l) => l.line)).toEqual(['mine']);

      // A new attempt: the old epoch's lines are refused, the new ones carry attempt 2.
      await store.releaseTask(task.id, 'test');
      const [again] = await store.claim({ workerId, limit: 1, capabilities: [], types: null });
      expect(again?.id).toBe(task.id);
      expect(
        await store.appendLogs([
          { taskId: task.id, epoch: task.epoch, stream: 'stdout', line: 'late' },
          { taskId: task.id, epoch: again!.epoch, stream: 'stdout', line: 'second' },
        ]),
      ).toEqual([false, true]);
      const logs = await store.listLogs(task.id);
      expect(logs.map((l) => [l.seq, l.attempt, l.line])).toEqual([
        [1, 1, 'mine'],
        [2, 2, 'second'],
      ]);

      await store.complete([{ taskId: task.id, epoch: again!.epoch, result: null, durationMs: 1 }]);
      expect(
        await store.appendLogs([
          { taskId: task.id, epoch: again!.epoch, stream: 'stdout', line: 'after' },
        ]),
      ).toEqual([false]);
      expect(await store.listLogs(task.id)).toHaveLength(2);
    });

    it('keeps the newest 1,000 lines per task and cuts long lines to 4 KiB', async () => {
      const { task } = await held();
      const { task: big } = await held();
      for (let from = 1; from <= 1200; from += 300) {
        const batch = lines(task.id, task.epoch, from, from + 299);
        expect((await store.appendLogs(batch)).every(Boolean)).toBe(true);
      }
      let logs = await store.listLogs(task.id);
      expect(logs).toHaveLength(1000);
      expect(logs[0]).toMatchObject({ seq: 201, line: 'line 201' });
      expect(logs[999]).toMatchObject({ seq: 1200, line: 'line 1200' });

      // One batch longer than what is kept.
      const outcomes = await store.appendLogs(lines(big.id, big.epoch, 1, 1005));
      expect(outcomes).toHaveLength(1005);
      expect(outcomes.every(Boolean)).toBe(true);
      logs = await store.listLogs(big.id);
      expect(logs.map((l) => l.seq)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 6));

      const long = 'é'.repeat(3000); // 6,000 bytes
      await store.appendLogs([
        { taskId: big.id, epoch: big.epoch, stream: 'stderr', line: long },
        { taskId: big.id, epoch: big.epoch, stream: 'stdout', line: 'a\u0000b' },
      ]);
      const [cut, nul] = await store.listLogs(big.id, { afterSeq: 1005 });
      expect(cut!.line).toBe('é'.repeat(2048));
      expect(Buffer.byteLength(cut!.line)).toBe(4096);
      expect(nul!.line).toBe('ab');
      expect(await store.listLogs(big.id)).toHaveLength(1000);
    });

    it('pages with afterSeq and limit, oldest first', async () => {
      const { task } = await held();
      await store.appendLogs(lines(task.id, task.epoch, 1, 25));
      const first = await store.listLogs(task.id, { limit: 10 });
      expect(first.map((l) => l.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      const second = await store.listLogs(task.id, { afterSeq: 10, limit: 10 });
      expect(second.map((l) => l.line)).toEqual(
        Array.from({ length: 10 }, (_, i) => `line ${i + 11}`),
      );
      const rest = await store.listLogs(task.id, { afterSeq: 20, limit: 10 });
      expect(rest.map((l) => l.seq)).toEqual([21, 22, 23, 24, 25]);
      expect(await store.listLogs(task.id, { afterSeq: 25 })).toEqual([]);
    });

    it('removes a task’s lines with the task', async () => {
      const { task } = await held();
      await store.appendLogs(lines(task.id, task.epoch, 1, 3));
      await store.complete([{ taskId: task.id, epoch: task.epoch, result: null, durationMs: 1 }]);
      expect(await store.operatorChange(task.id, { kind: 'delete' }, 'gone')).toBeNull();
      expect(await store.listLogs(task.id)).toEqual([]);
    });
  });
}
