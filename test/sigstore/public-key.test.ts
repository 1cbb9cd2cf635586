import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, it } from 'node:test';

import { isVerifyError } from '../../src/errors.js';
import {
  decodeCanonicalBase64,
  parsePublicKey,
  verifyPayloadSignature,
} from '../../src/sigstore/public-key.js';
import { createTestKey, makeCosignPayload, signPayload } from '../helpers/cosign.js';
import type { TestKeyKind } from '../helpers/cosign.js';

const PAYLOAD = makeCosignPayload('quay.io/a/b', `sha256:${'a'.repeat(64)}`);

describe('verifyPayloadSignature', () => {
  for (const kind of ['p256', 'p384', 'p521', 'rsa', 'ed25519'] as TestKeyKind[]) {
    describe(`with a ${kind} key`, () => {
      const key = createTestKey(kind);
      const verifier = parsePublicKey(key.publicKeyPem);
      const signature = signPayload(key, PAYLOAD).toString('base64');

      it('accepts a signature over the raw payload bytes', () => {
        assert.ok(verifyPayloadSignature(verifier, PAYLOAD, signature).length > 0);
      });

      it('rejects a signature over other bytes', () => {
        const other = Buffer.concat([PAYLOAD, Buffer.from(' ')]);
        assert.throws(
          () => verifyPayloadSignature(verifier, other, signature),
          (err) => isVerifyError(err, 'BAD_SIGNATURE'),
        );
      });

      it('rejects a signature by another key', () => {
        const stranger = parsePublicKey(createTestKey(kind).publicKeyPem);
        assert.throws(
          () => verifyPayloadSignature(stranger, PAYLOAD, signature),
          (err) => isVerifyError(err, 'BAD_SIGNATURE'),
        );
      });
    });
  }

  it('rejects an ECDSA signature in IEEE P1363 form (cosign writes ASN.1 DER)', () => {
    const key = createTestKey('p256');
    const p1363 = sign('sha256', PAYLOAD, {
      key: key.privateKey,
      dsaEncoding: 'ieee-p1363',
    }).toString('base64');
    assert.throws(
      () => verifyPayloadSignature(parsePublicKey(key.publicKeyPem), PAYLOAD, p1363),
      (err) => isVerifyError(err, 'BAD_SIGNATURE'),
    );
  });

  // containers/image loads every key with a hard-coded SHA-256: a P-384/P-521 signature over
  // the curve's own digest is one nodes refuse, so we refuse it too.
  for (const [kind, hash] of [
    ['p384', 'sha384'],
    ['p521', 'sha512'],
  ] as const) {
    it(`rejects a ${kind} signature made with ${hash} (containers/image checks SHA-256)`, () => {
      const key = createTestKey(kind);
      const der = sign(hash, PAYLOAD, { key: key.privateKey, dsaEncoding: 'der' });
      assert.throws(
        () =>
          verifyPayloadSignature(parsePublicKey(key.publicKeyPem), PAYLOAD, der.toString('base64')),
        (err) => isVerifyError(err, 'BAD_SIGNATURE'),
      );
    });
  }

  it('refuses a P-224 key as unsupported, naming the curve', () => {
    const pem = generateKeyPairSync('ec', { namedCurve: 'secp224r1' })
      .publicKey.export({ format: 'pem', type: 'spki' })
      .toString();
    assert.throws(
      () => parsePublicKey(pem),
      (err) => isVerifyError(err, 'UNSUPPORTED_KEY') && /secp224r1/.test(err.message),
    );
  });

  it('accepts a P-384 signature made with SHA-256, as cosign and containers/image use', () => {
    const key = createTestKey('p384');
    const der = sign('sha256', PAYLOAD, { key: key.privateKey, dsaEncoding: 'der' });
    assert.ok(
      verifyPayloadSignature(parsePublicKey(key.publicKeyPem), PAYLOAD, der.toString('base64')),
    );
  });

  it('rejects a DER signature re-encoded in BER or with trailing bytes', () => {
    const key = createTestKey('p256');
    const verifier = parsePublicKey(key.publicKeyPem);
    const der = signPayload(key, PAYLOAD);
    const body = der.subarray(2);
    const longForm = Buffer.concat([Buffer.from([0x30, 0x81, body.length]), body]);
    const trailing = Buffer.concat([der, Buffer.from([0])]);
    for (const bad of [longForm, trailing]) {
      assert.throws(
        () => verifyPayloadSignature(verifier, PAYLOAD, bad.toString('base64')),
        (err) => isVerifyError(err, 'BAD_SIGNATURE'),
      );
    }
  });

  it('rejects non-canonical base64 of a valid signature (line breaks are read as Go does)', () => {
    const key = createTestKey('p256');
    const verifier = parsePublicKey(key.publicKeyPem);
    const good = signPayload(key, PAYLOAD).toString('base64');
    assert.ok(verifyPayloadSignature(verifier, PAYLOAD, `${good}\n`).length > 0);
    for (const bad of [
      ` ${good}`,
      `${good}\t`,
      good.replace(/=+$/, ''),
      good.replace(/\+/g, '-'),
    ]) {
      if (bad === good) continue;
      assert.throws(
        () => verifyPayloadSignature(verifier, PAYLOAD, bad),
        (err) => isVerifyError(err, 'SIGNATURE_ENCODING'),
        JSON.stringify(bad),
      );
    }
  });
});

