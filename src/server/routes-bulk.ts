/** Bulk retry and cancel by filter (docs/reference.md, Bulk actions). */
import { cancelFilterSchema, retryFilterSchema } from '../protocol/bulk-schemas.js';
import { taskListSchema } from '../protocol/schemas.js';
import { toTaskJson } from './json-shapes.js';
import { route } from './route.js';

export function bulkRoutes() {
  return [
    route({
      method: 'POST',
      path: '/tasks/retry',
      right: 'submit',
      tag: 'tasks',
      summary:
        'Retry every failed or cancelled task matching the filter (run, type, state), in one transaction; the tasks requeued',
      body: retryFilterSchema,
      response: taskListSchema,
      async handle({ body, deps }) {
        const tasks = await deps.orchestrator.retryMany(body, 'retried over HTTP');
        deps.claims.notify();
        return { tasks: tasks.map(toTaskJson) };
      },
    }),
    route({
      method: 'POST',
      path: '/tasks/cancel',
      right: 'submit',
      tag: 'tasks',
      summary:
        'Cancel every unfinished task matching the filter (run, type, state) and their dependents, in one transaction; the tasks cancelled',
      body: cancelFilterSchema,
      response: taskListSchema,
      async handle({ body, deps }) {
        const tasks = await deps.orchestrator.cancelMany(body, 'cancelled over HTTP');
        return { tasks: tasks.map(toTaskJson) };
      },
    }),
  ];
}
