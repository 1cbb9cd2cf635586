import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import type { LocalCluster } from './cluster.js';

/** The namespaces OpenShift has and this service reads or writes. */
export const OPENSHIFT_NAMESPACES = [
  'openshift-config',
  'openshift-config-managed',
  'openshift-cluster-version',
  'cvo-update-verifier',
] as const;

/**
 * The CRD files applied to the local cluster. They are the real ones from github.com/openshift/api;
 * the Go module proxy does not serve that module at a recent commit, so they are read from
 * ../shared/fixtures/openshift-api (commit in its SOURCE file). TechPreviewNoUpgrade's
 * ClusterVersion adds spec.signatureStores, which this service honours.
 */
export const CRD_FILES = [
  '0000_00_cluster-version-operator_01_clusterversions-TechPreviewNoUpgrade.crd.yaml',
  '0000_10_config-operator_01_clusterimagepolicies.crd.yaml',
  '0000_10_config-operator_01_imagepolicies.crd.yaml',
  '0000_10_config-operator_01_imagedigestmirrorsets.crd.yaml',
  '0000_10_config-operator_01_imagecontentsourcepolicies.crd.yaml',
] as const;

export function kubectl(
  cluster: LocalCluster,
  binary: string,
  args: readonly string[],
  input?: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      binary,
      ['--kubeconfig', cluster.kubeconfig, ...args],
      { maxBuffer: 32 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`kubectl ${args.join(' ')} failed: ${stderr || err.message}`));
        else resolve(stdout);
      },
    );
    child.stdin?.end(input);
  });
}

/** Applies the OpenShift CRDs and namespaces, and waits until the CRDs are Established. */
export async function bootstrapOpenShiftApi(
  cluster: LocalCluster,
  kubectlBinary: string,
  crdDir: string,
): Promise<void> {
  const files = CRD_FILES.map((f) => join(crdDir, f));
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length > 0) {
    throw new Error(
      `the OpenShift CRDs are missing: ${missing.join(', ')} (expected ../shared/fixtures/openshift-api beside the project)`,
    );
  }
  await kubectl(cluster, kubectlBinary, [
    'apply',
    '--server-side',
    '--field-manager=cvo-update-verifier-bootstrap',
    ...files.flatMap((f) => ['-f', f]),
  ]);
  await kubectl(cluster, kubectlBinary, [
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd/clusterversions.config.openshift.io',
    'crd/clusterimagepolicies.config.openshift.io',
    'crd/imagepolicies.config.openshift.io',
    'crd/imagedigestmirrorsets.config.openshift.io',
    'crd/imagecontentsourcepolicies.operator.openshift.io',
  ]);
  const namespaces = OPENSHIFT_NAMESPACES.map((name) =>
    JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }),
  ).join('\n');
  await kubectl(
    cluster,
    kubectlBinary,
    ['apply', '--server-side', '--field-manager=cvo-update-verifier-bootstrap', '-f', '-'],
    namespaces,
  );
}
