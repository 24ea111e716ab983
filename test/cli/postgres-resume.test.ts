/**
 * The CLI suites of stopping and resuming runs (--resume after SIGKILL or an interrupt,
 * resuming after edits and from another directory, reconcile, SIGKILL at any moment) on PostgreSQL: one embedded server for the file, a schema
 * of its own per test. Their SQLite variants are resume.test.ts, reconcile.test.ts,
 * kill-anywhere.test.ts.
 */
import { usePostgres } from '../helpers/postgres.js';
import { useSandbox } from './baton-process.js';
import { postgresBackend } from './store-backends.js';
import { killAnywhereSuite } from './suites/kill-anywhere.js';
import { reconcileSuite } from './suites/reconcile.js';
import { resumeSuite } from './suites/resume.js';
import { resumeEditsSuite } from './suites/resume-edits.js';

const sandbox = useSandbox(postgresBackend(usePostgres()));

resumeSuite(sandbox);
resumeEditsSuite(sandbox);
reconcileSuite(sandbox);
killAnywhereSuite(sandbox);
