/** The stores' SQL guards come from the transition table and cannot admit a move it lacks. */
import { describe, expect, it } from 'vitest';
import { canTransition } from '../../src/core/states.js';
import { fromToSql, guard, move, MOVES } from '../../src/store/state-guards.js';

describe('state guards', () => {
  it('builds every guard from moves the table lists', () => {
    for (const [name, m] of Object.entries(MOVES)) {
      for (const from of m.from) expect(canTransition(from, m.to), `${name}: ${from}`).toBe(true);
    }
  });

  it('refuses a guard for a move the table does not list', () => {
    expect(() => move(['completed'], 'running')).toThrow(
      expect.objectContaining({ code: 'INVALID_TRANSITION' }),
    );
  });

  it('writes one source as an equality (partial indexes match) and several as IN', () => {
    expect(guard(MOVES.claim)).toBe(`state = 'queued'`);
    expect(guard(MOVES.recover, 't.state')).toBe(`t.state IN ('assigned', 'running')`);
    expect(fromToSql(MOVES.complete)).toBe(`'running', 'completed'`);
  });

  it('guards a handler suspending itself and its resumption by the table', () => {
    expect(guard(MOVES.suspend)).toBe(`state = 'running'`);
    expect(fromToSql(MOVES.suspend)).toBe(`'running', 'waiting'`);
    expect(fromToSql(MOVES.resume)).toBe(`'waiting', 'queued'`);
    // Claimable only once resumed: nothing but `resume` leaves waiting for queued.
    expect(() => move(['waiting'], 'running')).toThrow(
      expect.objectContaining({ code: 'INVALID_TRANSITION' }),
    );
  });
});
