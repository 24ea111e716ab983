/**
 * Imports flow one way: a layer imports only layers to its left, never back up.
 *
 *   core → store → observability → worker → engine → workflow → protocol → server | client → cli
 *
 * `client` and `server` sit side by side and never import each other; `client` imports no
 * `engine`. `bench` and the package entry (`src/index.ts`) sit on top and may import anything.
 * The test reads every relative import (static, dynamic and `import type`) of every file
 * under `src/` and fails on the first one against the order.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../../src');

const RANK: Record<string, number> = {
  core: 0,
  store: 1,
  observability: 2,
  worker: 3,
  engine: 4,
  workflow: 5,
  protocol: 6,
  server: 7,
  client: 7,
  cli: 8,
  bench: 9,
  '.': 10,
};

/** Imports that the ranks alone would allow but the design forbids. */
const FORBIDDEN: Record<string, string[]> = {
  client: ['server', 'engine', 'cli'],
  server: ['client', 'cli'],
};

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return filesUnder(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

function layerOf(root: string, file: string): string {
  const rel = relative(root, file);
  const first = rel.split('/')[0] ?? '.';
  return rel.includes('/') ? first : '.';
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs: string[] = [];
  const pattern = /(?:from\s+|import\s*\(\s*|import\s+)'(\.[^']+)'/g;
  for (const match of text.matchAll(pattern)) if (match[1]) specs.push(match[1]);
  return specs;
}

function layerViolations(root = SRC): string[] {
  const violations: string[] = [];
  for (const file of filesUnder(root)) {
    const from = layerOf(root, file);
    for (const spec of importsOf(file)) {
      const to = layerOf(root, resolve(dirname(file), spec));
      if (to === from) continue;
      const fromRank = RANK[from];
      const toRank = RANK[to];
      const where = `${relative(root, file)} imports ${spec} (${from} → ${to})`;
      if (fromRank === undefined || toRank === undefined)
        violations.push(`${where}: unknown layer`);
      else if (toRank >= fromRank || (FORBIDDEN[from] ?? []).includes(to)) violations.push(where);
    }
  }
  return violations;
}

describe('layers', () => {
  it('every import under src/ goes to a lower layer', () => {
    expect(layerViolations()).toEqual([]);
  });

  it('knows every folder of src/ (a new folder must be given a place in the order)', () => {
    const folders = readdirSync(SRC, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
    expect(folders.filter((name) => RANK[name] === undefined)).toEqual([]);
  });

  it('catches an import that runs back up, and a client importing the server', () => {
    const root = mkdtempSync(join(tmpdir(), 'baton-layers-'));
    try {
      for (const dir of ['worker', 'engine', 'client', 'server']) mkdirSync(join(root, dir));
      writeFileSync(join(root, 'engine/events.ts'), 'export {};\n');
      writeFileSync(join(root, 'server/schemas.ts'), 'export {};\n');
      writeFileSync(
        join(root, 'worker/worker.ts'),
        "import type { EventBus } from '../engine/events.js';\n",
      );
      writeFileSync(join(root, 'client/http.ts'), "export { x } from '../server/schemas.js';\n");
      writeFileSync(join(root, 'engine/ok.ts'), "import { w } from '../worker/worker.js';\n");
      expect(layerViolations(root).sort()).toEqual([
        'client/http.ts imports ../server/schemas.js (client → server)',
        'worker/worker.ts imports ../engine/events.js (worker → engine)',
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
