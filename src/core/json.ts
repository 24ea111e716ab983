import { z } from 'zod';

export type JsonValue =
  string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Nesting deeper than this is refused: JSON from outside must not blow the stack. */
export const MAX_JSON_DEPTH = 64;

function depthOk(value: unknown, depth: number): boolean {
  if (depth > MAX_JSON_DEPTH) return false;
  if (Array.isArray(value)) return value.every((v) => depthOk(v, depth + 1));
  if (value !== null && typeof value === 'object') {
    return Object.values(value).every((v) => depthOk(v, depth + 1));
  }
  return true;
}

function isJson(value: unknown): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object':
      if (value === null) return true;
      if (Array.isArray(value)) return value.every(isJson);
      if (
        Object.getPrototypeOf(value) !== Object.prototype &&
        Object.getPrototypeOf(value) !== null
      ) {
        return false;
      }
      return Object.values(value).every(isJson);
    default:
      return false;
  }
}

/** A plain JSON value (no functions, dates, NaN, class instances), bounded in depth. */
export const jsonValueSchema = z.custom<JsonValue>((value) => depthOk(value, 0) && isJson(value), {
  message: `expected a plain JSON value (nested at most ${MAX_JSON_DEPTH} deep)`,
});

/** Byte length of the JSON text of `value`. */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? 'null');
}
