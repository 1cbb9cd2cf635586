import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';

import { load } from 'js-yaml';

import { createKubePort, loadKubeConfig } from '../../src/kube/client.js';
import type { Service } from '../../src/main.js';
import { POLICIES_NOT_SERVED_NOTE } from '../../src/trust/cluster-inputs.js';
import { ensureControlPlaneBinaries } from '../../testbed/local-cluster/binaries.js';
import {
  bootstrapOpenShiftApi,
  crdFiles,
  kubectl,
  waitEstablished,
} from '../../testbed/local-cluster/bootstrap.js';
import type { FeatureSet } from '../../testbed/local-cluster/bootstrap.js';
import { startLocalCluster } from '../../testbed/local-cluster/cluster.js';
import { repoRoot, sharedFixture } from '../helpers/fixtures.js';
import { optionalApiContract } from '../helpers/kube-port-contract.js';
import type { TestCluster } from '../helpers/local-cluster.js';
import {
  condition,
  digestOf,
  events,
  eventually,
  installRootOfTrust,
  REPO,
  ReleaseSigner,
  requestUpdate,
  runService,
  seed,
  waitFor,
} from './harness.js';

/**
 * The controller's main flows on each ClusterVersion CRD variant OpenShift installs: `Default`
 * (no spec.signatureStores, no ClusterImagePolicy or ImagePolicy CRD, as every cluster without
 * TechPreviewNoUpgrade before those APIs went GA) and `TechPreviewNoUpgrade` (every CRD). One
 * control plane per variant; test/e2e/controller.test.ts covers the rest on TechPreviewNoUpgrade.
 */
const FEATURE_SETS: readonly FeatureSet[] = ['Default', 'TechPreviewNoUpgrade'];

const NOT_SERVED_LOG =
  'ClusterImagePolicies are not served by this cluster: releases are verified without Sigstore policies';

