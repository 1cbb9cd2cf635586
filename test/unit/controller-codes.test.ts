import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { VerifyErrorCode } from '../../src/errors.js';
import {
  EVENT_NAMESPACE,
  FIXTURE_RECHECK_BASE_MS,
  release,
  startController,
} from '../helpers/controller-fixture.js';

const TARGET = release(2);

/**
 * Every area's code reaches the ReleaseVerified condition whole (these used to be squeezed into
 * UNKNOWN_KEY, BAD_SIGNATURE or STORE_ERROR), and only codes that speak about the trust flip an
 * accepted target.
 */
describe('ReleaseController and the codes of every area', () => {
  const refused: [VerifyErrorCode, string][] = [
    ['CERTIFICATE_SUBJECT_MISMATCH', 'CertificateSubjectMismatch'],
    ['IDENTITY_MISMATCH', 'SignedIdentityMismatch'],
    ['DENIED', 'RegistryDenied'],
    ['PAYLOAD_UNAVAILABLE', 'SignaturePayloadUnavailable'],
  ];
  for (const [code, reason] of refused) {
    it(`refuses an update whose verdict is ${code} with ReleaseVerified reason ${reason}`, async () => {
      const f = await startController();
      f.verifier.refuse(TARGET, code);
      await f.request({ image: TARGET, version: '4.17.0' });
      const verified = await f.condition('ReleaseVerified');
      assert.equal(verified?.status, 'False');
      assert.equal(verified?.reason, reason);
      await f.controller.stop();
    });
  }

  const recheck = async (code: VerifyErrorCode) => {
    const f = await startController();
    f.verifier.accept(TARGET);
    await f.request({ image: TARGET, version: '4.17.0' });
    assert.equal((await f.condition('ReleaseVerified'))?.status, 'True');
    f.verifier.refuse(TARGET, code);
    await f.clock.advance(FIXTURE_RECHECK_BASE_MS);
    await f.reconciled();
    return f;
  };

  for (const [code, reason] of [
    ['CERTIFICATE_SUBJECT_MISMATCH', 'CertificateSubjectMismatch'],
    ['REKOR_SET_INVALID', 'InvalidRekorSignedEntryTimestamp'],
    ['KEY_REVOKED', 'KeyRevoked'],
  ] as const) {
    it(`turns an accepted target's ReleaseVerified False when a re-check says ${code}`, async () => {
      const f = await recheck(code);
      const verified = await f.condition('ReleaseVerified');
      assert.equal(verified?.status, 'False');
      assert.equal(verified?.reason, reason);
      assert.deepEqual(
        f.kube
          .events(EVENT_NAMESPACE)
          .filter((e) => e.type === 'Warning')
          .map((e) => e.reason),
        ['ReleaseNoLongerVerified'],
      );
      await f.controller.stop();
    });
  }

  for (const code of ['DENIED', 'PAYLOAD_UNAVAILABLE', 'STORE_ERROR', 'NOT_SIGNED'] as const) {
    it(`leaves an accepted target's ReleaseVerified True when a re-check says ${code}`, async () => {
      const f = await recheck(code);
      assert.equal((await f.condition('ReleaseVerified'))?.status, 'True');
      assert.equal(f.kube.events().filter((e) => e.type === 'Warning').length, 0);
      await f.controller.stop();
    });
  }
});
