import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { VerifyError } from '../../src/errors.js';
import { KeyringCache, loadKeyring, MAX_KEYRING_BYTES } from '../../src/gpg/keyring.js';
import { loadRootOfTrust, MAX_MANIFEST_BYTES } from '../../src/gpg/root-of-trust.js';
import { verifySignedMessage } from '../../src/gpg/verify-message.js';
import { atomicPayload, GnuPG, randomDigest } from '../helpers/gnupg.js';
import type { GpgKey } from '../helpers/gnupg.js';

const ANNOTATION = 'release.openshift.io/verification-config-map';

function configMapJson(armored: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: 'release-verification',
      namespace: 'openshift-config-managed',
      annotations: { [ANNOTATION]: '' },
    },
    data: { 'verifier-public-key-a': armored, 'store-a': 'file:///nowhere' },
  });
}

describe('keyring cache', () => {
  let gpg: GnuPG;
  let key: GpgKey;
  let armored: Buffer;
  let binary: Buffer;
  let dir: string;

  before(async () => {
    gpg = await GnuPG.create();
    key = await gpg.generateKey('Cache <cache@example.com>', 'nistp256');
    armored = await gpg.exportPublicKey(key);
    binary = await gpg.exportPublicKey(key, false);
    dir = await mkdtemp(join(tmpdir(), 'cvo-keyring-cache-'));
  });
  after(async () => {
    await gpg.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  describe('when the same name and bytes are loaded again', () => {
    it('returns the keyring parsed the first time', async () => {
      const cache = new KeyringCache();
      const first = await loadKeyring('verifier-public-key-a', armored, { cache });
      const second = await loadKeyring('verifier-public-key-a', Buffer.from(armored), { cache });
      assert.equal(second, first);
      assert.equal(cache.size, 1);
    });

    it('still verifies with the shared keyring, each time at the time asked', async () => {
      const cache = new KeyringCache();
      const digest = randomDigest();
      const signature = await gpg.sign(atomicPayload(digest), { key: `${key.fingerprint}!` });
      for (let i = 0; i < 2; i++) {
        const ring = await loadKeyring('verifier-public-key-a', armored, { cache });
        const verified = await verifySignedMessage(signature, ring);
        assert.equal(verified.keyId.toUpperCase(), key.keyId.toUpperCase());
      }
      const ring = await loadKeyring('verifier-public-key-a', armored, { cache });
      // A signature from before the key existed is refused whatever was verified before.
      await assert.rejects(
        verifySignedMessage(signature, ring, { now: new Date(0) }),
        (err: unknown) => err instanceof VerifyError,
      );
    });
  });

  describe('when anything differs', () => {
    it('parses again: another name, other bytes for the same key, other keys', async () => {
      const cache = new KeyringCache();
      const a = await loadKeyring('verifier-public-key-a', armored, { cache });
      const b = await loadKeyring('verifier-public-key-b', armored, { cache });
      const c = await loadKeyring('verifier-public-key-a', binary, { cache });
      const other = await gpg.exportPublicKey(
        await gpg.generateKey('Other <other@example.com>', 'nistp256'),
      );
      const d = await loadKeyring('verifier-public-key-a', other, { cache });
      assert.equal(new Set([a, b, c, d]).size, 4);
      assert.equal(b.name, 'verifier-public-key-b');
      assert.equal(new Set([a, b, c, d].map((k) => k.contentDigest())).size, 4);
      assert.equal(cache.size, 4);
    });
  });

  describe('when a load fails', () => {
    it('is not kept: the next load parses (and fails) again', async () => {
      const cache = new KeyringCache();
      for (let i = 0; i < 2; i++) {
        await assert.rejects(
          loadKeyring('verifier-public-key-a', Buffer.from('not a key'), { cache }),
          (err: unknown) => err instanceof VerifyError && err.code === 'INVALID_KEY',
        );
      }
      assert.equal(cache.size, 0);
    });

    it('refuses oversize input before hashing or caching it', async () => {
      const cache = new KeyringCache();
      await assert.rejects(
        loadKeyring('k', new Uint8Array(MAX_KEYRING_BYTES + 1), { cache }),
        /larger than/,
      );
      assert.equal(cache.size, 0);
    });
  });

  describe('bounds', () => {
    it('maxEntries 0 parses every time', async () => {
      const cache = new KeyringCache({ maxEntries: 0 });
      const a = await loadKeyring('k', armored, { cache });
      const b = await loadKeyring('k', armored, { cache });
      assert.notEqual(a, b);
      assert.equal(cache.size, 0);
    });

    it('drops the least recently used entry beyond maxEntries', async () => {
      const cache = new KeyringCache({ maxEntries: 2 });
      const a = await loadKeyring('a', armored, { cache });
      await loadKeyring('b', armored, { cache });
      assert.equal(await loadKeyring('a', armored, { cache }), a); // a is now the newest
      await loadKeyring('c', armored, { cache }); // drops b
      assert.equal(cache.size, 2);
      assert.equal(await loadKeyring('a', armored, { cache }), a);
    });

    it('keeps at most maxBytes of input, and never a keyring larger than that', async () => {
      const cache = new KeyringCache({ maxBytes: armored.length * 2 });
      await loadKeyring('a', armored, { cache });
      await loadKeyring('b', armored, { cache });
      await loadKeyring('c', armored, { cache });
      assert.equal(cache.size, 2);
      const small = new KeyringCache({ maxBytes: armored.length - 1 });
      const x = await loadKeyring('a', armored, { cache: small });
      assert.notEqual(await loadKeyring('a', armored, { cache: small }), x);
      assert.equal(small.size, 0);
    });

    it('refuses bounds that are not non-negative integers', () => {
      assert.throws(() => new KeyringCache({ maxEntries: -1 }), RangeError);
      assert.throws(() => new KeyringCache({ maxBytes: 1.5 }), RangeError);
    });
  });

  describe('self-signatures checked with node:crypto (RSA)', () => {
    const mark = (sig: object): unknown => {
      const symbol = Object.getOwnPropertySymbols(sig).find((x) => x.description === 'verified');
      assert.ok(symbol, 'openpgp.js no longer marks verified signatures this way');
      return (sig as Record<symbol, unknown>)[symbol];
    };

    it('records a valid self-certification as verified', async () => {
      const rsa = await gpg.generateKey('Rsa <rsa@example.com>', 'rsa2048');
      const ring = await loadKeyring('k', await gpg.exportPublicKey(rsa), {
        cache: new KeyringCache({ maxEntries: 0 }),
      });
      const digest = randomDigest();
      const signature = await gpg.sign(atomicPayload(digest), { key: `${rsa.fingerprint}!` });
      await verifySignedMessage(signature, ring);
      const certs = ring.keys[0]!.users.flatMap((u) => u.selfCertifications);
      assert.ok(certs.length > 0);
      for (const cert of certs) assert.equal(mark(cert), true);
    });

    it('leaves a corrupted one to openpgp.js, which refuses the key', async () => {
      const rsa = await gpg.generateKey('Bad <bad@example.com>', 'rsa2048');
      const ring = await loadKeyring('k', await gpg.exportPublicKey(rsa), {
        cache: new KeyringCache({ maxEntries: 0 }),
      });
      const certs = ring.keys[0]!.users.flatMap((u) => u.selfCertifications);
      for (const cert of certs) {
        const s = (cert as unknown as { params: { s: Uint8Array } }).params.s;
        s[s.length - 1] = (s[s.length - 1] ?? 0) ^ 1;
      }
      const digest = randomDigest();
      const signature = await gpg.sign(atomicPayload(digest), { key: `${rsa.fingerprint}!` });
      await assert.rejects(
        verifySignedMessage(signature, ring),
        (err: unknown) => err instanceof VerifyError && err.code === 'KEY_NOT_VALID',
      );
      for (const cert of certs) assert.notEqual(mark(cert), true);
    });
  });

  describe('loadRootOfTrust', () => {
    it('uses the cache it is given', async () => {
      const path = join(dir, 'cm.json');
      await writeFile(path, configMapJson(armored.toString('utf8')));
      const cache = new KeyringCache();
      const a = await loadRootOfTrust(path, { keyringCache: cache });
      const b = await loadRootOfTrust(path, { keyringCache: cache });
      assert.equal(b.keyrings[0], a.keyrings[0]);
      const fresh = await loadRootOfTrust(path, { keyringCache: new KeyringCache() });
      assert.notEqual(fresh.keyrings[0], a.keyrings[0]);
    });

    it('reads a file in one piece whatever its size, up to the limit', async () => {
      const path = join(dir, 'padded.yaml');
      // Padding comments around the ConfigMap: a file longer than one 64 KiB read.
      const padding = `# ${'x'.repeat(100)}\n`.repeat(2000);
      await writeFile(path, `${padding}${configMapJson(armored.toString('utf8'))}\n${padding}`);
      const trust = await loadRootOfTrust(path, { keyringCache: new KeyringCache() });
      assert.equal(trust.keyrings.length, 1);
      const big = join(dir, 'big.yaml');
      await writeFile(big, Buffer.alloc(MAX_MANIFEST_BYTES + 1, 0x20));
      await assert.rejects(
        loadRootOfTrust(big),
        (err: unknown) => err instanceof VerifyError && err.code === 'ROOT_OF_TRUST_INVALID',
      );
    });

    it('reads a pipe to its end (--root-of-trust <(…))', async () => {
      const text = configMapJson(armored.toString('utf8'));
      // As a shell's process substitution gives: a pipe another process writes.
      const fifo = join(dir, 'fifo');
      await new Promise<void>((resolve, reject) => {
        spawn('mkfifo', [fifo]).on('exit', (code) =>
          code === 0 ? resolve() : reject(new Error(`mkfifo exited ${String(code)}`)),
        );
      });
      const writer = (async () => {
        // Written in small pieces, so the reader sees several reads before the end.
        const handle = await open(fifo, 'w');
        for (let i = 0; i < text.length; i += 100) await handle.write(text.slice(i, i + 100));
        await handle.close();
      })();
      const [trust] = await Promise.all([
        loadRootOfTrust(fifo, { keyringCache: new KeyringCache() }),
        writer,
      ]);
      assert.equal(trust.keyrings.length, 1);
    });
  });
});
