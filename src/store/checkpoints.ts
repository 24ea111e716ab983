/**
 * Reading checkpoints back with their integrity checked. A checkpoint whose checksum does not
 * match its state is never loaded: an explicit restore fails with CHECKPOINT_CORRUPT, while
 * automatic resume skips it, takes the newest valid one and records the corruption as an event.
 */
import { checksumOf } from '../core/checksum.js';
import { BatonError } from '../core/errors.js';
import type { Store } from './store.js';
import type { CheckpointRecord } from './types.js';

export function isIntact(cp: CheckpointRecord): boolean {
  return checksumOf(cp.state) === cp.checksum;
}

export interface CheckpointScan {
  /** The newest checkpoint whose checksum matches, or null. */
  valid: CheckpointRecord | null;
  /** Sequence numbers of corrupt checkpoints newer than `valid`. */
  corrupt: number[];
}

export async function newestValidCheckpoint(
  store: Pick<Store, 'listCheckpoints' | 'recordEvent'>,
  taskId: string,
  options: { recordCorruption: boolean },
): Promise<CheckpointScan> {
  const all = await store.listCheckpoints(taskId); // newest first
  const corrupt: number[] = [];
  for (const cp of all) {
    if (isIntact(cp)) return finish({ valid: cp, corrupt });
    corrupt.push(cp.seq);
  }
  return finish({ valid: null, corrupt });

  async function finish(scan: CheckpointScan): Promise<CheckpointScan> {
    if (options.recordCorruption) {
      for (const seq of scan.corrupt) {
        await store.recordEvent({
          type: 'checkpoint:corrupt',
          taskId,
          runId: null,
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
    throw new BatonError(
      'CHECKPOINT_CORRUPT',
      `checkpoint ${cp.seq} of task ${taskId} failed its integrity check (SHA-256 mismatch)`,
      { details: { taskId, seq: cp.seq } },
    );
  }
  return cp;
}
