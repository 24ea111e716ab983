import { describe, expect, it } from 'vitest';
import { newId } from '../../src/core/ids.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('newId', () => {
  it('is a version 7 UUID whose first 48 bits are the millisecond', () => {
    const at = Date.UTC(2026, 11, 4, 13, 0, 0);
    const id = newId(at + 10_000);
    expect(id).toMatch(UUID_V7);
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(at + 10_000);
  });

  it('sorts in creation order, also past 4,096 ids in one millisecond, with no repeat', () => {
    const at = Date.now() + 60_000;
    const ids = Array.from({ length: 10_000 }, () => newId(at));
    for (const id of ids) expect(id).toMatch(UUID_V7);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    // An earlier clock reading (the clock stepped back) still gives a later id.
    const after = newId(at - 5_000);
    expect(after > ids[ids.length - 1]!).toBe(true);
  });
});
