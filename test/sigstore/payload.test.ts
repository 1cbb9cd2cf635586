import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { isVerifyError } from '../../src/errors.js';
import type { SigstoreErrorCode } from '../../src/errors.js';
import { MAX_PAYLOAD_BYTES, parseCosignPayload } from '../../src/sigstore/payload.js';
import { makeCosignPayload } from '../helpers/cosign.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const TYPE = 'cosign container image signature';

function critical(extra = ''): string {
  return `{"identity":{"docker-reference":"quay.io/a/b"},"image":{"docker-manifest-digest":"${DIGEST}"},"type":"${TYPE}"${extra}}`;
}

describe('parseCosignPayload', () => {
  it('reads the payload cosign writes (optional: null)', () => {
    const bytes = makeCosignPayload('quay.io/a/b', DIGEST);
    assert.equal(
      bytes.toString(),
      `{"critical":${critical()},"optional":null}`,
      'the helper writes what cosign writes',
    );
    const payload = parseCosignPayload(bytes);
    assert.equal(payload.dockerReference, 'quay.io/a/b');
    assert.equal(payload.dockerManifestDigest, DIGEST);
    assert.equal(payload.optional, null);
  });

  it('reads optional annotations, creator and timestamp', () => {
    const payload = parseCosignPayload(
      makeCosignPayload('quay.io/a/b', DIGEST, { timestamp: 17, creator: 'me', team: 'x' }),
    );
    assert.equal(payload.creator, 'me');
    assert.equal(payload.timestamp, 17);
    assert.deepEqual({ ...payload.optional }, { creator: 'me', team: 'x', timestamp: 17 });
  });

  const rejects: [string, string | Uint8Array, SigstoreErrorCode][] = [
    [
      'duplicate top-level key',
      `{"critical":${critical()},"critical":${critical()},"optional":null}`,
      'PAYLOAD_INVALID',
    ],
    [
      'duplicate docker-reference',
      `{"critical":{"identity":{"docker-reference":"quay.io/a/b","docker-reference":"quay.io/x/y"},"image":{"docker-manifest-digest":"${DIGEST}"},"type":"${TYPE}"},"optional":null}`,
      'PAYLOAD_INVALID',
    ],
    [
      'unknown critical field',
      `{"critical":${critical(',"extra":1')},"optional":null}`,
      'PAYLOAD_INVALID',
    ],
    [
      'unknown top-level field',
      `{"critical":${critical()},"optional":null,"x":1}`,
      'PAYLOAD_INVALID',
    ],
    ['missing optional', `{"critical":${critical()}}`, 'PAYLOAD_INVALID'],
    ['optional not an object', `{"critical":${critical()},"optional":[]}`, 'PAYLOAD_INVALID'],
    [
      'non-integer timestamp',
      `{"critical":${critical()},"optional":{"timestamp":1.5}}`,
      'PAYLOAD_INVALID',
    ],
    [
      'creator not a string',
      `{"critical":${critical()},"optional":{"creator":1}}`,
      'PAYLOAD_INVALID',
    ],
    [
      'wrong type',
      `{"critical":{"identity":{"docker-reference":"quay.io/a/b"},"image":{"docker-manifest-digest":"${DIGEST}"},"type":"atomic container signature"},"optional":null}`,
      'PAYLOAD_WRONG_TYPE',
    ],
    [
      'bad digest',
      `{"critical":{"identity":{"docker-reference":"quay.io/a/b"},"image":{"docker-manifest-digest":"sha256:ABC"},"type":"${TYPE}"},"optional":null}`,
      'PAYLOAD_INVALID',
    ],
    [
      'unknown identity field',
      `{"critical":{"identity":{"docker-reference":"quay.io/a/b","x":""},"image":{"docker-manifest-digest":"${DIGEST}"},"type":"${TYPE}"},"optional":null}`,
      'PAYLOAD_INVALID',
    ],
    ['trailing data', `{"critical":${critical()},"optional":null} x`, 'PAYLOAD_INVALID'],
    ['not an object', '[]', 'PAYLOAD_INVALID'],
    ['invalid UTF-8', new Uint8Array([0x7b, 0xff, 0x7d]), 'PAYLOAD_INVALID'],
    [
      'oversized',
      `{"critical":${critical()},"optional":{"x":"${'a'.repeat(MAX_PAYLOAD_BYTES)}"}}`,
      'PAYLOAD_OVERSIZE',
    ],
  ];
  for (const [name, input, code] of rejects) {
    it(`rejects ${name} with ${code}`, () => {
      const bytes = typeof input === 'string' ? Buffer.from(input) : input;
      assert.throws(
        () => parseCosignPayload(bytes),
        (err) => isVerifyError(err, code),
      );
    });
  }
});
