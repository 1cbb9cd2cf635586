import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { loadKeyring } from '../../src/gpg/keyring.js';
import type { Keyring } from '../../src/gpg/keyring.js';
import { MemorySignatureStore } from '../../src/stores/memory-store.js';
import type { SignatureStore, StoreEvent } from '../../src/stores/store.js';
import { GpgReleaseVerifier } from '../../src/verify/gpg-verifier.js';
import { verifyRelease } from '../../src/verify/release-verifier.js';
import { LruCache } from '../../src/verify/verdict-cache.js';
import type { GpgResult } from '../../src/verify/gpg-verifier.js';
import { atomicPayload, GnuPG, randomDigest } from '../helpers/gnupg.js';
import type { GpgKey } from '../helpers/gnupg.js';

/** A store that records how often it was read and can stall until aborted. */
class CountingStore implements SignatureStore {
  reads = 0;
  private readonly inner: SignatureStore;
  private readonly stall: boolean;
  constructor(inner: SignatureStore, stall = false) {
    this.inner = inner;
    this.stall = stall;
  }
  describe(): string {
    return `counting(${this.inner.describe()})`;
  }
  async *signatures(digest: string, signal: AbortSignal): AsyncIterable<StoreEvent> {
    this.reads++;
    if (this.stall) {
      await new Promise<void>((resolve) => {
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
      yield { kind: 'end', reason: 'aborted', detail: 'stalled until aborted' };
      return;
    }
    yield* this.inner.signatures(digest, signal);
  }
}

describe('GpgReleaseVerifier', () => {
  let gpg: GnuPG;
  let a: GpgKey;
  let a2: GpgKey;
  let b: GpgKey;
  let ringA: Keyring;
  let ringB: Keyring;

  before(async () => {
    gpg = await GnuPG.create();
    a = await gpg.generateKey('A <a@example.com>', 'ed25519');
    a2 = await gpg.generateKey('A2 <a2@example.com>', 'ed25519');
    b = await gpg.generateKey('B <b@example.com>', 'ed25519');
    ringA = await loadKeyring('verifier-public-key-a', await gpg.exportPublicKey([a, a2]));
    ringB = await loadKeyring('verifier-public-key-b', await gpg.exportPublicKey(b));
  });
  after(async () => gpg.cleanup());

  const sign = (digest: string, key: GpgKey): Promise<Buffer> =>
    gpg.sign(atomicPayload(digest), { key: `${key.fingerprint}!` });

  describe('when there are several keyrings', () => {
    it('requires every keyring to be satisfied', async () => {
      const digest = randomDigest();
      const store = new MemorySignatureStore({ [digest]: [await sign(digest, a)] });
      const result = await new GpgReleaseVerifier({
        trust: { source: 't', keyrings: [ringA, ringB] },
        stores: [store],
      }).verify(digest);
      assert.equal(result.verified, false);
      assert.equal(
        result.message,
        `unable to verify ${digest} against keyrings: verifier-public-key-b`,
      );
      assert.deepEqual(
        result.checks.map((c) => [c.keyring, c.verified]),
        [
          ['verifier-public-key-a', true],
          ['verifier-public-key-b', false],
        ],
      );
      assert.equal(result.checks[1]?.code, 'UNKNOWN_KEY');
    });

    it('verifies when each keyring is satisfied by a signature from any of its keys', async () => {
      const digest = randomDigest();
      const store = new MemorySignatureStore({
        [digest]: [await sign(digest, b), await sign(digest, a2)],
      });
      const result = await new GpgReleaseVerifier({
        trust: { source: 't', keyrings: [ringA, ringB] },
        stores: [store],
      }).verify(digest);
      assert.equal(result.verified, true, result.details.join('\n'));
      assert.equal(
        result.checks[0]?.evidence.find((e) => e.outcome === 'verified')?.keyId,
        a2.keyId,
      );
      assert.equal(result.signatures.length, 2);
    });
  });

  it('trusts only the first armored block of a keyring value, as Go ReadArmoredKeyRing', async () => {
    // Two armored blocks in one value: library-go reads the first and never sees the second, so
    // a signature by the second block's key must not verify (it did: a false accept).
    const twoBlocks = await loadKeyring(
      'verifier-public-key-two-blocks',
      Buffer.concat([await gpg.exportPublicKey(a), await gpg.exportPublicKey(b)]),
    );
    assert.equal(twoBlocks.keys.length, 1);
    const digest = randomDigest();
    const bySecond = await new GpgReleaseVerifier({
      trust: { source: 't', keyrings: [twoBlocks] },
      stores: [new MemorySignatureStore({ [digest]: [await sign(digest, b)] })],
    }).verify(digest);
    assert.equal(bySecond.verified, false);
    assert.equal(bySecond.checks[0]?.code, 'UNKNOWN_KEY');
    const byFirst = await new GpgReleaseVerifier({
      trust: { source: 't', keyrings: [twoBlocks] },
      stores: [new MemorySignatureStore({ [digest]: [await sign(digest, a)] })],
    }).verify(digest);
    assert.equal(byFirst.verified, true, byFirst.details.join('\n'));
  });

  it('rejects a valid signature for another digest, naming why', async () => {
    const digest = randomDigest();
    const store = new MemorySignatureStore({ [digest]: [await sign(randomDigest(), a)] });
    const result = await new GpgReleaseVerifier({
      trust: { source: 't', keyrings: [ringA] },
      stores: [store],
    }).verify(digest);
    assert.equal(result.verified, false);
    assert.equal(result.checks[0]?.code, 'PAYLOAD_DIGEST_MISMATCH');
    assert.match(result.checks[0].reason, /signature digest does not match/);
  });

  it('says NOT_SIGNED when no store has a signature', async () => {
    const result = await new GpgReleaseVerifier({
      trust: { source: 't', keyrings: [ringA] },
      stores: [new MemorySignatureStore()],
    }).verify(randomDigest());
    assert.equal(result.verified, false);
    assert.equal(result.code, 'NOT_SIGNED');
    assert.match(result.checks[0]?.reason ?? '', /no signature found/);
  });

  describe('when stores are read', () => {
    it('stops the other stores once every keyring is satisfied (parallel)', async () => {
      const digest = randomDigest();
      const good = new CountingStore(
        new MemorySignatureStore({ [digest]: [await sign(digest, a)] }, 'good'),
      );
      const stalled = new CountingStore(new MemorySignatureStore({}, 'stalled'), true);
      const started = Date.now();
      const result = await new GpgReleaseVerifier({
        trust: { source: 't', keyrings: [ringA] },
        stores: [stalled, good],
        budgetMs: 20_000,
      }).verify(digest);
      assert.equal(result.verified, true);
      assert.ok(Date.now() - started < 5000, 'the stalled store was not cancelled');
      assert.equal(result.stores.find((s) => s.store.includes('stalled'))?.end?.reason, 'aborted');
    });

    it('does not read later stores in serial mode once verified', async () => {
      const digest = randomDigest();
      const first = new CountingStore(
        new MemorySignatureStore({ [digest]: [await sign(digest, a)] }, 'first'),
      );
      const second = new CountingStore(new MemorySignatureStore({}, 'second'));
      const result = await new GpgReleaseVerifier({
        trust: { source: 't', keyrings: [ringA] },
        stores: [first, second],
        mode: 'serial',
      }).verify(digest);
      assert.equal(result.verified, true);
      assert.equal(second.reads, 0);
    });

    it('gives up within the budget when a store hangs', async () => {
      const stalled = new CountingStore(new MemorySignatureStore({}, 'stalled'), true);
      const started = Date.now();
      const result = await new GpgReleaseVerifier({
        trust: { source: 't', keyrings: [ringA] },
        stores: [stalled],
        budgetMs: 200,
      }).verify(randomDigest());
      assert.equal(result.verified, false);
      assert.ok(Date.now() - started < 3000);
      assert.ok(result.details.some((d) => /budget of 200 ms exhausted/.test(d)));
    });

    it('honours the caller’s abort signal', async () => {
      const stalled = new CountingStore(new MemorySignatureStore({}, 'stalled'), true);
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      const result = await new GpgReleaseVerifier({
        trust: { source: 't', keyrings: [ringA] },
        stores: [stalled],
      }).verify(randomDigest(), controller.signal);
      assert.equal(result.verified, false);
      assert.ok(result.details.includes('verification was cancelled'));
    });
  });

  describe('when verdicts are cached', () => {
    it('caches successes per digest and trust, never failures', async () => {
      const digest = randomDigest();
      const memory = new MemorySignatureStore({}, 'mem');
      const store = new CountingStore(memory);
      const cache = new LruCache<GpgResult>(64);
      const verifier = new GpgReleaseVerifier({
        trust: { source: 't', keyrings: [ringA] },
        stores: [store],
        cache,
      });
      assert.equal((await verifier.verify(digest)).verified, false);
      assert.equal((await verifier.verify(digest)).verified, false);
      assert.equal(store.reads, 2, 'a failure must not be cached');
      memory.set(digest, [await sign(digest, a)]);
      const first = await verifier.verify(digest);
      const second = await verifier.verify(digest);
      assert.equal(first.verified && !first.cached, true);
      assert.equal(second.verified && second.cached, true);
      assert.equal(store.reads, 3);
      // Another trust (keyring B) sharing the cache must not reuse A's success.
      const other = new GpgReleaseVerifier({
        trust: { source: 't', keyrings: [ringB] },
        stores: [store],
        cache,
      });
      assert.equal((await other.verify(digest)).verified, false);
    });

    it('never reuses a verdict once a revocation is added to the keyring', async () => {
      const key = await gpg.generateKey('Revocable <revocable@example.com>', 'nistp256');
      const digest = randomDigest();
      const store = new CountingStore(
        new MemorySignatureStore({ [digest]: [await sign(digest, key)] }),
      );
      const cache = new LruCache<GpgResult>(64);
      const before = await loadKeyring('verifier-public-key-r', await gpg.exportPublicKey(key));
      const verifier = (ring: Keyring) =>
        new GpgReleaseVerifier({
          trust: { source: 't', keyrings: [ring] },
          stores: [store],
          cache,
        });
      assert.equal((await verifier(before).verify(digest)).verified, true);
      assert.equal((await verifier(before).verify(digest)).cached, true);
      await gpg.revokeKey(key);
      // The same name and fingerprint, now carrying a revocation: a fresh verdict, refused.
      const after = await loadKeyring('verifier-public-key-r', await gpg.exportPublicKey(key));
      assert.deepEqual(after.fingerprints(), before.fingerprints());
      const result = await verifier(after).verify(digest);
      assert.equal(result.verified, false);
      assert.equal(result.cached, false);
      assert.equal(result.checks[0]?.code, 'KEY_REVOKED');
    });

    it('judges time again on a cache hit: a signature past its expiry is no longer verified', async () => {
      const signedAt = new Date(Date.now() - 2 * 86_400_000);
      const old = await gpg.generateKey('Expiring <expiring@example.com>', 'nistp256', {
        at: new Date(signedAt.getTime() - 3_600_000),
      });
      const ring = await loadKeyring('verifier-public-key-x', await gpg.exportPublicKey(old));
      const digest = randomDigest();
      const signature = await gpg.sign(atomicPayload(digest), {
        key: `${old.fingerprint}!`,
        at: signedAt,
        expire: '1d',
      });
      const store = new CountingStore(new MemorySignatureStore({ [digest]: [signature] }));
      const cache = new LruCache<GpgResult>(64);
      let now = new Date(signedAt.getTime() + 3_600_000);
      const verifier = new GpgReleaseVerifier({
        trust: { source: 't', keyrings: [ring] },
        stores: [store],
        cache,
        now: () => now,
      });
      assert.equal((await verifier.verify(digest)).verified, true);
      assert.equal((await verifier.verify(digest)).cached, true);
      assert.equal(store.reads, 1, 'a cache hit reads no store');
      now = new Date();
      const later = await verifier.verify(digest);
      assert.equal(later.verified, false);
      assert.equal(later.cached, false);
      assert.equal(cache.size, 0, 'the stale verdict is dropped');
    });

    it('is bounded (64 by default)', () => {
      const cache = new LruCache<number>();
      for (let i = 0; i < 100; i++) cache.set(String(i), i);
      assert.equal(cache.size, 64);
    });
  });
});

describe('verifyRelease', () => {
  it('refuses by-tag and malformed pullspecs before any check, with the CVO texts', async () => {
    const byTag = await verifyRelease(
      'quay.io/openshift-release-dev/ocp-release:4.17.0-x86_64',
      {},
    );
    assert.equal(byTag.verified, false);
    assert.equal(byTag.code, 'NOT_BY_DIGEST');
    assert.equal(
      byTag.message,
      'release images that are not accessed via digest cannot be verified',
    );
    const bad = await verifyRelease('quay.io/a/b@sha256:xyz!', {});
    assert.equal(bad.code, 'INVALID_DIGEST');
  });

  it('never says verified when no check is configured', async () => {
    await assert.rejects(
      verifyRelease(`quay.io/a/b@${randomDigest()}`, {}),
      /no verification is configured/,
    );
  });
});
