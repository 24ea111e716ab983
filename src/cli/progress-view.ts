/**
 * Live progress of a run. Three faces: on a TTY, a bar per running task and one overall,
 * redrawn in place; otherwise plain lines, one per happening; with `--json`, one JSON object
 * per line (`type` says which: notice, warning, output, task, progress, checkpoint, run).
 */
import { formatDuration } from '../core/duration.js';
import type { RunJson, TaskJson } from '../workflow/json-shapes.js';
import { writeStdout } from './stdout-closed.js';

export type ViewMode = 'tty' | 'plain' | 'json';

interface Bar {
  key: string;
  progress: number;
  attempt: number;
}

const BAR_WIDTH = 24;

export class ProgressView {
  readonly mode: ViewMode;
  readonly #write: (text: string) => void;
  readonly #bars = new Map<string, Bar>();
  #total = 0;
  #done = 0;
  #drawn = 0;
  #timer: NodeJS.Timeout | undefined;

  /** `write` takes the text to print: stdout, dropped once its reader went away. */
  constructor(mode: ViewMode, write: (text: string) => void = writeStdout) {
    this.mode = mode;
    this.#write = write;
  }

  /** Sets the overall counts shown by the TTY face. */
  setTotals(done: number, total: number): void {
    this.#done = done;
    this.#total = total;
    this.#schedule();
  }

  notice(message: string): void {
    if (this.mode === 'json') this.#json({ type: 'notice', message });
    else this.#line(message);
  }

  warning(key: string, message: string): void {
    if (this.mode === 'json') this.#json({ type: 'warning', key, message });
    else this.#line(`! ${key}: ${message}`);
  }

  output(key: string, stream: 'stdout' | 'stderr', line: string): void {
    if (this.mode === 'json') this.#json({ type: 'output', key, stream, line });
    else if (this.mode === 'plain') this.#line(`[${key}] ${line}`);
  }

  /** A task changed state: started, retry, completed, failed, cancelled. */
  task(event: string, task: TaskJson, detail = ''): void {
    const key = task.key ?? task.id;
    if (event === 'started')
      this.#bars.set(task.id, { key, progress: task.progress, attempt: task.attempt });
    else this.#bars.delete(task.id);
    if (this.mode === 'json') {
      this.#json({ type: 'task', event, task, ...(detail === '' ? {} : { detail }) });
      return;
    }
    const mark =
      { started: '▶', completed: '✓', failed: '✗', retry: '↻', cancelled: '■' }[event] ?? '·';
    const attempt = task.attempt > 1 ? ` (attempt ${task.attempt})` : '';
    this.#line(`${mark} ${key} ${event}${attempt}${detail === '' ? '' : `: ${detail}`}`);
  }

  progress(taskId: string, key: string, progress: number): void {
    const bar = this.#bars.get(taskId);
    if (bar) bar.progress = progress;
    if (this.mode === 'json') this.#json({ type: 'progress', taskId, key, progress });
    else if (this.mode === 'plain') this.#line(`  ${key} ${Math.round(progress)}%`);
    else this.#schedule();
  }

  checkpoint(taskId: string, key: string, seq: number, progress: number): void {
    if (this.mode === 'json') this.#json({ type: 'checkpoint', taskId, key, seq, progress });
    else if (this.mode === 'plain')
      this.#line(`  ${key} checkpoint ${seq} at ${Math.round(progress)}%`);
  }

  /** The final picture: the run and each task. */
  finish(run: RunJson): void {
    this.#clear();
    clearTimeout(this.#timer);
    if (this.mode === 'json') {
      this.#json({ type: 'run', run });
      return;
    }
    const took =
      run.finishedAt === null
        ? ''
        : ` in ${formatDuration(Date.parse(run.finishedAt) - Date.parse(run.createdAt))}`;
    this.#write(`Run ${run.name} (${run.id}) ${run.state}${took}\n`);
    for (const t of run.tasks) {
      const error = t.error === null ? '' : `  ${t.error.message.split('\n')[0] ?? ''}`;
      this.#write(
        `  ${t.state.padEnd(9)} ${(t.key ?? t.id).padEnd(24)} attempt ${t.attempt}${error}\n`,
      );
    }
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#clear();
  }

  #json(value: Record<string, unknown>): void {
    this.#write(`${JSON.stringify(value)}\n`);
  }

  /** A line above the bars: clear them, print, draw them again. */
  #line(text: string): void {
    this.#clear();
    this.#write(`${text}\n`);
    this.#draw();
  }

  #schedule(): void {
    if (this.mode !== 'tty' || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#clear();
      this.#draw();
    }, 100);
  }

  #clear(): void {
    if (this.mode !== 'tty' || this.#drawn === 0) return;
    this.#write(`\x1b[${this.#drawn}A\x1b[J`);
    this.#drawn = 0;
  }

  #draw(): void {
    if (this.mode !== 'tty') return;
    const lines = [...this.#bars.values()].map(
      (b) =>
        `  ${b.key.slice(0, 24).padEnd(24)} ${bar(b.progress)} ${String(Math.round(b.progress)).padStart(3)}%${b.attempt > 1 ? ` (attempt ${b.attempt})` : ''}`,
    );
    if (this.#total > 0) {
      const pct = (this.#done / this.#total) * 100;
      lines.push(`  ${'overall'.padEnd(24)} ${bar(pct)} ${this.#done}/${this.#total} tasks`);
    }
    if (lines.length > 0) this.#write(`${lines.join('\n')}\n`);
    this.#drawn = lines.length;
  }
}

function bar(percent: number): string {
  const filled = Math.round((Math.min(100, Math.max(0, percent)) / 100) * BAR_WIDTH);
  return `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]`;
}
