import type { z } from 'zod';
import { BatonError } from './errors.js';

export interface FieldProblem {
  /** Dotted path of the field, e.g. `tasks.2.timeoutMs`; empty for the whole value. */
  field: string;
  message: string;
}

export function problemsOf(error: z.ZodError): FieldProblem[] {
  return error.issues.map((issue) => ({
    field: issue.path.map(String).join('.'),
    message: issue.message,
  }));
}

export function describeProblems(problems: FieldProblem[], where = ''): string {
  return problems
    .map((p) => `${where}${p.field === '' ? '(root)' : p.field}: ${p.message}`)
    .join('; ');
}

/** Parses `input` with `schema`, or throws `VALIDATION_FAILED` naming each bad field. */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
  prefix = '',
): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = problemsOf(result.error).map((p) => ({
    ...p,
    field: [prefix, p.field].filter((part) => part !== '').join('.'),
  }));
  throw new BatonError('VALIDATION_FAILED', `invalid ${what}: ${describeProblems(problems)}`, {
    cause: result.error,
    details: { problems },
  });
}
