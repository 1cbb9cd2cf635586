import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { VerifyError } from '../../src/errors.js';
import type { VerifyErrorCode } from '../../src/errors.js';
import { loadKeyring } from '../../src/gpg/keyring.js';
import type { Keyring } from '../../src/gpg/keyring.js';
import { verifySignedMessage } from '../../src/gpg/verify-message.js';
import { atomicPayload, GnuPG, randomDigest } from '../helpers/gnupg.js';
import type { GpgKey } from '../helpers/gnupg.js';

const DAY = 24 * 3600 * 1000;

function rejectsWith(code: VerifyErrorCode, pattern?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof VerifyError, `expected VerifyError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (pattern) assert.match(err.message, pattern);
    return true;
  };
}

describe('verifySignedMessage with signatures made by GnuPG', () => {
  let gpg: GnuPG;
  let rsa: GpgKey;
  let ed: GpgKey;
  let ecdsa: GpgKey;
  let other: GpgKey;
  let rsaRing: Keyring;
  let aged: GpgKey;
  let agedRing: Keyring;
  const payload = atomicPayload(randomDigest());
  const primary = (k: GpgKey): string => `${k.fingerprint}!`;

  before(async () => {
    gpg = await GnuPG.create();
    rsa = await gpg.generateKey('RSA Release <rsa@example.com>', 'rsa2048');
    ed = await gpg.generateKey('Ed Release <ed@example.com>', 'ed25519');
    ecdsa = await gpg.generateKey('EC Release <ec@example.com>', 'nistp256');
    other = await gpg.generateKey('Other <other@example.com>', 'rsa2048');
    rsaRing = await loadKeyring('verifier-public-key-rsa', await gpg.exportPublicKey(rsa));
    aged = await gpg.generateKey('Aged <aged@example.com>', 'rsa2048', {
      at: new Date(Date.now() - 10 * DAY),
    });
    agedRing = await loadKeyring('aged', await gpg.exportPublicKey(aged));
  });
  after(async () => gpg.cleanup());

  describe('when the signature is valid', () => {
    const variants: [
      string,
      Parameters<GnuPG['sign']>[1] extends infer O ? Omit<O & object, 'key'> : never,
    ][] = [
      ['compressed binary (gpg --sign)', {}],
      ['uncompressed', { compress: false }],
      ['text mode', { textMode: true }],
      ['SHA-512', { digestAlgo: 'SHA512' }],
    ];
    for (const [name, options] of variants) {
      it(`verifies RSA, ${name}`, async () => {
        const signed = await gpg.sign(payload, { key: primary(rsa), ...options });
        const result = await verifySignedMessage(signed, rsaRing);
        assert.equal(Buffer.from(result.data).toString(), payload);
        assert.equal(result.keyId.toUpperCase(), rsa.keyId);
        assert.equal(result.signatureVersion, 4);
        assert.deepEqual(result.userIds, [rsa.uid]);
      });
    }

    it('refuses a one-pass packet not marked last, as x/crypto/openpgp (nested signatures)', async () => {
      const signed = Buffer.from(await gpg.sign(payload, { key: primary(rsa), compress: false }));
      // gpg writes the one-pass packet first: an old-format header (tag 4) and a 13-byte body
      // whose last byte is the "last" flag, which the signature does not cover.
      assert.equal(signed[0], 0x90);
      assert.equal(signed[1], 13);
      assert.equal(signed[14], 1);
      assert.ok((await verifySignedMessage(signed, rsaRing)).data.length > 0);
      signed[14] = 0;
      await assert.rejects(
        verifySignedMessage(signed, rsaRing),
        (err) => err instanceof VerifyError && err.code === 'UNSUPPORTED_MESSAGE',
      );
    });

    it('refuses an armored signed message, as library-go (binary packets only)', async () => {
      const signed = await gpg.sign(payload, { key: primary(rsa), armor: true });
      await assert.rejects(
        verifySignedMessage(signed, rsaRing),
        (err) => err instanceof VerifyError && err.code === 'UNSUPPORTED_MESSAGE',
      );
    });

    it('verifies Ed25519 (EdDSA) signatures', async () => {
      const ring = await loadKeyring('ed', await gpg.exportPublicKey(ed));
      const result = await verifySignedMessage(await gpg.sign(payload, { key: primary(ed) }), ring);
      assert.equal(result.keyId.toUpperCase(), ed.keyId);
    });

    it('verifies DSA signatures (x/crypto/openpgp, and so the CVO, verifies them)', async () => {
      const dsa = await gpg.generateKey('DSA <dsa@example.com>', 'dsa2048');
      const ring = await loadKeyring('dsa', await gpg.exportPublicKey(dsa));
      const result = await verifySignedMessage(
        await gpg.sign(payload, { key: primary(dsa) }),
        ring,
      );
      assert.equal(result.keyId.toUpperCase(), dsa.keyId);
      await assert.rejects(
        verifySignedMessage(await gpg.sign(payload, { key: primary(dsa) }), rsaRing),
        (err) => err instanceof VerifyError,
      );
    });

    it('verifies ECDSA P-256 signatures', async () => {
      const ring = await loadKeyring('ec', await gpg.exportPublicKey(ecdsa));
      const result = await verifySignedMessage(
        await gpg.sign(payload, { key: primary(ecdsa) }),
        ring,
      );
      assert.equal(result.keyId.toUpperCase(), ecdsa.keyId);
    });

    it('accepts a signature from any key of a keyring holding several', async () => {
      const ring = await loadKeyring('both', await gpg.exportPublicKey([other, rsa]));
      assert.equal(ring.keys.length, 2);
      const result = await verifySignedMessage(
        await gpg.sign(payload, { key: primary(rsa) }),
        ring,
      );
      assert.equal(result.fingerprint.toUpperCase(), rsa.fingerprint);
    });

    it('loads binary keyrings and tolerates junk after the armor END line', async () => {
      const binary = await loadKeyring('bin', await gpg.exportPublicKey(rsa, false));
      const junk = await loadKeyring(
        'junk',
        Buffer.concat([await gpg.exportPublicKey(rsa), Buffer.from('"\ntrailing junk\n')]),
      );
      const signed = await gpg.sign(payload, { key: primary(rsa) });
      for (const ring of [binary, junk])
        assert.equal((await verifySignedMessage(signed, ring)).keyId.toUpperCase(), rsa.keyId);
    });

    it('rejects an armored keyring whose CRC does not match', async () => {
      const armored = (await gpg.exportPublicKey(rsa)).toString();
      const broken = armored.replace(
        /\n=(....)\n/,
        (_m, crc: string) => `\n=${crc === 'AAAA' ? 'BBBB' : 'AAAA'}\n`,
      );
      await assert.rejects(
        loadKeyring('bad', Buffer.from(broken)),
        rejectsWith('MALFORMED_MESSAGE', /CRC-24/),
      );
    });
  });

  describe('when keys have subkeys, expiry and revocations', () => {
    it('verifies signatures made by a signing subkey', async () => {
      const g = await GnuPG.create();
      try {
        const key = await g.generateKey('Sub <sub@example.com>', 'rsa2048');
        const sub = await g.addSigningSubkey(key, 'ed25519');
        const ring = await loadKeyring('sub', await g.exportPublicKey(key));
        const result = await verifySignedMessage(
          await g.sign(payload, { key: `${sub.keyId}!` }),
          ring,
        );
        assert.equal(result.keyId.toUpperCase(), sub.keyId);
        assert.equal(result.fingerprint.toUpperCase(), key.fingerprint);
      } finally {
        await g.cleanup();
      }
    });

    it('rejects signatures by a revoked subkey, but not by its intact primary', async () => {
      const g = await GnuPG.create();
      try {
        const key = await g.generateKey('RevSub <revsub@example.com>', 'rsa2048');
        const sub = await g.addSigningSubkey(key, 'ed25519');
        const bySub = await g.sign(payload, { key: `${sub.keyId}!` });
        const byPrimary = await g.sign(payload, { key: `${key.fingerprint}!` });
        await g.revokeSubkey(key, 1);
        const ring = await loadKeyring('revsub', await g.exportPublicKey(key));
        await assert.rejects(
          verifySignedMessage(bySub, ring),
          rejectsWith('KEY_REVOKED', /subkey/),
        );
        assert.equal((await verifySignedMessage(byPrimary, ring)).keyId.toUpperCase(), key.keyId);
      } finally {
        await g.cleanup();
      }
    });

    it('rejects signatures by a revoked key, even ones made before the revocation', async () => {
      const g = await GnuPG.create();
      try {
        const key = await g.generateKey('Rev <rev@example.com>', 'rsa2048', {
          at: new Date(Date.now() - 10 * DAY),
        });
        const old = await g.sign(payload, {
          key: `${key.fingerprint}!`,
          at: new Date(Date.now() - 5 * DAY),
        });
        const intact = await loadKeyring('rev', await g.exportPublicKey(key));
        assert.ok(await verifySignedMessage(old, intact));
        await g.revokeKey(key);
        const revoked = await loadKeyring('rev', await g.exportPublicKey(key));
        await assert.rejects(verifySignedMessage(old, revoked), rejectsWith('KEY_REVOKED'));
      } finally {
        await g.cleanup();
      }
    });

    it('verifies a signature made before the key expired (like the openshift-ci key)', async () => {
      const g = await GnuPG.create();
      try {
        const key = await g.generateKey('Expired <exp@example.com>', 'rsa2048', {
          at: new Date(Date.now() - 30 * DAY),
          expire: '10d',
        });
        const signed = await g.sign(payload, {
          key: `${key.fingerprint}!`,
          at: new Date(Date.now() - 25 * DAY),
        });
        const ring = await loadKeyring('exp', await g.exportPublicKey(key));
        assert.equal((await verifySignedMessage(signed, ring)).keyId.toUpperCase(), key.keyId);
      } finally {
        await g.cleanup();
      }
    });

    it('rejects a signature made after the key expired', async () => {
      const g = await GnuPG.create();
      try {
        const key = await g.generateKey('Late <late@example.com>', 'rsa2048', {
          at: new Date(Date.now() - 30 * DAY),
        });
        const early = await g.sign(payload, {
          key: `${key.fingerprint}!`,
          at: new Date(Date.now() - 28.5 * DAY),
        });
        const late = await g.sign(payload, {
          key: `${key.fingerprint}!`,
          at: new Date(Date.now() - 20 * DAY),
        });
        // gpg will not sign with an expired key, so give the key a (newer) self-signature that
        // makes it expire 27 days ago: `early` predates that, `late` does not.
        await g.run(
          ['--quick-set-expire', key.fingerprint, '2d'],
          undefined,
          new Date(Date.now() - 29 * DAY),
        );
        const ring = await loadKeyring('late', await g.exportPublicKey(key));
        assert.equal((await verifySignedMessage(early, ring)).keyId.toUpperCase(), key.keyId);
        await assert.rejects(
          verifySignedMessage(late, ring),
          rejectsWith('KEY_NOT_VALID', /not a valid signing key when the signature was made/),
        );
      } finally {
        await g.cleanup();
      }
    });

    it('rejects an expired signature', async () => {
      const signed = await gpg.sign(payload, {
        key: primary(aged),
        at: new Date(Date.now() - 3 * DAY),
        expire: '1d',
      });
      await assert.rejects(verifySignedMessage(signed, agedRing), rejectsWith('SIGNATURE_EXPIRED'));
      const current = await gpg.sign(payload, {
        key: primary(aged),
        at: new Date(Date.now() - 3 * DAY),
        expire: '7d',
      });
      assert.ok(await verifySignedMessage(current, agedRing));
    });

    it('rejects a signature dated in the future', async () => {
      const signed = await gpg.sign(payload, {
        key: primary(rsa),
        at: new Date(Date.now() + 2 * DAY),
      });
      await assert.rejects(
        verifySignedMessage(signed, rsaRing),
        rejectsWith('SIGNATURE_FROM_FUTURE'),
      );
    });
  });

  describe('when the message is not an acceptable signed message', () => {
    it('rejects a signature by a key outside the keyring', async () => {
      const signed = await gpg.sign(payload, { key: primary(other) });
      await assert.rejects(
        verifySignedMessage(signed, rsaRing),
        rejectsWith('UNKNOWN_KEY', new RegExp(other.keyId)),
      );
    });

    it('rejects SHA-1 signatures', async () => {
      const signed = await gpg.sign(payload, { key: primary(rsa), digestAlgo: 'SHA1' });
      await assert.rejects(
        verifySignedMessage(signed, rsaRing),
        rejectsWith('UNSUPPORTED_ALGORITHM', /SHA-1/),
      );
    });

    it('rejects detached signatures', async () => {
      for (const armor of [false, true]) {
        const signed = await gpg.sign(payload, { key: primary(rsa), mode: 'detach', armor });
        await assert.rejects(
          verifySignedMessage(signed, rsaRing),
          rejectsWith('UNSUPPORTED_MESSAGE', /detached/),
        );
      }
    });

    it('rejects clear-signed messages', async () => {
      const signed = await gpg.sign(payload, { key: primary(rsa), mode: 'clearsign' });
      await assert.rejects(
        verifySignedMessage(signed, rsaRing),
        rejectsWith('UNSUPPORTED_MESSAGE', /clear-signed/),
      );
    });

    it('rejects unsigned literal data', async () => {
      const literal = await gpg.run(['--store'], payload);
      await assert.rejects(verifySignedMessage(literal, rsaRing), rejectsWith('UNSIGNED'));
    });

    it('rejects encrypted messages', async () => {
      const encrypted = await gpg.run(['--symmetric', '--passphrase', 'x'], payload);
      await assert.rejects(
        verifySignedMessage(encrypted, rsaRing),
        rejectsWith('UNSUPPORTED_MESSAGE', /encrypted/),
      );
      const signedAndEncrypted = await gpg.run(
        ['--symmetric', '--passphrase', 'x', '--sign', '--local-user', primary(rsa)],
        payload,
      );
      await assert.rejects(
        verifySignedMessage(signedAndEncrypted, rsaRing),
        rejectsWith('UNSUPPORTED_MESSAGE', /encrypted/),
      );
    });

    it('rejects a signature whose data was replaced', async () => {
      const a = await gpg.sign(payload, { key: primary(rsa), compress: false });
      const other = atomicPayload(randomDigest());
      // Same length payloads: swap the literal data bytes in place.
      const swapped = Buffer.from(a.toString('latin1').replace(payload, other), 'latin1');
      assert.notDeepEqual(swapped, a);
      await assert.rejects(verifySignedMessage(swapped, rsaRing), rejectsWith('BAD_SIGNATURE'));
    });

    it('rejects garbage and empty input with MALFORMED_MESSAGE', async () => {
      for (const input of [
        new Uint8Array(),
        Buffer.from('hello'),
        Buffer.from([0x80]),
        Buffer.alloc(64, 0xff),
      ]) {
        await assert.rejects(
          verifySignedMessage(input, rsaRing),
          (err: unknown) => err instanceof VerifyError,
        );
      }
    });

    it('rejects oversized messages before parsing them', async () => {
      await assert.rejects(
        verifySignedMessage(new Uint8Array(2 * 1024 * 1024), rsaRing),
        rejectsWith('MALFORMED_MESSAGE', /larger than/),
      );
    });
  });
});
