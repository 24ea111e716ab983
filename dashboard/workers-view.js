// Workers: state, capabilities, what each runs now, its totals and its p95 latency.
import { formatDuration, html } from '/dashboard/ui.js';
import { useLive } from '/dashboard/use-live.js';

export function WorkersView() {
  const { data: workers, error } = useLive('/dashboard/workers', (body) => body.workers);
  if (error) return html`<p class="error" role="alert">${error}</p>`;
  if (!workers) return html`<p>Loading…</p>`;
  return html`<section>
    <h2>Workers</h2>
    <table data-testid="workers-table">
      <thead>
        <tr>
          <th>Worker</th>
          <th>State</th>
          <th>Capabilities</th>
          <th>Running</th>
          <th>Current tasks</th>
          <th>Done</th>
          <th>Failed</th>
          <th>p95</th>
        </tr>
      </thead>
      <tbody>
        ${workers.map(
          (w) =>
            html`<tr data-testid="worker-row" data-worker-id=${w.id}>
              <td>${w.id}</td>
              <td><span class=${`badge worker-${w.state}`}>${w.state}</span></td>
              <td>${w.capabilities.length ? w.capabilities.join(', ') : '–'}</td>
              <td>${w.running} / ${w.concurrency}</td>
              <td>
                ${
                  w.current.length === 0
                    ? '–'
                    : w.current.map(
                        (t) => html`<a href=${`#/tasks/${t.id}`}>${t.key ?? t.id.slice(0, 8)}</a> `,
                      )
                }
              </td>
              <td>${w.done}</td>
              <td>${w.failed}</td>
              <td>${formatDuration(w.p95Ms)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    ${workers.length === 0 && html`<p>No worker has registered.</p>`}
  </section>`;
}
