/**
 * How fast the remote-worker protocol moves no-op tasks: one `baton serve` and one worker on
 * `HttpWorkerStore` (both in this process, over real HTTP on 127.0.0.1, a SQLite file).
 * Run: `npx tsx test/server/bench-http-worker.ts [TASKS] [CONCURRENCY]`; prints one JSON line.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpWorkerStore } from '../../src/client/http-worker-store.js';
import { Orchestrator } from '../../src/engine/orchestrator.js';
import { hashToken } from '../../src/server/auth.js';
import { startServer } from '../../src/server/start.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { createWorker } from '../../src/worker/standalone.js';

const tasks = Number(process.argv[2] ?? 2000);
const concurrency = Number(process.argv[3] ?? 64);
const dir = mkdtempSync(join(tmpdir(), 'baton-bench-http-'));
const store = new SqliteStore({ path: join(dir, 'baton.db') });
await store.createToken({ name: 'w', role: 'worker', capabilities: [], hash: hashToken('bt_w') });
const orchestrator = new Orchestrator({ store });
orchestrator.start();
const server = await startServer({ store, orchestrator, port: 0, rateLimit: false });
const { worker } = createWorker({
  store: new HttpWorkerStore({ url: server.url, token: 'bt_w' }),
  handlers: { noop: () => null },
  concurrency,
});
await worker.start();
const started = performance.now();
await orchestrator.submitMany(Array.from({ length: tasks }, () => ({ type: 'noop' })));
while (((await store.countTasks({})).completed ?? 0) < tasks) {
  await new Promise((r) => setTimeout(r, 10));
}
const ms = performance.now() - started;
console.log(
  JSON.stringify({
    scenario: 'remote-worker-http-noop',
    store: 'sqlite',
    tasks,
    concurrency,
    ms: Math.round(ms),
    tasksPerSec: Math.round((tasks / ms) * 1000),
  }),
);
await worker.stop();
await server.stop();
await orchestrator.close();
await store.close();
rmSync(dir, { recursive: true, force: true });
