/** Opaque cursors and the store reads behind paged lists. */
import { isBatonError } from '../core/errors.js';
import type { Store } from '../store/store.js';
import type { TaskRecord } from '../store/types.js';
import { refuse } from './errors.js';

export function encodeCursor(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) {
    throw refuse(
      'VALIDATION_FAILED',
      'invalid query: query.cursor: expected a cursor from nextCursor',
      {
        problems: [{ field: 'query.cursor', message: 'expected a cursor from nextCursor' }],
      },
    );
  }
  return Buffer.from(cursor, 'base64url').toString('utf8');
}

/** Items of a page (`limit` of them) and the cursor of the next, read with one extra row. */
export function pageFrom<T extends { id: string }>(
  rows: T[],
  limit: number,
): { items: T[]; nextCursor: string | null } {
  if (rows.length <= limit) return { items: rows, nextCursor: null };
  const items = rows.slice(0, limit);
  return { items, nextCursor: encodeCursor(items[items.length - 1]!.id) };
}

/** Every task of a run, in step order. */
export async function allTasksOfRun(store: Store, runId: string): Promise<TaskRecord[]> {
  const out: TaskRecord[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await store.listTasks({ runId, limit: 1000, ...(after && { after }) });
    out.push(...page);
    if (page.length < 1000) return out;
    after = page[page.length - 1]!.id;
  }
}

/** Runs `fn`, treating INVALID_TRANSITION (the task moved on meanwhile) as nothing to do. */
export async function unlessMoved<T>(fn: () => Promise<T>): Promise<T | null> {
  try {
    return await fn();
  } catch (error) {
    if (isBatonError(error, 'INVALID_TRANSITION')) return null;
    throw error;
  }
}
