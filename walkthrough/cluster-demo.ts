import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { load } from 'js-yaml';

import { formatConditions, formatHistoryTable } from '../src/cli/format-history.js';
import { toStoreDigestPath } from '../src/image/pullspec.js';
import { createKubePort, loadKubeConfig } from '../src/kube/client.js';
import type { KubePort } from '../src/kube/client.js';
import type { ClusterVersion, ConfigMap } from '../src/kube/types.js';
import { ensureControlPlaneBinaries } from '../testbed/local-cluster/binaries.js';
import { bootstrapOpenShiftApi, kubectl } from '../testbed/local-cluster/bootstrap.js';
import { startLocalCluster } from '../testbed/local-cluster/cluster.js';
import type { LocalCluster } from '../testbed/local-cluster/cluster.js';
import { seedClusterVersion } from '../testbed/local-cluster/openshift.js';
import { startService } from '../src/main.js';
import { defaultServiceConfig } from '../src/config/service-config.js';
import type { Service } from '../src/main.js';
import { createJsonLogger } from '../src/observability/logger.js';
import {
  createTestKey,
  makeCosignPayload,
  makeSignatureLayer,
  pushCosignSignatures,
} from '../testbed/cosign-signer.js';
import { atomicPayload, GnuPG } from '../testbed/gnupg.js';
import { LocalRegistry, locateDockerRegistry } from '../testbed/local-registry.js';
import { pushSyntheticRelease } from '../testbed/synthetic-release.js';
import { LocalStoreServer } from '../testbed/local-store-server.js';
import { renderRootOfTrust } from '../testbed/root-of-trust.js';

export interface ClusterDemoOptions {
  readonly stdout: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Project root (holds control-plane/ and .cache/); defaults to this file's checkout. */
  readonly projectRoot?: string;
  /** Directory with the OpenShift CRDs; defaults to ../shared/fixtures/openshift-api. */
  readonly crdDir?: string;
  /** Where the service's JSON logs go (default: discarded, the demo narrates instead). */
  readonly log?: (line: string) => void;
  /** Keep the cluster and service running after the walkthrough until this resolves. */
  readonly keepRunning?: Promise<void>;
}

const REPOSITORY = 'quay.io/openshift-release-dev/ocp-release';

/**
 * The main job without a cluster: builds (first run) and starts a real etcd + kube-apiserver with
 * the OpenShift CRDs, a signature store on 127.0.0.1 with a GnuPG release key, a docker-registry
 * holding a release whose component images are cosign-signed (but for etcd), runs the service,
 * and walks through by-tag (refused), signed (verified: true), unsigned forced (verified: false),
 * a signature published later (background re-check flips it), a payload refused for its
 * unsigned etcd image and accepted once that signature is pushed, printing status each time.
 * Returns true when every step ended as expected.
 */
