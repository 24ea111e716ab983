/** The suite of suites/checkpoints.ts on a SQLite file; postgres-*.test.ts runs it on PostgreSQL. */
import { useSandbox } from './baton-process.js';
import { sqliteBackend } from './store-backends.js';
import { checkpointsSuite } from './suites/checkpoints.js';

checkpointsSuite(useSandbox(sqliteBackend));
