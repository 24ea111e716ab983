/** The HTTP server of `baton serve`. */
export { createServer, API_PREFIX, API_VERSION } from './app.js';
export type { BatonServer } from './app.js';
export { startServer, DEFAULT_PORT } from './start.js';
export type { RunningServer, StartServerOptions } from './start.js';
export type { ServerOptions } from './options.js';
export { hashToken, newTokenSecret, TOKEN_ROLES, hasRight } from './auth.js';
export type { Right } from './auth.js';
export { statusOf } from './errors.js';
