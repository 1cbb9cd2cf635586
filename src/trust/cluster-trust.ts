import { createHash } from 'node:crypto';

import type { Dispatcher } from 'undici';

import { VerifyError } from '../errors.js';
import type { VerificationOutcome } from '../controller/reconcile.js';
import { toConditionReason } from '../controller/reasons.js';
import type {
  ClusterVerification,
  PayloadVerification,
  ReleaseVerifierPort,
  VerifyCallOptions,
} from '../controller/verification-port.js';
import { parseReleasePullspec } from '../image/pullspec.js';
import type { DigestPullspec } from '../image/pullspec.js';
import type { ClusterVersion } from '../kube/types.js';
import type { Logger } from '../observability/logger.js';
import type { ServiceMetrics } from '../observability/metrics.js';
import { checkReleasePayload } from '../payload/payload-check.js';
import type { PayloadOutcome } from '../payload/payload-check.js';
import { createComponentCache } from '../payload/payload-verifier.js';
import type { RegistryClient } from '../registry/client.js';
import { createHttpDispatcher } from '../stores/http-store.js';
import type { HttpClientOptions } from '../stores/http-store.js';
import type { GpgResult } from '../verify/gpg-verifier.js';
import { verifyRelease } from '../verify/release-verifier.js';
import type { SigstoreConfig } from '../verify/sigstore-checks.js';
import { LruCache } from '../verify/verdict-cache.js';
import { buildGpgVerifier, buildSigstoreConfig } from './build-verifier.js';
import { ClusterTrustReader } from './cluster-inputs.js';
import type { TrustLocations, TrustSource } from './cluster-inputs.js';
import { nodePlatform } from './node-platform.js';

export type PayloadMode = 'warn' | 'enforce';

export interface ClusterTrustOptions extends TrustLocations {
  readonly source: TrustSource;
  /** Where problems that do not fail a verification are reported. */
  readonly logger?: Logger;
  readonly http: Omit<HttpClientOptions, 'extraCa'>;
  /** Bounds one signature verification (GPG stores, the running payload's root of trust). */
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
   * The architecture of the nodes that pull the release (Node's `process.arch` or a Go name);
   * default this process's own, as the CVO takes `runtime.GOARCH`. See {@link nodePlatform}.
   */
  readonly nodeArchitecture?: string;
}

/**
 * The cluster's trust behind the controller's {@link ReleaseVerifierPort}: for every
 * verification, the inputs are read fresh ({@link ClusterTrustReader}), the verifier is built
 * from them without I/O (./build-verifier.ts), and the release is verified by the core
 * (src/verify, src/payload). Owns the long-lived resources that survive between verifications:
 * HTTP dispatchers per CA, the GPG verdict cache, the component verdict cache.
 */
export class ClusterTrust implements ReleaseVerifierPort {
  private readonly options: ClusterTrustOptions;
  private readonly reader: ClusterTrustReader;
  private readonly cache: LruCache<GpgResult>;
  private readonly dispatchers = new Map<string, Dispatcher>();
  private readonly componentCache = createComponentCache();

  constructor(options: ClusterTrustOptions) {
    this.options = options;
    this.cache = options.cache ?? new LruCache<GpgResult>();
    this.reader = new ClusterTrustReader({
      source: options.source,
      rootOfTrust: options.rootOfTrust,
      signatureNamespace: options.signatureNamespace,
      caNamespace: options.caNamespace,
      trustedCaBundle: options.trustedCaBundle,
      ...(options.registry !== undefined ? { registry: options.registry } : {}),
      ...(options.rootOfTrustFromPayload !== undefined
        ? { rootOfTrustFromPayload: options.rootOfTrustFromPayload }
        : {}),
      platform: nodePlatform(options.nodeArchitecture ?? process.arch),
      payloadReadBudgetMs: options.budgetMs,
      ...(options.logger !== undefined ? { logger: options.logger } : {}),
    });
  }

