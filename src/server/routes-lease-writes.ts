/**
 * The lease writes of the worker protocol: progress, logs, suspend, checkpoint, complete, fail. Each acts
 * for a worker registered with the same token, only about tasks that worker holds, and the
 * store refuses a stale epoch: any refused item makes the answer 409 LEASE_LOST, with the
 * per-item outcomes in its details (the held items were committed). Sizes and checksums are
 * checked before anything is written.
 */
import { checksumOf } from '../core/checksum.js';
import { jsonBytes } from '../core/json.js';
import type { CheckpointOutcome, WriteOutcome } from '../store/store.js';
import { refuse } from './errors.js';
import { route } from './route.js';
import { fencedWrite, heldFlagWrite, LOST, ownWorker } from './worker-access.js';
import {
  checkpointBody,
  checkpointOutcomesSchema,
  completeBody,
  failBody,
  logsBody,
  MAX_RETRY_DELAY_MS,
  progressBody,
  progressOutcomesSchema,
  suspendBody,
  writeOutcomesSchema,
} from '../protocol/worker-schemas.js';

const lostWrite = (o: WriteOutcome): boolean => !o.ok;
const lostCheckpoint = (o: CheckpointOutcome): boolean => !o.ok;

export function leaseWriteRoutes() {
  return [
    route({
      method: 'POST',
      path: '/worker/progress',
      right: 'worker',
      tag: 'worker protocol',
      summary: 'Report progress of held tasks (409 LEASE_LOST if any lease is stale)',
      body: progressBody,
      response: progressOutcomesSchema,
      handle: ({ body, token, deps }) =>
        heldFlagWrite(deps, token, body, (items) => deps.store.progress(items)),
    }),
    route({
      method: 'POST',
      path: '/worker/logs',
      right: 'worker',
      tag: 'worker protocol',
      summary: 'Append output lines of held tasks (409 LEASE_LOST if any lease is stale)',
      body: logsBody,
      response: progressOutcomesSchema,
      handle: ({ body, token, deps }) =>
        heldFlagWrite(deps, token, body, (items) => deps.store.appendLogs(items)),
    }),
    route({
      method: 'POST',
      path: '/worker/suspend',
      right: 'worker',
      tag: 'worker protocol',
      summary:
        'Suspend held tasks until a sleep ends or a signal comes (running → waiting, the attempt not counted; 409 LEASE_LOST if any lease is stale)',
      body: suspendBody,
      response: progressOutcomesSchema,
      handle: ({ body, token, deps }) =>
        heldFlagWrite(deps, token, body, (items) => deps.store.suspend(items)),
    }),
    route({
      method: 'POST',
      path: '/worker/checkpoint',
      right: 'worker',
      tag: 'worker protocol',
      summary: 'Save checkpoints of held tasks (checksums verified, size bounded)',
      body: checkpointBody,
      response: checkpointOutcomesSchema,
      async handle({ body, token, deps }) {
        await ownWorker(deps, token, body.workerId);
        const { maxCheckpointBytes, checkpointsToKeep } = deps.orchestrator.options;
        body.items.forEach((item, i) => {
          const bytes = jsonBytes(item.checkpoint.state);
          if (bytes > maxCheckpointBytes) {
            throw refuse(
              'CHECKPOINT_TOO_LARGE',
              `checkpoint of ${bytes} bytes exceeds the limit of ${maxCheckpointBytes}`,
              { field: `items.${i}.checkpoint.state`, bytes, limit: maxCheckpointBytes },
            );
          }
          if (checksumOf(item.checkpoint.state) !== item.checkpoint.checksum) {
            throw refuse('VALIDATION_FAILED', 'checkpoint checksum does not match its state', {
              field: `items.${i}.checkpoint.checksum`,
            });
          }
        });
        const items = body.items.map(({ checkpoint: { seq, ...checkpoint }, ...item }) => ({
          ...item,
          checkpoint: {
            ...checkpoint,
            keep: Math.min(checkpoint.keep, checkpointsToKeep),
            ...(seq !== undefined && { seq }),
          },
        }));
        const outcomes = await fencedWrite(
          deps,
          body.workerId,
          items,
          (held) => deps.store.checkpoint(held),
          lostCheckpoint,
          LOST as CheckpointOutcome,
          false,
        );
        return { outcomes };
      },
    }),
    route({
      method: 'POST',
      path: '/worker/complete',
      right: 'worker',
      tag: 'worker protocol',
      summary:
        'Record results of held tasks (409 LEASE_LOST and nothing recorded for a stale lease)',
      body: completeBody,
      response: writeOutcomesSchema,
      async handle({ body, token, deps }) {
        await ownWorker(deps, token, body.workerId);
        const { maxResultBytes } = deps.orchestrator.options;
        body.items.forEach((item, i) => {
          const bytes = jsonBytes(item.result);
          if (bytes > maxResultBytes) {
            throw refuse(
              'RESULT_NOT_SERIALIZABLE',
              `result of ${bytes} bytes exceeds the limit of ${maxResultBytes}`,
              { field: `items.${i}.result`, bytes, limit: maxResultBytes },
            );
          }
        });
        const outcomes = await fencedWrite(
          deps,
          body.workerId,
          body.items,
          (held) => deps.store.complete(held),
          lostWrite,
          LOST as WriteOutcome,
          true,
        );
        return { outcomes };
      },
    }),
    route({
      method: 'POST',
      path: '/worker/fail',
      right: 'worker',
      tag: 'worker protocol',
      summary:
        'Record failed attempts of held tasks (retried retryDelayMs after the server records it, or failed for good)',
      body: failBody,
      response: writeOutcomesSchema,
      async handle({ body, token, deps }) {
        await ownWorker(deps, token, body.workerId);
        const items = body.items.map((item) => ({
          ...item,
          retryDelayMs:
            item.retryDelayMs === null ? null : Math.min(item.retryDelayMs, MAX_RETRY_DELAY_MS),
        }));
        const outcomes = await fencedWrite(
          deps,
          body.workerId,
          items,
          (held) => deps.store.fail(held),
          lostWrite,
          LOST as WriteOutcome,
          true,
        );
        return { outcomes };
      },
    }),
  ];
}
