import { join } from 'node:path';

import { createKubePort, loadKubeConfig } from '../../src/kube/client.js';
import type { KubePort } from '../../src/kube/client.js';
import { ensureControlPlaneBinaries } from '../../testbed/local-cluster/binaries.js';
import type { ControlPlaneBinaries } from '../../testbed/local-cluster/binaries.js';
import { bootstrapOpenShiftApi, kubectl } from '../../testbed/local-cluster/bootstrap.js';
import { startLocalCluster } from '../../testbed/local-cluster/cluster.js';
import type {
  LocalCluster,
  WebhookClientCertificate,
} from '../../testbed/local-cluster/cluster.js';
import { repoRoot, sharedFixture } from './fixtures.js';

export interface TestCluster {
  readonly cluster: LocalCluster;
  readonly binaries: ControlPlaneBinaries;
  readonly admin: KubePort;
  kubectl(args: readonly string[], input?: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * A real etcd + kube-apiserver with the OpenShift CRDs, for one test file. The binaries are built
 * from control-plane/ on first use and cached in .cache/control-plane. Needs
 * ../shared/fixtures/openshift-api (the CRDs): absent, the caller's test fails under CI and is
 * skipped elsewhere, like every test that reads shared fixtures.
 */
export async function startTestCluster(
  options: {
    extraApiserverArgs?: readonly string[];
    webhookClientCertificate?: WebhookClientCertificate;
  } = {},
): Promise<TestCluster | { skip: string }> {
  const crds = sharedFixture('openshift-api');
  if ('skip' in crds) return crds;
  const progress = (line: string): void => {
    process.stderr.write(`[control-plane] ${line}\n`);
  };
  const binaries = await ensureControlPlaneBinaries({
    moduleDir: join(repoRoot, 'control-plane'),
    cacheDir: join(repoRoot, '.cache', 'control-plane'),
    progress,
    env: process.env,
  });
  const cluster = await startLocalCluster({
    binaries,
    progress,
    ...(options.extraApiserverArgs !== undefined
      ? { extraApiserverArgs: options.extraApiserverArgs }
      : {}),
    ...(options.webhookClientCertificate !== undefined
      ? { webhookClientCertificate: options.webhookClientCertificate }
      : {}),
  });
  try {
    await bootstrapOpenShiftApi(cluster, binaries.kubectl, crds.path);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  const admin = createKubePort(loadKubeConfig({ kubeconfig: cluster.kubeconfig }));
  return {
    cluster,
    binaries,
    admin,
    kubectl: (args, input) => kubectl(cluster, binaries.kubectl, args, input),
    stop: () => cluster.stop(),
  };
}
