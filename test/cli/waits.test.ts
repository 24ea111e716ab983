/** The suite of suites/waits.ts on a SQLite file; postgres-waits.test.ts runs it on PostgreSQL. */
import { useSandbox } from './baton-process.js';
import { sqliteBackend } from './store-backends.js';
import { waitsSuite } from './suites/waits.js';

waitsSuite(useSandbox(sqliteBackend));
