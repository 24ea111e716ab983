/**
 * What a shell task inherits from its worker's environment. A task's command comes from
 * whoever could submit it, so it gets the few variables a command needs to behave (PATH, HOME,
 * the locale…) and nothing else: no cloud credentials, no database URL, never the worker's
 * token. More is passed only by name (`--pass-env`), and never a `BATON_*` variable: those are
 * baton's own (the worker's token and store, the protocol variables set per attempt).
 */
import { z } from 'zod';

/** Variables of the worker's environment every shell command inherits (and `LC_*`). */
export const INHERITED_ENV_NAMES = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'LANG',
  'TZ',
  'TMPDIR',
] as const;

const INHERITED = new Set<string>(INHERITED_ENV_NAMES);

/** A secret shorter than this is matched whole, not inside other values (too many false hits). */
const MIN_SECRET_SUBSTRING = 8;

/** One name given to `--pass-env` / `passEnv`: a variable name, not one of baton's own. */
export const passEnvNameSchema = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected a variable name (letters, digits, _)')
  .refine((name) => !name.toUpperCase().startsWith('BATON_'), {
    message:
      "BATON_* variables are baton's own: the worker's token and store are never passed to a task",
  });

/** `NAME[,NAME…]`, as `--pass-env` takes it (repeatable: the lists are joined). */
export const passEnvListSchema = z
  .array(z.string())
  .transform((lists) =>
    lists
      .flatMap((list) => list.split(','))
      .map((name) => name.trim())
      .filter((name) => name !== ''),
  )
  .pipe(z.array(passEnvNameSchema).max(1000));

export interface InheritedEnvOptions {
  /** More variable names to pass through. Default none. */
  passEnv?: readonly string[];
  /** Values never passed: a variable holding one of them is dropped, whatever its name. */
  secrets?: readonly string[];
}

/**
 * The part of `env` (the worker's environment) a shell command inherits: the listed names,
 * `LC_*`, and `passEnv`; a variable carrying a secret is left out even when named.
 */
export function inheritedEnv(
  env: Readonly<Record<string, string | undefined>>,
  options: InheritedEnvOptions = {},
): Record<string, string> {
  const passed = new Set(options.passEnv ?? []);
  const secrets = (options.secrets ?? []).filter((s) => s !== '');
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (!INHERITED.has(name) && !name.startsWith('LC_') && !passed.has(name)) continue;
    if (name.toUpperCase().startsWith('BATON_')) continue;
    if (secrets.some((s) => value === s || (s.length >= MIN_SECRET_SUBSTRING && value.includes(s))))
      continue;
    out[name] = value;
  }
  return out;
}

/** The password of a `postgres://user:password@…` URL (a secret of a worker on that store). */
export function storeUrlSecrets(url: string): string[] {
  if (!/^postgres(ql)?:\/\//.test(url)) return [];
  try {
    const password = decodeURIComponent(new URL(url).password);
    return password === '' ? [url] : [url, password];
  } catch {
    return [url];
  }
}
