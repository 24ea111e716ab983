/**
 * Append-only migrations of the SQLite store. A migration is never edited after it lands;
 * add a new one instead. A database newer than this code fails loudly (SCHEMA_MISMATCH).
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial',
    sql: `
CREATE TABLE runs (
  seq         INTEGER PRIMARY KEY,
  id          TEXT NOT NULL UNIQUE,
  name        TEXT NOT NULL,
  meta        TEXT NOT NULL DEFAULT '{}',
  created_at  INTEGER NOT NULL
);
CREATE INDEX runs_name ON runs (name, seq);

CREATE TABLE tasks (
  seq               INTEGER PRIMARY KEY,
  id                TEXT NOT NULL UNIQUE,
  run_id            TEXT,
  key               TEXT,
  type              TEXT NOT NULL,
  payload           TEXT,
  capabilities      TEXT NOT NULL DEFAULT '[]',
  priority          INTEGER NOT NULL DEFAULT 0,
  run_at            INTEGER NOT NULL,
  state             TEXT NOT NULL,
  attempt           INTEGER NOT NULL DEFAULT 0,
  max_attempts      INTEGER NOT NULL,
  budget            INTEGER NOT NULL,
  backoff           TEXT NOT NULL,
  timeout_ms        INTEGER,
  idempotency_key   TEXT,
  epoch             INTEGER NOT NULL DEFAULT 0,
  worker_id         TEXT,
  pinned_worker_id  TEXT,
  deps_remaining    INTEGER NOT NULL DEFAULT 0,
  dep_count         INTEGER NOT NULL DEFAULT 0,
  progress          REAL NOT NULL DEFAULT 0,
  progress_message  TEXT,
  result            TEXT,
  error             TEXT,
  checkpoint_seq    INTEGER NOT NULL DEFAULT 0,
  routing           TEXT,
  created_at        INTEGER NOT NULL,
  started_at        INTEGER,
  finished_at       INTEGER,
  updated_at        INTEGER NOT NULL
);
-- The claim reads this partial index in order: its cost stays flat as the backlog grows.
CREATE INDEX tasks_ready ON tasks (priority DESC, seq) WHERE state = 'queued';
CREATE INDEX tasks_due ON tasks (run_at) WHERE state = 'pending' AND deps_remaining = 0;
CREATE INDEX tasks_held ON tasks (worker_id) WHERE state IN ('assigned', 'running');
CREATE INDEX tasks_pinned ON tasks (pinned_worker_id, priority DESC, seq) WHERE state = 'assigned';
CREATE INDEX tasks_run ON tasks (run_id, seq) WHERE run_id IS NOT NULL;
CREATE UNIQUE INDEX tasks_idempotency ON tasks (idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE task_deps (
  task_id  TEXT NOT NULL,
  dep_id   TEXT NOT NULL,
  PRIMARY KEY (task_id, dep_id)
) WITHOUT ROWID;
CREATE INDEX task_deps_dep ON task_deps (dep_id);

CREATE TABLE checkpoints (
  task_id     TEXT NOT NULL,
  seq         INTEGER NOT NULL,
  attempt     INTEGER NOT NULL,
  epoch       INTEGER NOT NULL,
  progress    REAL NOT NULL,
  state       TEXT NOT NULL,
  checksum    TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (task_id, seq)
) WITHOUT ROWID;

CREATE TABLE events (
  id          INTEGER PRIMARY KEY,
  at          INTEGER NOT NULL,
  type        TEXT NOT NULL,
  task_id     TEXT,
  run_id      TEXT,
  worker_id   TEXT,
  from_state  TEXT,
  to_state    TEXT,
  reason      TEXT,
  data        TEXT
);
CREATE INDEX events_task ON events (task_id, id);
CREATE INDEX events_run ON events (run_id, id) WHERE run_id IS NOT NULL;

CREATE TABLE workers (
  id                 TEXT PRIMARY KEY,
  state              TEXT NOT NULL,
  capabilities       TEXT NOT NULL,
  types              TEXT,
  concurrency        INTEGER NOT NULL,
  done               INTEGER NOT NULL DEFAULT 0,
  failed             INTEGER NOT NULL DEFAULT 0,
  total_ms           REAL NOT NULL DEFAULT 0,
  last_heartbeat_at  INTEGER NOT NULL,
  started_at         INTEGER NOT NULL,
  meta               TEXT NOT NULL DEFAULT '{}'
);
`,
  },
  {
    version: 2,
    name: 'tokens',
    sql: `
CREATE TABLE tokens (
  name          TEXT PRIMARY KEY,
  role          TEXT NOT NULL,
  capabilities  TEXT NOT NULL DEFAULT '[]',
  hash          TEXT NOT NULL UNIQUE,
  created_at    INTEGER NOT NULL
);
`,
  },
  {
    version: 3,
    name: 'performance',
    // Per worker and task type: running totals, and a window of recent successful durations
    // from which percentiles are read (routing and the dashboard). Written in the same
    // transaction as the outcome, so every baton serve sees the same figures.
    sql: `
CREATE TABLE performance (
  worker_id   TEXT NOT NULL,
  type        TEXT NOT NULL,
  done        INTEGER NOT NULL DEFAULT 0,
  failed      INTEGER NOT NULL DEFAULT 0,
  total_ms    REAL NOT NULL DEFAULT 0,
  samples     INTEGER NOT NULL DEFAULT 0,
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (worker_id, type)
) WITHOUT ROWID;

CREATE TABLE performance_samples (
  worker_id    TEXT NOT NULL,
  type         TEXT NOT NULL,
  seq          INTEGER NOT NULL,
  duration_ms  REAL NOT NULL,
  PRIMARY KEY (worker_id, type, seq)
) WITHOUT ROWID;

-- W3C traceparent of the span that submitted the task, continued by whichever worker runs it.
ALTER TABLE tasks ADD COLUMN trace_parent TEXT;
`,
  },
  {
    version: 4,
    name: 'task-logs',
    // The lines a task printed, numbered per task by tasks.log_seq (bumped by the fenced
    // append); only the newest lines are kept (src/store/logs.ts).
    sql: `
ALTER TABLE tasks ADD COLUMN log_seq INTEGER NOT NULL DEFAULT 0;

CREATE TABLE task_logs (
  task_id  TEXT NOT NULL,
  seq      INTEGER NOT NULL,
  attempt  INTEGER NOT NULL,
  stream   TEXT NOT NULL,
  line     TEXT NOT NULL,
  at       INTEGER NOT NULL,
  PRIMARY KEY (task_id, seq)
) WITHOUT ROWID;
`,
  },
  {
    version: 5,
    name: 'dependents',
    // How many tasks wait on each task: a completion releases dependents only for tasks that
    // have some (most have none), instead of looking for them on every batch.
    sql: `
ALTER TABLE tasks ADD COLUMN dependents INTEGER NOT NULL DEFAULT 0;
UPDATE tasks SET dependents = (SELECT count(*) FROM task_deps d WHERE d.dep_id = tasks.id)
  WHERE id IN (SELECT dep_id FROM task_deps);
`,
  },
  {
    version: 6,
    name: 'schedules',
    // A schedule keeps the run spec it starts; next_at fences each tick (src/store/schedules.ts).
    sql: `
CREATE TABLE schedules (
  name          TEXT PRIMARY KEY,
  cron          TEXT NOT NULL,
  tz            TEXT NOT NULL,
  overlap       TEXT NOT NULL CHECK (overlap IN ('skip', 'allow')),
  catch_up      TEXT NOT NULL CHECK (catch_up IN ('none', 'last', 'all')),
  spec          TEXT NOT NULL,
  paused        INTEGER NOT NULL DEFAULT 0,
  next_at       INTEGER,
  last_tick_at  INTEGER,
  last_run_id   TEXT,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX schedules_due ON schedules (next_at) WHERE paused = 0 AND next_at IS NOT NULL;
`,
  },
  {
    version: 7,
    name: 'waits-and-signals',
    // Timers, gates and suspended handlers wait in state 'waiting' until `run_at` (the time a
    // timer fires, a gate or a signal wait times out, a sleep ends); `wait_signal` names the
    // signal a gate or handler waits for, `wake` says what ended a handler's wait. A signal is
    // kept per run and name (a latch: every wait for it in the run, now or later, opens).
    sql: `
ALTER TABLE tasks ADD COLUMN wait_signal TEXT;
ALTER TABLE tasks ADD COLUMN wake TEXT;
CREATE TABLE signals (
  run_id  TEXT NOT NULL,
  name    TEXT NOT NULL,
  data    TEXT,
  at      INTEGER NOT NULL,
  PRIMARY KEY (run_id, name)
) WITHOUT ROWID;
CREATE INDEX tasks_waiting ON tasks (run_at) WHERE state = 'waiting';
CREATE INDEX tasks_signalled ON tasks (run_id, wait_signal) WHERE state = 'waiting';
CREATE INDEX tasks_waits_ready ON tasks (seq) WHERE state = 'queued' AND type IN ('baton:sleep', 'baton:wait');
`,
  },
  {
    version: 8,
    name: 'token-ids-and-types',
    // A token gets an id of its own (worker ownership is keyed to it, so a new token that
    // reuses a revoked token's name inherits nothing) and the task types it is limited to.
    sql: `
ALTER TABLE tokens ADD COLUMN id TEXT;
ALTER TABLE tokens ADD COLUMN types TEXT NOT NULL DEFAULT '[]';
UPDATE tokens SET id = lower(hex(randomblob(16))) WHERE id IS NULL;
CREATE UNIQUE INDEX tokens_id ON tokens (id);
`,
  },
  {
    version: 9,
    name: 'lanes',
    // Claims read queued tasks by lane (src/store/lanes.ts): type, capability set and the
    // fairness/limit keys, each lane in priority/FIFO order. A claim visits only the lanes the
    // worker can take, so queued tasks it cannot take (other types, capabilities it lacks,
    // paused types, keys at their limit, other workers' pins) cost it nothing.
    sql: `
ALTER TABLE tasks ADD COLUMN lane TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN fairness_key TEXT;
ALTER TABLE tasks ADD COLUMN concurrency_key TEXT;
ALTER TABLE tasks ADD COLUMN concurrency_limit INTEGER;
ALTER TABLE tasks ADD COLUMN rate_key TEXT;
ALTER TABLE tasks ADD COLUMN rate_max INTEGER;
ALTER TABLE tasks ADD COLUMN rate_per_ms INTEGER;
ALTER TABLE tasks ADD COLUMN wait_for_worker_ms INTEGER;
DROP INDEX tasks_ready;
DROP INDEX tasks_pinned;
CREATE INDEX tasks_lanes ON tasks (type, capabilities, lane, priority DESC, seq)
  WHERE state = 'queued' AND pinned_worker_id IS NULL;
CREATE INDEX tasks_pinned ON tasks (pinned_worker_id, priority DESC, seq)
  WHERE state IN ('assigned', 'queued') AND pinned_worker_id IS NOT NULL;
CREATE INDEX tasks_run_ready ON tasks (run_id, priority DESC, seq)
  WHERE state = 'queued' AND run_id IS NOT NULL;
CREATE INDEX tasks_concurrency ON tasks (concurrency_key)
  WHERE state IN ('assigned', 'running') AND concurrency_key IS NOT NULL;
CREATE INDEX tasks_wait_for_worker ON tasks (type, capabilities)
  WHERE state = 'queued' AND wait_for_worker_ms IS NOT NULL;

-- Types whose tasks are not claimed (baton pause TYPE); running tasks go on.
CREATE TABLE paused_types (
  type       TEXT PRIMARY KEY,
  paused_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- When each fairness key was last served (turns numbered store-wide): within a priority, the
-- key served longest ago goes first ('' stands for tasks without a key).
CREATE TABLE fair_turns (
  key     TEXT PRIMARY KEY,
  served  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX fair_turns_served ON fair_turns (served);

-- Starts per rate key, kept for the key's window: a claim counts those inside it.
CREATE TABLE rate_starts (
  id   INTEGER PRIMARY KEY,
  key  TEXT NOT NULL,
  at   INTEGER NOT NULL
);
CREATE INDEX rate_starts_key ON rate_starts (key, at);
`,
  },
  {
    version: 10,
    name: 'spawned-tasks',
    // A task added to its run by a running task (`ctx.spawn`) remembers which: a handler run
    // again spawns the same keys and finds its own tasks. Keys are unique in a run, so two
    // spawns can never both add a key (src/store/spawn.ts).
    sql: `
ALTER TABLE tasks ADD COLUMN spawned_by TEXT;
CREATE UNIQUE INDEX tasks_run_key ON tasks (run_id, key) WHERE run_id IS NOT NULL AND key IS NOT NULL;
`,
  },
];
