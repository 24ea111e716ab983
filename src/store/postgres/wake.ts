/**
 * Wake-ups across processes: the store NOTIFYs `baton_wake_<schema>` when a transaction makes
 * tasks claimable (submitted, released by a completed dependency, recovered, retried), and
 * this listener, on one dedicated connection outside the pool, LISTENs and calls back. An idle
 * worker can then claim within milliseconds instead of waiting for its next poll.
 *
 * The connection is kept: when it breaks it is opened again with jittered exponential backoff,
 * and once it is back every listener is called, since notifications sent while it was down
 * are lost (LISTEN/NOTIFY keeps no backlog).
 */
import pg from 'pg';
import { backoffMs, quoteIdent, typeParsers, wakeChannel } from './db.js';

export type WakeListener = () => void;

export class WakeListenerConnection {
  readonly #url: string;
  readonly #channel: string;
  readonly #onError: (error: unknown) => void;
  readonly #listeners = new Set<WakeListener>();
  #client: pg.Client | null = null;
  #started = false;
  #closed = false;
  #failures = 0;
  #retryTimer: NodeJS.Timeout | undefined;

  constructor(options: { url: string; schema: string; onError: (error: unknown) => void }) {
    this.#url = options.url;
    this.#channel = wakeChannel(options.schema);
    this.#onError = options.onError;
  }

  /** Adds a listener (connecting on first use); returns the function that removes it. */
  add(listener: WakeListener): () => void {
    this.#listeners.add(listener);
    if (!this.#started && !this.#closed) {
      this.#started = true;
      void this.#connect();
    }
    return () => {
      this.#listeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    const client = this.#client;
    this.#client = null;
    if (client) await client.end().catch(this.#onError);
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client({
      connectionString: this.#url,
      types: typeParsers,
      application_name: 'baton-wake',
    });
    let reconnecting = false;
    const lost = (error: unknown): void => {
      if (reconnecting) return;
      reconnecting = true;
      if (this.#client === client) this.#client = null;
      // The link is already broken and its error reported (or it ended by itself): what
      // ending it says now is the same failure again.
      void client.end().catch(ignoreSecondReport);
      if (error !== undefined) this.#onError(error);
      this.#scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', () => lost(undefined));
    client.on('notification', (message) => {
      if (message.channel === this.#channel) this.#fire();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${quoteIdent(this.#channel)}`);
      if (this.#closed) {
        await client.end();
        return;
      }
      this.#client = client;
      // Anything sent while we were away is lost: let every listener look once.
      if (this.#failures > 0) this.#fire();
      this.#failures = 0;
    } catch (error) {
      lost(error);
    }
  }

  #scheduleReconnect(): void {
    if (this.#closed) return;
    this.#failures++;
    this.#retryTimer = setTimeout(() => void this.#connect(), backoffMs(this.#failures));
  }

  #fire(): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener();
      } catch (error) {
        this.#onError(error);
      }
    }
  }
}

/** See `lost` in #connect: a second report of a failure already reported. */
function ignoreSecondReport(): void {
  // Deliberately empty (documented at its one use).
}