/** A real control plane with the CRDs of `featureSet`, as startTestCluster makes one. */
async function startFeatureSetCluster(
  featureSet: FeatureSet,
): Promise<{ tc: TestCluster; crdDir: string } | { skip: string }> {
  const crds = sharedFixture('openshift-api');
  if ('skip' in crds) return crds;
  const progress = (line: string): void => {
    process.stderr.write(`[control-plane ${featureSet}] ${line}\n`);
  };
  const binaries = await ensureControlPlaneBinaries({
    moduleDir: join(repoRoot, 'control-plane'),
    cacheDir: join(repoRoot, '.cache', 'control-plane'),
    progress,
    env: process.env,
  });
  const cluster = await startLocalCluster({ binaries, progress });
  try {
    await bootstrapOpenShiftApi(cluster, binaries.kubectl, crds.path, { featureSet });
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return {
    crdDir: crds.path,
    tc: {
      cluster,
      binaries,
      admin: createKubePort(loadKubeConfig({ kubeconfig: cluster.kubeconfig })),
      kubectl: (args, input) => kubectl(cluster, binaries.kubectl, args, input),
      stop: () => cluster.stop(),
    },
  };
}

for (const featureSet of FEATURE_SETS) {
  const defaultSet = featureSet === 'Default';

  describe(`the ClusterVersion controller on a ${featureSet} cluster`, () => {
    let tc: TestCluster | undefined;
    let crdDir = '';
    let skip: string | undefined;
    let signer: ReleaseSigner | undefined;
    let service: Service | undefined;
    const logs: string[] = [];
    const signed = `${REPO}@${digestOf(1)}`;
    const unsigned = `${REPO}@${digestOf(2)}`;

    before(async () => {
      const started = await startFeatureSetCluster(featureSet);
      if ('skip' in started) {
        skip = started.skip;
        return;
      }
      ({ tc, crdDir } = started);
      signer = await ReleaseSigner.create();
      await installRootOfTrust(tc.admin, signer);
      await signer.publish(digestOf(1));
      await seed(tc);
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

    it(`serves the ${featureSet} ClusterVersion CRD${defaultSet ? ' and no ClusterImagePolicy CRD' : ''}`, async (t) => {
      const c = cluster(t);
      if (!c) return;
      const crd = JSON.parse(
        await c.kubectl(['get', 'crd', 'clusterversions.config.openshift.io', '-o', 'json']),
      ) as { metadata: { annotations?: Record<string, string> } };
      assert.equal(crd.metadata.annotations?.['release.openshift.io/feature-set'], featureSet);
      const names = (await c.kubectl(['get', 'crd', '-o', 'name'])).trim().split('\n').sort();
      assert.deepEqual(
        names,
        crdFiles(featureSet)
          .map((f) => `customresourcedefinition.apiextensions.k8s.io/${f.name}`)
          .sort(),
      );
    });

    it('refuses a by-tag pullspec with the CVO texts', async (t) => {
      const c = cluster(t);
      if (!c) return;
      await requestUpdate(c, { image: `${REPO}:4.17.0-x86_64`, version: '' });
      const cv = await waitFor(
        c.admin,
        (x) => condition(x, 'ReleaseAccepted')?.status === 'False',
        'ReleaseAccepted=False',
      );
      assert.equal(condition(cv, 'ReleaseAccepted')?.reason, 'RetrievePayload');
      assert.equal(
        condition(cv, 'ReleaseAccepted')?.message,
        `Retrieving payload failed version="" image="${REPO}:4.17.0-x86_64" failure=The update cannot be verified: release images that are not accessed via digest cannot be verified`,
      );
    });

    it(`accepts a signed release${defaultSet ? ', saying Sigstore policies were not consulted' : ''}`, async (t) => {
      const c = cluster(t);
      if (!c) return;
      await requestUpdate(c, { image: signed, version: '4.17.0', force: false });
      const cv = await waitFor(
        c.admin,
        (x) => x.status?.desired.image === signed,
        'desired = signed',
      );
      assert.equal(condition(cv, 'ReleaseAccepted')?.reason, 'PayloadLoaded');
      assert.equal(cv.status?.history?.[0]?.verified, true);
      const verified = condition(cv, 'ReleaseVerified');
      assert.equal(verified?.status, 'True');
      assert.match(verified?.message ?? '', /^\S+: verifier-public-key-e2e: /);
      assert.equal(
        verified?.message?.endsWith(`; ${POLICIES_NOT_SERVED_NOTE}`),
        defaultSet,
        verified?.message,
      );
    });

    it('refuses an unsigned release without force, the evidence in an Event', async (t) => {
      const c = cluster(t);
      if (!c) return;
      await requestUpdate(c, { image: unsigned, version: '4.17.2', force: false });
      const cv = await waitFor(
        c.admin,
        (x) => (condition(x, 'ReleaseAccepted')?.message ?? '').includes(digestOf(2)),
        'refusal',
      );
      assert.equal(
        condition(cv, 'ReleaseAccepted')?.message,
        `Retrieving payload failed version="4.17.2" image="${unsigned}" failure=The update cannot be verified: unable to verify ${digestOf(2)} against keyrings: verifier-public-key-e2e`,
      );
      assert.equal(condition(cv, 'ReleaseVerified')?.reason, 'NotSigned');
      const failed = (
        await events(c, 'RetrievePayloadFailed', (e) => e.message.includes(digestOf(2)))
      ).find((e) => e.message.includes(digestOf(2)));
      assert.ok(failed, 'RetrievePayloadFailed event');
      assert.equal(failed.message.includes(POLICIES_NOT_SERVED_NOTE), defaultSet, failed.message);
    });

    it('accepts it when forced (verified: false), then re-checks it and flips verified once signed', async (t) => {
      const c = cluster(t);
      if (!c || !signer || !service) return;
      await requestUpdate(c, { image: unsigned, version: '4.17.2', force: true });
      const forced = await waitFor(
        c.admin,
        (x) => x.status?.desired.image === unsigned,
        'forced acceptance',
      );
      assert.equal(forced.status?.history?.[0]?.verified, false);
      assert.match(
        forced.status?.history?.[0]?.acceptedRisks ?? '',
        /cannot be verified, but continuing anyway because the update was forced/,
      );
      // The re-check is scheduled by the reconcile the controller's own status write triggers,
      // which may come just after the write this test saw.
      const { controller } = service;
      const scheduled = (): boolean =>
        controller.pendingRechecks().some((r) => r.key === `history:${unsigned}`);
      for (let i = 0; i < 50 && !scheduled(); i++) await setTimeout(100);
      assert.ok(scheduled(), 're-check scheduled');
      await signer.publish(digestOf(2));
      const cv = await waitFor(
        c.admin,
        (x) => x.status?.history?.[0]?.verified === true,
        'verified flip',
        30_000,
      );
      assert.equal(cv.status?.history?.[0]?.image, unsigned);
    });

    if (!defaultSet) {
      it('reads the FeatureGate as the CVO: acceptRisks is Invalid until ClusterUpdateAcceptRisks is enabled for the cluster’s version', async (t) => {
        const c = cluster(t);
        if (!c || !signer) return;
        // The version the cluster runs: its newest Completed history entry.
        const version =
          (await c.admin.getClusterVersion('version')).status?.history?.find(
            (h) => h.state === 'Completed',
          )?.version ?? '';
        const risky = `${REPO}@${digestOf(3)}`;
        await signer.publish(digestOf(3));
        const request = { image: risky, version: '4.17.3', acceptRisks: [{ name: 'SomeRisk' }] };
        await requestUpdate(c, request);
        const invalid = await waitFor(
          c.admin,
          (x) => condition(x, 'Invalid')?.status === 'True',
          'Invalid for acceptRisks without the gate',
        );
        assert.equal(
          condition(invalid, 'Invalid')?.message,
          'The cluster version is invalid: spec.desiredUpdate.acceptRisks: Forbidden: acceptRisks must not be specified',
        );
        await c.kubectl(
          ['apply', '-f', '-'],
          JSON.stringify({
            apiVersion: 'config.openshift.io/v1',
            kind: 'FeatureGate',
            metadata: { name: 'cluster' },
            spec: { featureSet: 'TechPreviewNoUpgrade' },
          }),
        );
        await c.kubectl([
          'patch',
          'featuregate',
          'cluster',
          '--subresource=status',
          '--type=merge',
          '-p',
          JSON.stringify({
            status: {
              featureGates: [
                { version, enabled: [{ name: 'ClusterUpdateAcceptRisks' }], disabled: [] },
              ],
            },
          }),
        ]);
        // A spec edit makes the controller reconcile (and read the gate) again.
        await requestUpdate(c, {
          ...request,
          acceptRisks: [{ name: 'SomeRisk' }, { name: 'Other' }],
        });
        const accepted = await waitFor(
          c.admin,
          (x) => x.status?.desired.image === risky,
          'acceptance with the gate on',
        );
        assert.equal(condition(accepted, 'Invalid'), undefined);
        assert.equal(accepted.status?.history?.[0]?.verified, true);
        await c.kubectl(['delete', 'featuregate', 'cluster']);
      });
    }

    if (defaultSet) {
      it('logged that ClusterImagePolicies are not served once, not once per verification', async (t) => {
        if (!cluster(t)) return;
        const said = (): number =>
          logs.filter((l) => (JSON.parse(l) as { msg?: string }).msg === NOT_SERVED_LOG).length;
        await eventually(() => said() > 0, 'the log line');
        assert.equal(said(), 1, logs.join(''));
      });

      describe('the client against this API server', () => {
        optionalApiContract(() =>
          tc !== undefined
            ? {
                kube: tc.admin,
                serveClusterImagePoliciesOnlyAs: async (version) => {
                  if (tc === undefined) return;
                  // The real CRD, its one version renamed: as a release whose CRD had only it.
                  const file = crdFiles('TechPreviewNoUpgrade').find((f) =>
                    f.name.startsWith('clusterimagepolicies.'),
                  );
                  assert.ok(file);
                  const crd = load(await readFile(join(crdDir, file.file), 'utf8')) as {
                    spec: { versions: { name: string }[] };
                  };
                  assert.equal(crd.spec.versions.length, 1);
                  for (const v of crd.spec.versions) v.name = version;
                  await tc.kubectl(['apply', '--server-side', '-f', '-'], JSON.stringify(crd));
                  await waitEstablished(tc.cluster, tc.binaries.kubectl, [file.name]);
                },
                stopServingImageContentSourcePolicies: async () => {
                  if (tc === undefined) return;
                  await tc.kubectl([
                    'delete',
                    'crd',
                    'imagecontentsourcepolicies.operator.openshift.io',
                    '--wait=true',
                  ]);
                },
              }
            : { skip: skip ?? 'no cluster' },
        );
      });
    }
  });
}
