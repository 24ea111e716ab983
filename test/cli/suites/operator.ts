/**
 * The CLI in an operator's ordinary use: output piped into `head`, `status --wait`, `baton
 * cancel`, a task's own `backoff:`, task logs and their export, and what `status` leaves out.
 */
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  alive,
  BIN,
  taskOf,
  waitFor,
  type Result,
  type RunJson,
  type Sandbox,
} from '../baton-process.js';

/** One task printing a line every 50 ms for a few seconds (quickly once `fast` exists). */
const CHATTY = `name: chatty
tasks:
  talk:
    run: |
      echo $$ > talk.pid
      n=120
      if [ -f fast ]; then n=2; fi
      i=0
      while [ "$i" -lt "$n" ]; do i=$((i + 1)); echo "line $i"; sleep 0.05; done
      echo talked >> ledger.txt
`;

/** Runs a shell pipeline in the sandbox with BATON_STORE set; `baton` is bin/baton.js. */
function pipeline(s: Sandbox, command: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', command], {
      cwd: s.dir,
      env: { ...process.env, BATON_STORE: s.store, BATON: `${process.execPath} ${BIN}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function runs(s: Sandbox, all = false): Promise<RunJson[]> {
  return (await s.json<{ runs: RunJson[] }>(['status', '--json', ...(all ? ['--all'] : [])])).runs;
}

/** Each test starts several `baton` processes: a loaded machine needs more than the default. */
const SLOW_MS = 180_000;

export function operatorSuite(sandbox: () => Sandbox): void {
  describe('output to a closed pipe', { timeout: SLOW_MS }, () => {
    it('baton run --json | head -2 ends quietly and leaves the run resumable', async () => {
      const s = sandbox();
      s.write('chatty.yaml', CHATTY);
      const piped = await pipeline(s, '$BATON run chatty.yaml --json | head -2; echo "rc=$?"');
      expect(piped.stdout.split('\n').filter((l) => l.startsWith('{'))).toHaveLength(2);
      // No stack trace: one line saying how to continue.
      expect(piped.stderr).not.toMatch(/EPIPE|at .*\.js:\d+/);
      expect(piped.stderr).toContain('stdout closed: Run ');
      expect(piped.stderr).toContain('continue it with: baton run chatty.yaml --resume');
      expect(alive(Number(s.read('talk.pid')))).toBe(false);
      const [stopped] = await runs(s);
      expect(stopped!.state).not.toBe('completed');
      expect(taskOf(stopped!, 'talk').state).toBe('queued');

      s.write('fast', '');
      const resumed = await s.baton(['run', 'chatty.yaml', '--resume']);
      expect(resumed.code).toBe(0);
      expect(resumed.stdout).toContain(`Resuming run ${stopped!.id}`);
      expect(s.lines('ledger.txt')).toEqual(['talked']);
    });

    it('baton status into a closed pipe exits quietly', async () => {
      const s = sandbox();
      s.write('chatty.yaml', CHATTY);
      for (let i = 0; i < 3; i++) await s.baton(['submit', 'chatty.yaml']);
      const status = s.start(['status']);
      // The reader goes away before baton writes anything: every write meets EPIPE.
      status.child.stdout!.destroy();
      const result = await status.done;
      expect(result.stderr).toBe('');
      expect(result.code).toBe(130);
    });
  });

  describe('baton status', { timeout: SLOW_MS }, () => {
    it('--wait polls without piling up listeners', async () => {
      const s = sandbox();
      s.write('fast', '');
      s.write('chatty.yaml', CHATTY.replace('n=2', 'n=60'));
      const run = await s.json<RunJson>(['submit', 'chatty.yaml', '--json']);
      const waiting = s.start(['status', run.id, '--wait']);
      const ran = await s.baton(['run', 'chatty.yaml', '--resume']);
      expect(ran.code).toBe(0);
      const waited = await waiting.done;
      expect(waited.code).toBe(0);
      expect(waited.stdout).toContain(`Run chatty (${run.id}) completed`);
      expect(waited.stderr).not.toContain('MaxListenersExceededWarning');
      expect(waited.stderr).toBe('');
    });

    it('leaves out workers lost long ago unless --all', async () => {
      const s = sandbox();
      s.write('fast', '');
      s.write('chatty.yaml', CHATTY);
      expect((await s.baton(['run', 'chatty.yaml'])).code).toBe(0);
      const { rows } = await s.sql<{ id: string }>('SELECT id FROM workers');
      const id = rows[0]!.id;
      const longAgo = Date.now() - 3_600_000;
      await s.sql(`UPDATE workers SET state = 'lost', last_heartbeat_at = ? WHERE id = ?`, [
        longAgo,
        id,
      ]);
      // A SQLite store keeps heartbeats in a file of their own next to the database: its last
      // beat must be as old, or the worker's last sign of life is the recent one kept there.
      if (s.backend === 'sqlite') {
        const live = new Database(`${s.store}-live`);
        try {
          live.prepare('UPDATE beats SET at = ? WHERE worker_id = ?').run(longAgo, id);
        } finally {
          live.close();
        }
      }
      const shown = await s.baton(['status']);
      expect(shown.stdout).not.toContain(id);
      const all = await s.baton(['status', '--all']);
      expect(all.stdout).toContain(`worker ${id} lost`);
    });
  });

  describe('baton cancel', { timeout: SLOW_MS }, () => {
    it('cancels a run from another terminal: its session stops the command and exits 1', async () => {
      const s = sandbox();
      s.write('chatty.yaml', CHATTY);
      const running = s.start(['run', 'chatty.yaml']);
      await waitFor(() => running.stdout.includes('[talk] line 3'), 'the command to talk');
      const [run] = await runs(s);
      const cancelled = await s.baton(['cancel', run!.id, '--reason', 'enough']);
      expect(cancelled.code).toBe(0);
      expect(cancelled.stdout).toContain(`Cancelled run chatty (${run!.id}): 1 task(s)`);
      const ended = await running.done;
      expect(ended.code).toBe(1);
      await waitFor(() => !alive(Number(s.read('talk.pid'))), 'the command to be stopped');
      const after = await s.json<RunJson>(['status', run!.id, '--json']);
      expect(after.state).toBe('cancelled');
      expect(s.lines('ledger.txt')).toEqual([]);
      const again = await s.baton(['cancel', run!.id]);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain('Nothing to cancel');
    });

    it('cancels one task and its dependents; an unknown id is bad usage', async () => {
      const s = sandbox();
      s.write(
        'two.yaml',
        'name: two\ntasks:\n  x:\n    run: "true"\n  y:\n    needs: [x]\n    run: "true"\n',
      );
      const run = await s.json<RunJson>(['submit', 'two.yaml', '--json']);
      const out = await s.json<{ cancelled: { key: string; state: string }[] }>([
        'cancel',
        taskOf(run, 'x').id,
        '--json',
      ]);
      expect(out.cancelled.map((t) => [t.key, t.state])).toEqual([
        ['x', 'cancelled'],
        ['y', 'cancelled'],
      ]);
      const unknown = await s.baton(['cancel', 'nope']);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('no run or task nope');
    });
  });

  describe('workflow files', { timeout: SLOW_MS }, () => {
    it('a task sets its own backoff, over the defaults', async () => {
      const s = sandbox();
      s.write(
        'backoff.yaml',
        'name: backoff\ndefaults: { backoff: 2s }\ntasks:\n  own:\n    backoff: 45s\n    run: "true"\n  inherited:\n    run: "true"\n',
      );
      const run = await s.json<RunJson>(['submit', 'backoff.yaml', '--json']);
      const { rows } = await s.sql<{ key: string; backoff: string }>(
        'SELECT key, backoff FROM tasks WHERE run_id = ? ORDER BY key',
        [run.id],
      );
      const initial = rows.map((r) => [
        r.key,
        (JSON.parse(r.backoff) as { initialMs: number }).initialMs,
      ]);
      expect(initial).toEqual([
        ['inherited', 2000],
        ['own', 45_000],
      ]);
      s.write('typo.yaml', 'name: t\ntasks:\n  a:\n    backof: 1s\n    run: "true"\n');
      const typo = await s.baton(['submit', 'typo.yaml']);
      expect(typo.code).toBe(2);
      expect(typo.stderr).toContain('unknown field "backof" (did you mean "backoff"?)');
    });
  });

  describe('baton task logs', { timeout: SLOW_MS }, () => {
    it("prints a task's output and exports a run's task logs to a folder", async () => {
      const s = sandbox();
      s.write('fast', '');
      s.write('chatty.yaml', `${CHATTY}  after:\n    needs: [talk]\n    run: echo oops >&2\n`);
      expect((await s.baton(['run', 'chatty.yaml'])).code).toBe(0);
      const [run] = await runs(s);
      const talk = taskOf(run!, 'talk');
      const printed = await s.baton(['task', 'logs', talk.id]);
      expect(printed.code).toBe(0);
      expect(printed.stdout).toBe('line 1\nline 2\n');
      const json = await s.json<{
        task: { taskId: string; status: string };
        lines: { line: string }[];
      }>(['task', 'logs', talk.id, '--json']);
      expect(json.task).toMatchObject({ taskId: talk.id, status: 'completed' });
      expect(json.lines.map((l) => l.line)).toEqual(['line 1', 'line 2']);

      const out = join(s.dir, 'logs');
      const exported = await s.baton(['task', 'logs', '--run', run!.id, '--out', out]);
      expect(exported.code).toBe(0);
      const after = taskOf(run!, 'after');
      expect(readdirSync(out).sort()).toEqual(
        [`${talk.id}.json`, `${talk.id}.log`, `${after.id}.json`, `${after.id}.log`].sort(),
      );
      const record = JSON.parse(readFileSync(join(out, `${after.id}.json`), 'utf8')) as Record<
        string,
        unknown
      >;
      expect(record).toMatchObject({
        taskId: after.id,
        type: 'shell',
        action: 'after',
        status: 'completed',
        dependencies: [talk.id],
        result: { success: true },
      });
      expect(typeof record.startTime).toBe('string');
      expect(readFileSync(join(out, `${after.id}.log`), 'utf8')).toMatch(
        /attempt 1 stderr \| oops\n$/,
      );
      const both = await s.baton(['task', 'logs', talk.id, '--run', run!.id]);
      expect(both.code).toBe(2);
    });
  });
}
