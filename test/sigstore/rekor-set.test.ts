import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { isVerifyError } from '../../src/errors.js';
import type { SigstoreErrorCode } from '../../src/errors.js';
import { parsePublicKey } from '../../src/sigstore/public-key.js';
import { verifyRekorBundle } from '../../src/sigstore/rekor-set.js';
import {
  createTestKey,
  makeCosignPayload,
  makeHashedRekordBody,
  makeRekorBundle,
  rekorLogId,
  signPayload,
} from '../helpers/cosign.js';
import type { RekorBundleOptions } from '../helpers/cosign.js';

const signer = createTestKey('p256');
const rekor = createTestKey('p256');
const payload = makeCosignPayload('quay.io/a/b', `sha256:${'a'.repeat(64)}`);
const signature = signPayload(signer, payload);
const good: RekorBundleOptions = {
  rekorKey: rekor,
  signerPem: signer.publicKeyPem,
  signature,
  payload,
  integratedTime: 1_750_000_000,
  logIndex: 7,
};

function verify(bundle: string, rekorPem = rekor.publicKeyPem) {
  return verifyRekorBundle({
    bundle,
    rekorKey: parsePublicKey(rekorPem),
    signingKey: parsePublicKey(signer.publicKeyPem),
    signature,
    payload,
  });
}

function rejects(bundle: string, code: SigstoreErrorCode, rekorPem?: string): void {
  assert.throws(
    () => verify(bundle, rekorPem),
    (err) => isVerifyError(err, code),
  );
}

describe('verifyRekorBundle', () => {
  it('returns the integration time of a SET binding this key, signature and payload', () => {
    assert.deepEqual(verify(makeRekorBundle(good)), {
      integratedTime: 1_750_000_000,
      logIndex: 7,
      logID: rekorLogId(rekor),
    });
  });

  it('accepts an Ed25519 Rekor key', () => {
    const edRekor = createTestKey('ed25519');
    assert.equal(
      verify(makeRekorBundle({ ...good, rekorKey: edRekor }), edRekor.publicKeyPem).logIndex,
      7,
    );
  });

  it('rejects a SET signed by another Rekor key (same log ID claimed)', () => {
    const other = createTestKey('p256');
    rejects(
      makeRekorBundle({ ...good, rekorKey: other, logID: rekorLogId(rekor) }),
      'REKOR_SET_INVALID',
    );
  });

  it('rejects a SET from another log', () => {
    rejects(makeRekorBundle({ ...good, rekorKey: createTestKey('p256') }), 'REKOR_LOG_ID_MISMATCH');
  });

  it('rejects a SET whose fields were changed after signing', () => {
    const bundle = JSON.parse(makeRekorBundle(good)) as { Payload: { integratedTime: number } };
    bundle.Payload.integratedTime += 1;
    rejects(JSON.stringify(bundle), 'REKOR_SET_INVALID');
  });

  it('rejects an entry for another key', () => {
    const other = createTestKey('p256');
    rejects(makeRekorBundle({ ...good, signerPem: other.publicKeyPem }), 'REKOR_ENTRY_MISMATCH');
  });

  it('rejects an entry for another payload', () => {
    rejects(
      makeRekorBundle({ ...good, payload: Buffer.concat([payload, Buffer.from(' ')]) }),
      'REKOR_ENTRY_MISMATCH',
    );
  });

  it('rejects an entry for another signature', () => {
    rejects(
      makeRekorBundle({ ...good, signature: signPayload(signer, payload) }),
      'REKOR_ENTRY_MISMATCH',
    );
  });

  it('rejects entry kinds other than hashedrekord 0.0.1', () => {
    const body = JSON.parse(makeHashedRekordBody(signer.publicKeyPem, signature, payload)) as {
      kind: string;
    };
    body.kind = 'rekord';
    rejects(makeRekorBundle(good, JSON.stringify(body)), 'REKOR_UNSUPPORTED_ENTRY');
  });

  it('rejects duplicate keys and unknown fields in the bundle and the body', () => {
    const bundle = makeRekorBundle(good);
    rejects(
      bundle.replace(
        '{"SignedEntryTimestamp":',
        '{"SignedEntryTimestamp":"AA==","SignedEntryTimestamp":',
      ),
      'REKOR_BUNDLE_INVALID',
    );
    rejects(bundle.replace('"Payload":{', '"Payload":{"extra":1,'), 'REKOR_BUNDLE_INVALID');
    const body = makeHashedRekordBody(signer.publicKeyPem, signature, payload).replace(
      '"kind":"hashedrekord"',
      '"kind":"hashedrekord","kind":"hashedrekord"',
    );
    rejects(makeRekorBundle(good, body), 'REKOR_BUNDLE_INVALID');
    rejects('not json', 'REKOR_BUNDLE_INVALID');
  });
});
