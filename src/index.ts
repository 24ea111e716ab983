/** baton's public API. Each export is named; internals stay internal. */
export { Orchestrator } from './engine/orchestrator.js';
export type { RunWithTasks, TaskRecovery } from './engine/orchestrator.js';
export { resolveOrchestratorOptions } from './worker/options.js';
export type { OrchestratorOptions, TaskDefaults } from './worker/options.js';
export type { BatonEvents, BatonEventName, Listener } from './observability/events.js';
export type { WaitOptions } from './engine/waiters.js';
export { toTaskLog } from './engine/task-log.js';
export type { TaskLogRecord } from './engine/task-log.js';

export { Worker } from './worker/worker.js';
export { createWorker } from './worker/standalone.js';
export type { StandaloneWorker, StandaloneWorkerOptions } from './worker/standalone.js';
export type { WorkerOptions } from './worker/worker.js';
export type { TaskContext, TaskHandler } from './worker/handler.js';
export type { SpawnSpec } from './worker/spawn.js';
export { MAX_SPAWN_TASKS } from './store/spawn.js';
export type { SpawnOutcome, SpawnRequest } from './store/spawn.js';

export { BatonError, NonRetryableError, isBatonError, isStoreUnavailable } from './core/errors.js';
export type { ErrorCode, TaskError } from './core/errors.js';
export {
  TASK_STATES,
  TERMINAL_STATES,
  TRANSITIONS,
  canTransition,
  isTerminal,
} from './core/states.js';
export type { TaskState, RunState } from './core/states.js';
export { FakeClock, systemClock } from './core/clock.js';
export type { Clock } from './core/clock.js';
export { checksumOf, canonicalJson } from './core/checksum.js';
export { backoffDelayMs, DEFAULT_BACKOFF } from './core/retry.js';
export type { BackoffPolicy } from './core/retry.js';
export { BULK_STATES } from './core/bulk.js';
export type { BulkAction, BulkFilter, ResolvedBulkFilter } from './core/bulk.js';
export { parseDuration } from './core/duration.js';
export { validateTaskSpec, validateRunSpec } from './core/task-spec.js';
export type { TaskSpec, RunSpec } from './core/task-spec.js';
export { validateScheduleSpec } from './core/schedule-spec.js';
export type { ScheduleSpec, OverlapPolicy, CatchUpPolicy } from './core/schedule-spec.js';
export type { ScheduleRecord } from './store/schedules.js';
export type { FiringReport } from './engine/schedule-firer.js';
export { CATCH_UP_LIMIT, ON_TIME_WINDOW_MS } from './engine/schedule-plan.js';
export type { JsonValue } from './core/json.js';
export {
  TIMER_TASK_TYPE,
  GATE_TASK_TYPE,
  ENGINE_CAPABILITY,
  MAX_WAIT_MS,
  MAX_SIGNAL_DATA_BYTES,
  describeWait,
} from './core/waits.js';
export type { HandlerWait, SignalResult, TaskWake, WaitsFired, Wake } from './core/waits.js';
export type { SleepOptions, WaitForSignalOptions } from './worker/suspend.js';

export { SqliteStore } from './store/sqlite/sqlite-store.js';
export type { SqliteStoreOptions } from './store/sqlite/sqlite-store.js';
export { openSqliteThreadStore } from './store/sqlite/sqlite-thread-store.js';
export type {
  SqliteThreadStore,
  SqliteThreadStoreOptions,
} from './store/sqlite/sqlite-thread-store.js';
export { openStore, DEFAULT_STORE_PATH } from './store/open-store.js';
export { isIntact } from './store/checkpoints.js';
export type {
  Store,
  WorkerStore,
  Recovery,
  RecoverResult,
  TaskFilter,
  RunFilter,
  LogAppend,
  LogFilter,
  RateLimit,
  PausedType,
  WaitingGroup,
} from './store/store.js';
export { waitReasons, canTake } from './store/wait-reasons.js';
export type { WaitReason, WorkerOffer } from './store/wait-reasons.js';
export type { BulkStore } from './store/bulk.js';
export type {
  TaskRecord,
  RunRecord,
  WorkerRecord,
  WorkerState,
  CheckpointRecord,
  EventRecord,
  LogRecord,
  LogStream,
} from './store/types.js';

export { createShellHandler } from './worker/shell-handler.js';
export { INHERITED_ENV_NAMES, inheritedEnv } from './worker/shell-env.js';
export type { InheritedEnvOptions } from './worker/shell-env.js';
export type { ShellHandler, ShellHandlerOptions, ShellResult } from './worker/shell-handler.js';
export { loadWorkflowFile, parseWorkflow, validateWorkflow } from './workflow/load-workflow.js';
export { toRunSpec, SHELL_TASK_TYPE } from './workflow/to-run-spec.js';
export type { Workflow } from './workflow/schema.js';
export { toRunJson, toTaskJson, toWorkerJson, toCheckpointJson } from './workflow/json-shapes.js';
export type { RunJson, TaskJson, WorkerJson, CheckpointJson } from './workflow/json-shapes.js';

export { Router } from './engine/router.js';
export type { RouterOptions, RoutingPass } from './engine/router.js';
export { PerformanceStrategy, LeastLoadedStrategy, canRun } from './engine/routing-strategy.js';
export type {
  RoutingStrategy,
  RoutingCandidate,
  RoutingDecision,
  PerformanceStrategyOptions,
} from './engine/routing-strategy.js';
export type { PerformanceRecord, PerformanceFilter } from './store/performance.js';
export type { PinRequest } from './store/store.js';
export type { SubmitRouter } from './engine/orchestrator.js';
export { BatonMetrics } from './observability/metrics.js';
export { instrumentStore } from './observability/instrument-store.js';
export { Tracer, TRACER_NAME } from './observability/tracing.js';
export { createLogger, logLifecycle } from './observability/logger.js';
export type { LoggerOptions, Logger } from './observability/logger.js';

export { createServer, startServer } from './server/index.js';
export type {
  BatonServer,
  RunningServer,
  ServerOptions,
  StartServerOptions,
} from './server/index.js';
export type { TokenRecord, TokenRole } from './store/types.js';
