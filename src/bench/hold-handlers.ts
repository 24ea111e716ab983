/** Handlers for the recovery benchmark's worker processes: `hold` runs until aborted. */
import type { TaskHandler } from '../worker/handler.js';

const hold: TaskHandler = (_payload, ctx) =>
  new Promise((_resolve, reject) => {
    ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error));
  });

export const handlers: Record<string, TaskHandler> = { hold };
