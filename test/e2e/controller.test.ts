import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { Service } from '../../src/main.js';
import { startTestCluster } from '../helpers/local-cluster.js';
import type { TestCluster } from '../helpers/local-cluster.js';
import {
  condition,
  CURRENT,
  digestOf,
  events,
  installRootOfTrust,
  REPO,
  ReleaseSigner,
  requestUpdate,
  runService,
  seed,
  waitFor,
  eventually,
} from './harness.js';

describe('the ClusterVersion controller on a real control plane', () => {
  let tc: TestCluster | undefined;
  let skip: string | undefined;
  let signer: ReleaseSigner;
  let service: Service;
  const logs: string[] = [];
  const signed = `${REPO}@${digestOf(1)}`;
  const unsigned = `${REPO}@${digestOf(2)}`;
  const listed = `${REPO}@${digestOf(3)}`;

  before(async () => {
    const started = await startTestCluster();
    if ('skip' in started) {
      skip = started.skip;
      return;
    }
    tc = started;
    signer = await ReleaseSigner.create();
    await installRootOfTrust(tc.admin, signer);
    await signer.publish(digestOf(1));
    await signer.publish(digestOf(3));
    await seed(tc, [{ version: '4.17.1', image: listed }]);
    service = await runService(tc.cluster.kubeconfig, {}, logs);
  });

  after(async () => {
    if (process.env.E2E_LOGS === '1') process.stderr.write(logs.join(''));
    await service?.stop();
    await signer?.close();
    await tc?.stop();
  });

  const cluster = (t: { skip: (m: string) => void }): TestCluster | undefined => {
    if (tc === undefined) t.skip(skip ?? 'no cluster');
    return tc;
  };

  it('refuses a by-tag pullspec with the CVO texts', async (t) => {
    const c = cluster(t);
    if (!c) return;
    await requestUpdate(c, { image: `${REPO}:4.17.0-x86_64`, version: '' });
    const cv = await waitFor(
      c.admin,
      (x) => condition(x, 'ReleaseAccepted')?.status === 'False',
      'ReleaseAccepted=False',
    );
    const accepted = condition(cv, 'ReleaseAccepted');
    assert.equal(accepted?.reason, 'RetrievePayload');
    assert.equal(
      accepted?.message,
      `Retrieving payload failed version="" image="${REPO}:4.17.0-x86_64" failure=The update cannot be verified: release images that are not accessed via digest cannot be verified`,
    );
    assert.equal(cv.status?.desired.image, CURRENT.image, 'desired must not move');
    assert.equal(cv.status?.history?.length, 1);
    assert.ok(
      (
        await events(
          c,
          'RetrievePayloadFailed',
          (e) => e.type === 'Warning' && e.message.includes('not accessed via digest'),
        )
      ).some((e) => e.type === 'Warning' && e.message.includes('not accessed via digest')),
    );
  });

  it('accepts a signed release: ReleaseAccepted=True, desired set, verified history entry', async (t) => {
    const c = cluster(t);
    if (!c) return;
    await requestUpdate(c, { image: signed, version: '4.17.0', force: false });
    const cv = await waitFor(
      c.admin,
      (x) => x.status?.desired.image === signed,
      'desired = signed',
    );
    assert.equal(condition(cv, 'ReleaseAccepted')?.status, 'True');
    assert.equal(condition(cv, 'ReleaseAccepted')?.reason, 'PayloadLoaded');
    assert.equal(condition(cv, 'ReleaseVerified')?.status, 'True');
    const [head, previous] = cv.status?.history ?? [];
    assert.deepEqual(
      {
        state: head?.state,
        image: head?.image,
        version: head?.version,
        verified: head?.verified,
        completionTime: head?.completionTime,
      },
      { state: 'Partial', image: signed, version: '4.17.0', verified: true, completionTime: null },
    );
    assert.equal(previous?.image, CURRENT.image);
    assert.notEqual(previous?.completionTime, null);
    // The signature that verified is cached in a labelled ConfigMap for restarts and disconnection
    // (written just after the status, so wait for it).
    const key = `sha256-${digestOf(1).slice(7)}-1`;
    await eventually(
      async () =>
        (await c.admin.getConfigMap('openshift-config-managed', 'signatures-managed'))
          ?.binaryData?.[key] !== undefined,
      'the signature cache entry',
    );
    const cache = await c.admin.getConfigMap('openshift-config-managed', 'signatures-managed');
    assert.ok(cache?.binaryData?.[`sha256-${digestOf(1).slice(7)}-1`], 'signature cache entry');
    assert.equal(cache.metadata.labels?.['release.openshift.io/verification-signatures'], '');
  });

  it('refuses an unsigned release without force, with the CVO short form and full evidence in an Event', async (t) => {
    const c = cluster(t);
    if (!c) return;
    await requestUpdate(c, { image: unsigned, version: '4.17.2', force: false });
    const cv = await waitFor(
      c.admin,
      (x) =>
        condition(x, 'ReleaseAccepted')?.status === 'False' &&
        (condition(x, 'ReleaseAccepted')?.message ?? '').includes(digestOf(2)),
      'refusal',
    );
    assert.equal(
      condition(cv, 'ReleaseAccepted')?.message,
      `Retrieving payload failed version="4.17.2" image="${unsigned}" failure=The update cannot be verified: unable to verify ${digestOf(2)} against keyrings: verifier-public-key-e2e`,
    );
    assert.equal(condition(cv, 'ReleaseVerified')?.reason, 'NotSigned');
    assert.equal(cv.status?.desired.image, signed);
    const failed = (
      await events(c, 'RetrievePayloadFailed', (e) => e.message.includes(digestOf(2)))
    ).find((e) => e.message.includes(digestOf(2)));
    assert.ok(failed, 'RetrievePayloadFailed event');
    assert.match(failed.message, / \/\/ .*signature-1: 404 Not Found/);
  });

  it('accepts it when forced, recording verified: false and the accepted risk', async (t) => {
    const c = cluster(t);
    if (!c) return;
    await requestUpdate(c, { image: unsigned, version: '4.17.2', force: true });
    const cv = await waitFor(
      c.admin,
      (x) => x.status?.desired.image === unsigned,
      'forced acceptance',
    );
    const head = cv.status?.history?.[0];
    assert.equal(head?.verified, false);
    assert.equal(
      head?.acceptedRisks,
      `Target release version="4.17.2" image="${unsigned}" cannot be verified, but continuing anyway because the update was forced: unable to verify ${digestOf(2)} against keyrings: verifier-public-key-e2e`,
    );
    assert.equal(condition(cv, 'ReleaseAccepted')?.status, 'True');
    assert.ok(
      (
        await events(
          c,
          'RetrievePayload',
          (e) => e.type === 'Warning' && e.message.includes('because the update was forced'),
        )
      ).some((e) => e.type === 'Warning' && e.message.includes('because the update was forced')),
    );
  });

  it('re-checks the unverified release in the background and flips verified when a signature appears', async (t) => {
    const c = cluster(t);
    if (!c) return;
    // Scheduled by the reconcile the controller's own status write triggers: wait, not race.
    const scheduled = (): boolean =>
      service.controller.pendingRechecks().some((r) => r.key === `history:${unsigned}`);
    for (let i = 0; i < 50 && !scheduled(); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(scheduled(), 're-check scheduled');
    await signer.publish(digestOf(2));
    const cv = await waitFor(
      c.admin,
      (x) => x.status?.history?.[0]?.verified === true,
      'verified flip',
      30_000,
    );
    assert.equal(cv.status?.history?.[0]?.image, unsigned);
    assert.ok(
      (await events(c, 'ReleaseVerified', (e) => e.message.includes('is now verified'))).some((e) =>
        e.message.includes('is now verified'),
      ),
    );
  });

  it('looks a version up in availableUpdates when no image is given', async (t) => {
    const c = cluster(t);
    if (!c) return;
    await requestUpdate(c, { version: '4.17.1', image: '' });
    const cv = await waitFor(c.admin, (x) => x.status?.desired.image === listed, 'listed version');
    assert.equal(cv.status?.history?.[0]?.verified, true);
    assert.equal(cv.status?.desired.version, '4.17.1');
  });

  it('marks an unknown version Invalid (InvalidClusterVersion)', async (t) => {
    const c = cluster(t);
    if (!c) return;
    await requestUpdate(c, { version: '9.9.9', image: '' });
    const cv = await waitFor(c.admin, (x) => condition(x, 'Invalid')?.status === 'True', 'Invalid');
    assert.equal(condition(cv, 'Invalid')?.reason, 'InvalidClusterVersion');
    // pkg/cvo/status.go:275 and lib/validation/validation.go:47-48, formatted by apimachinery's
    // field.Error (vendor/k8s.io/apimachinery/pkg/util/validation/field/errors.go:64, :89).
    assert.equal(
      condition(cv, 'Invalid')?.message,
      'The cluster version is invalid: spec.desiredUpdate.version: Invalid value: "9.9.9": when image is empty the update must be an available update',
    );
  });

  it('refuses with the CVO message when spec.signatureStores is an empty array', async (t) => {
    const c = cluster(t);
    if (!c) return;
    const target = `${REPO}@${digestOf(4)}`;
    await signer.publish(digestOf(4));
    await c.kubectl([
      'patch',
      'clusterversion',
      'version',
      '--type=merge',
      '-p',
      JSON.stringify({
        spec: { signatureStores: [], desiredUpdate: { image: target, version: '', force: false } },
      }),
    ]);
    const cv = await waitFor(
      c.admin,
      (x) => (condition(x, 'ReleaseAccepted')?.message ?? '').includes(digestOf(4)),
      'refusal for []',
    );
    assert.match(
      condition(cv, 'ReleaseAccepted')?.message ?? '',
      /ClusterVersion spec.signatureStores is an empty array\. Unset signatureStores entirely if you want to enable the default signature stores/,
    );
    // Unsetting it takes effect without a restart: the background re-check accepts the target.
    await c.kubectl([
      'patch',
      'clusterversion',
      'version',
      '--type=json',
      '-p',
      JSON.stringify([{ op: 'remove', path: '/spec/signatureStores' }]),
    ]);
    await waitFor(
      c.admin,
      (x) => x.status?.desired.image === target,
      'accepted after unsetting signatureStores',
      30_000,
    );
  });
});
