/**
 * The connection layer of the PostgreSQL store: a `pg` pool whose sessions live in the store's
 * schema (search_path), read bigints as numbers, and run units of work that survive a lost
 * connection.
 *
 * Connection loss: a unit of work that fails because the server went away (restart, failover,
 * network) is run again on a fresh connection, with jittered backoff, until `retryWindowMs`
 * has passed. That is safe because every write is fenced: a write that did commit before the
 * connection broke is refused the second time (LEASE_LOST), never applied twice. A unit of work
 * whose COMMIT may have landed gets `ambiguous: true` on its next run so it can check first
 * (see the claim). Errors the server raised for the statement itself are never retried, except
 * deadlocks and serialization failures, which are retried at once.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { asError, BatonError } from '../../core/errors.js';
import { encodeParams } from './params.js';

/** What a unit of work sees: statements, and a way to wake listeners once it commits. */
export interface Sql {
  rows<R>(text: string, params?: readonly unknown[]): Promise<R[]>;
  /** Sends a wake-up (LISTEN/NOTIFY) to every listener of this schema when the work commits. */
  wake(): void;
  /** True when an earlier run of this unit of work lost its connection during COMMIT. */
  readonly ambiguous: boolean;
}

export interface DbOptions {
  url: string;
  schema: string;
  poolSize: number;
  retryWindowMs: number;
  onError: (error: unknown) => void;
}

const INT8_OID = 20;
const TEXT_ARRAY_OID: number = 1009;

const parseTextArray = pg.types.getTypeParser(TEXT_ARRAY_OID, 'text') as (value: string) => unknown;

/**
 * bigint columns hold ms timestamps, epochs and counts: all well inside 2^53. Most text[]
 * columns of a claimed row (capabilities, dependencies) are empty: `{}` is answered without
 * the driver's array parser.
 */
export const typeParsers: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): ((value: string) => unknown) => {
    if (oid === INT8_OID) return (value: string) => Number(value);
    if (oid === TEXT_ARRAY_OID && format !== 'binary') {
      return (value: string) => (value === '{}' ? [] : parseTextArray(value));
    }
    return pg.types.getTypeParser(oid, format ?? 'text') as (value: string) => unknown;
  }) as pg.CustomTypesConfig['getTypeParser'],
};

const STALE_PLAN = '0A000';
/**
 * SQLSTATEs after which the same work may simply be run again: serialization failure,
 * deadlock, and a prepared statement whose table changed under it (another process migrated
 * the schema: "cached plan must not change result type"), after which the connection, with its
 * prepared statements, is dropped.
 */
const RETRY_AT_ONCE = new Set(['40001', '40P01', STALE_PLAN]);
/** Admin or crash shutdown, the server starting, too many connections. */
const SERVER_GONE = new Set(['57P01', '57P02', '57P03', '53300']);

const prepared = new Map<string, string | null>();

/**
 * Statements are prepared once per connection (named by a hash of their text): the claim and
 * completion statements cost more to plan than to run. Scripts (migrations) and DDL are not.
 */
