import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { VerifyError } from '../../src/errors.js';
import type { VerifyErrorCode } from '../../src/errors.js';
import { checkAtomicPayload } from '../../src/gpg/atomic-payload.js';

const DIGEST = `sha256:${'c'.repeat(64)}`;
const enc = (v: unknown): Uint8Array =>
  new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const good = {
  critical: {
    type: 'atomic container signature',
    image: { 'docker-manifest-digest': DIGEST },
    identity: { 'docker-reference': 'quay.io/a/b:1' },
  },
  optional: { creator: 'tests', timestamp: 1 },
};

describe('checkAtomicPayload', () => {
  it('accepts the payload the release controller writes', () => {
    const p = checkAtomicPayload(enc(good), DIGEST);
    assert.equal(p.identity, 'quay.io/a/b:1');
    assert.equal(p.creator, 'tests');
  });

  it('accepts a payload without the optional section', () => {
    assert.equal(checkAtomicPayload(enc({ critical: good.critical }), DIGEST).digest, DIGEST);
  });

  const cases: [string, unknown, VerifyErrorCode, string][] = [
    [
      'wrong type',
      { ...good, critical: { ...good.critical, type: 'cosign container image signature' } },
      'PAYLOAD_WRONG_TYPE',
      'signature is not the correct type',
    ],
    [
      'no identity',
      { ...good, critical: { ...good.critical, identity: { 'docker-reference': '' } } },
      'PAYLOAD_NO_IDENTITY',
      'signature must have an identity',
    ],
    [
      'other digest',
      {
        ...good,
        critical: {
          ...good.critical,
          image: { 'docker-manifest-digest': `sha256:${'d'.repeat(64)}` },
        },
      },
      'PAYLOAD_DIGEST_MISMATCH',
      'signature digest does not match',
    ],
    ['not JSON', 'not json', 'PAYLOAD_INVALID_JSON', 'the signature is not valid JSON: '],
    [
      'unknown top-level field',
      { ...good, extra: 1 },
      'PAYLOAD_INVALID_JSON',
      'unknown field "extra"',
    ],
    [
      'unknown critical field',
      { ...good, critical: { ...good.critical, x: 1 } },
      'PAYLOAD_INVALID_JSON',
      'unknown field "critical.x"',
    ],
    [
      'unknown optional field',
      { ...good, optional: { creator: 'a', foo: 'b' } },
      'PAYLOAD_INVALID_JSON',
      'unknown field "optional.foo"',
    ],
    [
      'non-string digest',
      { ...good, critical: { ...good.critical, image: { 'docker-manifest-digest': 5 } } },
      'PAYLOAD_INVALID_JSON',
      'must be a string',
    ],
    ['array payload', [good], 'PAYLOAD_INVALID_JSON', 'must be an object'],
    [
      'non-integer timestamp',
      { ...good, optional: { timestamp: 1.5 } },
      'PAYLOAD_INVALID_JSON',
      'timestamp must be an integer',
    ],
  ];
  for (const [name, payload, code, message] of cases) {
    it(`rejects ${name} with ${code}`, () => {
      assert.throws(
        () => checkAtomicPayload(enc(payload), DIGEST),
        (err: unknown) =>
          err instanceof VerifyError && err.code === code && err.message.includes(message),
      );
    });
  }

  it('rejects duplicate keys, which JSON.parse would silently merge', () => {
    const text = `{"critical":{"type":"atomic container signature","image":{"docker-manifest-digest":"sha256:${'d'.repeat(64)}","docker-manifest-digest":"${DIGEST}"},"identity":{"docker-reference":"a"}}}`;
    assert.throws(
      () => checkAtomicPayload(enc(text), DIGEST),
      (err: unknown) =>
        err instanceof VerifyError &&
        err.code === 'PAYLOAD_INVALID_JSON' &&
        /duplicate key/.test(err.message),
    );
  });

  it('rejects invalid UTF-8', () => {
    assert.throws(
      () => checkAtomicPayload(new Uint8Array([0x7b, 0xff, 0x7d]), DIGEST),
      (err: unknown) => err instanceof VerifyError && err.code === 'PAYLOAD_INVALID_JSON',
    );
  });
});
