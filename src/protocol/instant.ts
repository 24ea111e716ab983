/**
 * Instants on the wire. Every instant the HTTP API sends or takes is an RFC 3339 / ISO 8601
 * string in UTC with milliseconds (`2026-12-05T21:18:44.123Z`), in the REST routes, the
 * dashboard's routes and the worker protocol alike. Inside baton an instant is a number of
 * milliseconds since the epoch: `instantMs` converts between the two (decode: wire → ms,
 * encode: ms → wire), so the server encodes its records and the client decodes them.
 */
import { z } from 'zod';

/** An instant as it travels: an ISO 8601 string in UTC. */
export const isoInstant = z.iso.datetime({ precision: 3 }).describe('ISO 8601 instant, UTC');

/** An instant that is a number of ms in code and an ISO 8601 string on the wire. */
export const instantMs = z.codec(isoInstant, z.number().min(0), {
  decode: (text) => Date.parse(text),
  encode: (ms) => new Date(ms).toISOString(),
});
