/**
 * The workflow file format of docs/reference.md, as a zod schema. The same schema checks a file
 * read by `baton run` and a workflow posted as JSON to the server. Unknown fields are refused
 * (a typo such as `need:` must not be ignored) and every number has a bound.
 */
import { z } from 'zod';
import { DURATION_HINT, parseDuration } from '../core/duration.js';
import { MAX_ATTEMPTS, MAX_CONCURRENCY_LIMIT, MAX_TIMEOUT_MS } from '../core/task-spec.js';
import { MAX_WAIT_MS, signalNameSchema } from '../core/waits.js';

/** Most tasks in one workflow file. */
export const MAX_WORKFLOW_TASKS = 10_000;
/** Most tasks of one workflow running at once. */
export const MAX_CONCURRENCY = 1024;
/** Longest `run:` command (bytes of text). */
export const MAX_COMMAND_LENGTH = 64 * 1024;
/** Longest value of an `env` variable. */
export const MAX_ENV_VALUE = 32 * 1024;
/** Longest backoff before a retry. */
export const MAX_BACKOFF_MS = 24 * 3_600_000;

export const TASK_FIELDS = [
  'run',
  'sleep',
  'wait',
  'needs',
  'retries',
  'backoff',
  'timeout',
  'env',
  'capabilities',
  'fairness-key',
  'concurrency-key',
  'concurrency-limit',
  'rate-limit',
  'wait-for-worker',
] as const;
export const WAIT_FIELDS = ['signal', 'timeout'] as const;
export const RATE_LIMIT_FIELDS = ['key', 'max', 'per'] as const;
/** What a timer (`sleep:`) or a gate (`wait:`) may carry besides itself. */
const WAIT_TASK_FIELDS = ['needs'] as const;
export const TOP_FIELDS = ['name', 'concurrency', 'defaults', 'tasks'] as const;
export const DEFAULTS_FIELDS = ['retries', 'backoff', 'timeout'] as const;

/**
 * Task names start with a letter: names that look like numbers would be reordered by
 * JavaScript objects, and the order written is the step order.
 */
const TASK_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,99}$/;
const TASK_NAME_HINT = 'a name of 1-100 letters, digits, `_`, `.` or `-`, starting with a letter';
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** A message for a value of the wrong type only; issues inside it keep their own message. */
function typeError(message: string) {
  return (issue: { code?: string }) => (issue.code === 'invalid_type' ? message : undefined);
}

function duration(minMs: number, maxMs: number) {
  return z.string({ error: `expected ${DURATION_HINT}` }).transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected ${DURATION_HINT}, got "${text}"` });
      return z.NEVER;
    }
    if (ms < minMs || ms > maxMs) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a duration from ${minMs}ms to ${maxMs / 3_600_000}h, got "${text}"`,
      });
      return z.NEVER;
    }
    return ms;
  });
}

const retries = z
  .number({ error: `expected a whole number from 0 to ${MAX_ATTEMPTS - 1}` })
  .int(`expected a whole number from 0 to ${MAX_ATTEMPTS - 1}`)
  .min(0, `expected a whole number from 0 to ${MAX_ATTEMPTS - 1}`)
  .max(MAX_ATTEMPTS - 1, `expected a whole number from 0 to ${MAX_ATTEMPTS - 1}`);

const timeout = duration(1, MAX_TIMEOUT_MS);

const backoff = duration(0, MAX_BACKOFF_MS);

const label = z
  .string({ error: 'expected a string' })
  .min(1, 'expected a non-empty string')
  .max(200, 'expected at most 200 characters');

const waitDuration = duration(0, MAX_WAIT_MS);

const LIMIT_HINT = `expected a whole number from 1 to ${MAX_CONCURRENCY_LIMIT}`;
const limit = z
  .number({ error: LIMIT_HINT })
  .int(LIMIT_HINT)
  .min(1, LIMIT_HINT)
  .max(MAX_CONCURRENCY_LIMIT, LIMIT_HINT);

