/**
 * What a token may submit and claim beyond its role. Running code from the network is opt-in:
 * a `shell` task runs a command on whichever worker takes it, so submitting one over HTTP
 * needs an `admin` token or a `client` token whose types name `shell`. A token's `types`
 * limit a client to submitting, and a worker to claiming, those types; a worker token's
 * `capabilities` limit what its workers offer, and a worker token limited to capabilities but
 * not to types claims only tasks that need capabilities (never general work and its payloads).
 * Timers and gates (`sleep:` and `wait:` steps) run on no worker, so no token's types need to
 * name them.
 */
import type { TaskSpec } from '../core/task-spec.js';
import { ENGINE_CAPABILITY, isWaitType } from '../core/waits.js';
import type { ClaimRequest } from '../store/store.js';
import type { TokenRecord } from '../store/types.js';
import { SHELL_TASK_TYPE } from '../workflow/to-run-spec.js';
import { refuse } from './errors.js';

/** Whether the engine itself runs this task (a timer or a gate): no worker ever claims it. */
function runsOnEngine(task: Pick<TaskSpec, 'type' | 'capabilities'>): boolean {
  return isWaitType(task.type) && (task.capabilities ?? []).includes(ENGINE_CAPABILITY);
}

/**
 * Refuses (403 FORBIDDEN) a submission of task types this token may not submit. Timers and
 * gates are not counted: they run no code and need no worker.
 */
export function checkSubmitTypes(
  token: TokenRecord,
  tasks: Iterable<Pick<TaskSpec, 'type' | 'capabilities'>>,
): void {
  if (token.role === 'admin') return;
  const distinct = [...new Set([...tasks].filter((t) => !runsOnEngine(t)).map((t) => t.type))];
  if (distinct.includes(SHELL_TASK_TYPE) && !token.types.includes(SHELL_TASK_TYPE)) {
    throw refuse(
      'FORBIDDEN',
      `token ${token.name} may not submit shell tasks: that needs an admin token or a client ` +
        'token created with --types shell',
      { field: 'type', type: SHELL_TASK_TYPE, allowed: token.types },
    );
  }
  if (token.types.length === 0) return;
  const extra = distinct.filter((t) => !token.types.includes(t));
  if (extra.length > 0) {
    throw refuse(
      'FORBIDDEN',
      `token ${token.name} may not submit tasks of type ${extra.join(', ')}`,
      {
        field: 'type',
        allowed: token.types,
        extra,
      },
    );
  }
}

/** The types a worker of this token may run: its own list within the token's (null: any). */
export function allowedTypes(token: TokenRecord, types: string[] | null): string[] | null {
  if (token.role !== 'worker' || token.types.length === 0) return types;
  return types === null ? [...token.types] : types.filter((t) => token.types.includes(t));
}

/** The capabilities a worker of this token may offer: its own within the token's. */
export function allowedCapabilities(token: TokenRecord, capabilities: string[]): string[] {
  if (token.role !== 'worker' || token.capabilities.length === 0) return capabilities;
  return capabilities.filter((c) => token.capabilities.includes(c));
}

/** Whether a worker of this token takes only tasks that need a capability. */
export function takesOnlyCapabilityWork(token: TokenRecord): boolean {
  return token.role === 'worker' && token.capabilities.length > 0 && token.types.length === 0;
}

/** A claim narrowed to what the token allows, whatever the worker asked for. */
export function narrowClaim<R extends Pick<ClaimRequest, 'types' | 'capabilities'>>(
  token: TokenRecord,
  request: R,
): R & Pick<ClaimRequest, 'needsCapability'> {
  const limitedToCapabilities = takesOnlyCapabilityWork(token);
  return {
    ...request,
    types: allowedTypes(token, request.types),
    capabilities: allowedCapabilities(token, request.capabilities),
    ...(limitedToCapabilities && { needsCapability: true }),
  };
}
