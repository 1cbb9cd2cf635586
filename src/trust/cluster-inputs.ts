import { isVerifyError, VerifyError } from '../errors.js';
import type { RootOfTrust } from '../gpg/root-of-trust.js';
import {
  describeConfigMap,
  findInText,
  rootOfTrustFromData,
  VERIFICATION_CONFIG_MAP_ANNOTATION,
} from '../gpg/root-of-trust.js';
import { parseReleasePullspec } from '../image/pullspec.js';
import { isResourceNotServed } from '../kube/client.js';
import type { ClusterVersion } from '../kube/types.js';
import { mirrorSources, parseMirrorObject } from '../mirrors/mirrors.js';
import type { MirrorRule } from '../mirrors/mirrors.js';
import type { Logger } from '../observability/logger.js';
import { readReleasePayload } from '../payload/release-image.js';
import type { RegistryClient } from '../registry/client.js';
import { parseDockerConfig } from '../registry/credentials.js';
import type { RegistryCredentials } from '../registry/credentials.js';
import { describeProxySettings } from '../registry/proxy.js';
import type { ProxySettings } from '../registry/proxy.js';
import { SIGNATURE_CONFIGMAP_LABEL } from '../stores/configmap-store.js';
import type { SignatureConfigMap } from '../stores/configmap-store.js';
import { MAX_NODE_PLATFORMS, nodePlatform } from './node-platform.js';

/**
 * The cluster reads trust needs, in its own terms. The service's Kubernetes client has them;
 * unit tests pass plain objects.
 */
export interface TrustSource {
  getConfigMap(
    namespace: string,
    name: string,
  ): Promise<
    | {
        readonly metadata: { readonly uid?: string; readonly resourceVersion?: string };
        readonly data?: Readonly<Record<string, string>>;
      }
    | undefined
  >;
  listConfigMaps(namespace: string, labelSelector: string): Promise<SignatureConfigMap[]>;
  /**
   * Rejects with a ResourceNotServedError (src/kube/client.ts) when the cluster serves no
   * version of the resource: then, and only then, there are none.
   */
  listClusterImagePolicies(): Promise<unknown[]>;
  /**
   * The mirror sets; `notServed` names each mirror-set kind the cluster serves in no version
   * (`plural.group`): then, and only then, there are none of that kind.
   */
  listMirrorSets(): Promise<{ readonly items: unknown[]; readonly notServed: readonly string[] }>;
  listNodeArchitectures(): Promise<string[]>;
  /** A Secret, `data` base64-encoded; undefined when it does not exist. */
  getSecret(
    namespace: string,
    name: string,
  ): Promise<{ readonly data?: Readonly<Record<string, string>> } | undefined>;
  /** The cluster-scoped Proxy object; undefined when it (or the Proxy API) does not exist. */
  getClusterProxy(name: string): Promise<unknown>;
  /** The cluster image configuration; undefined when it (or its API) does not exist. */
  getClusterImageConfig(name: string): Promise<unknown>;
}

/**
 * The cluster's pull secret, as OpenShift names it: the credentials CRI-O pulls release and
 * component images with (the MCO writes it to every node's /var/lib/kubelet/config.json).
 */
export const PULL_SECRET = { namespace: 'openshift-config', name: 'pull-secret' } as const;
/** Its key: the docker config JSON (type kubernetes.io/dockerconfigjson). */
export const PULL_SECRET_KEY = '.dockerconfigjson';
/** The cluster-wide Proxy (config.openshift.io/v1), the singleton the CVO reads. */
export const CLUSTER_PROXY_NAME = 'cluster';
/** The key of the Proxy's spec.trustedCA ConfigMap (in openshift-config). */
export const PROXY_CA_KEY = 'ca-bundle.crt';
/** The cluster image configuration (images.config.openshift.io/v1), a singleton. */
export const CLUSTER_IMAGE_CONFIG_NAME = 'cluster';

/**
 * How registries and HTTP stores are reached, read fresh for each verification: credentials from
 * the pull secret, the cluster Proxy's status and its trusted CA bundle.
 */
