/**
 * A disconnected, proxied cluster (issue 13): the release exists only in a mirror registry that
 * requires authentication (docker-registry with htpasswd, over HTTPS with a CA only the cluster
 * Proxy's trustedCA names) and that is reachable only through a CONNECT proxy (its name resolves
 * nowhere but in the proxy). The service reads the pull secret, the Proxy object and its
 * trustedCA ConfigMap, and the ImageDigestMirrorSet from the real API server: a mirror-only,
 * Sigstore-signed release is accepted; without the pull secret, or with a wrong password, it is
 * refused with a reason naming the registry; the password appears in no output.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { dump } from 'js-yaml';
import { Agent, getGlobalDispatcher, setGlobalDispatcher } from 'undici';
import type { Dispatcher } from 'undici';

import { runCli } from '../../src/cli/main.js';
import type { Service } from '../../src/main.js';
import { ConnectProxy } from '../../testbed/connect-proxy.js';
import { repoRoot } from '../helpers/fixtures.js';
import {
  createTestKey,
  makeCosignPayload,
  makeSignatureLayer,
  pushCosignSignatures,
} from '../helpers/cosign.js';
import { seedClusterVersion } from '../../testbed/local-cluster/openshift.js';
import { startTestCluster } from '../helpers/local-cluster.js';
import type { TestCluster } from '../helpers/local-cluster.js';
import { findRegistryBinary, TestRegistry } from '../helpers/registry.js';
import type { PushTarget } from '../helpers/registry.js';
import { pushSyntheticRelease } from '../helpers/release.js';
import {
  condition,
  installRootOfTrust,
  ReleaseSigner,
  requestUpdate,
  runService,
  seed,
  waitFor,
} from './harness.js';

const run = promisify(execFile);
const binary = await findRegistryBinary();

/** Resolve nowhere (RFC 2606's .test): only the proxy's table knows them. */
const MIRROR_HOST = 'registry.disconnected.test';
const STORE_HOST = 'sigs.disconnected.test';
/** The release's logical repository (the policy scope and the signed identity). */
const LOGICAL_REPO = 'quay.example/openshift-release-dev/ocp-release';
const MIRROR_REPO = 'mirror/ocp-release';
const COMPONENT_REPO = 'mirror/ocp-art-dev';
const USER = 'mirror-puller';
const PASSWORD = 'Pull-S3cret-7d1e4a';

/**
 * A CA and a server certificate for MIRROR_HOST and STORE_HOST (and 127.0.0.1, for the test's
 * own pushes).
 */
