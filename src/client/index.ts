/**
 * `baton/client`: talk to `baton serve` over HTTP. `BatonClient` submits and watches work;
 * `HttpWorkerStore` lets a worker (`createWorker` from `baton`) run on a machine that only
 * reaches the server.
 */
export { BatonClient } from './baton-client.js';
export type {
  AddScheduleInput,
  CheckpointInfo,
  CheckpointJson,
  LogPage,
  ListRunsQuery,
  ListTasksQuery,
  RecoverResultJson,
  RunJson,
  RunPage,
  ScheduleJson,
  TaskJson,
  TaskPage,
  WatchOptions,
  WorkerJson,
} from './baton-client.js';
export { HttpWorkerStore } from './http-worker-store.js';
export type { HttpWorkerStoreOptions } from './http-worker-store.js';
export type { HttpOptions } from './http.js';
export { BatonError, isBatonError } from '../core/errors.js';
export type { ErrorCode } from '../core/errors.js';
export type { WorkflowInput } from '../workflow/schema.js';
export type { TaskSpec } from '../core/task-spec.js';
export type { BulkFilter } from '../core/bulk.js';
export type { PausedTypeJson, TypePauseJson } from '../protocol/pause-schemas.js';
