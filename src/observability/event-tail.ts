/**
 * Follows the store's durable event log from a cursor. Metrics counters are fed from it, so
 * every `baton serve` sharing one store counts the same events (the truth is the log, not
 * whichever process happened to see an in-memory event). The dashboard's live feed reads it
 * the same way.
 */
import type { Store } from '../store/store.js';
import type { EventRecord } from '../store/types.js';

/** Events read per store call while catching up. */
const PAGE = 500;

export class EventTail {
  readonly #store: Pick<Store, 'listEvents'>;
  #cursor: number;
  #running: Promise<void> = Promise.resolve();

  /** `afterId`: the last event already seen (0 reads the whole log). */
  constructor(store: Pick<Store, 'listEvents'>, afterId = 0) {
    this.#store = store;
    this.#cursor = afterId;
  }

  get cursor(): number {
    return this.#cursor;
  }

  /**
   * Reads every event newer than the cursor, in order, handing each page to `onEvents`.
   * Calls are serialised: two scrapes at once never count an event twice.
   */
  catchUp(onEvents: (events: EventRecord[]) => void): Promise<void> {
    const next = this.#running.then(async () => {
      for (;;) {
        const page = await this.#store.listEvents({ afterId: this.#cursor, limit: PAGE });
        if (page.length === 0) return;
        onEvents(page);
        this.#cursor = page[page.length - 1]!.id;
        if (page.length < PAGE) return;
      }
    });
    // A failed read leaves the cursor where it was; the next call tries again.
    this.#running = next.catch(() => undefined);
    return next;
  }
}
