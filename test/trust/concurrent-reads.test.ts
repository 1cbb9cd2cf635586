/**
 * ClusterTrust reads a verification's independent inputs together (issue 14), and still fails a
 * verification as reading them one after another did. No timing is asserted: one read is held
 * by a MemoryKube reactor, and the reads issued meanwhile are what the fake recorded.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { defaultServiceConfig } from '../../src/config/service-config.js';
import { silentLogger } from '../../src/observability/logger.js';
import { RegistryClient } from '../../src/registry/client.js';
import { ClusterTrust } from '../../src/trust/cluster-trust.js';
import { installedClusterVersion, release } from '../helpers/controller-fixture.js';
import { GnuPG } from '../helpers/gnupg.js';
import type { GpgKey } from '../helpers/gnupg.js';
import { settle } from '../helpers/manual-clock.js';
import { kubeApiError, MemoryKube } from '../helpers/memory-kube.js';
import type { MemoryAction, MemoryResource, MemoryVerb } from '../helpers/memory-kube.js';

const CONFIG = defaultServiceConfig({});
const LOCATIONS = {
  rootOfTrust: CONFIG.rootOfTrust,
  signatureNamespace: CONFIG.signatureNamespace,
  caNamespace: CONFIG.caNamespace,
  trustedCaBundle: CONFIG.trustedCaBundle,
};
const UNSIGNED = release(3);

/** A read held until `release()`; `entered` resolves once the fake has recorded it. */
function hold(
  kube: MemoryKube,
  verb: MemoryVerb,
  resource: MemoryResource,
  then: () => void = () => undefined,
): { entered: Promise<void>; release: () => void } {
  let enter = (): void => undefined;
  let release = (): void => undefined;
  const entered = new Promise<void>((resolve) => (enter = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  kube.before(verb, resource, async () => {
    enter();
    await released;
    then();
  });
  return { entered, release };
}

function issued(kube: MemoryKube): string[] {
  return kube.actions.map(
    (a: MemoryAction) =>
      `${a.verb} ${a.resource}${a.namespace !== undefined ? ` ${a.namespace}` : ''}${a.name !== undefined ? `/${a.name}` : ''}`,
  );
}

describe('ClusterTrust: the inputs of one verification', () => {
  let gpg: GnuPG;
  let key: GpgKey;
  let storeDir: string;

  before(async () => {
    gpg = await GnuPG.create();
    key = await gpg.generateKey('Unit Release <unit@example.com>', 'nistp256');
    // An empty file store: every release is unsigned, a verdict without any network.
    storeDir = await mkdtemp(join(tmpdir(), 'cvo-concurrent-reads-'));
  });

  after(async () => {
    await gpg.cleanup();
    await rm(storeDir, { recursive: true, force: true });
  });

  async function cluster(options: { rootOfTrust?: boolean } = {}): Promise<MemoryKube> {
    const kube = new MemoryKube();
    if (options.rootOfTrust !== false)
      await kube.createConfigMap(CONFIG.rootOfTrust.namespace, {
        metadata: { name: CONFIG.rootOfTrust.name },
        data: {
          'verifier-public-key-unit': (await gpg.exportPublicKey(key)).toString(),
          'store-unit': `file://${storeDir}`,
        },
      });
    kube.actions.length = 0;
    return kube;
  }

  function trust(kube: MemoryKube): ClusterTrust {
    return new ClusterTrust({
      ...LOCATIONS,
      source: kube,
      logger: silentLogger,
      registry: new RegistryClient({}),
      http: {},
      budgetMs: 5_000,
    });
  }

  const verify = (t: ClusterTrust) =>
    t.verify(UNSIGNED, installedClusterVersion(), AbortSignal.timeout(5_000));

  describe('when the pull secret read is held', () => {
    it('has issued every other independent read meanwhile, and reaches the same verdict', async () => {
      const kube = await cluster();
      const secret = hold(kube, 'get', 'secrets');
      const t = trust(kube);
      const pending = verify(t);
      await secret.entered;
      await settle();
      const meanwhile = issued(kube);
      secret.release();
      const { outcome } = await pending;
      await t.close();
      const { namespace, name } = CONFIG.rootOfTrust;
      const bundle = CONFIG.trustedCaBundle;
      for (const read of [
        'get secrets openshift-config/pull-secret',
        'get proxies/cluster',
        'get images/cluster',
        'list mirrorsets',
        `get configmaps ${namespace}/${name}`,
        `get configmaps ${bundle.namespace}/${bundle.name}`,
        'list clusterimagepolicies',
      ]) {
        assert.ok(
          meanwhile.includes(read),
          `${read} issued with the pull secret held: ${meanwhile.join(', ')}`,
        );
      }
      assert.equal(outcome.verified, false);
      assert.equal(outcome.code, 'NOT_SIGNED', outcome.message);
    });
  });

  describe('when several reads fail', () => {
    it('refuses with the failure a sequential read met first, though a later read failed sooner', async () => {
      // The root-of-trust ConfigMap is missing (fails at once) while the pull secret is held,
      // then refused: access is read first, so its 403 is the verdict.
      const kube = await cluster({ rootOfTrust: false });
      const secret = hold(kube, 'get', 'secrets', () => {
        throw kubeApiError('get secret openshift-config/pull-secret', {
          code: 403,
          reason: 'Forbidden',
          message: 'secrets "pull-secret" is forbidden',
        });
      });
      const t = trust(kube);
      const pending = verify(t);
      await secret.entered;
      await settle();
      assert.ok(
        issued(kube).includes(
          `get configmaps ${CONFIG.rootOfTrust.namespace}/${CONFIG.rootOfTrust.name}`,
        ),
      );
      secret.release();
      const { outcome } = await pending;
      await t.close();
      assert.equal(outcome.verified, false);
      assert.equal(outcome.code, 'CLUSTER_CONFIG_UNREADABLE', outcome.message);
      assert.match(outcome.message, /forbidden/);
    });

    it('refuses for want of a root of trust when ClusterImagePolicies cannot be listed either', async () => {
      const kube = await cluster({ rootOfTrust: false });
      kube.before('list', 'clusterimagepolicies', () => {
        throw kubeApiError('list clusterimagepolicies', {
          code: 500,
          reason: 'InternalError',
          message: 'etcdserver: request timed out',
        });
      });
      const t = trust(kube);
      const { outcome } = await verify(t);
      await t.close();
      assert.equal(outcome.code, 'ROOT_OF_TRUST_NOT_FOUND', outcome.message);
    });

    it('still fails the verification when only ClusterImagePolicies cannot be listed', async () => {
      const kube = await cluster();
      kube.before('list', 'clusterimagepolicies', () => {
        throw kubeApiError('list clusterimagepolicies', {
          code: 500,
          reason: 'InternalError',
          message: 'etcdserver: request timed out',
        });
      });
      const t = trust(kube);
      await assert.rejects(verify(t), /request timed out/);
      await t.close();
    });
  });
});
