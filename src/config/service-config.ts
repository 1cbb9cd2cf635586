import { hostname } from 'node:os';

import { DEFAULT_RECONCILE_BUDGET_MS } from '../controller/controller.js';
import type { WebhookVerifyMode } from '../http/admission.js';
import type { KubeConfigOptions } from '../kube/client.js';
import type { TrustLocations } from '../trust/cluster-inputs.js';

// The service's configuration and every default, in one place: `serve`'s flags (src/cli/serve.ts)
// start from these values and print them in their help; the composition root (src/main.ts) reads
// only what it is given.

/**
 * Who owns ClusterVersion status. `gate` (the default): this service writes the CVO's own fields
 * (ReleaseAccepted, history, desired) and is the one gate, for clusters whose CVO is scaled down.
 * `companion`: beside a running CVO; it never writes a field the CVO owns, records its verdicts
 * in its own conditions (`UpdateVerifier…`) and its own record, and gates through the admission
 * webhook in enforce mode.
 */
export type ServiceMode = 'gate' | 'companion';

/** Everything `cvo-verifier serve` can be told; defaults match OpenShift's names. */
export interface ServiceConfig {
  readonly kube: KubeConfigOptions;
  readonly mode: ServiceMode;
  readonly clusterVersionName: string;
  readonly rootOfTrust: { readonly namespace: string; readonly name: string };
  readonly signatureNamespace: string;
  readonly caNamespace: string;
  /** Cluster-wide extra CA bundle every signature store trusts (the CVO's trusted-ca-bundle). */
  readonly trustedCaBundle: TrustLocations['trustedCaBundle'];
  readonly eventNamespace: string;
  readonly signatureCacheName: string;
  /** Where the leader publishes verdict evidence and re-check times (`cvo-verifier status`). */
  readonly stateConfigMap: { readonly namespace: string; readonly name: string };
  readonly leaderElection: {
    readonly enabled: boolean;
    readonly namespace: string;
    readonly name: string;
    readonly identity: string;
    readonly leaseDurationMs: number;
    readonly renewIntervalMs: number;
    readonly retryIntervalMs: number;
  };
  /**
   * Bounds one GPG verification (all stores, all signatures), the read of the running release's
   * payload for its root of trust, and the whole of one verify-API request. Sigstore checks in a
   * reconcile run under {@link reconcileBudgetMs}; the webhook under its own budget.
   */
  readonly budgetMs: number;
  /**
   * Bounds one reconcile's verification, the whole-payload check of a requested update included;
   * the controller aborts it when it stops leading.
   */
  readonly reconcileBudgetMs: number;
  readonly requestTimeoutMs: number;
  readonly recheckBaseMs: number;
  readonly recheckMaxMs: number;
  readonly proxy: {
    readonly httpProxy?: string;
    readonly httpsProxy?: string;
    readonly noProxy?: string;
  };
  /** Registries that may be reached over plain HTTP for Sigstore checks (loopback always may). */
  readonly insecureRegistries: readonly string[];
  /** Whole-payload verification before an update is accepted (default warn). */
  readonly payloadVerification: 'off' | 'warn' | 'enforce';
  /**
   * An accepted update whose release-metadata cannot be read: `enforce` (default) refuses it as
   * the CVO refuses a payload it cannot retrieve or load; `warn` accepts it with a Warning Event.
   */
  readonly releaseMetadata: 'enforce' | 'warn';
  /** Take the GPG root of trust from the running release's payload instead of `rootOfTrust`. */
  readonly rootOfTrustFromPayload: boolean;
  /** HTTP surface; absent in tests and walkthroughs that do not need it. */
  readonly http?: HttpConfig;
}

export interface HttpConfig {
  readonly bindAddress: string;
  /** Plain HTTP: /healthz, /readyz, /metrics. 0 picks a free port. */
  readonly healthPort: number;
  /** HTTPS: the admission webhook and the verify API; started only with TLS files. */
  readonly webhookPort: number;
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  /**
   * Client-certificate authentication on the whole webhook port (webhook and verify API): a
   * client without a certificate chained to `caFile` fails the TLS handshake; with `names`, one
   * whose CN or DNS SANs name none of them gets 403. Needs `tls`.
   */
  readonly clientAuth?: { readonly caFile: string; readonly names?: readonly string[] };
  readonly verifyApi: boolean;
  readonly webhookVerifyMode: WebhookVerifyMode;
  /** Verification budget inside the API server's webhook timeout (10 s by default there). */
  readonly webhookBudgetMs: number;
  /** How often the TLS files are re-read (default 10 s). */
  readonly tlsReloadIntervalMs?: number;
  /**
   * After SIGTERM, how long the servers keep answering (not ready, no longer leading) before
   * they close: the time kube-proxy takes to remove the terminating Pod from the Service's
   * endpoints. `serve` passes it to `Service.stop()`; 0 closes them at once.
   */
  readonly shutdownDelayMs?: number;
}

export function defaultServiceConfig(kube: KubeConfigOptions): ServiceConfig {
  return {
    kube,
    mode: 'gate',
    clusterVersionName: 'version',
    rootOfTrust: { namespace: 'openshift-config-managed', name: 'release-verification' },
    signatureNamespace: 'openshift-config-managed',
    caNamespace: 'openshift-config',
    trustedCaBundle: {
      namespace: 'openshift-config-managed',
      name: 'trusted-ca-bundle',
      key: 'ca-bundle.crt',
    },
    eventNamespace: 'openshift-cluster-version',
    // library-go pkg/verify/store/configmap (configmap.go:141), the ConfigMap the CVO persists
    // the signatures it verified to.
    signatureCacheName: 'signatures-managed',
    stateConfigMap: { namespace: 'cvo-update-verifier', name: 'cvo-update-verifier-state' },
    leaderElection: {
      enabled: true,
      namespace: 'cvo-update-verifier',
      name: 'cvo-update-verifier-leader',
      identity: `${hostname()}-${process.pid}`,
      leaseDurationMs: 15_000,
      renewIntervalMs: 5_000,
      retryIntervalMs: 2_000,
    },
    budgetMs: 30_000,
    reconcileBudgetMs: DEFAULT_RECONCILE_BUDGET_MS,
    requestTimeoutMs: 10_000,
    recheckBaseMs: 30_000,
    recheckMaxMs: 60 * 60_000,
    proxy: {},
    insecureRegistries: [],
    payloadVerification: 'warn',
    releaseMetadata: 'enforce',
    rootOfTrustFromPayload: false,
  };
}

/** The HTTP surface's defaults; `serve` starts from these. */
export const DEFAULT_HTTP = {
  bindAddress: '0.0.0.0',
  healthPort: 8081,
  webhookPort: 8443,
  verifyApi: false,
  webhookVerifyMode: 'off',
  /** Inside the API server's default 10 s webhook timeout. */
  webhookBudgetMs: 8_000,
  /** A second or two for kube-proxy to remove the endpoint, with room to spare. */
  shutdownDelayMs: 5_000,
} as const satisfies Omit<HttpConfig, 'tls' | 'clientAuth' | 'tlsReloadIntervalMs'>;

/**
 * The longest --shutdown-delay: the drain, the Lease release and the closing must all fit in
 * serve's 30 s shutdown deadline (src/cli/process.ts) and the Pod's 30 s
 * terminationGracePeriodSeconds (manifests/20-deployment.yaml), after which the process is killed
 * mid-way.
 */
export const MAX_SHUTDOWN_DELAY_MS = 20_000;
