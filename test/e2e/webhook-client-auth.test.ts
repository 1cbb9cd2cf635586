import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { BY_TAG_REFUSED } from '../../src/image/oc-messages.js';
import type { Service } from '../../src/main.js';
import type { HttpConfig } from '../../src/config/service-config.js';
import { startTestCluster } from '../helpers/local-cluster.js';
import type { TestCluster } from '../helpers/local-cluster.js';
import { makeTestPki } from '../helpers/tls.js';
import type { TestPki } from '../helpers/tls.js';
import { REPO, runService, seed } from './harness.js';

const BY_TAG = `${REPO}:4.17.0-x86_64`;
/** The CN of the client certificate the test's kube-apiserver presents to webhooks. */
const APISERVER_CLIENT = 'cvo-e2e-kube-apiserver';

type Answer = { status: number; body: string } | { error: string };

/** A port free right now: the apiserver's webhook kubeconfig names it before the service runs. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('client-certificate authentication on the webhook port, with the real kube-apiserver', () => {
  let tc: TestCluster | undefined;
  let skip: string | undefined;
  /** Issues the webhook's serving certificate. */
  let serving: TestPki;
  /** The client CA the service trusts (`caPem`), and an unrelated one (`otherCaPem`). */
  let clients: TestPki;
  let dir: string;
  let port: number;
  let service: Service | undefined;
  const logs: string[] = [];

  const start = async (names: readonly string[]): Promise<Service> => {
    await service?.stop();
    const http: HttpConfig = {
      bindAddress: '127.0.0.1',
      healthPort: 0,
      webhookPort: port,
      tls: { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') },
      clientAuth: { caFile: join(dir, 'client-ca.crt'), names },
      verifyApi: true,
      webhookVerifyMode: 'off',
      webhookBudgetMs: 5000,
    };
    service = await runService((tc as TestCluster).cluster.kubeconfig, { http }, logs);
    return service;
  };

  /** kubectl patch of spec.desiredUpdate; resolves with its exit status and output. */
  const patch = (
    c: TestCluster,
    update: Record<string, unknown>,
  ): Promise<{ ok: boolean; out: string }> =>
    c
      .kubectl([
        'patch',
        'clusterversion',
        'version',
        '--type=merge',
        '-p',
        JSON.stringify({ spec: { desiredUpdate: update } }),
      ])
      .then(
        (out) => ({ ok: true, out }),
        (err: unknown) => ({ ok: false, out: String(err) }),
      );

  /** One HTTPS POST over a fresh connection, presenting `client` when given. */
  const post = (
    path: string,
    body: unknown,
    client?: { cert: string; key: string },
    headers: Record<string, string> = {},
  ): Promise<Answer> =>
    new Promise((resolve) => {
      const req = httpsRequest(
        `https://127.0.0.1:${String(port)}${path}`,
        {
          method: 'POST',
          ca: serving.caPem,
          agent: false,
          headers: { 'content-type': 'application/json', ...headers },
          ...(client ?? {}),
        },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => {
            resolve({ status: res.statusCode ?? 0, body: text });
          });
          res.on('error', (err) => {
            resolve({ error: err.message });
          });
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) => {
        resolve({ error: `${err.code ?? ''} ${err.message}` });
      });
      req.end(JSON.stringify(body));
    });

  /** What the apiserver would send for a by-tag desiredUpdate without force. */
  const review = (uid: string): unknown => {
    const cv = {
      apiVersion: 'config.openshift.io/v1',
      kind: 'ClusterVersion',
      metadata: { name: 'version' },
      spec: { clusterID: '00000000-0000-0000-0000-000000000000' },
    };
    return {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid,
        kind: { group: 'config.openshift.io', version: 'v1', kind: 'ClusterVersion' },
        operation: 'UPDATE',
        object: { ...cv, spec: { ...cv.spec, desiredUpdate: { image: BY_TAG, force: false } } },
        oldObject: cv,
      },
    };
  };

  before(async () => {
    serving = await makeTestPki();
    clients = await makeTestPki();
    port = await freePort();
    const apiserverClient = await clients.issueClientCert(APISERVER_CLIENT);
    const started = await startTestCluster({
      // The apiserver presents this certificate to the webhook at 127.0.0.1:<port> only.
      webhookClientCertificate: {
        certPem: apiserverClient.cert,
        keyPem: apiserverClient.key,
        hosts: [`127.0.0.1:${String(port)}`],
      },
    });
    if ('skip' in started) {
      skip = started.skip;
      return;
    }
    tc = started;
    dir = await mkdtemp(join(tmpdir(), 'cvo-webhook-mtls-'));
    await writeFile(join(dir, 'tls.crt'), serving.serverCert);
    await writeFile(join(dir, 'tls.key'), serving.serverKey);
    await writeFile(join(dir, 'client-ca.crt'), clients.caPem);
    await seed(tc);
    await start([APISERVER_CLIENT]);
    const config = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: 'cvo-update-verifier' },
      webhooks: [
        {
          name: 'clusterversions.cvo-update-verifier.openshift.io',
          clientConfig: {
            url: `https://127.0.0.1:${String(port)}/validate-clusterversion`,
            caBundle: Buffer.from(serving.caPem).toString('base64'),
          },
          rules: [
            {
              apiGroups: ['config.openshift.io'],
              apiVersions: ['v1'],
              operations: ['UPDATE'],
              resources: ['clusterversions'],
              scope: 'Cluster',
            },
          ],
          failurePolicy: 'Fail',
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
          timeoutSeconds: 10,
        },
      ],
    };
    await tc.kubectl(['apply', '--server-side', '-f', '-'], JSON.stringify(config));
  });

  after(async () => {
    if (process.env.E2E_LOGS === '1') process.stderr.write(logs.join(''));
    await service?.stop();
    await tc?.stop();
    await serving.cleanup();
    await clients.cleanup();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('lets the apiserver through with its client certificate: a by-tag update is denied with oc’s message', async (t) => {
    if (tc === undefined) return t.skip(skip ?? 'no cluster');
    const denied = await patch(tc, { image: BY_TAG, version: '', force: false });
    assert.equal(denied.ok, false);
    // The webhook's own answer, not a failed call (failurePolicy Fail would refuse either way).
    assert.match(denied.out, /denied the request: --to-image must be a by-digest pull spec/);
    assert.doesNotMatch(denied.out, /failed calling webhook/);
    const cv = await tc.admin.getClusterVersion('version');
    assert.equal(cv.spec.desiredUpdate, undefined, 'the edit must not be stored');
  });

  it('refuses, at the TLS layer, a direct AdmissionReview without a client certificate', async (t) => {
    if (tc === undefined) return t.skip(skip ?? 'no cluster');
    const answer = await post('/validate-clusterversion', review('no-cert'));
    assert.ok(
      'error' in answer,
      `answered without a client certificate: ${JSON.stringify(answer)}`,
    );
  });

  it('refuses, at the TLS layer, a client certificate from another CA, even with an allowed name', async (t) => {
    if (tc === undefined) return t.skip(skip ?? 'no cluster');
    const foreign = await clients.issueClientCert(APISERVER_CLIENT, { ca: 'other' });
    const answer = await post('/validate-clusterversion', review('other-ca'), foreign);
    assert.ok('error' in answer, `answered a foreign certificate: ${JSON.stringify(answer)}`);
  });

  it('answers 403 to a certificate from the client CA whose name is not allowed', async (t) => {
    if (tc === undefined) return t.skip(skip ?? 'no cluster');
    const stranger = await clients.issueClientCert('someone-else', {
      dnsNames: ['someone-else.example'],
    });
    const answer = await post('/validate-clusterversion', review('stranger'), stranger);
    assert.ok('status' in answer, JSON.stringify(answer));
    assert.equal(answer.status, 403);
    assert.doesNotMatch(answer.body, /AdmissionReview/, 'the webhook handler ran');
  });

  it('answers a direct AdmissionReview from an allowed client (the refusals above are the authentication)', async (t) => {
    if (tc === undefined) return t.skip(skip ?? 'no cluster');
    const allowed = await clients.issueClientCert('ops-probe', { dnsNames: [APISERVER_CLIENT] });
    const answer = await post('/validate-clusterversion', review('allowed'), allowed);
    assert.ok('status' in answer, JSON.stringify(answer));
    assert.equal(answer.status, 200);
    const response = (
      JSON.parse(answer.body) as {
        response: { allowed: boolean; uid: string; status?: { message?: string } };
      }
    ).response;
    assert.equal(response.uid, 'allowed');
    assert.equal(response.allowed, false);
    assert.equal(response.status?.message, BY_TAG_REFUSED);
  });

  it('guards /v1/verify too, which still asks a TokenReview', async (t) => {
    if (tc === undefined) return t.skip(skip ?? 'no cluster');
    const body = { image: `${REPO}@sha256:${'a'.repeat(64)}` };
    assert.ok('error' in (await post('/v1/verify', body)), 'no client certificate');
    const stranger = await clients.issueClientCert('someone-else');
    const forbidden = await post('/v1/verify', body, stranger);
    assert.ok('status' in forbidden && forbidden.status === 403, JSON.stringify(forbidden));
    const allowed = await clients.issueClientCert(APISERVER_CLIENT);
    const unauthenticated = await post('/v1/verify', body, allowed, {
      authorization: 'Bearer not-a-token',
    });
    assert.ok(
      'status' in unauthenticated && unauthenticated.status === 401,
      JSON.stringify(unauthenticated),
    );
  });

  it('makes the apiserver’s call fail when its certificate names no allowed client', async (t) => {
    if (tc === undefined) return t.skip(skip ?? 'no cluster');
    await start(['some-other-client']);
    const refused = await patch(tc, { image: BY_TAG, version: '', force: false });
    assert.equal(refused.ok, false);
    // The service answered 403 before its handler; the apiserver reports an unusable response.
    assert.match(refused.out, /failed calling webhook/);
    assert.doesNotMatch(refused.out, /denied the request/);
  });
});
