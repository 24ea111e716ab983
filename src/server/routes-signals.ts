/** Signals: open the gates and `ctx.waitForSignal` waits of a run (submit right). */
import { signalBody, signalParams, signalResultSchema } from '../protocol/signal-schemas.js';
import { route } from './route.js';

export function signalRoutes() {
  return [
    route({
      method: 'POST',
      path: '/runs/:id/signals/:name',
      right: 'submit',
      tag: 'runs',
      summary:
        'Send a signal to a run: every wait for NAME there opens with `data`, now or when it begins',
      params: signalParams,
      body: signalBody,
      response: signalResultSchema,
      async handle({ params, body, deps }) {
        const result = await deps.orchestrator.signal(params.id, params.name, body?.data ?? null);
        // A resumed handler is claimable now.
        if (result.opened.length > 0) deps.claims.notify();
        return result;
      },
    }),
  ];
}
