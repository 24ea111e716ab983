/** The suite of suites/resume.ts on a SQLite file; postgres-*.test.ts runs it on PostgreSQL. */
import { useSandbox } from './baton-process.js';
import { sqliteBackend } from './store-backends.js';
import { resumeSuite } from './suites/resume.js';

resumeSuite(useSandbox(sqliteBackend));
