/**
 * The Python worker's checksums are the server's: for any JSON value (fast-check's, floats,
 * astral characters and escapes included) Python's canonical JSON and SHA-256 are byte for byte
 * those of `checksumOf`, or the server would refuse its checkpoints.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, checksumOf } from '../../src/core/checksum.js';

const PY_DIR = fileURLToPath(new URL('../../clients/python/', import.meta.url));
const SCRIPT = `
import json, sys
sys.path.insert(0, sys.argv[1])
from baton_worker import canonical_json, checksum_of
values = json.load(sys.stdin)
print(json.dumps([[canonical_json(v), checksum_of(v)] for v in values]))
`;

describe('the Python worker: canonical JSON', () => {
  it('gives the checksum the server computes for any JSON value', () => {
    const values = fc.sample(fc.jsonValue({ maxDepth: 4 }), { numRuns: 400, seed: 42 });
    values.push(0.1, 1e21, 1.5e-7, 123456789012345680000, -0, 2 ** 53 + 2, { b: 1, a: [1.0] });
    const out = execFileSync('python3', ['-c', SCRIPT, PY_DIR], {
      input: JSON.stringify(values),
      maxBuffer: 64 * 1024 * 1024,
    }).toString();
    const python = JSON.parse(out) as [string, string][];
    // Parsed back from JSON text, as the server parses a worker's body.
    const parsed = JSON.parse(JSON.stringify(values)) as unknown[];
    expect(python).toEqual(parsed.map((v) => [canonicalJson(v), checksumOf(v)]));
  });
});
