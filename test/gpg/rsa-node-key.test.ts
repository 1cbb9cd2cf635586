import assert from 'node:assert/strict';
import { constants, createSign, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';

import { generateKey, readKey } from 'openpgp';

import { loadKeyring, rsaModulusBytes, verifyRsaPkcs1 } from '../../src/gpg/keyring.js';

// toNodeKey builds RSA keys from a PKCS#1 PEM and records their modulus size from n's bytes, so
// that neither the JWK import nor asymmetricKeyDetails is paid per verification. These pin that
// the shortcut gives what OpenSSL itself reports, for moduli whose bit length is and is not a
// multiple of 8, and that the bare-KeyObject verify is PKCS#1 v1.5.
describe('RSA keys for node:crypto', () => {
  for (const bits of [2047, 2048, 3071]) {
    it(`records the modulus size OpenSSL reports for a ${bits}-bit key`, async () => {
      const { publicKey } = await generateKey({
        type: 'rsa',
        rsaBits: bits,
        userIDs: [{ name: 'Size', email: 'size@example.com' }],
        format: 'binary',
      });
      const keyring = await loadKeyring(`size-${bits}`, publicKey);
      const [key] = keyring.keys;
      assert.ok(key !== undefined);
      const nodeKey = keyring.toNodeKey(key);
      assert.equal(nodeKey.asymmetricKeyType, 'rsa');
      const reported = Math.ceil((nodeKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
      assert.equal(reported, Math.ceil(bits / 8));
      assert.equal(rsaModulusBytes(nodeKey), reported);
      // n and e survive the conversion: the key's own JWK matches openpgp.js's parameters.
      const params = (await readKey({ binaryKey: publicKey })).keyPacket.publicParams as {
        n: Uint8Array;
        e: Uint8Array;
      };
      const jwk = nodeKey.export({ format: 'jwk' });
      assert.equal(jwk.n, Buffer.from(params.n).toString('base64url'));
      assert.equal(jwk.e, Buffer.from(params.e).toString('base64url'));
    });
  }

  it('verifies PKCS#1 v1.5 with a bare key, and not PSS', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const data = Buffer.from('payload');
    const pkcs1 = createSign('sha256').update(data).sign(privateKey);
    assert.equal(verifyRsaPkcs1('sha256', data, publicKey, pkcs1), true);
    const pss = createSign('sha256')
      .update(data)
      .sign({ key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING });
    assert.equal(verifyRsaPkcs1('sha256', data, publicKey, pss), false);
  });
});
