import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { runCli } from '../../src/cli/main.js';
import { CompanionConditionType } from '../../src/controller/companion.js';
import type { CompanionController } from '../../src/controller/companion.js';
import { parseVerdictRecord } from '../../src/controller/verdict-record.js';
import type { RecordedVerdict } from '../../src/controller/verdict-record.js';
import { createKubePort, loadKubeConfig } from '../../src/kube/client.js';
import type { KubePort, Watcher } from '../../src/kube/client.js';
import type { ClusterVersion, ClusterVersionStatus } from '../../src/kube/types.js';
import { startService } from '../../src/main.js';
import type { Service } from '../../src/main.js';
import { createJsonLogger } from '../../src/observability/logger.js';
import { FakeCvo } from '../helpers/fake-cvo.js';
import { repoRoot } from '../helpers/fixtures.js';
import { startTestCluster } from '../helpers/local-cluster.js';
import type { TestCluster } from '../helpers/local-cluster.js';
import { makeTestPki } from '../helpers/tls.js';
import type { TestPki } from '../helpers/tls.js';
import {
  condition,
  CURRENT,
  digestOf,
  eventually,
  events,
  installRootOfTrust,
  REPO,
  ReleaseSigner,
  seed,
  serviceConfig,
  waitFor,
} from './harness.js';

const STATE = { namespace: 'cvo-update-verifier', name: 'cvo-update-verifier-state' };
/** The simulated CVO's status cadence: far more often than the CVO's 15 s, to provoke races. */
const CVO_INTERVAL_MS = 150;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** One status PUT the companion made: what it sent on top of which resourceVersion. */
interface CompanionWrite {
  readonly basedOn: string;
  readonly sent: ClusterVersionStatus | undefined;
  readonly result: string;
}

