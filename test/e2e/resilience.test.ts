import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize, sep } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { toStoreDigestPath } from '../../src/image/pullspec.js';
import { createKubePort, KubeApiError, loadKubeConfig } from '../../src/kube/client.js';
import type { KubePort, Watcher } from '../../src/kube/client.js';
import type { ClusterVersion, Condition } from '../../src/kube/types.js';
import type { Service } from '../../src/main.js';
import type { ServiceConfig } from '../../src/config/service-config.js';
import { repoRoot } from '../helpers/fixtures.js';
import { startTestCluster } from '../helpers/local-cluster.js';
import type { TestCluster } from '../helpers/local-cluster.js';
import {
  condition,
  CURRENT,
  digestOf,
  events,
  installRootOfTrust,
  REPO,
  ReleaseSigner,
  requestUpdate,
  runService,
  seed,
  waitFor,
  eventually,
} from './harness.js';

const CACHE = { namespace: 'openshift-config-managed', name: 'signatures-managed' };
const TRUST = { namespace: 'openshift-config-managed', name: 'release-verification' };
const LEASE_NAMESPACE = 'cvo-update-verifier';
/** Nothing listens on port 1 of the loopback: a signature store that is down. */
const DEAD_STORE = 'http://127.0.0.1:1/signatures';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A release pullspec whose digest no other test uses. */
const release = (n: number): { image: string; digest: string } => ({
  image: `${REPO}@${digestOf(n)}`,
  digest: digestOf(n),
});

type LeaderElection = ServiceConfig['leaderElection'];

function leaderElection(name: string, identity: string): LeaderElection {
  return {
    enabled: true,
    namespace: LEASE_NAMESPACE,
    name,
    identity,
    leaseDurationMs: 3000,
    renewIntervalMs: 1000,
    retryIntervalMs: 500,
  };
}

interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly [key: string]: unknown;
}

function parsed(logs: readonly string[]): LogLine[] {
  return logs.map((l) => JSON.parse(l) as LogLine);
}

function lines(logs: readonly string[], msg: string): LogLine[] {
  return parsed(logs).filter((l) => l.msg === msg);
}