export async function runClusterDemo(options: ClusterDemoOptions): Promise<boolean> {
  const say = (text = ''): void => {
    options.stdout(`${text}\n`);
  };
  const root = options.projectRoot ?? join(dirname(fileURLToPath(import.meta.url)), '..');
  const crdDir = options.crdDir ?? join(root, '..', 'shared', 'fixtures', 'openshift-api');
  if (!existsSync(crdDir))
    throw new Error(
      `the OpenShift CRDs are not at ${crdDir}; pass a kubeconfig to serve a real cluster instead`,
    );

  const cleanups: (() => Promise<void>)[] = [];
  try {
    say(
      '== No cluster configured: starting a local control plane (real etcd + kube-apiserver on 127.0.0.1)',
    );
    const binaries = await ensureControlPlaneBinaries({
      moduleDir: join(root, 'control-plane'),
      cacheDir: join(root, '.cache', 'control-plane'),
      env: options.env,
      progress: (line) => {
        say(`   ${line}`);
      },
    });
    const cluster: LocalCluster = await startLocalCluster({
      binaries,
      progress: (line) => {
        say(`   ${line}`);
      },
    });
    cleanups.push(() => cluster.stop());
    await bootstrapOpenShiftApi(cluster, binaries.kubectl, crdDir);
    say(
      `   kube-apiserver ${cluster.server} ready; OpenShift CRDs applied (ClusterVersion, ClusterImagePolicy, ImagePolicy)`,
    );
    say(`   kubeconfig: ${cluster.kubeconfig}`);
    const admin: KubePort = createKubePort(loadKubeConfig({ kubeconfig: cluster.kubeconfig }));

    const gpg = await GnuPG.create();
    cleanups.push(() => gpg.cleanup());
    const key = await gpg.generateKey('Demo Release Signing <release@example.com>', 'rsa4096');
    const storeDir = await mkdtemp(join(tmpdir(), 'cvo-demo-store-'));
    cleanups.push(() => rm(storeDir, { recursive: true, force: true }));
    const store = await LocalStoreServer.start(storeDir);
    cleanups.push(() => store.close());
    const rootOfTrust = load(
      renderRootOfTrust((await gpg.exportPublicKey(key)).toString(), store.url),
    ) as ConfigMap;
    await admin.createConfigMap('openshift-config-managed', rootOfTrust);
    say(
      `   release key ${key.keyId} (GnuPG); root of trust openshift-config-managed/release-verification; signature store ${store.url}`,
    );

    const digest = (): string => `sha256:${randomBytes(32).toString('hex')}`;
    const publish = async (d: string): Promise<void> => {
      const dir = join(storeDir, toStoreDigestPath(d));
      await mkdir(dir, { recursive: true });
      await writeFile(
        join(dir, 'signature-1'),
        await gpg.sign(atomicPayload(d, `${REPOSITORY}:4.17.0-x86_64`), {
          key: `${key.fingerprint}!`,
        }),
      );
    };
    const signed = `${REPOSITORY}@${digest()}`;
    const unsigned = `${REPOSITORY}@${digest()}`;
    await publish(signed.split('@')[1] ?? '');
    await seedClusterVersion(cluster, binaries.kubectl, admin, {
      current: { version: '4.16.0', image: `${REPOSITORY}@${digest()}` },
      availableUpdates: [{ version: '4.17.0', image: signed }],
    });
    say('   ClusterVersion "version" seeded: 4.16.0 installed, 4.17.0 available');

    // A real registry for the Sigstore and whole-payload steps, and a cosign key the cluster's
    // ClusterImagePolicy trusts for the release's component images.
    const registryBinary = await locateDockerRegistry();
    if (registryBinary === undefined) {
      throw new Error(
        'docker-registry is not installed (Debian package docker-registry; scripts/run.sh installs it)',
      );
    }
    const registry = await LocalRegistry.start(registryBinary);
    cleanups.push(() => registry.stop());
    const cosignKey = createTestKey('p256');
    const componentRepo = 'ocp/art-dev';
    const next = await pushSyntheticRelease({
      target: { url: registry.url },
      host: registry.host,
      key: cosignKey,
      components: 12,
      kinds: { etcd: 'unsigned' },
      componentRepo,
      releaseRepo: 'ocp/release',
      version: '4.18.0',
    });
    await publish(next.digest);
    const applyPolicy = async (): Promise<void> => {
      await kubectl(
        cluster,
        binaries.kubectl,
        ['apply', '--server-side', '-f', '-'],
        JSON.stringify({
          apiVersion: 'config.openshift.io/v1',
          kind: 'ClusterImagePolicy',
          metadata: { name: 'openshift' },
          spec: {
            scopes: [`${registry.host}/${componentRepo}`],
            policy: {
              rootOfTrust: {
                policyType: 'PublicKey',
                publicKey: { keyData: Buffer.from(cosignKey.publicKeyPem).toString('base64') },
              },
            },
          },
        }),
      );
    };
    say(
      `   docker-registry at ${registry.url}: release 4.18.0 (12 component images, cosign-signed except etcd)`,
    );

    const config = defaultServiceConfig({ kubeconfig: cluster.kubeconfig });
    const service: Service = await startService(
      {
        ...config,
        payloadVerification: 'enforce',
        recheckBaseMs: 2000,
        recheckMaxMs: 10_000,
        leaderElection: {
          ...config.leaderElection,
          leaseDurationMs: 6000,
          renewIntervalMs: 2000,
          retryIntervalMs: 500,
        },
      },
      createJsonLogger((line) => {
        options.log?.(line);
      }),
    );
    cleanups.push(() => service.stop());
    say(
      '   cvo-update-verifier is running against it (leader election on, --payload-verification=enforce)',
    );

    const patch = async (update: Record<string, unknown>): Promise<void> => {
      await kubectl(cluster, binaries.kubectl, [
        'patch',
        'clusterversion',
        'version',
        '--type=merge',
        '-p',
        JSON.stringify({ spec: { desiredUpdate: update } }),
      ]);
    };
    const wait = async (
      predicate: (cv: ClusterVersion) => boolean,
      timeoutMs = 60_000,
    ): Promise<ClusterVersion | undefined> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const cv = await admin.getClusterVersion('version');
        if (predicate(cv)) return cv;
        if (Date.now() > deadline) return undefined;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    };
    const accepted = (cv: ClusterVersion): string | undefined =>
      cv.status?.conditions?.find((c) => c.type === 'ReleaseAccepted')?.message;

    // Set by step() callbacks; a holder object so the type checker sees the mutation.
    const result = { ok: true };
    const step = async (
      title: string,
      command: string,
      action: () => Promise<void>,
      done: (cv: ClusterVersion) => boolean,
    ): Promise<void> => {
      say();
      say(`== ${title}`);
      say(`   $ ${command}`);
      await action();
      const cv = await wait(done);
      if (cv === undefined) {
        result.ok = false;
        say('!! the expected status did not appear in time');
        return;
      }
      say(formatConditions(cv).replace(/^/gm, '   ').trimEnd());
      say();
      say(formatHistoryTable(cv).replace(/^/gm, '   ').trimEnd());
    };

    const byTag = `${REPOSITORY}:4.17.0-x86_64`;
    await step(
      '1. An update by tag is refused: only a digest can be verified',
      `oc patch clusterversion version --type=merge -p '{"spec":{"desiredUpdate":{"image":"${byTag}"}}}'`,
      () => patch({ image: byTag, version: '', force: false }),
      (cv) => (accepted(cv) ?? '').includes(byTag),
    );
    await step(
      '2. The signed 4.17.0 by version: verified, accepted, history verified: true',
      `oc adm upgrade --to=4.17.0`,
      () => patch({ version: '4.17.0', image: '', force: false }),
      (cv) => cv.status?.desired.image === signed,
    );
    await step(
      '3. An unsigned release, forced: accepted with verified: false and the accepted risk',
      `oc adm upgrade --to-image=${unsigned} --allow-explicit-upgrade --force`,
      () => patch({ image: unsigned, version: '', force: true }),
      (cv) => cv.status?.desired.image === unsigned,
    );
    await step(
      '4. Its signature is published later: the background re-check flips verified to true',
      `(signature-1 for ${unsigned.split('@')[1] ?? ''} appears in the store)`,
      () => publish(unsigned.split('@')[1] ?? ''),
      (cv) => cv.status?.history?.[0]?.image === unsigned && cv.status.history[0].verified,
    );
    await step(
      '5. Release 4.18.0 is signed, but its etcd image is not: the payload check refuses it before the update starts',
      `oc apply -f openshift-clusterimagepolicy.yaml  # covers ${registry.host}/${componentRepo}\n   $ oc adm upgrade --to-image=${next.pullspec} --allow-explicit-upgrade`,
      async () => {
        await applyPolicy();
        await patch({ image: next.pullspec, version: '', force: false });
      },
      (cv) =>
        cv.status?.conditions?.find((c) => c.type === 'ReleaseAccepted')?.reason ===
          'PayloadVerificationFailed' && (accepted(cv) ?? '').includes(next.pullspec),
    );
    const etcd = next.components.find((c) => c.tag === 'etcd');
    if (etcd === undefined) throw new Error('unreachable: the synthetic release has no etcd');
    await step(
      "6. etcd's cosign signature is pushed: the background re-check accepts the update",
      `cosign sign --key cosign.key ${etcd.pullspec}`,
      async () => {
        await pushCosignSignatures({ url: registry.url }, componentRepo, etcd, [
          makeSignatureLayer(cosignKey, makeCosignPayload(etcd.pullspec, etcd.digest)),
        ]);
      },
      (cv) => cv.status?.desired.image === next.pullspec,
    );
    say();
    say(
      result.ok
        ? '== Walkthrough finished: every step ended as expected.'
        : '== Walkthrough finished with unexpected results (see !! above).',
    );
    if (options.keepRunning) {
      say(
        `   The local cluster keeps running: KUBECONFIG=${cluster.kubeconfig} kubectl get clusterversion version -o yaml`,
      );
      say('   Press Ctrl-C to stop.');
      await options.keepRunning;
    }
    return result.ok;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }
}
