/**
 * A revocation added to the root-of-trust ConfigMap of a running service takes effect at once:
 * the next verification refuses (no cached verdict survives it), and the background watch on the
 * accepted target turns its ReleaseVerified condition False with a Warning Event, while history
 * keeps `verified: true` as recorded at acceptance (as the CVO keeps it).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { ConfigMap } from '../../src/kube/types.js';
import type { Service } from '../../src/main.js';
import { startTestCluster } from '../helpers/local-cluster.js';
import type { TestCluster } from '../helpers/local-cluster.js';
import {
  condition,
  digestOf,
  events,
  installRootOfTrust,
  REPO,
  ReleaseSigner,
  requestUpdate,
  runService,
  seed,
  waitFor,
} from './harness.js';

describe('revocation in a running service', () => {
  let tc: TestCluster | undefined;
  let skip: string | undefined;
  let signer: ReleaseSigner;
  let service: Service | undefined;

  before(async () => {
    const started = await startTestCluster();
    if ('skip' in started) {
      skip = started.skip;
      return;
    }
    tc = started;
    signer = await ReleaseSigner.create();
    await installRootOfTrust(tc.admin, signer);
    await seed(tc);
    service = await runService(tc.cluster.kubeconfig);
  });

  after(async () => {
    await service?.stop();
    await signer.close();
    await tc?.stop();
  });

  /** Puts `cm` in place of the root-of-trust ConfigMap (creating it when it is gone). */
  const putRootOfTrust = async (c: TestCluster, cm: ConfigMap): Promise<void> => {
    const existing = await c.admin.getConfigMap('openshift-config-managed', 'release-verification');
    if (existing === undefined) await c.admin.createConfigMap('openshift-config-managed', cm);
    else
      await c.admin.replaceConfigMap('openshift-config-managed', {
        ...cm,
        metadata: { ...cm.metadata, resourceVersion: existing.metadata.resourceVersion ?? '' },
      });
  };

  it('flips the accepted target on a revocation (not on an outage), back when it is undone, and refuses the next release', async (t) => {
    if (tc === undefined) return t.skip(skip ?? 'no cluster');
    const c = tc;
    const accepted = `${REPO}@${digestOf(0x61)}`;
    await signer.publish(digestOf(0x61));
    await signer.publish(digestOf(0x62));
    await requestUpdate(c, { image: accepted, version: '', force: false });
    const before = await waitFor(c.admin, (x) => x.status?.desired.image === accepted, 'accepted');
    assert.equal(before.status?.history?.[0]?.verified, true);
    assert.equal(condition(before, 'ReleaseVerified')?.status, 'True');
    const intact = await signer.rootOfTrust();

    // An outage of the trust (the ConfigMap briefly gone) says nothing about it: no flip.
    await c.kubectl([
      'delete',
      'configmap',
      'release-verification',
      '-n',
      'openshift-config-managed',
    ]);
    await new Promise((resolve) => setTimeout(resolve, 4000));
    const during = await c.admin.getClusterVersion('version');
    assert.equal(condition(during, 'ReleaseVerified')?.status, 'True', 'flipped on an outage');
    await putRootOfTrust(c, intact);

    await signer.gpg.revokeKey(signer.key);
    const revoked = await signer.rootOfTrust();
    await putRootOfTrust(c, revoked);
    const flipped = await waitFor(
      c.admin,
      (x) => condition(x, 'ReleaseVerified')?.status === 'False',
      'ReleaseVerified False after the revocation',
      30_000,
    );
    assert.equal(condition(flipped, 'ReleaseVerified')?.reason, 'KeyRevoked');
    assert.equal(flipped.status?.desired.image, accepted, 'the target stays accepted');
    assert.equal(flipped.status?.history?.[0]?.verified, true, 'history keeps its record');
    const warned = await events(c, 'ReleaseNoLongerVerified', (e) => e.message.includes(accepted));
    assert.ok(
      warned.some((e) => e.type === 'Warning' && e.message.includes(accepted)),
      JSON.stringify(warned),
    );

    // The revocation undone (the old ConfigMap back): verified again.
    await putRootOfTrust(c, intact);
    await waitFor(
      c.admin,
      (x) => condition(x, 'ReleaseVerified')?.status === 'True',
      'ReleaseVerified True once the revocation is undone',
      30_000,
    );

    // Revoked again: the next release signed by that key is refused, not served from a cache.
    await putRootOfTrust(c, revoked);
    const next = `${REPO}@${digestOf(0x62)}`;
    await requestUpdate(c, { image: next, version: '', force: false });
    const refused = await waitFor(
      c.admin,
      (x) => (condition(x, 'ReleaseAccepted')?.message ?? '').includes(digestOf(0x62)),
      'refusal of the next release',
    );
    assert.equal(condition(refused, 'ReleaseAccepted')?.status, 'False');
    assert.equal(condition(refused, 'ReleaseVerified')?.reason, 'KeyRevoked');
  });
});
