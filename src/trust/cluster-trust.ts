import { createHash } from 'node:crypto';

import type { Dispatcher } from 'undici';

import { isVerifyError, VerifyError } from '../errors.js';
import type { ReleaseLoad, VerificationOutcome } from '../controller/reconcile.js';
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
import { RegistryClient } from '../registry/client.js';
import type { RegistryRepository } from '../registry/client.js';
import { RegistryClientPool } from '../registry/client-pool.js';
import { createProxyDispatcher } from '../registry/proxy.js';
import type { ProxySettings } from '../registry/proxy.js';
import { mirrorSources } from '../mirrors/mirrors.js';
import type { MirrorRule } from '../mirrors/mirrors.js';
import { pickSource } from '../payload/payload-verifier.js';
import { releaseFacts } from '../payload/release-content.js';
import type { ReleaseMetadata } from '../payload/release-content.js';
import { readReleaseMetadata } from '../payload/release-image.js';
import type { SignatureConfigMap } from '../stores/configmap-store.js';
import type { HttpClientOptions } from '../stores/http-store.js';
import type { GpgResult } from '../verify/gpg-verifier.js';
import { verifyRelease } from '../verify/release-verifier.js';
import type { SigstoreConfig } from '../verify/sigstore-checks.js';
import { LruCache } from '../verify/verdict-cache.js';
import { buildGpgVerifier, buildSigstoreConfig } from './build-verifier.js';
import { ClusterTrustReader, readInOrder } from './cluster-inputs.js';
import type { TrustLocations, TrustSource } from './cluster-inputs.js';
import { nodePlatform } from './node-platform.js';

export type PayloadMode = 'warn' | 'enforce';

export interface ClusterTrustOptions extends TrustLocations {
  readonly source: TrustSource;
  /**
   * Reads the signature ConfigMaps (the service passes a WatchedSignatureConfigMaps' copy);
   * `source.listConfigMaps` for each verification without it.
   */
  readonly signatureConfigMaps?: () => Promise<SignatureConfigMap[]>;
  /** Where problems that do not fail a verification are reported. */
  readonly logger?: Logger;
  readonly http: Omit<HttpClientOptions, 'extraCa'>;
  /** Bounds one signature verification (GPG stores, the running payload's root of trust). */
  readonly budgetMs: number;
  readonly requestTimeoutMs?: number;
  readonly cache?: LruCache<GpgResult>;
  readonly metrics?: ServiceMetrics;
  /**
   * Registry clients for Sigstore checks and payload reads; without them ClusterImagePolicies are
   * not consulted. A pool: for each verification, the client for the cluster's pull secret
   * (openshift-config/pull-secret) and Proxy (else the environment's proxies, `http`); a client:
   * that one, as given.
   */
  readonly registry?: RegistryClient | RegistryClientPool;
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
   * What an accepted update whose release-metadata cannot be read becomes: `enforce` (default)
   * refuses it as the CVO refuses a payload it cannot retrieve or load; `warn` accepts it with a
   * Warning and the version unchecked (beside a running CVO, which loads the payload itself).
   */
  readonly releaseMetadata?: 'enforce' | 'warn';
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
/** HTTP dispatchers kept (one per CA bundle and proxy); the least recently used go first. */
const MAX_DISPATCHERS = 16;

export class ClusterTrust implements ReleaseVerifierPort {
  private readonly options: ClusterTrustOptions;
  private readonly reader: ClusterTrustReader;
  private readonly cache: LruCache<GpgResult>;
  private readonly dispatchers = new Map<string, Dispatcher>();
  private readonly componentCache = createComponentCache();
  /** The platform whose instance of a manifest-list release the CVO's node would pull. */
  private readonly platform: string;

