/**
 * DAG checks at submit: every dependency must name a task of the same submission or one that
 * already exists; no task may depend on itself; no cycles. The whole DAG is refused otherwise.
 */
import { BatonError } from './errors.js';

export interface DagNode {
  id: string;
  /** Name used for messages (the key when there is one). */
  label: string;
  /** Already resolved to ids. */
  dependsOn: string[];
}

/** Throws `DAG_CYCLE` naming a cycle when the graph has one. Returns ids in a topological order. */
export function checkAcyclic(nodes: DagNode[]): string[] {
  // Most batches are independent tasks: no edge, no cycle, and any order is topological.
  if (nodes.every((n) => n.dependsOn.length === 0)) return nodes.map((n) => n.id);
  const byId = new Map(nodes.map((n) => [n.id, n]));
  for (const node of nodes) {
    if (node.dependsOn.includes(node.id)) {
      throw new BatonError('DAG_CYCLE', `task ${node.label} depends on itself`, {
        details: { cycle: [node.label, node.label] },
      });
    }
  }
  const color = new Map<string, 'grey' | 'black'>();
  const order: string[] = [];
  for (const start of nodes) {
    if (color.has(start.id)) continue;
    // Iterative DFS: a 100,000-task chain must not overflow the stack.
    const stack: { id: string; next: number }[] = [{ id: start.id, next: 0 }];
    color.set(start.id, 'grey');
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      const deps = byId.get(frame.id)?.dependsOn ?? [];
      if (frame.next < deps.length) {
        const dep = deps[frame.next++]!;
        if (!byId.has(dep)) continue; // an existing task outside this DAG: cannot close a cycle
        const c = color.get(dep);
        if (c === 'grey') {
          const at = stack.findIndex((f) => f.id === dep);
          const cycle = [
            ...stack.slice(at).map((f) => byId.get(f.id)!.label),
            byId.get(dep)!.label,
          ];
          throw new BatonError('DAG_CYCLE', `dependency cycle: ${cycle.join(' -> ')}`, {
            details: { cycle },
          });
        }
        if (c === undefined) {
          color.set(dep, 'grey');
          stack.push({ id: dep, next: 0 });
        }
      } else {
        color.set(frame.id, 'black');
        order.push(frame.id);
        stack.pop();
      }
    }
  }
  return order;
}
