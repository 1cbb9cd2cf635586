/**
 * Signature stores are reached through the environment's proxies, when the cluster has no Proxy
 * object, with the proxy selection of the CVO's Go net/http (src/registry/proxy.ts), as
 * registries are: never through a proxy for a loopback store (Go's ProxyFromEnvironment), where
 * undici's environment agent would send it to the proxy.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { defaultServiceConfig } from '../../src/config/service-config.js';
import { toStoreDigestPath } from '../../src/image/pullspec.js';
import { silentLogger } from '../../src/observability/logger.js';
import { RegistryClient } from '../../src/registry/client.js';
import { ClusterTrust } from '../../src/trust/cluster-trust.js';
import { LocalStoreServer } from '../../testbed/local-store-server.js';
import { installedClusterVersion, release } from '../helpers/controller-fixture.js';
import { atomicPayload, GnuPG } from '../helpers/gnupg.js';
import type { GpgKey } from '../helpers/gnupg.js';
import { MemoryKube } from '../helpers/memory-kube.js';

const CONFIG = defaultServiceConfig({});

describe('ClusterTrust: stores behind the environment proxy, without a cluster Proxy', () => {
  let gpg: GnuPG;
  let key: GpgKey;
  let dir: string;
  let store: LocalStoreServer;
  /** A "proxy" that accepts connections and closes them: any request through it fails. */
  let deadProxy: Server;
  let proxyUrl: string;
  let connectionsToProxy = 0;
  const signed = release(5);

  before(async () => {
    gpg = await GnuPG.create();
    key = await gpg.generateKey('Proxy Test <proxy@example.com>', 'nistp256');
    dir = await mkdtemp(join(tmpdir(), 'cvo-store-proxy-'));
    const digest = signed.slice(signed.indexOf('@') + 1);
    await mkdir(join(dir, toStoreDigestPath(digest)), { recursive: true });
    await writeFile(
      join(dir, toStoreDigestPath(digest), 'signature-1'),
      await gpg.sign(atomicPayload(digest, signed), { key: `${key.fingerprint}!` }),
    );
    store = await LocalStoreServer.start(dir);
    deadProxy = createServer((socket) => {
      connectionsToProxy++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => deadProxy.listen(0, '127.0.0.1', resolve));
    const address = deadProxy.address();
    assert.ok(address !== null && typeof address === 'object');
    proxyUrl = `http://127.0.0.1:${String(address.port)}`;
  });

  after(async () => {
    await store.close();
    await new Promise((resolve) => deadProxy.close(resolve));
    await gpg.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('reaches a loopback store directly, as Go never proxies loopback, and verifies', async () => {
    const kube = new MemoryKube();
    kube.notServed.set('clusterimagepolicies', []);
    await kube.createConfigMap(CONFIG.rootOfTrust.namespace, {
      metadata: { name: CONFIG.rootOfTrust.name },
      data: {
        'verifier-public-key-unit': (await gpg.exportPublicKey(key)).toString(),
        'store-unit': store.url,
      },
    });
    const trust = new ClusterTrust({
      rootOfTrust: CONFIG.rootOfTrust,
      signatureNamespace: CONFIG.signatureNamespace,
      caNamespace: CONFIG.caNamespace,
      trustedCaBundle: CONFIG.trustedCaBundle,
      source: kube,
      logger: silentLogger,
      registry: new RegistryClient({}),
      // What HTTP_PROXY / HTTPS_PROXY with an empty NO_PROXY give the service.
      http: { httpProxy: proxyUrl, httpsProxy: proxyUrl, noProxy: '' },
      budgetMs: 5_000,
    });
    try {
      const { outcome } = await trust.verify(
        signed,
        installedClusterVersion(),
        AbortSignal.timeout(5_000),
      );
      assert.equal(outcome.verified, true, [outcome.message, ...outcome.details].join('\n'));
      assert.equal(connectionsToProxy, 0, 'the loopback store was asked through the proxy');
    } finally {
      await trust.close();
    }
  });
});
