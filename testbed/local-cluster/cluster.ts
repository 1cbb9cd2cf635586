import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { Agent, request } from 'undici';

import type { ControlPlaneBinaries } from './binaries.js';

/** A running etcd + kube-apiserver on 127.0.0.1, with an admin and a second, unprivileged identity. */
export interface LocalCluster {
  readonly server: string;
  /** PEM of the apiserver's self-signed serving certificate, the CA clients trust. */
  readonly caCert: string;
  readonly adminToken: string;
  /** A static identity with no RBAC bindings of its own (`cvo-test-user`, group `cvo-testers`). */
  readonly userToken: string;
  /** Tokens of the extra identities asked for in {@link StartClusterOptions.identities}, by user. */
  readonly tokens: Readonly<Record<string, string>>;
  readonly workDir: string;
  /** A kubeconfig file for the admin identity. */
  readonly kubeconfig: string;
  writeKubeconfig(path: string, token: string, user?: string): Promise<void>;
  restartApiserver(): Promise<void>;
  /** What the running kube-apiserver has written so far (stdout and stderr). */
  apiserverOutput(): string;
  stop(): Promise<void>;
}

export interface StartClusterOptions {
  readonly binaries: ControlPlaneBinaries;
  readonly progress: (line: string) => void;
  /** Parent of the cluster's work directory (certificates, etcd data, logs). */
  readonly baseDir?: string;
  /** Time to wait for /readyz after starting the apiserver. */
  readonly readyTimeoutMs?: number;
  /** More kube-apiserver flags, e.g. `--min-request-timeout=5` to make watches expire quickly. */
  readonly extraApiserverArgs?: readonly string[];
  /** A client certificate the apiserver presents when it calls admission webhooks. */
  readonly webhookClientCertificate?: WebhookClientCertificate;
  /** Stops the start: the wait for readiness ends and etcd and kube-apiserver are stopped. */
  readonly signal?: AbortSignal;
  /**
   * Serve a node's pods too (testbed/node-cluster): listen on `address` (the host's, which pods
   * reach) instead of loopback, advertise it as the `kubernetes` Service's endpoint, and authorize kubelets
   * with the Node authorizer. `server` is then `https://<address>:<port>`.
   */
  readonly nodeAccess?: { readonly address: string };
  /** More static identities, user name → groups; their tokens are in {@link LocalCluster.tokens}. */
  readonly identities?: Readonly<Record<string, readonly string[]>>;
}

export interface WebhookClientCertificate {
  readonly certPem: string;
  readonly keyPem: string;
  /**
   * The webhooks it is presented to, as the apiserver matches them: the URL's `host:port`
   * (`127.0.0.1:8443`), a service's `name.namespace.svc[:port]`, `*.suffix`, or `*` for every
   * webhook (the default).
   */
  readonly hosts?: readonly string[];
}

/**
 * The files behind `--admission-control-config-file` that make the apiserver authenticate to
 * webhooks ("Authenticate apiservers" in the Kubernetes admission-webhook docs): an
 * AdmissionConfiguration whose webhook plugins read a kubeconfig, and that kubeconfig, whose
 * `users` are keyed by the webhook's host. Both are JSON, which the apiserver reads as YAML.
 */
export function renderWebhookClientAuth(
  client: WebhookClientCertificate,
  kubeconfigPath: string,
): { admissionConfiguration: string; kubeconfig: string } {
  const plugin = (name: string): Record<string, unknown> => ({
    name,
    configuration: {
      apiVersion: 'apiserver.config.k8s.io/v1',
      kind: 'WebhookAdmissionConfiguration',
      kubeConfigFile: kubeconfigPath,
    },
  });
  const user = {
    'client-certificate-data': Buffer.from(client.certPem).toString('base64'),
    'client-key-data': Buffer.from(client.keyPem).toString('base64'),
  };
  return {
    admissionConfiguration: JSON.stringify(
      {
        apiVersion: 'apiserver.config.k8s.io/v1',
        kind: 'AdmissionConfiguration',
        plugins: [plugin('ValidatingAdmissionWebhook'), plugin('MutatingAdmissionWebhook')],
      },
      null,
      2,
    ),
    kubeconfig: JSON.stringify(
      {
        apiVersion: 'v1',
        kind: 'Config',
        users: (client.hosts ?? ['*']).map((name) => ({ name, user })),
      },
      null,
      2,
    ),
  };
}