export interface AccessInputs {
  /** From the pull secret; undefined when it is absent or unusable (registries are then read anonymously). */
  readonly credentials: RegistryCredentials | undefined;
  /**
   * Proxy/cluster's status.httpProxy, httpsProxy and noProxy (what the network operator
   * validated and the CVO uses); undefined when the cluster has no Proxy object, so the
   * process's own HTTP_PROXY / HTTPS_PROXY / NO_PROXY apply.
   */
  readonly proxy: ProxySettings | undefined;
  /** The Proxy's spec.trustedCA bundle, when it names a ConfigMap holding certificates. */
  readonly proxyCa: string | undefined;
  /**
   * The registry CAs of image.config.openshift.io/cluster's spec.additionalTrustedCA ConfigMap
   * (in openshift-config; one key per registry, `host..port` for `host:port`), joined: what the
   * MCO writes to each node's /etc/docker/certs.d/<registry>/ca.crt.
   */
  readonly registryCa?: string;
}

/** Where the cluster keeps its trust (OpenShift's names by default; see src/config/service-config.ts). */
export interface TrustLocations {
  /** The root-of-trust ConfigMap (openshift-config-managed/release-verification). */
  readonly rootOfTrust: { readonly namespace: string; readonly name: string };
  /** Where signature ConfigMaps live (openshift-config-managed). */
  readonly signatureNamespace: string;
  /** Namespace of the CA ConfigMaps that spec.signatureStores[].ca names (openshift-config). */
  readonly caNamespace: string;
  /** Cluster-wide extra CA bundle (openshift-config-managed/trusted-ca-bundle, ca-bundle.crt). */
  readonly trustedCaBundle: {
    readonly namespace: string;
    readonly name: string;
    readonly key: string;
  };
}

/** One entry of ClusterVersion spec.signatureStores, with its CA ConfigMap read. */
export interface StoreInput {
  readonly url: string;
  /** The CA ConfigMap the entry names and its `ca.crt`, when it names one. */
  readonly ca?: { readonly configMap: string; readonly pem: string | undefined };
}

/** Everything the GPG (CVO) verification is built from, as read from the cluster. */
export interface GpgTrustInputs {
  readonly rootOfTrust: RootOfTrust;
  /** spec.signatureStores as set (they replace the root of trust's `store-*` URLs); undefined when unset. */
  readonly signatureStores: readonly StoreInput[] | undefined;
  /** The cluster-wide extra CA bundle, when it holds a certificate. */
  readonly clusterCa: string | undefined;
  /** Lists the signature ConfigMaps (read when a verification gets to that store). */
  readonly listSignatureConfigMaps: () => Promise<SignatureConfigMap[]>;
  /** How that store is named in evidence. */
  readonly signatureConfigMapsName: string;
}

/** The cluster's ClusterImagePolicies, or why it has none to read. */
export interface PolicyInputs {
  /** As the API server returned them (validated later). */
  readonly objects: readonly unknown[];
  /**
   * Set when the cluster does not serve ClusterImagePolicies at all (no CRD: a cluster without
   * TechPreviewNoUpgrade before the API went GA): no policy can exist, so none applies, as CRI-O
   * then pulls under the default policy. The sentence says so in a verdict.
   */
  readonly notServed?: string;
}

/** What a verdict says when the cluster does not serve ClusterImagePolicies. */
export const POLICIES_NOT_SERVED_NOTE =
  'ClusterImagePolicies are not available on this cluster (the API server does not serve clusterimagepolicies.config.openshift.io): Sigstore policies were not consulted';

/** The cluster's mirror rules, and what a verdict should say about them. */
export interface MirrorInputs {
  readonly rules: MirrorRule[];
  /** One sentence per mirror-set kind the cluster does not serve. */
  readonly notes: readonly string[];
}

/** What a verdict says when the cluster does not serve a kind of mirror set. */
export function mirrorSetsNotServedNote(resource: string): string {
  return `${resource} is not served by this cluster: no mirrors of that kind apply, images are read from the repositories they name`;
}

/** A registry client with this verification's access, and the cluster's mirror rules. */
export interface RegistryReadAccess {
  readonly client: RegistryClient;
  readonly mirrors: readonly MirrorRule[];
}

/** What the whole-payload check reads besides policies. */
export interface PayloadInputs {
  readonly mirrors: readonly MirrorRule[];
  /** The platforms whose manifest-list instances nodes pull. */
  readonly platforms: readonly string[];
}

