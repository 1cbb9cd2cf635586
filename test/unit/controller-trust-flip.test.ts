import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { VerifyErrorCode } from '../../src/errors.js';
import {
  EVENT_NAMESPACE,
  FIXTURE_RECHECK_BASE_MS,
  release,
  startController,
} from '../helpers/controller-fixture.js';
import { kubeApiError } from '../helpers/memory-kube.js';

// Found by an attack review of issue 12: a verdict cached across reconciles, and Sigstore
// refusals whose precise code hid that an accepted release no longer verifies.

describe('a verdict never outlives its reconcile', () => {
  it('after stop() during a conflict retry, the next leader verifies again (the key was revoked meanwhile)', async () => {
    const TARGET = release(2);
    const f = await startController();
    f.verifier.accept(TARGET);
    let stopping: Promise<void> | undefined;
    // The first status write meets a concurrent writer (409) while this replica loses its lease.
    f.kube.before('update', 'clusterversions/status', () => {
      stopping ??= f.controller.stop();
      throw kubeApiError('update clusterversion version status', {
        code: 409,
        reason: 'Conflict',
        message: 'the object has been modified',
      });
    });
    await f.request({ image: TARGET, version: '4.17.0' });
    await stopping;
    assert.notEqual((await f.condition('ReleaseAccepted'))?.status, 'True', 'nothing written yet');
    assert.equal(f.verifier.callsFor(TARGET).length, 1);

    f.verifier.refuse(TARGET, 'KEY_REVOKED');
    await f.controller.start();
    await f.reconciled();

    const cv = await f.clusterVersion();
    assert.ok(f.verifier.callsFor(TARGET).length >= 2, 'verified again, not reused');
    assert.equal((await f.condition('ReleaseAccepted'))?.status, 'False');
    assert.notEqual(cv.status?.history?.find((h) => h.image === TARGET)?.verified, true);
    await f.controller.stop();
  });
});

describe('an accepted target stops being verified on any Sigstore refusal of present signatures', () => {
  const flips: readonly VerifyErrorCode[] = [
    // A registry writer can put a junk layer in front of an old-key signature, or pad the
    // manifest: the first rejection's code must not hide the refusal.
    'SIGNATURE_MISSING',
    'TOO_MANY_SIGNATURES',
    'INVALID_SIGNATURE_MANIFEST',
    'SIGNATURE_ENCODING',
    // A policy moved from PublicKey to FulcioCAWithRekor: the key-signed layer has no certificate.
    'CERTIFICATE_MISSING',
    'UNSUPPORTED_KEY',
    'BUNDLE_UNSUPPORTED',
    'BAD_SIGNATURE',
  ];
  for (const code of flips) {
    it(`a re-check that says ${code} turns ReleaseVerified False with a Warning Event`, async () => {
      const TARGET = release(2);
      const f = await startController();
      f.verifier.accept(TARGET);
      await f.request({ image: TARGET, version: '4.17.0' });
      assert.equal((await f.condition('ReleaseVerified'))?.status, 'True');
      f.verifier.refuse(TARGET, code);
      await f.clock.advance(FIXTURE_RECHECK_BASE_MS);
      await f.reconciled();
      assert.equal((await f.condition('ReleaseVerified'))?.status, 'False');
      assert.ok(f.kube.events(EVENT_NAMESPACE).some((e) => e.type === 'Warning'));
      await f.controller.stop();
    });
  }

  const holds: readonly VerifyErrorCode[] = [
    // The registry did not answer, time ran out, or the policy itself is broken: nothing is
    // learnt about the release's signatures.
    'PAYLOAD_UNAVAILABLE',
    'BUNDLE_UNAVAILABLE',
    'STORE_ERROR',
    'ABORTED',
    'INVALID_POLICY',
    'NOT_SIGNED',
  ];
  for (const code of holds) {
    it(`a re-check that says ${code} leaves ReleaseVerified True`, async () => {
      const TARGET = release(2);
      const f = await startController();
      f.verifier.accept(TARGET);
      await f.request({ image: TARGET, version: '4.17.0' });
      f.verifier.refuse(TARGET, code);
      await f.clock.advance(FIXTURE_RECHECK_BASE_MS);
      await f.reconciled();
      assert.equal((await f.condition('ReleaseVerified'))?.status, 'True');
      assert.equal(f.kube.events(EVENT_NAMESPACE).filter((e) => e.type === 'Warning').length, 0);
      await f.controller.stop();
    });
  }
});

describe('times written to the ClusterVersion and Events', () => {
  it('are metav1.Time: whole seconds, as the CVO writes them', async () => {
    const TARGET = release(2);
    const f = await startController();
    await f.clock.advance(510); // a clock that is not on a whole second
    f.verifier.accept(TARGET);
    await f.request({ image: TARGET, version: '4.17.0' });
    const cv = await f.clusterVersion();
    const times = [
      ...(cv.status?.conditions ?? []).map((c) => c.lastTransitionTime),
      ...(cv.status?.history ?? []).flatMap((h) => [h.startedTime, h.completionTime ?? '']),
      ...f.kube.events(EVENT_NAMESPACE).flatMap((e) => [e.firstTimestamp, e.lastTimestamp]),
    ].filter((t): t is string => typeof t === 'string' && t !== '');
    assert.ok(times.length > 3);
    for (const t of times) assert.match(t, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, t);
    await f.controller.stop();
  });
});
