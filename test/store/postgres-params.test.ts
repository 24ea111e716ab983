/**
 * Array parameters are sent as literals built by params.ts: whatever the elements hold, the
 * server must read back exactly the array that was sent.
 */
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { typeParsers } from '../../src/store/postgres/db.js';
import { arrayLiteral, encodeParams } from '../../src/store/postgres/params.js';
import { usePostgres } from '../helpers/postgres.js';

const db = usePostgres();
let client: pg.Client;

beforeAll(async () => {
  client = new pg.Client({ connectionString: db.url, types: typeParsers });
  await client.connect();
});
afterAll(async () => {
  await client.end();
});

async function roundTrip(cast: string, values: unknown[]): Promise<unknown> {
  const { rows } = await client.query<{ v: unknown }>(
    `SELECT $1::${cast} AS v`,
    encodeParams([values]),
  );
  return rows[0]!.v;
}

/** Any text PostgreSQL can hold (no NUL character). */
const text = fc.string({ unit: 'grapheme' }).filter((s) => !s.includes('\0'));

describe('array parameters', () => {
  it('reads back any strings, nulls among them', async () => {
    const awkward = [
      '',
      'NULL',
      'null',
      'a,b',
      '{x}',
      'say "hi"',
      'back\\slash',
      ' pad ',
      'é✓',
      'line\nbreak',
    ];
    expect(await roundTrip('text[]', [...awkward, null])).toEqual([...awkward, null]);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.option(text, { nil: null })), async (values) => {
        expect(await roundTrip('text[]', values)).toEqual(values);
      }),
      { numRuns: 60 },
    );
  });

  it('reads back JSON documents, numbers and booleans', async () => {
    const docs = [JSON.stringify({ q: 'a "quoted" \\ value', n: [1, 2] }), null, '"plain"'];
    const back = (await roundTrip('json[]', docs)) as unknown[];
    expect(back).toEqual(docs.map((d) => (d === null ? null : (JSON.parse(d) as unknown))));
    expect(await roundTrip('float8[]', [1.5, -0.25, 1e-7, null])).toEqual([1.5, -0.25, 1e-7, null]);
    expect(await roundTrip('bigint[]', [Date.now(), 0, -3])).toHaveLength(3);
    expect(await roundTrip('bool[]', [true, false, null])).toEqual([true, false, null]);
  });

  it('leaves arrays it cannot encode to the driver', () => {
    expect(arrayLiteral([{ a: 1 }])).toBeNull();
    expect(arrayLiteral([Number.NaN])).toBeNull();
    const nested = [[1, 2]];
    expect(encodeParams([nested, 'x', 3])).toEqual([nested, 'x', 3]);
  });
});
