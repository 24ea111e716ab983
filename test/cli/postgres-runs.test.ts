/**
 * The CLI suites of running and inspecting runs (run, submit and status, checkpoints,
 * cleanup, bulk retry and cancel) on PostgreSQL: one embedded server for the file, a schema
 * of its own per test.
 * Their SQLite variants are run.test.ts, status.test.ts, checkpoints.test.ts, cleanup.test.ts.
 */
import { usePostgres } from '../helpers/postgres.js';
import { useSandbox } from './baton-process.js';
import { postgresBackend } from './store-backends.js';
import { bulkSuite } from './suites/bulk.js';
import { checkpointsSuite } from './suites/checkpoints.js';
import { cleanupSuite } from './suites/cleanup.js';
import { runSuite } from './suites/run.js';
import { statusSuite } from './suites/status.js';

const sandbox = useSandbox(postgresBackend(usePostgres()));

runSuite(sandbox);
statusSuite(sandbox);
checkpointsSuite(sandbox);
cleanupSuite(sandbox);
bulkSuite(sandbox);
