import { createHash } from 'node:crypto';

import type { Dispatcher } from 'undici';

import { VerifyError } from '../errors.js';
import type { RootOfTrust } from '../gpg/root-of-trust.js';
import {
  describeConfigMap,
  findInText,
  rootOfTrustFromData,
  VERIFICATION_CONFIG_MAP_ANNOTATION,
} from '../gpg/root-of-trust.js';
import { readReleasePayload } from '../payload/release-image.js';
import { parseReleasePullspec } from '../image/pullspec.js';
import type { KubePort } from '../kube/client.js';
import type { ClusterVersion } from '../kube/types.js';
import { ConfigMapSignatureStore, SIGNATURE_CONFIGMAP_LABEL } from '../stores/configmap-store.js';
import { createStoreFromUrl } from '../stores/create-store.js';
import { createHttpDispatcher, redactUrl } from '../stores/http-store.js';
import type { HttpClientOptions } from '../stores/http-store.js';
import type { SignatureStore } from '../stores/store.js';
import { GpgReleaseVerifier } from '../verify/gpg-verifier.js';
import type { GpgResult } from '../verify/gpg-verifier.js';
import { validatePolicyObject } from '../policy/validate.js';
import type { PolicyObject } from '../policy/types.js';
import type { RegistryClient } from '../registry/client.js';
import { verifyRelease } from '../verify/release-verifier.js';
import type { SigstoreConfig } from '../verify/sigstore-checks.js';
import { LruCache } from '../verify/verdict-cache.js';
import type { ServiceMetrics } from '../observability/metrics.js';
import { isPayloadError } from '../payload/errors.js';
import { parseMirrorConfig } from '../mirrors/mirrors.js';
import type { MirrorRule } from '../mirrors/mirrors.js';
import { checkReleasePayload } from '../payload/payload-check.js';
import type { Logger } from '../observability/logger.js';
import type { PayloadOutcome } from '../payload/payload-check.js';
import { createComponentCache } from '../payload/payload-verifier.js';
import { toConditionReason } from './reasons.js';
import type { VerificationOutcome } from './reconcile.js';

export interface ClusterTrustOptions {
  readonly kube: KubePort;
  /** Where problems that do not fail a verification are reported. */
  readonly logger?: Logger;
  /** The root-of-trust ConfigMap (default openshift-config-managed/release-verification). */
  readonly rootOfTrust: { readonly namespace: string; readonly name: string };
  /** Where signature ConfigMaps live (openshift-config-managed). */
  readonly signatureNamespace: string;
  /** Namespace of the CA ConfigMaps that spec.signatureStores[].ca names (openshift-config). */
  readonly caNamespace: string;
  /** Cluster-wide extra CA bundle (openshift-config-managed/trusted-ca-bundle, key ca-bundle.crt). */
  readonly trustedCaBundle: {
    readonly namespace: string;
    readonly name: string;
    readonly key: string;
  };
  readonly http: Omit<HttpClientOptions, 'extraCa'>;
  readonly budgetMs: number;
  readonly requestTimeoutMs?: number;
  readonly cache?: LruCache<GpgResult>;
  readonly metrics?: ServiceMetrics;
  /** Registry client for Sigstore checks; without it ClusterImagePolicies are not consulted. */
  readonly registry?: RegistryClient;
  /**
   * Whole-payload verification before an update is accepted (needs `registry`): `enforce`
   * refuses an unforced update whose components would fail, `warn` accepts it with a warning.
   */
  readonly payload?: { readonly mode: PayloadMode; readonly concurrency?: number };
  /**
   * Take the GPG root of trust from the running release's payload (its release-manifests
   * ConfigMap annotated release.openshift.io/verification-config-map), as the cluster-version
   * operator does, instead of the `rootOfTrust` ConfigMap. Never from the target's own payload:
   * a release cannot vouch for itself. Needs `registry`.
   */
  readonly rootOfTrustFromPayload?: boolean;
  /**
   * The architecture of the nodes that pull the release (Node's `process.arch` or a Go name:
   * `x64`/`amd64`, `arm64`, `ppc64`/`ppc64le`, `s390x`); default this process's own, as the CVO
   * takes `runtime.GOARCH`. See {@link nodePlatform}.
   */
  readonly nodeArchitecture?: string;
}

