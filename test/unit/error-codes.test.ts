import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  CODE_TABLE,
  ERROR_LABELS,
  isVerifyError,
  toConditionReason,
  toErrorLabel,
  VerifyError,
} from '../../src/errors.js';
import type { VerifyErrorCode } from '../../src/errors.js';

/** Kubernetes' condition reason format (metav1.Condition), kept to CamelCase letters and digits. */
const CAMEL_CASE = /^[A-Z][A-Za-z0-9]*$/;

const codes = Object.keys(CODE_TABLE) as VerifyErrorCode[];

describe('the error code table', () => {
  it('gives every code a CamelCase condition reason, distinct from every other code', () => {
    const seen = new Map<string, VerifyErrorCode>();
    for (const code of codes) {
      const reason = toConditionReason(code);
      assert.match(reason, CAMEL_CASE, code);
      assert.ok(reason.length <= 1024, code);
      assert.equal(seen.get(reason), undefined, `${code} and ${seen.get(reason)} share ${reason}`);
      seen.set(reason, code);
    }
    assert.equal(toConditionReason(undefined), 'VerificationFailed');
  });

  it('gives every code a metric label from the bounded set', () => {
    const labels = new Set(ERROR_LABELS);
    assert.equal(labels.size, ERROR_LABELS.length);
    assert.ok(labels.size <= 20, 'metric labels stay a small, bounded set');
    for (const code of codes) assert.ok(labels.has(toErrorLabel(code)), code);
    for (const label of labels) assert.match(label, /^[a-z]+(_[a-z]+)*$/);
  });

  // Users, alerts and tests read these reasons: the codes that existed before each area kept its
  // own codes keep their reason.
  it('keeps the reason of every code that had one', () => {
    const before: Record<string, string> = {
      NOT_BY_DIGEST: 'NotByDigest',
      INVALID_DIGEST: 'InvalidDigest',
      INVALID_PULLSPEC: 'InvalidPullspec',
      ROOT_OF_TRUST_NOT_FOUND: 'RootOfTrustNotFound',
      ROOT_OF_TRUST_INVALID: 'RootOfTrustInvalid',
      NO_STORES: 'NoSignatureStores',
      NO_KEYS: 'NoPublicKeys',
      INVALID_KEY: 'InvalidPublicKey',
      INVALID_STORE: 'InvalidSignatureStore',
      USAGE: 'InvalidConfiguration',
      MALFORMED_MESSAGE: 'MalformedSignature',
      UNSUPPORTED_MESSAGE: 'UnsupportedSignature',
      UNSIGNED: 'UnsignedMessage',
      UNSUPPORTED_ALGORITHM: 'UnsupportedAlgorithm',
      UNKNOWN_KEY: 'UnknownKey',
      KEY_NOT_VALID: 'KeyNotValid',
      KEY_REVOKED: 'KeyRevoked',
      SIGNATURE_EXPIRED: 'SignatureExpired',
      SIGNATURE_FROM_FUTURE: 'SignatureFromFuture',
      BAD_SIGNATURE: 'BadSignature',
      PAYLOAD_INVALID_JSON: 'InvalidSignaturePayload',
      PAYLOAD_WRONG_TYPE: 'WrongSignatureType',
      PAYLOAD_NO_IDENTITY: 'SignatureWithoutIdentity',
      PAYLOAD_DIGEST_MISMATCH: 'SignatureDigestMismatch',
      STORE_ERROR: 'SignatureStoreError',
      STORE_OVERSIZE: 'SignatureTooLarge',
      STORE_TIMEOUT: 'SignatureStoreTimeout',
      STORE_REDIRECT: 'SignatureStoreRedirect',
      NOT_SIGNED: 'NotSigned',
      ABORTED: 'VerificationAborted',
    };
    for (const [code, reason] of Object.entries(before)) {
      assert.equal(toConditionReason(code as VerifyErrorCode), reason, code);
    }
  });

  it('names the area that owns each code; shared codes are owned once', () => {
    const table: [VerifyErrorCode, string][] = [
      ['ABORTED', 'common'],
      ['NOT_BY_DIGEST', 'pullspec'],
      ['ROOT_OF_TRUST_INVALID', 'trust'],
      ['BAD_SIGNATURE', 'signature'],
      ['PAYLOAD_DIGEST_MISMATCH', 'signature'],
      ['KEY_REVOKED', 'gpg'],
      ['STORE_TIMEOUT', 'store'],
      ['UNAUTHORIZED', 'registry'],
      ['PLATFORM_NOT_FOUND', 'payload'],
      ['IDENTITY_MISMATCH', 'sigstore'],
      ['CERTIFICATE_SUBJECT_MISMATCH', 'certificate'],
      ['BUNDLE_NOT_A_SIGNATURE', 'bundle'],
    ];
    for (const [code, area] of table) {
      assert.equal(CODE_TABLE[code].area, area, code);
      assert.equal(new VerifyError(code, 'x').area, area, code);
    }
  });
});

describe('VerifyError', () => {
  it('keeps its full code, its cause and what a retry needs', () => {
    const cause = new Error('socket hang up');
    const err = new VerifyError('HTTP_STATUS', 'answered 503', {
      cause,
      status: 503,
      retryable: true,
      retryAfterMs: 1_000,
    });
    assert.equal(err.code, 'HTTP_STATUS');
    assert.equal(err.cause, cause);
    assert.equal(err.status, 503);
    assert.equal(err.retryable, true);
    assert.equal(err.retryAfterMs, 1_000);
    assert.equal(err.name, 'VerifyError');
    const plain = new VerifyError('NOT_SIGNED', 'none');
    assert.equal(plain.retryable, false);
    assert.equal('cause' in plain, false);
  });

  it('is recognised by the one guard, with or without a code', () => {
    const err = new VerifyError('PLATFORM_NOT_FOUND', 'no linux/s390x');
    assert.ok(isVerifyError(err));
    assert.ok(isVerifyError(err, 'PLATFORM_NOT_FOUND'));
    assert.ok(!isVerifyError(err, 'STORE_ERROR'));
    assert.ok(!isVerifyError(new Error('PLATFORM_NOT_FOUND')));
    assert.ok(!isVerifyError({ code: 'PLATFORM_NOT_FOUND' }));
  });
});
