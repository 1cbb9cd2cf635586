/**
 * The reconcile reads the FeatureGate alongside the ClusterVersion (issue 14), and interprets it
 * at the version of the ClusterVersion it read. No timing is asserted: the ClusterVersion GET is
 * held by a MemoryKube reactor, and what was read meanwhile is counted.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { CURRENT_RELEASE, release, startController } from '../helpers/controller-fixture.js';
import type { ControllerFixture } from '../helpers/controller-fixture.js';
import { settle } from '../helpers/manual-clock.js';

const TARGET = release(0x200);

function featureGate(version: string, enabled: string[]): unknown {
  return {
    apiVersion: 'config.openshift.io/v1',
    kind: 'FeatureGate',
    metadata: { name: 'cluster' },
    status: {
      featureGates: [{ version, enabled: enabled.map((name) => ({ name })), disabled: [] }],
    },
  };
}

/** Holds the next ClusterVersion GET; `entered` resolves once the fake has recorded it. */
function holdClusterVersionGet(f: ControllerFixture): {
  entered: Promise<void>;
  release: () => void;
} {
  let enter = (): void => undefined;
  let release = (): void => undefined;
  const entered = new Promise<void>((resolve) => (enter = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  f.kube.before('get', 'clusterversions', async () => {
    enter();
    await released;
  });
  return { entered, release };
}

describe('ReleaseController: the reads of one reconcile', () => {
  it('reads the FeatureGate while the ClusterVersion GET is in flight, and applies it at that version', async () => {
    let reads = 0;
    const f = await startController(
      {
        featureGates: {
          getFeatureGate: () => {
            reads++;
            return Promise.resolve(
              featureGate(CURRENT_RELEASE.version, ['ClusterUpdateAcceptRisks']),
            );
          },
        },
      },
      [{ version: '4.17.0', image: TARGET }],
    );
    f.verifier.accept(TARGET);
    const before = reads;
    const get = holdClusterVersionGet(f);
    await f.request(
      { version: '4.17.0', image: TARGET, acceptRisks: [{ name: 'SomeRisk' }] },
      { idle: false },
    );
    await get.entered;
    await settle();
    assert.equal(reads, before + 1, 'the FeatureGate was read with the ClusterVersion GET held');
    get.release();
    await f.reconciled();
    // ClusterUpdateAcceptRisks on at the installed version: acceptRisks is valid, the update goes on.
    assert.equal(await f.condition('Invalid'), undefined);
    assert.equal((await f.condition('ReleaseAccepted'))?.status, 'True');
    await f.controller.stop();
  });

  it('takes a FeatureGate that cannot be read for all gates off, whatever the ClusterVersion read took', async () => {
    const f = await startController(
      {
        featureGates: {
          getFeatureGate: () => Promise.reject(new Error('featuregates "cluster" is forbidden')),
        },
      },
      [{ version: '4.17.0', image: TARGET }],
    );
    f.verifier.accept(TARGET);
    const get = holdClusterVersionGet(f);
    await f.request(
      { version: '4.17.0', image: TARGET, acceptRisks: [{ name: 'SomeRisk' }] },
      { idle: false },
    );
    await get.entered;
    // The FeatureGate's failure is settled before the ClusterVersion arrives: still all off.
    await settle();
    get.release();
    await f.reconciled();
    assert.equal((await f.condition('Invalid'))?.status, 'True');
    assert.match((await f.condition('Invalid'))?.message ?? '', /acceptRisks/);
    await f.controller.stop();
  });
});