function preparedName(text: string): string | null {
  let name = prepared.get(text);
  if (name === undefined) {
    const dml = /^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b/i.test(text);
    name = dml ? `baton_${createHash('sha1').update(text).digest('hex').slice(0, 16)}` : null;
    prepared.set(text, name);
  }
  return name;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function wakeChannel(schema: string): string {
  return `baton_wake_${schema}`;
}

export class Db {
  readonly pool: pg.Pool;
  readonly schema: string;
  readonly #options: DbOptions;
  #closed = false;

  constructor(options: DbOptions) {
    this.#options = options;
    this.schema = options.schema;
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize,
      types: typeParsers,
      // Every session works in the store's schema; now_ms() and the tables resolve there.
      // Bitmap scans off: every query here is an index lookup or an ordered index scan, and
      // with statistics not yet gathered (a freshly loaded backlog) the planner would rather
      // bitmap-scan `tasks_ready` and sort the whole backlog on every claim.
      options: `-c search_path=${options.schema} -c enable_bitmapscan=off`,
      application_name: 'baton',
    });
    // An idle client whose server went away: the pool drops it; the next query reconnects.
    this.pool.on('error', (error) => options.onError(error));
    // A new connection's first bytes can carry both its ready signal and its end (a server
    // shutting down as it let it in): the pool hands the client out on the first, and the
    // second is read before the taker's listener is attached. This listener keeps that error
    // from being thrown as an uncaught exception; it is not reported, because the taker's
    // first query then fails as a lost connection and that failure is what is retried (and,
    // past the retry window, thrown as STORE_UNAVAILABLE).
    this.pool.on('connect', (client) => client.on('error', ignoreTakerError));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Runs `fn` in one transaction (READ COMMITTED), again on a fresh connection if it was lost. */
  transaction<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    return this.#withRetry(async (ambiguous) => {
      const client = await this.pool.connect();
      let broken: unknown = undefined;
      let committing = false;
      // A checked-out client whose connection dies between statements emits 'error'.
      const onError = (error: unknown): void => void (broken = error);
      client.on('error', onError);
      try {
        await client.query('BEGIN');
        const sql = this.#sqlOf(client, ambiguous);
        const value = await fn(sql);
        if (sql.wakeRequested) await this.#notify(client);
        committing = true;
        await client.query('COMMIT');
        return value;
      } catch (error) {
        if (!committing) {
          await client.query('ROLLBACK').catch((e: unknown) => (broken = e));
        } else broken = error;
        if (isConnectionError(error) || isStalePlan(error)) broken = error;
        throw committing && isConnectionError(error) ? new AmbiguousCommit(error) : error;
      } finally {
        client.off('error', onError);
        client.release(broken === undefined ? undefined : asError(broken));
      }
    });
  }

  /** Runs `fn` without a transaction: each statement commits on its own (reads, single writes). */
  autocommit<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    return this.#withRetry(async (ambiguous) => {
      const client = await this.pool.connect();
      let broken: unknown = undefined;
      const onError = (error: unknown): void => void (broken = error);
      client.on('error', onError);
      try {
        const sql = this.#sqlOf(client, ambiguous);
        const value = await fn(sql);
        if (sql.wakeRequested) await this.#notify(client);
        return value;
      } catch (error) {
        if (isStalePlan(error)) broken = error;
        if (!isConnectionError(error)) throw error;
        // Each statement commits on its own: the one in flight may have landed.
        broken = error;
        throw new AmbiguousCommit(error);
      } finally {
        client.off('error', onError);
        client.release(broken === undefined ? undefined : asError(broken));
      }
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.pool.end();
  }

  #sqlOf(client: pg.PoolClient, ambiguous: boolean): Sql & { wakeRequested: boolean } {
    const sql = {
      ambiguous,
      wakeRequested: false,
      async rows<R>(text: string, params: readonly unknown[] = []): Promise<R[]> {
        const name = preparedName(text);
        const values = encodeParams(params);
        const result = await client.query(
          name === null ? { text, values } : { name, text, values },
        );
        return result.rows as R[];
      },
      wake(): void {
        sql.wakeRequested = true;
      },
    };
    return sql;
  }

  #notify(client: pg.PoolClient): Promise<unknown> {
    return client.query('SELECT pg_notify($1, $2)', [wakeChannel(this.schema), 'queued']);
  }

  async #withRetry<T>(run: (ambiguous: boolean) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.#options.retryWindowMs;
    let ambiguous = false;
    for (let attempt = 1; ; attempt++) {
      if (this.#closed) throw new BatonError('STORE_CLOSED', 'the PostgreSQL store is closed');
      try {
        return await run(ambiguous);
      } catch (error) {
        const cause = error instanceof AmbiguousCommit ? error.cause : error;
        ambiguous = ambiguous || error instanceof AmbiguousCommit;
        if (this.#closed) throw new BatonError('STORE_CLOSED', 'the PostgreSQL store is closed');
        if (isRetryableAtOnce(cause) && attempt < 20) continue;
        if (!isConnectionError(cause)) throw asError(cause);
        if (Date.now() >= deadline) {
          // Out of reach for the whole window: a code the caller can tell from a refusal (a
          // worker keeps its write and makes it again; the server answers 503).
          throw new BatonError(
            'STORE_UNAVAILABLE',
            `PostgreSQL unreachable for ${this.#options.retryWindowMs} ms: ${asError(cause).message}`,
            { cause, details: { ambiguous } },
          );
        }
        await sleep(backoffMs(attempt));
      }
    }
  }
}

/** See the pool's 'connect' listener: the taker hears of the same failure from its query. */
function ignoreTakerError(): void {
  // Deliberately empty (documented at its one use).
}

/** The connection broke while a commit was in flight: the work may or may not have landed. */
class AmbiguousCommit extends Error {
  constructor(cause: unknown) {
    super('connection lost during COMMIT', { cause });
  }
}

function isStalePlan(error: unknown): boolean {
  return error instanceof pg.DatabaseError && error.code === STALE_PLAN;
}

function isRetryableAtOnce(error: unknown): boolean {
  return error instanceof pg.DatabaseError && RETRY_AT_ONCE.has(error.code ?? '');
}

/**
 * Whether an error means the connection (not the statement) failed. Server errors carry a
 * SQLSTATE; the driver's own connection failures do not (or carry a Node socket code).
 */
export function isConnectionError(error: unknown): boolean {
  if (error instanceof pg.DatabaseError) {
    const code = error.code ?? '';
    return code.startsWith('08') || SERVER_GONE.has(code);
  }
  if (error instanceof BatonError || error instanceof TypeError) return false;
  if (error instanceof RangeError || error instanceof SyntaxError) return false;
  return error instanceof Error;
}

/** Exponential from 50 ms to 2 s, with full jitter so that many clients do not reconnect in step. */
export function backoffMs(attempt: number): number {
  const cap = Math.min(2000, 50 * 2 ** Math.min(attempt, 10));
  return Math.round(cap / 2 + (Math.random() * cap) / 2);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
