/**
 * A signature store password planted in spec.signatureStores must authenticate (HTTP Basic, as
 * the CVO's Go client sends it) and appear in no channel a user or an attacker can read: the
 * ClusterVersion's conditions and history, Events, the service's logs, /metrics, the state and
 * signature-cache ConfigMaps, and `cvo-verifier status` in text and JSON.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { runCli } from '../../src/cli/main.js';
import type { Service } from '../../src/main.js';
import { repoRoot } from '../helpers/fixtures.js';
import { startTestCluster } from '../helpers/local-cluster.js';
import type { TestCluster } from '../helpers/local-cluster.js';
import { StoreServer } from '../helpers/store-server.js';
import {
  condition,
  digestOf,
  installRootOfTrust,
  REPO,
  ReleaseSigner,
  requestUpdate,
  runService,
  seed,
  waitFor,
} from './harness.js';

const USER = 'release-bot';
const PASSWORD = 'S3cret-Passw0rd-9f2c';
/** The cluster's pull secret and Proxy credentials, read for every verification (issue 13). */
const PULL_PASSWORD = 'Pull-S3cret-c41f0e';
const PROXY_PASSWORD = 'Pr0xy-S3cret-88ad';
const PULL_AUTH = Buffer.from(`puller:${PULL_PASSWORD}`).toString('base64');

describe('secrets in store URLs never leave the request', () => {
  let tc: TestCluster | undefined;
  let skip: string | undefined;
  let signer: ReleaseSigner;
  let store: StoreServer;
  let service: Service | undefined;
  const logs: string[] = [];
  const authorizations: (string | undefined)[] = [];

  before(async () => {
    const started = await startTestCluster();
    if ('skip' in started) {
      skip = started.skip;
      return;
    }
    tc = started;
    signer = await ReleaseSigner.create();
    store = await StoreServer.start();
    await installRootOfTrust(tc.admin, signer);
    await seed(tc);
    // A pull secret and a Proxy whose URL carries credentials: both read by every verification
    // (the stores here are on loopback, which a proxy never serves, so the flow is unchanged).
    await tc.kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'kubernetes.io/dockerconfigjson',
        metadata: { namespace: 'openshift-config', name: 'pull-secret' },
        data: {
          '.dockerconfigjson': Buffer.from(
            JSON.stringify({ auths: { 'quay.io': { auth: PULL_AUTH } } }),
          ).toString('base64'),
        },
      }),
    );
    const proxyUrl = `http://proxy-user:${PROXY_PASSWORD}@proxy.corp.test:3128`;
    await tc.kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'config.openshift.io/v1',
        kind: 'Proxy',
        metadata: { name: 'cluster' },
        spec: { httpsProxy: proxyUrl },
      }),
    );
    await tc.kubectl([
      'patch',
      'proxy',
      'cluster',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { httpsProxy: proxyUrl, httpProxy: proxyUrl } }),
    ]);
    service = await runService(
      tc.cluster.kubeconfig,
      {
        http: {
          bindAddress: '127.0.0.1',
          healthPort: 0,
          webhookPort: 0,
          verifyApi: false,
          webhookVerifyMode: 'off',
          webhookBudgetMs: 5000,
        },
      },
      logs,
    );
  });

  after(async () => {
    await service?.stop();
    await store.close();
    await signer.close();
    await tc?.stop();
  });

  /** Serves `digest`'s signature only to requests carrying the planted credentials. */
  const publishGuarded = async (digest: string): Promise<void> => {
    const body = await signer.sign(digest);
    const expected = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
    store.routes.set(`/sigs/${digest.replace(':', '=')}/signature-1`, (req, res) => {
      authorizations.push(req.headers.authorization);
      if (req.headers.authorization === expected) res.writeHead(200).end(body);
      else res.writeHead(401, { 'www-authenticate': 'Basic' }).end('unauthorized');
    });
  };

  it('authenticates with the planted password and prints it nowhere', async (t) => {
    if (tc === undefined || service === undefined) return t.skip(skip ?? 'no cluster');
    const c = tc;
    const url = store.url.replace('//', `//${USER}:${PASSWORD}@`);
    await c.kubectl([
      'patch',
      'clusterversion',
      'version',
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { signatureStores: [{ url: `${url}/sigs` }] } }),
    ]);
    // A refusal first (nothing published): its condition and Event carry store evidence.
    const refused = `${REPO}@${digestOf(0x51)}`;
    await requestUpdate(c, { image: refused, version: '', force: false });
    await waitFor(
      c.admin,
      (x) => (condition(x, 'ReleaseAccepted')?.message ?? '').includes(digestOf(0x51)),
      'refusal',
    );
    // Then a signed release, readable only with the credentials: accepted, verified.
    await publishGuarded(digestOf(0x52));
    const accepted = `${REPO}@${digestOf(0x52)}`;
    await requestUpdate(c, { image: accepted, version: '', force: false });
    const cv = await waitFor(c.admin, (x) => x.status?.desired.image === accepted, 'accepted');
    assert.equal(cv.status?.history?.[0]?.verified, true);
    assert.ok(
      authorizations.some((a) => a?.startsWith('Basic ') === true),
      'the store was read with Basic auth',
    );

    const channels: Record<string, string> = {
      // The spec holds the URL the admin wrote; the status is ours.
      'clusterversion status': JSON.stringify(
        (await c.admin.getClusterVersion('version')).status ?? {},
      ),
      events: await c.kubectl(['get', 'events', '-A', '-o', 'json']),
      configmaps: await c.kubectl(['get', 'configmaps', '-A', '-o', 'json']),
      metrics: await (await fetch(`http://127.0.0.1:${service.ports.health ?? 0}/metrics`)).text(),
      logs: logs.join('\n'),
    };
    for (const output of ['text', 'json']) {
      let stdout = '';
      let stderr = '';
      await runCli(['status', '--kubeconfig', c.cluster.kubeconfig, '--output', output], {
        stdout: (x) => (stdout += x),
        stderr: (x) => (stderr += x),
        env: {},
        cwd: repoRoot,
      });
      channels[`status ${output}`] = stdout + stderr;
    }
    for (const [channel, text] of Object.entries(channels)) {
      assert.ok(text.length > 0, `${channel} is empty`);
      assert.ok(!text.includes(PASSWORD), `the password appears in ${channel}`);
      assert.ok(!text.includes(`${USER}:`), `the user:password pair appears in ${channel}`);
      for (const secret of [PULL_PASSWORD, PULL_AUTH, PROXY_PASSWORD]) {
        assert.ok(
          !text.includes(secret),
          `the pull secret or Proxy credentials appear in ${channel}`,
        );
      }
    }
    // They were read: the log names the registry and the proxy, without their credentials.
    assert.match(
      channels.logs ?? '',
      /pull secret openshift-config\/pull-secret: credentials for quay\.io/,
    );
    assert.match(channels.logs ?? '', /Proxy cluster: .*http:\/\/proxy\.corp\.test:3128/);
    // The evidence still names the store, redacted.
    assert.match(channels.events ?? '', /\*\*\*@127\.0\.0\.1/);
  });
});
