/**
 * CPU spent per task, to read the benchmarks by cost rather than by wall time alone: this
 * process's (user + system) and the local PostgreSQL server's, summed over every `postgres`
 * process (the postmaster's exited children included, so backends and autovacuum workers that
 * came and went are counted). Linux only (/proc); elsewhere the server's figure is absent.
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

/** Seconds of CPU used so far by processes named `postgres`, or null without /proc. */
export function postgresCpuSeconds(): number | null {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return null;
  }
  let ticks = 0;
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const close = stat.lastIndexOf(')');
    if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') continue;
    // After the command: state, ppid, …, utime (12th), stime, cutime, cstime.
    const fields = stat.slice(close + 2).split(' ');
    ticks += [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i] ?? 0), 0);
  }
  return ticks / TICKS_PER_SECOND;
}

export interface CpuPerTask {
  /** µs of this process's CPU per task. */
  clientCpuUsPerTask: number;
  /** µs of the local server's CPU per task (absent when it cannot be read). */
  serverCpuUsPerTask?: number;
}

/** Starts a measurement; the function returned reads it, divided over `tasks`. */
export function startCpuWindow(measureServer: boolean): (tasks: number) => CpuPerTask {
  const client = process.cpuUsage();
  const server = measureServer ? postgresCpuSeconds() : null;
  return (tasks) => {
    const used = process.cpuUsage(client);
    const serverNow = server === null ? null : postgresCpuSeconds();
    const perTask = (us: number): number => Math.round(us / Math.max(1, tasks));
    return {
      clientCpuUsPerTask: perTask(used.user + used.system),
      ...(server !== null &&
        serverNow !== null && { serverCpuUsPerTask: perTask((serverNow - server) * 1e6) }),
    };
  };
}