/** Starts etcd and kube-apiserver with RBAC, static tokens and service-account signing keys. */
export async function startLocalCluster(options: StartClusterOptions): Promise<LocalCluster> {
  const workDir = await mkdtemp(join(options.baseDir ?? tmpdir(), 'cvo-cluster-'));
  const processes: ChildProcess[] = [];
  // In the reverse order of their start: kube-apiserver while etcd still answers it (it shuts
  // down at once), then etcd.
  const stopAll = async (): Promise<void> => {
    for (const p of [...processes].reverse()) await stopProcess(p);
  };
  try {
    const [etcdClient, etcdPeer, apiPort] = await freePorts(3);
    const etcd = startProcess(
      options.binaries.etcd,
      [
        '--name',
        'default',
        '--data-dir',
        join(workDir, 'etcd'),
        '--listen-client-urls',
        `http://127.0.0.1:${etcdClient}`,
        '--advertise-client-urls',
        `http://127.0.0.1:${etcdClient}`,
        '--listen-peer-urls',
        `http://127.0.0.1:${etcdPeer}`,
        '--initial-advertise-peer-urls',
        `http://127.0.0.1:${etcdPeer}`,
        '--initial-cluster',
        `default=http://127.0.0.1:${etcdPeer}`,
        '--log-level',
        'error',
      ],
      join(workDir, 'etcd.log'),
    );
    processes.push(etcd);

    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(join(workDir, 'sa.key'), privateKey.export({ type: 'pkcs1', format: 'pem' }));
    await writeFile(join(workDir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    const adminToken = randomBytes(24).toString('hex');
    const userToken = randomBytes(24).toString('hex');
    const tokens: Record<string, string> = {};
    const extraLines = Object.entries(options.identities ?? {}).map(([user, groups], i) => {
      tokens[user] = randomBytes(24).toString('hex');
      return `${tokens[user]},${user},extra-uid-${String(i)},"${groups.join(',')}"\n`;
    });
    await writeFile(
      join(workDir, 'tokens.csv'),
      `${adminToken},admin,admin-uid,"system:masters"\n${userToken},cvo-test-user,user-uid,"cvo-testers"\n${extraLines.join('')}`,
    );
    await mkdir(join(workDir, 'certs'), { recursive: true });
    const admissionArgs: string[] = [];
    if (options.webhookClientCertificate !== undefined) {
      const kubeconfigPath = join(workDir, 'webhook-client.kubeconfig');
      const files = renderWebhookClientAuth(options.webhookClientCertificate, kubeconfigPath);
      await writeFile(kubeconfigPath, files.kubeconfig, { mode: 0o600 });
      await writeFile(join(workDir, 'admission-config.json'), files.admissionConfiguration);
      admissionArgs.push(
        `--admission-control-config-file=${join(workDir, 'admission-config.json')}`,
      );
    }

    const node = options.nodeAccess;
    const apiserverArgs = [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      ...(node === undefined
        ? ['--bind-address=127.0.0.1', '--advertise-address=127.0.0.1']
        : [
            // The host's address only (pods reach it there), and no anonymous requests.
            `--bind-address=${node.address}`,
            `--advertise-address=${node.address}`,
            '--anonymous-auth=false',
            '--authorization-mode=Node,RBAC',
            '--enable-admission-plugins=NodeRestriction',
          ]),
      `--secure-port=${apiPort}`,
      `--cert-dir=${join(workDir, 'certs')}`,
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${join(workDir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(workDir, 'sa.key')}`,
      '--service-cluster-ip-range=10.96.0.0/24',
      ...(node === undefined ? ['--authorization-mode=RBAC'] : []),
      `--token-auth-file=${join(workDir, 'tokens.csv')}`,
      // The kubernetes Service endpoint cannot point at loopback; only pods on a node need it.
      ...(node === undefined ? ['--endpoint-reconciler-type=none'] : []),
      ...admissionArgs,
      ...(options.extraApiserverArgs ?? []),
      '--v=0',
    ];
    const server = `https://${node?.address ?? '127.0.0.1'}:${apiPort}`;
    let apiserver = startProcess(
      options.binaries.kubeApiserver,
      apiserverArgs,
      join(workDir, 'kube-apiserver.log'),
    );
    processes.push(apiserver);
    const readyTimeoutMs = options.readyTimeoutMs ?? 120_000;
    await waitReady(server, adminToken, readyTimeoutMs, workDir, apiserver, options.signal);
    const caCert = await readFile(join(workDir, 'certs', 'apiserver.crt'), 'utf8');
    const kubeconfig = join(workDir, 'admin.kubeconfig');

    const cluster: LocalCluster = {
      server,
      caCert,
      adminToken,
      userToken,
      tokens,
      workDir,
      kubeconfig,
      async writeKubeconfig(path, token, user = 'user') {
        await writeFile(path, renderKubeconfig(server, caCert, token, user), { mode: 0o600 });
      },
      apiserverOutput() {
        return Buffer.concat(output.get(apiserver) ?? []).toString();
      },
      async restartApiserver() {
        await stopProcess(apiserver);
        apiserver = startProcess(
          options.binaries.kubeApiserver,
          apiserverArgs,
          join(workDir, 'kube-apiserver.log'),
        );
        processes.push(apiserver);
        await waitReady(server, adminToken, readyTimeoutMs, workDir, apiserver);
      },
      async stop() {
        await stopAll();
        await rm(workDir, { recursive: true, force: true });
      },
    };
    await cluster.writeKubeconfig(kubeconfig, adminToken, 'admin');
    return cluster;
  } catch (err) {
    await stopAll();
    throw err;
  }
}

export function renderKubeconfig(
  server: string,
  caCert: string,
  token: string,
  user: string,
): string {
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'local',
          cluster: { server, 'certificate-authority-data': Buffer.from(caCert).toString('base64') },
        },
      ],
      users: [{ name: user, user: { token } }],
      contexts: [{ name: 'local', context: { cluster: 'local', user } }],
      'current-context': 'local',
    },
    null,
    2,
  );
}

