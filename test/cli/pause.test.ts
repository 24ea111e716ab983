/** `baton pause TYPE`, `baton pause --list`, `baton unpause TYPE` as real processes on SQLite. */
import { describe, expect, it } from 'vitest';
import { useSandbox, type RunJson } from './baton-process.js';
import { sqliteBackend } from './store-backends.js';

const TWO = `name: two
tasks:
  a:
    run: echo a >> ledger.txt
  b:
    run: echo b >> ledger.txt
`;

describe('baton pause and unpause', { timeout: 180_000 }, () => {
  const sandbox = useSandbox(sqliteBackend);

  it('pauses and unpauses a type (said once, then "already"), lists it, logs both, and the run then completes', async () => {
    const s = sandbox();
    s.write('two.yaml', TWO);
    expect(await s.json(['pause', 'shell', '--json'])).toEqual({
      type: 'shell',
      paused: true,
      changed: true,
    });
    const again = await s.baton(['pause', 'shell']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('Type shell was already paused');
    const listed = await s.json<{ types: { type: string; pausedAt: string }[] }>([
      ...['pause', '--list', '--json'],
    ]);
    expect(listed.types.map((t) => t.type)).toEqual(['shell']);
    expect((await s.baton(['pause', '--list'])).stdout).toMatch(/^shell\tpaused \d{4}-/);

    const run = await s.json<RunJson>(['submit', 'two.yaml', '--json']);
    const unpaused = await s.baton(['unpause', 'shell']);
    expect(unpaused.stdout).toContain('Type shell unpaused');
    expect((await s.baton(['unpause', 'shell'])).stdout).toContain('Type shell was not paused');
    const worker = s.start(['worker', '--allow-shell']);
    expect((await s.baton(['status', run.id, '--wait'])).code).toBe(0);
    worker.child.kill('SIGTERM');
    await worker.done;
    expect(s.lines('ledger.txt').sort()).toEqual(['a', 'b']);
    const { rows } = await s.sql<{ type: string }>(
      `SELECT type FROM events WHERE type LIKE 'type:%' ORDER BY id`,
    );
    expect(rows.map((r) => r.type)).toEqual(['type:paused', 'type:unpaused']);
  });

  it('refuses bad usage with exit 2', async () => {
    const s = sandbox();
    for (const args of [['pause'], ['unpause'], ['pause', 'shell', '--list'], ['pause', '']]) {
      const result = await s.baton(args);
      expect(result.code, args.join(' ')).toBe(2);
    }
    expect((await s.json<{ types: unknown[] }>(['pause', '--list', '--json'])).types).toEqual([]);
  });
});
