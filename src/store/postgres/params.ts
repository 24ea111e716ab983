/**
 * Array parameters as PostgreSQL array literals, built in one pass. The driver's own encoder
 * grows the literal by concatenation and escapes every element twice; batches send thousands
 * of elements per statement, and that encoder was the client's largest source of garbage
 * (about 4 KB per task). Arrays of anything but strings, finite numbers, booleans and nulls
 * are left to the driver.
 */

const ESCAPED = /["\\]/;
const ESCAPED_ALL = /["\\]/g;

/** `{"a","b\"c",NULL,1.5}`: strings quoted (backslash and quote escaped), NULL bare. */
export function arrayLiteral(values: readonly unknown[]): string | null {
  const parts = new Array<string>(values.length);
  // Batches repeat values (one backoff policy, one type): the last string is quoted once.
  let last: string | undefined;
  let lastQuoted = '';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) parts[i] = 'NULL';
    else if (typeof v === 'string') {
      if (v !== last) {
        last = v;
        lastQuoted = ESCAPED.test(v) ? `"${v.replace(ESCAPED_ALL, '\\$&')}"` : `"${v}"`;
      }
      parts[i] = lastQuoted;
    } else if (typeof v === 'number' && Number.isFinite(v)) parts[i] = String(v);
    else if (typeof v === 'boolean') parts[i] = v ? 't' : 'f';
    else return null;
  }
  return `{${parts.join(',')}}`;
}

/** The statement's parameters with every array this module can encode as its literal. */
export function encodeParams(params: readonly unknown[]): unknown[] {
  return params.map((p) => (Array.isArray(p) ? (arrayLiteral(p) ?? p) : p));
}
