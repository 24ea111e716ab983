/** Bodies of the bulk routes (`POST /tasks/retry`, `POST /tasks/cancel`): a task filter. */
import { bulkFilterSchema } from '../core/bulk.js';

/** `{ runId?, type?, state? }`, at least one; `state` is one state or a list, failed or cancelled. */
export const retryFilterSchema = bulkFilterSchema('retry').meta({ id: 'RetryFilter' });

/** `{ runId?, type?, state? }`, at least one; `state` is one unfinished state or a list. */
export const cancelFilterSchema = bulkFilterSchema('cancel').meta({ id: 'CancelFilter' });
