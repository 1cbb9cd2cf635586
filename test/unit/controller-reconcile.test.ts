import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { DEFAULT_RECONCILE_BUDGET_MS, DEFAULT_RESYNC_MS } from '../../src/controller/controller.js';
import { forcedRiskMessage, retrievePayloadFailedMessage } from '../../src/controller/reconcile.js';
import {
  CURRENT_RELEASE,
  EVENT_NAMESPACE,
  FIXTURE_RECHECK_BASE_MS,
  release,
  startController,
} from '../helpers/controller-fixture.js';
import { refusedVerdict } from '../helpers/fake-release-verifier.js';
import { settle } from '../helpers/manual-clock.js';

const TARGET = release(2);

describe('ReleaseController (in-memory API, manual clock)', () => {
  describe('when a by-digest update that verifies is requested', () => {
    it('accepts it: desired, a verified Partial history entry, both conditions True, a Normal Event', async () => {
      const f = await startController();
      f.verifier.accept(TARGET);
      await f.request({ image: TARGET, version: '4.17.0' });

      const cv = await f.clusterVersion();
      assert.deepEqual(cv.status?.desired, { version: '4.17.0', image: TARGET });
      assert.deepEqual(
        cv.status?.history?.map((h) => [h.state, h.image, h.verified, h.completionTime === null]),
        [
          ['Partial', TARGET, true, true],
          ['Completed', CURRENT_RELEASE.image, true, false],
        ],
      );
      assert.equal((await f.condition('ReleaseAccepted'))?.status, 'True');
      assert.equal((await f.condition('ReleaseAccepted'))?.reason, 'PayloadLoaded');
      assert.equal((await f.condition('ReleaseVerified'))?.status, 'True');
      assert.deepEqual(
        f.kube.events(EVENT_NAMESPACE).map((e) => [e.type, e.reason]),
        [['Normal', 'ReleaseVerified']],
      );
      assert.equal(cv.status?.observedGeneration, cv.metadata.generation);
      // Verified once, whole payload asked for, under a live signal.
      assert.equal(f.verifier.calls.length, 1);
      const call = f.verifier.calls[0];
      assert.deepEqual(call?.options, { payload: true });
      assert.ok(call?.signal instanceof AbortSignal, 'the verifier got no signal');
      assert.equal(call.signal.aborted, false);
      // The budget's timer ended with the verification: only the re-check of the verified target
      // (its trust watch) and the periodic resync are waiting.
      assert.deepEqual(f.clock.pendingDelays(), [FIXTURE_RECHECK_BASE_MS, DEFAULT_RESYNC_MS]);
      await f.controller.stop();
    });
  });

  describe('when the requested update does not verify', () => {
    it('refuses it with the verifier’s reason, leaves desired and history alone, and re-checks it', async () => {
      const f = await startController();
      f.verifier.refuse(TARGET, 'KEY_REVOKED');
      await f.request({ image: TARGET, version: '4.17.0' });

      const cv = await f.clusterVersion();
      assert.deepEqual(cv.status?.desired, CURRENT_RELEASE);
      assert.equal(cv.status?.history?.length, 1);
      const accepted = await f.condition('ReleaseAccepted');
      assert.equal(accepted?.status, 'False');
      assert.equal(accepted?.reason, 'RetrievePayload');
      assert.equal(
        accepted?.message,
        retrievePayloadFailedMessage('4.17.0', TARGET, refusedVerdict(TARGET).outcome.message),
      );
      const verified = await f.condition('ReleaseVerified');
      assert.equal(verified?.status, 'False');
      assert.equal(verified?.reason, 'KeyRevoked');
      assert.deepEqual(
        f.kube.events(EVENT_NAMESPACE).map((e) => [e.type, e.reason]),
        [['Warning', 'RetrievePayloadFailed']],
      );
      assert.deepEqual(
        f.controller.pendingRechecks().map((r) => r.key),
        [`target:${TARGET}`],
      );

      // The re-check verifies it again; once the trust accepts it, it is accepted.
      f.verifier.accept(TARGET);
      await f.clock.advance(FIXTURE_RECHECK_BASE_MS);
      await f.reconciled();
      assert.equal((await f.condition('ReleaseAccepted'))?.status, 'True');
      assert.equal((await f.clusterVersion()).status?.history?.[0]?.verified, true);
      assert.deepEqual(f.controller.pendingRechecks(), []);
      await f.controller.stop();
    });
  });

  describe('when an update that does not verify is forced', () => {
    it('accepts it with verified: false and the risk recorded, then flips verified once a re-check verifies it', async () => {
      const f = await startController();
      f.verifier.refuse(TARGET);
      await f.request({ image: TARGET, version: '4.17.0', force: true });

      let cv = await f.clusterVersion();
      const head = cv.status?.history?.[0];
      assert.equal(head?.image, TARGET);
      assert.equal(head?.verified, false);
      assert.equal(
        head?.acceptedRisks,
        forcedRiskMessage('4.17.0', TARGET, refusedVerdict(TARGET).outcome.message),
      );
      assert.equal((await f.condition('ReleaseAccepted'))?.status, 'True');
      assert.equal((await f.condition('ReleaseVerified'))?.status, 'False');
      assert.deepEqual(
        f.controller.pendingRechecks().map((r) => [r.key, r.attempts]),
        [[`history:${TARGET}`, 0]],
      );

      // Still refused: the re-check runs (with a signal), changes nothing and backs off.
      await f.clock.advance(FIXTURE_RECHECK_BASE_MS);
      assert.equal(f.verifier.callsFor(TARGET).length, 2);
      assert.ok(f.verifier.callsFor(TARGET)[1]?.signal instanceof AbortSignal);
      assert.equal((await f.clusterVersion()).status?.history?.[0]?.verified, false);
      assert.deepEqual(
        f.controller.pendingRechecks().map((r) => [r.key, r.attempts]),
        [[`history:${TARGET}`, 1]],
      );

      // The trust now accepts it: the next re-check, 2 × base later, flips it.
      f.verifier.accept(TARGET);
      await f.clock.advance(2 * FIXTURE_RECHECK_BASE_MS - 1);
      assert.equal((await f.clusterVersion()).status?.history?.[0]?.verified, false, 'too early');
      await f.clock.advance(1);
      await f.reconciled();
      cv = await f.clusterVersion();
      assert.equal(cv.status?.history?.[0]?.verified, true);
      assert.equal((await f.condition('ReleaseVerified'))?.status, 'True');
      assert.ok(
        f.kube
          .events(EVENT_NAMESPACE)
          .some(
            (e) =>
              e.reason === 'ReleaseVerified' &&
              e.message.includes('accepted earlier without verification, is now verified'),
          ),
      );
      assert.deepEqual(f.controller.pendingRechecks(), []);
      await f.controller.stop();
    });
  });

  describe('when the status write meets 409 Conflict', () => {
    it('reads the object again and writes on the fresh copy, keeping the other writer’s change and verifying once', async () => {
      const f = await startController();
      f.verifier.accept(TARGET);
      // Another writer (the CVO) updates status between the controller's read and its write.
      f.kube.before('update', 'clusterversions/status', async () => {
        const cv = await f.kube.getClusterVersion('version');
        if (cv.status === undefined) throw new Error('no status');
        await f.kube.replaceClusterVersionStatus({
          ...cv,
          status: { ...cv.status, versionHash: 'written-by-the-cvo' },
        });
      });
      await f.request({ image: TARGET, version: '4.17.0' });

      const cv = await f.clusterVersion();
      assert.equal(cv.status?.versionHash, 'written-by-the-cvo', 'the other write was lost');
      assert.equal(cv.status?.history?.[0]?.image, TARGET);
      assert.equal((await f.condition('ReleaseAccepted'))?.status, 'True');
      // Two attempts by the controller (plus the other writer's one), one verification.
      assert.equal(f.kube.actionsOf('update', 'clusterversions/status').length, 3);
      assert.equal(f.verifier.calls.length, 1, 'the retry verified again');
      await f.controller.stop();
    });
  });

  describe('when stopped while a verification runs', () => {
    for (const then of ['reject', 'resolve'] as const) {
      it(`aborts the verification's signal and writes nothing (a verifier that ${then}s on abort)`, async () => {
        const f = await startController();
        f.verifier.behave(TARGET, { kind: 'until-aborted', then });
        await f.request({ image: TARGET, version: '4.17.0' }, { idle: false });
        const signal = f.verifier.calls[0]?.signal;
        assert.ok(signal !== undefined);
        assert.equal(signal.aborted, false);
        const before = await f.clusterVersion();
        const writes = f.kube.actionsOf('update', 'clusterversions/status').length;

        await f.controller.stop();
        assert.equal(signal.aborted, true, 'stop() did not abort the verification in flight');
        assert.equal((signal.reason as DOMException).name, 'AbortError');
        await f.clock.advance(DEFAULT_RECONCILE_BUDGET_MS * 2);
        assert.equal(f.kube.actionsOf('update', 'clusterversions/status').length, writes);
        assert.equal(
          (await f.clusterVersion()).metadata.resourceVersion,
          before.metadata.resourceVersion,
        );
        assert.deepEqual(f.kube.events(), []);
        assert.equal(f.clock.pending, 0, 'a stopped controller left timers behind');
      });
    }

    it('writes nothing even from a verifier that ignores its signal and answers later', async () => {
      const f = await startController();
      f.verifier.behave(TARGET, { kind: 'manual' });
      await f.request({ image: TARGET, version: '4.17.0' }, { idle: false });
      const writes = f.kube.actionsOf('update', 'clusterversions/status').length;
      let stopped = false;
      const stopping = f.controller.stop().then(() => (stopped = true));
      await settle();
      assert.equal(stopped, false, 'stop() returned before the reconcile in flight ended');
      f.verifier.finish({
        outcome: { verified: true, message: 'verified', details: [], summary: 'signed' },
        signatures: [],
        digest: null,
      });
      await stopping;
      assert.equal(f.kube.actionsOf('update', 'clusterversions/status').length, writes);
      assert.deepEqual(f.kube.events(), []);
    });

    it('aborts a background re-check in flight too, and starts afresh when started again', async () => {
      const f = await startController();
      f.verifier.refuse(TARGET);
      await f.request({ image: TARGET, version: '4.17.0', force: true });
      f.verifier.behave(TARGET, { kind: 'until-aborted', then: 'resolve' });
      await f.clock.advance(FIXTURE_RECHECK_BASE_MS);
      const recheck = f.verifier.callsFor(TARGET)[1];
      assert.equal(recheck?.signal?.aborted, false);
      const writes = f.kube.actionsOf('update', 'clusterversions/status').length;
      await f.controller.stop();
      assert.equal(recheck?.signal?.aborted, true);
      assert.equal(f.kube.actionsOf('update', 'clusterversions/status').length, writes);

      // A new term (leadership regained): a fresh signal, and the re-check resumes from status.
      f.verifier.accept(TARGET);
      await f.controller.start();
      await f.reconciled();
      await f.clock.advance(FIXTURE_RECHECK_BASE_MS);
      await f.reconciled();
      const last = f.verifier.callsFor(TARGET).at(-1);
      assert.equal(last?.signal?.aborted, false);
      assert.equal((await f.clusterVersion()).status?.history?.[0]?.verified, true);
      await f.controller.stop();
    });
  });

  describe('when the verification outlasts the reconcile budget', () => {
    const budget = 60_000;

    for (const then of ['reject', 'resolve'] as const) {
      it(`refuses the update as VerificationAborted, naming the budget, and re-checks it (a verifier that ${then}s on abort)`, async () => {
        const f = await startController({ reconcileBudgetMs: budget });
        f.verifier.behave(TARGET, { kind: 'until-aborted', then });
        await f.request({ image: TARGET, version: '4.17.0' }, { idle: false });
        const signal = f.verifier.calls[0]?.signal;
        await f.clock.advance(budget - 1);
        assert.equal(signal?.aborted, false, 'aborted before the budget ran out');
        assert.equal((await f.condition('ReleaseAccepted'))?.status, undefined);

        await f.clock.advance(1);
        await f.reconciled();
        assert.equal((signal?.reason as DOMException | undefined)?.name, 'TimeoutError');
        const message = `verification did not finish within the reconcile budget of ${String(budget)} ms`;
        const accepted = await f.condition('ReleaseAccepted');
        assert.equal(accepted?.status, 'False');
        assert.equal(accepted?.reason, 'RetrievePayload');
        assert.equal(accepted?.message, retrievePayloadFailedMessage('4.17.0', TARGET, message));
        const verified = await f.condition('ReleaseVerified');
        assert.equal(verified?.status, 'False');
        assert.equal(verified?.reason, 'VerificationAborted');
        assert.deepEqual((await f.clusterVersion()).status?.desired, CURRENT_RELEASE);
        assert.deepEqual(
          f.controller.pendingRechecks().map((r) => r.key),
          [`target:${TARGET}`],
        );
        await f.controller.stop();
      });
    }

    it('accepts a forced update unverified, the budget named in its accepted risks', async () => {
      const f = await startController({ reconcileBudgetMs: budget });
      f.verifier.behave(TARGET, { kind: 'until-aborted', then: 'resolve' });
      await f.request({ image: TARGET, version: '4.17.0', force: true }, { idle: false });
      await f.clock.advance(budget);
      await f.reconciled();
      const head = (await f.clusterVersion()).status?.history?.[0];
      assert.equal(head?.image, TARGET);
      assert.equal(head?.verified, false);
      assert.match(head?.acceptedRisks ?? '', /reconcile budget of 60000 ms/);
      await f.controller.stop();
    });

    it('leaves a verified target’s ReleaseVerified alone when its trust re-check runs out of budget', async () => {
      const f = await startController({ reconcileBudgetMs: budget });
      f.verifier.accept(TARGET);
      await f.request({ image: TARGET, version: '4.17.0' });
      f.verifier.behave(TARGET, { kind: 'until-aborted', then: 'resolve' });
      await f.clock.advance(FIXTURE_RECHECK_BASE_MS + budget);
      await f.reconciled();
      assert.equal(f.verifier.callsFor(TARGET)[1]?.signal?.aborted, true);
      assert.equal((await f.condition('ReleaseVerified'))?.status, 'True');
      assert.equal(f.kube.events().filter((e) => e.type === 'Warning').length, 0);
      await f.controller.stop();
    });

    it('defaults to five minutes', () => {
      assert.equal(DEFAULT_RECONCILE_BUDGET_MS, 300_000);
    });
  });
});
