/** The suite of suites/run.ts on a SQLite file; postgres-*.test.ts runs it on PostgreSQL. */
import { useSandbox } from './baton-process.js';
import { sqliteBackend } from './store-backends.js';
import { runSuite } from './suites/run.js';

runSuite(useSandbox(sqliteBackend));
