/** The suite of suites/operator.ts on a SQLite file. */
import { useSandbox } from './baton-process.js';
import { sqliteBackend } from './store-backends.js';
import { operatorSuite } from './suites/operator.js';

operatorSuite(useSandbox(sqliteBackend));