/** Node's `process.arch` names to Go's (`GOARCH`); a Go name maps to itself. */
const GO_ARCH: ReadonlyMap<string, string> = new Map([
  ['x64', 'amd64'],
  ['amd64', 'amd64'],
  ['arm64', 'arm64'],
  // Node reports little-endian POWER as `ppc64`; OpenShift runs only ppc64le.
  ['ppc64', 'ppc64le'],
  ['ppc64le', 'ppc64le'],
  ['s390x', 's390x'],
]);

/**
 * The platform whose manifest-list instance the payload check verifies: what CRI-O on a node of
 * `architecture` asks containers/image for. With no OS/architecture choice set (CRI-O's default
 * configuration; not re-read from CRI-O's source here), containers/image uses its own
 * GOOS/GOARCH and, on ARM, reads the variant from /proc/cpuinfo:
 * an arm64 node asks for `linux/arm64/v8` (which prefers a `v8` entry over a plain `arm64` one);
 * other architectures have no variant. An unknown architecture is passed through, so a list
 * without it fails the check rather than verifying another architecture's instance.
 *
 * The ClusterVersion does not name the nodes' architecture: `status.desired.architecture` and
 * `spec.desiredUpdate.architecture` are only `Multi` or empty. Empty is a single-architecture
 * cluster, whose nodes share the control plane's architecture (the CVO uses its own GOARCH);
 * `Multi` is a manifest-list release from which each node pulls its own instance, and here only
 * this architecture's instance is verified (the control plane's, where the CVO runs).
 */
export function nodePlatform(architecture: string): string {
  const arch = GO_ARCH.get(architecture) ?? architecture;
  return arch === 'arm64' ? 'linux/arm64/v8' : `linux/${arch}`;
}

/** Architectures a cluster runs: a handful; more are ignored (each costs a payload read). */
const MAX_NODE_PLATFORMS = 8;

export type PayloadMode = 'warn' | 'enforce';

/** A payload verdict and the mode it is to be applied in. */
export interface PayloadVerification extends PayloadOutcome {
  readonly mode: PayloadMode;
}

/** The outcome plus the signatures that proved it, for the signature cache. */
export interface ClusterVerification {
  readonly outcome: VerificationOutcome;
  readonly signatures: readonly Uint8Array[];
  readonly digest: string | null;
  /**
   * The payload's verdict, when asked for and it applies: payload verification configured, the
   * cluster has ClusterImagePolicies, and the release verified or its update is forced.
   */
  readonly payload?: PayloadVerification;
}

export interface VerifyCallOptions {
  /** Also verify the release's payload (the reconcile of a requested update; not re-checks). */
  readonly payload?: boolean;
}

/**
 * Builds the CVO's trust from the cluster for every verification, so edits to the root-of-trust
 * ConfigMap, signature ConfigMaps, spec.signatureStores or CA ConfigMaps apply without a restart.
 * Store order (CVO): signature ConfigMaps, then spec.signatureStores when set (they replace the
 * defaults) or else the root of trust's `store-*` URLs.
 */
export class ClusterTrust {
  private readonly options: ClusterTrustOptions;
  private readonly cache: LruCache<GpgResult>;
  private parsed: { key: string; trust: RootOfTrust } | undefined;
  private readonly dispatchers = new Map<string, Dispatcher>();
  private readonly componentCache = createComponentCache();
  /** The manifest-list instance nodes pull: see {@link nodePlatform}. */
  private readonly platform: string;

  constructor(options: ClusterTrustOptions) {
    this.options = options;
    this.platform = nodePlatform(options.nodeArchitecture ?? process.arch);
    this.cache = options.cache ?? new LruCache<GpgResult>();
  }