export interface ClusterTrustReaderOptions extends TrustLocations {
  readonly source: TrustSource;
  /** Reads the signature ConfigMaps; `source.listConfigMaps` without it. */
  readonly signatureConfigMaps?: () => Promise<SignatureConfigMap[]>;
  /** Reads the running release's payload when the root of trust comes from it. */
  readonly registry?: RegistryClient;
  /** Take the GPG root of trust from the running release's payload (see ClusterTrust). */
  readonly rootOfTrustFromPayload?: boolean;
  /** This process's architecture, for the payload root of trust and when no Node is listed. */
  readonly platform: string;
  /** Bounds the read of the running release's payload. */
  readonly payloadReadBudgetMs: number;
  readonly logger?: Logger;
}

/**
 * The adapter between the cluster and the verification core: reads every trust input fresh for
 * each verification (edits apply without a restart), parsing the root of trust again only when
 * its ConfigMap (or the running release) changes. Reads only; builds nothing.
 */
export class ClusterTrustReader {
  private readonly options: ClusterTrustReaderOptions;
  private parsed: { key: string; trust: RootOfTrust } | undefined;
  /**
   * What the optional APIs answered last, so that their state is logged when it changes, not on
   * every verification: whether ClusterImagePolicies are served (undefined before the first
   * answer), and why Nodes could not be listed (undefined when they could).
   */
  private policiesServed: boolean | undefined;
  private nodesError: string | undefined;
  /** What was last logged about the pull secret and the Proxy, to log each change once. */
  private accessState: string | undefined;
  /** What was last logged about the mirror sets (kinds not served, objects skipped). */
  private mirrorState: string | undefined;

  constructor(options: ClusterTrustReaderOptions) {
    this.options = options;
  }

  /**
   * `registry` reads the running release's payload (root of trust from the payload) with this
   * verification's credentials and proxy, through the cluster's mirrors; default the reader's
   * own client, without mirrors. A function is called only when the payload is read, so that
   * access can be read alongside the rest.
   *
   * The root of trust, the cluster CA bundle and each store's CA ConfigMap are read together; a
   * failure is thrown as reading them one after another would have thrown it (see
   * {@link readInOrder}).
   */
  async gpgInputs(
    cv: ClusterVersion,
    registry?: RegistryReadAccess | (() => Promise<RegistryReadAccess | undefined>),
  ): Promise<GpgTrustInputs> {
    const { source, signatureNamespace, caNamespace } = this.options;
    const rootOfTrust =
      this.options.rootOfTrustFromPayload === true
        ? (async () =>
            this.payloadTrust(cv, typeof registry === 'function' ? await registry() : registry))()
        : this.configMapTrust();
    const specStores = cv.spec.signatureStores;
    const stores =
      specStores === undefined
        ? Promise.resolve(undefined)
        : readInOrder(
            specStores.map(async (store): Promise<StoreInput> => {
              if (store.ca === undefined) return { url: store.url };
              const caMap = await source.getConfigMap(caNamespace, store.ca.name);
              return {
                url: store.url,
                ca: { configMap: `${caNamespace}/${store.ca.name}`, pem: caMap?.data?.['ca.crt'] },
              };
            }),
          );
    const [trust, clusterCa, signatureStores] = await readInOrder([
      rootOfTrust,
      this.clusterCa(),
      stores,
    ]);
    return {
      rootOfTrust: trust,
      signatureStores,
      clusterCa,
      listSignatureConfigMaps:
        this.options.signatureConfigMaps ??
        (() => source.listConfigMaps(signatureNamespace, SIGNATURE_CONFIGMAP_LABEL)),
      signatureConfigMapsName: `signature ConfigMaps in ${signatureNamespace} labelled ${SIGNATURE_CONFIGMAP_LABEL}`,
    };
  }

