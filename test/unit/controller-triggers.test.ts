/**
 * What makes the controller reconcile besides a desiredUpdate edit (found by the issue-13
 * review): an edit of what the CVO validates (spec.upstream and spec.clusterID besides
 * desiredUpdate: Invalid and observedGeneration are written at once), and a periodic resync,
 * through which a FeatureGate change takes effect without another spec edit.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { startController, release } from '../helpers/controller-fixture.js';

const IMG2 = release(0x102);

describe('the controller reconciles on edits of validated spec fields and on a periodic resync', () => {
  it('an invalid spec.upstream set alone gets Invalid=True and observedGeneration (as the CVO writes on every sync)', async () => {
    const f = await startController({}, [{ version: '4.17.0', image: IMG2 }]);
    await f.kube.mergePatchClusterVersion('version', { spec: { upstream: ':graph' } });
    await f.reconciled();
    await f.clock.advance(10 * 60_000);
    await f.reconciled();
    const cv = await f.clusterVersion();
    const invalid = cv.status?.conditions?.find((c) => c.type === 'Invalid');
    try {
      assert.equal(
        cv.status?.observedGeneration,
        cv.metadata.generation,
        `observedGeneration ${String(cv.status?.observedGeneration)} vs generation ${String(cv.metadata.generation)}`,
      );
      assert.equal(invalid?.status, 'True', 'Invalid=True for spec.upstream ":graph"');
    } finally {
      await f.controller.stop();
    }
  });

  it('a FeatureGate turning ClusterUpdateAcceptRisks on clears the acceptRisks Invalid without another spec edit', async () => {
    let enabled: { name: string }[] = [];
    const f = await startController(
      {
        featureGates: {
          getFeatureGate: () =>
            Promise.resolve({
              status: { featureGates: [{ version: '4.16.0', enabled, disabled: [] }] },
            }),
        },
      },
      [{ version: '4.17.0', image: IMG2 }],
    );
    f.verifier.accept(IMG2);
    await f.request({ version: '4.17.0', image: IMG2, acceptRisks: [{ name: 'R' }] });
    assert.equal((await f.condition('Invalid'))?.status, 'True');
    enabled = [{ name: 'ClusterUpdateAcceptRisks' }];
    await f.clock.advance(60 * 60_000);
    await f.reconciled();
    try {
      assert.equal(
        await f.condition('Invalid'),
        undefined,
        'still Invalid: the FeatureGate is read only when desiredUpdate changes',
      );
    } finally {
      await f.controller.stop();
    }
  });
});
