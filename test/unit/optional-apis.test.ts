import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';

import { defaultServiceConfig } from '../../src/config/service-config.js';
import { ReleaseController } from '../../src/controller/controller.js';
import { toStoreDigestPath } from '../../src/image/pullspec.js';
import { isResourceNotServed, KubeApiError } from '../../src/kube/client.js';
import type { Logger } from '../../src/observability/logger.js';
import { silentLogger } from '../../src/observability/logger.js';
import { RegistryClient } from '../../src/registry/client.js';
import {
  ClusterTrustReader,
  mirrorSetsNotServedNote,
  POLICIES_NOT_SERVED_NOTE,
} from '../../src/trust/cluster-inputs.js';
import { ClusterTrust } from '../../src/trust/cluster-trust.js';
import { installedClusterVersion, release } from '../helpers/controller-fixture.js';
import { atomicPayload, GnuPG } from '../helpers/gnupg.js';
import type { GpgKey } from '../helpers/gnupg.js';
import { optionalApiContract } from '../helpers/kube-port-contract.js';
import { ManualClock, settle } from '../helpers/manual-clock.js';
import { kubeApiError, MemoryKube } from '../helpers/memory-kube.js';
import { publicKeyPem, publicKeyPolicy } from '../policy/policy-fixtures.js';

const CONFIG = defaultServiceConfig({});
const LOCATIONS = {
  rootOfTrust: CONFIG.rootOfTrust,
  signatureNamespace: CONFIG.signatureNamespace,
  caNamespace: CONFIG.caNamespace,
  trustedCaBundle: CONFIG.trustedCaBundle,
};

/** A logger that keeps its lines, to count how often something was said. */
function recordingLogger(): Logger & { lines: { level: string; message: string }[] } {
  const lines: { level: string; message: string }[] = [];
  const log =
    (level: string) =>
    (message: string): void => {
      lines.push({ level, message });
    };
  return { lines, info: log('info'), warn: log('warn'), error: log('error') };
}

describe('MemoryKube without optional CRDs', () => {
  describe('against the optional-API contract the real client meets', () => {
    let kube: MemoryKube;
    before(() => {
      kube = new MemoryKube();
      kube.notServed.set('clusterimagepolicies', []);
    });
    optionalApiContract(() => ({
      kube,
      serveClusterImagePoliciesOnlyAs: (version) => {
        kube.notServed.set('clusterimagepolicies', [version]);
        return Promise.resolve();
      },
      stopServingImageContentSourcePolicies: () => {
        kube.notServed.set('imagecontentsourcepolicies', []);
        return Promise.resolve();
      },
    }));
  });

  it('lists a mirror-set kind it does not serve as none, naming it, as the client does', async () => {
    const kube = new MemoryKube();
    const idms = { kind: 'ImageDigestMirrorSet', metadata: { name: 'a' } };
    const icsp = { kind: 'ImageContentSourcePolicy', metadata: { name: 'b' } };
    kube.mirrorSets = [idms, icsp];
    kube.notServed.set('imagecontentsourcepolicies', []);
    assert.deepEqual(await kube.listMirrorSets(), {
      items: [idms],
      notServed: ['imagecontentsourcepolicies.operator.openshift.io'],
    });
  });
});

