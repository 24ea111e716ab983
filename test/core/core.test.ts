import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkAcyclic } from '../../src/core/dag.js';
import { BatonError, NonRetryableError, toTaskError } from '../../src/core/errors.js';
import { backoffDelayMs, DEFAULT_BACKOFF, shouldRetry } from '../../src/core/retry.js';
import {
  assertTransition,
  canTransition,
  deriveRunState,
  sourcesOf,
  TASK_STATES,
} from '../../src/core/states.js';
import { validateRunSpec, validateTaskSpec } from '../../src/core/task-spec.js';
import { checksumOf, canonicalJson } from '../../src/core/checksum.js';
import { parseDuration } from '../../src/core/duration.js';
import { FakeClock } from '../../src/core/clock.js';

describe('states', () => {
  it('allows exactly the moves written out here, and refuses the rest with a typed error', () => {
    // By hand, not read from the table: a change to the table must be made here too (and the
    // stores' pair conformance test then checks that they make exactly these moves).
    const expected = [
      'pending → queued',
      'pending → cancelled',
      'pending → completed',
      'queued → assigned',
      'queued → running',
      'queued → failed',
      'queued → cancelled',
      'queued → completed',
      'queued → waiting',
      'assigned → running',
      'assigned → queued',
      'assigned → cancelled',
      'assigned → completed',
      'running → completed',
      'running → pending',
      'running → queued',
      'running → failed',
      'running → cancelled',
      'running → waiting',
      'waiting → completed',
      'waiting → failed',
      'waiting → cancelled',
      'waiting → queued',
      'completed → queued',
      'completed → pending',
      'failed → queued',
      'failed → pending',
      'failed → completed',
      'cancelled → queued',
      'cancelled → pending',
      'cancelled → completed',
    ];
    const allowed: string[] = [];
    for (const from of TASK_STATES) {
      for (const to of TASK_STATES) {
        if (canTransition(from, to)) {
          allowed.push(`${from} → ${to}`);
          expect(() => assertTransition('t', from, to)).not.toThrow();
        } else {
          expect(() => assertTransition('t', from, to)).toThrow(
            expect.objectContaining({
              code: 'INVALID_TRANSITION',
              details: { taskId: 't', from, to },
            }),
          );
        }
      }
    }
    expect(allowed.sort()).toEqual([...expected].sort());
    expect(sourcesOf('running')).toEqual(['queued', 'assigned']);
  });

  it('derives a run state from its tasks', () => {
    expect(deriveRunState({ queued: 2 })).toBe('pending');
    expect(deriveRunState({ queued: 1, completed: 1 })).toBe('running');
    expect(deriveRunState({ completed: 2 })).toBe('completed');
    expect(deriveRunState({ completed: 1, failed: 1, cancelled: 1 })).toBe('failed');
    expect(deriveRunState({ completed: 1, cancelled: 1 })).toBe('cancelled');
    // A waiting timer or gate has begun: its run is running, and not finished.
    expect(deriveRunState({ waiting: 1, pending: 2 })).toBe('running');
    expect(deriveRunState({ waiting: 1, completed: 3 })).toBe('running');
  });
});

describe('DAG checks', () => {
  const node = (id: string, ...deps: string[]) => ({ id, label: id, dependsOn: deps });
  it('refuses self edges and cycles, naming the cycle', () => {
    expect(() => checkAcyclic([node('a', 'a')])).toThrow(
      expect.objectContaining({ code: 'DAG_CYCLE' }),
    );
    expect(() => checkAcyclic([node('a', 'c'), node('b', 'a'), node('c', 'b')])).toThrow(
      /dependency cycle: .*a.*->/,
    );
  });
  it('orders a DAG topologically and survives a 100,000-long chain', () => {
    const order = checkAcyclic([node('c', 'b'), node('b', 'a'), node('a')]);
    expect(order).toEqual(['a', 'b', 'c']);
    const chain = Array.from({ length: 100_000 }, (_, i) =>
      node(`n${i}`, ...(i > 0 ? [`n${i - 1}`] : [])),
    );
    expect(checkAcyclic(chain)).toHaveLength(100_000);
  });
});

