import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import type { WriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { dump, load } from 'js-yaml';

import { formatConditions, formatHistoryTable } from '../src/cli/format-history.js';
import { toStoreDigestPath } from '../src/image/pullspec.js';
import { createKubePort, loadKubeConfig } from '../src/kube/client.js';
import type { KubePort } from '../src/kube/client.js';
import type { ClusterVersion, ConfigMap } from '../src/kube/types.js';
import { ensureControlPlaneBinaries } from '../testbed/local-cluster/binaries.js';
import { bootstrapOpenShiftApi } from '../testbed/local-cluster/bootstrap.js';
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
  /**
   * This run's files (the service's log, the API server's audit log, the files the printed
   * commands name); kept after the run. Default: a new folder under .cache/walkthrough/.
   */
  readonly runDir?: string;
  /** Also receives the service's JSON log lines (they always go to `service.log` in runDir). */
  readonly log?: (line: string) => void;
  /** Stops the walkthrough where it is (and ends keepRunning); everything started is stopped. */
  readonly signal?: AbortSignal;
  /** Keep the cluster and service running after the walkthrough until `signal` aborts. */
  readonly keepRunning?: boolean;
}

const REPOSITORY = 'quay.io/openshift-release-dev/ocp-release';
/** Runs of the walkthrough whose files are kept under .cache/walkthrough/ (the newest ones). */
const KEPT_RUNS = 5;
/** How long the service has to stop (release its lease, end its watches) before we move on. */
const SERVICE_STOP_MS = 5_000;

/**
 * The main job without a cluster: builds (first run) and starts a real etcd + kube-apiserver with
 * the OpenShift CRDs, a signature store on 127.0.0.1 with a GnuPG release key, a docker-registry
 * holding a release whose component images are cosign-signed (but for etcd), runs the service,
 * and walks through by-tag (refused), signed (verified: true), unsigned forced (verified: false),
 * a signature published later (background re-check flips it), a payload refused for its
 * unsigned etcd image and accepted once that signature is pushed, printing status each time.
 *
 * Every line printed with `$ ` is a command it runs, exactly as printed, with the KUBECONFIG and
 * PATH it prints first; what an admin would type on OpenShift instead is labelled `on OpenShift:`.
 * The service's logs go to `service.log` in the run's folder, which it names.
 * Returns true when every step ended as expected (false when `signal` stopped it).
 */