  async verify(
    image: string,
    cv: ClusterVersion,
    signal?: AbortSignal,
    call: VerifyCallOptions = {},
  ): Promise<ClusterVerification> {
    let verifier: GpgReleaseVerifier;
    const notes: string[] = [];
    try {
      verifier = await this.buildVerifier(cv, notes);
    } catch (err) {
      const e =
        err instanceof VerifyError
          ? err
          : new VerifyError('ROOT_OF_TRUST_INVALID', String(err), { cause: err });
      // A by-tag pullspec is refused with the CVO's words even when trust is misconfigured.
      try {
        const { digest } = parseReleasePullspec(image);
        return {
          outcome: toOutcome(false, e.code, e.message, notes, e.message),
          signatures: [],
          digest,
        };
      } catch (gate) {
        if (!(gate instanceof VerifyError)) throw gate;
        return {
          outcome: toOutcome(false, gate.code, gate.message, [], gate.message),
          signatures: [],
          digest: null,
        };
      }
    }
    const sigstore = await this.sigstoreConfig(notes);
    const verdict = await verifyRelease(
      image,
      { gpg: verifier, ...(sigstore !== undefined ? { sigstore } : {}) },
      signal,
    );
    this.options.metrics?.recordVerification(
      'gpg',
      verdict.verified ? 'verified' : 'refused',
      verdict.verified ? 'Verified' : toConditionReason(verdict.code),
      verdict.durationMs / 1000,
      verdict.cached,
    );
    this.options.metrics?.recordStores(verdict.stores);
    const summary = verdict.verified
      ? verdict.checks
          .map((c) => `${c.kind === 'gpg' ? c.keyring : `policy ${c.policy}`}: ${c.reason}`)
          .join('; ')
      : (verdict.checks.find((c) => !c.verified)?.reason ?? verdict.message);
    const force = cv.spec.desiredUpdate?.force === true;
    const payload =
      call.payload === true && (verdict.verified || force) && verdict.digest !== null
        ? await this.checkPayload(image, sigstore, signal)
        : undefined;
    return {
      outcome: toOutcome(
        verdict.verified,
        verdict.code,
        verdict.message,
        [...notes, ...verdict.details],
        summary,
      ),
      signatures: verdict.verified ? verdict.signatures : [],
      digest: verdict.digest,
      ...(payload !== undefined ? { payload } : {}),
    };
  }

  /** The payload's verdict; none without payload verification or ClusterImagePolicies. */
  private async checkPayload(
    image: string,
    sigstore: SigstoreConfig | undefined,
    signal: AbortSignal | undefined,
  ): Promise<PayloadVerification | undefined> {
    const config = this.options.payload;
    if (config === undefined || sigstore === undefined || sigstore.policies.length === 0) {
      return undefined;
    }
    const mirrors: MirrorRule[] = [];
    for (const item of await this.options.kube.listMirrorSets()) {
      const object = item as {
        apiVersion?: unknown;
        kind?: unknown;
        metadata?: { name?: unknown };
        spec?: unknown;
      };
      const name = typeof object.metadata?.name === 'string' ? object.metadata.name : '';
      // The API server validated them; only what mirror resolution reads is passed on. One it
      // would not have let in is skipped: images are then read from their own repositories,
      // which can only make verification fail, never pass.
      try {
        mirrors.push(
          ...parseMirrorConfig(
            JSON.stringify({
              apiVersion: object.apiVersion,
              kind: object.kind,
              metadata: { name },
              spec: object.spec,
            }),
            `${String(object.kind)}/${name}`,
          ),
        );
      } catch (err) {
        if (!isPayloadError(err)) throw err;
      }
    }
    const budget = signal ?? AbortSignal.timeout(this.options.budgetMs * 10);
    let outcome: PayloadOutcome | undefined;
    // Each node architecture pulls its own instance of a manifest-list release: every one the
    // cluster runs is verified, and the first failure (naming its platform) is the verdict.
    const platforms = await this.nodePlatforms();
    for (const platform of platforms) {
      const one = await checkReleasePayload(parseReleasePullspec(image), {
        client: sigstore.client,
        platform,
        policies: sigstore.policies,
        mirrors,
        cache: this.componentCache,
        ...(config.concurrency !== undefined ? { concurrency: config.concurrency } : {}),
        signal: budget,
      });
      if (!one.verified) {
        outcome = platforms.length > 1 ? { ...one, message: `${platform}: ${one.message}` } : one;
        break;
      }
      outcome ??= one;
    }
    if (outcome === undefined) throw new Error('unreachable: no platform checked');
    this.options.metrics?.recordPayload(outcome);
    return { ...outcome, mode: config.mode };
  }

