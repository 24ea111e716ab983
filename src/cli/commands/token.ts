/**
 * `baton token create|list|revoke`: access tokens of `baton serve`. A new token is printed
 * once; the store keeps only its SHA-256.
 */
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { z } from 'zod';
import { hashToken, newTokenSecret, TOKEN_ROLES } from '../../server/auth.js';
import type { TokenRole } from '../../store/types.js';
import {
  parseOption,
  printJson,
  println,
  usageError,
  withStore,
  withStoreOption,
  type StoreOption,
} from '../cli-context.js';

interface CreateFlags extends StoreOption {
  role?: string;
  name?: string;
  capabilities?: string;
  types?: string;
  json?: boolean;
}

const nameSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,100}$/, 'expected 1-100 letters, digits, `_`, `.` or `-`');
const roleSchema = z.enum(TOKEN_ROLES as [TokenRole, ...TokenRole[]], {
  error: `expected one of ${TOKEN_ROLES.join(', ')}`,
});

export function parseCapabilities(text: string | undefined, flag = '--capabilities'): string[] {
  if (text === undefined || text.trim() === '') return [];
  const list = text.split(',').map((c) => c.trim());
  return parseOption(
    z.array(z.string().min(1, 'expected no empty names').max(200)).max(50),
    list,
    flag,
  );
}

export function registerToken(program: Command): void {
  const token = program.command('token').description('access tokens of baton serve');

  withStoreOption(
    token
      .command('create')
      .description('make a token and print it once (only its hash is kept)')
      .requiredOption('--role <role>', `one of ${TOKEN_ROLES.join(', ')}`)
      .option('--name <name>', 'unique name (default: role and a random suffix)')
      .option('--capabilities <list>', 'worker tokens: capabilities its workers may offer')
      .option(
        '--types <list>',
        'client tokens submit, worker tokens claim, only these task types (shell: may submit commands)',
      )
      .option('--json', 'print { name, role, token }'),
  ).action(async (flags: CreateFlags) => {
    const role = parseOption(roleSchema, flags.role, '--role');
    const name = parseOption(
      nameSchema,
      flags.name ?? `${role}-${randomBytes(3).toString('hex')}`,
      '--name',
    );
    const capabilities = parseCapabilities(flags.capabilities);
    if (capabilities.length > 0 && role !== 'worker') {
      throw usageError('invalid --capabilities: only worker tokens are limited to capabilities');
    }
    const types = parseCapabilities(flags.types, '--types');
    if (types.length > 0 && role !== 'worker' && role !== 'client') {
      throw usageError('invalid --types: only client and worker tokens are limited to task types');
    }
    const secret = newTokenSecret();
    await withStore(flags, async (store) => {
      await store.createToken({ name, role, capabilities, types, hash: hashToken(secret) });
    });
    if (flags.json) printJson({ name, role, token: secret });
    else {
      println(secret);
      process.stderr.write(`token ${name} (${role}) created; it is shown only this once\n`);
    }
  });

  withStoreOption(
    token
      .command('list')
      .description('list tokens (names and roles, never secrets)')
      .option('--json'),
  ).action(async (flags: StoreOption & { json?: boolean }) => {
    const tokens = await withStore(flags, (store) => store.listTokens());
    if (flags.json) {
      printJson(tokens.map((t) => ({ ...t, createdAt: new Date(t.createdAt).toISOString() })));
      return;
    }
    if (tokens.length === 0) println('no tokens');
    for (const t of tokens) {
      const caps = t.capabilities.length > 0 ? ` [${t.capabilities.join(',')}]` : '';
      const types = t.types.length > 0 ? ` types=${t.types.join(',')}` : '';
      println(`${t.name}\t${t.role}${caps}${types}\t${new Date(t.createdAt).toISOString()}`);
    }
  });

  withStoreOption(
    token.command('revoke').description('revoke a token by name').argument('<name>'),
  ).action(async (name: string, flags: StoreOption) => {
    const removed = await withStore(flags, (store) => store.revokeToken(name));
    if (!removed) throw usageError(`no token named ${name}`);
    println(`token ${name} revoked`);
  });
}
