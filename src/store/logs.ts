/**
 * Bounds of the task log both backends keep: a task that prints without end cannot fill the
 * database, and one huge line cannot either.
 */
import type { LogFilter } from './store.js';

/** Newest lines kept per task; older ones are pruned when new ones are appended. */
export const LOGS_KEPT = 1000;
/** Longest line kept (UTF-8 bytes); the rest of a longer line is cut off. */
export const MAX_LOG_LINE_BYTES = 4096;

/**
 * The line cut to `MAX_LOG_LINE_BYTES` without splitting a character, without NUL characters
 * (PostgreSQL text cannot hold them).
 */
export function clampLogLine(text: string): string {
  const line = text.includes('\u0000') ? text.replaceAll('\u0000', '') : text;
  if (line.length * 3 <= MAX_LOG_LINE_BYTES) return line;
  const bytes = Buffer.from(line, 'utf8');
  if (bytes.length <= MAX_LOG_LINE_BYTES) return line;
  let end = MAX_LOG_LINE_BYTES;
  // Back off to the start of a UTF-8 character (continuation bytes are 10xxxxxx).
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}

/** `listLogs`' filter with its defaults filled and bounds applied. */
export function resolveLogFilter(filter: LogFilter = {}): { afterSeq: number; limit: number } {
  return {
    afterSeq: Math.max(0, Math.floor(filter.afterSeq ?? 0)),
    limit: Math.max(1, Math.min(10_000, Math.floor(filter.limit ?? LOGS_KEPT))),
  };
}