  /**
   * The platforms whose instances nodes pull: one per distinct Node architecture, read from the
   * cluster every time (nodes come and go); this process's own when the cluster lists no Node
   * or may not be asked (as the CVO, which runs on the control plane, uses its own).
   */
  private async nodePlatforms(): Promise<string[]> {
    let architectures: string[] = [];
    try {
      architectures = await this.options.kube.listNodeArchitectures();
    } catch (err) {
      this.options.logger?.warn('could not list nodes; checking this architecture only', {
        error: err instanceof Error ? err.message : String(err),
      });
    }
    const platforms = [...new Set(architectures.slice(0, MAX_NODE_PLATFORMS).map(nodePlatform))];
    return platforms.length > 0 ? platforms : [this.platform];
  }

  /** The root of trust from the cluster's ConfigMap, parsed again only when it changes. */
  private async configMapTrust(): Promise<RootOfTrust> {
    const { namespace, name } = this.options.rootOfTrust;
    const cm = await this.options.kube.getConfigMap(namespace, name);
    const source = describeConfigMap({ namespace, name });
    if (cm === undefined)
      throw new VerifyError(
        'ROOT_OF_TRUST_NOT_FOUND',
        `${source} was not found: no root of trust to verify releases with`,
      );
    const key = `${cm.metadata.uid ?? ''}/${cm.metadata.resourceVersion ?? ''}`;
    if (this.parsed?.key !== key) {
      this.parsed = { key, trust: await rootOfTrustFromData(source, cm.data ?? {}) };
    }
    return this.parsed.trust;
  }

