/**
 * Fires what waits on time: the sweepers call this after each sweep for lost workers. The
 * store does the moving (Store.fireWaits, one transaction), so any number of processes may
 * fire at once and each timer fires, each gate opens or times out, exactly once.
 */
import type { WaitsFired } from '../core/waits.js';
import type { Store } from '../store/store.js';

/** Whether a sweep of the waits moved anything (worth reporting). */
export function movedAny(fired: WaitsFired): boolean {
  return (
    fired.started.length +
      fired.fired.length +
      fired.opened.length +
      fired.timedOut.length +
      fired.resumed.length >
    0
  );
}

/** One sweep of the waits; calls `onFired` when it moved something. */
export async function fireWaits(
  store: Pick<Store, 'fireWaits'>,
  onFired: (fired: WaitsFired) => void,
): Promise<WaitsFired> {
  const fired = await store.fireWaits();
  if (movedAny(fired)) onFired(fired);
  return fired;
}