describe('companion mode beside a running CVO (simulated status writer) on a real control plane', () => {
  let tc: TestCluster | undefined;
  let skip: string | undefined;
  let signer: ReleaseSigner;
  let pki: TestPki;
  let dir: string;
  let service: Service | undefined;
  let cvo: FakeCvo | undefined;
  let auditor: Watcher | undefined;
  let env: Record<string, string>;
  const logs: string[] = [];
  const signed = `${REPO}@${digestOf(1)}`;
  const unsigned = `${REPO}@${digestOf(2)}`;
  /** Every ClusterVersion the API server held, by resourceVersion (from a watch). */
  const seen = new Map<string, ClusterVersion>();
  const companionWrites: CompanionWrite[] = [];

  const cli = async (args: string[]): Promise<Run> => {
    let stdout = '';
    let stderr = '';
    const code = await runCli(args, {
      stdout: (t) => (stdout += t),
      stderr: (t) => (stderr += t),
      env,
      cwd: repoRoot,
    });
    return { code, stdout, stderr };
  };

  /** Runs a command until its output satisfies `done` (10 s), returning the last run. */
  const cliUntil = async (args: string[], done: (stdout: string) => boolean): Promise<Run> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const run = await cli(args);
      if (done(run.stdout) || Date.now() > deadline) return run;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  const record = async (c: TestCluster): Promise<readonly RecordedVerdict[]> =>
    parseVerdictRecord(await c.admin.getConfigMap(STATE.namespace, STATE.name))?.verdicts ?? [];

  const companion = (): CompanionController => service?.controller as CompanionController;

  /** kubectl patch of spec.desiredUpdate, with stderr (admission warnings) and exit status. */
  const kubectlPatch = (
    c: TestCluster,
    update: Record<string, unknown>,
  ): Promise<{ ok: boolean; stderr: string }> =>
    new Promise((resolve) => {
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
          JSON.stringify({ spec: { desiredUpdate: update } }),
        ],
        (err, _out, stderr) => {
          resolve({ ok: err === null, stderr });
        },
      );
    });

  before(async () => {
    const started = await startTestCluster();
    if ('skip' in started) {
      skip = started.skip;
      return;
    }
    tc = started;
    env = { KUBECONFIG: tc.cluster.kubeconfig, HOME: tmpdir() };
    signer = await ReleaseSigner.create();
    pki = await makeTestPki();
    dir = await mkdtemp(join(tmpdir(), 'cvo-companion-'));
    await writeFile(join(dir, 'tls.crt'), pki.serverCert);
    await writeFile(join(dir, 'tls.key'), pki.serverKey);
    await installRootOfTrust(tc.admin, signer);
    await signer.publish(digestOf(1));
    await seed(tc, [
      { version: '4.17.0', image: signed },
      { version: '4.17.1', image: unsigned },
    ]);
    auditor = tc.admin.watchClusterVersions({
      onChange: (cv) => {
        seen.set(cv.metadata.resourceVersion ?? '', structuredClone(cv));
      },
      onDelete: () => undefined,
      onError: () => undefined,
    });
    await auditor.start();
    // The CVO's own verdict: it verifies what is signed when the update starts, never again.
    const cvoVerified = new Set([signed]);
    cvo = new FakeCvo(tc.admin, {
      intervalMs: CVO_INTERVAL_MS,
      verifies: (image) => cvoVerified.has(image),
    });
    await cvo.start();

    // The service's own client, recording every status PUT it makes.
    const real = createKubePort(loadKubeConfig({ kubeconfig: tc.cluster.kubeconfig }));
    const kube = new Proxy(real, {
      get(target, prop, receiver) {
        if (prop === 'replaceClusterVersionStatus')
          return async (cv: ClusterVersion): Promise<ClusterVersion> => {
            const written = await target.replaceClusterVersionStatus(cv);
            companionWrites.push({
              basedOn: cv.metadata.resourceVersion ?? '',
              sent: structuredClone(cv.status),
              result: written.metadata.resourceVersion ?? '',
            });
            return written;
          };
        const value: unknown = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
      },
    }) satisfies KubePort;
    service = await startService(
      serviceConfig(tc.cluster.kubeconfig, {
        mode: 'companion',
        http: {
          bindAddress: '127.0.0.1',
          healthPort: 0,
          webhookPort: 0,
          tls: { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') },
          verifyApi: false,
          webhookVerifyMode: 'enforce',
          webhookBudgetMs: 5000,
        },
      }),
      createJsonLogger((line) => logs.push(line)),
      kube,
    );
    await tc.kubectl(
      ['apply', '--server-side', '--force-conflicts', '-f', '-'],
      JSON.stringify({
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'ValidatingWebhookConfiguration',
        metadata: { name: 'cvo-update-verifier' },
        webhooks: [
          {
            name: 'clusterversions.cvo-update-verifier.openshift.io',
            clientConfig: {
              url: `https://127.0.0.1:${String(service.ports.webhook)}/validate-clusterversion`,
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
      }),
    );
  });

  after(async () => {
    if (process.env.E2E_LOGS === '1') process.stderr.write(logs.join(''));
    await service?.stop();
    await cvo?.stop();
    await auditor?.stop();
    await signer?.close();
    await pki?.cleanup();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    await tc?.stop();
  });

  const cluster = (t: { skip: (m: string) => void }): TestCluster | undefined => {
    if (tc === undefined) t.skip(skip ?? 'no cluster');
    return tc;
  };

  it('denies an unverifiable desiredUpdate edit at admission: `upgrade --to` fails and the CVO never sees it', async (t) => {
    const c = cluster(t);
    if (!c) return;
    const run = await cli(['upgrade', '--to', '4.17.1']);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(
      run.stderr,
      new RegExp(
        `The update cannot be verified: unable to verify ${digestOf(2)} against keyrings: verifier-public-key-e2e`,
      ),
    );
    const denied = await kubectlPatch(c, { image: unsigned, version: '', force: false });
    assert.equal(denied.ok, false);
    const cv = await c.admin.getClusterVersion('version');
    assert.equal(cv.spec.desiredUpdate, undefined, 'the edit must not be stored');
    assert.equal(cv.status?.history?.length, 1);
  });

  it('allows a signed update; the CVO accepts it and the companion records it verified in its record and condition', async (t) => {
    const c = cluster(t);
    if (!c) return;
    const run = await cli(['upgrade', '--to', '4.17.0']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const cv = await waitFor(
      c.admin,
      (x) =>
        x.status?.history?.[0]?.image === signed &&
        condition(x, CompanionConditionType.ReleaseVerified)?.status === 'True',
      'the CVO history entry and UpdateVerifierReleaseVerified=True',
    );
    assert.equal(condition(cv, CompanionConditionType.ReleaseVerified)?.reason, 'Verified');
    assert.match(
      condition(cv, CompanionConditionType.ReleaseVerified)?.message ?? '',
      new RegExp(`^${signed.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `),
    );
    // The CVO's own conditions are there too, untouched.
    assert.equal(condition(cv, 'ReleaseAccepted')?.reason, 'PayloadLoaded');
    const entry = (await record(c)).find((v) => v.image === signed);
    assert.equal(entry?.verified, true);
    assert.equal(entry?.forced, false);
    assert.equal(entry?.version, '4.17.0');

    const history = await cli(['history']);
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout, new RegExp(`Partial +\\S+ +- +4\\.17\\.0 +true +${signed}`));
    assert.match(history.stdout, /Completed .* 4\.16\.0 +true \(CVO\)/);
    // Our condition may be missing for a moment (the CVO's conflict retry dropped it and the
    // companion is writing it again): status shows it once repaired.
    const status = await cliUntil(['status'], (out) =>
      /UpdateVerifierReleaseVerified=True \(Verified\)/.test(out),
    );
    assert.equal(status.code, 0, status.stderr);
    assert.match(
      status.stdout,
      new RegExp(
        `Recorded verdict \\(companion mode\\) for ${signed.replace('.', '\\.')}: VERIFIED`,
      ),
    );
  });

  it('`upgrade --force` of an unverifiable release is allowed with the accepted risk as a warning and recorded verified: false with that risk', async (t) => {
    const c = cluster(t);
    if (!c) return;
    const run = await cli(['upgrade', '--to', '4.17.1', '--force']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const cv = await waitFor(
      c.admin,
      (x) =>
        x.status?.history?.[0]?.image === unsigned &&
        condition(x, CompanionConditionType.ReleaseVerified)?.status === 'False',
      'the forced entry and UpdateVerifierReleaseVerified=False',
    );
    assert.equal(condition(cv, CompanionConditionType.ReleaseVerified)?.reason, 'NotSigned');
    const risk = `Target release version="4.17.1" image="${unsigned}" cannot be verified, but continuing anyway because the update was forced: unable to verify ${digestOf(2)} against keyrings: verifier-public-key-e2e`;
    const entry = (await record(c)).find((v) => v.image === unsigned);
    assert.equal(entry?.verified, false);
    assert.equal(entry?.forced, true);
    assert.equal(entry?.acceptedRisk, risk);
    // The webhook allowed it with the warning, and the CLI printed the API server's warning as
    // kubectl and oc do; the webhook's log line says the same.
    assert.ok(
      run.stderr.includes(
        `Warning: Target release version="4.17.1" image="${unsigned}" cannot be verified, but continuing anyway because the update was forced`,
      ),
      run.stderr,
    );
    await eventually(
      () => logs.some((l) => l.includes('"reason":"forced"') && l.includes('"allowed":true')),
      'the webhook allowing the forced edit with a warning',
    );
    const history = await cli(['history']);
    assert.match(history.stdout, new RegExp(`4\\.17\\.1 +false +${unsigned}`));
    assert.ok(history.stdout.includes(`    accepted risk: ${risk}`), history.stdout);
    assert.ok(
      history.stdout.includes('accepted risk (CVO): Target release version="4.17.1"'),
      history.stdout,
    );
    const warned = await events(c, 'ReleaseForcedUnverified');
    assert.ok(warned.some((e) => e.message.includes(risk)));
  });

  it('a kubectl edit forcing an unverifiable image gets the accepted risk as an admission warning', async (t) => {
    const c = cluster(t);
    if (!c) return;
    const other = `${REPO}@${digestOf(5)}`;
    const forced = await kubectlPatch(c, { image: other, version: '', force: true });
    assert.equal(forced.ok, true, forced.stderr);
    assert.match(
      forced.stderr,
      new RegExp(
        `Warning: Target release version="" image="${other.replace('.', '\\.')}" cannot be verified, but continuing anyway because the update was forced: unable to verify ${digestOf(5)}`,
      ),
    );
    await eventually(
      async () => (await record(c)).some((v) => v.image === other && v.forced && !v.verified),
      'the forced image recorded',
    );
    // Back to the forced 4.17.1 for the re-check below.
    const back = await cli(['upgrade', '--to', '4.17.1', '--force']);
    assert.equal(back.code, 0, back.stderr);
  });

  it('the background re-check flips the record and the condition when a valid signature appears; history shows ours beside the CVO’s', async (t) => {
    const c = cluster(t);
    if (!c) return;
    await signer.publish(digestOf(2));
    const cv = await waitFor(
      c.admin,
      (x) =>
        x.status?.history?.[0]?.image === unsigned &&
        condition(x, CompanionConditionType.ReleaseVerified)?.status === 'True',
      'UpdateVerifierReleaseVerified=True after the re-check',
      30_000,
    );
    assert.equal(cv.status?.history?.[0]?.verified, false, 'the CVO never re-checks its flag');
    const entry = (await record(c)).find((v) => v.image === unsigned);
    assert.equal(entry?.verified, true);
    assert.ok(entry?.verifiedAt !== undefined);
    assert.ok(entry.acceptedRisk !== undefined, 'the risk accepted at the time stays on record');
    const history = await cli(['history']);
    assert.match(history.stdout, new RegExp(`4\\.17\\.1 +true \\(CVO: false\\) +${unsigned}`));
    assert.match(history.stdout, /verified by a background re-check at /);
    const status = await cli(['status']);
    assert.match(
      status.stdout,
      /: VERIFIED, update forced, checked .*the CVO's history says verified: false/,
    );
    const json = JSON.parse((await cli(['history', '-o', 'json'])).stdout) as {
      image: string;
      verified: boolean;
      verifier?: RecordedVerdict;
    }[];
    assert.equal(json[0]?.verified, false);
    assert.equal(json[0]?.verifier?.verified, true);
    assert.ok(
      (await events(c, 'ReleaseVerified', (e) => e.message.includes('is now verified'))).length > 0,
    );
  });

  it('wrote nothing the CVO owns, fought no write war, and lost no history', async (t) => {
    const c = cluster(t);
    if (!c || cvo === undefined) return;
    // Let the CVO run on for a while with the companion idle: its conditions must stay.
    await new Promise((resolve) => setTimeout(resolve, 20 * CVO_INTERVAL_MS));
    const final = await waitFor(
      c.admin,
      (x) => condition(x, CompanionConditionType.ReleaseVerified)?.status === 'True',
      'our condition, repaired if the CVO dropped it',
    );

    // Every PUT the companion made changed only its own condition types.
    assert.ok(companionWrites.length > 0);
    for (const write of companionWrites) {
      const before = seen.get(write.basedOn);
      assert.ok(before !== undefined, `the object at resourceVersion ${write.basedOn} was watched`);
      const strip = (s: ClusterVersionStatus | undefined): unknown => ({
        ...s,
        conditions: (s?.conditions ?? []).filter((x) => !x.type.startsWith('UpdateVerifier')),
      });
      assert.deepEqual(strip(write.sent), strip(before.status), 'only UpdateVerifier* changed');
    }

    // No lost history: the object's history is the CVO's last written one, and every release it
    // ever recorded is still there, in order.
    const lastWritten = cvo.written.at(-1);
    assert.deepEqual(final.status?.history, lastWritten?.history);
    assert.deepEqual(
      final.status?.history?.map((h) => h.image),
      [unsigned, `${REPO}@${digestOf(5)}`, unsigned, signed, CURRENT.image],
    );

    // Bounded fights: we answered each drop with at most one repair.
    const stats = companion().stats;
    process.stderr.write(
      `companion writes ${String(stats.writes)}, conflicts ${String(stats.conflicts)}, repairs ${String(stats.repairs)}; CVO writes ${String(cvo.writes)}, conflicts ${String(cvo.conflicts)}, failures ${String(cvo.failures)}\n`,
    );
    if (process.env.E2E_DEBUG === '1') {
      for (const [rv, obj] of [...seen].sort((a, b) => Number(a[0]) - Number(b[0])))
        process.stderr.write(
          `${rv} ${JSON.stringify(obj.status?.conditions?.map((x) => [x.type, x.status]))}\n`,
        );
      process.stderr.write(logs.filter((l) => l.includes('dropped')).join(''));
      process.stderr.write(
        JSON.stringify(companionWrites.map((w) => [w.basedOn, w.result])) + '\n',
      );
    }
    // A CVO sync whose overwriting retry met one more 409 returns the error and is requeued,
    // as the CVO's work queue does: bounded by our writes too.
    assert.ok(cvo.failures <= companionWrites.length, 'CVO syncs that failed are bounded');
    // A CVO write conflicts when someone wrote since its informer copy: our status writes or the
    // four accepted desiredUpdate edits of this file (the admin's, not a fight).
    const edits = 4;
    assert.ok(
      cvo.conflicts <= companionWrites.length + edits,
      'every CVO conflict follows one of our writes or an edit',
    );
    assert.ok(stats.conflicts <= stats.writes, 'our 409s are retried, never storms');
    assert.ok(stats.repairs <= cvo.conflicts + 1, 'one repair per drop at most');
    assert.ok(
      companionWrites.length <= 40,
      `companion writes bounded: ${String(companionWrites.length)}`,
    );
  });
});
