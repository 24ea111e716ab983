/**
 * Access tokens of the HTTP server. Only the SHA-256 of a secret is stored; the secret is
 * shown once, when the token is made. Creating and revoking a token are logged as events (the
 * audit trail), never with the secret or its hash.
 */
import { BatonError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { NewToken, StoredToken } from '../store.js';
import type { TokenRecord, TokenRole } from '../types.js';
import type { Sql } from './db.js';
import { logEvents } from './events.js';

interface TokenRow {
  id: string;
  name: string;
  role: TokenRole;
  capabilities: string[];
  types: string[];
  hash: string;
  created_at: number;
}

function toToken(row: TokenRow): TokenRecord {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    capabilities: row.capabilities,
    types: row.types,
    createdAt: row.created_at,
  };
}

export async function createToken(sql: Sql, token: NewToken): Promise<TokenRecord> {
  // ON CONFLICT DO NOTHING: a concurrent twin makes this insert return no row instead of failing.
  const [row] = await sql.rows<TokenRow>(
    `INSERT INTO tokens (id, name, role, capabilities, types, hash, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, (SELECT now_ms())) ON CONFLICT DO NOTHING RETURNING *`,
    [newId(), token.name, token.role, token.capabilities, token.types ?? [], token.hash],
  );
  if (!row && sql.ambiguous) {
    // After a lost commit: the token this very call made (same name, same secret's hash).
    const [made] = await sql.rows<TokenRow>(`SELECT * FROM tokens WHERE name = $1 AND hash = $2`, [
      token.name,
      token.hash,
    ]);
    if (made) return toToken(made);
  }
  if (!row) {
    const [taken] = await sql.rows<{ name: string }>(
      `SELECT name FROM tokens WHERE name = $1 OR hash = $2`,
      [token.name, token.hash],
    );
    throw new BatonError(
      'TOKEN_EXISTS',
      `a token named ${taken?.name ?? token.name} already exists`,
      {
        details: { name: token.name },
      },
    );
  }
  await logEvents(sql, [
    {
      type: 'token:created',
      reason: `token ${token.name} created with role ${token.role}`,
      data: {
        name: token.name,
        role: token.role,
        capabilities: token.capabilities,
        types: token.types ?? [],
      },
    },
  ]);
  return toToken(row);
}

export async function listTokens(sql: Sql): Promise<TokenRecord[]> {
  const rows = await sql.rows<TokenRow>(`SELECT * FROM tokens ORDER BY created_at, name`);
  return rows.map(toToken);
}

export async function revokeToken(sql: Sql, name: string): Promise<boolean> {
  const removed = await sql.rows(`DELETE FROM tokens WHERE name = $1 RETURNING name`, [name]);
  if (removed.length === 0) return false;
  await logEvents(sql, [
    { type: 'token:revoked', reason: `token ${name} revoked`, data: { name } },
  ]);
  return true;
}

export async function findToken(sql: Sql, hash: string): Promise<StoredToken | null> {
  const [row] = await sql.rows<TokenRow>(`SELECT * FROM tokens WHERE hash = $1`, [hash]);
  return row ? { ...toToken(row), hash: row.hash } : null;
}
