import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';

import type { Service } from '../../src/main.js';
import type { HttpConfig } from '../../src/config/service-config.js';
import { startTestCluster } from '../helpers/local-cluster.js';
import type { TestCluster } from '../helpers/local-cluster.js';
import { StoreServer } from '../helpers/store-server.js';
import { makeTestPki } from '../helpers/tls.js';
import type { TestPki } from '../helpers/tls.js';
import { digestOf, installRootOfTrust, REPO, ReleaseSigner, runService, seed } from './harness.js';

const BY_TAG = `${REPO}:4.17.0-x86_64`;

describe('the admission webhook and HTTP surface, registered with the real kube-apiserver', () => {
  let tc: TestCluster | undefined;
  let skip: string | undefined;
  let signer: ReleaseSigner;
  let pki: TestPki;
  let dir: string;
  let service: Service | undefined;
  const logs: string[] = [];

  const start = async (overrides: Partial<HttpConfig>): Promise<Service> => {
    await service?.stop();
    const http: HttpConfig = {
      bindAddress: '127.0.0.1',
      healthPort: 0,
      webhookPort: 0,
      tls: { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') },
      verifyApi: false,
      webhookVerifyMode: 'off',
      webhookBudgetMs: 5000,
      tlsReloadIntervalMs: 200,
      ...overrides,
    };
    service = await runService((tc as TestCluster).cluster.kubeconfig, { http }, logs);
    return service;
  };

  /** Registers the webhook at the service's current port, trusting the test CA. */
  const register = async (c: TestCluster, port: number): Promise<void> => {
    const config = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: 'cvo-update-verifier' },
      webhooks: [
        {
          name: 'clusterversions.cvo-update-verifier.openshift.io',
          clientConfig: {
            url: `https://127.0.0.1:${port}/validate-clusterversion`,
            caBundle: Buffer.from(pki.caPem).toString('base64'),
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
    await c.kubectl(
      ['apply', '--server-side', '--force-conflicts', '-f', '-'],
      JSON.stringify(config),
    );
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

  before(async () => {
    const started = await startTestCluster();
    if ('skip' in started) {
      skip = started.skip;
      return;
    }
    tc = started;
    signer = await ReleaseSigner.create();
    pki = await makeTestPki();
    dir = await mkdtemp(join(tmpdir(), 'cvo-webhook-'));
    await writeFile(join(dir, 'tls.crt'), pki.serverCert);
    await writeFile(join(dir, 'tls.key'), pki.serverKey);
    await installRootOfTrust(tc.admin, signer);
    await seed(tc);
  });

  after(async () => {
    if (process.env.E2E_LOGS === '1') process.stderr.write(logs.join(''));
    await service?.stop();
    await signer.close();
    await pki.cleanup();
    await rm(dir, { recursive: true, force: true });
    await tc?.stop();
  });

  it('denies a by-tag desiredUpdate made with kubectl, with oc’s message', async (t) => {
    if (tc === undefined) return t.skip(skip ?? 'no cluster');
    const s = await start({});
    await register(tc, s.ports.webhook ?? 0);
    const denied = await patch(tc, { image: BY_TAG, version: '', force: false });
    assert.equal(denied.ok, false);
    assert.match(
      denied.out,
      /denied the request: --to-image must be a by-digest pull spec, unless --force is also set, because release images that are not accessed via digest cannot be verified by the cluster/,
    );
    const cv = await tc.admin.getClusterVersion('version');
    assert.equal(cv.spec.desiredUpdate, undefined, 'the edit must not be stored');
  });

  it('allows a by-tag desiredUpdate with force, with oc’s warning', async (t) => {
    if (tc === undefined) return t.skip(skip ?? 'no cluster');
    const c = tc;
    // kubectl prints admission warnings on stderr, which the shared helper drops on success.
    const stderr = await new Promise<string>((resolve, reject) => {
      const update = JSON.stringify({
        spec: { desiredUpdate: { image: BY_TAG, version: '', force: true } },
      });
      execFile(
        c.binaries.kubectl,
        [
          '--kubeconfig',
          c.cluster.kubeconfig,
          'patch',
          'clusterversion',
          'version',
          '--type=merge',
          '-p',
          update,
        ],
        (err, _out, errOut) => {
          if (err) reject(new Error(errOut, { cause: err }));
          else resolve(errOut);
        },
      );
    });
    assert.match(
      stderr,
      /Warning: Using by-tag pull specs is dangerous, and while we still allow it in combination with --force for backward compatibility/,
    );
    const cv = await c.admin.getClusterVersion('version');
    assert.equal(cv.spec.desiredUpdate?.image, BY_TAG);
  });

  it('never blocks edits that leave desiredUpdate alone', async (t) => {
    if (tc === undefined) return t.skip(skip ?? 'no cluster');
    const out = await tc.kubectl([
      'patch',
      'clusterversion',
      'version',
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { channel: 'fast-4.17' } }),
    ]);
    assert.match(out, /patched/);
  });

  it('in enforce mode denies an unverifiable by-digest target unless forced, and allows a signed one', async (t) => {
    if (tc === undefined) return t.skip(skip ?? 'no cluster');
    const s = await start({ webhookVerifyMode: 'enforce' });
    await register(tc, s.ports.webhook ?? 0);
    const unsigned = `${REPO}@${digestOf(0x31)}`;
    const denied = await patch(tc, { image: unsigned, version: '', force: false });
    assert.equal(denied.ok, false);
    assert.match(
      denied.out,
      new RegExp(
        `The update cannot be verified: unable to verify ${digestOf(0x31)} against keyrings: verifier-public-key-e2e`,
      ),
    );
    assert.equal((await patch(tc, { image: unsigned, version: '', force: true })).ok, true);
    await signer.publish(digestOf(0x32));
    const signed = await patch(tc, {
      image: `${REPO}@${digestOf(0x32)}`,
      version: '',
      force: false,
    });
    assert.equal(signed.ok, true, signed.out);
  });

  it('answers /healthz, /readyz and /metrics, counting the admission decisions', async (t) => {
    if (tc === undefined || service === undefined) return t.skip(skip ?? 'no cluster');
    const base = `http://127.0.0.1:${service.ports.health ?? 0}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200, await ready.text());
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(
      metrics,
      /cvo_verifier_admission_reviews_total\{decision="denied",reason="unverified"\} 1/,
    );
    assert.match(
      metrics,
      /cvo_verifier_verifications_total\{kind="gpg",result="verified",reason="Verified"\} \d+/,
    );
    assert.match(metrics, /cvo_verifier_leader 1/);
    assert.match(metrics, /cvo_verifier_verification_duration_seconds_bucket/);
  });

  it('reloads the serving certificate when its files change', async (t) => {
    if (tc === undefined || service === undefined) return t.skip(skip ?? 'no cluster');
    const port = service.ports.webhook ?? 0;
    const fingerprint = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const req = httpsRequest(
          { host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: false, agent: false },
          (res) => {
            resolve((res.socket as unknown as TLSSocket).getPeerCertificate().fingerprint256);
            res.resume();
          },
        );
        req.on('error', reject);
        req.end();
      });
    const before = await fingerprint();
    const next = await makeTestPki();
    try {
      await writeFile(join(dir, 'tls.key'), next.serverKey);
      await writeFile(join(dir, 'tls.crt'), next.serverCert);
      const deadline = Date.now() + 10_000;
      let after = before;
      while (after === before && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        after = await fingerprint();
      }
      assert.notEqual(after, before, 'the new certificate was not served');
    } finally {
      await writeFile(join(dir, 'tls.key'), pki.serverKey);
      await writeFile(join(dir, 'tls.crt'), pki.serverCert);
      await next.cleanup();
    }
  });

  it('serves POST /v1/verify only to callers that TokenReview and SubjectAccessReview accept', async (t) => {
    if (tc === undefined) return t.skip(skip ?? 'no cluster');
    const c = tc;
    const s = await start({ verifyApi: true });
    const url = `https://127.0.0.1:${s.ports.webhook ?? 0}/v1/verify`;
    await signer.publish(digestOf(0x33));
    const call = (
      token: string | undefined,
      body: unknown,
    ): Promise<{ status: number; json: Record<string, unknown> }> =>
      new Promise((resolve, reject) => {
        const data = JSON.stringify(body);
        const req = httpsRequest(
          url,
          {
            method: 'POST',
            ca: pki.caPem,
            headers: {
              'content-type': 'application/json',
              ...(token ? { authorization: `Bearer ${token}` } : {}),
            },
          },
          (res) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d.toString()));
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                json: JSON.parse(text) as Record<string, unknown>,
              }),
            );
          },
        );
        req.on('error', reject);
        req.end(data);
      });
    const image = `${REPO}@${digestOf(0x33)}`;
    assert.equal((await call(undefined, { image })).status, 401);
    assert.equal((await call('not-a-token', { image })).status, 401);
    assert.equal(
      (await call(c.cluster.userToken, { image })).status,
      403,
      'cvo-test-user has no grant yet',
    );
    await c.kubectl([
      'create',
      'clusterrole',
      'cvo-verify-api',
      '--verb=post',
      '--non-resource-url=/v1/verify',
    ]);
    await c.kubectl([
      'create',
      'clusterrolebinding',
      'cvo-verify-api',
      '--clusterrole=cvo-verify-api',
      '--user=cvo-test-user',
    ]);
    const ok = await call(c.cluster.userToken, { image });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.equal(ok.json.verified, true);
    const refused = await call(c.cluster.userToken, { image: `${REPO}@${digestOf(0x34)}` });
    assert.equal(refused.json.verified, false);
    assert.equal(refused.json.code, 'NOT_SIGNED');
    assert.equal((await call(c.cluster.userToken, { image, extra: 1 })).status, 400);
    assert.ok(!logs.join('').includes(c.cluster.userToken), 'tokens must never be logged');
  });

  it('never reads a store, CA or root of trust from the posted object (no request-driven I/O)', async (t) => {
    if (tc === undefined) return t.skip(skip ?? 'no cluster');
    const s = await start({ webhookVerifyMode: 'enforce' });
    // A server an attacker would like the service to probe: it must see no request at all.
    const probe = await StoreServer.start();
    try {
      const unsigned = `${REPO}@${digestOf(0x35)}`;
      const posted = {
        apiVersion: 'config.openshift.io/v1',
        kind: 'ClusterVersion',
        metadata: { name: 'version' },
        spec: {
          clusterID: '00000000-0000-0000-0000-000000000000',
          desiredUpdate: { image: unsigned, version: '', force: false },
          signatureStores: [{ url: `${probe.url}/internal/admin?x=` }],
        },
        status: {
          history: [
            {
              state: 'Completed',
              image: `${REPO}@${digestOf(0x36)}`,
              version: '4.17.0',
              verified: true,
              startedTime: '2026-01-01T00:00:00Z',
            },
          ],
        },
      };
      const review = {
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: {
          uid: 'ssrf-1',
          kind: { group: 'config.openshift.io', version: 'v1', kind: 'ClusterVersion' },
          operation: 'UPDATE',
          object: posted,
          oldObject: { ...posted, spec: { ...posted.spec, desiredUpdate: undefined } },
        },
      };
      const answer = await new Promise<{ status: number; json: Record<string, unknown> }>(
        (resolve, reject) => {
          const req = httpsRequest(
            `https://127.0.0.1:${s.ports.webhook ?? 0}/validate-clusterversion`,
            { method: 'POST', ca: pki.caPem, headers: { 'content-type': 'application/json' } },
            (res) => {
              let text = '';
              res.on('data', (d: Buffer) => (text += d.toString()));
              res.on('end', () =>
                resolve({
                  status: res.statusCode ?? 0,
                  json: JSON.parse(text) as Record<string, unknown>,
                }),
              );
            },
          );
          req.on('error', reject);
          req.end(JSON.stringify(review));
        },
      );
      const response = answer.json.response as { allowed: boolean; status?: { message?: string } };
      // Judged with the cluster's own trust (its root of trust and stores): not verified.
      assert.equal(response.allowed, false, JSON.stringify(answer.json));
      assert.match(response.status?.message ?? '', /against keyrings: verifier-public-key-e2e/);
      assert.deepEqual(probe.requests, [], 'the posted signatureStores were fetched');
      const metrics = await (await fetch(`http://127.0.0.1:${s.ports.health ?? 0}/metrics`)).text();
      assert.ok(!metrics.includes(probe.url), 'a posted URL reached /metrics');
    } finally {
      await probe.close();
    }
  });
});
