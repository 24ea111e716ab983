/**
 * `GET /metrics`: Prometheus text for any token but `worker` (docs/reference.md). Counters are read
 * from the durable event log at scrape time (see observability/metrics.ts).
 */
import type { Context, Hono } from 'hono';
import type { BatonMetrics } from '../observability/metrics.js';
import type { TokenRecord } from '../store/types.js';
import { requireRight } from './auth.js';

export function mountMetrics(
  app: Hono,
  metrics: BatonMetrics,
  tokenOf: (c: Context) => Promise<TokenRecord>,
): void {
  app.get('/metrics', async (c) => {
    // `read` is held by admin, client and read tokens: everyone but workers.
    requireRight(await tokenOf(c), 'read');
    return c.body(await metrics.scrape(), 200, { 'Content-Type': metrics.contentType });
  });
}
