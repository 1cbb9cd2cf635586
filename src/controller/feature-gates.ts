/**
 * The cluster feature gates that change what the CVO does with spec.desiredUpdate, read from the
 * FeatureGate `cluster` (config.openshift.io/v1) status as the CVO reads them
 * (pkg/featuregates/featuregates.go CvoGatesFromFeatureGate): the entry for the cluster's version,
 * enabled then disabled; none for that version (or no FeatureGate) is the defaults, all off.
 */

/** openshift/api features.FeatureGateClusterUpdateAcceptRisks. */
export const ACCEPT_RISKS_GATE = 'ClusterUpdateAcceptRisks';
/** openshift/api features.FeatureGateImageStreamImportMode: the CVO's statusReleaseArchitecture. */
export const STATUS_RELEASE_ARCHITECTURE_GATE = 'ImageStreamImportMode';

export interface CvoGates {
  /** spec.desiredUpdate.acceptRisks is reconciled (validation allows it). */
  readonly acceptRisks: boolean;
  /** status.desired.architecture is filled from the payload and the available updates. */
  readonly statusReleaseArchitecture: boolean;
  /** The FeatureGate had an entry for the version asked for. */
  readonly known: boolean;
}

export const DEFAULT_CVO_GATES: CvoGates = {
  acceptRisks: false,
  statusReleaseArchitecture: false,
  known: false,
};

/** The CVO's gates in `featureGate` (as the API server returns it) for `version`. */
export function cvoGatesFromFeatureGate(featureGate: unknown, version: string): CvoGates {
  let gates: { acceptRisks: boolean; statusReleaseArchitecture: boolean; known: boolean } = {
    ...DEFAULT_CVO_GATES,
  };
  const entries = (featureGate as { status?: { featureGates?: unknown } } | null | undefined)
    ?.status?.featureGates;
  if (!Array.isArray(entries)) return gates;
  for (const entry of entries as unknown[]) {
    if (typeof entry !== 'object' || entry === null) continue;
    const { version: entryVersion, enabled, disabled } = entry as Record<string, unknown>;
    if (entryVersion !== version) continue;
    gates = { ...gates, known: true };
    for (const name of names(enabled)) gates = set(gates, name, true);
    for (const name of names(disabled)) gates = set(gates, name, false);
  }
  return gates;
}

function names(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return (list as unknown[]).flatMap((item) => {
    const name = (item as { name?: unknown } | null)?.name;
    return typeof name === 'string' ? [name] : [];
  });
}

function set<T extends CvoGates>(gates: T, name: string, on: boolean): T {
  if (name === ACCEPT_RISKS_GATE) return { ...gates, acceptRisks: on };
  if (name === STATUS_RELEASE_ARCHITECTURE_GATE) return { ...gates, statusReleaseArchitecture: on };
  return gates;
}