export async function runClusterDemo(options: ClusterDemoOptions): Promise<boolean> {
  const say = (text = ''): void => {
    options.stdout(`${text}\n`);
  };
  const { signal } = options;
  const root = options.projectRoot ?? join(dirname(fileURLToPath(import.meta.url)), '..');
  const crdDir = options.crdDir ?? join(root, '..', 'shared', 'fixtures', 'openshift-api');
  if (!existsSync(crdDir))
    throw new Error(
      `the OpenShift CRDs are not at ${crdDir}; pass a kubeconfig to serve a real cluster instead`,
    );
  const runDir = options.runDir ?? (await createRunDir(join(root, '.cache', 'walkthrough')));
  await mkdir(runDir, { recursive: true });
  const serviceLogPath = join(runDir, 'service.log');
  const auditLogPath = join(runDir, 'kube-apiserver-audit.log');
  const serviceLog: WriteStream = createWriteStream(serviceLogPath, { flags: 'a' });

  // Stopped in this order: the service first (it releases its lease through the API server),
  // then everything else at once, the log last.
  let stopService: (() => Promise<void>) | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  const result = { ok: true, started: false };
  try {
    say(
      '== No cluster configured: starting a local control plane (real etcd + kube-apiserver on 127.0.0.1)',
    );
    say(
      `   this run's files: ${runDir} (service.log: the service's logs; kube-apiserver-audit.log: the API requests that wrote ClusterVersion and ClusterImagePolicy; the files the commands below name)`,
    );
    const binaries = await ensureControlPlaneBinaries({
      moduleDir: join(root, 'control-plane'),
      cacheDir: join(root, '.cache', 'control-plane'),
      env: options.env,
      progress: (line) => {
        say(`   ${line}`);
      },
      ...(signal ? { signal } : {}),
    });
    const auditPolicy = join(runDir, 'audit-policy.json');
    await writeFile(auditPolicy, renderAuditPolicy());
    const cluster: LocalCluster = await startLocalCluster({
      binaries,
      progress: (line) => {
        say(`   ${line}`);
      },
      extraApiserverArgs: [
        `--audit-policy-file=${auditPolicy}`,
        `--audit-log-path=${auditLogPath}`,
      ],
      ...(signal ? { signal } : {}),
    });
    cleanups.push(() => cluster.stop());
    await bootstrapOpenShiftApi(cluster, binaries.kubectl, crdDir, signal ? { signal } : {});
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
      `   release key ${key.keyId} (GnuPG home ${gpg.home}); root of trust openshift-config-managed/release-verification; signature store ${store.url} (files in ${storeDir})`,
    );

    const digest = (): string => `sha256:${randomBytes(32).toString('hex')}`;
    const publish = async (d: string): Promise<string> => {
      const dir = join(storeDir, toStoreDigestPath(d));
      await mkdir(dir, { recursive: true });
      await writeFile(
        join(dir, 'signature-1'),
        await gpg.sign(atomicPayload(d, `${REPOSITORY}:4.17.0-x86_64`), {
          key: `${key.fingerprint}!`,
        }),
      );
      return join(dir, 'signature-1');
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
    signal?.throwIfAborted();
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
    const policyFile = join(runDir, 'clusterimagepolicy.yaml');
    await writeFile(
      policyFile,
      dump({
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
    say(
      `   docker-registry at ${registry.url}: release 4.18.0 (12 component images, cosign-signed except etcd)`,
    );

    signal?.throwIfAborted();
    const config = defaultServiceConfig({ kubeconfig: cluster.kubeconfig });
    const service: Service = await startService(
      {
        ...config,
        payloadVerification: 'enforce',
        // Steps 1-4 sign made-up quay.io digests, which have no payload to read: `warn` accepts
        // them with a ReleaseMetadataUnreadable Warning where the default, enforce, refuses an
        // update whose payload cannot be retrieved (as the CVO does). 4.18.0 is read for real.
        releaseMetadata: 'warn',
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
        serviceLog.write(line);
        options.log?.(line);
      }),
    );
    stopService = () => service.stop();
    say(
      '   cvo-update-verifier is running against it (leader election on, --payload-verification=enforce,\n' +
        '   --release-metadata=warn: the GPG steps sign made-up quay.io digests with no payload to read)',
    );
    say(`   its logs: ${serviceLogPath}`);

    // The commands the walkthrough shows are run exactly as shown, by kubectl found on this PATH.
    const shellEnv = {
      ...options.env,
      KUBECONFIG: cluster.kubeconfig,
      PATH: `${dirname(binaries.kubectl)}${delimiter}${options.env.PATH ?? ''}`,
    };
    say();
    say(
      '   Each "$ " line below is a command the walkthrough runs, as shown. To run them yourself:',
    );
    say(
      `   export KUBECONFIG=${cluster.kubeconfig} PATH=${dirname(binaries.kubectl)}${delimiter}$PATH`,
    );
    const shown = async (argv: readonly [string, ...string[]]): Promise<void> => {
      say(`   $ ${quoteCommand(argv)}`);
      await runCommand(argv, shellEnv, signal);
    };
    const onOpenShift = (text: string): void => {
      say(`   on OpenShift: ${text}`);
    };
    const patchArgs = (update: Record<string, unknown>): readonly [string, ...string[]] => [
      'kubectl',
      'patch',
      'clusterversion',
      'version',
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { desiredUpdate: update } }),
    ];
    const wait = async (
      predicate: (cv: ClusterVersion) => boolean,
      timeoutMs = 60_000,
    ): Promise<ClusterVersion | undefined> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const cv = await admin.getClusterVersion('version');
        if (predicate(cv)) return cv;
        if (Date.now() > deadline) return undefined;
        await sleep(200, undefined, signal ? { signal } : {});
      }
    };
    const accepted = (cv: ClusterVersion): string | undefined =>
      cv.status?.conditions?.find((c) => c.type === 'ReleaseAccepted')?.message;

    const step = async (
      title: string,
      action: () => Promise<void>,
      done: (cv: ClusterVersion) => boolean,
    ): Promise<void> => {
      signal?.throwIfAborted();
      say();
      say(`== ${title}`);
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

    result.started = true;
    const byTag = `${REPOSITORY}:4.17.0-x86_64`;
    await step(
      '1. An update by tag is refused: only a digest can be verified',
      async () => {
        const argv = patchArgs({ image: byTag, version: '', force: false });
        await shown(argv);
        onOpenShift(
          `oc ${quoteCommand(argv.slice(1))}  (oc adm upgrade --to-image refuses a tag unless --force)`,
        );
      },
      (cv) => (accepted(cv) ?? '').includes(byTag),
    );
    await step(
      '2. The signed 4.17.0 by version: verified, accepted, history verified: true',
      async () => {
        await shown(patchArgs({ version: '4.17.0', image: '', force: false }));
        onOpenShift('oc adm upgrade --to=4.17.0');
      },
      (cv) => cv.status?.desired.image === signed,
    );
    await step(
      '3. An unsigned release, forced: accepted with verified: false and the accepted risk',
      async () => {
        await shown(patchArgs({ image: unsigned, version: '', force: true }));
        onOpenShift(`oc adm upgrade --to-image=${unsigned} --allow-explicit-upgrade --force`);
      },
      (cv) => cv.status?.desired.image === unsigned,
    );
    const unsignedDigest = unsigned.split('@')[1] ?? '';
    await step(
      '4. Its signature is published later: the background re-check flips verified to true',
      async () => {
        const file = await publish(unsignedDigest);
        say(
          `   the walkthrough signs it with the release key and writes ${file}; the store serves it at ${store.url}/${toStoreDigestPath(unsignedDigest)}/signature-1`,
        );
      },
      (cv) => cv.status?.history?.[0]?.image === unsigned && cv.status.history[0].verified,
    );
    await step(
      '5. Release 4.18.0 is signed, but its etcd image is not: the payload check refuses it before the update starts',
      async () => {
        await shown(['kubectl', 'apply', '--server-side', '-f', policyFile]);
        say(
          `   (the ClusterImagePolicy trusts the cosign key for ${registry.host}/${componentRepo})`,
        );
        await shown(patchArgs({ image: next.pullspec, version: '', force: false }));
        onOpenShift(`oc apply -f ${policyFile}`);
        onOpenShift(`oc adm upgrade --to-image=${next.pullspec} --allow-explicit-upgrade`);
      },
      (cv) =>
        cv.status?.conditions?.find((c) => c.type === 'ReleaseAccepted')?.reason ===
          'PayloadVerificationFailed' && (accepted(cv) ?? '').includes(next.pullspec),
    );
    const etcd = next.components.find((c) => c.tag === 'etcd');
    if (etcd === undefined) throw new Error('unreachable: the synthetic release has no etcd');
    await step(
      "6. etcd's cosign signature is pushed: the background re-check accepts the update",
      async () => {
        await pushCosignSignatures({ url: registry.url }, componentRepo, etcd, [
          makeSignatureLayer(cosignKey, makeCosignPayload(etcd.pullspec, etcd.digest)),
        ]);
        say(
          `   the walkthrough pushes a cosign signature of ${etcd.pullspec}, made with the key the policy trusts`,
        );
        onOpenShift(
          `the release's signer runs: cosign sign --key <the private key> ${etcd.pullspec}`,
        );
      },
      (cv) => cv.status?.desired.image === next.pullspec,
    );
    say();
    say(
      result.ok
        ? '== Walkthrough finished: every step ended as expected.'
        : '== Walkthrough finished with unexpected results (see !! above).',
    );
    say(`   service log: ${serviceLogPath}`);
    if (options.keepRunning === true) {
      say(
        '   The local cluster keeps running: kubectl get clusterversion version -o yaml (with the export above)',
      );
      say('   Press Ctrl-C to stop.');
      await untilAborted(signal);
    }
    return result.ok;
  } catch (err) {
    if (signal?.aborted !== true) throw err;
    say();
    say(
      result.started
        ? '== Stopped before the walkthrough finished.'
        : '== Stopped before the walkthrough started.',
    );
    return false;
  } finally {
    const stopping = signal?.aborted === true || options.keepRunning === true;
    if (stopping)
      say(
        '== Stopping what the walkthrough started (service, docker-registry, signature store, gpg-agent, kube-apiserver, etcd)',
      );
    if (stopService !== undefined)
      await Promise.race([
        stopService().catch(() => undefined),
        sleep(SERVICE_STOP_MS, undefined, { ref: false }),
      ]);
    await Promise.all(cleanups.map((cleanup) => cleanup().catch(() => undefined)));
    await new Promise<void>((resolve) => {
      serviceLog.end(() => {
        resolve();
      });
    });
    if (stopping) say(`== Stopped. The service's logs are in ${serviceLogPath}`);
  }
}

