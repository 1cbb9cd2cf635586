/**
 * The parts of Kubernetes and OpenShift objects this service reads and writes, typed after the
 * CRDs (config.openshift.io/v1 ClusterVersion) and core/v1. Unknown fields are preserved because
 * objects are always modified from what the API server returned.
 */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  resourceVersion?: string;
  generation?: number;
  uid?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp?: string;
  [key: string]: unknown;
}

export interface Release {
  version?: string;
  image?: string;
  url?: string;
  channels?: string[];
  architecture?: string;
}

export interface Update {
  version?: string;
  image?: string;
  force?: boolean;
  architecture?: string;
  [key: string]: unknown;
}

export interface SignatureStoreSpec {
  url: string;
  ca?: { name: string };
}

export interface UpdateHistory {
  state: 'Partial' | 'Completed';
  startedTime: string;
  completionTime: string | null;
  version?: string;
  image: string;
  verified: boolean;
  acceptedRisks?: string;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  lastTransitionTime: string;
  reason?: string;
  message?: string;
}

export interface ClusterVersionStatus {
  desired: Release;
  history?: UpdateHistory[];
  observedGeneration: number;
  versionHash: string;
  conditions?: Condition[];
  availableUpdates: Release[] | null;
  conditionalUpdates?: { release: Release; [key: string]: unknown }[];
  [key: string]: unknown;
}

export interface ClusterVersion {
  apiVersion: 'config.openshift.io/v1';
  kind: 'ClusterVersion';
  metadata: ObjectMeta;
  spec: {
    clusterID: string;
    channel?: string;
    desiredUpdate?: Update;
    signatureStores?: SignatureStoreSpec[];
    [key: string]: unknown;
  };
  status?: ClusterVersionStatus;
}

export interface ConfigMap {
  apiVersion?: 'v1';
  kind?: 'ConfigMap';
  metadata: ObjectMeta;
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}

/** core/v1 Event, as this service writes it. */
export interface KubeEvent {
  metadata: ObjectMeta;
  involvedObject: {
    apiVersion: string;
    kind: string;
    name: string;
    namespace?: string;
    uid?: string;
  };
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  source: { component: string };
  firstTimestamp: string;
  lastTimestamp: string;
  count: number;
}

/** coordination.k8s.io/v1 Lease. Times are RFC 3339 with microseconds (MicroTime). */
export interface Lease {
  apiVersion?: 'coordination.k8s.io/v1';
  kind?: 'Lease';
  metadata: ObjectMeta;
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}
