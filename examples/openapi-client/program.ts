/**
 * A client nobody at baton wrote: its types come from `/api/v1/openapi.json` through
 * `openapi-typescript`, its calls go through `openapi-fetch`.
 *
 *   npx openapi-typescript http://127.0.0.1:7420/api/v1/openapi.json -o schema.d.ts
 *   BATON_URL=http://127.0.0.1:7420 BATON_TOKEN=… npx tsx program.ts
 *
 * It submits a run, reads it back, pages the run list, reads a task and shows a refusal that
 * names its field, then prints what it saw as one JSON line.
 */
import createClient from 'openapi-fetch';
import type { components, paths } from './schema.js';

type Run = components['schemas']['Run'];
type Task = components['schemas']['Task'];
type ApiError = components['schemas']['Error'];

const baseUrl = `${process.env.BATON_URL ?? 'http://127.0.0.1:7420'}/api/v1`;
const api = createClient<paths>({
  baseUrl,
  headers: { authorization: `Bearer ${process.env.BATON_TOKEN ?? ''}` },
});

async function submit(name: string): Promise<Run> {
  const { data, error } = await api.POST('/runs', {
    body: {
      name,
      tasks: { build: { run: 'echo build' }, test: { run: 'echo test', needs: ['build'] } },
    },
  });
  if (error) throw new Error(`submit failed: ${error.error.code}`);
  return data;
}

const first = await submit('generated-client-1');
const second = await submit('generated-client-2');

const read = await api.GET('/runs/{id}', { params: { path: { id: first.id } } });
const run: Run | undefined = read.data;

// `limit` is an integer in the document, so a typed client passes a number.
const page1 = await api.GET('/runs', { params: { query: { limit: 1 } } });
const cursor = page1.data?.nextCursor ?? undefined;
const page2 = await api.GET('/runs', {
  params: { query: { limit: 1, ...(cursor && { cursor }) } },
});

const taskId = first.tasks[0]?.id ?? '';
const taskRead = await api.GET('/tasks/{id}', { params: { path: { id: taskId } } });
const task: Task | undefined = taskRead.data;

const refused = await api.GET('/runs', { params: { query: { limit: 0 } } });
const refusal: ApiError | undefined = refused.error;

console.log(
  JSON.stringify({
    submitted: [first.id, second.id],
    createdAt: first.createdAt,
    read: { id: run?.id, name: run?.name, tasks: run?.tasks.map((t) => t.key) },
    pages: [page1.data?.runs.map((r) => r.id), page2.data?.runs.map((r) => r.id)],
    task: { id: task?.id, key: task?.key, state: task?.state, runId: task?.runId },
    refusal: {
      status: refused.response.status,
      code: refusal?.error.code,
      details: refusal?.error.details,
    },
  }),
);