  async verify(
    image: string,
    cv: ClusterVersion,
    signal: AbortSignal,
    call: VerifyCallOptions = {},
  ): Promise<ClusterVerification> {
    const notes: string[] = [];
    // Parsed once here, at the edge; a by-tag or malformed pullspec is refused by verifyRelease
    // (or below, when the trust cannot be built) with the CVO's words.
    const parsed = parsePullspecOrError(image);
    let gpg;
    try {
      gpg = buildGpgVerifier(
        await this.reader.gpgInputs(cv),
        {
          dispatcherFor: (ca) => this.dispatcherFor(ca),
          cache: this.cache,
          budgetMs: this.options.budgetMs,
          ...(this.options.requestTimeoutMs !== undefined
            ? { requestTimeoutMs: this.options.requestTimeoutMs }
            : {}),
        },
        notes,
      );
    } catch (err) {
      return refusedWithoutTrust(parsed, err, notes);
    }
    const client = this.options.registry;
    // Said in the verdict's details and, when it verifies, in its summary (ReleaseVerified's
    // message): a release that verified without Sigstore policies must say it did.
    const unavailable: string[] = [];
    let sigstore: SigstoreConfig | undefined;
    if (client !== undefined) {
      const policies = await this.reader.policyInputs();
      if (policies.notServed !== undefined) unavailable.push(policies.notServed);
      sigstore = buildSigstoreConfig(policies.objects, client, notes);
    }
    const verdict = await verifyRelease(
      parsed instanceof VerifyError ? image : parsed,
      { gpg, ...(sigstore !== undefined ? { sigstore } : {}) },
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
      ? [
          ...verdict.checks.map(
            (c) => `${c.kind === 'gpg' ? c.keyring : `policy ${c.policy}`}: ${c.reason}`,
          ),
          ...unavailable,
        ].join('; ')
      : (verdict.checks.find((c) => !c.verified)?.reason ?? verdict.message);
    const force = cv.spec.desiredUpdate?.force === true;
    const payload =
      call.payload === true && (verdict.verified || force) && !(parsed instanceof VerifyError)
        ? await this.checkPayload(parsed, sigstore, signal)
        : undefined;
    return {
      outcome: toOutcome(
        verdict.verified,
        verdict.code,
        verdict.message,
        [...unavailable, ...notes, ...verdict.details],
        summary,
      ),
      signatures: verdict.verified ? verdict.signatures : [],
      digest: verdict.digest,
      ...(payload !== undefined ? { payload } : {}),
    };
  }

  /** The payload's verdict; none without payload verification or ClusterImagePolicies. */
  private async checkPayload(
    release: DigestPullspec,
    sigstore: SigstoreConfig | undefined,
    signal: AbortSignal,
  ): Promise<PayloadVerification | undefined> {
    const config = this.options.payload;
    if (config === undefined || sigstore === undefined || sigstore.policies.length === 0) {
      return undefined;
    }
    const { mirrors, platforms } = await this.reader.payloadInputs();
    let outcome: PayloadOutcome | undefined;
    // Each node architecture pulls its own instance of a manifest-list release: every one the
    // cluster runs is verified, and the first failure (naming its platform) is the verdict.
    for (const platform of platforms) {
      const one = await checkReleasePayload(release, {
        client: sigstore.client,
        platform,
        policies: sigstore.policies,
        mirrors,
        cache: this.componentCache,
        ...(config.concurrency !== undefined ? { concurrency: config.concurrency } : {}),
        signal,
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

  private dispatcherFor(ca: string | undefined): Dispatcher {
    const key = ca === undefined ? '' : createHash('sha256').update(ca).digest('hex');
    let dispatcher = this.dispatchers.get(key);
    if (dispatcher === undefined) {
      dispatcher = createHttpDispatcher({
        ...this.options.http,
        ...(ca !== undefined ? { extraCa: ca } : {}),
      });
      this.dispatchers.set(key, dispatcher);
    }
    return dispatcher;
  }

  async close(): Promise<void> {
    await Promise.all([...this.dispatchers.values()].map((d) => d.close()));
    this.dispatchers.clear();
  }
}

/** The typed pullspec, or the CVO's refusal of a by-tag or malformed one. */
function parsePullspecOrError(image: string): DigestPullspec | VerifyError {
  try {
    return parseReleasePullspec(image);
  } catch (err) {
    if (err instanceof VerifyError) return err;
    throw err;
  }
}

/**
 * The verdict when the trust itself cannot be read or built. A by-tag pullspec is still refused
 * with the CVO's words, so the admin sees the first thing to fix.
 */
function refusedWithoutTrust(
  parsed: DigestPullspec | VerifyError,
  err: unknown,
  notes: string[],
): ClusterVerification {
  if (parsed instanceof VerifyError) {
    return {
      outcome: toOutcome(false, parsed.code, parsed.message, [], parsed.message),
      signatures: [],
      digest: null,
    };
  }
  const e =
    err instanceof VerifyError
      ? err
      : new VerifyError('ROOT_OF_TRUST_INVALID', String(err), { cause: err });
  return {
    outcome: toOutcome(false, e.code, e.message, notes, e.message),
    signatures: [],
    digest: parsed.digest,
  };
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
