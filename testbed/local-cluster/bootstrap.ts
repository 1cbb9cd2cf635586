import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { LocalCluster } from './cluster.js';

/** The namespaces OpenShift has and this service reads or writes. */
export const OPENSHIFT_NAMESPACES = [
  'openshift-config',
  'openshift-config-managed',
  'openshift-cluster-version',
  'cvo-update-verifier',
] as const;

/**
 * Which ClusterVersion CRD and optional APIs a local cluster gets, as OpenShift's feature sets
 * install them (the CRDs' `release.openshift.io/feature-set` annotation).
 *
 * - `TechPreviewNoUpgrade`: its ClusterVersion, which adds spec.signatureStores (honoured by this
 *   service), and every CRD the service reads.
 * - `Default`: the Default ClusterVersion (no spec.signatureStores: the field is pruned) and no
 *   ClusterImagePolicy or ImagePolicy CRD, as every cluster without TechPreviewNoUpgrade had
 *   before those APIs went GA. The mirror-set CRDs, GA for long, are installed.
 *
 * Both get the cluster Proxy, image configuration and FeatureGate CRDs (written here:
 * {@link OWN_CRD_DIR}).
 */
export type FeatureSet = 'Default' | 'TechPreviewNoUpgrade';

/** A CRD file and the name `kubectl wait` waits for. */
export interface CrdFile {
  readonly file: string;
  readonly name: string;
  /** In {@link OWN_CRD_DIR} (written for this project), not in the openshift/api fixtures. */
  readonly own?: boolean;
}

/**
 * CRDs written for the local control plane (testbed/local-cluster/crds): the fields of
 * config.openshift.io APIs every OpenShift cluster has but ../shared/fixtures does not carry.
 */
export const OWN_CRD_DIR = join(dirname(fileURLToPath(import.meta.url)), 'crds');

/**
 * The CRD files applied to the local cluster for `featureSet`. They are the real ones from
 * github.com/openshift/api; the Go module proxy does not serve that module at a recent commit, so
 * they are read from ../shared/fixtures/openshift-api (commit in its SOURCE file).
 */
export function crdFiles(featureSet: FeatureSet): readonly CrdFile[] {
  const mirrorSets: CrdFile[] = [
    {
      file: '0000_10_config-operator_01_imagedigestmirrorsets.crd.yaml',
      name: 'imagedigestmirrorsets.config.openshift.io',
    },
    {
      file: '0000_10_config-operator_01_imagecontentsourcepolicies.crd.yaml',
      name: 'imagecontentsourcepolicies.operator.openshift.io',
    },
  ];
  // Every cluster has these: the cluster Proxy, image configuration and FeatureGate.
  const clusterConfig: CrdFile[] = [
    { file: 'proxies.config.openshift.io.yaml', name: 'proxies.config.openshift.io', own: true },
    { file: 'images.config.openshift.io.yaml', name: 'images.config.openshift.io', own: true },
    {
      file: 'featuregates.config.openshift.io.yaml',
      name: 'featuregates.config.openshift.io',
      own: true,
    },
  ];
  const clusterVersion: CrdFile = {
    file: `0000_00_cluster-version-operator_01_clusterversions-${featureSet}.crd.yaml`,
    name: 'clusterversions.config.openshift.io',
  };
  switch (featureSet) {
    case 'Default':
      return [clusterVersion, ...mirrorSets, ...clusterConfig];
    case 'TechPreviewNoUpgrade':
      return [
        clusterVersion,
        {
          file: '0000_10_config-operator_01_clusterimagepolicies.crd.yaml',
          name: 'clusterimagepolicies.config.openshift.io',
        },
        {
          file: '0000_10_config-operator_01_imagepolicies.crd.yaml',
          name: 'imagepolicies.config.openshift.io',
        },
        ...mirrorSets,
        ...clusterConfig,
      ];
    default: {
      const never: never = featureSet;
      throw new Error(`unknown feature set ${String(never)}`);
    }
  }
}

/** Runs kubectl as the cluster's admin; `signal` kills it. */
export function kubectl(
  cluster: LocalCluster,
  binary: string,
  args: readonly string[],
  input?: string,
  signal?: AbortSignal,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      binary,
      ['--kubeconfig', cluster.kubeconfig, ...args],
      { maxBuffer: 32 * 1024 * 1024, ...(signal === undefined ? {} : { signal }) },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`kubectl ${args.join(' ')} failed: ${stderr || err.message}`));
        else resolve(stdout);
      },
    );
    child.stdin?.end(input);
  });
}

/**
 * Applies the OpenShift CRDs of `featureSet` (default TechPreviewNoUpgrade) and the namespaces,
 * and waits until the CRDs are Established.
 */
export async function bootstrapOpenShiftApi(
  cluster: LocalCluster,
  kubectlBinary: string,
  crdDir: string,
  options: { readonly featureSet?: FeatureSet; readonly signal?: AbortSignal } = {},
): Promise<void> {
  const { signal } = options;
  const crds = crdFiles(options.featureSet ?? 'TechPreviewNoUpgrade');
  const files = crds.map((c) => join(c.own === true ? OWN_CRD_DIR : crdDir, c.file));
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length > 0) {
    throw new Error(
      `the OpenShift CRDs are missing: ${missing.join(', ')} (expected ../shared/fixtures/openshift-api beside the project)`,
    );
  }
  await kubectl(
    cluster,
    kubectlBinary,
    [
      'apply',
      '--server-side',
      '--field-manager=cvo-update-verifier-bootstrap',
      ...files.flatMap((f) => ['-f', f]),
    ],
    undefined,
    signal,
  );
  await waitEstablished(
    cluster,
    kubectlBinary,
    crds.map((c) => c.name),
    signal,
  );
  const namespaces = OPENSHIFT_NAMESPACES.map((name) =>
    JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }),
  ).join('\n');
  await kubectl(
    cluster,
    kubectlBinary,
    ['apply', '--server-side', '--field-manager=cvo-update-verifier-bootstrap', '-f', '-'],
    namespaces,
    signal,
  );
}

/** Waits until the named CRDs are Established (served). */
export async function waitEstablished(
  cluster: LocalCluster,
  kubectlBinary: string,
  names: readonly string[],
  signal?: AbortSignal,
): Promise<void> {
  await kubectl(
    cluster,
    kubectlBinary,
    ['wait', '--for=condition=Established', '--timeout=60s', ...names.map((name) => `crd/${name}`)],
    undefined,
    signal,
  );
}
