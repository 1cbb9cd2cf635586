/**
 * The reads of one reconcile (issue 14): the first attempt plans from the watch's copy of the
 * ClusterVersion (no GET; a stale copy conflicts on the status write and the retry reads it
 * fresh), and the FeatureGate is read while the release is verified whenever the gates cannot
 * change what is verified; with acceptRisks requested they decide first. No timing is asserted:
 * reads are held by MemoryKube reactors or a held FeatureGate source, and what ran meanwhile is
 * counted.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { isNewerRevision } from '../../src/controller/controller.js';
import type { ClusterVersion } from '../../src/kube/types.js';
import { CURRENT_RELEASE, release, startController } from '../helpers/controller-fixture.js';
import { verifiedVerdict } from '../helpers/fake-release-verifier.js';
import { settle } from '../helpers/manual-clock.js';

const TARGET = release(0x200);
const OTHER = release(0x201);

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

/**
 * A FeatureGate source whose reads answer `answer()`, each held until `releaseAll()` once `hold`
 * is set; `held` counts reads waiting.
 */
function heldFeatureGates(answer: () => Promise<unknown>): {
  source: { getFeatureGate: () => Promise<unknown> };
  hold: () => void;
  releaseAll: () => void;
  reads: () => number;
  held: () => number;
} {
  let holding = false;
  let reads = 0;
  let waiting: (() => void)[] = [];
  return {
    source: {
      getFeatureGate: async () => {
        reads++;
        if (holding) await new Promise<void>((resolve) => waiting.push(resolve));
        return answer();
      },
    },
    hold: () => {
      holding = true;
    },
    releaseAll: () => {
      holding = false;
      const all = waiting;
      waiting = [];
      for (const resolve of all) resolve();
    },
    reads: () => reads,
    held: () => waiting.length,
  };
}

