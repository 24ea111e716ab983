/**
 * What a task sees of its dependencies: their outputs, keyed by task key (`BATON_NEEDS`,
 * `ctx.needs`). A task's output is its result, except for a shell task, whose result is
 * `{ exitCode, stdoutTail, output }` and whose output is the last `::output::` line's JSON.
 */
import type { JsonValue } from '../core/json.js';

/** `{ build: { output: … } }`: a dependency's key (its id when it has none) → its output. */
export type Needs = Record<string, { output: JsonValue | null }>;

/** The task type whose result wraps its output (workflow/to-run-spec.ts names it too). */
const SHELL_TYPE = 'shell';

export function outputOf(task: { type: string; result: JsonValue | null }): JsonValue | null {
  if (task.type !== SHELL_TYPE) return task.result;
  const result = task.result;
  if (result === null || typeof result !== 'object' || Array.isArray(result)) return null;
  return result.output ?? null;
}

/** The needs of a task from its dependencies' rows. */
export function needsOf(
  deps: readonly { id: string; key: string | null; type: string; result: JsonValue | null }[],
): Needs {
  const needs: Needs = {};
  for (const d of deps) needs[d.key ?? d.id] = { output: outputOf(d) };
  return needs;
}
