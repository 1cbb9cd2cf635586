import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  offeredUpdates,
  parsePublishedUpdates,
  UpdatePreverifier,
  UPDATES_CONFIGMAP_NAME,
} from '../../src/controller/update-preverifier.js';
import type { PublishedUpdates } from '../../src/controller/update-preverifier.js';
import type {
  ClusterVerification,
  ReleaseVerifierPort,
  VerifyCallOptions,
} from '../../src/controller/verification-port.js';
import type { ClusterVersion } from '../../src/kube/types.js';
import { ManualClock, settle } from '../helpers/manual-clock.js';
import { MemoryKube } from '../helpers/memory-kube.js';

// The leader's background pre-verification of the offered updates (src/controller/
// update-preverifier.ts) on the in-memory API server, a scripted verifier and a manual clock.

const NS = 'cvo-update-verifier';
const REPO = 'quay.io/openshift-release-dev/ocp-release';
const IMG = (n: number): string => `${REPO}@sha256:${String(n).repeat(64)}`;
const INTERVAL = 600_000;

function clusterVersion(updates: readonly [string, number][]): ClusterVersion {
  return {
    apiVersion: 'config.openshift.io/v1',
    kind: 'ClusterVersion',
    metadata: { name: 'version' },
    spec: {
      clusterID: '2a7b3c4d-1111-4222-8333-444455556666',
      desiredUpdate: { version: '4.17.9', image: IMG(9), force: true },
    },
    status: {
      desired: { version: '4.17.0', image: IMG(1) },
      observedGeneration: 1,
      versionHash: 'h',
      availableUpdates: updates
        .filter(([v]) => !v.startsWith('4.18'))
        .map(([version, n]) => ({ version, image: IMG(n) })),
      conditionalUpdates: updates
        .filter(([v]) => v.startsWith('4.18'))
        .map(([version, n]) => ({
          release: { version, image: IMG(n) },
          risks: [],
          conditions: [],
        })),
      history: [],
    },
  };
}

const verified: ClusterVerification = {
  outcome: { verified: true, message: 'ok', details: [], summary: 'e2e: signed' },
  signatures: [],
  digest: null,
};
const notSigned: ClusterVerification = {
  outcome: {
    verified: false,
    code: 'NOT_SIGNED',
    message: 'unable to verify',
    details: [],
    summary: 'unable to verify',
  },
  signatures: [],
  digest: null,
};

/** A verifier whose answers a test sets per image; records the calls and how many overlap. */
class ScriptedVerifier implements ReleaseVerifierPort {
  answers = new Map<string, ClusterVerification | Error | 'hang'>();
  calls: { image: string; cv: ClusterVersion; options: VerifyCallOptions | undefined }[] = [];
  running = 0;
  peak = 0;
  signals: AbortSignal[] = [];

  async verify(
    image: string,
    cv: ClusterVersion,
    signal: AbortSignal,
    options?: VerifyCallOptions,
  ): Promise<ClusterVerification> {
    this.calls.push({ image, cv, options });
    this.signals.push(signal);
    this.running++;
    this.peak = Math.max(this.peak, this.running);
    try {
      await settle(1);
      const answer = this.answers.get(image) ?? verified;
      if (answer === 'hang') {
        return await new Promise<never>((_resolve, reject) => {
          signal.addEventListener('abort', () => {
            reject(signal.reason as Error);
          });
        });
      }
      if (answer instanceof Error) throw answer;
      return answer;
    } finally {
      this.running--;
    }
  }
}

async function published(kube: MemoryKube): Promise<PublishedUpdates | undefined> {
  return parsePublishedUpdates(await kube.getConfigMap(NS, UPDATES_CONFIGMAP_NAME));
}

async function setup(
  updates: readonly [string, number][],
  options: { maxUpdates?: number; budgetMs?: number } = {},
): Promise<{
  kube: MemoryKube;
  clock: ManualClock;
  verifier: ScriptedVerifier;
  pre: UpdatePreverifier;
  warnings: string[];
}> {
  const clock = new ManualClock();
  const kube = new MemoryKube({ clock });
  await kube.createClusterVersion(clusterVersion(updates));
  const verifier = new ScriptedVerifier();
  const warnings: string[] = [];
  const pre = new UpdatePreverifier({
    kube,
    verifier,
    clusterVersionName: 'version',
    namespace: NS,
    identity: 'leader-1',
    clock,
    intervalMs: INTERVAL,
    logger: {
      info: () => undefined,
      warn: (m, f) => warnings.push(`${m} ${JSON.stringify(f)}`),
      error: () => undefined,
    },
    ...options,
  });
  return { kube, clock, verifier, pre, warnings };
}

/** Runs the pass due now to its end. */
async function runDuePass(clock: ManualClock, pre: UpdatePreverifier, ms = 0): Promise<void> {
  await clock.advance(ms);
  await pre.current;
  await settle();
}

