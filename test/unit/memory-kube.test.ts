import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import { KubeApiError } from '../../src/kube/client.js';
import type { ClusterVersion } from '../../src/kube/types.js';
import { kubePortContract } from '../helpers/kube-port-contract.js';
import { MemoryKube } from '../helpers/memory-kube.js';

function clusterVersion(): ClusterVersion {
  return {
    apiVersion: 'config.openshift.io/v1',
    kind: 'ClusterVersion',
    metadata: { name: 'version' },
    spec: { clusterID: 'c1', channel: 'stable-4.17' },
    status: {
      desired: { version: '4.16.0', image: 'quay.io/ocp/release@sha256:' + '1'.repeat(64) },
      observedGeneration: 1,
      versionHash: 'seeded',
      availableUpdates: null,
      conditions: [],
    },
  };
}

describe('MemoryKube', () => {
  describe('against the KubePort contract the real client meets', () => {
    let kube: MemoryKube;
    before(async () => {
      kube = new MemoryKube();
      await kube.createClusterVersion(clusterVersion());
    });
    kubePortContract(() => ({ kube, namespace: 'default' }));
  });

  describe('when a reactor writes before a call', () => {
    it('makes the call meet the newer resourceVersion (a concurrent writer), once', async () => {
      const kube = new MemoryKube();
      const cv = await kube.createClusterVersion(clusterVersion());
      kube.before('update', 'clusterversions/status', async () => {
        await kube.mergePatchClusterVersion('version', { spec: { channel: 'fast-4.17' } });
      });
      await assert.rejects(
        kube.replaceClusterVersionStatus(cv),
        (err: unknown) => err instanceof KubeApiError && err.status === 409,
      );
      const fresh = await kube.getClusterVersion('version');
      const written = await kube.replaceClusterVersionStatus({
        ...fresh,
        status: { ...fresh.status!, versionHash: 'after' },
      });
      assert.equal(written.status?.versionHash, 'after');
      assert.deepEqual(
        kube.actions.map((a) => `${a.verb} ${a.resource}`),
        [
          'create clusterversions',
          'update clusterversions/status',
          'patch clusterversions',
          'get clusterversions',
          'update clusterversions/status',
        ],
      );
    });

    it('injects the error it throws', async () => {
      const kube = new MemoryKube();
      await kube.createClusterVersion(clusterVersion());
      kube.before(
        'get',
        'clusterversions',
        () => {
          throw new KubeApiError(503, 'get clusterversion version: 503 unavailable');
        },
        2,
      );
      for (let i = 0; i < 2; i++)
        await assert.rejects(kube.getClusterVersion('version'), /503 unavailable/);
      assert.equal((await kube.getClusterVersion('version')).metadata.name, 'version');
    });
  });

  it('refuses a namespaced create in a namespace that does not exist, when told which exist', async () => {
    const kube = new MemoryKube({ namespaces: ['a'] });
    await kube.createConfigMap('a', { metadata: { name: 'x' } });
    await assert.rejects(
      kube.createConfigMap('b', { metadata: { name: 'x' } }),
      (err: unknown) =>
        err instanceof KubeApiError &&
        err.status === 404 &&
        err.message.startsWith('create configmap b/x: 404 {') &&
        err.message.includes('"message":"namespaces \\"b\\" not found"'),
    );
  });

  it('refuses an unconditional ClusterVersion status write (custom resources need a resourceVersion)', async () => {
    const kube = new MemoryKube();
    const cv = await kube.createClusterVersion(clusterVersion());
    const metadata = { ...cv.metadata };
    delete metadata.resourceVersion;
    await assert.rejects(
      kube.replaceClusterVersionStatus({ ...cv, metadata }),
      (err: unknown) => err instanceof KubeApiError && err.status === 422,
    );
  });
});
