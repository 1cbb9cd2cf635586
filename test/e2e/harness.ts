import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { renderRootOfTrust } from '../../testbed/root-of-trust.js';
import { LocalStoreServer } from '../../testbed/local-store-server.js';
import { toStoreDigestPath } from '../../src/image/pullspec.js';
import type { KubePort } from '../../src/kube/client.js';
import type { ClusterVersion, ConfigMap } from '../../src/kube/types.js';
import { seedClusterVersion } from '../../testbed/local-cluster/openshift.js';
import { startService } from '../../src/main.js';
import { defaultServiceConfig } from '../../src/config/service-config.js';
import type { Service } from '../../src/main.js';
import type { ServiceConfig } from '../../src/config/service-config.js';
import { createJsonLogger } from '../../src/observability/logger.js';
import { atomicPayload, GnuPG } from '../helpers/gnupg.js';
import type { GpgKey } from '../helpers/gnupg.js';
import type { TestCluster } from '../helpers/local-cluster.js';

export const REPO = 'quay.io/openshift-release-dev/ocp-release';
export const CURRENT = { version: '4.16.0', image: `${REPO}@sha256:${'1'.repeat(64)}` };

/** A release key, a signature store on 127.0.0.1 and the root-of-trust ConfigMap in the cluster. */
export class ReleaseSigner {
  readonly gpg: GnuPG;
  readonly key: GpgKey;
  readonly store: LocalStoreServer;
  private readonly dir: string;

  private constructor(gpg: GnuPG, key: GpgKey, store: LocalStoreServer, dir: string) {
    this.gpg = gpg;
    this.key = key;
    this.store = store;
    this.dir = dir;
  }

  /** `host`: the address the store listens on (default 127.0.0.1; the host's for pods). */
  static async create(host?: string): Promise<ReleaseSigner> {
    const gpg = await GnuPG.create();
    const key = await gpg.generateKey('E2E Release <e2e@example.com>', 'nistp256');
    const dir = await mkdtemp(join(tmpdir(), 'cvo-e2e-store-'));
    const store = await LocalStoreServer.start(dir, host);
    return new ReleaseSigner(gpg, key, store, dir);
  }

  async rootOfTrust(): Promise<ConfigMap> {
    const yaml = renderRootOfTrust(
      (await this.gpg.exportPublicKey(this.key)).toString(),
      this.store.url,
      'e2e',
    );
    const { load } = await import('js-yaml');
    return load(yaml) as ConfigMap;
  }

  async sign(digest: string, identity = `${REPO}:4.17.0-x86_64`): Promise<Buffer> {
    return this.gpg.sign(atomicPayload(digest, identity), { key: `${this.key.fingerprint}!` });
  }

  async publish(digest: string): Promise<void> {
    const dir = join(this.dir, toStoreDigestPath(digest));
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'signature-1'), await this.sign(digest));
  }

  async close(): Promise<void> {
    await this.store.close();
    await this.gpg.cleanup();
    await rm(this.dir, { recursive: true, force: true });
  }
}

export async function installRootOfTrust(admin: KubePort, signer: ReleaseSigner): Promise<void> {
  const cm = await signer.rootOfTrust();
  const existing = await admin.getConfigMap('openshift-config-managed', 'release-verification');
  if (existing)
    await admin.replaceConfigMap('openshift-config-managed', {
      ...cm,
      metadata: { ...cm.metadata, resourceVersion: existing.metadata.resourceVersion ?? '' },
    });
  else await admin.createConfigMap('openshift-config-managed', cm);
}

export async function seed(
  tc: TestCluster,
  availableUpdates: { version: string; image: string }[] = [],
): Promise<ClusterVersion> {
  return seedClusterVersion(tc.cluster, tc.binaries.kubectl, tc.admin, {
    current: CURRENT,
    availableUpdates,
  });
}

export function serviceConfig(
  kubeconfig: string,
  overrides: Partial<ServiceConfig> = {},
): ServiceConfig {
  const base = defaultServiceConfig({ kubeconfig });
  return {
    ...base,
    recheckBaseMs: 300,
    recheckMaxMs: 2000,
    budgetMs: 10_000,
    requestTimeoutMs: 2000,
    // Most suites sign made-up digests of quay.io's repository: there is no payload to read, so
    // the release-metadata read fails and `warn` accepts them. Suites with real releases in a
    // registry (payload-controller, disconnected) set `enforce`, the default.
    releaseMetadata: 'warn',
    ...overrides,
    leaderElection: { ...base.leaderElection, enabled: false, ...(overrides.leaderElection ?? {}) },
  };
}

export async function runService(
  kubeconfig: string,
  overrides: Partial<ServiceConfig> = {},
  logs: string[] = [],
): Promise<Service> {
  return startService(
    serviceConfig(kubeconfig, overrides),
    createJsonLogger((line) => logs.push(line)),
  );
}

/** Edits spec.desiredUpdate as `oc adm upgrade` does: a merge patch. */
export async function requestUpdate(
  tc: TestCluster,
  update: Record<string, unknown> | null,
): Promise<void> {
  await tc.kubectl([
    'patch',
    'clusterversion',
    'version',
    '--type=merge',
    '-p',
    JSON.stringify({ spec: { desiredUpdate: update } }),
  ]);
}

/** Polls until `predicate` holds for the ClusterVersion, or fails with the last status seen. */
export async function waitFor(
  admin: KubePort,
  predicate: (cv: ClusterVersion) => boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<ClusterVersion> {
  const deadline = Date.now() + timeoutMs;
  let last: ClusterVersion | undefined;
  while (Date.now() < deadline) {
    last = await admin.getClusterVersion('version');
    if (predicate(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(
    `timed out waiting for ${what}; last status: ${JSON.stringify(last?.status, null, 2)}`,
  );
}

export function condition(
  cv: ClusterVersion,
  type: string,
): { status: string; reason?: string; message?: string } | undefined {
  return cv.status?.conditions?.find((c) => c.type === type);
}

export interface EventRecord {
  type: string;
  reason: string;
  message: string;
}

/**
 * Events with `reason`, waiting up to 10 s until one matches `match` (or any exists): the service
 * records Events just after its status write, so a test that has seen the status must wait.
 */
export async function events(
  tc: TestCluster,
  reason: string,
  match: (e: EventRecord) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<EventRecord[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const out = JSON.parse(
      await tc.kubectl(['get', 'events', '-n', 'openshift-cluster-version', '-o', 'json']),
    ) as { items: EventRecord[] };
    const found = out.items.filter((e) => e.reason === reason);
    if (found.some(match) || Date.now() > deadline) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Polls `check` until it holds (log lines are written just after the status they describe). */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export function digestOf(n: number): string {
  return `sha256:${n.toString(16).padStart(64, 'a')}`;
}