  /**
   * The cluster's ClusterImagePolicies. A cluster that does not serve them has none (logged once
   * per change); any other failure to list them (403, 500, a timeout, a version not read here) is
   * thrown: policies that may exist but could not be read are never taken for none.
   */
  async policyInputs(): Promise<PolicyInputs> {
    let objects: unknown[];
    try {
      objects = await this.options.source.listClusterImagePolicies();
    } catch (err) {
      if (!isResourceNotServed(err)) throw err;
      if (this.policiesServed !== false) {
        this.options.logger?.info(
          'ClusterImagePolicies are not served by this cluster: releases are verified without Sigstore policies',
          { resource: err.resource },
        );
      }
      this.policiesServed = false;
      return { objects: [], notServed: POLICIES_NOT_SERVED_NOTE };
    }
    if (this.policiesServed === false) {
      this.options.logger?.info(
        'ClusterImagePolicies are served by this cluster again: Sigstore policies are consulted',
      );
    }
    this.policiesServed = true;
    return { objects };
  }

  /** `mirrors`: the rules this verification already read (read here otherwise). */
  async payloadInputs(mirrors?: readonly MirrorRule[]): Promise<PayloadInputs> {
    return {
      mirrors: mirrors ?? (await this.mirrorRules()).rules,
      platforms: await this.nodePlatforms(),
    };
  }

  /**
   * The pull secret's credentials, the cluster Proxy and its CA bundle, and the image
   * configuration's registry CAs, read fresh and together (a failure is thrown as reading them
   * in that order would have thrown it). A pull secret or Proxy that does not exist is none
   * (logged once per change); one that cannot be read (403, 500) is thrown: credentials that may
   * exist are never taken for none. A pull secret that is not valid docker config JSON is logged
   * (its source and the offending registry key, never a secret) and registries are read
   * anonymously, as a node without usable credentials would.
   */
  async accessInputs(): Promise<AccessInputs> {
    const [secret, proxy, registry] = await readInOrder([
      this.pullSecret(),
      this.clusterProxy(),
      this.registryCas(),
    ]);
    const state = `${secret.state}; ${proxy.state}; ${registry.registryCaState}`;
    if (state !== this.accessState) this.options.logger?.info('registry access', { state });
    this.accessState = state;
    const { registryCa } = registry;
    return {
      credentials: secret.credentials,
      proxy: proxy.proxy,
      proxyCa: proxy.proxyCa,
      ...(registryCa !== undefined ? { registryCa } : {}),
    };
  }

  /** The pull secret's credentials (see {@link accessInputs}) and what to log about them. */
  private async pullSecret(): Promise<{
    credentials: RegistryCredentials | undefined;
    state: string;
  }> {
    const secret = await this.options.source.getSecret(PULL_SECRET.namespace, PULL_SECRET.name);
    const where = `${PULL_SECRET.namespace}/${PULL_SECRET.name}`;
    const encoded = secret?.data?.[PULL_SECRET_KEY];
    if (secret === undefined)
      return {
        credentials: undefined,
        state: `no pull secret ${where}: registries are read anonymously`,
      };
    if (encoded === undefined)
      return {
        credentials: undefined,
        state: `pull secret ${where} has no ${PULL_SECRET_KEY}: registries are read anonymously`,
      };
    try {
      const credentials = parseDockerConfig(
        Buffer.from(encoded, 'base64').toString('utf8'),
        `pull secret ${where} ${PULL_SECRET_KEY}`,
      );
      return {
        credentials,
        state: `pull secret ${where}: credentials for ${credentials.registries().join(', ') || 'no registry'}`,
      };
    } catch (err) {
      if (!isVerifyError(err, 'INVALID_CREDENTIALS_FILE')) throw err;
      // The message names the source and a registry key only (parseDockerConfig's contract).
      return { credentials: undefined, state: `${err.message}: registries are read anonymously` };
    }
  }

