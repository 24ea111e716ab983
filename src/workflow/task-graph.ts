/**
 * What `--resume` compares between a recorded run and its workflow file as it is now. Not the
 * bytes: comments and formatting never matter. The task graph (task names and their `needs`)
 * must be the same, else resuming would mislead, and the difference is named. Everything else
 * a task says (command, env, retries, backoff, timeout, capabilities, and the directory the
 * file is in) may change: the tasks that have not run yet take the file as it is now.
 */
import { canonicalJson } from '../core/checksum.js';
import { validateRunSpec } from '../core/task-spec.js';
import type { Orchestrator } from '../engine/orchestrator.js';
import { toNewTasks } from '../worker/to-new-tasks.js';
import type { NewTask, TaskRevision } from '../store/store.js';
import type { TaskRecord } from '../store/types.js';
import type { Workflow } from './schema.js';
import { toRunSpec, type WorkflowMeta } from './to-run-spec.js';

/** One task's settings that differ between the run and the file, by field name. */
export interface TaskChange {
  key: string;
  taskId: string;
  /** `run`, `env`, `retries`, `backoff`, `timeout`, `capabilities`. */
  fields: string[];
  revision: TaskRevision;
}

export interface FileComparison {
  /** Differences of the task graph; resuming is refused when there is any. */
  graph: string[];
  /** Tasks whose settings changed (the directory aside). */
  changes: TaskChange[];
  /** Every task's settings as the file says now, the directory included. */
  revisions: TaskRevision[];
}

/**
 * Compares a run's tasks with the file. Tasks an operator deleted from the run still count as
 * the file's (their dependents no longer wait for them, which is not a change of the file).
 */
export function compareWithFile(
  orch: Orchestrator,
  meta: WorkflowMeta,
  tasks: TaskRecord[],
  workflow: Workflow,
  file: { path: string; cwd: string; hash: string },
): FileComparison {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const deleted = new Set(meta.steps.filter((s) => !byId.has(s.taskId)).map((s) => s.key));
  const keyOf = new Map(meta.steps.map((s) => [s.taskId, s.key] as const));
  const recorded = new Map<string, string[]>(meta.steps.map((s) => [s.key, []]));
  for (const t of tasks) {
    const key = t.key ?? keyOf.get(t.id) ?? t.id;
    recorded.set(key, t.dependsOn.map((id) => keyOf.get(id) ?? id).sort());
  }
  const graph = graphDifferences(recorded, workflow, deleted);
  if (graph.length > 0) return { graph, changes: [], revisions: [] };

  const spec = toRunSpec(workflow, { path: file.path, cwd: file.cwd, hash: file.hash });
  const resolved = toNewTasks(validateRunSpec(spec).tasks, orch.options.taskDefaults);
  const maxAttemptsOf = new Map(meta.steps.map((s) => [s.key, s.maxAttempts] as const));
  const changes: TaskChange[] = [];
  const revisions: TaskRevision[] = [];
  for (const now of resolved) {
    const key = now.key ?? '';
    const step = meta.steps.find((s) => s.key === key);
    const task = step === undefined ? undefined : byId.get(step.taskId);
    if (task === undefined) continue; // deleted from the run
    const revision: TaskRevision = {
      taskId: task.id,
      payload: now.payload,
      capabilities: now.capabilities,
      maxAttempts: now.maxAttempts,
      backoff: now.backoff,
      timeoutMs: now.timeoutMs,
    };
    revisions.push(revision);
    const fields = changedFields(task, now, maxAttemptsOf.get(key) ?? task.maxAttempts);
    if (fields.length > 0) changes.push({ key, taskId: task.id, fields, revision });
  }
  return { graph, changes, revisions };
}

function graphDifferences(
  recorded: Map<string, string[]>,
  workflow: Workflow,
  deleted: Set<string>,
): string[] {
  const out: string[] = [];
  const current = new Map(
    Object.entries(workflow.tasks).map(([key, t]) => [key, [...(t.needs ?? [])].sort()] as const),
  );
  const added = [...current.keys()].filter((k) => !recorded.has(k));
  const removed = [...recorded.keys()].filter((k) => !current.has(k));
  if (added.length > 0) out.push(`task(s) added: ${added.join(', ')}`);
  if (removed.length > 0) out.push(`task(s) removed: ${removed.join(', ')}`);
  for (const [key, needs] of current) {
    const before = recorded.get(key);
    if (before === undefined || deleted.has(key)) continue;
    // A need on a task the operator deleted was dropped from the run, not from the file.
    const now = needs.filter((n) => !deleted.has(n));
    if (canonicalJson(now) !== canonicalJson(before)) {
      out.push(`needs of ${key} changed from [${before.join(', ')}] to [${now.join(', ')}]`);
    }
  }
  return out;
}

interface ShellPayloadView {
  run?: unknown;
  env?: unknown;
}

function changedFields(task: TaskRecord, now: NewTask, maxAttempts: number): string[] {
  const fields: string[] = [];
  const before = (task.payload ?? {}) as ShellPayloadView;
  const after = (now.payload ?? {}) as ShellPayloadView;
  if (before.run !== after.run) fields.push('run');
  const {
    run: _r1,
    env: _e1,
    cwd: _c1,
    ...waitBefore
  } = (task.payload ?? {}) as Record<string, unknown>;
  const {
    run: _r2,
    env: _e2,
    cwd: _c2,
    ...waitAfter
  } = (now.payload ?? {}) as Record<string, unknown>;
  if (task.type !== now.type || canonicalJson(waitBefore) !== canonicalJson(waitAfter)) {
    fields.push('sleep/wait');
  }
  if (canonicalJson(before.env ?? {}) !== canonicalJson(after.env ?? {})) fields.push('env');
  if (maxAttempts !== now.maxAttempts) fields.push('retries');
  if (canonicalJson(task.backoff) !== canonicalJson(now.backoff)) fields.push('backoff');
  if (task.timeoutMs !== now.timeoutMs) fields.push('timeout');
  if (canonicalJson([...task.capabilities].sort()) !== canonicalJson(now.capabilities)) {
    fields.push('capabilities');
  }
  return fields;
}
