// The task types of a run with the Pause/Unpause control of each: whether it is paused, its
// tasks queued and running, and why the queued ones wait (a paused type, a concurrency key at
// its limit, a rate limit, no capable worker). Pausing stops the claiming of the type across
// the store; running tasks go on. Read again on every change of the event feed.
import { Action, html } from '/dashboard/ui.js';
import { useLive } from '/dashboard/use-live.js';

const REASONS = {
  paused: 'type paused',
  'concurrency-limit': 'concurrency key at its limit',
  'rate-limited': 'rate limited',
  'no-capable-worker': 'no capable worker',
};

function waitText(t) {
  if (t.queued === 0) return '';
  if (t.reasons.length === 0) return 'a free worker';
  return t.reasons.map((r) => REASONS[r] ?? r).join(', ');
}

export function TypeControls({ runId }) {
  const { data } = useLive(`/dashboard/runs/${encodeURIComponent(runId)}/types`, (b) => b.types);
  if (!data || data.length === 0) return null;
  return html`<table class="run-types" data-testid="run-types">
    <thead>
      <tr>
        <th>Task type</th>
        <th>Claims</th>
        <th>Queued</th>
        <th>Running</th>
        <th>Queued tasks wait for</th>
        <th></th>
      </tr>
    </thead>
    <tbody>
      ${data.map((t) => {
        const action = t.paused ? 'unpause' : 'pause';
        return html`<tr
          data-testid="type-row"
          data-type=${t.type}
          data-paused=${String(t.paused)}
          data-reasons=${t.reasons.join(',')}
        >
          <td>${t.type}</td>
          <td>${t.paused ? 'paused' : 'active'}</td>
          <td>${t.queued}</td>
          <td>${t.running}</td>
          <td data-testid="wait-reasons">${waitText(t)}</td>
          <td>
            <${Action}
              label=${t.paused ? 'Unpause' : 'Pause'}
              testid=${`${action}-type`}
              path=${`/types/${encodeURIComponent(t.type)}/${action}`}
            />
          </td>
        </tr>`;
      })}
    </tbody>
  </table>`;
}
