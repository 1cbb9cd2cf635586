import { randomUUID } from 'node:crypto';

import type { KubePort } from '../../src/kube/client.js';
import type { ClusterVersion, Release } from '../../src/kube/types.js';
import { kubectl } from './bootstrap.js';
import type { LocalCluster } from './cluster.js';

export interface SeedClusterVersionOptions {
  readonly current: Release & { image: string; version: string };
  readonly availableUpdates?: Release[];
  readonly completedAt?: string;
}

/**
 * Creates the ClusterVersion `version` as an installed cluster has it: the current release
 * Completed in history, and the updates on offer. (On OpenShift the CVO writes this status.)
 */
export async function seedClusterVersion(
  cluster: LocalCluster,
  kubectlBinary: string,
  kube: KubePort,
  options: SeedClusterVersionOptions,
): Promise<ClusterVersion> {
  const cv = {
    apiVersion: 'config.openshift.io/v1',
    kind: 'ClusterVersion',
    metadata: { name: 'version' },
    spec: { clusterID: randomUUID(), channel: 'stable-4.17' },
  };
  await kubectl(cluster, kubectlBinary, ['create', '-f', '-'], JSON.stringify(cv));
  const created = await kube.getClusterVersion('version');
  const at =
    options.completedAt ?? new Date(Date.now() - 3600_000).toISOString().replace(/\.\d+Z$/, 'Z');
  return kube.replaceClusterVersionStatus({
    ...created,
    status: {
      desired: options.current,
      history: [
        {
          state: 'Completed',
          startedTime: at,
          completionTime: at,
          version: options.current.version,
          image: options.current.image,
          verified: true,
        },
      ],
      observedGeneration: created.metadata.generation ?? 1,
      versionHash: 'seeded',
      availableUpdates: options.availableUpdates ?? null,
      conditions: [],
    },
  });
}
