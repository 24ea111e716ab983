// Timers, gates and suspended handlers in the dashboard: the line a DAG node shows under its
// state (a gate's signal and timeout, a timer's time left, counted down each second), and the
// Signal control of a waiting gate or handler (POST /runs/{id}/signals/{name}, with optional JSON data).
import { useEffect, useState } from '/dashboard/vendor/hooks.js';
import { api } from '/dashboard/api.js';
import { html, toMs } from '/dashboard/ui.js';

/** `1d4h`, `2h5m`, `4m10s`, `12s`: the two largest units, as `baton status` writes them. */
export function formatLeft(ms) {
  const units = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ];
  let rest = Math.max(0, Math.round(ms));
  const parts = [];
  for (const [unit, size] of units) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0 || parts.length > 0) parts.push(`${n}${unit}`);
    if (parts.length === 2) break;
  }
  return parts.length === 0 ? '0s' : parts.join('').replace(/(\D)0[a-z]$/, '$1');
}

/** What a node says of its wait at `now`, or null for a task that does not wait. */
export function waitLabel(wait, now) {
  if (!wait) return null;
  const left = wait.endsAt === null ? null : formatLeft(toMs(wait.endsAt) - now);
  if (wait.kind === 'timer') {
    return left === null ? `timer ${formatLeft(wait.durationMs ?? 0)}` : `timer: ${left} left`;
  }
  if (wait.kind === 'gate') {
    const timeout = left === null ? `timeout ${formatLeft(wait.durationMs ?? 0)}` : `${left} left`;
    return `signal ${wait.signal ?? '?'} · ${timeout}`;
  }
  const what = wait.signal ? `suspended: signal ${wait.signal}` : 'suspended';
  return left === null ? what : `${what} · ≤ ${left}`;
}

/** The current time, again every `ms` while `active` (a countdown re-renders only itself). */
function useNow(active, ms = 1000) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return undefined;
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [active, ms]);
  return now;
}

/** Longest annotation that fits a node; the whole of it is the text's tooltip. */
const MAX_NOTE = 30;

/** The annotation line of a DAG node (SVG text), counting down while the task waits. */
export function WaitNote({ wait, x, y }) {
  const now = useNow(Boolean(wait && wait.endsAt !== null));
  const label = waitLabel(wait, now);
  if (label === null) return null;
  return html`<text
    x=${x}
    y=${y}
    class="node-wait"
    data-testid="wait-note"
    font-size="10"
    fill="#7c3aed"
    data-label=${label}
    ><title>${label}</title
    >${label.length > MAX_NOTE ? `${label.slice(0, MAX_NOTE - 1)}…` : label}</text
  >`;
}

/** The Signal control of a waiting gate or handler: sends its signal to the run, with optional JSON data. */
export function SignalControl({ task, onDone }) {
  const [text, setText] = useState('');
  const [state, setState] = useState({ busy: false, error: null });
  const wait = task.wait;
  // A gate, or a handler suspended by ctx.waitForSignal: both open on the run's signal.
  if (!wait || wait.kind === 'timer' || task.state !== 'waiting' || !wait.signal) return null;
  const send = async (event) => {
    event.preventDefault();
    let data;
    try {
      data = text.trim() === '' ? undefined : JSON.parse(text);
    } catch {
      setState({ busy: false, error: 'data: not valid JSON' });
      return;
    }
    setState({ busy: true, error: null });
    try {
      const path = `/runs/${encodeURIComponent(task.runId)}/signals/${encodeURIComponent(wait.signal)}`;
      await api(path, { method: 'POST', body: data === undefined ? {} : { data } });
      setState({ busy: false, error: null });
      onDone?.();
    } catch (error) {
      const message = error.status === 403 ? `Refused: ${error.message}` : error.message;
      setState({ busy: false, error: message });
    }
  };
  return html`<form class="signal" data-testid="signal-form" onSubmit=${send}>
    <h4>Signal</h4>
    <label
      >Data (optional JSON)
      <textarea
        data-testid="signal-data"
        rows="3"
        value=${text}
        onInput=${(e) => setText(e.currentTarget.value)}
      ></textarea>
    </label>
    <button type="submit" data-testid="signal-button" disabled=${state.busy}>
      Signal ${wait.signal}
    </button>
    ${state.error && html`<span class="error" role="alert">${state.error}</span>`}
  </form>`;
}
