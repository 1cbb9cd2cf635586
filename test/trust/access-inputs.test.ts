/**
 * The reader's registry access (issue 13): the pull secret (openshift-config/pull-secret,
 * .dockerconfigjson), the cluster Proxy's status (what the CVO reads, pkg/cvo/egress.go) and its
 * spec.trustedCA ConfigMap, read fresh for each verification; never a secret in a log line.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { defaultServiceConfig } from '../../src/config/service-config.js';
import type { Logger } from '../../src/observability/logger.js';
import { ClusterTrustReader } from '../../src/trust/cluster-inputs.js';
import { kubeApiError, MemoryKube } from '../helpers/memory-kube.js';

const CONFIG = defaultServiceConfig({});
const PASSWORD = 'pull-s3cret-91ab';
const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

function setup(): { kube: MemoryKube; reader: ClusterTrustReader; lines: string[] } {
  const kube = new MemoryKube();
  const lines: string[] = [];
  const log = (message: string, fields?: Record<string, unknown>) =>
    lines.push(`${message} ${JSON.stringify(fields ?? {})}`);
  const logger: Logger = { info: log, warn: log, error: log };
  const reader = new ClusterTrustReader({
    rootOfTrust: CONFIG.rootOfTrust,
    signatureNamespace: CONFIG.signatureNamespace,
    caNamespace: CONFIG.caNamespace,
    trustedCaBundle: CONFIG.trustedCaBundle,
    source: kube,
    platform: 'linux/amd64',
    payloadReadBudgetMs: 1_000,
    logger,
  });
  return { kube, reader, lines };
}

function pullSecret(text: string) {
  return { metadata: {}, data: { '.dockerconfigjson': Buffer.from(text).toString('base64') } };
}

describe('ClusterTrustReader.accessInputs', () => {
  it('without a pull secret or Proxy: anonymous, the environment proxies, said once', async () => {
    const { reader, lines } = setup();
    assert.deepEqual(await reader.accessInputs(), {
      credentials: undefined,
      proxy: undefined,
      proxyCa: undefined,
    });
    await reader.accessInputs();
    assert.equal(lines.length, 1);
    assert.match(lines[0] ?? '', /no pull secret openshift-config\/pull-secret/);
  });

  it('reads the pull secret fresh each time, and never logs it', async () => {
    const { kube, reader, lines } = setup();
    kube.secrets.set(
      'openshift-config/pull-secret',
      pullSecret(
        JSON.stringify({
          auths: { 'mirror.test:5000': { auth: Buffer.from(`u:${PASSWORD}`).toString('base64') } },
        }),
      ),
    );
    const first = await reader.accessInputs();
    assert.deepEqual(first.credentials?.registries(), ['mirror.test:5000']);
    assert.equal(
      first.credentials?.lookup('mirror.test:5000', 'a/b')?.basicAuthorization(),
      `Basic ${Buffer.from(`u:${PASSWORD}`).toString('base64')}`,
    );
    kube.secrets.delete('openshift-config/pull-secret');
    assert.equal((await reader.accessInputs()).credentials, undefined);
    // Not valid docker config: anonymous, with a message naming only the source and the key.
    kube.secrets.set(
      'openshift-config/pull-secret',
      pullSecret(
        JSON.stringify({
          auths: { 'mirror.test:5000': { auth: Buffer.from(PASSWORD).toString('base64') } },
        }),
      ),
    );
    assert.equal((await reader.accessInputs()).credentials, undefined);
    assert.match(
      lines.at(-1) ?? '',
      /the \\"auth\\" of \\"mirror\.test:5000\\" is not base64 of user:password/,
    );
    const all = lines.join('\n');
    assert.ok(!all.includes(PASSWORD));
    assert.ok(!all.includes(Buffer.from(PASSWORD).toString('base64')));
  });

  it('throws when the pull secret cannot be read: credentials that may exist are not taken for none', async () => {
    const { kube, reader } = setup();
    kube.before('get', 'secrets', () => {
      throw kubeApiError('get secret openshift-config/pull-secret', {
        code: 403,
        reason: 'Forbidden',
        message: 'secrets "pull-secret" is forbidden',
      });
    });
    await assert.rejects(reader.accessInputs(), /403/);
  });

  it("takes the Proxy's status (not its spec) and its trustedCA bundle", async () => {
    const { kube, reader, lines } = setup();
    kube.proxies.set('cluster', {
      apiVersion: 'config.openshift.io/v1',
      kind: 'Proxy',
      metadata: { name: 'cluster' },
      spec: { httpsProxy: 'http://spec-only:1', trustedCA: { name: 'user-ca-bundle' } },
      status: {
        httpProxy: 'http://user:pw@proxy.corp:3128',
        httpsProxy: 'http://user:pw@proxy.corp:3128',
        noProxy: '.cluster.local,.svc',
      },
    });
    await kube.createConfigMap('openshift-config', {
      metadata: { name: 'user-ca-bundle' },
      data: { 'ca-bundle.crt': CA },
    });
    const access = await reader.accessInputs();
    assert.deepEqual(access.proxy, {
      httpProxy: 'http://user:pw@proxy.corp:3128',
      httpsProxy: 'http://user:pw@proxy.corp:3128',
      noProxy: '.cluster.local,.svc',
    });
    assert.equal(access.proxyCa, CA);
    assert.ok(!lines.join('\n').includes('pw@'), 'the proxy password was logged');
    // A Proxy with an empty status: it exists, so it applies (no proxy), not the environment's.
    kube.proxies.set('cluster', { metadata: { name: 'cluster' }, spec: {} });
    assert.deepEqual((await reader.accessInputs()).proxy, {});
  });
});

describe('ClusterTrustReader.accessInputs: the cluster image configuration', () => {
  it("reads every registry CA of image.config.openshift.io/cluster's additionalTrustedCA ConfigMap, fresh, naming the registries", async () => {
    const { kube, reader, lines } = setup();
    assert.equal((await reader.accessInputs()).registryCa, undefined);
    kube.imageConfigs.set('cluster', {
      metadata: { name: 'cluster' },
      spec: { additionalTrustedCA: { name: 'registry-cas' } },
    });
    // Named but absent: none, said.
    assert.equal((await reader.accessInputs()).registryCa, undefined);
    assert.match(
      lines.at(-1) ?? '',
      /names openshift-config\/registry-cas for registry CAs, which holds no certificate/,
    );
    const other = CA.replace('MIIB', 'MIIC');
    await kube.createConfigMap('openshift-config', {
      metadata: { name: 'registry-cas' },
      data: { 'mirror.test..5000': CA, 'other.test': other, notes: 'not a certificate' },
    });
    const inputs = await reader.accessInputs();
    assert.equal(inputs.registryCa, `${CA}\n${other}`);
    assert.match(
      lines.at(-1) ?? '',
      /registry CAs from image\.config\.openshift\.io\/cluster \(openshift-config\/registry-cas\) for mirror\.test:5000, other\.test/,
    );
    // Dropped from the configuration: gone on the next read.
    kube.imageConfigs.set('cluster', { metadata: { name: 'cluster' }, spec: {} });
    assert.equal((await reader.accessInputs()).registryCa, undefined);
  });

  it('throws when the image configuration cannot be read: CAs that may exist are not taken for none', async () => {
    const { kube, reader } = setup();
    kube.before(
      'get',
      'images',
      () => {
        throw kubeApiError('get image.config.openshift.io cluster', {
          code: 403,
          reason: 'Forbidden',
          message: 'images.config.openshift.io "cluster" is forbidden',
        });
      },
      Infinity,
    );
    await assert.rejects(reader.accessInputs(), /forbidden/);
  });
});