export const workflowTaskSchema = z
  .strictObject({
    /** Shell command, run with `sh -c` in the file's directory. */
    run: z
      .string({ error: 'expected a shell command (a string)' })
      .min(1, 'expected a non-empty shell command')
      .max(MAX_COMMAND_LENGTH, `expected at most ${MAX_COMMAND_LENGTH} characters`)
      .optional(),
    /** A timer: completes this long after its dependencies did; no worker runs it. */
    sleep: waitDuration.optional(),
    /** A gate: completes when the signal reaches the run, fails with SIGNAL_TIMEOUT after `timeout`. */
    wait: z
      .strictObject(
        {
          signal: signalNameSchema,
          /** Default and most: 365d. */
          timeout: duration(1, MAX_WAIT_MS).optional(),
        },
        { error: 'expected a map with signal and timeout' },
      )
      .optional(),
    /** Names of tasks that must complete first. */
    needs: z
      .array(z.string({ error: 'expected a task name' }), {
        error: 'expected a list of task names',
      })
      .max(1000, 'expected at most 1000 names')
      .optional(),
    /** Extra attempts after the first. */
    retries: retries.optional(),
    /** Delay before the first retry (doubling with each further one); overrides `defaults`. */
    backoff: backoff.optional(),
    /** Per-attempt limit; the process group is killed when it is reached. */
    timeout: timeout.optional(),
    /** Extra environment variables of the shell command. */
    env: z
      .record(
        z.string().regex(ENV_NAME, 'expected an environment variable name such as TARGET'),
        z.union(
          [
            z.string().max(MAX_ENV_VALUE, `expected at most ${MAX_ENV_VALUE} characters`),
            z.number(),
            z.boolean(),
          ],
          {
            error: 'expected a string, number or boolean',
          },
        ),
        { error: typeError('expected a map of NAME: value') },
      )
      .refine((env) => Object.keys(env).length <= 200, 'expected at most 200 variables')
      .optional(),
    /** Only workers offering all of these run the task. */
    capabilities: z.array(label, { error: 'expected a list of names' }).max(50).optional(),
    /** Within one priority, claims take turns between keys (tenants). */
    'fairness-key': label.optional(),
    /** At most `concurrency-limit` tasks of this key run at once, store-wide. */
    'concurrency-key': label.optional(),
    'concurrency-limit': limit.optional(),
    /** At most `max` starts of `key` in any window of `per`, store-wide. */
    'rate-limit': z
      .strictObject(
        { key: label, max: limit, per: duration(1, MAX_TIMEOUT_MS) },
        { error: 'expected a map with key, max and per' },
      )
      .optional(),
    /** Fails with NO_CAPABLE_WORKER after this long with no active worker able to take it. */
    'wait-for-worker': duration(0, MAX_TIMEOUT_MS).optional(),
  })
  .superRefine((task, ctx) => {
    if ((task['concurrency-key'] === undefined) !== (task['concurrency-limit'] === undefined)) {
      const missing =
        task['concurrency-key'] === undefined ? 'concurrency-key' : 'concurrency-limit';
      ctx.addIssue({
        code: 'custom',
        path: [missing],
        message: 'expected concurrency-key and concurrency-limit together',
      });
    }
    const kinds = (['run', 'sleep', 'wait'] as const).filter((k) => task[k] !== undefined);
    if (kinds.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: kinds.length === 0 ? ['run'] : [kinds[1]!],
        message:
          kinds.length === 0
            ? 'expected one of run (a shell command), sleep (a duration) or wait (a signal)'
            : `expected only one of run, sleep and wait, got ${kinds.join(' and ')}`,
      });
      return;
    }
    if (kinds[0] === 'run') return;
    for (const field of Object.keys(task) as (keyof typeof task)[]) {
      if (field === kinds[0] || (WAIT_TASK_FIELDS as readonly string[]).includes(field)) continue;
      if (task[field] === undefined) continue;
      ctx.addIssue({
        code: 'custom',
        path: [field],
        message: `a ${kinds[0] === 'sleep' ? 'timer (sleep)' : 'gate (wait)'} takes only needs`,
      });
    }
  });

export const workflowSchema = z.strictObject({
  name: label,
  /** Tasks running at once. Default: the number of CPUs. */
  concurrency: z
    .number({ error: `expected a whole number from 1 to ${MAX_CONCURRENCY}` })
    .int(`expected a whole number from 1 to ${MAX_CONCURRENCY}`)
    .min(1, `expected a whole number from 1 to ${MAX_CONCURRENCY}`)
    .max(MAX_CONCURRENCY, `expected a whole number from 1 to ${MAX_CONCURRENCY}`)
    .optional(),
  defaults: z
    .strictObject(
      {
        retries: retries.optional(),
        /** Delay before the first retry; it doubles with each further one. */
        backoff: backoff.optional(),
        timeout: timeout.optional(),
      },
      { error: 'expected a map with retries, backoff and timeout' },
    )
    .optional(),
  tasks: z
    .record(z.string().regex(TASK_NAME, `expected ${TASK_NAME_HINT}`), workflowTaskSchema, {
      error: typeError('expected a map of task name to task'),
    })
    .refine((tasks) => Object.keys(tasks).length > 0, 'expected at least one task')
    .refine(
      (tasks) => Object.keys(tasks).length <= MAX_WORKFLOW_TASKS,
      `expected at most ${MAX_WORKFLOW_TASKS} tasks`,
    ),
});

export type WorkflowInput = z.input<typeof workflowSchema>;
export type Workflow = z.output<typeof workflowSchema>;
export type WorkflowTask = z.output<typeof workflowTaskSchema>;
