import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';

import { Agent, request } from 'undici';

import { parseVerdictRecord } from '../../src/controller/verdict-record.js';
import type { RecordedVerdict } from '../../src/controller/verdict-record.js';
import { BY_TAG_REFUSED } from '../../src/image/oc-messages.js';
import { createKubePort, loadKubeConfig } from '../../src/kube/client.js';
import type { KubePort } from '../../src/kube/client.js';
import { ensureServiceImage } from '../../testbed/image/build-image.js';
import { ensureControlPlaneBinaries } from '../../testbed/local-cluster/binaries.js';
import type { ControlPlaneBinaries } from '../../testbed/local-cluster/binaries.js';
import { bootstrapOpenShiftApi } from '../../testbed/local-cluster/bootstrap.js';
import { startLocalCluster } from '../../testbed/local-cluster/cluster.js';
import type { LocalCluster } from '../../testbed/local-cluster/cluster.js';
import { seedClusterVersion } from '../../testbed/local-cluster/openshift.js';
import { NODE_IDENTITIES, hostAddress, startTestNode } from '../../testbed/node-cluster/node.js';
import type { TestNode } from '../../testbed/node-cluster/node.js';
import { repoRoot, sharedFixture } from '../helpers/fixtures.js';
import { serviceMonitorCrd } from '../helpers/service-monitor-crd.js';
import { makeTestPki } from '../helpers/tls.js';
import type { TestPki } from '../helpers/tls.js';
import { CURRENT, REPO, ReleaseSigner, installRootOfTrust } from './harness.js';

/**
 * manifests/ deployed for real: the image built from the Dockerfile (testbed/image, buildah),
 * `kubectl apply -k manifests/` on a single-node cluster (etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler, kube-proxy, kubelet, containerd, runc, bridge CNI; all
 * on this machine, testbed/node-cluster), and what the Deployment, Service, webhook
 * configuration and PodDisruptionBudget promise, checked against the running Pods.
 */

const NAMESPACE = 'cvo-update-verifier';
const NAME = 'cvo-update-verifier';
const SELECTOR = 'app.kubernetes.io/name=cvo-update-verifier';
const LEASE = 'cvo-update-verifier-leader';
const STATE = { namespace: NAMESPACE, name: 'cvo-update-verifier-state' };
const SERVICE_DNS = `${NAME}.${NAMESPACE}.svc`;

interface Pod {
  metadata: { name: string; uid: string; labels?: Record<string, string> };
  spec: {
    nodeName?: string;
    containers: {
      readinessProbe?: { httpGet?: { path?: string; port?: number | string } };
      livenessProbe?: { httpGet?: { path?: string; port?: number | string } };
    }[];
  };
  status: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: {
      name: string;
      ready: boolean;
      restartCount: number;
      containerID?: string;
      imageID?: string;
    }[];
  };
}

interface Lease {
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

interface Env {
  cluster: LocalCluster;
  binaries: ControlPlaneBinaries;
  node: TestNode;
  admin: KubePort;
  signer: ReleaseSigner;
  pki: TestPki;
}

/** A digest of quay.io's release repository, made up and signed (or not) by the test's key. */
const digestOf = (n: number): string => `sha256:${n.toString(16).padStart(64, 'a')}`;

describe('deploy: manifests/ as Pods of the image built from the Dockerfile on a real node', () => {
  let env: Env | undefined;
  let skip: string | undefined;

  const kubectl = (args: readonly string[], input?: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const e = need();
      const child = execFile(
        e.binaries.kubectl,
        ['--kubeconfig', e.cluster.kubeconfig, ...args],
        { maxBuffer: 32 * 1024 * 1024, timeout: 120_000 },
        (err, stdout, stderr) => {
          if (err) reject(new Error(`kubectl ${args.join(' ')} failed: ${stderr || err.message}`));
          else resolve(stdout);
        },
      );
      child.stdin?.end(input);
    });

  /** kubectl with its exit status and stderr (admission denials), never rejecting. */
  const kubectlResult = (
    args: readonly string[],
  ): Promise<{ ok: boolean; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const e = need();
      execFile(
        e.binaries.kubectl,
        ['--kubeconfig', e.cluster.kubeconfig, ...args],
        { timeout: 60_000 },
        (err, stdout, stderr) => {
          resolve({ ok: err === null, stdout, stderr });
        },
      );
    });

