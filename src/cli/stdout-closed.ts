/**
 * Output to a closed pipe (`baton status | head -3`, `baton run wf.yaml --json | head -2`).
 * Node ignores SIGPIPE, so every write after the reader went away fails with EPIPE, raised
 * as an `error` event on stdout: without a listener that is an uncaught exception with a stack
 * trace, and a `baton run` dies with its run left `running`. Here the first EPIPE ends the
 * command quietly: a command that registered `onStdoutClosed` (a run session) stops as it
 * would on Ctrl-C, leaving its run resumable; any other command exits at once with 130.
 * Later writes to stdout are dropped.
 */
/** The exit code of an interrupted command (cli-context.ts `EXIT.interrupted`). */
const INTERRUPTED = 130;
const FAILED = 1;

let closed = false;
const listeners = new Set<() => void>();

/** Installs the handler once, before the command runs. */
export function watchStdout(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') {
      process.stderr.write(`baton: cannot write to stdout: ${error.message}\n`);
      process.exit(FAILED);
    }
    if (closed) return;
    closed = true;
    if (listeners.size === 0) process.exit(INTERRUPTED);
    for (const listener of listeners) listener();
  });
}

/** Whether stdout's reader went away: writes are dropped from then on. */
export function stdoutClosed(): boolean {
  return closed;
}

/** Calls `listener` (instead of exiting) when stdout's reader goes away; returns the removal. */
export function onStdoutClosed(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Writes to stdout unless its reader went away. */
export function writeStdout(text: string): void {
  if (!closed) process.stdout.write(text);
}