/** Polls `predicate` (not the ClusterVersion) until it holds. */
async function until(
  predicate: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** A fresh singleton `version` with only the current release in history. */
async function reset(tc: TestCluster): Promise<void> {
  await tc.kubectl(['delete', 'clusterversion', 'version', '--ignore-not-found', '--wait=true']);
  await seed(tc);
}

/** Writes a signature into a store directory as `oc adm release mirror` lays it out. */
async function writeSignature(dir: string, digest: string, body: Buffer, index = 1) {
  const at = join(dir, toStoreDigestPath(digest));
  await mkdir(at, { recursive: true });
  await writeFile(join(at, `signature-${String(index)}`), body);
}

/** Points the root of trust's store-e2e at `url`, keeping its keys. */
async function setRootOfTrustStore(admin: KubePort, url: string): Promise<void> {
  const cm = await admin.getConfigMap(TRUST.namespace, TRUST.name);
  assert.ok(cm?.data?.['store-e2e'], 'root of trust with store-e2e');
  await admin.replaceConfigMap(TRUST.namespace, { ...cm, data: { ...cm.data, 'store-e2e': url } });
}

/** A signature store serving `root` (like LocalStoreServer) that answers every request late. */
async function startSlowStore(
  root: string,
  delayMs: number,
): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    const path = normalize(decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/'));
    const file = path.startsWith('/signatures/')
      ? join(root, path.slice('/signatures/'.length))
      : '';
    setTimeout(() => {
      if (!file.startsWith(root + sep)) {
        res.writeHead(404).end();
        return;
      }
      readFile(file).then(
        (body) => res.writeHead(200).end(body),
        () => res.writeHead(404).end(),
      );
    }, delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/signatures`,
    requests: () => requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function withCondition(conditions: Condition[] | undefined, next: Condition): Condition[] {
  return [...(conditions ?? []).filter((c) => c.type !== next.type), next];
}

/** Services started by one test, their logs, and their cleanup (stop in finally). */
class Scenario {
  private readonly services = new Map<string, { service: Service; stopped: boolean }>();
  readonly logs = new Map<string, string[]>();

  async start(
    name: string,
    kubeconfig: string,
    overrides: Partial<ServiceConfig> = {},
  ): Promise<{ service: Service; logs: string[] }> {
    const logs: string[] = [];
    this.logs.set(name, logs);
    const service = await runService(kubeconfig, overrides, logs);
    this.services.set(name, { service, stopped: false });
    return { service, logs };
  }

  async stop(name: string): Promise<void> {
    const entry = this.services.get(name);
    if (entry === undefined || entry.stopped) return;
    entry.stopped = true;
    await entry.service.stop();
  }

  async idle(name: string): Promise<void> {
    await this.services.get(name)?.service.controller.idle();
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.services.keys()].map((n) => this.stop(n)));
  }

  dump(): void {
    for (const [name, logs] of this.logs) {
      process.stderr.write(`--- service ${name} ---\n${logs.join('')}`);
    }
  }
}

async function scenario(body: (s: Scenario) => Promise<void>): Promise<void> {
  const s = new Scenario();
  try {
    await body(s);
  } catch (err) {
    s.dump();
    throw err;
  } finally {
    await s.stopAll();
    if (process.env.E2E_LOGS === '1') s.dump();
  }
}

describe('the service survives restarts, outages, conflicts and replicas', () => {
  let tc: TestCluster | undefined;
  let skip: string | undefined;
  let signer: ReleaseSigner;
  let tmp: string;

  before(async () => {
    const started = await startTestCluster();
    if ('skip' in started) {
      skip = started.skip;
      return;
    }
    tc = started;
    tmp = await mkdtemp(join(tmpdir(), 'cvo-resilience-'));
    signer = await ReleaseSigner.create();
    await installRootOfTrust(tc.admin, signer);
  });

  after(async () => {
    await signer?.close();
    await tc?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  const cluster = (t: { skip: (m: string) => void }): TestCluster | undefined => {
    if (tc === undefined) t.skip(skip ?? 'no cluster');
    return tc;
  };

  it('a restarted service resumes the background re-check from cluster state and flips verified', async (t) => {
    const c = cluster(t);
    if (!c) return;
    const target = release(0x101);
    await reset(c);
    await scenario(async (s) => {
      const first = await s.start('first', c.cluster.kubeconfig);
      await requestUpdate(c, { image: target.image, version: '4.17.5', force: true });
      await waitFor(
        c.admin,
        (x) => x.status?.history?.[0]?.image === target.image,
        'forced acceptance',
      );
      assert.equal(
        (await c.admin.getClusterVersion('version')).status?.history?.[0]?.verified,
        false,
      );
      // The service schedules the re-check just after the status write the test has seen: wait
      // for it rather than race it (a CI simulation caught the race).
      const scheduled = Date.now() + 5_000;
      while (
        !first.service.controller
          .pendingRechecks()
          .some((r) => r.key === `history:${target.image}`) &&
        Date.now() < scheduled
      ) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.ok(
        first.service.controller.pendingRechecks().some((r) => r.key === `history:${target.image}`),
        'the first service scheduled a re-check',
      );
      await s.stop('first');

      await signer.publish(target.digest);
      // Nothing runs now: the flip can only come from the new service.
      await sleep(500);
      assert.equal(
        (await c.admin.getClusterVersion('version')).status?.history?.[0]?.verified,
        false,
      );

      const second = await s.start('second', c.cluster.kubeconfig);
      const cv = await waitFor(
        c.admin,
        (x) => x.status?.history?.[0]?.verified === true,
        'verified flip after restart',
        30_000,
      );
      assert.deepEqual(
        cv.status?.history?.map((h) => [h.image, h.verified]),
        [
          [target.image, true],
          [CURRENT.image, true],
        ],
        'the same entry flipped; nothing re-accepted',
      );
      assert.equal(cv.status?.desired.image, target.image);
      await eventually(
        () =>
          lines(second.logs, 'release verified by background re-check').some(
            (l) => l.image === target.image,
          ),
        'the re-check log line of the second service',
      );
      assert.equal(lines(first.logs, 'release verified by background re-check').length, 0);
      // The accepted target is not verified or written again by the restarted service.
      assert.equal(lines(second.logs, 'reconciled ClusterVersion').length, 0);
      assert.ok(
        (
          await events(
            c,
            'ReleaseVerified',
            (e) => e.message.includes(target.image) && e.message.includes('is now verified'),
          )
        ).some((e) => e.message.includes(target.image) && e.message.includes('is now verified')),
        'ReleaseVerified event',
      );
    });
  });

  it('a service restarted while the stores are unreachable verifies from the signature cache', async (t) => {
    const c = cluster(t);
    if (!c) return;
    const cached = release(0x201);
    const away = release(0x202);
    const notCached = release(0x203);
    await reset(c);
    await signer.publish(cached.digest);
    await signer.publish(notCached.digest);
    try {
      await scenario(async (s) => {
        await s.start('connected', c.cluster.kubeconfig);
        await requestUpdate(c, { image: cached.image, version: '4.17.6', force: false });
        await waitFor(c.admin, (x) => x.status?.desired.image === cached.image, 'signed accepted');
        const key = `${cached.digest.replace(':', '-')}-1`;
        await until(
          async () =>
            (await c.admin.getConfigMap(CACHE.namespace, CACHE.name))?.binaryData?.[key] !==
            undefined,
          'the signature in the cache ConfigMap',
        );
        // Move away, so asking for `cached` again needs a fresh verification.
        await requestUpdate(c, { image: away.image, version: '4.17.7', force: true });
        await waitFor(c.admin, (x) => x.status?.desired.image === away.image, 'forced move away');
        await s.stop('connected');

        // Disconnected: the store in the root of trust is down.
        await setRootOfTrustStore(c.admin, DEAD_STORE);
        await s.start('disconnected', c.cluster.kubeconfig);

        // Control: a release signed in the (now unreachable) store but never cached is refused.
        await requestUpdate(c, { image: notCached.image, version: '4.17.8', force: false });
        let cv = await waitFor(
          c.admin,
          (x) => (condition(x, 'ReleaseAccepted')?.message ?? '').includes(notCached.digest),
          'refusal of the uncached release',
        );
        assert.equal(condition(cv, 'ReleaseAccepted')?.status, 'False');
        assert.equal(cv.status?.desired.image, away.image);

        await requestUpdate(c, { image: cached.image, version: '4.17.6', force: false });
        cv = await waitFor(
          c.admin,
          (x) => x.status?.desired.image === cached.image,
          'acceptance from the cache',
        );
        assert.equal(condition(cv, 'ReleaseAccepted')?.status, 'True');
        assert.equal(cv.status?.history?.[0]?.image, cached.image);
        assert.equal(cv.status?.history?.[0]?.verified, true);
        assert.match(
          condition(cv, 'ReleaseVerified')?.message ?? '',
          new RegExp(`configmap ${CACHE.namespace}/${CACHE.name} `),
        );
      });
    } finally {
      await installRootOfTrust(c.admin, signer);
    }
  });

  it('applies a new root of trust without a restart: new key accepted, old key refused', async (t) => {
    const c = cluster(t);
    if (!c) return;
    const newKeyOnly = release(0x301);
    const oldKeyOnly = release(0x302);
    await reset(c);
    const rotated = await ReleaseSigner.create();
    try {
      assert.notEqual(rotated.key.fingerprint, signer.key.fingerprint);
      // Both stores hold both signatures, so only the trusted key decides.
      for (const dir of [signer.store.directory, rotated.store.directory]) {
        await writeSignature(dir, newKeyOnly.digest, await rotated.sign(newKeyOnly.digest));
        await writeSignature(dir, oldKeyOnly.digest, await signer.sign(oldKeyOnly.digest));
      }
      await scenario(async (s) => {
        const { service, logs } = await s.start('svc', c.cluster.kubeconfig);
        await requestUpdate(c, { image: newKeyOnly.image, version: '4.18.0', force: false });
        let cv = await waitFor(
          c.admin,
          (x) => (condition(x, 'ReleaseAccepted')?.message ?? '').includes(newKeyOnly.digest),
          'refusal under the old key',
        );
        assert.equal(condition(cv, 'ReleaseAccepted')?.status, 'False');

        await installRootOfTrust(c.admin, rotated);
        // No edit, no restart: the refused target's background re-check accepts it.
        cv = await waitFor(
          c.admin,
          (x) => x.status?.desired.image === newKeyOnly.image,
          'acceptance under the new key',
          30_000,
        );
        assert.equal(cv.status?.history?.[0]?.verified, true);
        assert.equal(condition(cv, 'ReleaseVerified')?.status, 'True');

        await requestUpdate(c, { image: oldKeyOnly.image, version: '4.18.1', force: false });
        cv = await waitFor(
          c.admin,
          (x) => (condition(x, 'ReleaseAccepted')?.message ?? '').includes(oldKeyOnly.digest),
          'refusal of the old-key release',
        );
        assert.equal(condition(cv, 'ReleaseAccepted')?.status, 'False');
        assert.equal(condition(cv, 'ReleaseVerified')?.status, 'False');
        assert.equal(cv.status?.desired.image, newKeyOnly.image);
        assert.equal(service.isLeader(), true);
        assert.equal(lines(logs, 'starting cvo-update-verifier').length, 1, 'never restarted');
      });
    } finally {
      await installRootOfTrust(c.admin, signer);
      await rotated.close();
    }
  });

  it('keeps processing edits after the API server restarts', async (t) => {
    const c = cluster(t);
    if (!c) return;
    const before = release(0x401);
    const afterRestart = release(0x402);
    await reset(c);
    await signer.publish(before.digest);
    await signer.publish(afterRestart.digest);
    await scenario(async (s) => {
      const { logs } = await s.start('svc', c.cluster.kubeconfig);
      await requestUpdate(c, { image: before.image, version: '4.17.10', force: false });
      await waitFor(c.admin, (x) => x.status?.desired.image === before.image, 'before restart');

      await c.cluster.restartApiserver();
      // Edit at once, likely before the service's watch is back.
      await requestUpdate(c, { image: afterRestart.image, version: '4.17.11', force: false });
      const cv = await waitFor(
        c.admin,
        (x) => x.status?.desired.image === afterRestart.image,
        'the edit made after the restart',
        30_000,
      );
      assert.deepEqual(
        cv.status?.history?.map((h) => [h.image, h.verified]),
        [
          [afterRestart.image, true],
          [before.image, true],
          [CURRENT.image, true],
        ],
      );
      assert.equal(condition(cv, 'ReleaseAccepted')?.status, 'True');
      assert.ok(
        lines(logs, 'ClusterVersion watch failed; restarting').length > 0,
        'the restart did break the watch',
      );
    });
  });

  it('retries status writes that conflict with another writer and loses neither side', async (t) => {
    const c = cluster(t);
    if (!c) return;
    const target = release(0x501);
    await reset(c);
    await signer.publish(target.digest);
    const slow = await startSlowStore(signer.store.directory, 1000);
    await setRootOfTrustStore(c.admin, slow.url);
    const written: string[] = [];
    let writing = true;
    try {
      await scenario(async (s) => {
        const { logs } = await s.start('svc', c.cluster.kubeconfig);
        // Another controller keeps updating status: each write re-reads and adds its own data.
        const writer = (async () => {
          const deadline = Date.now() + 30_000;
          for (let i = 0; writing && i < 400 && Date.now() < deadline; i++) {
            const cv = await c.admin.getClusterVersion('version');
            const status = cv.status;
            assert.ok(status);
            const version = `4.99.${String(i)}`;
            try {
              await c.admin.replaceClusterVersionStatus({
                ...cv,
                status: {
                  ...status,
                  availableUpdates: [
                    ...(status.availableUpdates ?? []),
                    { version, image: `${REPO}@${digestOf(0x5000 + i)}` },
                  ],
                  conditions: withCondition(status.conditions, {
                    type: 'Progressing',
                    status: 'False',
                    reason: 'OtherWriter',
                    message: `write ${version}`,
                    lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
                  }),
                },
              });
              written.push(version);
            } catch (err) {
              if (!(err instanceof KubeApiError && err.status === 409)) throw err;
            }
            await sleep(40);
          }
        })();
        try {
          await until(() => written.length >= 3, 'the other writer to be writing');
          await requestUpdate(c, { image: target.image, version: '4.17.12', force: false });
          await waitFor(
            c.admin,
            (x) => x.status?.desired.image === target.image,
            'acceptance under concurrent writes',
            30_000,
          );
        } finally {
          writing = false;
          await writer;
        }
        assert.ok(slow.requests() > 0, 'verification went through the slow store');
        const cv = await c.admin.getClusterVersion('version');
        assert.equal(condition(cv, 'ReleaseAccepted')?.status, 'True');
        assert.equal(cv.status?.history?.[0]?.image, target.image);
        assert.equal(cv.status?.history?.[0]?.verified, true);
        const kept = new Set((cv.status?.availableUpdates ?? []).map((u) => u.version));
        assert.deepEqual(
          written.filter((v) => !kept.has(v)),
          [],
          'every update the other writer stored is still there',
        );
        assert.equal(condition(cv, 'Progressing')?.message, `write ${written.at(-1) ?? ''}`);
        assert.ok(
          lines(logs, 'status write conflicted; retrying with a fresh object').length >= 1,
          'the service retried a conflicting write',
        );
        assert.equal(lines(logs, 'reconcile failed').length, 0);
      });
    } finally {
      writing = false;
      await installRootOfTrust(c.admin, signer);
      await slow.close();
    }
  });

  it('does not reconcile again for status writes or spec edits outside desiredUpdate', async (t) => {
    const c = cluster(t);
    if (!c) return;
    const refused = release(0x701);
    const sentinel = release(0x702);
    await reset(c);
    await scenario(async (s) => {
      // Re-checks far away: every reconcile of the refused target would be a logged re-verification.
      const { service, logs } = await s.start('svc', c.cluster.kubeconfig, {
        recheckBaseMs: 600_000,
        recheckMaxMs: 600_000,
      });
      await requestUpdate(c, { image: refused.image, version: '4.17.20', force: false });
      await waitFor(
        c.admin,
        (x) => (condition(x, 'ReleaseAccepted')?.message ?? '').includes(refused.digest),
        'refusal',
      );
      await service.controller.idle();
      const reconciled = (): number => lines(logs, 'reconciled ClusterVersion').length;
      const before = reconciled();
      assert.ok(before >= 1);

      for (let i = 0; i < 3; i++) {
        const cv = await c.admin.getClusterVersion('version');
        assert.ok(cv.status);
        await c.admin.replaceClusterVersionStatus({
          ...cv,
          status: {
            ...cv.status,
            availableUpdates: [
              { version: `4.17.${String(30 + i)}`, image: release(0x710 + i).image },
            ],
            conditions: withCondition(cv.status.conditions, {
              type: 'Progressing',
              status: 'False',
              reason: 'Admin',
              message: `admin write ${String(i)}`,
              lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
            }),
          },
        });
      }
      await c.kubectl([
        'patch',
        'clusterversion',
        'version',
        '--type=merge',
        '-p',
        '{"spec":{"channel":"fast-4.17"}}',
      ]);
      // Watch events arrive in order: once the sentinel edit is processed, the writes above were seen.
      await requestUpdate(c, { image: sentinel.image, version: '4.17.21', force: false });
      const cv = await waitFor(
        c.admin,
        (x) => (condition(x, 'ReleaseAccepted')?.message ?? '').includes(sentinel.digest),
        'the sentinel edit',
      );
      await service.controller.idle();
      assert.equal(reconciled(), before + 1, 'only the desiredUpdate edit was reconciled');
      assert.equal(condition(cv, 'Progressing')?.message, 'admin write 2');
    });
  });

  it('runs two replicas with one leader, and the standby takes over when the leader stops', async (t) => {
    const c = cluster(t);
    if (!c) return;
    const first = release(0x801);
    const second = release(0x802);
    await reset(c);
    await signer.publish(first.digest);
    await signer.publish(second.digest);
    const lease = 'test-leader';
    await scenario(async (s) => {
      const a = await s.start('a', c.cluster.kubeconfig, {
        leaderElection: leaderElection(lease, 'a'),
      });
      const b = await s.start('b', c.cluster.kubeconfig, {
        leaderElection: leaderElection(lease, 'b'),
      });
      await until(() => a.service.isLeader() || b.service.isLeader(), 'a leader');
      // Over a few renew intervals, never two leaders.
      for (let i = 0; i < 20; i++) {
        assert.notEqual(a.service.isLeader(), b.service.isLeader(), 'exactly one leader');
        await sleep(100);
      }
      const [leader, standby, leaderId, standbyId] = a.service.isLeader()
        ? [a, b, 'a', 'b']
        : [b, a, 'b', 'a'];
      const held = await c.admin.getLease(LEASE_NAMESPACE, lease);
      assert.equal(held?.spec?.holderIdentity, leaderId);
      const transitions = held?.spec?.leaseTransitions ?? 0;

      await requestUpdate(c, { image: first.image, version: '4.17.40', force: false });
      await waitFor(c.admin, (x) => x.status?.desired.image === first.image, 'the first edit');
      await eventually(
        () => lines(leader.logs, 'reconciled ClusterVersion').some((l) => l.image === first.image),
        'the leader reconciling the first edit',
      );
      assert.equal(
        lines(standby.logs, 'reconciled ClusterVersion').length,
        0,
        'the standby did nothing',
      );
      assert.equal(lines(standby.logs, 'became leader').length, 0);

      const stoppedAt = Date.now();
      await s.stop(leaderId);
      await until(() => standby.service.isLeader(), 'the standby to lead', 10_000);
      const takeoverMs = Date.now() - stoppedAt;
      assert.ok(takeoverMs < 5000, `takeover took ${String(takeoverMs)} ms`);
      const taken = await c.admin.getLease(LEASE_NAMESPACE, lease);
      assert.equal(taken?.spec?.holderIdentity, standbyId);
      assert.ok((taken?.spec?.leaseTransitions ?? 0) > transitions, 'a lease transition recorded');

      await requestUpdate(c, { image: second.image, version: '4.17.41', force: false });
      const cv = await waitFor(
        c.admin,
        (x) => x.status?.desired.image === second.image,
        'the second edit',
      );
      assert.equal(cv.status?.history?.[0]?.verified, true);
      await eventually(
        () =>
          lines(standby.logs, 'reconciled ClusterVersion').some((l) => l.image === second.image),
        'the new leader reconciling the second edit',
      );
      assert.equal(
        lines(leader.logs, 'reconciled ClusterVersion').filter((l) => l.image === second.image)
          .length,
        0,
      );
    });
  });

  it('a leader that loses its lease stops reconciling, and resumes when it leads again', async (t) => {
    const c = cluster(t);
    if (!c) return;
    const whileFollowing = release(0x811);
    await reset(c);
    await signer.publish(whileFollowing.digest);
    const lease = 'test-leader-lost';
    await scenario(async (s) => {
      const { service, logs } = await s.start('c', c.cluster.kubeconfig, {
        leaderElection: leaderElection(lease, 'c'),
      });
      await until(() => service.isLeader(), 'c to lead');

      // Another holder takes the lease (as a replica would after a network partition).
      await until(async () => {
        const current = await c.admin.getLease(LEASE_NAMESPACE, lease);
        assert.ok(current?.spec);
        const now = new Date().toISOString();
        try {
          await c.admin.replaceLease(LEASE_NAMESPACE, {
            ...current,
            spec: {
              ...current.spec,
              holderIdentity: 'intruder',
              leaseDurationSeconds: 3600,
              renewTime: now,
              acquireTime: now,
            },
          });
          return true;
        } catch (err) {
          if (err instanceof KubeApiError && err.status === 409) return false;
          throw err;
        }
      }, 'the lease to be taken');
      const stolenAt = Date.now();
      await until(() => !service.isLeader(), 'c to notice it lost the lease', 10_000);
      // At the latest once its own renewal is a lease duration old (3 s) and a tick (1 s) later.
      const noticedMs = Date.now() - stolenAt;
      assert.ok(noticedMs < 5000, `c led for ${String(noticedMs)} ms after losing the lease`);
      assert.equal(lines(logs, 'stopped leading').length, 1);

      await requestUpdate(c, { image: whileFollowing.image, version: '4.17.50', force: false });
      await sleep(1500);
      assert.notEqual(
        (await c.admin.getClusterVersion('version')).status?.desired.image,
        whileFollowing.image,
        'a replica that does not lead must not reconcile',
      );

      // The other holder goes away: c leads again and picks up the pending edit.
      const current = await c.admin.getLease(LEASE_NAMESPACE, lease);
      assert.ok(current?.spec);
      await c.admin.replaceLease(LEASE_NAMESPACE, {
        ...current,
        spec: { ...current.spec, holderIdentity: '', leaseDurationSeconds: 1 },
      });
      await until(() => service.isLeader(), 'c to lead again', 10_000);
      assert.equal(lines(logs, 'became leader').length, 2);
      await waitFor(
        c.admin,
        (x) => x.status?.desired.image === whileFollowing.image,
        'the edit made while c was not leading',
        10_000,
      );
    });
  });

  it('works with exactly the RBAC of manifests/, and cannot work without it', async (t) => {
    const c = cluster(t);
    if (!c) return;
    const signed = release(0x901);
    const unsigned = release(0x902);
    const denied = release(0x903);
    await reset(c);
    await signer.publish(signed.digest);
    await signer.publish(denied.digest);
    await c.kubectl([
      'apply',
      '--server-side',
      '--field-manager=resilience-test',
      '-f',
      join(repoRoot, 'manifests', '00-namespace.yaml'),
      '-f',
      join(repoRoot, 'manifests', '10-rbac.yaml'),
    ]);
    const token = (
      await c.kubectl([
        'create',
        'token',
        'cvo-update-verifier',
        '-n',
        LEASE_NAMESPACE,
        '--duration=1h',
      ])
    ).trim();
    const saKubeconfig = join(tmp, 'service-account.kubeconfig');
    await c.cluster.writeKubeconfig(saKubeconfig, token, 'cvo-update-verifier');
    const userKubeconfig = join(tmp, 'user.kubeconfig');
    await c.cluster.writeKubeconfig(userKubeconfig, c.cluster.userToken, 'cvo-test-user');
    // The service must create the cache ConfigMap itself, not only update it.
    await c.kubectl([
      'delete',
      'configmap',
      CACHE.name,
      '-n',
      CACHE.namespace,
      '--ignore-not-found',
    ]);

    await scenario(async (s) => {
      const { service, logs } = await s.start('sa', saKubeconfig, {
        leaderElection: leaderElection('rbac-leader', 'rbac'),
      });
      await until(() => service.isLeader(), 'the service account to take the lease', 10_000);
      assert.equal(
        (await c.admin.getLease(LEASE_NAMESPACE, 'rbac-leader'))?.spec?.holderIdentity,
        'rbac',
      );

      await requestUpdate(c, { image: signed.image, version: '4.17.60', force: false });
      let cv = await waitFor(
        c.admin,
        (x) => x.status?.desired.image === signed.image,
        'signed accepted',
      );
      assert.equal(cv.status?.history?.[0]?.verified, true);
      await until(
        async () =>
          (await c.admin.getConfigMap(CACHE.namespace, CACHE.name))?.binaryData?.[
            `${signed.digest.replace(':', '-')}-1`
          ] !== undefined,
        'the signature cache written by the service account',
      );

      await requestUpdate(c, { image: unsigned.image, version: '4.17.61', force: false });
      cv = await waitFor(
        c.admin,
        (x) => (condition(x, 'ReleaseAccepted')?.message ?? '').includes(unsigned.digest),
        'unsigned refused',
      );
      assert.equal(condition(cv, 'ReleaseAccepted')?.status, 'False');
      await until(
        async () =>
          (
            await events(c, 'RetrievePayloadFailed', (e) => e.message.includes(unsigned.digest))
          ).some((e) => e.message.includes(unsigned.digest)),
        'the refusal Event written by the service account',
      );
      const problems = parsed(logs).filter(
        (l) => l.level !== 'info' || /forbidden|403/i.test(JSON.stringify(l)),
      );
      assert.deepEqual(problems, [], 'no warnings or errors with the shipped RBAC');
      await s.stop('sa');
      assert.equal(
        (await c.admin.getLease(LEASE_NAMESPACE, 'rbac-leader'))?.spec?.holderIdentity,
        '',
        'the lease was released on stop',
      );

      // A user with no bindings: nothing is read or written.
      const user = await s.start('user', userKubeconfig);
      await requestUpdate(c, { image: denied.image, version: '4.17.62', force: false });
      await sleep(3000);
      cv = await c.admin.getClusterVersion('version');
      assert.ok(
        !(cv.status?.conditions ?? []).some((x) => (x.message ?? '').includes(denied.digest)),
        'no status written without permissions',
      );
      assert.equal(cv.status?.desired.image, signed.image);
      assert.equal(lines(user.logs, 'reconciled ClusterVersion').length, 0);
      assert.ok(
        parsed(user.logs).some(
          (l) =>
            l.level !== 'info' &&
            /forbidden/i.test(JSON.stringify(l)) &&
            /403/.test(JSON.stringify(l)),
        ),
        'the logs show 403 Forbidden',
      );
    });
  });
});

describe('the service keeps watching when the API server closes watches every few seconds', () => {
  let tc: TestCluster | undefined;
  let skip: string | undefined;
  let signer: ReleaseSigner;

  before(async () => {
    const started = await startTestCluster({ extraApiserverArgs: ['--min-request-timeout=3'] });
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

  it('processes an edit promptly after idling through many watch expiries', async (t) => {
    if (tc === undefined) {
      t.skip(skip ?? 'no cluster');
      return;
    }
    const c = tc;
    const warmup = release(0x601);
    const afterIdle = release(0x602);
    await signer.publish(warmup.digest);
    await signer.publish(afterIdle.digest);
    // A probe watch through the same KubePort code as the service's: `connect` fires each time
    // the server closes the watch, so it shows how long the watch stays down between expiries.
    const connects: number[] = [];
    const probe: Watcher = createKubePort(
      loadKubeConfig({ kubeconfig: c.cluster.kubeconfig }),
    ).watchClusterVersions({
      onChange: () => undefined,
      onConnect: () => {
        connects.push(Date.now());
      },
    });
    await probe.start();
    try {
      await scenario(async (s) => {
        const { logs } = await s.start('svc', c.cluster.kubeconfig);
        await requestUpdate(c, { image: warmup.image, version: '4.17.70', force: false });
        await waitFor(c.admin, (x) => x.status?.desired.image === warmup.image, 'warm-up edit');
        await s.idle('svc');
        // Long enough that a reconnect delay growing 1, 2, 4, 8, 16 s across quiet expiries
        // (the watch closes every 3-6 s here) shows as a gap between expiries.
        const idleFrom = Date.now();
        await sleep(42_000);
        const idleTo = Date.now();
        const seen = connects.filter((at) => at >= idleFrom);
        assert.ok(seen.length >= 4, `the server closed the watch ${String(seen.length)} times`);
        const gaps = [
          ...seen.slice(1).map((at, i) => at - (seen[i] ?? at)),
          idleTo - (seen.at(-1) ?? idleTo),
        ];
        // 3-6 s of watch plus at most ~1 s to reconnect.
        assert.ok(
          Math.max(...gaps) < 8500,
          `the watch stayed down too long between expiries: gaps ${JSON.stringify(gaps)} ms`,
        );

        const editedAt = Date.now();
        await requestUpdate(c, { image: afterIdle.image, version: '4.17.71', force: false });
        const cv: ClusterVersion = await waitFor(
          c.admin,
          (x) => x.status?.desired.image === afterIdle.image,
          'the edit after idling',
          30_000,
        );
        const latencyMs = Date.now() - editedAt;
        assert.equal(cv.status?.history?.[0]?.verified, true);
        assert.ok(latencyMs < 3000, `the edit took ${String(latencyMs)} ms to be processed`);
        assert.equal(lines(logs, 'reconcile failed').length, 0);
      });
    } finally {
      await probe.stop();
    }
  });
});