  const need = (): Env => {
    assert.ok(env, 'the deploy environment did not start (see the before hook)');
    return env;
  };
  const ready = (t: TestContext): Env | undefined => {
    if (skip !== undefined) {
      t.skip(skip);
      return undefined;
    }
    return need();
  };

  const pods = async (): Promise<Pod[]> =>
    (
      JSON.parse(await kubectl(['get', 'pods', '-n', NAMESPACE, '-l', SELECTOR, '-o', 'json'])) as {
        items: Pod[];
      }
    ).items;
  const isReady = (p: Pod): boolean =>
    p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
  const lease = async (): Promise<Lease> =>
    JSON.parse(await kubectl(['get', 'lease', LEASE, '-n', NAMESPACE, '-o', 'json'])) as Lease;
  const record = async (): Promise<readonly RecordedVerdict[]> =>
    parseVerdictRecord(await need().admin.getConfigMap(STATE.namespace, STATE.name))?.verdicts ??
    [];
  const until = async <T>(
    what: string,
    probe: () => Promise<T | undefined>,
    timeoutMs: number,
  ): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        const value = await probe();
        if (value !== undefined) return value;
      } catch (err) {
        last = err;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `timed out after ${String(timeoutMs)} ms waiting for ${what}${last instanceof Error ? ` (last error: ${last.message})` : ''}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };
  /** Both replicas Ready, of the Deployment's current template, and no other Pod left. */
  const twoReady = (timeoutMs = 180_000): Promise<Pod[]> =>
    until(
      'both replicas of the current template to be Ready',
      async () => {
        const all = await pods();
        const deployment = JSON.parse(
          await kubectl(['get', 'deployment', NAME, '-n', NAMESPACE, '-o', 'json']),
        ) as { status: { updatedReplicas?: number; readyReplicas?: number; replicas?: number } };
        const s = deployment.status;
        return all.length === 2 &&
          all.every(isReady) &&
          s.updatedReplicas === 2 &&
          s.readyReplicas === 2 &&
          s.replicas === 2
          ? all
          : undefined;
      },
      timeoutMs,
    );
  /** A desiredUpdate edit as `oc adm upgrade --to-image` makes it, as a server-side dry run. */
  const dryRunUpdate = (image: string): Promise<{ ok: boolean; stdout: string; stderr: string }> =>
    kubectlResult([
      'patch',
      'clusterversion',
      'version',
      '--type=merge',
      '--dry-run=server',
      '-p',
      JSON.stringify({ spec: { desiredUpdate: { image, version: '', force: false } } }),
    ]);
  const requestUpdate = (image: string): Promise<{ ok: boolean; stdout: string; stderr: string }> =>
    kubectlResult([
      'patch',
      'clusterversion',
      'version',
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { desiredUpdate: { image, version: '', force: false } } }),
    ]);

  before(
    async () => {
      const crds = sharedFixture('openshift-api');
      if ('skip' in crds) {
        skip = crds.skip;
        return;
      }
      const progress = (line: string): void => {
        process.stderr.write(`[deploy] ${line}\n`);
      };
      const started = Date.now();
      const binaries = await ensureControlPlaneBinaries({
        moduleDir: join(repoRoot, 'control-plane'),
        cacheDir: join(repoRoot, '.cache', 'control-plane'),
        progress,
        env: process.env,
      });
      // Built by the test command before the tests (scripts/test.sh); a test never spends minutes on it.
      const image = await ensureServiceImage({ progress, cachedOnly: true });
      const address = await hostAddress();
      const cluster = await startLocalCluster({
        binaries,
        progress,
        nodeAccess: { address },
        identities: NODE_IDENTITIES,
      });
      let node: TestNode | undefined;
      try {
        await bootstrapOpenShiftApi(cluster, binaries.kubectl, crds.path);
        node = await startTestNode({
          cluster,
          binaries,
          address,
          cacheDir: join(repoRoot, '.cache', 'node-cluster'),
          progress,
        });
        await node.importImage(image.archive);
        const admin = createKubePort(loadKubeConfig({ kubeconfig: cluster.kubeconfig }));
        // The signature store listens on the host's address: the Pods reach it there.
        const signer = await ReleaseSigner.create(address);
        const pki = await makeTestPki({ serverDnsNames: [SERVICE_DNS] });
        env = { cluster, binaries, node, admin, signer, pki };
        await installRootOfTrust(admin, signer);
        await signer.publish(digestOf(1));
        await signer.publish(digestOf(2));
        await seedClusterVersion(cluster, binaries.kubectl, admin, {
          current: CURRENT,
          availableUpdates: [],
        });
        progress(`cluster, node and image ready in ${String(Date.now() - started)} ms`);
      } catch (err) {
        await node?.stop().catch(() => undefined);
        await cluster.stop();
        env = undefined;
        throw err;
      }
    },
    { timeout: 900_000 },
  );

  after(async () => {
    if (env === undefined) return;
    await env.node.stop();
    await env.signer.close();
    await env.pki.cleanup();
    await env.cluster.stop();
  });

  it('kubectl apply -k manifests/ applies; with its serving Secret and caBundle both replicas become Ready through their probes', async (t) => {
    const e = ready(t);
    if (!e) return;
    await kubectl(['apply', '--server-side', '-f', await serviceMonitorCrd()]);
    await kubectl([
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      'crd/servicemonitors.monitoring.coreos.com',
    ]);
    await kubectl(['apply', '--server-side', '-k', join(repoRoot, 'manifests')]);
    // What the installer (or cert-manager, or OpenShift's service-ca operator) does: the serving
    // Secret the Deployment mounts, and the CA in the webhook configuration.
    await kubectl(['apply', '-f', '-'], JSON.stringify(tlsSecret(e.pki)));
    await kubectl([
      'patch',
      'validatingwebhookconfiguration',
      NAME,
      '--type=json',
      '-p',
      JSON.stringify([
        {
          op: 'add',
          path: '/webhooks/0/clientConfig/caBundle',
          value: Buffer.from(e.pki.caPem).toString('base64'),
        },
      ]),
    ]);
    const running = await twoReady();
    for (const p of running) {
      assert.equal(p.spec.nodeName, e.node.name);
      const status = p.status.containerStatuses?.[0];
      assert.equal(status?.ready, true, `${p.metadata.name}: container not ready`);
      assert.match(status?.imageID ?? '', /sha256:[0-9a-f]{64}/);
      // Ready through the probes the manifests give: the kubelet GETs these, and so do we.
      const container = p.spec.containers[0];
      assert.deepEqual(container?.readinessProbe?.httpGet, {
        path: '/readyz',
        port: 8081,
        scheme: 'HTTP',
      });
      assert.deepEqual(container?.livenessProbe?.httpGet, {
        path: '/healthz',
        port: 8081,
        scheme: 'HTTP',
      });
      for (const path of ['/readyz', '/healthz']) {
        const res = await request(`http://${p.status.podIP ?? ''}:8081${path}`);
        const body = await res.body.text();
        assert.equal(res.statusCode, 200, `${p.metadata.name} ${path}: ${body}`);
      }
    }
    const endpoints = JSON.parse(
      await kubectl([
        'get',
        'endpointslices',
        '-n',
        NAMESPACE,
        '-l',
        `kubernetes.io/service-name=${NAME}`,
        '-o',
        'json',
      ]),
    ) as { items: { endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[] }[] };
    const addresses = endpoints.items
      .flatMap((s) => s.endpoints ?? [])
      .filter((ep) => ep.conditions?.ready === true)
      .flatMap((ep) => ep.addresses)
      .sort();
    assert.deepEqual(addresses, running.map((p) => p.status.podIP ?? '').sort());
  });

  it('runs as the restricted, non-root user on a read-only root filesystem (checked inside the running containers)', async (t) => {
    const e = ready(t);
    if (!e) return;
    const namespace = JSON.parse(await kubectl(['get', 'namespace', NAMESPACE, '-o', 'json'])) as {
      metadata: { labels?: Record<string, string> };
    };
    assert.equal(
      namespace.metadata.labels?.['pod-security.kubernetes.io/enforce'],
      'restricted',
      'the namespace enforces Pod Security "restricted": the Pods were admitted under it',
    );
    for (const p of await pods()) {
      const id = containerId(p);
      // The container's own process, as the kernel sees it from the host.
      const tasks: string = await e.node.ctr(['tasks', 'ls']);
      const pid: string | undefined = new RegExp(`^${id}\\s+(\\d+)\\s+RUNNING`, 'm').exec(
        tasks,
      )?.[1];
      assert.ok(pid, `${p.metadata.name}: container ${id} is not running:\n${tasks}`);
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      const field = (name: string): string =>
        new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '';
      assert.deepEqual(
        {
          uid: field('Uid').split(/\s+/),
          gid: field('Gid').split(/\s+/),
          capEff: field('CapEff'),
          capPrm: field('CapPrm'),
          capBnd: field('CapBnd'),
          capAmb: field('CapAmb'),
          // Supplementary groups: none beyond its own (never root's 0).
          groups: field('Groups')
            .split(/\s+/)
            .filter((g) => g !== '' && g !== '65532'),
          noNewPrivs: field('NoNewPrivs'),
          seccomp: field('Seccomp'),
        },
        {
          uid: ['65532', '65532', '65532', '65532'],
          gid: ['65532', '65532', '65532', '65532'],
          capEff: '0000000000000000',
          capPrm: '0000000000000000',
          capBnd: '0000000000000000',
          capAmb: '0000000000000000',
          groups: [],
          noNewPrivs: '1',
          // 2: a seccomp filter (RuntimeDefault) is in force.
          seccomp: '2',
        },
        `${p.metadata.name}: /proc/${pid}/status`,
      );
      const root = (await readFile(`/proc/${pid}/mountinfo`, 'utf8'))
        .split('\n')
        .find((l) => l.split(' ')[4] === '/');
      assert.match(
        root ?? '',
        /^\S+ \S+ \S+ \S+ \/ ro[, ]/,
        `${p.metadata.name}: root mount ${root}`,
      );
      // And from inside: only the emptyDir /tmp is writable; the token is mounted.
      const probe = await e.node.ctr([
        'tasks',
        'exec',
        '--user',
        '65532:65532',
        '--exec-id',
        `probe-${String(Date.now())}`,
        id,
        '/usr/local/bin/node',
        '-e',
        [
          "const fs = require('node:fs');",
          'const out = {};',
          "for (const path of ['/app/x', '/x', '/tmp/x']) {",
          "  try { fs.writeFileSync(path, 'x'); out[path] = 'written'; } catch (err) { out[path] = err.code; }",
          '}',
          "out.token = fs.existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token');",
          'console.log(JSON.stringify(out));',
        ].join('\n'),
      ]);
      assert.deepEqual(
        JSON.parse(probe.trim()),
        { '/app/x': 'EROFS', '/x': 'EROFS', '/tmp/x': 'written', token: true },
        `${p.metadata.name}: ${probe}`,
      );
    }
  });

  it('one replica leads: the Lease names one of the two Pods', async (t) => {
    const e = ready(t);
    if (!e) return;
    const names = (await pods()).map((p) => p.metadata.name);
    const held = await until(
      'a leader',
      async () => {
        const holder = (await lease()).spec.holderIdentity;
        return holder !== undefined && holder !== '' ? holder : undefined;
      },
      60_000,
    );
    const leaders = names.filter((n) => held.startsWith(`${n}-`));
    assert.equal(leaders.length, 1, `holder ${held} is not one of ${names.join(', ')}`);
  });

  it('the API server calls the webhook through the Service: a by-tag request is refused with oc’s words, a signed digest is allowed', async (t) => {
    const e = ready(t);
    if (!e) return;
    // Through the Service's cluster IP: kube-proxy's chain for it counts the connections the
    // API server opens (the first packet of each passes the nat table).
    const service = JSON.parse(
      await kubectl(['get', 'service', NAME, '-n', NAMESPACE, '-o', 'json']),
    ) as { spec: { clusterIP: string } };
    const chain = await serviceChain(service.spec.clusterIP, 443);
    const connectionsBefore = await chainPackets(chain);
    const byTag = await dryRunUpdate(`${REPO}:4.17.0-x86_64`);
    assert.equal(byTag.ok, false, `a by-tag request was admitted: ${byTag.stdout}`);
    assert.match(byTag.stderr, /admission webhook "clusterversions\.cvo-update-verifier\.svc"/);
    assert.ok(byTag.stderr.includes(BY_TAG_REFUSED), byTag.stderr);
    const unsigned = await dryRunUpdate(`${REPO}@${digestOf(9)}`);
    assert.equal(unsigned.ok, false, `an unsigned release was admitted: ${unsigned.stdout}`);
    assert.match(unsigned.stderr, /denied the request/);
    const signed = await dryRunUpdate(`${REPO}@${digestOf(1)}`);
    assert.equal(signed.ok, true, signed.stderr);
    const connectionsAfter = await chainPackets(chain);
    assert.ok(
      connectionsAfter > connectionsBefore,
      `no connection went through ${chain} (${service.spec.clusterIP}:443): ${String(connectionsBefore)} before, ${String(connectionsAfter)} after`,
    );
  });

  it('killing the leader Pod hands over within the lease duration and loses nothing', async (t) => {
    const e = ready(t);
    if (!e) return;
    await twoReady();
    const first = `${REPO}@${digestOf(1)}`;
    const second = `${REPO}@${digestOf(2)}`;
    const asked = await requestUpdate(first);
    assert.equal(asked.ok, true, asked.stderr);
    await until(
      `the leader's verdict on ${first}`,
      async () => ((await record()).find((v) => v.image === first)?.verified ? true : undefined),
      60_000,
    );
    const before = await lease();
    const holder = before.spec.holderIdentity ?? '';
    const leaderPod = (await pods()).find((p) => holder.startsWith(`${p.metadata.name}-`));
    assert.ok(leaderPod, `no Pod holds the Lease (${holder})`);
    const durationMs = (before.spec.leaseDurationSeconds ?? 0) * 1000;
    assert.equal(durationMs, 15_000);

    // The Pod dies without a word: its container is SIGKILLed (no Lease release), then the Pod
    // object is deleted so that the kubelet does not restart it; the Deployment replaces it.
    const killed = Date.now();
    await e.node.killContainer(containerId(leaderPod));
    await kubectl([
      'delete',
      'pod',
      leaderPod.metadata.name,
      '-n',
      NAMESPACE,
      '--grace-period=0',
      '--force',
      '--wait=false',
    ]);
    // Asked while nobody leads: the webhook (the surviving replica) admits it, and the next
    // leader must still record it.
    const again = await requestUpdate(second);
    assert.equal(again.ok, true, again.stderr);
    const next = await until(
      'a new leader',
      async () => {
        const l = await lease();
        const h = l.spec.holderIdentity ?? '';
        return h !== '' && h !== holder ? { holder: h, at: Date.now(), lease: l } : undefined;
      },
      durationMs + 15_000,
    );
    const handover = next.at - killed;
    process.stderr.write(
      `[deploy] leader ${holder} killed; ${next.holder} led after ${String(handover)} ms\n`,
    );
    // The Lease was last renewed before the kill and expires leaseDuration after that renewal;
    // the survivor retries every 2 s, and this poll adds up to 200 ms.
    assert.ok(
      handover <= durationMs + 2_000 + 1_000,
      `handover took ${String(handover)} ms, more than the ${String(durationMs)} ms lease`,
    );
    // It was taken over, not handed back: the new holder acquired it only after the old
    // holder's last renewal had expired (the killed process released nothing).
    const expired =
      Date.parse(before.spec.renewTime ?? '') + durationMs - 1_000 <=
      Date.parse(next.lease.spec.acquireTime ?? '');
    assert.ok(
      expired,
      `acquired at ${String(next.lease.spec.acquireTime)}, before ${String(before.spec.renewTime)} + ${String(durationMs)} ms: the Lease was released, so the Pod was not killed hard`,
    );
    assert.equal(
      next.lease.spec.leaseTransitions,
      (before.spec.leaseTransitions ?? 0) + 1,
      'one transition',
    );
    const survivor = (await pods()).find((p) => next.holder.startsWith(`${p.metadata.name}-`));
    assert.ok(survivor, `the new holder ${next.holder} is not a Pod of the Deployment`);
    assert.notEqual(survivor.metadata.name, leaderPod.metadata.name);
    const verdicts = await until(
      `the new leader's verdict on ${second}`,
      async () => {
        const all = await record();
        return all.find((v) => v.image === second)?.verified === true ? all : undefined;
      },
      60_000,
    );
    assert.equal(
      verdicts.find((v) => v.image === first)?.verified,
      true,
      'the first verdict was lost',
    );
    await twoReady();
  });

  it('the PodDisruptionBudget allows one eviction and blocks the second', async (t) => {
    const e = ready(t);
    if (!e) return;
    const [a, b] = await twoReady();
    assert.ok(a && b);
    await until(
      'the disruption controller to allow one disruption',
      async () => {
        const pdb = JSON.parse(
          await kubectl(['get', 'pdb', NAME, '-n', NAMESPACE, '-o', 'json']),
        ) as { status?: { disruptionsAllowed?: number; currentHealthy?: number } };
        return pdb.status?.disruptionsAllowed === 1 && pdb.status.currentHealthy === 2
          ? true
          : undefined;
      },
      60_000,
    );
    // The Eviction API, as `kubectl drain` uses it: 201 when allowed, 429 when a budget refuses.
    const dispatcher = new Agent({ connect: { ca: e.cluster.caCert } });
    const evict = async (pod: Pod): Promise<{ status: number; body: string }> => {
      const res = await request(
        `${e.cluster.server}/api/v1/namespaces/${NAMESPACE}/pods/${pod.metadata.name}/eviction`,
        {
          method: 'POST',
          dispatcher,
          headers: {
            authorization: `Bearer ${e.cluster.adminToken}`,
            'content-type': 'application/json',
          },
          body: JSON.stringify({
            apiVersion: 'policy/v1',
            kind: 'Eviction',
            metadata: { name: pod.metadata.name, namespace: NAMESPACE },
          }),
        },
      );
      return { status: res.statusCode, body: await res.body.text() };
    };
    try {
      const first = await evict(a);
      assert.equal(first.status, 201, first.body);
      const second = await evict(b);
      assert.equal(second.status, 429, `the second eviction was not refused: ${second.body}`);
      const refusal = JSON.parse(second.body) as {
        message?: string;
        details?: { causes?: { reason?: string; message?: string }[] };
      };
      assert.match(
        refusal.message ?? '',
        /Cannot evict pod as it would violate the pod's disruption budget/,
      );
      assert.ok(
        refusal.details?.causes?.some(
          (c) => c.reason === 'DisruptionBudget' && c.message?.includes(`budget ${NAME} `) === true,
        ),
        `the refusal names another cause than the budget ${NAME}: ${second.body}`,
      );
    } finally {
      await dispatcher.close();
    }
    await twoReady();
  });

  it('a rolling update keeps the webhook answering', async (t) => {
    const e = ready(t);
    if (!e) return;
    const before = (await twoReady()).map((p) => p.metadata.name);
    // Straight to the API server (no kubectl process per request), two at a time, as fast as
    // they are answered: a second without a webhook endpoint would show as admitted requests.
    const dispatcher = new Agent({ connect: { ca: e.cluster.caCert } });
    const probe = async (): Promise<{ status: number; message: string }> => {
      const res = await request(
        `${e.cluster.server}/apis/config.openshift.io/v1/clusterversions/version?dryRun=All`,
        {
          method: 'PATCH',
          dispatcher,
          headers: {
            authorization: `Bearer ${e.cluster.adminToken}`,
            'content-type': 'application/merge-patch+json',
          },
          body: JSON.stringify({
            spec: { desiredUpdate: { image: `${REPO}:4.17.0-x86_64`, version: '', force: false } },
          }),
        },
      );
      const body = (await res.body.json()) as { message?: string };
      return { status: res.statusCode, message: body.message ?? '' };
    };
    let stop = false;
    const answers: { status: number; refused: boolean; message: string }[] = [];
    const prober = async (): Promise<void> => {
      while (!stop) {
        const r = await probe();
        answers.push({ ...r, refused: r.message.includes(BY_TAG_REFUSED) });
      }
    };
    const logStart = e.cluster.apiserverOutput().length;
    const probers = [prober(), prober()];
    try {
      await kubectl(['rollout', 'restart', `deployment/${NAME}`, '-n', NAMESPACE]);
      await kubectl(['rollout', 'status', `deployment/${NAME}`, '-n', NAMESPACE, '--timeout=240s']);
      await twoReady();
    } finally {
      stop = true;
      await Promise.all(probers);
      await dispatcher.close();
    }
    const after = (await pods()).map((p) => p.metadata.name);
    assert.deepEqual(
      after.filter((n) => before.includes(n)),
      [],
      'Pods of the old template are still there after the rollout',
    );
    const unanswered = answers.filter((a) => !a.refused);
    process.stderr.write(
      `[deploy] rollout: ${String(answers.length)} by-tag requests, ${String(unanswered.length)} not refused\n`,
    );
    assert.ok(answers.length >= 100, `only ${String(answers.length)} probes during the rollout`);
    // The API server says why it admitted one: "Failed calling webhook, failing open …".
    const failedOpen = e.cluster
      .apiserverOutput()
      .slice(logStart)
      .split('\n')
      .filter((l) => l.includes('failing open'))
      .slice(-5);
    assert.deepEqual(
      { unanswered, failedOpen },
      { unanswered: [], failedOpen: [] },
      `${String(unanswered.length)} of ${String(answers.length)} by-tag requests were not refused by the webhook during the rollout`,
    );
  });
});

