/**
 * Open event streams and long polls, per token. Each is held open for a long time, so two
 * things are checked for them beyond the request's own authentication: one token holds at most
 * `maxPerToken` of them at once (429 TOO_MANY_STREAMS beyond), and a revoked token loses them.
 * While any is open, the token table is read every `recheckMs`; the streams of a token that is
 * no longer there are aborted, so they end within that interval plus one poll of their own.
 */
import type { Clock } from '../core/clock.js';
import type { Store } from '../store/store.js';
import type { TokenRecord } from '../store/types.js';
import { refuse } from './errors.js';

export interface StreamGateOptions {
  maxPerToken: number;
  recheckMs: number;
  /** Tokens that never live in the store (the `noAuth` development token): never revoked. */
  permanentIds?: readonly string[];
}

/** One open stream: its signal aborts when the client hangs up or the token is revoked. */
export interface OpenStream {
  signal: AbortSignal;
  close(): void;
}

export class StreamGate {
  readonly #open = new Map<string, Set<AbortController>>();
  #cancelTimer: (() => void) | null = null;
  #closed = false;

  constructor(
    private readonly store: Pick<Store, 'listTokens'>,
    private readonly clock: Clock,
    private readonly options: StreamGateOptions,
  ) {}

  /** Streams and long polls open now. */
  get size(): number {
    let n = 0;
    for (const set of this.#open.values()) n += set.size;
    return n;
  }

  /** Opens a stream for `token`, or throws TOO_MANY_STREAMS (429). */
  open(token: TokenRecord, request: AbortSignal): OpenStream {
    const mine = this.#open.get(token.id) ?? new Set<AbortController>();
    if (mine.size >= this.options.maxPerToken) {
      throw refuse(
        'TOO_MANY_STREAMS',
        `token ${token.name} has ${mine.size} event streams and long polls open; the limit is ${this.options.maxPerToken}`,
        { limit: this.options.maxPerToken, retryAfterMs: 1000 },
      );
    }
    const controller = new AbortController();
    const onHangUp = (): void => controller.abort();
    if (request.aborted || this.#closed) controller.abort();
    else request.addEventListener('abort', onHangUp, { once: true });
    mine.add(controller);
    this.#open.set(token.id, mine);
    this.#schedule();
    let closed = false;
    return {
      signal: controller.signal,
      close: () => {
        if (closed) return;
        closed = true;
        request.removeEventListener('abort', onHangUp);
        mine.delete(controller);
        if (mine.size === 0 && this.#open.get(token.id) === mine) this.#open.delete(token.id);
        if (this.#open.size === 0) this.#stopTimer();
      },
    };
  }

  /** The server is closing: ends every stream. */
  close(): void {
    this.#closed = true;
    this.#stopTimer();
    for (const set of this.#open.values()) for (const c of set) c.abort();
  }

  #schedule(): void {
    if (this.#cancelTimer !== null || this.#closed) return;
    this.#cancelTimer = this.clock.setTimer(() => {
      this.#cancelTimer = null;
      void this.#recheck().finally(() => {
        if (this.#open.size > 0) this.#schedule();
      });
    }, this.options.recheckMs);
  }

  #stopTimer(): void {
    this.#cancelTimer?.();
    this.#cancelTimer = null;
  }

  async #recheck(): Promise<void> {
    let live: Set<string>;
    try {
      live = new Set((await this.store.listTokens()).map((t) => t.id));
    } catch {
      return; // the store is unreachable: judge again at the next tick, never on silence
    }
    for (const id of this.options.permanentIds ?? []) live.add(id);
    for (const [id, set] of this.#open) {
      if (live.has(id)) continue;
      for (const c of set) c.abort();
    }
  }
}
