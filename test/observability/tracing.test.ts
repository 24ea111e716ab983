import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncHooksContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Router } from '../../src/engine/router.js';
import { Tracer, contextFrom, traceParentOf } from '../../src/observability/tracing.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { createWorker } from '../../src/worker/standalone.js';
import { useEngine } from '../helpers/engine.js';
import { HttpWorkerStore } from '../../src/client/http-worker-store.js';
import { useServer } from '../server/harness.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncHooksContextManager();

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
  trace.setGlobalTracerProvider(provider);
});
afterAll(async () => {
  await provider.shutdown();
  contextManager.disable();
  trace.disable();
  context.disable();
});
beforeEach(() => exporter.reset());

const attr = (s: ReadableSpan, key: string): unknown => s.attributes[key];
const parentId = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId;

describe('tracing', () => {
  const engine = useEngine();

  it('follows a task from submit through claim, execute, checkpoint and complete', async () => {
    const { orchestrator } = engine();
    orchestrator.handle('pages', async (_payload, ctx) => {
      // The handler's own spans nest under baton.execute.
      trace.getTracer('app').startSpan('app.inside').end();
      await ctx.checkpoint({ page: 1 }, 50);
      return 'ok';
    });
    await orchestrator.startWorker({ id: 'w-trace' });
    const outer = trace.getTracer('app').startSpan('app.request');
    const task = await context.with(trace.setSpan(context.active(), outer), () =>
      orchestrator.submit({ type: 'pages' }),
    );
    outer.end();
    expect(task.traceParent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    await orchestrator.waitForTask(task.id);
    await orchestrator.close();

    const spans = exporter.getFinishedSpans();
    const byName = (name: string): ReadableSpan => {
      const found = spans.find((s) => s.name === name);
      if (!found) throw new Error(`no span ${name} among ${spans.map((s) => s.name).join(', ')}`);
      return found;
    };
    const traceId = outer.spanContext().traceId;
    const submit = byName('baton.submit');
    const claim = byName('baton.claim');
    const execute = byName('baton.execute');
    const checkpoint = byName('baton.checkpoint');
    const complete = byName('baton.complete');
    const inside = byName('app.inside');
    for (const s of [submit, claim, execute, checkpoint, complete, inside]) {
      expect(s.spanContext().traceId).toBe(traceId);
    }
    expect(parentId(submit)).toBe(outer.spanContext().spanId);
    expect(parentId(claim)).toBe(submit.spanContext().spanId);
    expect(parentId(execute)).toBe(submit.spanContext().spanId);
    expect(parentId(checkpoint)).toBe(execute.spanContext().spanId);
    expect(parentId(complete)).toBe(execute.spanContext().spanId);
    expect(parentId(inside)).toBe(execute.spanContext().spanId);
    for (const s of [claim, execute, checkpoint, complete]) {
      expect(attr(s, 'baton.task.id')).toBe(task.id);
      expect(attr(s, 'baton.task.attempt')).toBe(1);
    }
    expect(attr(execute, 'baton.worker.id')).toBe('w-trace');
  });

  it('continues the trace in a worker on another store connection, from the store alone', async () => {
    const { orchestrator, store } = engine();
    const task = await orchestrator.submit({ type: 'remote' });
    // A second connection to the file: the worker knows only what the store gives it.
    const other = new SqliteStore({ path: store.path });
    const { worker } = createWorker({
      store: other,
      id: 'elsewhere',
      handlers: { remote: () => 'done' },
      pollIntervalMs: 20,
    });
    try {
      await worker.start();
      await orchestrator.waitForTask(task.id);
    } finally {
      await worker.stop();
      await other.close();
    }
    const spans = exporter.getFinishedSpans();
    const submit = spans.find((s) => s.name === 'baton.submit')!;
    const execute = spans.find((s) => s.name === 'baton.execute')!;
    expect(execute.spanContext().traceId).toBe(submit.spanContext().traceId);
    expect(parentId(execute)).toBe(submit.spanContext().spanId);
    expect(attr(execute, 'baton.worker.id')).toBe('elsewhere');
  });

  const server = useServer();

  it('continues the trace in a remote worker speaking HTTP to baton serve', async () => {
    const h = await server();
    const task = await h.orchestrator.submit({ type: 'remote' });
    expect(task.traceParent).toBeDefined();
    const { worker } = createWorker({
      store: new HttpWorkerStore({ url: h.url, token: h.tokens.worker, claimWaitMs: 200 }),
      id: 'over-http',
      handlers: { remote: () => 'done' },
      pollIntervalMs: 20,
    });
    try {
      await worker.start();
      await h.orchestrator.waitForTask(task.id);
    } finally {
      await worker.stop();
    }
    const spans = exporter.getFinishedSpans();
    const submit = spans.find((s) => s.name === 'baton.submit')!;
    const execute = spans.find(
      (s) => s.name === 'baton.execute' && attr(s, 'baton.worker.id') === 'over-http',
    )!;
    expect(execute.spanContext().traceId).toBe(submit.spanContext().traceId);
    expect(parentId(execute)).toBe(submit.spanContext().spanId);
  });

  it('records a route span with the chosen worker, and a failed attempt as an error', async () => {
    const { orchestrator, store } = engine();
    orchestrator.handle('boom', () => {
      throw new Error('nope');
    });
    const task = await orchestrator.submit({ type: 'boom', maxAttempts: 1 });
    // The worker's record exists before it starts claiming: the router pins the task to it.
    await store.registerWorker({
      id: 'w-route',
      capabilities: [],
      types: null,
      concurrency: 1,
      meta: {},
    });
    const pass = await new Router({ store, tracer: new Tracer() }).route();
    expect(pass.routed.get(task.id)).toBe('w-route');
    await orchestrator.startWorker({ id: 'w-route', concurrency: 1 });
    const failed = await orchestrator.waitForTask(task.id);
    expect(failed).toMatchObject({ state: 'failed', workerId: 'w-route' });
    const spans = exporter.getFinishedSpans();
    const route = spans.find((s) => s.name === 'baton.route')!;
    const submit = spans.find((s) => s.name === 'baton.submit')!;
    expect(attr(route, 'baton.worker.id')).toBe('w-route');
    expect(attr(route, 'baton.task.id')).toBe(task.id);
    expect(parentId(route)).toBe(submit.spanContext().spanId);
    const fail = spans.find((s) => s.name === 'baton.fail')!;
    expect(attr(fail, 'baton.task.id')).toBe(task.id);
    const execute = spans.find((s) => s.name === 'baton.execute')!;
    expect(execute.status.code).toBe(SpanStatusCode.ERROR);
    expect(parentId(fail)).toBe(execute.spanContext().spanId);
  });

  it('reads and writes W3C traceparent headers', () => {
    const span = trace.getTracer('app').startSpan('x');
    const header = traceParentOf(span)!;
    span.end();
    const restored = trace.getSpanContext(contextFrom(header))!;
    expect(restored).toMatchObject({
      traceId: span.spanContext().traceId,
      spanId: span.spanContext().spanId,
      isRemote: true,
    });
    expect(trace.getSpanContext(contextFrom('garbage'))).toBeUndefined();
    expect(trace.getSpanContext(contextFrom(undefined))).toBeUndefined();
  });
});
