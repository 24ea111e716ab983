/**
 * Node flags for a worker thread baton starts. Left undefined, a thread inherits its process's
 * flags, and Node tolerates the process-wide ones there (`--expose-gc`, as `npm run bench`
 * uses). Only `--input-type` must not reach a thread (`node --input-type=module -e …` would
 * make every thread fail), and flags given explicitly may not hold process-wide ones: so a
 * process started with `--input-type` gives its threads no flags at all.
 */
export function threadExecArgv(): string[] | undefined {
  return process.execArgv.some((flag) => flag.startsWith('--input-type')) ? [] : undefined;
}