/**
 * The etcd and kube-apiserver processes still running. When this process exits before it stopped
 * them (process.exit on a deadline, an uncaught error), they are killed on the way out rather than
 * left running without their parent; a signal's default action (no handler) skips this.
 */
const running = new Set<ChildProcess>();
/** Each running process's output so far. */
const output = new WeakMap<ChildProcess, Buffer[]>();
let killOnExitInstalled = false;

function killRunningOnExit(): void {
  for (const child of running) child.kill('SIGKILL');
}

function startProcess(binary: string, args: readonly string[], logFile: string): ChildProcess {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: false });
  running.add(child);
  if (!killOnExitInstalled) {
    process.on('exit', killRunningOnExit);
    killOnExitInstalled = true;
  }
  const chunks: Buffer[] = [];
  output.set(child, chunks);
  const keep = (d: Buffer): void => {
    chunks.push(d);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.on('exit', () => {
    running.delete(child);
    output.delete(child);
    void writeFile(logFile, Buffer.concat(chunks)).catch(() => undefined);
  });
  return child;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
export async function stopProcess(child: ChildProcess, graceMs = 3_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      resolve();
    }),
  );
  child.kill('SIGTERM');
  // Test and demo clusters hold nothing worth a long graceful shutdown.
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Ports free on 127.0.0.1 now, all different (held open together while they are picked). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => {
            resolve(s);
          });
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(
    servers.map(
      (s) =>
        new Promise<void>((resolve) =>
          s.close(() => {
            resolve();
          }),
        ),
    ),
  );
  return ports;
}

async function waitReady(
  server: string,
  token: string,
  timeoutMs: number,
  workDir: string,
  child: ChildProcess,
  signal?: AbortSignal,
): Promise<void> {
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
  const deadline = Date.now() + timeoutMs;
  let last = '';
  try {
    while (Date.now() < deadline) {
      signal?.throwIfAborted();
      if (child.exitCode !== null || child.signalCode !== null) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        const log = await readFile(join(workDir, 'kube-apiserver.log'), 'utf8').catch(() => '');
        const failure = log
          .split('\n')
          .filter((l) => l.startsWith('E'))
          .slice(-3)
          .join('\n');
        throw new Error(
          `kube-apiserver exited (${String(child.exitCode ?? child.signalCode)}) before it was ready:\n${failure || log.slice(-2000)}`,
        );
      }
      try {
        const res = await request(`${server}/readyz`, {
          dispatcher,
          headers: { authorization: `Bearer ${token}` },
          signal:
            signal === undefined
              ? AbortSignal.timeout(5000)
              : AbortSignal.any([signal, AbortSignal.timeout(5000)]),
        });
        last = `${res.statusCode} ${await res.body.text()}`;
        if (res.statusCode === 200) return;
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(250, undefined, signal === undefined ? {} : { signal });
    }
  } finally {
    await dispatcher.close();
  }
  throw new Error(
    `kube-apiserver at ${server} was not ready after ${timeoutMs} ms (last: ${last.slice(0, 500)}); logs in ${workDir}`,
  );
}
