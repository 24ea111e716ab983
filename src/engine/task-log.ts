/**
 * Seed 003's task log: one JSON record per task (taskId, type, action, status, startTime,
 * endTime, dependencies, result), read from the store and exportable as files.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JsonValue } from '../core/json.js';
import type { TaskError } from '../core/errors.js';
import type { TaskState } from '../core/states.js';
import type { TaskRecord } from '../store/types.js';

export interface TaskLogRecord {
  taskId: string;
  type: string;
  /** The task's name in its run (workflow key), else its type. */
  action: string;
  status: TaskState;
  startTime: string | null;
  endTime: string | null;
  dependencies: string[];
  result: { success: boolean; output: JsonValue | null; error?: TaskError };
}

export function toTaskLog(task: TaskRecord): TaskLogRecord {
  const iso = (ms: number | null): string | null =>
    ms === null ? null : new Date(ms).toISOString();
  return {
    taskId: task.id,
    type: task.type,
    action: task.key ?? task.type,
    status: task.state,
    startTime: iso(task.startedAt),
    endTime: iso(task.finishedAt),
    dependencies: task.dependsOn,
    result:
      task.error === null || task.state === 'completed'
        ? { success: task.state === 'completed', output: task.result }
        : { success: false, output: task.result, error: task.error },
  };
}

/** Writes `<dir>/<taskId>.json` for each task; returns the paths written. */
export async function writeTaskLogs(dir: string, tasks: TaskRecord[]): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (const task of tasks) {
    const path = join(dir, `${task.id.replace(/[^A-Za-z0-9._-]/g, '_')}.json`);
    await writeFile(path, `${JSON.stringify(toTaskLog(task), null, 2)}\n`);
    paths.push(path);
  }
  return paths;
}
