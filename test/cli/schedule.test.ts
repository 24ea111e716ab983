/** The suite of suites/schedule.ts on a SQLite file; postgres-schedule.test.ts runs it on PostgreSQL. */
import { useSandbox } from './baton-process.js';
import { sqliteBackend } from './store-backends.js';
import { scheduleSuite } from './suites/schedule.js';

scheduleSuite(useSandbox(sqliteBackend));
