import { mkdirSync } from 'node:fs';

/** Runs once before all test files: a place for artifacts (screenshots, exported logs). */
export default function setup(): void {
  mkdirSync('test-artifacts', { recursive: true });
}
