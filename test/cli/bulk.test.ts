/** The suite of suites/bulk.ts on a SQLite file (postgres-runs.test.ts runs it on PostgreSQL). */
import { useSandbox } from './baton-process.js';
import { sqliteBackend } from './store-backends.js';
import { bulkSuite } from './suites/bulk.js';

bulkSuite(useSandbox(sqliteBackend));
