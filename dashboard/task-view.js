// A task: attempts, transition history with reasons, checkpoints (with a mark on corrupt
// ones), its log lines, the routing decision, and its result or error. Cancel and retry, as the token allows.
import { useEffect, useState } from '/dashboard/vendor/hooks.js';
import { api } from '/dashboard/api.js';
import { TaskLogs } from '/dashboard/task-logs.js';
import { SignalControl } from '/dashboard/waits.js';
import {
  Action,
  formatDuration,
  formatTime,
  html,
  Progress,
  StateBadge,
  toMs,
} from '/dashboard/ui.js';

export function TaskDetail({ taskId, version, onClose }) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    api(`/dashboard/tasks/${encodeURIComponent(taskId)}`).then(
      (d) => live && (setData(d), setError(null)),
      (e) => live && setError(e.message),
    );
    return () => {
      live = false;
    };
  }, [taskId, version, tick]);
  if (error)
    return html`<aside class="task-detail"><p class="error" role="alert">${error}</p></aside>`;
  if (!data) return html`<aside class="task-detail"><p>Loading…</p></aside>`;
  const { task, history, checkpoints } = data;
  const reload = () => setTick((t) => t + 1);
  const ran =
    task.startedAt === null ? null : (toMs(task.finishedAt) ?? Date.now()) - toMs(task.startedAt);
  return html`<aside class="task-detail" data-testid="task-detail" data-task-id=${task.id}>
    <header>
      <h3>${task.key ?? task.id}</h3>
      ${onClose && html`<button class="close" onClick=${onClose} aria-label="Close">×</button>`}
    </header>
    <dl>
      <dt>State</dt>
      <dd><${StateBadge} state=${task.state} /></dd>
      <dt>Progress</dt>
      <dd><${Progress} value=${task.progress} /> ${task.progressMessage ?? ''}</dd>
      <dt>Type</dt>
      <dd>${task.type}</dd>
      <dt>Attempts</dt>
      <dd data-testid="attempts">${task.attempt} of ${task.maxAttempts}</dd>
      <dt>Worker</dt>
      <dd>${task.workerId ?? '–'}</dd>
      <dt>Last attempt ran</dt>
      <dd>${formatDuration(ran)}</dd>
      <dt>Needs</dt>
      <dd>${task.capabilities.length ? task.capabilities.join(', ') : '–'}</dd>
      ${
        task.routing &&
        html`<dt>Routing</dt>
          <dd class="routing">${task.routing.reason ?? JSON.stringify(task.routing)}</dd>`
      }
    </dl>
    <p class="actions">
      <${Action}
        label="Cancel task"
        testid="cancel-task"
        path=${`/tasks/${encodeURIComponent(task.id)}/cancel`}
        onDone=${reload}
      />
      <${Action}
        label="Retry task"
        testid="retry-task"
        path=${`/tasks/${encodeURIComponent(task.id)}/retry`}
        onDone=${reload}
      />
    </p>
    <${SignalControl} task=${task} onDone=${reload} />
    ${
      task.error &&
      html`<h4>Error</h4>
        <pre class="error-box" data-testid="task-error">
${task.error.code}: ${task.error.message}</pre>`
    }
    ${
      task.state === 'completed' &&
      html`<h4>Result</h4>
        <pre data-testid="task-result">${JSON.stringify(task.result, null, 2)}</pre>`
    }
    <h4>Checkpoints</h4>
    ${
      checkpoints.length === 0
        ? html`<p>None.</p>`
        : html`<table class="checkpoints">
            <thead>
              <tr>
                <th>#</th>
                <th>Attempt</th>
                <th>Progress</th>
                <th>Taken</th>
                <th>Integrity</th>
              </tr>
            </thead>
            <tbody>
              ${checkpoints.map(
                (c) =>
                  html`<tr data-testid="checkpoint" data-intact=${String(c.intact)}>
                    <td>${c.seq}</td>
                    <td>${c.attempt}</td>
                    <td>${Math.round(c.progress)}%</td>
                    <td>${formatTime(c.createdAt)}</td>
                    <td>
                      ${c.intact ? html`<span class="ok">intact</span>` : html`<span class="corrupt" title="checksum does not match: never loaded">⚠ corrupt</span>`}
                    </td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }
    <${TaskLogs}
      taskId=${task.id}
      version=${`${version}:${tick}`}
      running=${task.state === 'assigned' || task.state === 'running'}
    />
    <h4>History</h4>
    <table class="history">
      <thead>
        <tr>
          <th>When</th>
          <th>Event</th>
          <th>Transition</th>
          <th>Reason</th>
        </tr>
      </thead>
      <tbody>
        ${history.map(
          (e) =>
            html`<tr data-testid="history-row">
              <td>${formatTime(e.at)}</td>
              <td>${e.type}</td>
              <td>${e.from || e.to ? `${e.from ?? '∅'} → ${e.to ?? '∅'}` : ''}</td>
              <td>${e.reason ?? ''}${e.workerId ? ` (${e.workerId})` : ''}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </aside>`;
}
