import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, logLifecycle } from '../../src/observability/logger.js';
import { useEngine } from '../helpers/engine.js';

function capture(): { stream: Writable; lines: () => string[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l !== ''),
  };
}

describe('logger', () => {
  const engine = useEngine();

  it('writes one JSON object per lifecycle event and never the payload or result', async () => {
    const { orchestrator } = engine();
    const out = capture();
    const logger = createLogger({ destination: out.stream, pretty: false });
    const off = logLifecycle(orchestrator, logger);
    orchestrator.handle('secret', () => ({ answer: 'RESULT-SECRET' }));
    await orchestrator.startWorker({ id: 'w-log' });
    const task = await orchestrator.execute({ type: 'secret', payload: { key: 'PAYLOAD-SECRET' } });
    expect(task.state).toBe('completed');
    off();
    await orchestrator.close();
    const records = out.lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.find((r) => r.msg === 'task completed')).toMatchObject({
      level: 30,
      taskId: task.id,
      type: 'secret',
      state: 'completed',
      attempt: 1,
    });
    expect(records.some((r) => r.msg === 'worker started' && r.workerId === 'w-log')).toBe(true);
    const text = out.lines().join('\n');
    expect(text).not.toContain('PAYLOAD-SECRET');
    expect(text).not.toContain('RESULT-SECRET');
  });

  it('redacts user data passed by hand unless told to log it', () => {
    const hidden = capture();
    createLogger({ destination: hidden.stream, pretty: false }).info(
      { task: { payload: { pw: 'hunter2' } }, result: 'r' },
      'x',
    );
    expect(hidden.lines()[0]).not.toContain('hunter2');
    expect(hidden.lines()[0]).toContain('[not logged]');
    const shown = capture();
    createLogger({ destination: shown.stream, pretty: false, logPayloads: true }).info(
      { task: { payload: { pw: 'hunter2' } } },
      'x',
    );
    expect(shown.lines()[0]).toContain('hunter2');
  });

  it('prints pretty lines when asked (a terminal)', () => {
    const out = capture();
    createLogger({ destination: out.stream, pretty: true }).info(
      { taskId: 't1' },
      'task completed',
    );
    const line = out.lines().join('\n');
    expect(line).toContain('task completed');
    expect(() => JSON.parse(out.lines()[0]!) as unknown).toThrow();
  });
});
