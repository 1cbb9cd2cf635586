import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { MAX_POOLED_CLIENTS, RegistryClientPool } from '../../src/registry/client-pool.js';
import { parseDockerConfig } from '../../src/registry/credentials.js';

const config = (password: string) =>
  parseDockerConfig(JSON.stringify({ auths: { 'mirror.test:5000': { username: 'u', password } } }));

describe('RegistryClientPool', () => {
  it('keeps one client per access configuration: equal access, same client; any change, another', async () => {
    const pool = new RegistryClientPool();
    try {
      const a = pool.clientFor({ credentials: config('one') });
      assert.equal(pool.clientFor({ credentials: config('one') }), a);
      // A changed password never reuses the tokens fetched with the old one.
      assert.notEqual(pool.clientFor({ credentials: config('two') }), a);
      assert.notEqual(pool.clientFor({}), a);
      assert.notEqual(
        pool.clientFor({ credentials: config('one'), proxy: { httpsProxy: 'http://p:3128' } }),
        a,
      );
      assert.notEqual(pool.clientFor({ credentials: config('one'), extraCa: 'PEM' }), a);
    } finally {
      await pool.close();
    }
  });

  it(`drops the least recently used client beyond ${MAX_POOLED_CLIENTS}`, async () => {
    const pool = new RegistryClientPool();
    try {
      const first = pool.clientFor({ credentials: config('p0') });
      for (let i = 1; i <= MAX_POOLED_CLIENTS; i++)
        pool.clientFor({ credentials: config(`p${i}`) });
      assert.notEqual(pool.clientFor({ credentials: config('p0') }), first);
    } finally {
      await pool.close();
    }
  });

  it('tells credentials apart by a fingerprint that is not the secret', () => {
    assert.equal(config('one').fingerprint(), config('one').fingerprint());
    assert.notEqual(config('one').fingerprint(), config('two').fingerprint());
    assert.ok(!config('one').fingerprint().includes(Buffer.from('u:one').toString('base64')));
  });
});
