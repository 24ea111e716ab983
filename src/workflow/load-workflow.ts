/**
 * Reading a workflow: YAML or JSON text (YAML is a superset of JSON) → a validated `Workflow`
 * in which every `needs` names a task of the file and no cycle exists. Every problem names
 * the file, the field path (with its line when the text has one) and what was expected.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { checkAcyclic } from '../core/dag.js';
import { BatonError, isBatonError } from '../core/errors.js';
import type { FieldProblem } from '../core/validation.js';
import {
  DEFAULTS_FIELDS,
  RATE_LIMIT_FIELDS,
  TASK_FIELDS,
  WAIT_FIELDS,
  TOP_FIELDS,
  workflowSchema,
  type Workflow,
} from './schema.js';

/** Largest workflow file read. */
export const MAX_WORKFLOW_BYTES = 4 * 1024 * 1024;

export interface WorkflowProblem extends FieldProblem {
  /** 1-based line in the file, when known. */
  line?: number;
}

export interface LoadedWorkflow {
  workflow: Workflow;
  /** SHA-256 of the file's bytes: tells whether the file changed since a run was recorded. */
  hash: string;
}

/** Validates a workflow already parsed (e.g. a JSON body); `source` names it in errors. */
export function validateWorkflow(input: unknown, source: string): Workflow {
  return check(input, source, () => undefined);
}

/** Parses and validates workflow text; `source` (the file name) is named in every error. */
export function parseWorkflow(text: string, source: string): LoadedWorkflow {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  const firstError = doc.errors[0];
  if (firstError) {
    const line = firstError.linePos?.[0].line;
    throw invalid(source, [
      {
        field: '(file)',
        message: `malformed YAML/JSON: ${firstError.message.split('\n')[0] ?? ''}`,
        ...(line === undefined ? {} : { line }),
      },
    ]);
  }
  const lineOf = (path: (string | number)[]): number | undefined => {
    for (let n = path.length; n >= 0; n--) {
      const node: unknown = doc.getIn(path.slice(0, n), true);
      const range = (node as { range?: [number, number, number] } | undefined)?.range;
      if (range) return lineCounter.linePos(range[0]).line;
    }
    return undefined;
  };
  const workflow = check(doc.toJS({ maxAliasCount: 100 }), source, lineOf);
  return { workflow, hash: createHash('sha256').update(text).digest('hex') };
}

/** Reads a workflow file; a missing, unreadable or oversized file is a usage error. */
export async function loadWorkflowFile(path: string): Promise<LoadedWorkflow> {
  let text: string;
  try {
    const bytes = await readFile(path);
    if (bytes.length > MAX_WORKFLOW_BYTES) {
      throw invalid(path, [
        { field: '(file)', message: `expected at most ${MAX_WORKFLOW_BYTES} bytes` },
      ]);
    }
    text = bytes.toString('utf8');
  } catch (error) {
    if (isBatonError(error)) throw error;
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw invalid(path, [{ field: '(file)', message: `cannot read the file (${reason})` }], error);
  }
  return parseWorkflow(text, path);
}

function check(
  input: unknown,
  source: string,
  lineOf: (path: (string | number)[]) => number | undefined,
): Workflow {
  const parsed = workflowSchema.safeParse(input);
  if (!parsed.success) {
    throw invalid(
      source,
      parsed.error.issues.flatMap((issue) => toProblems(issue, lineOf)),
    );
  }
  const problems = dependencyProblems(parsed.data);
  if (problems.length > 0) {
    throw invalid(
      source,
      problems.map((p) => withLine(p, p.field.split('.'), lineOf)),
    );
  }
  return parsed.data;
}

function toProblems(
  issue: z.core.$ZodIssue,
  lineOf: (path: (string | number)[]) => number | undefined,
): WorkflowProblem[] {
  const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
  if (issue.code === 'unrecognized_keys') {
    const allowed = allowedFields(path);
    return issue.keys.map((key) => {
      const hint = closest(key, allowed);
      return withLine(
        {
          field: [...path, key].join('.'),
          message:
            `unknown field "${key}"` +
            (hint === undefined ? '' : ` (did you mean "${hint}"?)`) +
            `; expected one of ${allowed.join(', ')}`,
        },
        [...path, key],
        lineOf,
      );
    });
  }
  const field = path.length === 0 ? '(root)' : path.join('.');
  const message =
    path.length === 0 && issue.code === 'invalid_type'
      ? 'expected a map with name and tasks'
      : issue.code === 'invalid_key'
        ? (issue.issues[0]?.message ?? issue.message) // say what a key should look like
        : issue.message;
  return [withLine({ field, message }, path, lineOf)];
}

function withLine(
  problem: FieldProblem,
  path: (string | number)[],
  lineOf: (path: (string | number)[]) => number | undefined,
): WorkflowProblem {
  const line = lineOf(path);
  return line === undefined ? problem : { ...problem, line };
}

function allowedFields(path: (string | number)[]): readonly string[] {
  if (path.length === 0) return TOP_FIELDS;
  if (path[0] === 'defaults') return DEFAULTS_FIELDS;
  if (path[2] === 'wait') return WAIT_FIELDS;
  if (path[2] === 'rate-limit') return RATE_LIMIT_FIELDS;
  return TASK_FIELDS;
}

/** The allowed field a typo most likely meant (edit distance at most 2). */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const name of candidates) {
    const d = editDistance(word.toLowerCase(), name);
    if (d <= 2 && (best === undefined || d < best.d)) best = { name, d };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** Unknown `needs`, a task needing itself, and cycles. */
function dependencyProblems(workflow: Workflow): FieldProblem[] {
  const names = Object.keys(workflow.tasks);
  const problems: FieldProblem[] = [];
  for (const [name, task] of Object.entries(workflow.tasks)) {
    (task.needs ?? []).forEach((need, i) => {
      if (!(need in workflow.tasks)) {
        problems.push({
          field: `tasks.${name}.needs.${i}`,
          message: `unknown task "${need}"; expected one of ${names.join(', ')}`,
        });
      }
    });
  }
  if (problems.length > 0) return problems;
  try {
    checkAcyclic(
      names.map((name) => ({
        id: name,
        label: name,
        dependsOn: workflow.tasks[name]?.needs ?? [],
      })),
    );
  } catch (error) {
    if (!isBatonError(error, 'DAG_CYCLE')) throw error;
    const cycle = (error.details.cycle as string[] | undefined) ?? [];
    problems.push({
      field: `tasks.${cycle[0] ?? names[0] ?? ''}.needs`,
      message: `${error.message}; expected tasks without a dependency cycle`,
    });
  }
  return problems;
}

function invalid(source: string, problems: WorkflowProblem[], cause?: unknown): BatonError {
  const lines = problems.map(
    (p) => `  ${source}${p.line === undefined ? '' : `:${p.line}`}: ${p.field}: ${p.message}`,
  );
  return new BatonError('VALIDATION_FAILED', `invalid workflow ${source}:\n${lines.join('\n')}`, {
    cause,
    details: { file: source, problems },
  });
}
