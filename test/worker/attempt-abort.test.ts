/** The attempt's abort: a flag until a handler asks for a signal, then a real AbortSignal. */
import { describe, expect, it } from 'vitest';
import { AttemptAbort } from '../../src/worker/attempt-abort.js';

describe('AttemptAbort', () => {
  it('aborts a signal read before the abort, with the reason, once', () => {
    const abort = new AttemptAbort();
    const signal = abort.signal;
    const seen: unknown[] = [];
    signal.addEventListener('abort', () => seen.push(signal.reason));
    const reason = new Error('cancelled');
    abort.abort(reason);
    abort.abort(new Error('later'));
    expect(seen).toEqual([reason]);
    expect(abort.aborted).toBe(true);
    expect(abort.reason).toBe(reason);
    expect(abort.signal).toBe(signal);
  });

  it('hands out a signal that is aborted already when read after the abort', () => {
    const abort = new AttemptAbort();
    const reason = new Error('timed out');
    abort.abort(reason);
    expect(abort.signal.aborted).toBe(true);
    expect(abort.signal.reason).toBe(reason);
  });

  it('races a promise: its value, its error, or the abort reason when that comes first', async () => {
    await expect(new AttemptAbort().race(Promise.resolve(7))).resolves.toBe(7);
    await expect(new AttemptAbort().race(Promise.reject(new Error('boom')))).rejects.toThrow(
      'boom',
    );
    const abort = new AttemptAbort();
    const never = new Promise<number>(() => undefined);
    const raced = abort.race(never);
    abort.abort(new Error('lease lost'));
    await expect(raced).rejects.toThrow('lease lost');
    await expect(abort.race(Promise.resolve(1))).rejects.toThrow('lease lost');
  });
});
