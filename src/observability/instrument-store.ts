/**
 * Times every call a process makes to its store (`baton_store_operation_seconds`). A proxy
 * rather than a subclass: it works for any backend, and calls reach the real object (so its
 * private fields keep working).
 */
import type { Histogram } from 'prom-client';
import type { Store } from '../store/store.js';

export function instrumentStore<S extends Store>(store: S, latency: Histogram<'operation'>): S {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      const fn = value as (...args: unknown[]) => unknown;
      return (...args: unknown[]): unknown => {
        const stop = latency.startTimer({ operation: property });
        const out = fn.apply(target, args);
        if (out instanceof Promise) return out.finally(() => stop());
        stop();
        return out;
      };
    },
  });
}
