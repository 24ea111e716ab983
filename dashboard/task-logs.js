// A task's log: the lines it printed (the store keeps the newest 1,000), stderr marked. Read
// a page at a time from GET /tasks/{id}/logs; while the task runs, new lines are fetched every
// second (lines cause no events), and every change of the task refetches what is new.
import { useEffect, useRef, useState } from '/dashboard/vendor/hooks.js';
import { api } from '/dashboard/api.js';
import { formatTime, html } from '/dashboard/ui.js';

const PAGE = 500;
const SHOWN = 1000;
const POLL_MS = 1000;

export function TaskLogs({ taskId, version, running }) {
  const [lines, setLines] = useState([]);
  const [error, setError] = useState(null);
  // The newest line read so far, per task: the next read asks only for what follows it.
  const last = useRef({ taskId: null, seq: 0 });
  if (last.current.taskId !== taskId) last.current = { taskId, seq: 0 };

  useEffect(() => setLines([]), [taskId]);
  useEffect(() => {
    let live = true;
    let timer;
    const load = async () => {
      try {
        for (;;) {
          const after = last.current.seq;
          const page = await api(
            `/tasks/${encodeURIComponent(taskId)}/logs?limit=${PAGE}&afterSeq=${after}`,
          );
          if (!live) return;
          setError(null);
          if (page.logs.length > 0) {
            last.current.seq = page.logs[page.logs.length - 1].seq;
            setLines((old) => [...old, ...page.logs].slice(-SHOWN));
          }
          if (page.nextCursor === null) break;
        }
      } catch (e) {
        if (!live) return;
        setError(e.message);
      }
      if (live && running) timer = setTimeout(() => void load(), POLL_MS);
    };
    void load();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [taskId, version, running]);

  return html`<h4>Logs</h4>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${
      lines.length === 0
        ? html`<p data-testid="task-logs-empty">${running ? 'No output yet.' : 'None.'}</p>`
        : html`<pre class="task-logs" data-testid="task-logs">
${lines.map(
              (l, i) =>
                html`${
                    i > 0 && lines[i - 1].attempt !== l.attempt
                      ? html`<span class="log-attempt">— attempt ${l.attempt} —</span>`
                      : ''
                  }<span
                    class=${`log-line log-${l.stream}`}
                    data-testid="log-line"
                    data-stream=${l.stream}
                    data-seq=${l.seq}
                    title=${`#${l.seq}, attempt ${l.attempt}, ${formatTime(l.at)}`}
                    >${l.stream === 'stderr' ? html`<span class="log-mark">err </span>` : ''}${l.line}</span
                  >`,
            )}</pre>`
    }`;
}
