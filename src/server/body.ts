/**
 * Reading a JSON body within limits: a declared size over the limit is refused (413) before a
 * byte is read, a streamed body is counted as it arrives and dropped at the limit, and nesting
 * deeper than allowed is refused before `JSON.parse` sees it.
 */
import { refuse } from './errors.js';

export interface BodyLimits {
  maxBytes: number;
  maxDepth: number;
}

/** The parsed body, or `undefined` when the request has none. */
export async function readJsonBody(request: Request, limits: BodyLimits): Promise<unknown> {
  const declared = request.headers.get('content-length');
  if (declared !== null) {
    const n = Number(declared);
    if (!/^\d{1,15}$/.test(declared.trim()) || !Number.isSafeInteger(n)) {
      throw refuse('VALIDATION_FAILED', 'malformed Content-Length header', {
        field: 'header.content-length',
      });
    }
    if (n > limits.maxBytes) throw tooLarge(limits.maxBytes);
  }
  const bytes = await readLimited(request, limits.maxBytes);
  if (bytes.length === 0) return undefined;
  const type = request.headers.get('content-type') ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw refuse(
      'UNSUPPORTED_MEDIA_TYPE',
      'expected a JSON body (Content-Type: application/json)',
      {
        field: 'header.content-type',
      },
    );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw refuse('INVALID_JSON', 'the body is not valid UTF-8', { field: 'body' });
  }
  const depth = jsonDepth(text);
  if (depth > limits.maxDepth) {
    throw refuse('INVALID_JSON', `the body nests deeper than ${limits.maxDepth} levels`, {
      field: 'body',
      maxDepth: limits.maxDepth,
    });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw refuse('INVALID_JSON', `the body is not valid JSON: ${(error as Error).message}`, {
      field: 'body',
    });
  }
}

function tooLarge(maxBytes: number): Error {
  return refuse('PAYLOAD_TOO_LARGE', `the body exceeds the limit of ${maxBytes} bytes`, {
    field: 'body',
    maxBytes,
  });
}

async function readLimited(request: Request, maxBytes: number): Promise<Uint8Array> {
  if (!request.body) return new Uint8Array(0);
  const reader: ReadableStreamDefaultReader<Uint8Array> = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/** Deepest nesting of arrays and objects in JSON text (strings skipped); cheap and iterative. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 92)
        i++; // backslash: skip the escaped character
      else if (ch === 34) inString = false;
    } else if (ch === 34) inString = true;
    else if (ch === 91 || ch === 123) {
      depth++;
      if (depth > max) max = depth;
    } else if (ch === 93 || ch === 125) depth--;
  }
  return max;
}