describe('ClusterTrust on a cluster without the ClusterImagePolicy CRD', () => {
  let gpg: GnuPG;
  let key: GpgKey;
  let storeDir: string;
  const signed = release(2);
  const unsigned = release(3);

  before(async () => {
    gpg = await GnuPG.create();
    key = await gpg.generateKey('Unit Release <unit@example.com>', 'nistp256');
    storeDir = await mkdtemp(join(tmpdir(), 'cvo-optional-apis-'));
    const digest = signed.slice(signed.indexOf('@') + 1);
    const dir = join(storeDir, toStoreDigestPath(digest));
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, 'signature-1'),
      await gpg.sign(atomicPayload(digest, signed), { key: `${key.fingerprint}!` }),
    );
  });

  after(async () => {
    await gpg.cleanup();
    await rm(storeDir, { recursive: true, force: true });
  });

  /** A cluster with the root of trust (a file store holding `signed`'s signature), no CIP CRD. */
  async function cluster(): Promise<MemoryKube> {
    const kube = new MemoryKube();
    kube.notServed.set('clusterimagepolicies', []);
    await kube.createConfigMap(CONFIG.rootOfTrust.namespace, {
      metadata: { name: CONFIG.rootOfTrust.name },
      data: {
        'verifier-public-key-unit': (await gpg.exportPublicKey(key)).toString(),
        'store-unit': `file://${storeDir}`,
      },
    });
    return kube;
  }

  let registry: RegistryClient;
  beforeEach(() => {
    registry = new RegistryClient({});
  });

  function trust(kube: MemoryKube, logger: Logger = silentLogger): ClusterTrust {
    return new ClusterTrust({
      ...LOCATIONS,
      source: kube,
      logger,
      registry,
      http: {},
      budgetMs: 5_000,
      // Made-up digests: no payload to read; `warn` lets the verdict through (the default refuses).
      releaseMetadata: 'warn',
    });
  }

  describe('when the API server does not serve ClusterImagePolicies at all', () => {
    it('verifies a signed release on GPG alone and says Sigstore policies were not consulted', async () => {
      const kube = await cluster();
      const t = trust(kube);
      const { outcome } = await t.verify(
        signed,
        installedClusterVersion(),
        AbortSignal.timeout(5_000),
      );
      await t.close();
      assert.equal(outcome.verified, true, outcome.message);
      assert.equal(outcome.details[0], POLICIES_NOT_SERVED_NOTE);
      assert.ok(
        outcome.summary.endsWith(`; ${POLICIES_NOT_SERVED_NOTE}`),
        `summary: ${outcome.summary}`,
      );
      assert.match(outcome.summary, /^verifier-public-key-unit: /);
    });

    it('still refuses an unsigned release (none configured is not a pass), the note in its details', async () => {
      const kube = await cluster();
      const t = trust(kube);
      const { outcome } = await t.verify(
        unsigned,
        installedClusterVersion(),
        AbortSignal.timeout(5_000),
      );
      await t.close();
      assert.equal(outcome.verified, false);
      assert.equal(outcome.code, 'NOT_SIGNED');
      assert.ok(outcome.details.includes(POLICIES_NOT_SERVED_NOTE));
      assert.ok(!outcome.summary.includes(POLICIES_NOT_SERVED_NOTE), 'refusal summary unchanged');
    });

    it('logs it once, not on every verification, and again only when it changes', async () => {
      const kube = await cluster();
      const logger = recordingLogger();
      const t = trust(kube, logger);
      const verify = async (): Promise<readonly string[]> =>
        (await t.verify(signed, installedClusterVersion(), AbortSignal.timeout(5_000))).outcome
          .details;
      const said = (): string[] =>
        logger.lines
          .filter((l) => l.message.includes('ClusterImagePolicies'))
          .map((l) => l.message);
      await verify();
      await verify();
      await verify();
      assert.deepEqual(said(), [
        'ClusterImagePolicies are not served by this cluster: releases are verified without Sigstore policies',
      ]);
      // The CRD is installed (the feature set changed): policies are listed again, no note.
      kube.notServed.delete('clusterimagepolicies');
      assert.ok(!(await verify()).includes(POLICIES_NOT_SERVED_NOTE));
      await verify();
      // And removed again.
      kube.notServed.set('clusterimagepolicies', []);
      await verify();
      await t.close();
      assert.deepEqual(said(), [
        'ClusterImagePolicies are not served by this cluster: releases are verified without Sigstore policies',
        'ClusterImagePolicies are served by this cluster again: Sigstore policies are consulted',
        'ClusterImagePolicies are not served by this cluster: releases are verified without Sigstore policies',
      ]);
      assert.equal(kube.actionsOf('list', 'clusterimagepolicies').length, 6);
    });
  });

  describe('when the API server does not serve a kind of mirror set', () => {
    it('verifies on what it has, says so in the verdict, and logs it once per change', async () => {
      const kube = await cluster();
      kube.notServed.set('imagecontentsourcepolicies', []);
      const logger = recordingLogger();
      const t = trust(kube, logger);
      const note = mirrorSetsNotServedNote('imagecontentsourcepolicies.operator.openshift.io');
      const verify = async () =>
        (await t.verify(signed, installedClusterVersion(), AbortSignal.timeout(5_000))).outcome;
      const first = await verify();
      assert.equal(first.verified, true);
      assert.ok(first.details.includes(note), first.details.join('\n'));
      assert.ok(first.summary.includes(note), 'ReleaseVerified says it');
      await verify();
      const said = (): string[] =>
        logger.lines.filter((l) => l.message.includes('mirror')).map((l) => l.message);
      assert.deepEqual(said(), [
        'mirror-set kinds are not served by this cluster: none of them apply',
      ]);
      // Installed again: no note, said once.
      kube.notServed.delete('imagecontentsourcepolicies');
      assert.ok(!(await verify()).details.includes(note));
      await verify();
      assert.deepEqual(said(), [
        'mirror-set kinds are not served by this cluster: none of them apply',
        'every mirror-set kind is served and every mirror set is used',
      ]);
      await t.close();
    });

    it('a kind served only in another version refuses (the cluster configuration is unreadable): mirrors that exist are never taken for none', async () => {
      const kube = await cluster();
      kube.notServed.set('imagedigestmirrorsets', ['v1beta1']);
      const t = trust(kube);
      const { outcome } = await t.verify(
        signed,
        installedClusterVersion(),
        AbortSignal.timeout(5_000),
      );
      assert.equal(outcome.verified, false);
      assert.equal(outcome.code, 'CLUSTER_CONFIG_UNREADABLE');
      assert.match(outcome.message, /served as config\.openshift\.io\/v1beta1/);
      await t.close();
    });
  });

  describe('when the API server serves ClusterImagePolicies as v1alpha1 only (4.16–4.19 TechPreview)', () => {
    it('lists them through v1alpha1 and applies them: a covering policy refuses the GPG-signed release without its cosign signature', async () => {
      const kube = await cluster();
      kube.notServed.set('clusterimagepolicies', ['v1alpha1']);
      const scope = signed.slice(0, signed.indexOf('@'));
      kube.clusterImagePolicies = [
        {
          ...publicKeyPolicy(publicKeyPem(), { name: 'release-v1alpha1', scopes: [scope] }),
          apiVersion: 'config.openshift.io/v1alpha1',
        },
      ];
      const t = trust(kube);
      const { outcome } = await t.verify(
        signed,
        installedClusterVersion(),
        AbortSignal.timeout(5_000),
      );
      await t.close();
      assert.equal(outcome.verified, false, outcome.message);
      assert.ok(!outcome.details.includes(POLICIES_NOT_SERVED_NOTE));
      assert.match(outcome.message, /image policy release-v1alpha1/);
    });
  });

  describe('when ClusterImagePolicies may exist but cannot be read, it fails closed', () => {
    const table: { name: string; error: () => KubeApiError; served?: readonly string[] }[] = [
      {
        name: '403 Forbidden (RBAC)',
        error: () =>
          kubeApiError('list clusterimagepolicies', {
            code: 403,
            reason: 'Forbidden',
            message:
              'clusterimagepolicies.config.openshift.io is forbidden: User "system:serviceaccount:x:y" cannot list resource "clusterimagepolicies" in API group "config.openshift.io" at the cluster scope',
          }),
      },
      {
        name: '500 from the API server',
        error: () =>
          kubeApiError('list clusterimagepolicies', {
            code: 500,
            reason: 'InternalError',
            message: 'Internal error occurred: etcdserver: request timed out',
          }),
      },
      {
        name: 'no answer (a timeout: status 0)',
        error: () => new KubeApiError(0, 'list clusterimagepolicies: The operation was aborted'),
      },
      {
        name: 'a 404 that discovery does not confirm as not served',
        error: () => new KubeApiError(404, 'list clusterimagepolicies: 404 404 page not found\n'),
      },
    ];
    for (const { name, error } of table) {
      it(`${name}: the verification throws (the reconcile is retried), never verifies`, async () => {
        const kube = await cluster();
        kube.notServed.delete('clusterimagepolicies');
        const thrown = error();
        kube.before(
          'list',
          'clusterimagepolicies',
          () => {
            throw thrown;
          },
          Infinity,
        );
        const t = trust(kube);
        await assert.rejects(
          t.verify(signed, installedClusterVersion(), AbortSignal.timeout(5_000)),
          (err: unknown) => err === thrown && !isResourceNotServed(err),
        );
        await t.close();
      });
    }

    it('a CRD that serves only another version than v1 or v1alpha1: throws the 404 naming it (those policies exist)', async () => {
      const kube = await cluster();
      kube.notServed.set('clusterimagepolicies', ['v1beta9']);
      const t = trust(kube);
      await assert.rejects(
        t.verify(signed, installedClusterVersion(), AbortSignal.timeout(5_000)),
        (err: unknown) =>
          err instanceof KubeApiError &&
          !isResourceNotServed(err) &&
          err.message.includes('served as config.openshift.io/v1beta9'),
      );
      await t.close();
    });
  });

  it('refuses, naming the cluster configuration it could not read, when the pull secret is forbidden (not a root-of-trust error)', async () => {
    const kube = await cluster();
    kube.before(
      'get',
      'secrets',
      () => {
        throw kubeApiError('get secret openshift-config/pull-secret', {
          code: 403,
          reason: 'Forbidden',
          message:
            'secrets "pull-secret" is forbidden: User "system:serviceaccount:x:y" cannot get resource "secrets" in API group "" in the namespace "openshift-config"',
        });
      },
      Infinity,
    );
    const t = trust(kube);
    const { outcome } = await t.verify(
      signed,
      installedClusterVersion(),
      AbortSignal.timeout(5_000),
    );
    assert.equal(outcome.verified, false);
    assert.equal(outcome.code, 'CLUSTER_CONFIG_UNREADABLE');
    assert.match(
      outcome.message,
      /^the cluster's trust configuration could not be read: .*pull-secret/,
    );
    await t.close();
  });

  describe('the controller over it', () => {
    it('gives the ClusterVersion a verdict instead of a thrown reconcile', async () => {
      const clock = new ManualClock();
      const kube = await cluster();
      await kube.createClusterVersion(installedClusterVersion());
      const t = trust(kube);
      const controller = new ReleaseController({
        kube,
        verifier: t,
        logger: silentLogger,
        clock,
      });
      await controller.start();
      try {
        await kube.mergePatchClusterVersion('version', {
          spec: { desiredUpdate: { image: signed, version: '4.17.0', force: false } },
        });
        await settle();
        await controller.idle();
        const cv = await kube.getClusterVersion('version');
        const condition = (type: string): { status: string; message?: string } | undefined =>
          cv.status?.conditions?.find((c) => c.type === type);
        assert.equal(cv.status?.desired.image, signed);
        assert.equal(condition('ReleaseAccepted')?.status, 'True');
        assert.equal(condition('ReleaseVerified')?.status, 'True');
        assert.ok(
          condition('ReleaseVerified')?.message?.endsWith(POLICIES_NOT_SERVED_NOTE),
          condition('ReleaseVerified')?.message,
        );
      } finally {
        await controller.stop();
        await t.close();
      }
    });
  });
});