async function makeMirrorPki(): Promise<{ caPem: string; certificate: string; key: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'cvo-mirror-pki-'));
  const openssl = (args: string[]) => run('openssl', args, { cwd: dir });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    await openssl([
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '2',
      '-subj',
      '/CN=disconnected-mirror-ca',
    ]);
    await openssl([
      'req',
      ...ec,
      '-keyout',
      'tls.key',
      '-out',
      'tls.csr',
      '-subj',
      `/CN=${MIRROR_HOST}`,
    ]);
    await writeFile(
      join(dir, 'ext.cnf'),
      `subjectAltName=DNS:${MIRROR_HOST},DNS:${STORE_HOST},IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`,
    );
    await openssl([
      'x509',
      '-req',
      '-in',
      'tls.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'tls.crt',
      '-days',
      '2',
      '-extfile',
      'ext.cnf',
    ]);
    return {
      caPem: await readFile(join(dir, 'ca.crt'), 'utf8'),
      certificate: await readFile(join(dir, 'tls.crt'), 'utf8'),
      key: await readFile(join(dir, 'tls.key'), 'utf8'),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function dockerConfig(host: string, password: string): string {
  return JSON.stringify({
    auths: { [host]: { auth: Buffer.from(`${USER}:${password}`).toString('base64') } },
  });
}

describe(
  'a disconnected cluster: mirror-only release, authenticated registry, cluster Proxy',
  { skip: 'skip' in binary ? binary.skip : false },
  () => {
    let tc: TestCluster | undefined;
    let skip: string | undefined;
    let signer: ReleaseSigner;
    let registry: TestRegistry;
    let proxy: ConnectProxy;
    let service: Service | undefined;
    let target: PushTarget;
    let mirror: string;
    let previousDispatcher: Dispatcher | undefined;
    /** The GPG signature store behind the proxy: HTTPS, the same CA. */
    let store: HttpsServer | undefined;
    const signatures = new Map<string, Buffer>();
    let storeUrl = '';
    const logs: string[] = [];
    const cosignKey = createTestKey('p256');
    let releases = 0;
    /** The mirror's (and the store's) CA. */
    let mirrorCa = '';

    const setPullSecret = async (password: string | undefined): Promise<void> => {
      if (tc === undefined) throw new Error('no cluster');
      await tc.kubectl([
        'delete',
        'secret',
        '-n',
        'openshift-config',
        'pull-secret',
        '--ignore-not-found',
      ]);
      if (password === undefined) return;
      await tc.kubectl(
        ['apply', '-f', '-'],
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Secret',
          type: 'kubernetes.io/dockerconfigjson',
          metadata: { namespace: 'openshift-config', name: 'pull-secret' },
          data: {
            '.dockerconfigjson': Buffer.from(dockerConfig(mirror, password)).toString('base64'),
          },
        }),
      );
    };

    /** A release pushed to the mirror only, GPG-signed and cosign-signed under its logical name. */
    const release = async (): Promise<{ logical: string; digest: string }> => {
      releases++;
      const r = await pushSyntheticRelease({
        target,
        host: mirror,
        key: cosignKey,
        components: 4,
        componentRepo: COMPONENT_REPO,
        releaseRepo: MIRROR_REPO,
        version: `4.18.${releases}`,
      });
      const logical = `${LOGICAL_REPO}@${r.digest}`;
      await pushCosignSignatures(target, MIRROR_REPO, r, [
        makeSignatureLayer(cosignKey, makeCosignPayload(logical, r.digest)),
      ]);
      signatures.set(
        `/sigs/${r.digest.replace(':', '=')}/signature-1`,
        await signer.sign(r.digest),
      );
      return { logical, digest: r.digest };
    };

    before(async () => {
      assert.ok('path' in binary);
      const started = await startTestCluster();
      if ('skip' in started) {
        skip = started.skip;
        return;
      }
      tc = started;
      const c = tc;
      const pki = await makeMirrorPki();
      mirrorCa = pki.caPem;
      registry = await TestRegistry.start(
        binary.path,
        { kind: 'htpasswd', username: USER, password: PASSWORD },
        { certificate: pki.certificate, key: pki.key },
      );
      mirror = `${MIRROR_HOST}:${registry.port}`;
      proxy = await ConnectProxy.start({ [MIRROR_HOST]: '127.0.0.1', [STORE_HOST]: '127.0.0.1' });
      const https = createHttpsServer({ cert: pki.certificate, key: pki.key }, (req, res) => {
        const body = signatures.get(req.url ?? '');
        if (body === undefined) res.writeHead(404).end();
        else res.writeHead(200).end(body);
      });
      store = https;
      await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
      storeUrl = `https://${STORE_HOST}:${(https.address() as AddressInfo).port}/sigs`;
      // The test's own pushes go to 127.0.0.1 directly, trusting the mirror's CA.
      previousDispatcher = getGlobalDispatcher();
      setGlobalDispatcher(new Agent({ connect: { ca: pki.caPem } }));
      target = {
        url: registry.url,
        authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`,
      };
      signer = await ReleaseSigner.create();
      await installRootOfTrust(c.admin, signer);
      await seed(c);
      // The signature store too is reachable only through the proxy (spec.signatureStores
      // replaces the root of trust's loopback store), over HTTPS with the Proxy's trustedCA.
      await c.kubectl([
        'patch',
        'clusterversion',
        'version',
        '--type=merge',
        '-p',
        JSON.stringify({ spec: { signatureStores: [{ url: storeUrl }] } }),
      ]);

      await c.kubectl(
        ['apply', '-f', '-'],
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { namespace: 'openshift-config', name: 'user-ca-bundle' },
          data: { 'ca-bundle.crt': pki.caPem },
        }),
      );
      await c.kubectl(
        ['apply', '-f', '-'],
        JSON.stringify({
          apiVersion: 'config.openshift.io/v1',
          kind: 'Proxy',
          metadata: { name: 'cluster' },
          spec: { httpsProxy: proxy.url, trustedCA: { name: 'user-ca-bundle' } },
        }),
      );
      // What the network operator writes once it validated the spec (status is what the CVO reads).
      await c.kubectl([
        'patch',
        'proxy',
        'cluster',
        '--subresource=status',
        '--type=merge',
        '-p',
        JSON.stringify({
          status: { httpsProxy: proxy.url, httpProxy: proxy.url, noProxy: '.cluster.local,.svc' },
        }),
      ]);
      await c.kubectl(
        ['apply', '--server-side', '-f', '-'],
        JSON.stringify({
          apiVersion: 'config.openshift.io/v1',
          kind: 'ImageDigestMirrorSet',
          metadata: { name: 'release' },
          spec: {
            imageDigestMirrors: [
              {
                source: LOGICAL_REPO,
                mirrors: [`${mirror}/${MIRROR_REPO}`],
                mirrorSourcePolicy: 'NeverContactSource',
              },
            ],
          },
        }),
      );
      await c.kubectl(
        ['apply', '--server-side', '-f', '-'],
        JSON.stringify({
          apiVersion: 'config.openshift.io/v1',
          kind: 'ClusterImagePolicy',
          metadata: { name: 'openshift' },
          spec: {
            // The release and, as the default policy covers ocp-v4.0-art-dev, its components.
            scopes: [LOGICAL_REPO, `${mirror}/${COMPONENT_REPO}`],
            policy: {
              rootOfTrust: {
                policyType: 'PublicKey',
                publicKey: { keyData: Buffer.from(cosignKey.publicKeyPem).toString('base64') },
              },
            },
          },
        }),
      );
      service = await runService(
        c.cluster.kubeconfig,
        {
          payloadVerification: 'enforce',
          releaseMetadata: 'enforce',
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
      await proxy?.close();
      await registry?.stop();
      store?.closeAllConnections();
      await new Promise((resolve) => store?.close(resolve) ?? resolve(undefined));
      await signer?.close();
      await tc?.stop();
      if (previousDispatcher !== undefined) setGlobalDispatcher(previousDispatcher);
    });

    it('accepts the mirror-only release through the proxy with the pull secret, refuses it without or with a wrong one, and prints the password nowhere', async (t) => {
      if (tc === undefined || service === undefined) return t.skip(skip ?? 'no cluster');
      const c = tc;
      await setPullSecret(PASSWORD);
      const signed = await release();
      await requestUpdate(c, { image: signed.logical, version: '', force: false });
      const accepted = await waitFor(
        c.admin,
        (x) => x.status?.desired.image === signed.logical,
        'acceptance of the mirror-only release',
        40_000,
      );
      assert.equal(accepted.status?.history?.[0]?.verified, true);
      assert.equal(condition(accepted, 'PayloadVerified')?.status, 'True');
      assert.equal(
        accepted.status?.desired.version,
        `4.18.${releases}`,
        'read from the payload in the mirror',
      );
      assert.match(
        condition(accepted, 'ReleaseVerified')?.message ?? '',
        /policy openshift: /,
        'the Sigstore policy was checked',
      );
      // Every registry and store request went through the proxy, to the mirror and the store only
      // (NeverContactSource: never to quay.example).
      assert.ok(proxy.seen.includes(`CONNECT ${mirror}`), proxy.seen.join('\n'));
      assert.ok(
        proxy.seen.some((l) => l.startsWith(`CONNECT ${STORE_HOST}:`)),
        proxy.seen.join('\n'),
      );
      for (const line of proxy.seen)
        assert.match(line, /^CONNECT (registry|sigs)\.disconnected\.test:\d+$/);
      assert.match(
        condition(accepted, 'ReleaseVerified')?.message ?? '',
        new RegExp(`signed by E2E Release .*https://${STORE_HOST.replaceAll('.', '\\.')}:`),
        'the GPG signature came from the store behind the proxy',
      );

      // Without the pull secret: refused, naming the registry that wants credentials.
      await setPullSecret(undefined);
      const anonymous = await release();
      await requestUpdate(c, { image: anonymous.logical, version: '', force: false });
      const refused = await waitFor(
        c.admin,
        (x) => (condition(x, 'ReleaseAccepted')?.message ?? '').includes(anonymous.digest),
        'refusal without the pull secret',
        40_000,
      );
      assert.equal(condition(refused, 'ReleaseAccepted')?.status, 'False');
      assert.match(
        JSON.stringify(refused.status?.conditions),
        new RegExp(`no credentials are configured for ${MIRROR_HOST.replaceAll('.', '\\.')}`),
      );
      assert.notEqual(refused.status?.desired.image, anonymous.logical);

      // A wrong password: refused, saying the registry refused the configured credentials.
      await setPullSecret('not-the-password');
      const wrong = await release();
      await requestUpdate(c, { image: wrong.logical, version: '', force: false });
      const refusedWrong = await waitFor(
        c.admin,
        (x) => (condition(x, 'ReleaseAccepted')?.message ?? '').includes(wrong.digest),
        'refusal with a wrong password',
        40_000,
      );
      assert.match(
        JSON.stringify(refusedWrong.status?.conditions),
        new RegExp(`refused the credentials configured for ${MIRROR_HOST.replaceAll('.', '\\.')}`),
      );

      // The pull secret back: the background re-check accepts the same request (read fresh, no
      // restart).
      await setPullSecret(PASSWORD);
      const again = await waitFor(
        c.admin,
        (x) => x.status?.desired.image === wrong.logical,
        'acceptance once the pull secret is back',
        40_000,
      );
      assert.equal(again.status?.history?.[0]?.verified, true);

      const basic = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
      const channels: Record<string, string> = {
        'clusterversion status': JSON.stringify(
          (await c.admin.getClusterVersion('version')).status ?? {},
        ),
        events: await c.kubectl(['get', 'events', '-A', '-o', 'json']),
        configmaps: await c.kubectl(['get', 'configmaps', '-A', '-o', 'json']),
        metrics: await (
          await fetch(`http://127.0.0.1:${service.ports.health ?? 0}/metrics`)
        ).text(),
        logs: logs.join('\n'),
      };
      for (const output of ['text', 'json']) {
        let stdout = '';
        await runCli(['status', '--kubeconfig', c.cluster.kubeconfig, '--output', output], {
          stdout: (x) => (stdout += x),
          stderr: (x) => (stdout += x),
          env: {},
          cwd: repoRoot,
        });
        channels[`status ${output}`] = stdout;
      }
      for (const [channel, text] of Object.entries(channels)) {
        assert.ok(text.length > 0, `${channel} is empty`);
        assert.ok(!text.includes(PASSWORD), `the password appears in ${channel}`);
        assert.ok(!text.includes(basic), `the base64 credentials appear in ${channel}`);
      }
      // The logs say where access came from, without the secret.
      assert.match(
        channels.logs ?? '',
        /pull secret openshift-config\/pull-secret: credentials for registry\.disconnected\.test/,
      );
    });

    it('reads the release from the first mirror that has it, as CRI-O pulls, with identities matched against the logical name', async (t) => {
      if (tc === undefined) return t.skip(skip ?? 'no cluster');
      const c = tc;
      await setPullSecret(PASSWORD);
      // A first mirror without the release (the registry answers 404 there), then the real one.
      await c.kubectl(
        ['apply', '--server-side', '--force-conflicts', '-f', '-'],
        JSON.stringify({
          apiVersion: 'config.openshift.io/v1',
          kind: 'ImageDigestMirrorSet',
          metadata: { name: 'release' },
          spec: {
            imageDigestMirrors: [
              {
                source: LOGICAL_REPO,
                mirrors: [`${mirror}/stale/ocp-release`, `${mirror}/${MIRROR_REPO}`],
                mirrorSourcePolicy: 'NeverContactSource',
              },
            ],
          },
        }),
      );
      const r = await release();
      await requestUpdate(c, { image: r.logical, version: '', force: false });
      const cv = await waitFor(
        c.admin,
        (x) => x.status?.desired.image === r.logical,
        'acceptance from the second mirror',
        40_000,
      );
      assert.match(
        condition(cv, 'ReleaseVerified')?.message ?? '',
        /policy openshift: cosign signature .* verified with the policy's key/,
      );
      assert.equal(condition(cv, 'PayloadVerified')?.status, 'True');
    });

    it('trusts a mirror CA that only image.config.openshift.io/cluster names (spec.additionalTrustedCA, one key per registry)', async (t) => {
      if (tc === undefined) return t.skip(skip ?? 'no cluster');
      const c = tc;
      await setPullSecret(PASSWORD);
      const configMap = (namespace: string, name: string, data: Record<string, string>) =>
        c.kubectl(
          ['apply', '-f', '-'],
          JSON.stringify({
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { namespace, name },
            data,
          }),
        );
      // The store keeps its CA through the cluster bundle; the Proxy's trustedCA loses it.
      await configMap('openshift-config-managed', 'trusted-ca-bundle', {
        'ca-bundle.crt': mirrorCa,
      });
      await configMap('openshift-config', 'user-ca-bundle', { 'ca-bundle.crt': 'no certificate' });
      try {
        const r = await release();
        await requestUpdate(c, { image: r.logical, version: '', force: false });
        const refused = await waitFor(
          c.admin,
          (x) => (condition(x, 'ReleaseAccepted')?.message ?? '').includes(r.digest),
          'refusal without a CA for the mirror',
          40_000,
        );
        assert.equal(condition(refused, 'ReleaseAccepted')?.status, 'False');
        assert.match(JSON.stringify(refused.status?.conditions), /certificate/i);

        // The registry's CA as the docs have admins configure it: a ConfigMap in openshift-config
        // keyed `host..port`, named by the cluster image configuration. The re-check accepts.
        await configMap('openshift-config', 'registry-cas', {
          [mirror.replace(':', '..')]: mirrorCa,
        });
        await c.kubectl(
          ['apply', '-f', '-'],
          JSON.stringify({
            apiVersion: 'config.openshift.io/v1',
            kind: 'Image',
            metadata: { name: 'cluster' },
            spec: { additionalTrustedCA: { name: 'registry-cas' } },
          }),
        );
        const accepted = await waitFor(
          c.admin,
          (x) => x.status?.desired.image === r.logical,
          "acceptance with the image configuration's registry CA",
          40_000,
        );
        assert.equal(accepted.status?.history?.[0]?.verified, true);
        assert.match(
          logs.join('\n'),
          new RegExp(
            `registry CAs from image\\.config\\.openshift\\.io/cluster \\(openshift-config/registry-cas\\) for ${mirror.replaceAll('.', '\\.')}`,
          ),
        );
      } finally {
        await configMap('openshift-config', 'user-ca-bundle', { 'ca-bundle.crt': mirrorCa });
        await c.kubectl(['delete', 'image.config.openshift.io', 'cluster', '--ignore-not-found']);
      }
    });

    it('with the root of trust taken from the running release, reads that payload through the mirror, the proxy and the pull secret', async (t) => {
      if (tc === undefined) return t.skip(skip ?? 'no cluster');
      const c = tc;
      await setPullSecret(PASSWORD);
      // The running release is mirror-only too and ships the root of trust among its manifests;
      // the cluster's own root-of-trust ConfigMap goes.
      const running = await pushSyntheticRelease({
        target,
        host: mirror,
        key: cosignKey,
        components: 2,
        componentRepo: COMPONENT_REPO,
        releaseRepo: MIRROR_REPO,
        version: '4.17.9',
        manifests: {
          '0000_90_cluster-update-keys_configmap.yaml': dump(await signer.rootOfTrust()),
        },
      });
      await service?.stop();
      service = undefined;
      await c.kubectl([
        'delete',
        'configmap',
        '-n',
        'openshift-config-managed',
        'release-verification',
      ]);
      await c.kubectl(['delete', 'clusterversion', 'version']);
      await seedClusterVersion(c.cluster, c.binaries.kubectl, c.admin, {
        current: { version: '4.17.9', image: `${LOGICAL_REPO}@${running.digest}` },
        availableUpdates: [],
      });
      await c.kubectl([
        'patch',
        'clusterversion',
        'version',
        '--type=merge',
        '-p',
        JSON.stringify({ spec: { signatureStores: [{ url: storeUrl }] } }),
      ]);
      service = await runService(
        c.cluster.kubeconfig,
        {
          payloadVerification: 'enforce',
          releaseMetadata: 'enforce',
          rootOfTrustFromPayload: true,
        },
        logs,
      );
      const r = await release();
      await requestUpdate(c, { image: r.logical, version: '', force: false });
      const cv = await waitFor(
        c.admin,
        (x) => x.status?.desired.image === r.logical,
        'acceptance with the root of trust of the mirrored running release',
        40_000,
      );
      assert.equal(cv.status?.history?.[0]?.verified, true);
      assert.match(condition(cv, 'ReleaseVerified')?.message ?? '', /verifier-public-key-e2e/);
    });
  },
);