describe('decodeCanonicalBase64', () => {
  const cases: [string, boolean][] = [
    ['', true],
    ['AA==', true],
    ['AB==', true], // non-zero trailing bits: ignored, as Go's (non-Strict) StdEncoding
    ['AA=', false],
    ['AA', false],
    ['A===', false],
    ['AAAA', true],
    ['AA AA', false],
    ['_w==', false],
    ['/w==', true],
    // Go's StdEncoding ignores CR and LF anywhere (real cosign PKI signatures end with "\n").
    ['AAAA\n', true],
    ['AA\r\nAA\n', true],
    ['AA==\n', true],
    ['AA\tAA', false],
    ['AA==\nAA', false],
  ];
  for (const [text, ok] of cases) {
    it(`${JSON.stringify(text)} → ${ok ? 'accepted' : 'rejected'}`, () => {
      if (ok) decodeCanonicalBase64(text, 100, 'x');
      else
        assert.throws(
          () => decodeCanonicalBase64(text, 100, 'x'),
          (err) => isVerifyError(err, 'SIGNATURE_ENCODING'),
        );
    });
  }
});

describe('parsePublicKey', () => {
  it('refuses a private key, two blocks, small RSA and other curves', () => {
    const p256 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const privatePem = p256.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const publicPem = p256.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const cases: [string, 'INVALID_PUBLIC_KEY' | 'UNSUPPORTED_KEY'][] = [
      [privatePem, 'INVALID_PUBLIC_KEY'],
      [publicPem + publicPem, 'INVALID_PUBLIC_KEY'],
      ['-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n', 'INVALID_PUBLIC_KEY'],
      [
        generateKeyPairSync('rsa', { modulusLength: 1024 })
          .publicKey.export({ format: 'pem', type: 'spki' })
          .toString(),
        'UNSUPPORTED_KEY',
      ],
      [
        generateKeyPairSync('ec', { namedCurve: 'secp256k1' })
          .publicKey.export({ format: 'pem', type: 'spki' })
          .toString(),
        'UNSUPPORTED_KEY',
      ],
    ];
    for (const [pem, code] of cases) {
      assert.throws(
        () => parsePublicKey(pem),
        (err) => isVerifyError(err, code),
      );
    }
    assert.equal(parsePublicKey(publicPem).algorithm, 'ecdsa-p256-sha256');
  });
});
