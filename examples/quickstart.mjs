// A tour of the library: run with `node examples/quickstart.mjs` after `npm install`.
// It opens the embedded SQLite store (.baton/baton.db), registers two handlers, starts an
// in-process worker and runs a small DAG to the end.
import { Orchestrator, openStore } from '../dist/index.js';

const store = await openStore('.baton/baton.db');
const baton = new Orchestrator({ store, maxConcurrentTasks: 4, taskDefaults: { maxAttempts: 3 } });

baton.handle('fetch', async (payload, ctx) => {
  // Resume from the newest checkpoint when an earlier attempt saved one.
  let page = ctx.lastCheckpoint ? ctx.lastCheckpoint.state.page : 0;
  for (; page < payload.pages; page++) {
    await ctx.checkpoint({ page: page + 1 }, ((page + 1) / payload.pages) * 100);
  }
  return { pages: page };
});
baton.handle('report', async (_payload, ctx) => {
  await ctx.progress(100, 'written');
  return { ok: true };
});
baton.on('task:completed', ({ task }) =>
  console.log(`completed ${task.key} -> ${JSON.stringify(task.result)}`),
);

await baton.startWorker({ concurrency: 4 });
const { run, tasks } = await baton.executeRun({
  name: 'quickstart',
  tasks: [
    { key: 'fetch-a', type: 'fetch', payload: { pages: 3 } },
    { key: 'fetch-b', type: 'fetch', payload: { pages: 5 } },
    { key: 'report', type: 'report', dependsOn: ['fetch-a', 'fetch-b'] },
  ],
});
console.log(`run ${run.name} ${run.state}: ${tasks.map((t) => `${t.key}=${t.state}`).join(', ')}`);
console.log(JSON.stringify(await baton.taskLog(tasks[2].id)));
await baton.close();
await store.close();
process.exitCode = run.state === 'completed' ? 0 : 1;
