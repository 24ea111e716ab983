/**
 * Node flags a worker thread inherits from its process, minus those a thread refuses
 * (`node --input-type=module -e …` would otherwise fail every thread baton starts).
 */
export function threadExecArgv(): string[] {
  return process.execArgv.filter((flag) => !flag.startsWith('--input-type'));
}
