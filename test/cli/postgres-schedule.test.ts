/** The suite of suites/schedule.ts on PostgreSQL: one embedded server, a schema per test. */
import { usePostgres } from '../helpers/postgres.js';
import { useSandbox } from './baton-process.js';
import { postgresBackend } from './store-backends.js';
import { scheduleSuite } from './suites/schedule.js';

scheduleSuite(useSandbox(postgresBackend(usePostgres())));