describe('ClusterTrustReader: Nodes the service may not list', () => {
  it('warns once per change, not on every payload check', async () => {
    const kube = new MemoryKube();
    kube.nodeArchitectures = ['arm64'];
    const logger = recordingLogger();
    const reader = new ClusterTrustReader({
      ...LOCATIONS,
      source: kube,
      platform: 'linux/amd64',
      payloadReadBudgetMs: 1_000,
      logger,
    });
    const forbidden = (): KubeApiError =>
      kubeApiError('list nodes', {
        code: 403,
        reason: 'Forbidden',
        message:
          'nodes is forbidden: User "system:serviceaccount:x:y" cannot list resource "nodes"',
      });
    kube.before(
      'list',
      'nodes',
      () => {
        throw forbidden();
      },
      3,
    );
    for (let i = 0; i < 3; i++) {
      assert.deepEqual((await reader.payloadInputs()).platforms, ['linux/amd64']);
    }
    assert.deepEqual((await reader.payloadInputs()).platforms, ['linux/arm64/v8']);
    kube.before('list', 'nodes', () => {
      throw forbidden();
    });
    await reader.payloadInputs();
    assert.deepEqual(
      logger.lines.map((l) => `${l.level} ${l.message}`),
      [
        'warn could not list nodes; checking this architecture only',
        'info nodes can be listed again; checking their architectures',
        'warn could not list nodes; checking this architecture only',
      ],
    );
  });
});
