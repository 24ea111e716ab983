/**
 * OpenTelemetry spans through `@opentelemetry/api` only: without an SDK registered by the
 * application every call here is a no-op (the API's default tracer records nothing), so baton
 * never requires one. Spans: `baton.submit`, `baton.route`, `baton.claim`, `baton.execute`,
 * `baton.checkpoint`, `baton.complete` (or `baton.fail`), each with the task id and attempt.
 *
 * The trace crosses processes with the task itself: at submit the W3C `traceparent` of the
 * submit span is stored on the task (`traceParent`), and whichever worker claims it, local or
 * remote over HTTP, continues that trace. The header is written and read here rather than
 * through the API's propagator, which is itself a no-op until an SDK installs one.
 */
import {
  context,
  isSpanContextValid,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer as OtelTracer,
} from '@opentelemetry/api';
import type { TaskRecord } from '../store/types.js';

export const TRACER_NAME = 'baton';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The `traceparent` of a span, or undefined when it is not a real (sampled or not) span. */
export function traceParentOf(span: Span): string | undefined {
  const sc = span.spanContext();
  if (!isSpanContextValid(sc)) return undefined;
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** A context whose parent is the remote span named by `traceParent` (root when absent or bad). */
export function contextFrom(traceParent: string | undefined): Context {
  const match = traceParent === undefined ? null : TRACEPARENT.exec(traceParent);
  if (!match) return ROOT_CONTEXT;
  const spanContext = {
    traceId: match[1]!,
    spanId: match[2]!,
    traceFlags: parseInt(match[3]!, 16),
    isRemote: true,
  };
  if (!isSpanContextValid(spanContext)) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, spanContext);
}

function taskAttributes(task: TaskRecord, extra: Attributes = {}): Attributes {
  return {
    'baton.task.id': task.id,
    'baton.task.type': task.type,
    'baton.task.attempt': task.attempt,
    ...(task.runId !== null && { 'baton.run.id': task.runId }),
    ...extra,
  };
}

/** Spans of one attempt, children of its `baton.execute` span. */
export interface AttemptTrace {
  /** Runs `fn` in a child span (`baton.checkpoint`, `baton.complete`, `baton.fail`). */
  child<T>(name: 'checkpoint' | 'complete' | 'fail', fn: () => Promise<T>): Promise<T>;
  /** Runs `fn` with the execute span active, so the handler's own spans nest under it. */
  inScope<T>(fn: () => T): T;
}

export class Tracer {
  readonly #tracer: OtelTracer;
  readonly #global: boolean;

  /** Default: the global provider's `baton` tracer (a no-op until an SDK is registered). */
  constructor(tracer?: OtelTracer) {
    this.#tracer = tracer ?? trace.getTracer(TRACER_NAME);
    this.#global = tracer === undefined;
  }

  /** Runs `fn` in a `baton.submit` span and hands it the traceparent to store on the tasks. */
  submit<T>(
    attributes: Attributes,
    fn: (traceParent: string | undefined) => Promise<T>,
  ): Promise<T> {
    if (!this.#live()) return fn(undefined);
    return this.#active('baton.submit', context.active(), attributes, SpanKind.PRODUCER, (span) =>
      fn(traceParentOf(span)),
    );
  }

  /** A `baton.route` span in the task's trace around one routing decision. */
  routeSpan<T>(task: TaskRecord, fn: () => Promise<T>): Promise<T> {
    return this.#active(
      'baton.route',
      contextFrom(task.traceParent),
      taskAttributes(task),
      SpanKind.INTERNAL,
      async (span) => {
        const workerId = await fn();
        if (typeof workerId === 'string') span.setAttribute('baton.worker.id', workerId);
        return workerId;
      },
    );
  }

  /**
   * Whether spans could be recorded: always with a tracer given explicitly; with the global
   * one, only once an SDK registered a provider (asked each time, so a late SDK is seen).
   * When false, the hot paths (claim, attempt) skip building spans and their attributes.
   */
  #live(): boolean {
    if (!this.#global) return true;
    const provider = trace.getTracerProvider();
    return !(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== NO_PROVIDER;
  }

  /** One `baton.claim` span per claimed task, in its own trace, from `startedAt` to now. */
  claimed(tasks: readonly TaskRecord[], workerId: string, startedAt: number): void {
    if (tasks.length === 0 || !this.#live()) return;
    for (const task of tasks) {
      this.#tracer
        .startSpan(
          'baton.claim',
          {
            kind: SpanKind.CONSUMER,
            startTime: startedAt,
            attributes: taskAttributes(task, { 'baton.worker.id': workerId }),
          },
          contextFrom(task.traceParent),
        )
        .end();
    }
  }

  /**
   * Runs one attempt inside a `baton.execute` span continuing the task's trace; `fn` gets the
   * attempt's spans, or undefined when nothing would record them.
   */
  attempt<T>(
    task: TaskRecord,
    workerId: string,
    fn: (t: AttemptTrace | undefined) => Promise<T>,
  ): Promise<T> {
    if (!this.#live()) return fn(undefined);
    return this.#active(
      'baton.execute',
      contextFrom(task.traceParent),
      taskAttributes(task, { 'baton.worker.id': workerId, 'baton.task.epoch': task.epoch }),
      SpanKind.CONSUMER,
      (span) => {
        const scope = trace.setSpan(contextFrom(task.traceParent), span);
        const attrs = taskAttributes(task);
        return fn({
          child: (name, body) => {
            // The handler's error is caught to be recorded; the attempt's span says it failed.
            if (name === 'fail')
              span.setStatus({ code: SpanStatusCode.ERROR, message: 'attempt failed' });
            return this.#active(`baton.${name}`, scope, attrs, SpanKind.INTERNAL, () => body());
          },
          inScope: (body) => context.with(scope, body),
        });
      },
    );
  }

  #active<T>(
    name: string,
    parent: Context,
    attributes: Attributes,
    kind: SpanKind,
    fn: (span: Span) => Promise<T>,
  ): Promise<T> {
    const span = this.#tracer.startSpan(name, { kind, attributes }, parent);
    return context.with(trace.setSpan(parent, span), async () => {
      try {
        return await fn(span);
      } catch (error) {
        span.recordException(error instanceof Error ? error : String(error));
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: error instanceof Error ? error.message : String(error),
        });
        throw error;
      } finally {
        span.end();
      }
    });
  }
}

/** What the global provider delegates to while no SDK is registered. */
const NO_PROVIDER = new ProxyTracerProvider().getDelegate();

/** The tracer baton's engine and workers use unless given another. */
export function defaultTracer(): Tracer {
  return new Tracer();
}
