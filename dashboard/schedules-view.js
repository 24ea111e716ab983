// Schedules: each with its cron expression and zone, paused or not, the next tick, and the
// run of its newest tick with that run's state. Refreshed from the event feed, which carries
// every tick fired or skipped and every change of a run's state.
import { formatTime, html, StateBadge } from '/dashboard/ui.js';
import { useLive } from '/dashboard/use-live.js';

/** An instant of the API as a <time> element: ISO in its attribute, local time as its text. */
function Instant({ at, testid }) {
  if (at === null) return html`<span data-testid=${testid}>–</span>`;
  return html`<time data-testid=${testid} datetime=${at}>${formatTime(Date.parse(at))}</time>`;
}

function LastRun({ run, tickAt }) {
  if (run === null) return html`<td data-testid="schedule-last-run">none yet</td>`;
  const title = tickAt === null ? undefined : `tick of ${formatTime(Date.parse(tickAt))}`;
  return html`<td data-testid="schedule-last-run" data-run-id=${run.id} title=${title}>
    <a href=${`#/runs/${encodeURIComponent(run.id)}`}><code>${run.id}</code></a>
    ${' '}<${StateBadge} state=${run.state} />
  </td>`;
}

export function SchedulesView() {
  const { data: schedules, error } = useLive('/schedules', (body) => body.schedules);
  if (error) return html`<p class="error" role="alert">${error}</p>`;
  if (!schedules) return html`<p>Loading…</p>`;
  return html`<section>
    <h2>Schedules</h2>
    <table data-testid="schedules-table">
      <thead>
        <tr>
          <th>Name</th>
          <th>Cron</th>
          <th>Zone</th>
          <th>Status</th>
          <th>Next tick</th>
          <th>Last run</th>
        </tr>
      </thead>
      <tbody>
        ${schedules.map(
          (s) =>
            html`<tr data-testid="schedule-row" data-name=${s.name} data-paused=${String(s.paused)}>
              <td>${s.name}</td>
              <td><code>${s.cron}</code></td>
              <td>${s.tz}</td>
              <td>
                <span
                  class=${`badge schedule-${s.paused ? 'paused' : 'active'}`}
                  data-testid="schedule-status"
                  >${s.paused ? 'paused' : 'active'}</span
                >
              </td>
              <td><${Instant} at=${s.nextAt} testid="schedule-next" /></td>
              <${LastRun} run=${s.lastRun} tickAt=${s.lastTickAt} />
            </tr>`,
        )}
      </tbody>
    </table>
    ${schedules.length === 0 && html`<p>No schedules. Add one with <code>baton schedule add</code>.</p>`}
  </section>`;
}
