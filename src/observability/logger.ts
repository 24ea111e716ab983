/**
 * Structured logs with pino: one JSON object per line, or pretty lines when the output is a
 * terminal. Payloads, results and checkpoint states are user data and may hold secrets: they
 * are never logged unless `logPayloads` is set, and even then only through these fields.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { BatonEventName, BatonEvents } from './events.js';
import type { TaskRecord } from '../store/types.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /** `trace`…`fatal`, or `silent`. Default `info`. */
  level?: string;
  /** Pretty, coloured lines instead of JSON. Default: whether `destination` is a TTY. */
  pretty?: boolean;
  /** Where lines go. Default: standard error (standard output stays for the program's output). */
  destination?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Include task payloads, results and checkpoint states. Default false. */
  logPayloads?: boolean;
  /** Fields on every line, e.g. `{ service: 'baton-serve' }`. */
  base?: Record<string, string | number>;
}

/** Every field that can carry user data, at the top or one level down. */
const USER_DATA = ['payload', 'result', 'checkpoint.state'].flatMap((f) => [f, `*.${f}`]);

export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? process.stderr;
  const usePretty = options.pretty ?? destination.isTTY === true;
  const stream: DestinationStream = usePretty
    ? pretty({ destination, colorize: true, sync: true, translateTime: 'SYS:HH:MM:ss.l' })
    : destination;
  return pino(
    {
      level: options.level ?? 'info',
      base: options.base ?? null,
      ...(options.logPayloads !== true && {
        redact: { paths: USER_DATA, censor: '[not logged]' },
      }),
    },
    stream,
  );
}

/** What a log line says about a task: identity and state, never its data. */
export function taskFields(task: TaskRecord): Record<string, string | number | null> {
  return {
    taskId: task.id,
    runId: task.runId,
    type: task.type,
    state: task.state,
    attempt: task.attempt,
    workerId: task.workerId,
  };
}

/** Anything with typed lifecycle events: an orchestrator, or a standalone worker. */
export interface EventSource {
  on<E extends BatonEventName>(
    event: E,
    listener: (payload: BatonEvents[E]) => unknown,
  ): () => void;
}

/** Logs the lifecycle events of an orchestrator or worker; returns the function that stops. */
export function logLifecycle(source: EventSource, logger: Logger): () => void {
  const offs = [
    source.on('task:started', ({ task, workerId }) =>
      logger.debug({ ...taskFields(task), workerId }, 'task started'),
    ),
    source.on('task:completed', ({ task }) => logger.info(taskFields(task), 'task completed')),
    source.on('task:retry', ({ task, error, retryAt }) =>
      logger.warn(
        { ...taskFields(task), code: error.code, error: error.message, retryAt },
        'attempt failed, will retry',
      ),
    ),
    source.on('task:failed', ({ task, error }) =>
      logger.error({ ...taskFields(task), code: error.code, error: error.message }, 'task failed'),
    ),
    source.on('task:cancelled', ({ task, reason }) =>
      logger.info({ ...taskFields(task), reason }, 'task cancelled'),
    ),
    source.on('task:lease-lost', ({ taskId, epoch, workerId }) =>
      logger.warn({ taskId, epoch, workerId }, 'lease lost'),
    ),
    source.on('task:suspended', ({ taskId, epoch, workerId, wait }) =>
      logger.info({ taskId, epoch, workerId, wait }, 'task suspended'),
    ),
    source.on('task:recovered', ({ recovery }) =>
      logger.warn({ ...recovery }, 'task recovered from a lost worker'),
    ),
    source.on('checkpoint:corrupt', ({ taskId, seq }) =>
      logger.error({ taskId, seq }, 'corrupt checkpoint skipped'),
    ),
    source.on('worker:started', ({ worker }) =>
      logger.info(
        { workerId: worker.id, capabilities: worker.capabilities, concurrency: worker.concurrency },
        'worker started',
      ),
    ),
    source.on('worker:lost', ({ workerId }) => logger.warn({ workerId }, 'worker lost')),
    source.on('worker:stopped', ({ workerId }) => logger.info({ workerId }, 'worker stopped')),
    source.on('engine:error', ({ error }) => logger.error({ err: error }, 'engine error')),
    source.on('listener:error', ({ event, error }) =>
      logger.error({ err: error, event }, 'event listener failed'),
    ),
  ];
  return () => {
    for (const off of offs) off();
  };
}