describe('UpdatePreverifier', () => {
  describe('when it starts leading', () => {
    it('verifies the offered updates newest first, one at a time, as unforced requests, and publishes each verdict', async () => {
      const { kube, clock, verifier, pre } = await setup([
        ['4.17.1', 2],
        ['4.17.2', 3],
        ['4.18.0', 5],
      ]);
      verifier.answers.set(IMG(3), notSigned);
      pre.start();
      await runDuePass(clock, pre);
      assert.deepEqual(
        verifier.calls.map((c) => c.image),
        [IMG(5), IMG(3), IMG(2)],
      );
      assert.equal(verifier.peak, 1);
      for (const c of verifier.calls) {
        assert.equal(c.cv.spec.desiredUpdate, undefined);
        assert.deepEqual(c.options, { payload: true });
      }
      const state = await published(kube);
      assert.equal(state?.identity, 'leader-1');
      assert.equal(state.intervalMs, INTERVAL);
      assert.deepEqual(
        state.verdicts.map((v) => [v.version, v.verdict.result]),
        [
          ['4.18.0', 'verified'],
          ['4.17.2', 'refused'],
          ['4.17.1', 'verified'],
        ],
      );
      assert.deepEqual(state.verdicts[1]?.verdict, {
        result: 'refused',
        code: 'NOT_SIGNED',
        reason: 'NotSigned',
        message: 'unable to verify',
        checkedAt: new Date(clock.now()).toISOString(),
      });
      // A write per update: a slow payload check does not hold back the verdicts made before it.
      assert.equal(kube.actionsOf('create', 'configmaps').length, 1);
      assert.equal(kube.actionsOf('update', 'configmaps').length, 2);
      await pre.stop();
    });

    it('verifies at most maxUpdates, the newest', async () => {
      const { clock, verifier, pre } = await setup(
        [
          ['4.17.1', 2],
          ['4.17.2', 3],
          ['4.17.3', 4],
        ],
        { maxUpdates: 2 },
      );
      pre.start();
      await runDuePass(clock, pre);
      assert.deepEqual(
        verifier.calls.map((c) => c.image),
        [IMG(4), IMG(3)],
      );
      await pre.stop();
    });
  });

  describe('every interval', () => {
    it('verifies again: a verdict that changed is published, an update no longer offered dropped', async () => {
      const { kube, clock, verifier, pre } = await setup([
        ['4.17.1', 2],
        ['4.17.2', 3],
      ]);
      verifier.answers.set(IMG(3), notSigned);
      pre.start();
      await runDuePass(clock, pre);
      assert.equal(verifier.calls.length, 2);
      // Nothing before the interval.
      await runDuePass(clock, pre, INTERVAL - 1);
      assert.equal(verifier.calls.length, 2);
      // The signature appears, and 4.17.1 is no longer offered.
      verifier.answers.delete(IMG(3));
      const cv = await kube.getClusterVersion('version');
      const status = cv.status;
      assert.ok(status);
      await kube.replaceClusterVersionStatus({
        ...cv,
        status: { ...status, availableUpdates: [{ version: '4.17.2', image: IMG(3) }] },
      });
      await runDuePass(clock, pre, 1);
      assert.deepEqual(
        verifier.calls.slice(2).map((c) => c.image),
        [IMG(3)],
      );
      const state = await published(kube);
      assert.deepEqual(
        state?.verdicts.map((v) => [v.version, v.verdict.result, v.verdict.checkedAt]),
        [['4.17.2', 'verified', new Date(clock.now()).toISOString()]],
      );
      await pre.stop();
    });
  });

  describe('when a check fails', () => {
    it('a verification that throws or outlives its budget is unknown, saying why; the others go on', async () => {
      const { kube, clock, verifier, pre } = await setup(
        [
          ['4.17.1', 2],
          ['4.17.2', 3],
        ],
        { budgetMs: 1000 },
      );
      verifier.answers.set(IMG(3), 'hang');
      verifier.answers.set(IMG(2), new Error('registry exploded'));
      pre.start();
      await clock.advance(0);
      // 4.17.2 hangs until its budget ends.
      assert.equal(verifier.calls.length, 1);
      await runDuePass(clock, pre, 1000);
      const state = await published(kube);
      assert.deepEqual(
        state?.verdicts.map((v) => [v.version, v.verdict]),
        [
          [
            '4.17.2',
            {
              result: 'unknown',
              message: 'the check did not finish within 1s',
              checkedAt: new Date(clock.now()).toISOString(),
            },
          ],
          [
            '4.17.1',
            {
              result: 'unknown',
              message: 'the check failed: registry exploded',
              checkedAt: new Date(clock.now()).toISOString(),
            },
          ],
        ],
      );
      await pre.stop();
    });

    it('a failed write is logged and the pass goes on; the next write carries every verdict', async () => {
      const { kube, clock, pre, warnings } = await setup([
        ['4.17.1', 2],
        ['4.17.2', 3],
      ]);
      kube.before('create', 'configmaps', () => {
        throw new Error('etcd is on fire');
      });
      pre.start();
      await runDuePass(clock, pre);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0] ?? '', /could not publish the update verdicts .*etcd is on fire/);
      assert.equal((await published(kube))?.verdicts.length, 2);
      await pre.stop();
    });
  });

  describe('when it stops leading', () => {
    it('aborts the verification in flight, publishes nothing more and schedules no pass', async () => {
      const { kube, clock, verifier, pre } = await setup([['4.17.1', 2]]);
      verifier.answers.set(IMG(2), 'hang');
      pre.start();
      await clock.advance(0);
      assert.equal(verifier.calls.length, 1);
      await pre.stop();
      assert.equal(verifier.signals[0]?.aborted, true);
      assert.equal(await published(kube), undefined);
      await clock.advance(10 * INTERVAL);
      assert.equal(verifier.calls.length, 1);
      assert.equal(clock.pending, 0);
    });
  });
});

describe('offeredUpdates', () => {
  it('lists available and conditional updates once each, newest first (releases above pre-releases)', () => {
    const cv = clusterVersion([
      ['4.17.10', 2],
      ['4.17.9', 3],
      ['4.18.0-rc.1', 4],
      ['4.18.0', 5],
    ]);
    cv.status?.conditionalUpdates?.push({ release: { version: '4.17.9', image: IMG(3) } });
    assert.deepEqual(
      offeredUpdates(cv, 10).map((r) => r.version),
      ['4.18.0', '4.18.0-rc.1', '4.17.10', '4.17.9'],
    );
  });
});
