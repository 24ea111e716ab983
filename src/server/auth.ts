/**
 * Bearer tokens and roles (docs/reference.md). A token is a random secret shown once; the store
 * keeps only its SHA-256, found by hash and compared again in constant time. Rights:
 * `read` reads; `client` reads and submits, cancels, retries, resumes; `worker` speaks only
 * the worker protocol; `admin` does everything.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Store } from '../store/store.js';
import type { TokenRecord, TokenRole } from '../store/types.js';
import { refuse } from './errors.js';

/** What a route needs. */
export type Right = 'read' | 'submit' | 'admin' | 'worker';

export const TOKEN_ROLES: readonly TokenRole[] = ['admin', 'client', 'worker', 'read'];

const RIGHTS: Readonly<Record<TokenRole, readonly Right[]>> = {
  admin: ['read', 'submit', 'admin', 'worker'],
  client: ['read', 'submit'],
  worker: ['worker'],
  read: ['read'],
};

export function hasRight(role: TokenRole, right: Right): boolean {
  return RIGHTS[role].includes(right);
}

/** A new secret: `bt_` and 32 random bytes in base64url (256 bits). */
export function newTokenSecret(): string {
  return `bt_${randomBytes(32).toString('base64url')}`;
}

export function hashToken(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]{1,512})$/;

/** The token a request presents, or UNAUTHORIZED (the message never echoes the secret). */
export async function authenticate(
  store: Pick<Store, 'findToken'>,
  header: string | undefined,
): Promise<TokenRecord> {
  if (header === undefined || header === '') {
    throw refuse('UNAUTHORIZED', 'missing Authorization header; expected "Bearer TOKEN"', {
      field: 'header.authorization',
    });
  }
  const match = BEARER.exec(header);
  if (!match) {
    throw refuse('UNAUTHORIZED', 'malformed Authorization header; expected "Bearer TOKEN"', {
      field: 'header.authorization',
    });
  }
  const hash = hashToken(match[1]!);
  const found = await store.findToken(hash);
  if (!found || !timingSafeEqual(Buffer.from(found.hash, 'hex'), Buffer.from(hash, 'hex'))) {
    throw refuse('UNAUTHORIZED', 'unknown or revoked token', { field: 'header.authorization' });
  }
  const { hash: _hash, ...token } = found;
  return token;
}

export function requireRight(token: TokenRecord, right: Right): void {
  if (!hasRight(token.role, right)) {
    throw refuse('FORBIDDEN', `a ${token.role} token may not do this (needs the ${right} right)`, {
      role: token.role,
      right,
    });
  }
}
