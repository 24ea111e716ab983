/**
 * Access tokens of the HTTP server. Only the SHA-256 of a secret is stored; the secret is
 * shown once, when the token is made. Creating and revoking a token are logged as events (the
 * audit trail), never with the secret or its hash.
 */
import { BatonError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { NewToken, StoredToken } from '../store.js';
import type { TokenRecord, TokenRole } from '../types.js';
import { logEvent, type Ctx } from './context.js';

interface TokenRow {
  id: string;
  name: string;
  role: TokenRole;
  capabilities: string;
  types: string;
  hash: string;
  created_at: number;
}

function toToken(row: TokenRow): TokenRecord {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    capabilities: JSON.parse(row.capabilities) as string[],
    types: JSON.parse(row.types) as string[],
    createdAt: row.created_at,
  };
}

export function createToken(ctx: Ctx, token: NewToken): TokenRecord {
  const now = ctx.clock.now();
  const taken = ctx.sql
    .get('SELECT name FROM tokens WHERE name = ? OR hash = ?')
    .get(token.name, token.hash) as { name: string } | undefined;
  if (taken) {
    throw new BatonError('TOKEN_EXISTS', `a token named ${taken.name} already exists`, {
      details: { name: token.name },
    });
  }
  const row = ctx.sql
    .get(
      `INSERT INTO tokens (id, name, role, capabilities, types, hash, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *`,
    )
    .get(
      newId(now),
      token.name,
      token.role,
      JSON.stringify(token.capabilities),
      JSON.stringify(token.types ?? []),
      token.hash,
      now,
    ) as TokenRow;
  logEvent(ctx, now, {
    type: 'token:created',
    reason: `token ${token.name} created with role ${token.role}`,
    data: {
      name: token.name,
      role: token.role,
      capabilities: token.capabilities,
      types: token.types ?? [],
    },
  });
  return toToken(row);
}

export function listTokens(ctx: Ctx): TokenRecord[] {
  const rows = ctx.sql.get('SELECT * FROM tokens ORDER BY created_at, name').all() as TokenRow[];
  return rows.map(toToken);
}

export function revokeToken(ctx: Ctx, name: string): boolean {
  const now = ctx.clock.now();
  const removed = ctx.sql.get('DELETE FROM tokens WHERE name = ?').run(name).changes > 0;
  if (removed) {
    logEvent(ctx, now, {
      type: 'token:revoked',
      reason: `token ${name} revoked`,
      data: { name },
    });
  }
  return removed;
}

export function findToken(ctx: Ctx, hash: string): StoredToken | null {
  const row = ctx.sql.get('SELECT * FROM tokens WHERE hash = ?').get(hash) as TokenRow | undefined;
  return row ? { ...toToken(row), hash: row.hash } : null;
}