/** What the API server records in the run's audit log: every write of the walkthrough's objects. */
function renderAuditPolicy(): string {
  return JSON.stringify({
    apiVersion: 'audit.k8s.io/v1',
    kind: 'Policy',
    omitStages: ['RequestReceived'],
    rules: [
      {
        level: 'Request',
        verbs: ['create', 'patch', 'update'],
        resources: [
          {
            group: 'config.openshift.io',
            resources: ['clusterversions', 'clusterversions/status', 'clusterimagepolicies'],
          },
        ],
      },
      { level: 'None' },
    ],
  });
}

/** Words a POSIX shell takes as they are; anything else is single-quoted. */
const PLAIN_WORD = /^[\w@%+=:,./-]+$/;

/** `argv` as a POSIX shell command line that runs exactly `argv`. */
export function quoteCommand(argv: readonly string[]): string {
  return argv
    .map((arg) => (PLAIN_WORD.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`))
    .join(' ');
}

/** Runs `argv` as a shell would (the program found on env.PATH); rejects with its stderr. */
function runCommand(
  argv: readonly [string, ...string[]],
  env: Readonly<Record<string, string | undefined>>,
  signal: AbortSignal | undefined,
): Promise<void> {
  const [program, ...args] = argv;
  return new Promise((resolve, reject) => {
    execFile(program, args, { env, ...(signal ? { signal } : {}) }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${quoteCommand(argv)} failed: ${stderr || err.message}`));
      else resolve();
    });
  });
}

/** Resolves when `signal` aborts (never without one). */
function untilAborted(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal === undefined) return;
    if (signal.aborted) resolve();
    else
      signal.addEventListener(
        'abort',
        () => {
          resolve();
        },
        { once: true },
      );
  });
}

/**
 * A new folder for this run under `parent`, named by time and pid; the oldest runs beyond
 * KEPT_RUNS are removed, but never one whose process still runs.
 */
async function createRunDir(parent: string): Promise<string> {
  await mkdir(parent, { recursive: true });
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const runs = (await readdir(parent)).filter((name) => /^\d{8}T\d{6}Z-\d+$/.test(name)).sort();
  for (const old of runs.slice(0, Math.max(0, runs.length - (KEPT_RUNS - 1)))) {
    if (!isRunning(Number(old.split('-')[1])))
      await rm(join(parent, old), { recursive: true, force: true });
  }
  const dir = join(parent, `${stamp}-${String(process.pid)}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
