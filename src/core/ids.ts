/**
 * Time-ordered ids (UUID version 7): consecutive ids sort together, so B-tree inserts into the
 * indexes keyed by task id touch the rightmost pages instead of random ones. That is most of
 * the write cost of a busy store.
 */
import { randomBytes } from 'node:crypto';

const DIGITS = Buffer.from('0123456789abcdef', 'latin1');
/** The text of an id being made: hex digits and the dashes at 8, 13, 18 and 23. */
const text = Buffer.from('00000000-0000-0000-0000-000000000000', 'latin1');

/** Writes the low byte of `value` as two hex digits at `offset` of `text`. */
function put(offset: number, value: number): void {
  text[offset] = DIGITS[(value >> 4) & 0x0f]!;
  text[offset + 1] = DIGITS[value & 0x0f]!;
}

let lastMs = 0;
let counter = 0;
// Random bytes drawn 4 KiB at a time: one syscall per 512 ids instead of one per id.
let pool = Buffer.alloc(0);
let poolAt = 0;

/** The offset in `pool` of 8 fresh random bytes. */
function random8(): number {
  if (poolAt + 8 > pool.length) {
    pool = randomBytes(4096);
    poolAt = 0;
  }
  poolAt += 8;
  return poolAt - 8;
}

export function newId(nowMs: number = Date.now()): string {
  if (nowMs <= lastMs) {
    counter++;
    if (counter > 0xfff) {
      // 4096 ids in one millisecond: borrow the next millisecond to stay ordered.
      lastMs++;
      counter = 0;
    }
  } else {
    lastMs = nowMs;
    counter = 0;
  }
  const ms = lastMs;
  const at = random8();
  // 48 bits of milliseconds, version 7 with a 12-bit counter, variant 10, 62 random bits,
  // written as text into one buffer: one string made per id, none in between.
  put(0, Math.floor(ms / 2 ** 40));
  put(2, Math.floor(ms / 2 ** 32));
  put(4, Math.floor(ms / 2 ** 24));
  put(6, Math.floor(ms / 2 ** 16));
  put(9, Math.floor(ms / 2 ** 8));
  put(11, ms);
  put(14, 0x70 | (counter >> 8));
  put(16, counter);
  put(19, (pool[at]! & 0x3f) | 0x80);
  put(21, pool[at + 1]!);
  for (let i = 0; i < 6; i++) put(24 + 2 * i, pool[at + 2 + i]!);
  return text.toString('latin1', 0, 36);
}
