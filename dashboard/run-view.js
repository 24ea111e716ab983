// One run: its DAG laid out by dagre, each task coloured by state with its live progress;
// clicking a task opens its detail. Live: the event feed for this run triggers a reload of
// the graph, and `progress` messages move the bars in place.
import { useEffect, useMemo, useState } from '/dashboard/vendor/hooks.js';
import dagre from '/dashboard/vendor/dagre.js';
import { api, debounce, follow } from '/dashboard/api.js';
import { Action, formatDuration, html, Progress, StateBadge, toMs } from '/dashboard/ui.js';
import { TaskDetail } from '/dashboard/task-view.js';
import { TypeControls } from '/dashboard/type-controls.js';
import { WaitNote } from '/dashboard/waits.js';

const NODE_W = 170;
const NODE_H = 66;

function layout(tasks) {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 18, ranksep: 50, marginx: 10, marginy: 10 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const t of tasks) g.setNode(t.id, { width: NODE_W, height: NODE_H });
  const ids = new Set(tasks.map((t) => t.id));
  for (const t of tasks) for (const dep of t.dependsOn) if (ids.has(dep)) g.setEdge(dep, t.id);
  dagre.layout(g);
  return g;
}

function Graph({ tasks, selected, onSelect }) {
  // Layout depends only on which tasks exist and how they connect, not on their state.
  const shape = tasks.map((t) => `${t.id}<${t.dependsOn.join(',')}`).join(';');
  const g = useMemo(() => layout(tasks), [shape]);
  const { width = 200, height = 100 } = g.graph();
  const byId = new Map(tasks.map((t) => [t.id, t]));
  return html`<svg
    class="dag"
    data-testid="dag"
    width=${width}
    height=${height}
    viewBox=${`0 0 ${width} ${height}`}
  >
    ${g.edges().map((e) => {
      const points = g.edge(e).points;
      const d = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x},${p.y}`).join(' ');
      return html`<path class="edge" d=${d} />`;
    })}
    ${g.nodes().map((id) => {
      const n = g.node(id);
      const t = byId.get(id);
      const x = n.x - NODE_W / 2;
      const y = n.y - NODE_H / 2;
      return html`<g
        class=${`node state-${t.state}${selected === id ? ' selected' : ''}`}
        data-testid="task-node"
        data-task-id=${id}
        data-key=${t.key ?? ''}
        data-state=${t.state}
        transform=${`translate(${x},${y})`}
        onClick=${() => onSelect(id)}
      >
        <rect width=${NODE_W} height=${NODE_H} rx="6" />
        <text x="8" y="18" class="node-title">${t.key ?? t.id.slice(0, 12)}</text>
        <text x="8" y="34" class="node-state"
          >${t.state}${t.attempt > 1 ? ` · try ${t.attempt}` : ''}</text
        >
        <${WaitNote} wait=${t.wait} x="8" y="48" />
        <rect class="node-progress-bg" x="8" y="55" width=${NODE_W - 16} height="5" rx="2" />
        <rect
          class="node-progress"
          x="8"
          y="55"
          width=${((NODE_W - 16) * t.progress) / 100}
          height="5"
          rx="2"
        />
      </g>`;
    })}
  </svg>`;
}

export function RunView({ runId }) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const [selected, setSelected] = useState(null);
  const [version, setVersion] = useState(0);

  useEffect(() => {
    let live = true;
    const load = async () => {
      try {
        const graph = await api(`/dashboard/runs/${encodeURIComponent(runId)}/graph`);
        if (live) {
          setData(graph);
          setError(null);
          setVersion((v) => v + 1);
        }
      } catch (e) {
        if (live) setError(e.message);
      }
    };
    void load();
    const refresh = debounce(() => void load(), 100);
    const stop = follow(`?runId=${encodeURIComponent(runId)}`, (m) => {
      if (m.event === 'change') refresh();
      if (m.event === 'progress') {
        setData(
          (d) =>
            d && {
              ...d,
              tasks: d.tasks.map((t) =>
                t.id === m.data.taskId ? { ...t, progress: m.data.progress } : t,
              ),
            },
        );
      }
    });
    return () => {
      live = false;
      stop();
    };
  }, [runId]);

  if (error && !data) return html`<p class="error" role="alert">${error}</p>`;
  if (!data) return html`<p>Loading…</p>`;
  const { run, tasks } = data;
  const end = toMs(run.finishedAt) ?? Date.now();
  const reload = () => setVersion((v) => v + 1);
  return html`<section>
    <p><a href="#/runs">← Runs</a></p>
    <h2 data-testid="run-name">${run.name}</h2>
    <p class="run-meta">
      <${StateBadge} state=${run.state} /> <${Progress} value=${run.progress} />
      <span>${tasks.length} tasks</span> <span>${formatDuration(end - toMs(run.createdAt))}</span>
    </p>
    <p class="actions">
      <${Action}
        label="Cancel run"
        testid="cancel-run"
        path=${`/runs/${encodeURIComponent(run.id)}/cancel`}
        onDone=${reload}
      />
      <${Action}
        label="Resume run"
        testid="resume-run"
        path=${`/runs/${encodeURIComponent(run.id)}/resume`}
        onDone=${reload}
      />
      <${Action}
        label="Retry failed"
        testid="retry-failed"
        path="/tasks/retry"
        body=${{ runId: run.id, state: 'failed' }}
        onDone=${reload}
      />
    </p>
    <${TypeControls} runId=${run.id} />
    <div class="run-body">
      <div class="graph-wrap">
        <${Graph} tasks=${tasks} selected=${selected} onSelect=${setSelected} />
      </div>
      ${
        selected &&
        html`<${TaskDetail}
          taskId=${selected}
          version=${version}
          onClose=${() => setSelected(null)}
        />`
      }
    </div>
  </section>`;
}
