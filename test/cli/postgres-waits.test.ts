/** The suite of suites/waits.ts on PostgreSQL: one embedded server, a schema per test. */
import { usePostgres } from '../helpers/postgres.js';
import { useSandbox } from './baton-process.js';
import { postgresBackend } from './store-backends.js';
import { waitsSuite } from './suites/waits.js';

waitsSuite(useSandbox(postgresBackend(usePostgres())));
