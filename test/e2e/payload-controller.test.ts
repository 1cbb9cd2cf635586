import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { runCli } from '../../src/cli/main.js';
import type { Service } from '../../src/main.js';
import type { ServiceConfig } from '../../src/config/service-config.js';
import {
  createTestKey,
  makeCosignPayload,
  makeSignatureLayer,
  pushCosignSignatures,
} from '../helpers/cosign.js';
import { startTestCluster } from '../helpers/local-cluster.js';
import type { TestCluster } from '../helpers/local-cluster.js';
import { findRegistryBinary, pushBlob, pushManifest, TestRegistry } from '../helpers/registry.js';
import type { PushTarget } from '../helpers/registry.js';
import { pushSyntheticRelease } from '../helpers/release.js';
import type { ComponentKind, SyntheticRelease } from '../helpers/release.js';
import {
  condition,
  eventually,
  events,
  installRootOfTrust,
  ReleaseSigner,
  requestUpdate,
  runService,
  seed,
  waitFor,
} from './harness.js';

const binary = await findRegistryBinary();
const COMPONENT_REPO = 'ocp/art-dev';

describe(
  'the service verifies the whole release payload before accepting an update',
  { skip: 'skip' in binary ? binary.skip : false },
  () => {
    let tc: TestCluster | undefined;
    let skip: string | undefined;
    let signer: ReleaseSigner;
    let registry: TestRegistry;
    let target: PushTarget;
    let service: Service | undefined;
    const cosignKey = createTestKey('p256');
    let releases = 0;

    /** A GPG-signed release of 40 components; the release repository is outside every scope. */
    const release = async (
      kinds: Readonly<Record<string, ComponentKind>> = {},
    ): Promise<SyntheticRelease> => {
      releases++;
      const r = await pushSyntheticRelease({
        target,
        host: registry.host,
        key: cosignKey,
        components: 40,
        kinds,
        componentRepo: COMPONENT_REPO,
        releaseRepo: `rel/release${releases}`,
        version: `4.17.${releases}`,
      });
      await signer.publish(r.digest);
      return r;
    };

    const restart = async (overrides: Partial<ServiceConfig>): Promise<Service> => {
      await service?.stop();
      if (tc === undefined) throw new Error('no cluster');
      // Real releases in a registry: the default, enforce, unless a test says otherwise.
      service = await runService(tc.cluster.kubeconfig, {
        releaseMetadata: 'enforce',
        ...overrides,
      });
      return service;
    };

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
      await installRootOfTrust(tc.admin, signer);
      await seed(tc);
      // Like the default `openshift` policy over ocp-v4.0-art-dev: the components' repository.
      const policy = {
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
      };
      await tc.kubectl(['apply', '--server-side', '-f', '-'], JSON.stringify(policy));
    });

    after(async () => {
      await service?.stop();
      await registry.stop();
      await signer.close();
      await tc?.stop();
    });

    it('enforce: refuses an update whose etcd image is unsigned, naming it, until forced', async (t) => {
      if (tc === undefined) return t.skip(skip ?? 'no cluster');
      const s = await restart({ payloadVerification: 'enforce' });
      const r = await release({ etcd: 'unsigned' });
      await requestUpdate(tc, { image: r.pullspec, version: '', force: false });
      const refused = await waitFor(
        tc.admin,
        (x) => condition(x, 'ReleaseAccepted')?.reason === 'PayloadVerificationFailed',
        'a payload refusal',
      );
      const accepted = condition(refused, 'ReleaseAccepted');
      assert.equal(accepted?.status, 'False');
      assert.match(
        accepted?.message ?? '',
        /Payload verification failed .*: 1 of 40 component images of 4\.17\.\d+ would fail signature verification when nodes pull them: etcd \(unsigned\)/,
      );
      assert.equal(condition(refused, 'ReleaseVerified')?.status, 'True');
      assert.equal(condition(refused, 'PayloadVerified')?.status, 'False');
      assert.notEqual(refused.status?.desired.image, r.pullspec);
      const warnings = await events(tc, 'PayloadVerificationFailed', (e) =>
        e.message.includes(r.pullspec),
      );
      assert.ok(
        warnings.some((e) => e.type === 'Warning' && e.message.includes('etcd (unsigned)')),
      );
      // `cvo-verifier status` shows the payload verdict and the failing component.
      let status = '';
      await eventually(async () => {
        let out = '';
        await runCli(['status', '--kubeconfig', tc?.cluster.kubeconfig ?? ''], {
          stdout: (text) => (out += text),
          stderr: () => undefined,
          env: {},
          cwd: process.cwd(),
        });
        status = out;
        return out.includes('Payload (enforce): NOT verified');
      }, 'the payload verdict in cvo-verifier status');
      assert.match(status, /PayloadVerified=False \(PayloadVerificationFailed\)/);
      assert.match(status, /UNSIGNED {2}etcd {2}\S+\/ocp\/art-dev@sha256:[0-9a-f]{64}/);
      const metrics = await s.metrics.registry.metrics();
      assert.match(metrics, /cvo_verifier_payload_components\{status="unsigned"\} 1/);
      assert.match(metrics, /cvo_verifier_payload_verifications_total\{result="failed"\} [1-9]/);

      await requestUpdate(tc, { image: r.pullspec, version: '', force: true });
      const forced = await waitFor(
        tc.admin,
        (x) => x.status?.desired.image === r.pullspec,
        'the forced update',
      );
      const head = forced.status?.history?.[0];
      assert.equal(head?.image, r.pullspec);
      assert.equal(head.verified, true, 'the release itself is signed');
      assert.match(head.acceptedRisks ?? '', /Payload verification failed .*etcd \(unsigned\)/);
    });

    it('enforce: accepts a refused update once the missing signature appears (background re-check)', async (t) => {
      if (tc === undefined) return t.skip(skip ?? 'no cluster');
      await restart({ payloadVerification: 'enforce' });
      const r = await release({ etcd: 'unsigned' });
      await requestUpdate(tc, { image: r.pullspec, version: '', force: false });
      await waitFor(
        tc.admin,
        (x) =>
          condition(x, 'ReleaseAccepted')?.reason === 'PayloadVerificationFailed' &&
          (condition(x, 'ReleaseAccepted')?.message ?? '').includes(r.pullspec),
        'a payload refusal',
      );
      const etcd = r.components.find((c) => c.tag === 'etcd');
      assert.ok(etcd !== undefined);
      await pushCosignSignatures(target, COMPONENT_REPO, etcd, [
        makeSignatureLayer(cosignKey, makeCosignPayload(etcd.pullspec, etcd.digest)),
      ]);
      const cv = await waitFor(
        tc.admin,
        (x) => x.status?.desired.image === r.pullspec,
        'acceptance after the signature appeared',
      );
      assert.equal(condition(cv, 'PayloadVerified')?.status, 'True');
      assert.equal(cv.status?.history?.[0]?.acceptedRisks, undefined);
    });

    it('warn (the default): accepts the update with a Warning Event and the condition text', async (t) => {
      if (tc === undefined) return t.skip(skip ?? 'no cluster');
      await restart({});
      const r = await release({ cli: 'wrong-key' });
      await requestUpdate(tc, { image: r.pullspec, version: '', force: false });
      const cv = await waitFor(
        tc.admin,
        (x) => x.status?.desired.image === r.pullspec,
        'acceptance in warn mode',
      );
      const payload = condition(cv, 'PayloadVerified');
      assert.equal(payload?.status, 'False');
      assert.equal(payload.reason, 'PayloadVerificationFailed');
      assert.match(payload.message ?? '', /cli \(invalid\).*warn mode/);
      assert.equal(cv.status?.history?.[0]?.acceptedRisks, undefined);
      const warnings = await events(tc, 'PayloadVerificationFailed', (e) =>
        e.message.includes(r.pullspec),
      );
      assert.ok(warnings.some((e) => e.message.includes('warn mode')));
    });

    it("reads a mirror-only component from the mirror the cluster's ImageDigestMirrorSet names", async (t) => {
      if (tc === undefined) return t.skip(skip ?? 'no cluster');
      await restart({ payloadVerification: 'enforce' });
      const r = await release({ installer: 'mirror-only' });
      const idms = {
        apiVersion: 'config.openshift.io/v1',
        kind: 'ImageDigestMirrorSet',
        metadata: { name: 'release-mirror' },
        spec: {
          imageDigestMirrors: [
            {
              source: `${registry.host}/${COMPONENT_REPO}`,
              mirrors: [`${registry.host}/${r.mirrorRepo}`],
            },
          ],
        },
      };
      await tc.kubectl(['apply', '--server-side', '-f', '-'], JSON.stringify(idms));
      try {
        await requestUpdate(tc, { image: r.pullspec, version: '', force: false });
        const cv = await waitFor(
          tc.admin,
          (x) => x.status?.desired.image === r.pullspec,
          'acceptance with the component read from its mirror',
        );
        assert.equal(condition(cv, 'PayloadVerified')?.status, 'True');
      } finally {
        await tc.kubectl(['delete', 'imagedigestmirrorset', 'release-mirror']);
      }
    });

    it('a fully signed payload verifies and is reported as such', async (t) => {
      if (tc === undefined) return t.skip(skip ?? 'no cluster');
      await restart({ payloadVerification: 'enforce' });
      const r = await release();
      await requestUpdate(tc, { image: r.pullspec, version: '', force: false });
      const cv = await waitFor(
        tc.admin,
        (x) => x.status?.desired.image === r.pullspec,
        'acceptance of a signed payload',
      );
      assert.match(
        condition(cv, 'PayloadVerified')?.message ?? '',
        /all 40 component images of 4\.17\.\d+ covered by ClusterImagePolicies have valid signatures/,
      );
    });
    it('takes the payload version for an image-only request, and refuses a version the payload contradicts, even forced', async (t) => {
      if (tc === undefined) return t.skip(skip ?? 'no cluster');
      await restart({ payloadVerification: 'warn' });
      const r = await release();
      const version = `4.17.${releases}`;
      await requestUpdate(tc, { image: r.pullspec, version: '4.99.0', force: true });
      const spoofed = await waitFor(
        tc.admin,
        (x) => condition(x, 'ReleaseAccepted')?.reason === 'VerifyPayloadVersion',
        'refusal of the spoofed version',
      );
      assert.equal(
        condition(spoofed, 'ReleaseAccepted')?.message,
        `Verifying payload failed version="4.99.0" image="${r.pullspec}" failure=release image version ${version} does not match the expected upstream version 4.99.0`,
      );
      assert.notEqual(spoofed.status?.desired.image, r.pullspec);
      await requestUpdate(tc, { image: r.pullspec, version: '', force: false });
      const cv = await waitFor(
        tc.admin,
        (x) => x.status?.desired.image === r.pullspec,
        'acceptance of the image-only request',
      );
      assert.equal(cv.status?.desired.version, version);
      assert.equal(cv.status?.history?.[0]?.version, version);
    });
    it('payload verification off: still reads the release metadata, as the CVO loads every update (version, url, the spoofed-version refusal)', async (t) => {
      if (tc === undefined) return t.skip(skip ?? 'no cluster');
      await restart({ payloadVerification: 'off' });
      const r = await release();
      const version = `4.17.${releases}`;
      await requestUpdate(tc, { image: r.pullspec, version: '4.99.0', force: false });
      const spoofed = await waitFor(
        tc.admin,
        (x) =>
          condition(x, 'ReleaseAccepted')?.reason === 'VerifyPayloadVersion' &&
          (condition(x, 'ReleaseAccepted')?.message ?? '').includes(r.pullspec),
        'refusal of the spoofed version',
      );
      assert.equal(
        condition(spoofed, 'ReleaseAccepted')?.message,
        `Verifying payload failed version="4.99.0" image="${r.pullspec}" failure=release image version ${version} does not match the expected upstream version 4.99.0`,
      );
      assert.equal(
        condition(spoofed, 'PayloadVerified'),
        undefined,
        "no payload check ran: the previous target's PayloadVerified is gone",
      );
      await requestUpdate(tc, { image: r.pullspec, version: '', force: false });
      const cv = await waitFor(
        tc.admin,
        (x) => x.status?.desired.image === r.pullspec,
        'acceptance of the image-only request',
      );
      assert.deepEqual(cv.status?.desired, {
        version,
        image: r.pullspec,
        url: 'https://access.redhat.com/errata/RHSA-2024:0000',
      });
      assert.equal(cv.status?.history?.[0]?.version, version);
      // `cvo-verifier history` shows the version of this by-image update, not "-".
      let history = '';
      await runCli(['history', '--kubeconfig', tc.cluster.kubeconfig], {
        stdout: (text) => (history += text),
        stderr: (text) => (history += text),
        env: {},
        cwd: process.cwd(),
      });
      const row = history.split('\n').find((line) => line.includes(r.pullspec)) ?? '';
      assert.match(row, new RegExp(`\\s${version.replaceAll('.', '\\.')}\\s`), history);

      // A signed digest the registry does not have: verified, but not accepted, as the CVO
      // refuses a payload it cannot retrieve (enforce, the default)…
      const missing = `${registry.host}/rel/absent@sha256:${'7'.repeat(64)}`;
      await signer.publish(`sha256:${'7'.repeat(64)}`);
      await requestUpdate(tc, { image: missing, version: '4.17.99', force: true });
      const refused = await waitFor(
        tc.admin,
        (x) =>
          condition(x, 'ReleaseAccepted')?.reason === 'RetrievePayload' &&
          (condition(x, 'ReleaseAccepted')?.message ?? '').includes(missing),
        'refusal of the release that cannot be retrieved, forced or not',
      );
      assert.match(
        condition(refused, 'ReleaseAccepted')?.message ?? '',
        /^Retrieving payload failed version="4\.17\.99" image="[^"]+" failure=release image .*absent@sha256:7{64}/,
      );
      assert.equal(condition(refused, 'ReleaseVerified')?.status, 'True');
      assert.notEqual(refused.status?.desired.image, missing);

      // …and accepted with a Warning under warn (beside a CVO that loads the payload itself).
      // The request first: the restarted service must not meet the forced 4.17.99 one.
      await requestUpdate(tc, { image: missing, version: '', force: false });
      await restart({ payloadVerification: 'off', releaseMetadata: 'warn' });
      const unread = await waitFor(
        tc.admin,
        (x) => x.status?.desired.image === missing,
        'acceptance of the unreadable release under warn',
      );
      assert.equal(unread.status?.desired.version, '');
      assert.equal(unread.status?.history?.[0]?.verified, true);
      const warnings = (
        await events(tc, 'ReleaseMetadataUnreadable', (e) => e.message.includes(missing))
      ).filter((e) => e.message.includes(missing));
      assert.match(
        warnings[0]?.message ?? '',
        /^Reading release metadata failed version="" image="[^"]+" failure=.*: the version is taken from the request or the available updates and not checked against the payload$/,
      );
    });
    it('verifies the instance every node architecture pulls from a manifest-list release', async (t) => {
      if (tc === undefined) return t.skip(skip ?? 'no cluster');
      const c = tc;
      await restart({ payloadVerification: 'enforce' });
      // Two instances of one release: amd64 fully signed, arm64 with an unsigned etcd.
      const amd64 = await release();
      const arm64 = await release({ etcd: 'unsigned' });
      const descriptor = async (digest: string, repo: string) => {
        const response = await fetch(`${registry.url}/v2/${repo}/manifests/${digest}`, {
          headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
        });
        return {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest,
          size: (await response.arrayBuffer()).byteLength,
        };
      };
      // Both instances live in one repository: copy arm64's manifest next to amd64's.
      const amdRepo = amd64.pullspec.slice(registry.host.length + 1, amd64.pullspec.indexOf('@'));
      const armRepo = arm64.pullspec.slice(registry.host.length + 1, arm64.pullspec.indexOf('@'));
      const armManifest = await (
        await fetch(`${registry.url}/v2/${armRepo}/manifests/${arm64.digest}`, {
          headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
        })
      ).arrayBuffer();
      // Blobs are mounted across repositories by the registry only when pushed there: push again.
      const armBlobs = JSON.parse(Buffer.from(armManifest).toString()) as {
        config: { digest: string };
        layers: { digest: string }[];
      };
      for (const blob of [armBlobs.config, ...armBlobs.layers]) {
        const body = Buffer.from(
          await (await fetch(`${registry.url}/v2/${armRepo}/blobs/${blob.digest}`)).arrayBuffer(),
        );
        await pushBlob(target, amdRepo, body);
      }
      await pushManifest(target, amdRepo, undefined, new Uint8Array(armManifest));
      const index = await pushManifest(
        target,
        amdRepo,
        'multi',
        {
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: [
            {
              ...(await descriptor(amd64.digest, amdRepo)),
              platform: { os: 'linux', architecture: 'amd64' },
            },
            {
              ...(await descriptor(arm64.digest, amdRepo)),
              platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
            },
          ],
        },
        'application/vnd.oci.image.index.v1+json',
      );
      await signer.publish(index.digest);
      const image = `${registry.host}/${amdRepo}@${index.digest}`;
      for (const [name, arch] of [
        ['node-amd64', 'amd64'],
        ['node-arm64', 'arm64'],
      ] as const) {
        await c.kubectl(
          ['apply', '-f', '-'],
          JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name } }),
        );
        await c.kubectl([
          'patch',
          'node',
          name,
          '--subresource=status',
          '--type=merge',
          '-p',
          JSON.stringify({
            status: { nodeInfo: { architecture: arch, operatingSystem: 'linux' } },
          }),
        ]);
      }
      try {
        await requestUpdate(c, { image, version: '', force: false });
        const refused = await waitFor(
          c.admin,
          (x) => (condition(x, 'ReleaseAccepted')?.message ?? '').includes(index.digest),
          'refusal for the arm64 instance',
        );
        assert.equal(condition(refused, 'ReleaseAccepted')?.reason, 'PayloadVerificationFailed');
        assert.match(
          condition(refused, 'PayloadVerified')?.message ?? '',
          /linux\/arm64\/v8: 1 of 40 component images of .* would fail .*etcd \(unsigned\)/,
        );
        // The arm64 node leaves: the background re-check accepts the amd64-only cluster.
        await c.kubectl(['delete', 'node', 'node-arm64']);
        await waitFor(c.admin, (x) => x.status?.desired.image === image, 'accepted', 30_000);
      } finally {
        await c.kubectl(['delete', 'node', '--all']);
      }
    });
  },
);
