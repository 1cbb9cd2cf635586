import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { CompanionConditionType } from '../../src/controller/companion.js';
import { parseVerdictRecord } from '../../src/controller/verdict-record.js';
import type { Service } from '../../src/main.js';
import { createTestKey } from '../helpers/cosign.js';
import { FakeCvo } from '../helpers/fake-cvo.js';
import { startTestCluster } from '../helpers/local-cluster.js';
import type { TestCluster } from '../helpers/local-cluster.js';
import { findRegistryBinary, TestRegistry } from '../helpers/registry.js';
import type { PushTarget } from '../helpers/registry.js';
import { pushSyntheticRelease } from '../helpers/release.js';
import type { ComponentKind, SyntheticRelease } from '../helpers/release.js';
import { makeTestPki } from '../helpers/tls.js';
import type { TestPki } from '../helpers/tls.js';
import {
  condition,
  installRootOfTrust,
  ReleaseSigner,
  runService,
  seed,
  waitFor,
} from './harness.js';

const binary = await findRegistryBinary();
const COMPONENT_REPO = 'ocp/art-dev';
const STATE = { namespace: 'cvo-update-verifier', name: 'cvo-update-verifier-state' };

describe(
  'companion mode: the webhook gates payload-failing desiredUpdate edits beside a running CVO',
  { skip: 'skip' in binary ? binary.skip : false },
  () => {
    let tc: TestCluster | undefined;
    let skip: string | undefined;
    let signer: ReleaseSigner;
    let registry: TestRegistry;
    let target: PushTarget;
    let pki: TestPki;
    let dir: string;
    let service: Service | undefined;
    let cvo: FakeCvo | undefined;
    const cosignKey = createTestKey('p256');
    let releases = 0;
    const logs: string[] = [];

    const release = async (
      kinds: Readonly<Record<string, ComponentKind>> = {},
    ): Promise<SyntheticRelease> => {
      releases++;
      const r = await pushSyntheticRelease({
        target,
        host: registry.host,
        key: cosignKey,
        components: 20,
        kinds,
        componentRepo: COMPONENT_REPO,
        releaseRepo: `rel/release${String(releases)}`,
        version: `4.17.${String(releases)}`,
      });
      await signer.publish(r.digest);
      return r;
    };

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
      assert.ok('path' in binary);
      const started = await startTestCluster();
      if ('skip' in started) {
        skip = started.skip;
        return;
      }
      tc = started;
      signer = await ReleaseSigner.create();
      registry = await TestRegistry.start(binary.path);
      target = { url: registry.url };
      pki = await makeTestPki();
      dir = await mkdtemp(join(tmpdir(), 'cvo-companion-payload-'));
      await writeFile(join(dir, 'tls.crt'), pki.serverCert);
      await writeFile(join(dir, 'tls.key'), pki.serverKey);
      await installRootOfTrust(tc.admin, signer);
      await seed(tc);
      await tc.kubectl(
        ['apply', '--server-side', '-f', '-'],
        JSON.stringify({
          apiVersion: 'config.openshift.io/v1',
          kind: 'ClusterImagePolicy',
          metadata: { name: 'openshift' },
          spec: {
            scopes: [`${registry.host}/${COMPONENT_REPO}`],
            policy: {
              rootOfTrust: {
                policyType: 'PublicKey',
                publicKey: { keyData: Buffer.from(cosignKey.publicKeyPem).toString('base64') },
              },
            },
          },
        }),
      );
      // The CVO verifies the release signatures (all signed here); it knows nothing of payloads.
      cvo = new FakeCvo(tc.admin, { intervalMs: 200, verifies: () => true });
      await cvo.start();
      service = await runService(
        tc.cluster.kubeconfig,
        {
          mode: 'companion',
          payloadVerification: 'enforce',
          releaseMetadata: 'enforce',
          http: {
            bindAddress: '127.0.0.1',
            healthPort: 0,
            webhookPort: 0,
            tls: { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') },
            verifyApi: false,
            webhookVerifyMode: 'enforce',
            webhookBudgetMs: 8000,
          },
        },
        logs,
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
      await registry?.stop();
      await signer?.close();
      await pki?.cleanup();
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
      await tc?.stop();
    });

    it('denies an edit whose etcd image is unsigned, naming it; forced, allows it with the payload risk as a warning and records it', async (t) => {
      if (tc === undefined) return t.skip(skip ?? 'no cluster');
      const r = await release({ etcd: 'unsigned' });
      const denied = await kubectlPatch(tc, { image: r.pullspec, version: '', force: false });
      assert.equal(denied.ok, false);
      assert.match(
        denied.stderr,
        /denied the request: Payload verification failed version="" image=".*": 1 of 20 component images of 4\.17\.\d+ would fail signature verification when nodes pull them: etcd \(unsigned\); set force to accept the risk/,
      );
      assert.equal((await tc.admin.getClusterVersion('version')).spec.desiredUpdate, undefined);

      const forced = await kubectlPatch(tc, { image: r.pullspec, version: '', force: true });
      assert.equal(forced.ok, true, forced.stderr);
      assert.match(
        forced.stderr,
        /Warning: Payload verification failed for version="" image=".*", but continuing anyway because the update was forced: .*etcd \(unsigned\)/,
      );
      const cv = await waitFor(
        tc.admin,
        (x) =>
          x.status?.history?.[0]?.image === r.pullspec &&
          condition(x, CompanionConditionType.PayloadVerified)?.status === 'False',
        'UpdateVerifierPayloadVerified=False for the forced release',
      );
      assert.equal(
        condition(cv, CompanionConditionType.PayloadVerified)?.reason,
        'PayloadVerificationFailed',
      );
      assert.equal(condition(cv, CompanionConditionType.ReleaseVerified)?.status, 'True');
      const record = parseVerdictRecord(
        await tc.admin.getConfigMap(STATE.namespace, STATE.name),
      )?.verdicts;
      const entry = record?.find((v) => v.image === r.pullspec);
      assert.equal(entry?.verified, true, 'its release signature verified');
      assert.equal(entry?.forced, true);
      assert.equal(entry?.payload?.verified, false);
      assert.match(entry?.acceptedRisk ?? '', /Payload verification failed .*etcd \(unsigned\)/);
    });

    it('allows an edit whose payload verifies; the companion records it', async (t) => {
      if (tc === undefined) return t.skip(skip ?? 'no cluster');
      const r = await release();
      const allowed = await kubectlPatch(tc, { image: r.pullspec, version: '', force: false });
      assert.equal(allowed.ok, true, allowed.stderr);
      const cv = await waitFor(
        tc.admin,
        (x) =>
          x.status?.history?.[0]?.image === r.pullspec &&
          condition(x, CompanionConditionType.PayloadVerified)?.status === 'True',
        'UpdateVerifierPayloadVerified=True',
      );
      assert.equal(condition(cv, CompanionConditionType.ReleaseVerified)?.status, 'True');
    });
  },
);
