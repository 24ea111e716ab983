/**
 * A validated workflow → the `RunSpec` the orchestrator submits. Each task becomes a `shell`
 * task keyed by its name, in file order (the step order). The run's `meta` keeps what resume
 * needs later: the file's path and hash, and the steps with their task ids (so a step is
 * still nameable after an operator deleted its task).
 */
import { randomUUID } from 'node:crypto';
import type { JsonValue } from '../core/json.js';
import type { RunSpec, TaskSpec } from '../core/task-spec.js';
import { ENGINE_CAPABILITY, GATE_TASK_TYPE, MAX_WAIT_MS, TIMER_TASK_TYPE } from '../core/waits.js';
import type { Workflow, WorkflowTask } from './schema.js';

/** The payload of a `shell` task. */
export interface ShellPayload {
  run: string;
  /** Working directory; absent for runs without a file (the worker's own directory). */
  cwd?: string;
  env: Record<string, string>;
}

export interface WorkflowMeta {
  /** Absolute path of the workflow file, or null for a workflow posted without a file. */
  workflowPath: string | null;
  workflowHash: string | null;
  concurrency: number | null;
  /**
   * In step order. `maxAttempts` is what the file said when the run was recorded or last
   * revised (a retried task's own count grows), absent in runs recorded before it was kept.
   */
  steps: { key: string; taskId: string; maxAttempts?: number }[];
  /** The run that superseded this one (a fresh `baton run` of the workflow), if any. */
  supersededBy: string | null;
}

export interface ToRunSpecOptions {
  /** Absolute path of the file; its directory is every task's working directory. */
  path: string | null;
  /** Directory the shell commands run in; null leaves it to the worker. */
  cwd: string | null;
  hash: string | null;
}

export const SHELL_TASK_TYPE = 'shell';

export function toRunSpec(workflow: Workflow, options: ToRunSpecOptions): RunSpec {
  const defaults = workflow.defaults ?? {};
  const entries = Object.entries(workflow.tasks);
  const ids = new Map(entries.map(([key]) => [key, randomUUID()]));
  const steps: { key: string; taskId: string; maxAttempts: number }[] = [];
  const tasks = entries.map(([key, task]): TaskSpec => {
    const wait = waitSpec(task);
    if (wait !== null) {
      steps.push({ key, taskId: ids.get(key)!, maxAttempts: 1 });
      return { id: ids.get(key)!, key, ...wait, dependsOn: task.needs ?? [], maxAttempts: 1 };
    }
    const payload: Record<string, JsonValue> = {
      run: task.run ?? '',
      ...(options.cwd === null ? {} : { cwd: options.cwd }),
      env: Object.fromEntries(Object.entries(task.env ?? {}).map(([k, v]) => [k, String(v)])),
    };
    const timeoutMs = task.timeout ?? defaults.timeout;
    const backoffMs = task.backoff ?? defaults.backoff;
    const maxAttempts = (task.retries ?? defaults.retries ?? 0) + 1;
    steps.push({ key, taskId: ids.get(key)!, maxAttempts });
    return {
      id: ids.get(key)!,
      key,
      type: SHELL_TASK_TYPE,
      payload,
      dependsOn: task.needs ?? [],
      capabilities: task.capabilities ?? [],
      maxAttempts,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(backoffMs === undefined ? {} : { backoff: { initialMs: backoffMs } }),
      ...limitsOf(task),
    };
  });
  const meta: Record<string, JsonValue> = {
    workflowPath: options.path,
    workflowHash: options.hash,
    concurrency: workflow.concurrency ?? null,
    steps: stepsOf(steps),
  };
  return { name: workflow.name, tasks, meta };
}

/** A timer or a gate: a task no worker runs (see core/waits.ts); null for a shell task. */
function waitSpec(task: WorkflowTask): Pick<TaskSpec, 'type' | 'payload' | 'capabilities'> | null {
  const capabilities = [ENGINE_CAPABILITY];
  if (task.sleep !== undefined) {
    return { type: TIMER_TASK_TYPE, payload: { ms: task.sleep }, capabilities };
  }
  if (task.wait !== undefined) {
    const timeoutMs = task.wait.timeout ?? MAX_WAIT_MS;
    return { type: GATE_TASK_TYPE, payload: { signal: task.wait.signal, timeoutMs }, capabilities };
  }
  return null;
}

/** The steps kept in a run's meta, in file order. */
export function stepsOf(steps: { key: string; taskId: string; maxAttempts: number }[]): JsonValue {
  return steps.map(({ key, taskId, maxAttempts }) => ({ key, taskId, maxAttempts }));
}

/** Reads back the workflow facts kept in a run's meta; null for runs not made from a workflow. */
export function workflowMetaOf(meta: Record<string, JsonValue>): WorkflowMeta | null {
  const steps = meta.steps;
  if (!Array.isArray(steps)) return null;
  const parsed: WorkflowMeta['steps'] = [];
  for (const step of steps) {
    if (step === null || typeof step !== 'object' || Array.isArray(step)) return null;
    if (typeof step.key !== 'string' || typeof step.taskId !== 'string') return null;
    parsed.push({
      key: step.key,
      taskId: step.taskId,
      ...(typeof step.maxAttempts === 'number' ? { maxAttempts: step.maxAttempts } : {}),
    });
  }
  return {
    workflowPath: typeof meta.workflowPath === 'string' ? meta.workflowPath : null,
    workflowHash: typeof meta.workflowHash === 'string' ? meta.workflowHash : null,
    concurrency: typeof meta.concurrency === 'number' ? meta.concurrency : null,
    steps: parsed,
    supersededBy: typeof meta.supersededBy === 'string' ? meta.supersededBy : null,
  };
}

/** A task's fair-share and limit fields, in the task spec's names (only those written). */
function limitsOf(task: WorkflowTask): Partial<TaskSpec> {
  const rate = task['rate-limit'];
  return {
    ...(task['fairness-key'] !== undefined && { fairnessKey: task['fairness-key'] }),
    ...(task['concurrency-key'] !== undefined && { concurrencyKey: task['concurrency-key'] }),
    ...(task['concurrency-limit'] !== undefined && {
      concurrencyLimit: task['concurrency-limit'],
    }),
    ...(rate !== undefined && { rateLimit: { key: rate.key, max: rate.max, perMs: rate.per } }),
    ...(task['wait-for-worker'] !== undefined && { waitForWorkerMs: task['wait-for-worker'] }),
  };
}
