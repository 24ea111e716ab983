import { startPgServer } from '/work/wt-18/dist/bench/pg-server.js';
import { openStore } from '/work/wt-18/dist/store/open-store.js';
import { Orchestrator } from '/work/wt-18/dist/engine/orchestrator.js';
import pg from 'pg';
const server = await startPgServer({ durable: true });
const store = await openStore(server.url + '?schema=hb', { onError: (e) => console.log('storeerr', e.message) });
const orch = new Orchestrator({ store, heartbeatIntervalMs: 200, workerTimeoutMs: 2500, sweeper: false });
orch.on('engine:error', ({ error }) => console.log(Date.now() % 100000, 'engine:error', String(error).slice(0, 120)));
const w = await orch.startWorker({ id: 'w1' });
const probe = async () => {
  const c = new pg.Client({ connectionString: server.url });
  try { await c.connect(); const r = await c.query("select last_heartbeat_at, (extract(epoch from clock_timestamp())*1000)::bigint now, (extract(epoch from pg_postmaster_start_time())*1000)::bigint st from hb.workers"); return r.rows[0]; } catch (e) { return e.message; } finally { await c.end().catch(() => {}); }
};
for (let i = 0; i < 6; i++) { await new Promise(r => setTimeout(r, 300)); }
console.log('before', await probe());
const t0 = Date.now();
await server.stop(); console.log('stopped after', Date.now() - t0);
await new Promise(r => setTimeout(r, 1000));
await server.start(); console.log('started after', Date.now() - t0);
for (let i = 0; i < 15; i++) { const p = await probe(); console.log(Date.now() - t0, typeof p === 'string' ? p : { age: p.now - p.last_heartbeat_at, sinceStart: p.now - p.st }); await new Promise(r => setTimeout(r, 300)); }
await orch.close({ graceful: false }); await store.close(); await server.destroy();
