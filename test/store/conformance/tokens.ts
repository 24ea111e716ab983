/** The store contract: access tokens. */
import { describe, expect, it } from 'vitest';
import type { Store } from '../../../src/store/store.js';
import { newTask, useStore, worker, type OpenStore } from './harness.js';

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

    it('gives each token an id of its own, never reused with its name, and keeps its types', async () => {
      const first = await store.createToken({
        name: 'ci',
        role: 'client',
        capabilities: [],
        types: ['build', 'shell'],
        hash: hash('a'),
      });
      expect(first).toMatchObject({ name: 'ci', types: ['build', 'shell'] });
      expect(first.id).toMatch(/^\S{8,}$/);
      expect(await store.findToken(hash('a'))).toMatchObject({
        id: first.id,
        types: ['build', 'shell'],
      });
      await store.revokeToken('ci');
      const second = await store.createToken({
        name: 'ci',
        role: 'client',
        capabilities: [],
        hash: hash('b'),
      });
      expect(second.id).not.toBe(first.id);
      expect(second.types).toEqual([]);
      expect((await store.listTokens()).map((t) => [t.id, t.types])).toEqual([[second.id, []]]);
    });

    it('a claim with needsCapability takes only tasks that need a capability it offers', async () => {
      await store.registerWorker(worker({ id: 'w', capabilities: ['gpu'] }));
      const plain = newTask({ type: 'x' });
      const gpu = newTask({ type: 'x', capabilities: ['gpu'] });
      const other = newTask({ type: 'x', capabilities: ['tpu'] });
      await store.submit([plain, gpu, other]);
      const claimed = await store.claim({
        workerId: 'w',
        limit: 10,
        capabilities: ['gpu'],
        types: null,
        needsCapability: true,
      });
      expect(claimed.map((t) => t.id)).toEqual([gpu.id]);
      // The same under per-type limits (the other claim path).
      await store.submit([newTask({ type: 'y' }), newTask({ type: 'y', capabilities: ['gpu'] })]);
      const limited = await store.claim({
        workerId: 'w',
        limit: 10,
        capabilities: ['gpu'],
        types: null,
        typeLimits: { y: 5 },
        needsCapability: true,
      });
      expect(limited.map((t) => [t.type, t.capabilities])).toEqual([['y', ['gpu']]]);
      expect((await store.getTask(plain.id))?.state).toBe('queued');
    });
  });
}
