/** The suite of suites/resume-edits.ts on a SQLite file; postgres-resume.test.ts runs it on PostgreSQL. */
import { useSandbox } from './baton-process.js';
import { sqliteBackend } from './store-backends.js';
import { resumeEditsSuite } from './suites/resume-edits.js';

resumeEditsSuite(useSandbox(sqliteBackend));