/** kube-proxy's nat chain for a Service's cluster IP and port (KUBE-SVC-…). */
async function serviceChain(clusterIp: string, port: number): Promise<string> {
  const rules = await iptables(['-t', 'nat', '-S', 'KUBE-SERVICES']);
  const line = rules
    .split('\n')
    .find((l) => l.includes(`-d ${clusterIp}/32`) && l.includes(`--dport ${String(port)} `));
  const chain = / -j (KUBE-SVC-\S+)/.exec(line ?? '')?.[1];
  assert.ok(chain, `kube-proxy has no rule for ${clusterIp}:${String(port)}:\n${rules}`);
  return chain;
}

/** Packets that entered a Service chain's endpoint rules (its KUBE-SEP-… jumps). */
async function chainPackets(chain: string): Promise<number> {
  const listing = await iptables(['-t', 'nat', '-L', chain, '-n', '-v', '-x']);
  return listing
    .split('\n')
    .filter((l) => / KUBE-SEP-/.test(l))
    .reduce((sum, l) => sum + Number(l.trim().split(/\s+/)[0]), 0);
}

function iptables(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('iptables', args, (err, stdout, stderr) => {
      if (err) reject(new Error(`iptables ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

function containerId(p: Pod): string {
  const id = p.status.containerStatuses?.[0]?.containerID ?? '';
  const match = /^containerd:\/\/([0-9a-f]{64})$/.exec(id);
  assert.ok(match, `${p.metadata.name}: no containerd container ID (${id})`);
  return match[1]!;
}

function tlsSecret(pki: TestPki): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name: `${NAME}-tls`, namespace: NAMESPACE },
    data: {
      'tls.crt': Buffer.from(pki.serverCert).toString('base64'),
      'tls.key': Buffer.from(pki.serverKey).toString('base64'),
    },
  };
}
