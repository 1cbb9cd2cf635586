import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { BY_TAG_REFUSED } from '../../src/image/oc-messages.js';
import { repoRoot } from '../helpers/fixtures.js';
import { makeTestPki } from '../helpers/tls.js';
import { startTestCluster } from '../helpers/local-cluster.js';
import type { TestCluster } from '../helpers/local-cluster.js';
import {
  condition,
  digestOf,
  installRootOfTrust,
  REPO,
  ReleaseSigner,
  requestUpdate,
  seed,
  waitFor,
} from './harness.js';

describe('the cvo-verifier serve process', () => {
  let tc: TestCluster | undefined;
  let skip: string | undefined;
  let signer: ReleaseSigner | undefined;

  before(async () => {
    const started = await startTestCluster();
    if ('skip' in started) {
      skip = started.skip;
      return;
    }
    tc = started;
    signer = await ReleaseSigner.create();
    await installRootOfTrust(tc.admin, signer);
    await seed(tc);
  });

  after(async () => {
    await signer?.close();
    await tc?.stop();
  });

  it('leads, accepts a signed release, and on SIGTERM exits 0 and releases its Lease', async (t) => {
    if (tc === undefined || signer === undefined) {
      t.skip(skip ?? 'no cluster');
      return;
    }
    const c = tc;
    const bin = join(repoRoot, 'bin', 'cvo-verifier');
    assert.ok(
      existsSync(join(repoRoot, 'dist', 'cli', 'main.js')),
      'dist/ is missing: the test command builds before testing',
    );
    const child = spawn(
      bin,
      [
        'serve',
        '--kubeconfig',
        c.cluster.kubeconfig,
        '--identity',
        'serve-e2e',
        '--recheck-base',
        '1s',
        // A made-up digest: no payload to read (the default, enforce, would refuse it).
        '--release-metadata',
        'warn',
        // The drain after SIGTERM is the next test's.
        '--shutdown-delay',
        '0',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => resolve(code)),
    );
    try {
      const deadline = Date.now() + 20_000;
      while (
        (await c.admin.getLease('cvo-update-verifier', 'cvo-update-verifier-leader'))?.spec
          ?.holderIdentity !== 'serve-e2e'
      ) {
        assert.ok(Date.now() < deadline, `serve did not take the lease:\n${out}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const digest = digestOf(77);
      await signer.publish(digest);
      await requestUpdate(c, { image: `${REPO}@${digest}`, version: '', force: false });
      const cv = await waitFor(
        c.admin,
        (x) => x.status?.desired.image === `${REPO}@${digest}`,
        'accepted by the serve process',
      );
      assert.equal(condition(cv, 'ReleaseAccepted')?.status, 'True');
      assert.match(out, /"msg":"became leader"/);
      // The launcher starts serve with the memory settings bench/serve-memory.bench.ts measured.
      const pid = child.pid ?? 0;
      const cmdline = (await readFile(`/proc/${String(pid)}/cmdline`, 'utf8')).split('\0');
      assert.ok(cmdline.includes('--max-semi-space-size=2'), cmdline.join(' '));
      const environ = (await readFile(`/proc/${String(pid)}/environ`, 'utf8')).split('\0');
      assert.ok(environ.includes('MALLOC_ARENA_MAX=2'), 'MALLOC_ARENA_MAX=2 not set');
    } finally {
      child.kill('SIGTERM');
    }
    const code = await Promise.race([
      exited,
      new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 15_000)),
    ]);
    assert.equal(code, 0, `serve did not exit cleanly on SIGTERM:\n${out}`);
    assert.match(out, /"msg":"shutting down"/);
    assert.doesNotMatch(out, /"msg":"draining/, '--shutdown-delay 0 drains nothing');
    const lease = await c.admin.getLease('cvo-update-verifier', 'cvo-update-verifier-leader');
    assert.equal(lease?.spec?.holderIdentity ?? '', '', 'the lease was not released');
  });

  // The Pod leaves the Service's endpoints a second or two after SIGTERM (kube-proxy): an
  // admission request routed to it meanwhile must still be answered, while the Lease goes to the
  // other replica at once.
  it('on SIGTERM releases its Lease at once, answers /readyz 503 and the webhook for --shutdown-delay, then exits 0', async (t) => {
    if (tc === undefined) {
      t.skip(skip ?? 'no cluster');
      return;
    }
    const c = tc;
    const DELAY_MS = 3_000;
    const pki = await makeTestPki();
    const dir = await mkdtemp(join(tmpdir(), 'cvo-serve-drain-'));
    await writeFile(join(dir, 'tls.crt'), pki.serverCert);
    await writeFile(join(dir, 'tls.key'), pki.serverKey);
    const child = spawn(
      join(repoRoot, 'bin', 'cvo-verifier'),
      [
        'serve',
        '--kubeconfig',
        c.cluster.kubeconfig,
        '--identity',
        'serve-drain-e2e',
        '--bind-address',
        '127.0.0.1',
        '--health-port',
        '0',
        '--webhook-port',
        '0',
        '--tls-cert-file',
        join(dir, 'tls.crt'),
        '--tls-key-file',
        join(dir, 'tls.key'),
        '--shutdown-delay',
        `${String(DELAY_MS)}ms`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => resolve(code)),
    );
    const holder = async (): Promise<string> =>
      (await c.admin.getLease('cvo-update-verifier', 'cvo-update-verifier-leader'))?.spec
        ?.holderIdentity ?? '';
    try {
      // Both ports are picked by the kernel; the service logs them.
      let ports: { health?: number; webhook?: number } = {};
      let deadline = Date.now() + 20_000;
      while ((await holder()) !== 'serve-drain-e2e' || ports.webhook === undefined) {
        assert.ok(Date.now() < deadline, `serve did not take the lease and serve HTTP:\n${out}`);
        assert.equal(child.exitCode, null, `serve exited:\n${out}`);
        const line = out.split('\n').find((l) => l.includes('"msg":"serving HTTP"'));
        if (line !== undefined) ports = JSON.parse(line) as typeof ports;
        await sleep(200);
      }
      const readyz = async (): Promise<{ status: number; body: string }> => {
        const res = await fetch(`http://127.0.0.1:${String(ports.health)}/readyz`);
        return { status: res.status, body: await res.text() };
      };
      deadline = Date.now() + 20_000;
      while ((await readyz()).status !== 200) {
        assert.ok(Date.now() < deadline, `/readyz never answered 200:\n${out}`);
        await sleep(200);
      }

      // A connection kept open from before the stop, as the API server keeps its connections to a
      // webhook (and conntrack keeps them going to this Pod after kube-proxy has dropped it).
      const keepAlive = new HttpsAgent({ keepAlive: true, maxSockets: 1, ca: pki.caPem });
      const kept = await review(pki.caPem, ports.webhook ?? 0, keepAlive);
      assert.equal(kept.connection, 'keep-alive', 'before the stop, connections are kept');

      const stoppedAt = Date.now();
      child.kill('SIGTERM');
      // Leadership is given up at once, not after the drain.
      deadline = stoppedAt + DELAY_MS;
      while ((await holder()) !== '') {
        assert.ok(
          Date.now() < deadline,
          `the Lease was not released before the drain ended:\n${out}`,
        );
        await sleep(100);
      }
      const released = Date.now() - stoppedAt;
      assert.equal(child.exitCode, null, `serve exited before the drain ended:\n${out}`);
      // Not ready at once, so the endpoint is removed, yet still answering.
      assert.deepEqual(await readyz(), { status: 503, body: 'shutting down\n' });
      // A new connection, as one routed to this Pod before its endpoint is gone: answered.
      const answer = await review(pki.caPem, ports.webhook ?? 0);
      assert.equal(answer.status, 200);
      assert.equal(answer.response.uid, 'drain-1');
      assert.equal(answer.response.allowed, false, 'a by-tag target is refused');
      assert.ok(answer.response.status?.message?.includes(BY_TAG_REFUSED), JSON.stringify(answer));
      // The kept connection is answered too, and told to close, so that its client opens the
      // next one to a ready replica rather than finding it cut when the drain ends.
      const last = await review(pki.caPem, ports.webhook ?? 0, keepAlive);
      assert.equal(last.response.allowed, false);
      assert.equal(last.connection, 'close', 'a response while draining closes its connection');
      keepAlive.destroy();
      assert.equal(child.exitCode, null, `serve exited before the drain ended:\n${out}`);
      assert.ok(
        Date.now() - stoppedAt < DELAY_MS,
        `the checks took longer than the drain (${String(Date.now() - stoppedAt)} ms): raise DELAY_MS`,
      );
      const code = await Promise.race([exited, sleep(DELAY_MS + 15_000).then(() => 'timeout')]);
      const elapsed = Date.now() - stoppedAt;
      assert.equal(code, 0, `serve did not exit cleanly on SIGTERM:\n${out}`);
      // Timers may fire a little early against Date.now(); nothing closed before the delay.
      assert.ok(elapsed >= DELAY_MS - 50, `exited ${String(elapsed)} ms after SIGTERM`);
      assert.ok(released < elapsed, `Lease released after ${String(released)} ms`);
      const draining = out.split('\n').find((l) => l.includes('"msg":"draining'));
      assert.ok(draining !== undefined, `no line says the drain began:\n${out}`);
      assert.equal((JSON.parse(draining) as { delayMs?: number }).delayMs, DELAY_MS);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await pki.cleanup();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/**
 * Posts an AdmissionReview of a by-tag update, on a connection of its own or, with `agent`, on
 * the agent's kept-alive one.
 */
async function review(
  caPem: string,
  port: number,
  agent?: HttpsAgent,
): Promise<{
  status: number;
  connection: string;
  response: { uid?: string; allowed?: boolean; status?: { message?: string } };
}> {
  const cv = {
    apiVersion: 'config.openshift.io/v1',
    kind: 'ClusterVersion',
    metadata: { name: 'version' },
    spec: {
      clusterID: '00000000-0000-0000-0000-000000000000',
      desiredUpdate: { image: `${REPO}:4.17.0-x86_64`, version: '', force: false },
    },
  };
  const body = JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'drain-1',
      kind: { group: 'config.openshift.io', version: 'v1', kind: 'ClusterVersion' },
      operation: 'UPDATE',
      object: cv,
      oldObject: { ...cv, spec: { ...cv.spec, desiredUpdate: undefined } },
    },
  });
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `https://127.0.0.1:${String(port)}/validate-clusterversion`,
      {
        method: 'POST',
        ca: caPem,
        agent: agent ?? false,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => {
          try {
            const json = JSON.parse(text) as { response?: Record<string, unknown> };
            resolve({
              status: res.statusCode ?? 0,
              connection: res.headers.connection ?? '',
              response: json.response ?? {},
            });
          } catch (err) {
            reject(new Error(`not an AdmissionReview: ${text}`, { cause: err }));
          }
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
