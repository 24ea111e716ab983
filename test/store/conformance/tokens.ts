/** The store contract: access tokens. */
import { describe, expect, it } from 'vitest';
import type { Store } from '../../../src/store/store.js';
import { useStore, type OpenStore } from './harness.js';

export function describeTokens(name: string, open: OpenStore): void {
  describe(`store conformance: ${name}: access tokens`, () => {
    let store: Store;
    useStore(open, (opened) => (store = opened));
    const hash = (c: string): string => c.repeat(64);

    it('creates, finds by hash, lists without hashes and revokes tokens', async () => {
      const made = await store.createToken({
        name: 'ci',
        role: 'worker',
        capabilities: ['docs'],
        hash: hash('a'),
      });
      expect(made).toMatchObject({ name: 'ci', role: 'worker', capabilities: ['docs'] });
      await store.createToken({ name: 'ops', role: 'admin', capabilities: [], hash: hash('b') });
      expect(await store.findToken(hash('a'))).toMatchObject({ name: 'ci', hash: hash('a') });
      expect(await store.findToken(hash('c'))).toBeNull();
      const listed = await store.listTokens();
      expect(listed.map((t) => t.name)).toEqual(['ci', 'ops']);
      expect(JSON.stringify(listed)).not.toContain(hash('a'));
      expect(await store.revokeToken('ci')).toBe(true);
      expect(await store.revokeToken('ci')).toBe(false);
      expect(await store.findToken(hash('a'))).toBeNull();
      const events = await store.listEvents({});
      expect(events.map((e) => e.type)).toEqual([
        'token:created',
        'token:created',
        'token:revoked',
      ]);
      expect(JSON.stringify(events)).not.toContain(hash('a'));
    });

    it('refuses a second token with the same name or hash and keeps the first', async () => {
      await store.createToken({ name: 'ci', role: 'read', capabilities: [], hash: hash('a') });
      for (const dup of [
        { name: 'ci', role: 'admin' as const, capabilities: [], hash: hash('b') },
        { name: 'other', role: 'admin' as const, capabilities: [], hash: hash('a') },
      ]) {
        await expect(store.createToken(dup)).rejects.toMatchObject({ code: 'TOKEN_EXISTS' });
      }
      expect(await store.listTokens()).toEqual([
        expect.objectContaining({ name: 'ci', role: 'read' }),
      ]);
      expect(await store.findToken(hash('b'))).toBeNull();
    });
  });
}
