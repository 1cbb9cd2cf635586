import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { dump } from 'js-yaml';

import { seedClusterVersion } from '../../testbed/local-cluster/openshift.js';
import type { Service } from '../../src/main.js';
import { createTestKey } from '../helpers/cosign.js';
import { startTestCluster } from '../helpers/local-cluster.js';
import type { TestCluster } from '../helpers/local-cluster.js';
import { findRegistryBinary, TestRegistry } from '../helpers/registry.js';
import type { PushTarget } from '../helpers/registry.js';
import { pushSyntheticRelease } from '../helpers/release.js';
import { condition, ReleaseSigner, requestUpdate, runService, waitFor } from './harness.js';

const binary = await findRegistryBinary();

describe(
  'the root of trust taken from the running release’s payload (--root-of-trust-from-payload)',
  { skip: 'skip' in binary ? binary.skip : false },
  () => {
    let tc: TestCluster | undefined;
    let skip: string | undefined;
    let signer: ReleaseSigner;
    let registry: TestRegistry;
    let target: PushTarget;
    let service: Service | undefined;
    const cosignKey = createTestKey('p256');

    before(async () => {
      assert.ok('path' in binary);
      const started = await startTestCluster();
      if ('skip' in started) {
        skip = started.skip;
        return;
      }
      tc = started;
      signer = await ReleaseSigner.create();
      registry = await TestRegistry.start(binary.path);
      target = { url: registry.url };
      // The running release ships the root of trust among its manifests; the cluster has no
      // openshift-config-managed/release-verification ConfigMap at all.
      const running = await pushSyntheticRelease({
        target,
        host: registry.host,
        key: cosignKey,
        components: 3,
        releaseRepo: 'ocp/running',
        version: '4.16.0',
        manifests: {
          '0000_90_cluster-update-keys_configmap.yaml': dump(await signer.rootOfTrust()),
        },
      });
      await seedClusterVersion(tc.cluster, tc.binaries.kubectl, tc.admin, {
        current: { version: '4.16.0', image: running.pullspec },
        availableUpdates: [],
      });
      service = await runService(tc.cluster.kubeconfig, { rootOfTrustFromPayload: true });
    });

    after(async () => {
      await service?.stop();
      await registry.stop();
      await signer.close();
      await tc?.stop();
    });

    it('verifies a release signed with the key the running payload trusts', async (t) => {
      if (tc === undefined) return t.skip(skip ?? 'no cluster');
      const next = await pushSyntheticRelease({
        target,
        host: registry.host,
        key: cosignKey,
        components: 3,
        releaseRepo: 'ocp/next',
        version: '4.17.0',
      });
      await signer.publish(next.digest);
      await requestUpdate(tc, { image: next.pullspec, version: '', force: false });
      const cv = await waitFor(
        tc.admin,
        (x) => x.status?.desired.image === next.pullspec,
        'acceptance',
      );
      assert.equal(cv.status?.history?.[0]?.verified, true);
      assert.match(condition(cv, 'ReleaseVerified')?.message ?? '', /verifier-public-key/);
    });

    it('refuses a release the running payload’s key did not sign', async (t) => {
      if (tc === undefined) return t.skip(skip ?? 'no cluster');
      const other = await ReleaseSigner.create();
      try {
        const next = await pushSyntheticRelease({
          target,
          host: registry.host,
          key: cosignKey,
          components: 3,
          releaseRepo: 'ocp/other',
          version: '4.17.1',
          // It even carries a root of trust of its own: a release cannot vouch for itself.
          manifests: {
            '0000_90_cluster-update-keys_configmap.yaml': dump(await other.rootOfTrust()),
          },
        });
        await other.publish(next.digest);
        await requestUpdate(tc, { image: next.pullspec, version: '', force: false });
        const cv = await waitFor(
          tc.admin,
          (x) => (condition(x, 'ReleaseAccepted')?.message ?? '').includes(next.pullspec),
          'refusal',
        );
        assert.equal(condition(cv, 'ReleaseAccepted')?.status, 'False');
        assert.notEqual(cv.status?.desired.image, next.pullspec);
      } finally {
        await other.close();
      }
    });
  },
);
