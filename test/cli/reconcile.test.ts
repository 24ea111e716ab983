/** The suite of suites/reconcile.ts on a SQLite file; postgres-*.test.ts runs it on PostgreSQL. */
import { useSandbox } from './baton-process.js';
import { sqliteBackend } from './store-backends.js';
import { reconcileSuite } from './suites/reconcile.js';

reconcileSuite(useSandbox(sqliteBackend));
