/* global URLSearchParams */
// The runs page: state, progress, duration, with filters; refreshed live from the event feed.
import { useEffect, useMemo, useState } from '/dashboard/vendor/hooks.js';
import { api, debounce, follow } from '/dashboard/api.js';
import { formatDuration, formatTime, html, Progress, StateBadge } from '/dashboard/ui.js';

const STATES = ['', 'pending', 'running', 'completed', 'failed', 'cancelled'];

export function RunsView() {
  const [runs, setRuns] = useState(null);
  const [error, setError] = useState(null);
  const [name, setName] = useState('');
  const [state, setState] = useState('');
  const [now, setNow] = useState(Date.now());

  const load = useMemo(
    () => async (nameFilter) => {
      try {
        const query = new URLSearchParams({ limit: '200' });
        if (nameFilter) query.set('name', nameFilter);
        const page = await api(`/runs?${query}`);
        setRuns(page.runs);
        setNow(Date.now());
        setError(null);
      } catch (e) {
        setError(e.message);
      }
    },
    [],
  );

  useEffect(() => {
    void load(name);
    const refresh = debounce(() => void load(name), 150);
    return follow('', (m) => m.event === 'change' && refresh());
  }, [name]);

  // Durations of unfinished runs keep counting between events.
  const unfinished = (runs ?? []).some((r) => r.finishedAt === null);
  useEffect(() => {
    if (!unfinished) return undefined;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [unfinished]);

  const shown = (runs ?? []).filter((r) => state === '' || r.state === state);
  return html`<section>
    <h2>Runs</h2>
    <form class="filters" onSubmit=${(e) => e.preventDefault()}>
      <label
        >Name <input name="name" value=${name} onInput=${(e) => setName(e.target.value)}
      /></label>
      <label
        >State
        <select name="state" value=${state} onChange=${(e) => setState(e.target.value)}>
          ${STATES.map((s) => html`<option value=${s}>${s === '' ? 'any' : s}</option>`)}
        </select>
      </label>
    </form>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${
      runs === null
        ? html`<p>Loading…</p>`
        : html`<table class="runs" data-testid="runs-table">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>State</th>
                  <th>Progress</th>
                  <th>Duration</th>
                  <th>Created</th>
                </tr>
              </thead>
              <tbody>
                ${shown.map(
                  (r) =>
                    html`<tr data-testid="run-row" data-run-id=${r.id} data-state=${r.state}>
                      <td><a href=${`#/runs/${r.id}`}>${r.name}</a></td>
                      <td><${StateBadge} state=${r.state} /></td>
                      <td><${Progress} value=${r.progress} /></td>
                      <td>
                        ${formatDuration(
                          (r.finishedAt ? Date.parse(r.finishedAt) : now) - Date.parse(r.createdAt),
                        )}
                      </td>
                      <td>${formatTime(Date.parse(r.createdAt))}</td>
                    </tr>`,
                )}
              </tbody>
            </table>
            ${shown.length === 0 && html`<p>No runs.</p>`}`
    }
  </section>`;
}