  /**
   * The root of trust shipped in the running release's payload: the newest Completed history
   * entry's image, read from the registry once per digest.
   */
  private async payloadTrust(cv: ClusterVersion): Promise<RootOfTrust> {
    const running = cv.status?.history?.find((h) => h.state === 'Completed')?.image;
    if (running === undefined) {
      throw new VerifyError(
        'ROOT_OF_TRUST_NOT_FOUND',
        'no Completed release in the ClusterVersion history to take the root of trust from',
      );
    }
    const pullspec = parseReleasePullspec(running);
    const key = `payload:${pullspec.digest}`;
    if (this.parsed?.key === key) return this.parsed.trust;
    const client = this.options.registry;
    if (client === undefined) {
      throw new VerifyError('ROOT_OF_TRUST_NOT_FOUND', 'no registry client to read the payload');
    }
    let manifests: ReadonlyMap<string, Buffer>;
    try {
      const [payload] = await readReleasePayload(client, pullspec, {
        platform: this.platform,
        signal: AbortSignal.timeout(this.options.budgetMs),
      });
      manifests = payload?.manifests ?? new Map<string, Buffer>();
    } catch (err) {
      throw new VerifyError(
        'ROOT_OF_TRUST_NOT_FOUND',
        `the running release ${running} could not be read for its root of trust: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    // As the CVO reads a release's manifests: file name order, the first annotated ConfigMap.
    for (const path of [...manifests.keys()].sort()) {
      const body = manifests.get(path);
      if (body === undefined) continue;
      const cm = findInText(body.toString('utf8'), `${running} ${path}`);
      if (cm === undefined) continue;
      const trust = await rootOfTrustFromData(
        `${describeConfigMap(cm)} in the payload of ${running}`,
        cm.data,
      );
      this.parsed = { key, trust };
      return trust;
    }
    throw new VerifyError(
      'ROOT_OF_TRUST_NOT_FOUND',
      `no ConfigMap annotated ${VERIFICATION_CONFIG_MAP_ANNOTATION} in the release-manifests of the running release ${running}`,
    );
  }

  private async buildVerifier(cv: ClusterVersion, notes: string[]): Promise<GpgReleaseVerifier> {
    const { kube } = this.options;
    const trust =
      this.options.rootOfTrustFromPayload === true
        ? await this.payloadTrust(cv)
        : await this.configMapTrust();
    const dispatcher = await this.dispatcherFor(await this.clusterCa());
    const storeOptions = {
      baseDir: '/',
      dispatcher,
      ...(this.options.requestTimeoutMs !== undefined
        ? { requestTimeoutMs: this.options.requestTimeoutMs }
        : {}),
    };

    const stores: SignatureStore[] = [
      new ConfigMapSignatureStore(
        () => kube.listConfigMaps(this.options.signatureNamespace, SIGNATURE_CONFIGMAP_LABEL),
        `signature ConfigMaps in ${this.options.signatureNamespace} labelled ${SIGNATURE_CONFIGMAP_LABEL}`,
      ),
    ];
    const specStores = cv.spec.signatureStores;
    if (specStores === undefined) {
      stores.push(...trust.stores.map((s) => createStoreFromUrl(s.url, storeOptions)));
    } else if (specStores.length === 0) {
      throw new VerifyError(
        'NO_STORES',
        'ClusterVersion spec.signatureStores is an empty array. Unset signatureStores entirely if you want to enable the default signature stores',
      );
    } else {
      for (const store of specStores) {
        if (store.ca === undefined) {
          stores.push(createStoreFromUrl(store.url, storeOptions));
          continue;
        }
        const caMap = await kube.getConfigMap(this.options.caNamespace, store.ca.name);
        const ca = caMap?.data?.['ca.crt'];
        if (ca === undefined || !ca.includes('-----BEGIN CERTIFICATE-----')) {
          notes.push(
            `signature store ${redactUrl(store.url)} is not honored: config map ${this.options.caNamespace}/${store.ca.name} has no valid ca.crt`,
          );
          continue;
        }
        stores.push(
          createStoreFromUrl(store.url, {
            ...storeOptions,
            dispatcher: await this.dispatcherFor(ca),
          }),
        );
      }
    }
    return new GpgReleaseVerifier({
      trust,
      stores,
      budgetMs: this.options.budgetMs,
      cache: this.cache,
    });
  }

  private async clusterCa(): Promise<string | undefined> {
    const { namespace, name, key } = this.options.trustedCaBundle;
    const cm = await this.options.kube.getConfigMap(namespace, name);
    const bundle = cm?.data?.[key];
    return bundle !== undefined && bundle.includes('-----BEGIN CERTIFICATE-----')
      ? bundle
      : undefined;
  }

  private dispatcherFor(ca: string | undefined): Promise<Dispatcher> {
    const key = ca === undefined ? '' : createHash('sha256').update(ca).digest('hex');
    let dispatcher = this.dispatchers.get(key);
    if (dispatcher === undefined) {
      dispatcher = createHttpDispatcher({
        ...this.options.http,
        ...(ca !== undefined ? { extraCa: ca } : {}),
      });
      this.dispatchers.set(key, dispatcher);
    }
    return Promise.resolve(dispatcher);
  }

  /**
   * The cluster's ClusterImagePolicies, read fresh like the rest of the trust. An invalid object
   * (which the API server's validation should never let in) is skipped with a note; the checks
   * of valid policies covering the release still apply.
   */
  private async sigstoreConfig(notes: string[]): Promise<SigstoreConfig | undefined> {
    const client = this.options.registry;
    if (client === undefined) return undefined;
    const policies: PolicyObject[] = [];
    for (const item of await this.options.kube.listClusterImagePolicies()) {
      const object = item as {
        apiVersion?: unknown;
        kind?: unknown;
        metadata?: { name?: unknown };
        spec?: unknown;
      };
      const name = typeof object.metadata?.name === 'string' ? object.metadata.name : '';
      try {
        // Server-set metadata (uid, managedFields, …) and status are not part of the policy.
        policies.push(
          validatePolicyObject(
            {
              apiVersion: object.apiVersion,
              kind: object.kind ?? 'ClusterImagePolicy',
              metadata: { name },
              spec: object.spec,
            },
            `clusterimagepolicy/${name}`,
          ),
        );
      } catch (err) {
        notes.push(
          `ClusterImagePolicy ${name} is ignored: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
    return { policies, client };
  }

  async close(): Promise<void> {
    await Promise.all([...this.dispatchers.values()].map((d) => d.close()));
    this.dispatchers.clear();
  }
}

function toOutcome(
  verified: boolean,
  code: VerificationOutcome['code'],
  message: string,
  details: readonly string[],
  summary: string,
): VerificationOutcome {
  return { verified, ...(code !== undefined ? { code } : {}), message, details, summary };
}
