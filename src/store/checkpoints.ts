/**
 * Reading checkpoints back with their integrity checked. A checkpoint whose checksum does not
 * match its state is never loaded: an explicit restore fails with CHECKPOINT_CORRUPT, while
 * automatic resume skips it, takes the newest valid one and records the corruption as an event
 * (`checkpoint:corrupt`, with the task's run id, so that cleanup removes it with the run). Both
 * tell `onCorrupt` of each corrupt checkpoint they find: the caller emits it on its event bus.
 */
import { checksumOf } from '../core/checksum.js';
import { BatonError } from '../core/errors.js';
import type { Store } from './store.js';
import type { CheckpointRecord, TaskRecord } from './types.js';

export function isIntact(cp: CheckpointRecord): boolean {
  return checksumOf(cp.state) === cp.checksum;
}

export interface CheckpointScan {
  /** The newest checkpoint whose checksum matches, or null. */
  valid: CheckpointRecord | null;
  /** Sequence numbers of corrupt checkpoints newer than `valid`. */
  corrupt: number[];
}

export interface CorruptionOptions {
  /** Append a `checkpoint:corrupt` event per corrupt checkpoint to the store's event log. */
  recordCorruption: boolean;
  /** Called with the sequence number of each corrupt checkpoint found. */
  onCorrupt?: (seq: number) => void;
}

export async function newestValidCheckpoint(
  store: Pick<Store, 'listCheckpoints' | 'recordEvent'>,
  task: Pick<TaskRecord, 'id' | 'runId'>,
  options: CorruptionOptions,
): Promise<CheckpointScan> {
  const taskId = task.id;
  const all = await store.listCheckpoints(taskId); // newest first
  const corrupt: number[] = [];
  for (const cp of all) {
    if (isIntact(cp)) return finish({ valid: cp, corrupt });
    corrupt.push(cp.seq);
  }
  return finish({ valid: null, corrupt });

  async function finish(scan: CheckpointScan): Promise<CheckpointScan> {
    for (const seq of scan.corrupt) options.onCorrupt?.(seq);
    if (options.recordCorruption) {
      for (const seq of scan.corrupt) {
        await store.recordEvent({
          type: 'checkpoint:corrupt',
          taskId,
          runId: task.runId,
          workerId: null,
          from: null,
          to: null,
          reason: `checkpoint ${seq} failed its checksum and was skipped`,
          data: { seq },
        });
      }
    }
    return scan;
  }
}

/** The checkpoint `seq` of a task (the newest when omitted), verified. */
export async function verifiedCheckpoint(
  store: Store,
  taskId: string,
  seq?: number,
  onCorrupt?: (seq: number) => void,
): Promise<CheckpointRecord> {
  const cp =
    seq === undefined
      ? ((await store.listCheckpoints(taskId))[0] ?? null)
      : await store.getCheckpoint(taskId, seq);
  if (!cp) {
    throw new BatonError(
      'CHECKPOINT_NOT_FOUND',
      seq === undefined
        ? `task ${taskId} has no checkpoint`
        : `task ${taskId} has no checkpoint ${seq}`,
      { details: { taskId, seq: seq ?? null } },
    );
  }
  if (!isIntact(cp)) {
    onCorrupt?.(cp.seq);
    throw new BatonError(
      'CHECKPOINT_CORRUPT',
      `checkpoint ${cp.seq} of task ${taskId} failed its integrity check (SHA-256 mismatch)`,
      { details: { taskId, seq: cp.seq } },
    );
  }
  return cp;
}
