/**
 * Without a payload check, ClusterTrust reads an update's release-metadata while its signatures
 * are verified (issue 14), uses it only when the release is accepted, and cancels it when the
 * release is refused. No timing is asserted: the signature store answers only once the registry
 * was asked for the release's manifest (or after a grace period, which a sequential read would
 * hit and the test then fails on), and the registry read holds until its signal aborts.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';

import { defaultServiceConfig } from '../../src/config/service-config.js';
import { silentLogger } from '../../src/observability/logger.js';
import type { RegistryClient } from '../../src/registry/client.js';
import { ClusterTrust } from '../../src/trust/cluster-trust.js';
import { gzip, makeTar } from '../../testbed/tar-writer.js';
import { installedClusterVersion } from '../helpers/controller-fixture.js';
import { atomicPayload, GnuPG } from '../helpers/gnupg.js';
import type { GpgKey } from '../helpers/gnupg.js';
import { memoryReleaseClient } from '../helpers/memory-release.js';
import { MemoryKube } from '../helpers/memory-kube.js';

const CONFIG = defaultServiceConfig({});
const REPO = 'quay.io/openshift-release-dev/ocp-release';
const DIGEST = `sha256:${'a'.repeat(64)}`;
const RELEASE = `${REPO}@${DIGEST}`;
/** How long the store waits for the registry read before answering anyway. */
const GRACE_MS = 3_000;

function releaseLayer(): Buffer {
  return gzip(
    makeTar([
      { name: 'release-manifests/', type: 'dir' },
      {
        name: 'release-manifests/image-references',
        body: JSON.stringify({
          kind: 'ImageStream',
          apiVersion: 'image.openshift.io/v1',
          metadata: { name: '4.17.0' },
          spec: { tags: [] },
        }),
      },
      {
        name: 'release-manifests/release-metadata',
        body: JSON.stringify({ kind: 'cincinnati-metadata-v0', version: '4.17.0' }),
      },
    ]),
  );
}

/** The release served from memory; its manifest read is recorded and, when `hold`, held until aborted. */
function registry(hold: boolean): {
  client: RegistryClient;
  asked: Promise<void>;
  aborted: () => boolean;
} {
  const { client } = memoryReleaseClient([releaseLayer()]);
  let ask = (): void => undefined;
  const asked = new Promise<void>((resolve) => (ask = resolve));
  let aborted = false;
  const getManifest = client.getManifest.bind(client);
  // readReleaseMetadata reads a manifest and streams blobs: nothing else of the client.
  const wrapped = {
    getManifest: async (...args: Parameters<RegistryClient['getManifest']>) => {
      ask();
      const signal = args[2].signal;
      if (hold) {
        await new Promise<void>((_resolve, reject) => {
          const stop = (): void => {
            aborted = true;
            reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
          };
          if (signal?.aborted) stop();
          else signal?.addEventListener('abort', stop, { once: true });
        });
      }
      return getManifest(...args);
    },
    streamBlob: client.streamBlob.bind(client),
  } as unknown as RegistryClient;
  return { client: wrapped, asked, aborted: () => aborted };
}

describe('ClusterTrust: the release-metadata of an update without a payload check', () => {
  let gpg: GnuPG;
  let key: GpgKey;
  let signature: Buffer;
  let server: Server;
  let storeUrl: string;
  /** What the store answers next, and whether the registry had been asked before it answered. */
  let signed = true;
  let registryAsked: Promise<void> = Promise.resolve();
  let askedFirst: boolean[] = [];

  before(async () => {
    gpg = await GnuPG.create();
    key = await gpg.generateKey('Unit Release <unit@example.com>', 'nistp256');
    signature = await gpg.sign(atomicPayload(DIGEST, `${REPO}:4.17.0-x86_64`), {
      key: `${key.fingerprint}!`,
    });
    server = createServer((req, res) => {
      void (async () => {
        if (!req.url?.endsWith('/signature-1')) {
          res.writeHead(404).end();
          return;
        }
        const first = await Promise.race([
          registryAsked.then(() => true),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(false), GRACE_MS)),
        ]);
        askedFirst.push(first);
        if (signed) res.writeHead(200).end(signature);
        else res.writeHead(404).end();
      })();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    storeUrl = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await gpg.cleanup();
  });

  async function trustWith(client: RegistryClient): Promise<ClusterTrust> {
    const kube = new MemoryKube();
    await kube.createConfigMap(CONFIG.rootOfTrust.namespace, {
      metadata: { name: CONFIG.rootOfTrust.name },
      data: {
        'verifier-public-key-unit': (await gpg.exportPublicKey(key)).toString(),
        'store-unit': storeUrl,
      },
    });
    return new ClusterTrust({
      rootOfTrust: CONFIG.rootOfTrust,
      signatureNamespace: CONFIG.signatureNamespace,
      caNamespace: CONFIG.caNamespace,
      trustedCaBundle: CONFIG.trustedCaBundle,
      source: kube,
      logger: silentLogger,
      registry: client,
      http: {},
      budgetMs: 10_000,
    });
  }

  const cv = () => {
    const base = installedClusterVersion([{ version: '4.17.0', image: RELEASE }]);
    return {
      ...base,
      spec: { ...base.spec, desiredUpdate: { version: '4.17.0', image: RELEASE } },
    };
  };

  it('reads it while the signature is fetched, and uses it for the accepted release', async () => {
    const reg = registry(false);
    signed = true;
    registryAsked = reg.asked;
    askedFirst = [];
    const trust = await trustWith(reg.client);
    const verification = await trust.verify(RELEASE, cv(), AbortSignal.timeout(10_000), {
      payload: true,
    });
    await trust.close();
    assert.equal(verification.outcome.verified, true, verification.outcome.message);
    assert.deepEqual(askedFirst, [true], 'the registry was asked before the store answered');
    assert.equal(verification.release?.kind, 'loaded');
    assert.equal(
      verification.release?.kind === 'loaded' ? verification.release.version : '',
      '4.17.0',
    );
  });

  it('cancels the read of a refused release and reports no release load', async () => {
    const reg = registry(true);
    signed = false;
    registryAsked = reg.asked;
    askedFirst = [];
    const trust = await trustWith(reg.client);
    const verification = await trust.verify(RELEASE, cv(), AbortSignal.timeout(10_000), {
      payload: true,
    });
    await trust.close();
    assert.equal(verification.outcome.verified, false);
    assert.equal(verification.outcome.code, 'NOT_SIGNED', verification.outcome.message);
    assert.deepEqual(askedFirst, [true], 'the registry was asked before the store answered');
    assert.equal(reg.aborted(), true, 'the held registry read was cancelled');
    assert.equal(verification.release, undefined);
  });

  it('reads nothing of the release when the caller does not use its metadata (the webhook)', async () => {
    const reg = registry(false);
    let asked = false;
    void reg.asked.then(() => (asked = true));
    signed = true;
    // The store answers after its grace period: the registry is never asked here.
    registryAsked = new Promise<void>(() => undefined);
    askedFirst = [];
    const trust = await trustWith(reg.client);
    const verification = await trust.verify(RELEASE, cv(), AbortSignal.timeout(10_000), {
      payload: true,
      releaseMetadata: false,
    });
    await trust.close();
    assert.equal(verification.outcome.verified, true, verification.outcome.message);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(asked, false, 'the registry was not asked for the release');
    assert.equal(verification.release, undefined);
  });
});
