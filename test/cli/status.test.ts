/** The suite of suites/status.ts on a SQLite file; postgres-*.test.ts runs it on PostgreSQL. */
import { useSandbox } from './baton-process.js';
import { sqliteBackend } from './store-backends.js';
import { statusSuite } from './suites/status.js';

statusSuite(useSandbox(sqliteBackend));
