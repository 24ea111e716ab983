/** The suite of suites/cleanup.ts on a SQLite file; postgres-*.test.ts runs it on PostgreSQL. */
import { useSandbox } from './baton-process.js';
import { sqliteBackend } from './store-backends.js';
import { cleanupSuite } from './suites/cleanup.js';

cleanupSuite(useSandbox(sqliteBackend));
