/** Submitting tasks and runs: one transaction, idempotent by key, the whole DAG or nothing. */
import { BatonError } from '../../core/errors.js';
import type { NewRun, NewTask, SubmitResult } from '../store.js';
import type { TaskRecord } from '../types.js';
import { logEvent, record, type Ctx } from './context.js';
import { dependencyStatus } from './task-flow.js';
import type { TaskRow } from './rows.js';
import { queuedRecord, waitsForNothing } from '../queued-record.js';
import { laneOf } from '../lanes.js';

const INSERT_TASK = `INSERT INTO tasks (id, run_id, key, type, payload, capabilities, priority,
  run_at, state, max_attempts, budget, backoff, timeout_ms, idempotency_key, deps_remaining,
  dep_count, created_at, updated_at, trace_parent, lane, fairness_key, concurrency_key,
  concurrency_limit, rate_key, rate_max, rate_per_ms, wait_for_worker_ms)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

/** `runId`: the run the tasks join, the new `run`'s by default (a spawn's is its spawner's). */
export function submit(
  ctx: Ctx,
  tasks: NewTask[],
  run: NewRun | undefined,
  runId: string | null = run?.id ?? null,
): SubmitResult {
  const now = ctx.clock.now();
  if (run) {
    ctx.sql
      .get('INSERT INTO runs (id, name, meta, created_at) VALUES (?, ?, ?, ?)')
      .run(run.id, run.name, JSON.stringify(run.meta), now);
  }
  const existing: (TaskRow | undefined)[] = tasks.map((t) => findExisting(ctx, t));
  // An idempotent duplicate inside this batch stands for the existing task in dependency lists.
  const alias = new Map<string, string>();
  tasks.forEach((t, i) => {
    const found = existing[i];
    if (found) alias.set(t.id, found.id);
  });
  const batchIds = new Set(tasks.map((t) => t.id));
  const insert = ctx.sql.get(INSERT_TASK);
  const insertDep = ctx.sql.get('INSERT OR IGNORE INTO task_deps (task_id, dep_id) VALUES (?, ?)');
  const countDependent = ctx.sql.get('UPDATE tasks SET dependents = dependents + 1 WHERE id = ?');
  tasks.forEach((t, i) => {
    if (existing[i]) return;
    insert.run(
      t.id,
      runId,
      t.key,
      t.type,
      t.payload === null ? null : JSON.stringify(t.payload),
      JSON.stringify(t.capabilities),
      t.priority,
      t.runAt ?? now,
      // A task that waits for nothing is queued at once; the others are settled below.
      waitsForNothing(t, now) ? 'queued' : 'pending',
      t.maxAttempts,
      t.maxAttempts,
      JSON.stringify(t.backoff),
      t.timeoutMs,
      t.idempotencyKey,
      new Set(t.dependsOn).size,
      now,
      now,
      t.traceParent ?? null,
      laneOf(t),
      t.fairnessKey ?? null,
      t.concurrencyKey ?? null,
      t.concurrencyLimit ?? null,
      t.rateLimit?.key ?? null,
      t.rateLimit?.max ?? null,
      t.rateLimit?.perMs ?? null,
      t.waitForWorkerMs ?? null,
    );
    for (const dep of t.dependsOn) {
      const depId = alias.get(dep) ?? dep;
      if (!batchIds.has(dep) && !taskExists(ctx, depId)) {
        throw new BatonError(
          'UNKNOWN_DEPENDENCY',
          `task ${t.key ?? t.id} depends on unknown task ${dep}`,
          {
            details: { task: t.key ?? t.id, dependency: dep },
          },
        );
      }
      if (insertDep.run(t.id, depId).changes === 1) countDependent.run(depId);
    }
  });
  const records: TaskRecord[] = tasks.map((t, i) => {
    const found = existing[i];
    if (found) return record(ctx, found);
    const settled = settleNew(ctx, t, runId, now);
    return settled === 'queued' ? queuedRecord(t, runId, now) : record(ctx, settled);
  });
  return { tasks: records, existing: existing.map((e) => e !== undefined) };
}

function findExisting(ctx: Ctx, t: NewTask): TaskRow | undefined {
  if (t.idempotencyKey !== null) {
    const row = ctx.sql.get('SELECT * FROM tasks WHERE idempotency_key = ?').get(t.idempotencyKey);
    if (row) return row as TaskRow;
  }
  return undefined;
}

function taskExists(ctx: Ctx, id: string): boolean {
  return ctx.sql.get('SELECT 1 FROM tasks WHERE id = ?').get(id) !== undefined;
}

/**
 * Gives a freshly inserted task its first real state and logs its submission; a task that
 * went straight to `queued` is not read back ('queued': its record follows from the spec).
 */
function settleNew(ctx: Ctx, t: NewTask, runId: string | null, now: number): TaskRow | 'queued' {
  if (waitsForNothing(t, now)) {
    logEvent(ctx, now, {
      type: 'task:submitted',
      taskId: t.id,
      runId,
      to: 'queued',
      reason: 'submitted',
    });
    return 'queued';
  }
  const deps =
    t.dependsOn.length === 0 ? { remaining: 0, dead: false } : dependencyStatus(ctx, t.id);
  let state: 'pending' | 'queued' | 'cancelled' = 'pending';
  let reason = 'submitted';
  if (deps.dead) {
    state = 'cancelled';
    reason = 'dependency-failed';
  } else if (deps.remaining === 0 && (t.runAt ?? now) <= now) {
    state = 'queued';
  }
  const row = ctx.sql
    .get(`UPDATE tasks SET state = ?, deps_remaining = ?, finished_at = ? WHERE id = ? RETURNING *`)
    .get(state, deps.remaining, state === 'cancelled' ? now : null, t.id) as TaskRow;
  logEvent(ctx, now, {
    type: 'task:submitted',
    taskId: t.id,
    runId,
    from: null,
    to: state,
    reason,
  });
  return row;
}
