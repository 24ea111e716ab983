/**
 * Text that no store can keep as it is: U+0000 (PostgreSQL's text refuses it, SQLite cuts C
 * strings at it) and lone UTF-16 surrogates (not Unicode: they cannot be encoded as UTF-8, so
 * they come back changed or break the encoder). Input from outside is refused when it holds
 * either, anywhere: values, object keys, at any depth.
 */
import { BatonError } from './errors.js';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether `text` holds U+0000 or a lone surrogate. */
export function isUnstorable(text: string): boolean {
  return text.includes('\u0000') || LONE_SURROGATE.test(text);
}

/**
 * The dotted path of the first string (value or key) in `value` that holds U+0000 or a lone
 * surrogate, or null. Iterative, so a deep value cannot overflow the stack.
 */
export function unstorableAt(value: unknown, root = ''): string | null {
  const stack: [unknown, string][] = [[value, root]];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'string') {
      if (isUnstorable(v)) return path;
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => stack.push([item, join(path, String(i))]));
    } else if (v !== null && typeof v === 'object') {
      for (const [key, item] of Object.entries(v)) {
        if (isUnstorable(key)) return join(path, JSON.stringify(key));
        stack.push([item, join(path, key)]);
      }
    }
  }
  return null;
}

/** Throws VALIDATION_FAILED naming the field when `value` holds unstorable text. */
export function checkStorableText(value: unknown, what: string, root = ''): void {
  const at = unstorableAt(value, root);
  if (at === null) return;
  const field = at === '' ? '(root)' : at;
  const message = 'must not contain U+0000 or a lone UTF-16 surrogate';
  throw new BatonError('VALIDATION_FAILED', `invalid ${what}: ${field}: ${message}`, {
    details: { problems: [{ field: at, message }] },
  });
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}