  constructor(options: ClusterTrustOptions) {
    this.options = options;
    this.cache = options.cache ?? new LruCache<GpgResult>();
    this.platform = nodePlatform(options.nodeArchitecture ?? process.arch);
    this.reader = new ClusterTrustReader({
      source: options.source,
      rootOfTrust: options.rootOfTrust,
      signatureNamespace: options.signatureNamespace,
      caNamespace: options.caNamespace,
      trustedCaBundle: options.trustedCaBundle,
      ...(options.signatureConfigMaps !== undefined
        ? { signatureConfigMaps: options.signatureConfigMaps }
        : {}),
      // A pool's client is passed per verification (gpgInputs), with its access and mirrors.
      ...(options.registry instanceof RegistryClient ? { registry: options.registry } : {}),
      ...(options.rootOfTrustFromPayload !== undefined
        ? { rootOfTrustFromPayload: options.rootOfTrustFromPayload }
        : {}),
      platform: this.platform,
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
    // Every input is read once for this verification, and all of them together: how stores and
    // registries are reached (pull secret, Proxy, registry CAs) with the mirror rules, the GPG
    // trust and, with a registry, the ClusterImagePolicies. Only the running payload's root of
    // trust waits for the access it is read with. Failures count in the order of a sequential
    // read (readInOrder): access, then GPG trust (both refuse the release without trust), then
    // policies (thrown, as before).
    const accessRead = this.readAccess();
    const gpgRead = this.reader.gpgInputs(cv, async () => {
      const { client, mirrors } = await accessRead;
      return client !== undefined ? { client, mirrors } : undefined;
    });
    // readAccess makes a client exactly when a registry is configured.
    const policiesRead =
      this.options.registry !== undefined ? this.reader.policyInputs() : undefined;
    // Observed below only when the trust could be read.
    policiesRead?.catch(() => undefined);
    let gpg;
    let access: Access;
    try {
      let inputs;
      [access, inputs] = await readInOrder([accessRead, gpgRead]);
      const { proxy, proxyCa } = access;
      gpg = buildGpgVerifier(
        // The Proxy's trustedCA joins the cluster CA bundle, as the network operator merges it
        // into openshift-config-managed/trusted-ca-bundle; a store with its own CA trusts that
        // CA alone, as in the CVO.
        { ...inputs, clusterCa: joinPem(inputs.clusterCa, proxyCa) },
        {
          dispatcherFor: (ca) => this.dispatcherFor(ca, proxy),
          cache: this.cache,
          budgetMs: this.options.budgetMs,
          ...(this.options.requestTimeoutMs !== undefined
            ? { requestTimeoutMs: this.options.requestTimeoutMs }
            : {}),
        },
        notes,
      );
    } catch (err) {
      const refused = refusedWithoutTrust(parsed, err, notes);
      if (
        call.payload !== true ||
        call.releaseMetadata === false ||
        cv.spec.desiredUpdate?.force !== true ||
        parsed instanceof VerifyError
      )
        return refused;
      // Forced: the CVO still retrieves and loads the payload, and checks its version.
      let release: ReleaseLoad | undefined;
      try {
        const reachable = await accessRead;
        release = await this.loadRelease(
          parsed,
          undefined,
          reachable.client,
          reachable.mirrors,
          signal,
        );
      } catch (accessError) {
        if (signal.aborted) throw accessError;
        release = this.unreadable(
          'retrieve',
          `the registry access could not be read: ${accessError instanceof Error ? accessError.message : String(accessError)}`,
        );
      }
      return { ...refused, ...(release !== undefined ? { release } : {}) };
    }
    const client = access.client;
    // Said in the verdict's details and, when it verifies, in its summary (ReleaseVerified's
    // message): a release that verified without Sigstore policies must say it did.
    const unavailable: string[] = [...access.mirrorNotes];
    let sigstore: SigstoreConfig | undefined;
    if (client !== undefined) {
      const policies = await (policiesRead ?? this.reader.policyInputs());
      if (policies.notServed !== undefined) unavailable.push(policies.notServed);
      sigstore = buildSigstoreConfig(policies.objects, client, notes);
      if (!(parsed instanceof VerifyError) && sigstore.policies.length > 0) {
        // As CRI-O pulls it: from the first of the cluster's mirrors that has it, signatures
        // included; identities still match the release's own name.
        const source = await releaseSource(client, parsed, access.mirrors, signal, notes);
        if (source !== undefined) sigstore = { ...sigstore, source };
      }
    }
    // Without a payload check (which reads the metadata itself), the release-metadata an
    // accepted update needs is read while the signatures are verified. Nothing read is used
    // unless the release is accepted; a refused one's read is cancelled.
    const force = cv.spec.desiredUpdate?.force === true;
    const wantsRelease = call.payload === true && call.releaseMetadata !== false;
    const early =
      wantsRelease &&
      !(parsed instanceof VerifyError) &&
      client !== undefined &&
      (this.options.payload === undefined ||
        sigstore === undefined ||
        sigstore.policies.length === 0)
        ? this.loadReleaseEarly(parsed, client, access.mirrors, signal)
        : undefined;
    let verdict;
    try {
      verdict = await verifyRelease(
        parsed instanceof VerifyError ? image : parsed,
        { gpg, ...(sigstore !== undefined ? { sigstore } : {}) },
        signal,
      );
    } catch (err) {
      early?.cancel();
      throw err;
    }
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
    // What the CVO does next with an update it accepts: read the payload (its components, when
    // payload verification applies) and its release-metadata.
    const accepting =
      call.payload === true && (verdict.verified || force) && !(parsed instanceof VerifyError);
    if (!accepting) early?.cancel();
    const checked = accepting
      ? await this.checkPayload(parsed, sigstore, signal, access.mirrors)
      : undefined;
    const release =
      !accepting || !wantsRelease
        ? undefined
        : early !== undefined
          ? await early.release
          : await this.loadRelease(parsed, checked?.metadata, client, access.mirrors, signal);
    const payload = checked?.verification;
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
      ...(release !== undefined ? { release } : {}),
    };
  }

  /**
   * The release's metadata as the CVO loads it: from the payload check's read when there was one,
   * else read alone (the top layers only), through the cluster's mirrors. Undefined without a
   * registry client; `unreadable` (why, the CVO step that would fail, the configured mode) when
   * it cannot be read.
   */
  private async loadRelease(
    release: DigestPullspec,
    fromPayload: ReleaseMetadata | undefined,
    client: RegistryClient | undefined,
    mirrors: readonly MirrorRule[],
    signal: AbortSignal,
  ): Promise<ReleaseLoad | undefined> {
    let metadata = fromPayload;
    if (metadata === undefined) {
      if (client === undefined) return undefined;
      try {
        ({ metadata } = await readReleaseMetadata(client, release, {
          signal,
          platform: this.platform,
          sources: mirrorSources(mirrors, release),
        }));
      } catch (err) {
        if (signal.aborted) throw err;
        // Not fetched (a registry answer, or none): the CVO's RetrievePayload; fetched but not a
        // release payload: its LoadPayload.
        const fetched =
          isVerifyError(err) && err.area !== 'registry' && err.code !== 'RELEASE_NOT_FOUND';
        return this.unreadable(
          fetched ? 'load' : 'retrieve',
          err instanceof Error ? err.message : String(err),
        );
      }
    }
    const { problems, ...facts } = releaseFacts(metadata);
    if (problems.length > 0) {
      // As the CVO logs them and goes on.
      this.options.logger?.warn('release metadata has values that are ignored', {
        image: release.raw,
        problems,
      });
    }
    return { kind: 'loaded', version: metadata.version, ...facts };
  }

  /**
   * {@link loadRelease} started before the verdict is known, with its own cancellation: a
   * cancelled read ends at once and its answer (or failure) is dropped.
   */
  private loadReleaseEarly(
    release: DigestPullspec,
    client: RegistryClient,
    mirrors: readonly MirrorRule[],
    signal: AbortSignal,
  ): { readonly release: Promise<ReleaseLoad | undefined>; readonly cancel: () => void } {
    const cancelled = new AbortController();
    const read = this.loadRelease(
      release,
      undefined,
      client,
      mirrors,
      AbortSignal.any([signal, cancelled.signal]),
    );
    read.catch(() => undefined);
    return {
      release: read,
      cancel: () => {
        cancelled.abort(new DOMException('the release was not accepted', 'AbortError'));
      },
    };
  }

  private unreadable(stage: 'retrieve' | 'load', message: string): ReleaseLoad {
    return { kind: 'unreadable', stage, message, mode: this.options.releaseMetadata ?? 'enforce' };
  }

  /** The payload's verdict; none without payload verification or ClusterImagePolicies. */
  private async checkPayload(
    release: DigestPullspec,
    sigstore: SigstoreConfig | undefined,
    signal: AbortSignal,
    mirrorRules: readonly MirrorRule[],
  ): Promise<
    { readonly verification: PayloadVerification; readonly metadata?: ReleaseMetadata } | undefined
  > {
    const config = this.options.payload;
    if (config === undefined || sigstore === undefined || sigstore.policies.length === 0) {
      return undefined;
    }
    const { mirrors, platforms } = await this.reader.payloadInputs(mirrorRules);
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
    const { metadata, ...rest } = outcome;
    return {
      verification: { ...rest, mode: config.mode },
      ...(metadata !== undefined ? { metadata } : {}),
    };
  }

  /**
   * The pull secret's credentials, the cluster Proxy (else the environment's proxies) and its CA
   * bundle, as a registry client for this verification, and the cluster's mirror rules.
   */
  private async readAccess(): Promise<Access> {
    const registry = this.options.registry;
    // Read together; an access failure is thrown before a mirror-set one, as read in that order.
    const [inputs, mirrorInputs] = await readInOrder([
      this.reader.accessInputs(),
      registry !== undefined ? this.reader.mirrorRules() : Promise.resolve(undefined),
    ]);
    const base = { proxy: inputs.proxy, proxyCa: inputs.proxyCa };
    if (registry === undefined || mirrorInputs === undefined)
      return { ...base, client: undefined, mirrors: [], mirrorNotes: [] };
    let client: RegistryClient;
    if (registry instanceof RegistryClientPool) {
      const proxy = inputs.proxy ?? this.environmentProxy();
      client = registry.clientFor({
        ...(inputs.credentials !== undefined ? { credentials: inputs.credentials } : {}),
        proxy,
        // What nodes trust besides the system roots: the MCO adds the Proxy's trustedCA to them,
        // and each registry's CA of the image configuration for that registry. Here the union is
        // trusted for every registry (TLS only: signatures and digests are checked regardless).
        ...(joinPem(inputs.proxyCa, inputs.registryCa) !== undefined
          ? { extraCa: joinPem(inputs.proxyCa, inputs.registryCa) }
          : {}),
      });
    } else {
      client = registry;
    }
    const { rules, notes } = mirrorInputs;
    return { ...base, client, mirrors: rules, mirrorNotes: notes };
  }

  /** The process's HTTP_PROXY / HTTPS_PROXY / NO_PROXY (as the composition root read them). */
  private environmentProxy(): ProxySettings {
    const { httpProxy, httpsProxy, noProxy } = this.options.http;
    return {
      ...(httpProxy !== undefined ? { httpProxy } : {}),
      ...(httpsProxy !== undefined ? { httpsProxy } : {}),
      ...(noProxy !== undefined ? { noProxy } : {}),
    };
  }

  /**
   * The HTTP dispatcher for stores trusting `ca`: through the cluster Proxy (`proxy`), else the
   * environment's proxies, chosen per request as the CVO's Go net/http chooses them
   * (src/registry/proxy.ts: loopback never proxied, noProxy CIDRs and suffixes), as registries.
   */
  private dispatcherFor(ca: string | undefined, proxy: ProxySettings | undefined): Dispatcher {
    const extraCa = ca;
    const key = createHash('sha256')
      .update(JSON.stringify([extraCa ?? '', proxy ?? null]))
      .digest('hex');
    let dispatcher = this.dispatchers.get(key);
    if (dispatcher !== undefined) {
      // Most recently used last: the eviction below drops the one unused the longest.
      this.dispatchers.delete(key);
      this.dispatchers.set(key, dispatcher);
    } else {
      dispatcher = createProxyDispatcher({
        proxy: proxy ?? this.environmentProxy(),
        ...(extraCa !== undefined ? { extraCa } : {}),
      });
      this.dispatchers.set(key, dispatcher);
      // Each distinct CA and proxy adds one; edits to them must not grow the process forever.
      // close() lets requests in flight finish.
      for (const [oldKey, old] of this.dispatchers) {
        if (this.dispatchers.size <= MAX_DISPATCHERS) break;
        this.dispatchers.delete(oldKey);
        void old.close().catch(() => undefined);
      }
    }
    return dispatcher;
  }

  async close(): Promise<void> {
    await Promise.all([...this.dispatchers.values()].map((d) => d.close()));
    this.dispatchers.clear();
  }
}

function joinPem(...pems: (string | undefined)[]): string | undefined {
  const present = pems.filter((p) => p !== undefined);
  return present.length > 0 ? present.join('\n') : undefined;
}

/** How one verification reaches stores and registries. */
interface Access {
  /** The cluster Proxy's settings; undefined: the environment's (`http`). */
  readonly proxy: ProxySettings | undefined;
  readonly proxyCa: string | undefined;
  readonly client: RegistryClient | undefined;
  readonly mirrors: readonly MirrorRule[];
  /** Mirror-set kinds the cluster does not serve, said in the verdict. */
  readonly mirrorNotes: readonly string[];
}

/**
 * Where the release and its Sigstore signatures are read from: undefined for its own repository
 * when no mirror rule applies; else the first of the mirrors (then the source, unless a rule says
 * NeverContactSource) that has the manifest, as CRI-O pulls. When none has it, the first is read
 * all the same (its check then fails, naming it) and a note lists where the release was looked
 * for.
 */
async function releaseSource(
  client: RegistryClient,
  release: DigestPullspec,
  mirrors: readonly MirrorRule[],
  signal: AbortSignal,
  notes: string[],
): Promise<RegistryRepository | undefined> {
  let sources;
  try {
    sources = mirrorSources(mirrors, release);
  } catch (err) {
    if (!isVerifyError(err, 'INVALID_CONTENT')) throw err;
    notes.push(`the mirror rules are not used: ${err.message}`);
    return undefined;
  }
  const [first] = sources;
  if (first === undefined || (sources.length === 1 && !first.mirror)) return undefined;
  let picked;
  try {
    picked = await pickSource(client, release, sources, signal);
  } catch (err) {
    if (!isVerifyError(err) || err.code === 'ABORTED') throw err;
    notes.push(
      `${release.digest} could not be read from ${sources.map((s) => s.name).join(', ')}: ${err.message}`,
    );
  }
  if (picked === undefined) {
    notes.push(`${release.digest} is not in ${sources.map((s) => s.name).join(', ')}`);
    picked = first;
  }
  return picked.mirror ? { host: picked.host, path: picked.path } : undefined;
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
      : new VerifyError(
          'CLUSTER_CONFIG_UNREADABLE',
          `the cluster's trust configuration could not be read: ${err instanceof Error ? err.message : String(err)}`,
          { cause: err },
        );
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
