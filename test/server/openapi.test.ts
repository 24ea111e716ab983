/**
 * The OpenAPI document as client generators take it: named component schemas referred to
 * everywhere, real types for query parameters, required bodies, one format for instants and
 * no meaningless bounds. Then the proof: a client generated from the served document by
 * `openapi-typescript`, type-checked with `tsc` and run with `openapi-fetch` against a real
 * `baton serve` process.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import openapiTS, { astToString } from 'openapi-typescript';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, requester, useProcesses, useServer } from './harness.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

type Json = Record<string, unknown>;

/** Every node of a JSON value with the path that leads to it. */
function* walk(value: unknown, path: string[] = []): Generator<[string[], Json]> {
  if (Array.isArray(value)) {
    for (const [i, inner] of value.entries()) yield* walk(inner, [...path, String(i)]);
  } else if (value !== null && typeof value === 'object') {
    yield [path, value as Json];
    for (const [key, inner] of Object.entries(value)) yield* walk(inner, [...path, key]);
  }
}

describe('the OpenAPI document', () => {
  const open = useServer();

  async function fetchDocument(): Promise<Json> {
    const h = await open();
    const res = await requester(h)('GET', '/api/v1/openapi.json', { token: h.tokens.read });
    expect(res.status).toBe(200);
    return (await res.json()) as Json;
  }

  it('names its schemas and refers to them instead of repeating them inline', async () => {
    const doc = await fetchDocument();
    const schemas = (doc.components as { schemas: Json }).schemas;
    for (const name of ['Run', 'Task', 'Worker', 'Checkpoint', 'Error', 'TaskRecord'])
      expect(Object.keys(schemas)).toContain(name);
    for (const name of ['Workflow', 'TaskSpec', 'RunPage', 'TaskPage', 'LogPage'])
      expect(Object.keys(schemas)).toContain(name);
    const paths = doc.paths as Record<string, Record<string, Json>>;
    const responseOf = (method: string, path: string): unknown =>
      (paths[path]?.[method]?.responses as Record<string, Json>)[method === 'post' ? '201' : '200'];
    expect(JSON.stringify(responseOf('get', '/runs/{id}'))).toContain(
      '"$ref":"#/components/schemas/Run"',
    );
    expect(JSON.stringify(responseOf('get', '/tasks/{id}'))).toContain(
      '"$ref":"#/components/schemas/Task"',
    );
    // The task shape appears once, as a component: no other object repeats its properties.
    const taskKeys = Object.keys((schemas.Task as { properties: Json }).properties).sort();
    const copies = [...walk(doc.paths)].filter(
      ([, node]) =>
        node.type === 'object' &&
        JSON.stringify(Object.keys((node.properties ?? {}) as Json).sort()) ===
          JSON.stringify(taskKeys),
    );
    expect(copies).toEqual([]);
    // Every reference resolves.
    for (const [path, node] of walk(doc)) {
      if (typeof node.$ref !== 'string') continue;
      const name = node.$ref.replace('#/components/schemas/', '');
      expect(schemas[name], `${path.join('.')} refers to ${node.$ref}`).toBeDefined();
    }
  });

  it('types query parameters and requires the bodies a route needs', async () => {
    const doc = await fetchDocument();
    const paths = doc.paths as Record<string, Record<string, Json>>;
    const params = paths['/runs']?.get?.parameters as Json[];
    expect(params.find((p) => p.name === 'limit')).toMatchObject({
      in: 'query',
      required: false,
      schema: { type: 'integer', minimum: 1 },
    });
    const logs = paths['/tasks/{id}/logs']?.get?.parameters as Json[];
    expect(logs.find((p) => p.name === 'afterSeq')?.schema).toMatchObject({ type: 'integer' });
    const states = (paths['/tasks']?.get?.parameters as Json[]).find((p) => p.name === 'state');
    expect(states).toMatchObject({ style: 'form', explode: false, schema: { type: 'array' } });
    expect(paths['/runs']?.post?.requestBody).toMatchObject({ required: true });
    expect(paths['/tasks']?.post?.requestBody).toMatchObject({ required: true });
    expect(paths['/worker/claim']?.post?.requestBody).toMatchObject({ required: true });
    // A route that takes an empty body or none says so.
    expect(paths['/runs/{id}/cancel']?.post?.requestBody).toMatchObject({ required: false });
  });

  it('gives every instant one format (date-time) and no bounds that say nothing', async () => {
    const doc = await fetchDocument();
    const instants: string[] = [];
    for (const [path, node] of walk(doc)) {
      expect(node.minimum, path.join('.')).not.toBe(Number.MIN_SAFE_INTEGER);
      expect(node.maximum, path.join('.')).not.toBe(Number.MAX_SAFE_INTEGER);
      const props = (node.type === 'object' ? node.properties : undefined) as Json | undefined;
      for (const [name, prop] of Object.entries(props ?? {})) {
        if (!/At$/.test(name) || name === 'runAt') continue;
        instants.push(name);
        const text = JSON.stringify(prop);
        expect(text, `${path.join('.')}.${name}`).toContain('"format":"date-time"');
      }
    }
    // The worker protocol's records, the dashboard's routes and the REST shapes alike.
    expect([...new Set(instants)]).toEqual(
      expect.arrayContaining([
        'createdAt',
        'finishedAt',
        'startedAt',
        'updatedAt',
        'lastHeartbeatAt',
        'dueAt',
      ]),
    );
    const record = (doc.components as { schemas: Record<string, { properties: Json }> }).schemas
      .TaskRecord;
    expect(record?.properties.runAt).toMatchObject({ format: 'date-time' });
  });
});