describe('retry policy', () => {
  it('grows exponentially up to the maximum, jittered down by at most the jitter fraction', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.double({ min: 0, max: 0.999, noNaN: true }),
        (attempt, r) => {
          const delay = backoffDelayMs(attempt, DEFAULT_BACKOFF, () => r);
          const raw = Math.min(
            DEFAULT_BACKOFF.maxMs,
            DEFAULT_BACKOFF.initialMs * 2 ** (attempt - 1),
          );
          return delay <= raw && delay >= Math.floor(raw * (1 - DEFAULT_BACKOFF.jitter));
        },
      ),
    );
    const noJitter = { ...DEFAULT_BACKOFF, jitter: 0 };
    expect([1, 2, 3, 4].map((a) => backoffDelayMs(a, noJitter))).toEqual([1000, 2000, 4000, 8000]);
    expect(backoffDelayMs(30, noJitter)).toBe(300_000);
  });
  it('stops at max attempts and on non-retryable errors', () => {
    expect(shouldRetry(1, 3, true)).toBe(true);
    expect(shouldRetry(3, 3, true)).toBe(false);
    expect(shouldRetry(1, 3, false)).toBe(false);
    expect(toTaskError(new NonRetryableError('no')).retryable).toBe(false);
    expect(toTaskError(new Error('yes'))).toEqual({
      code: 'HANDLER_FAILED',
      message: 'yes',
      retryable: true,
    });
    expect(toTaskError(new BatonError('TIMEOUT', 't')).retryable).toBe(true);
  });
});

describe('task spec validation', () => {
  it('names the field and what was expected', () => {
    const bad = (input: unknown) => {
      try {
        validateTaskSpec(input);
      } catch (error) {
        return (error as BatonError).message;
      }
      return 'accepted';
    };
    expect(bad({})).toMatch(/type: /);
    expect(bad({ type: 'x', priority: 5000 })).toMatch(/priority: .*1000/);
    expect(bad({ type: 'x', maxAttempts: 0 })).toMatch(/maxAttempts/);
    expect(bad({ type: 'x', timeoutMs: -1 })).toMatch(/timeoutMs/);
    expect(bad({ type: 'x', typo: 1 })).toMatch(/typo/);
    expect(bad({ type: 'x', payload: { when: new Date() } })).toMatch(
      /payload: expected a plain JSON value/,
    );
    expect(bad({ type: 'x', runAt: 'yesterday' })).toMatch(/runAt/);
    expect(() => validateRunSpec({ name: 'r', tasks: [{ type: 'ok' }, { type: '' }] })).toThrow(
      /tasks\.1\.type/,
    );
    expect(validateTaskSpec({ type: 'x', runAt: '2026-01-01T00:00:00Z' }).runAt).toBe(
      '2026-01-01T00:00:00Z',
    );
  });
});

describe('checksums, durations and the fake clock', () => {
  it('checksums canonical JSON: key order does not matter, content does', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 1, c: 2 }] })).toBe('{"a":[{"c":2,"d":1}],"b":1}');
    expect(checksumOf({ a: 1, b: 2 })).toBe(checksumOf({ b: 2, a: 1 }));
    expect(checksumOf({ a: 1 })).not.toBe(checksumOf({ a: 2 }));
    expect(checksumOf({ a: 1 })).toMatch(/^[0-9a-f]{64}$/);
  });
  it('parses durations and refuses nonsense', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('10m')).toBe(600_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('5x')).toBeUndefined();
    expect(parseDuration('-1s')).toBeUndefined();
  });
  it('fires fake timers in order as time advances', () => {
    const clock = new FakeClock(0);
    const fired: number[] = [];
    clock.setTimer(() => fired.push(2), 20);
    clock.setTimer(() => fired.push(1), 10);
    const cancel = clock.setTimer(() => fired.push(3), 15);
    cancel();
    clock.advance(9);
    expect(fired).toEqual([]);
    clock.advance(11);
    expect(fired).toEqual([1, 2]);
    expect(clock.now()).toBe(20);
  });
});