describe('ReleaseController: the reads of one reconcile', () => {
  it('verifies the release while the FeatureGate is still being read when no gate can change the plan', async () => {
    const gates = heldFeatureGates(() => Promise.resolve(featureGate(CURRENT_RELEASE.version, [])));
    const f = await startController({ featureGates: gates.source }, [
      { version: '4.17.0', image: TARGET },
    ]);
    f.verifier.accept(TARGET);
    gates.hold();
    await f.request({ version: '4.17.0', image: TARGET }, { idle: false });
    await settle();
    assert.equal(gates.held(), 1, 'the FeatureGate read is held');
    assert.equal(f.verifier.callsFor(TARGET).length, 1, 'verification started meanwhile');
    gates.releaseAll();
    await f.reconciled();
    assert.equal((await f.condition('ReleaseAccepted'))?.status, 'True');
    assert.equal(f.verifier.callsFor(TARGET).length, 1, 'verified once');
    await f.controller.stop();
  });

  it('with acceptRisks requested, waits for the FeatureGate and applies it at the installed version', async () => {
    const gates = heldFeatureGates(() =>
      Promise.resolve(featureGate(CURRENT_RELEASE.version, ['ClusterUpdateAcceptRisks'])),
    );
    const f = await startController({ featureGates: gates.source }, [
      { version: '4.17.0', image: TARGET },
    ]);
    f.verifier.accept(TARGET);
    gates.hold();
    await f.request(
      { version: '4.17.0', image: TARGET, acceptRisks: [{ name: 'SomeRisk' }] },
      { idle: false },
    );
    await settle();
    assert.equal(gates.held(), 1, 'the FeatureGate read is held');
    assert.equal(f.verifier.callsFor(TARGET).length, 0, 'nothing verified before the gates');
    gates.releaseAll();
    await f.reconciled();
    // ClusterUpdateAcceptRisks on at the installed version: acceptRisks is valid, the update goes on.
    assert.equal(await f.condition('Invalid'), undefined);
    assert.equal((await f.condition('ReleaseAccepted'))?.status, 'True');
    await f.controller.stop();
  });

  it('takes a FeatureGate that cannot be read for all gates off: acceptRisks is Invalid and nothing is verified', async () => {
    const f = await startController(
      {
        featureGates: {
          getFeatureGate: () => Promise.reject(new Error('featuregates "cluster" is forbidden')),
        },
      },
      [{ version: '4.17.0', image: TARGET }],
    );
    f.verifier.accept(TARGET);
    await f.request({ version: '4.17.0', image: TARGET, acceptRisks: [{ name: 'SomeRisk' }] });
    assert.equal((await f.condition('Invalid'))?.status, 'True');
    assert.match((await f.condition('Invalid'))?.message ?? '', /acceptRisks/);
    assert.equal(f.verifier.callsFor(TARGET).length, 0);
    await f.controller.stop();
  });

  it('plans the first attempt from the watch: no ClusterVersion GET for an edit', async () => {
    const f = await startController({}, [{ version: '4.17.0', image: TARGET }]);
    f.verifier.accept(TARGET);
    const before = f.kube.actionsOf('get', 'clusterversions').length;
    await f.request({ version: '4.17.0', image: TARGET });
    assert.equal(f.kube.actionsOf('get', 'clusterversions').length, before, 'no GET');
    assert.equal(f.kube.actionsOf('update', 'clusterversions/status').length > 0, true);
    assert.equal((await f.condition('ReleaseAccepted'))?.status, 'True');
    await f.controller.stop();
  });

  it('a stale copy conflicts on the status write; the retry reads the object fresh and decides what it requests', async () => {
    const f = await startController({}, [
      { version: '4.17.0', image: TARGET },
      { version: '4.17.1', image: OTHER },
    ]);
    f.verifier.accept(TARGET);
    f.verifier.accept(OTHER);
    // While the first edit is verified, a second edit lands: the copy the first attempt planned
    // from is stale when its status is written.
    f.verifier.behave(TARGET, { kind: 'manual' });
    await f.request({ version: '4.17.0', image: TARGET }, { idle: false });
    await settle();
    assert.equal(f.verifier.callsFor(TARGET).length, 1);
    const gets = f.kube.actionsOf('get', 'clusterversions').length;
    await f.kube.mergePatchClusterVersion('version', {
      spec: { desiredUpdate: { version: '4.17.1', image: OTHER } },
    });
    f.verifier.finish(verifiedVerdict(TARGET));
    await f.reconciled();
    assert.ok(
      f.kube.actionsOf('get', 'clusterversions').length > gets,
      'the retry after the conflict read the ClusterVersion',
    );
    const cv = await f.clusterVersion();
    assert.equal(cv.status?.desired.image, OTHER, 'the newer request is the one decided');
    assert.equal(
      cv.status?.history?.some((h) => h.image === TARGET),
      false,
      'nothing was written for the stale request',
    );
    await f.controller.stop();
  });

  it('keeps a later edit the watch delivered when the answer to its own status write arrives after it', async () => {
    const f = await startController({}, [
      { version: '4.17.0', image: TARGET },
      { version: '4.17.1', image: OTHER },
    ]);
    f.verifier.accept(TARGET);
    f.verifier.accept(OTHER);
    // The first status write is stored, then a second edit lands and the watch delivers it, and
    // only then does the write's answer (the older object) reach the controller.
    const replace = f.kube.replaceClusterVersionStatus.bind(f.kube);
    let raced = false;
    f.kube.replaceClusterVersionStatus = async (cv) => {
      const written = await replace(cv);
      if (!raced) {
        raced = true;
        await f.kube.mergePatchClusterVersion('version', {
          spec: { desiredUpdate: { version: '4.17.1', image: OTHER } },
        });
        await settle();
      }
      return written;
    };
    await f.request({ version: '4.17.0', image: TARGET });
    await f.reconciled();
    assert.equal(raced, true);
    const cv = await f.clusterVersion();
    assert.equal(cv.status?.desired.image, OTHER, 'the later edit was decided');
    assert.equal(cv.status?.conditions?.find((c) => c.type === 'ReleaseAccepted')?.status, 'True');
    await f.controller.stop();
  });
});

describe('isNewerRevision', () => {
  const at = (resourceVersion: string | undefined) =>
    ({
      metadata: { name: 'version', ...(resourceVersion !== undefined ? { resourceVersion } : {}) },
      spec: {},
    }) as ClusterVersion;
  it('compares etcd revisions as numbers, not strings', () => {
    assert.equal(isNewerRevision(at('10'), at('9')), true);
    assert.equal(isNewerRevision(at('9'), at('10')), false);
    assert.equal(isNewerRevision(at('10'), at('10')), false);
    assert.equal(isNewerRevision(at('18446744073709551615'), at('18446744073709551614')), true);
  });
  it('takes what it cannot compare for not newer', () => {
    assert.equal(isNewerRevision(at('abc'), at('1')), false);
    assert.equal(isNewerRevision(at(undefined), at('1')), false);
    assert.equal(isNewerRevision(at('2'), at(undefined)), false);
    assert.equal(isNewerRevision(at('1'.repeat(21)), at('1')), false);
  });
});
