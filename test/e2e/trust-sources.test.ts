import assert from 'node:assert/strict';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';

import type { Service } from '../../src/main.js';
import { startTestCluster } from '../helpers/local-cluster.js';
import type { TestCluster } from '../helpers/local-cluster.js';
import { makeTestPki } from '../helpers/tls.js';
import type { TestPki } from '../helpers/tls.js';
import {
  condition,
  digestOf,
  events,
  installRootOfTrust,
  REPO,
  ReleaseSigner,
  runService,
  seed,
  waitFor,
} from './harness.js';

/** An HTTPS signature store on 127.0.0.1 whose certificate only the test CA vouches for. */
async function startHttpsStore(
  pki: TestPki,
  routes: Map<string, Buffer>,
): Promise<{ url: string; server: Server }> {
  const server = createServer({ key: pki.serverKey, cert: pki.serverCert }, (req, res) => {
    const body = routes.get(req.url ?? '');
    if (body === undefined) res.writeHead(404).end();
    else res.writeHead(200).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/sigs`, server };
}

describe('trust sources read from the cluster', () => {
  let tc: TestCluster | undefined;
  let skip: string | undefined;
  let signer: ReleaseSigner;
  let pki: TestPki;
  let https: { url: string; server: Server };
  const routes = new Map<string, Buffer>();
  let service: Service | undefined;

  before(async () => {
    const started = await startTestCluster();
    if ('skip' in started) {
      skip = started.skip;
      return;
    }
    tc = started;
    signer = await ReleaseSigner.create();
    pki = await makeTestPki();
    https = await startHttpsStore(pki, routes);
    await installRootOfTrust(tc.admin, signer);
    await seed(tc);
    service = await runService(tc.cluster.kubeconfig);
  });

  after(async () => {
    await service?.stop();
    https.server.closeAllConnections();
    https.server.close();
    await pki.cleanup();
    await signer.close();
    await tc?.stop();
  });

  const publishHttps = async (n: number): Promise<string> => {
    const digest = digestOf(n);
    routes.set(`/sigs/${digest.replace(':', '=')}/signature-1`, await signer.sign(digest));
    return `${REPO}@${digest}`;
  };

  it('honours a spec.signatureStores entry only once its CA ConfigMap exists', async (t) => {
    if (tc === undefined) return t.skip(skip ?? 'no cluster');
    const c = tc;
    const image = await publishHttps(10);
    const spec = {
      signatureStores: [{ url: https.url, ca: { name: 'signature-store-ca' } }],
      desiredUpdate: { image, version: '', force: false },
    };
    await c.kubectl([
      'patch',
      'clusterversion',
      'version',
      '--type=merge',
      '-p',
      JSON.stringify({ spec }),
    ]);
    await waitFor(
      c.admin,
      (x) => (condition(x, 'ReleaseAccepted')?.message ?? '').includes(digestOf(10)),
      'refusal without the CA',
    );
    const refusal = (
      await events(c, 'RetrievePayloadFailed', (e) => e.message.includes(digestOf(10)))
    ).find((e) => e.message.includes(digestOf(10)));
    assert.match(
      refusal?.message ?? '',
      /signature store https:\/\/127\.0\.0\.1:\d+\/sigs is not honored: config map openshift-config\/signature-store-ca has no valid ca\.crt/,
    );
    // The CA appears: the background re-check accepts the release, no restart needed.
    await c.admin.createConfigMap('openshift-config', {
      metadata: { name: 'signature-store-ca', namespace: 'openshift-config' },
      data: { 'ca.crt': pki.caPem },
    });
    const cv = await waitFor(
      c.admin,
      (x) => x.status?.desired.image === image,
      'accepted with the CA',
      30_000,
    );
    assert.equal(cv.status?.history?.[0]?.verified, true);
  });

  it('rejects the HTTPS store when its CA ConfigMap holds another CA', async (t) => {
    if (tc === undefined) return t.skip(skip ?? 'no cluster');
    const c = tc;
    const image = await publishHttps(11);
    await c.kubectl([
      'patch',
      'configmap',
      'signature-store-ca',
      '-n',
      'openshift-config',
      '--type=merge',
      '-p',
      JSON.stringify({ data: { 'ca.crt': pki.otherCaPem } }),
    ]);
    await c.kubectl([
      'patch',
      'clusterversion',
      'version',
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { desiredUpdate: { image, version: '', force: false } } }),
    ]);
    await waitFor(
      c.admin,
      (x) => (condition(x, 'ReleaseAccepted')?.message ?? '').includes(digestOf(11)),
      'refusal with the wrong CA',
    );
    const refusal = (
      await events(c, 'RetrievePayloadFailed', (e) => e.message.includes(digestOf(11)))
    ).find((e) => e.message.includes(digestOf(11)));
    assert.match(refusal?.message ?? '', /certificate/i);
  });

  it('uses openshift-config-managed/trusted-ca-bundle for stores without their own CA', async (t) => {
    if (tc === undefined) return t.skip(skip ?? 'no cluster');
    const c = tc;
    const image = await publishHttps(12);
    await c.admin.createConfigMap('openshift-config-managed', {
      metadata: { name: 'trusted-ca-bundle', namespace: 'openshift-config-managed' },
      data: { 'ca-bundle.crt': pki.caPem },
    });
    const spec = {
      signatureStores: [{ url: https.url }],
      desiredUpdate: { image, version: '', force: false },
    };
    await c.kubectl([
      'patch',
      'clusterversion',
      'version',
      '--type=merge',
      '-p',
      JSON.stringify({ spec }),
    ]);
    await waitFor(
      c.admin,
      (x) => x.status?.desired.image === image,
      'accepted through the trusted CA bundle',
      30_000,
    );
  });

  it('verifies from a labelled signature ConfigMap when no store has the signature (disconnected clusters)', async (t) => {
    if (tc === undefined) return t.skip(skip ?? 'no cluster');
    const c = tc;
    const digest = digestOf(13);
    const image = `${REPO}@${digest}`;
    await c.admin.createConfigMap('openshift-config-managed', {
      metadata: {
        name: 'mirrored-release-signatures',
        namespace: 'openshift-config-managed',
        labels: { 'release.openshift.io/verification-signatures': '' },
      },
      binaryData: {
        [`${digest.replace(':', '-')}-1`]: (await signer.sign(digest)).toString('base64'),
      },
    });
    await c.kubectl([
      'patch',
      'clusterversion',
      'version',
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { desiredUpdate: { image, version: '', force: false } } }),
    ]);
    const cv = await waitFor(
      c.admin,
      (x) => x.status?.desired.image === image,
      'accepted from the signature ConfigMap',
    );
    assert.match(
      condition(cv, 'ReleaseVerified')?.message ?? '',
      /configmap openshift-config-managed\/mirrored-release-signatures/,
    );
  });
});