  /** The cluster Proxy's settings and trustedCA bundle (see {@link accessInputs}), and what to log. */
  private async clusterProxy(): Promise<{
    proxy: ProxySettings | undefined;
    proxyCa: string | undefined;
    state: string;
  }> {
    const { source, caNamespace } = this.options;
    const object = await source.getClusterProxy(CLUSTER_PROXY_NAME);
    if (object === undefined)
      return {
        proxy: undefined,
        proxyCa: undefined,
        state: `no Proxy ${CLUSTER_PROXY_NAME}: the environment's proxy settings apply`,
      };
    const { status, spec } = (typeof object === 'object' && object !== null ? object : {}) as {
      status?: Record<string, unknown>;
      spec?: { trustedCA?: { name?: unknown } };
    };
    const text = (value: unknown): string | undefined =>
      typeof value === 'string' && value !== '' ? value : undefined;
    const httpProxy = text(status?.httpProxy);
    const httpsProxy = text(status?.httpsProxy);
    const noProxy = text(status?.noProxy);
    const proxy: ProxySettings = {
      ...(httpProxy !== undefined ? { httpProxy } : {}),
      ...(httpsProxy !== undefined ? { httpsProxy } : {}),
      ...(noProxy !== undefined ? { noProxy } : {}),
    };
    let proxyCa: string | undefined;
    let state = `Proxy ${CLUSTER_PROXY_NAME}: ${JSON.stringify(describeProxySettings(proxy))}`;
    const caName = text(spec?.trustedCA?.name);
    if (caName !== undefined) {
      const cm = await source.getConfigMap(caNamespace, caName);
      const bundle = cm?.data?.[PROXY_CA_KEY];
      if (bundle?.includes('-----BEGIN CERTIFICATE-----') === true) proxyCa = bundle;
      else
        state += `; its trustedCA config map ${caNamespace}/${caName} has no certificate in ${PROXY_CA_KEY}`;
    }
    return { proxy, proxyCa, state };
  }

