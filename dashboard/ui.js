// Shared bits of the views: Preact with htm templates, formatting, the action button.
import { h } from '/dashboard/vendor/preact.js';
import { useState } from '/dashboard/vendor/hooks.js';
import htm from '/dashboard/vendor/htm.js';
import { api } from '/dashboard/api.js';

export const html = htm.bind(h);

export function formatDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** An instant of the API (ISO 8601 text) as ms since the epoch; null stays null. */
export function toMs(at) {
  return at === null || at === undefined ? null : Date.parse(at);
}

export function formatTime(at) {
  if (at === null || at === undefined) return '–';
  return new Date(at).toLocaleString();
}

export function StateBadge({ state }) {
  return html`<span class=${`badge state-${state}`} data-testid="state">${state}</span>`;
}

export function Progress({ value }) {
  const pct = Math.max(0, Math.min(100, Math.round(value)));
  return html`<span class="progress" title=${`${pct}%`}>
    <span class="progress-track"
      ><span class="progress-bar" style=${{ width: `${pct}%` }}></span
    ></span>
    <span class="progress-text">${pct}%</span>
  </span>`;
}

/**
 * A button that calls the API. The server decides who may do what: a refusal (403 for a
 * read token) is shown next to the button, the page is not changed.
 */
export function Action({ label, path, onDone, testid, body = {} }) {
  const [state, setState] = useState({ busy: false, error: null, ok: false });
  const click = async () => {
    setState({ busy: true, error: null, ok: false });
    try {
      await api(path, { method: 'POST', body });
      setState({ busy: false, error: null, ok: true });
      onDone?.();
    } catch (error) {
      const message = error.status === 403 ? `Refused: ${error.message}` : error.message;
      setState({ busy: false, error: message, ok: false });
    }
  };
  return html`<span class="action">
    <button data-testid=${testid} disabled=${state.busy} onClick=${click}>${label}</button>
    ${state.error && html`<span class="error" role="alert" data-testid="action-error">${state.error}</span>`}
  </span>`;
}
