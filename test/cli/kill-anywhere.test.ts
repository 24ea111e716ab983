/** The suite of suites/kill-anywhere.ts on a SQLite file; postgres-*.test.ts runs it on PostgreSQL. */
import { useSandbox } from './baton-process.js';
import { sqliteBackend } from './store-backends.js';
import { killAnywhereSuite } from './suites/kill-anywhere.js';

killAnywhereSuite(useSandbox(sqliteBackend));