  /**
   * The per-registry CAs of the cluster image configuration (spec.additionalTrustedCA): every key
   * of its ConfigMap whose value holds a PEM certificate. A missing object or ConfigMap is none;
   * one that cannot be read is thrown.
   */
  private async registryCas(): Promise<{
    registryCa: string | undefined;
    registryCaState: string;
  }> {
    const { source, caNamespace } = this.options;
    const object = await source.getClusterImageConfig(CLUSTER_IMAGE_CONFIG_NAME);
    const spec = (
      typeof object === 'object' && object !== null ? (object as { spec?: unknown }).spec : {}
    ) as { additionalTrustedCA?: { name?: unknown } } | undefined;
    const name = spec?.additionalTrustedCA?.name;
    const where = `image.config.openshift.io/${CLUSTER_IMAGE_CONFIG_NAME}`;
    if (typeof name !== 'string' || name === '') {
      return {
        registryCa: undefined,
        registryCaState: `no additionalTrustedCA in ${where}`,
      };
    }
    const cm = await source.getConfigMap(caNamespace, name);
    const registries: string[] = [];
    const pems: string[] = [];
    for (const [key, value] of Object.entries(cm?.data ?? {}).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    )) {
      if (!value.includes('-----BEGIN CERTIFICATE-----')) continue;
      // The MCO's file name for a registry with a port: `host..port` (":" is not allowed in keys).
      registries.push(key.replace('..', ':'));
      pems.push(value);
    }
    return {
      registryCa: pems.length > 0 ? pems.join('\n') : undefined,
      registryCaState:
        pems.length > 0
          ? `registry CAs from ${where} (${caNamespace}/${name}) for ${registries.join(', ')}`
          : `${where} names ${caNamespace}/${name} for registry CAs, which holds no certificate`,
    };
  }

  /**
   * ImageDigestMirrorSets and ImageContentSourcePolicies, reduced to what mirror resolution
   * reads. The API server validated them; one it would not have let in is skipped: images are
   * then read from their own repositories, which can only make verification fail, never pass.
   * A kind the cluster does not serve at all has none: `notes` says so (for the verdict), and
   * that and any skipped object are logged once per change.
   */
  async mirrorRules(): Promise<MirrorInputs> {
    const { items, notServed } = await this.options.source.listMirrorSets();
    const rules: MirrorRule[] = [];
    const skipped: string[] = [];
    for (const item of items) {
      const object = apiObject(item);
      const name = `${String(object.kind)}/${object.metadata.name}`;
      try {
        rules.push(...parseMirrorObject(object, name));
      } catch (err) {
        if (!isVerifyError(err, 'INVALID_CONTENT')) throw err;
        skipped.push(err.message);
      }
    }
    const notes = notServed.map(mirrorSetsNotServedNote);
    const state = JSON.stringify([notServed, skipped]);
    if (state !== this.mirrorState && (this.mirrorState !== undefined || state !== '[[],[]]')) {
      if (notServed.length > 0)
        this.options.logger?.info(
          'mirror-set kinds are not served by this cluster: none of them apply',
          { resources: notServed },
        );
      if (skipped.length > 0)
        this.options.logger?.warn(
          'mirror sets skipped: images they name are read from their own repositories',
          {
            skipped,
          },
        );
      if (notServed.length === 0 && skipped.length === 0)
        this.options.logger?.info('every mirror-set kind is served and every mirror set is used');
    }
    this.mirrorState = state;
    return { rules, notes };
  }

  /**
   * The platforms whose instances nodes pull: one per distinct Node architecture, read from the
   * cluster every time (nodes come and go); this process's own when the cluster lists no Node
   * or may not be asked (as the CVO, which runs on the control plane, uses its own).
   */
  private async nodePlatforms(): Promise<string[]> {
    let architectures: string[] = [];
    try {
      architectures = await this.options.source.listNodeArchitectures();
      if (this.nodesError !== undefined)
        this.options.logger?.info('nodes can be listed again; checking their architectures');
      this.nodesError = undefined;
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      // Once per change: RBAC that forbids listing Nodes forbids it for every verification.
      if (error !== this.nodesError)
        this.options.logger?.warn('could not list nodes; checking this architecture only', {
          error,
        });
      this.nodesError = error;
    }
    const platforms = [...new Set(architectures.slice(0, MAX_NODE_PLATFORMS).map(nodePlatform))];
    return platforms.length > 0 ? platforms : [this.options.platform];
  }

  /** The root of trust from the cluster's ConfigMap, parsed again only when it changes. */
  private async configMapTrust(): Promise<RootOfTrust> {
    const { namespace, name } = this.options.rootOfTrust;
    const cm = await this.options.source.getConfigMap(namespace, name);
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
  private async payloadTrust(
    cv: ClusterVersion,
    registry: RegistryReadAccess | undefined,
  ): Promise<RootOfTrust> {
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
    const client = registry?.client ?? this.options.registry;
    if (client === undefined) {
      throw new VerifyError('ROOT_OF_TRUST_NOT_FOUND', 'no registry client to read the payload');
    }
    let manifests: ReadonlyMap<string, Buffer>;
    try {
      const [payload] = await readReleasePayload(client, pullspec, {
        platform: this.options.platform,
        ...(registry !== undefined ? { sources: mirrorSources(registry.mirrors, pullspec) } : {}),
        signal: AbortSignal.timeout(this.options.payloadReadBudgetMs),
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

  private async clusterCa(): Promise<string | undefined> {
    const { namespace, name, key } = this.options.trustedCaBundle;
    const cm = await this.options.source.getConfigMap(namespace, name);
    const bundle = cm?.data?.[key];
    return bundle !== undefined && bundle.includes('-----BEGIN CERTIFICATE-----')
      ? bundle
      : undefined;
  }
}

/**
 * Awaits reads that were started together in the order a sequential reader would have awaited
 * them, so that a failure fails the caller exactly as reading them one after another did: the
 * error thrown is that of the first read, in this order, that fails, thrown as soon as every read
 * before it has succeeded (never later than the sequential reader would have thrown it). Reads
 * after a failure go on unobserved by the caller; their own failures are caught here so that none
 * is left unhandled.
 */
export async function readInOrder<const T extends readonly unknown[]>(reads: {
  readonly [K in keyof T]: Promise<T[K]>;
}): Promise<{ -readonly [K in keyof T]: T[K] }> {
  for (const read of reads as readonly Promise<unknown>[]) read.catch(() => undefined);
  const results: unknown[] = [];
  for (const read of reads as readonly Promise<unknown>[]) results.push(await read);
  return results as { -readonly [K in keyof T]: T[K] };
}

/**
 * What of an object the API server returned is configuration: apiVersion, kind, metadata.name and
 * spec. Server-set metadata (uid, managedFields, …) and status are not.
 */
export function apiObject(item: unknown): {
  readonly apiVersion: unknown;
  readonly kind: unknown;
  readonly metadata: { readonly name: string };
  readonly spec: unknown;
} {
  const object = (typeof item === 'object' && item !== null ? item : {}) as {
    apiVersion?: unknown;
    kind?: unknown;
    metadata?: { name?: unknown };
    spec?: unknown;
  };
  const name = typeof object.metadata?.name === 'string' ? object.metadata.name : '';
  return {
    apiVersion: object.apiVersion,
    kind: object.kind,
    metadata: { name },
    spec: object.spec,
  };
}