describe('a client generated from the served document', () => {
  const spawnBaton = useProcesses();
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('type-checks and submits, reads, pages, reads a task and sees a 400 naming its field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-openapi-'));
    dirs.push(dir);
    const store = join(dir, 'baton.db');
    const created = spawnBaton(
      ['token', 'create', '--role', 'admin', '--json', '--store', store],
      dir,
    );
    expect(await created.exited).toBe(0);
    const { token } = JSON.parse(created.output()) as { token: string };
    const serve = spawnBaton(['serve', '--port', '0', '--store', store], dir);
    const url = await eventually(
      () => /listening on (https?:\/\/\S+)/.exec(serve.output())?.[1],
      'serve to listen',
    );

    // The generated program lives under the repository so that it resolves openapi-fetch.
    const work = join(ROOT, 'test-artifacts', `openapi-client-${process.pid}`);
    dirs.push(work);
    mkdirSync(work, { recursive: true });
    cpSync(join(ROOT, 'examples/openapi-client'), work, { recursive: true });
    const doc = await fetch(`${url}/api/v1/openapi.json`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const source = astToString(await openapiTS((await doc.json()) as never));
    writeFileSync(join(work, 'schema.d.ts'), source);
    expect(source).toMatch(/\bRun: \{/);
    expect(source).toMatch(/\bTask: \{/);

    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    const checked = await run(process.execPath, [tsc, '-p', work]).catch(
      (error: Error & { stdout?: string }) => ({
        stdout: `tsc failed: ${error.stdout ?? error.message}`,
      }),
    );
    expect(checked.stdout).toBe('');

    const out = await run(process.execPath, [join(work, 'out/program.js')], {
      env: { ...process.env, BATON_URL: url, BATON_TOKEN: token },
    });
    const seen = JSON.parse(out.stdout) as {
      submitted: string[];
      createdAt: string;
      read: { id: string; name: string; tasks: string[] };
      pages: string[][];
      task: { id: string; key: string; state: string; runId: string };
      refusal: { status: number; code: string; details: { problems: { field: string }[] } };
    };
    const [first, second] = seen.submitted;
    expect(seen.read).toEqual({ id: first, name: 'generated-client-1', tasks: ['build', 'test'] });
    expect(new Date(seen.createdAt).toISOString()).toBe(seen.createdAt);
    // Newest first, one a page, the cursor leading to the next.
    expect(seen.pages).toEqual([[second], [first]]);
    expect(seen.task).toMatchObject({ key: 'build', state: 'queued', runId: first });
    expect(seen.refusal.status).toBe(400);
    expect(seen.refusal.code).toBe('VALIDATION_FAILED');
    expect(seen.refusal.details.problems.map((p) => p.field)).toEqual(['query.limit']);
    expect(readFileSync(join(work, 'program.ts'), 'utf8')).toContain("from 'openapi-fetch'");
  });
});
