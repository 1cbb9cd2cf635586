import { setTimeout as sleep } from 'node:timers/promises';

import {
  ApiException,
  ApisApi,
  AuthenticationV1Api,
  AuthorizationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  ListWatch,
  PatchStrategy,
  setHeaderOptions,
  Watch,
} from '@kubernetes/client-node';
import { KeepAliveKubeConfig } from './transport.js';
import type { ClusterVersion, ConfigMap, KubeEvent, Lease } from './types.js';

/** The singleton ClusterVersion (config.openshift.io/v1): what the controller reads and writes. */
export interface ClusterVersionPort {
  /** Fails with KubeApiError 404 when there is no such ClusterVersion. */
  getClusterVersion(name: string): Promise<ClusterVersion>;
  /** PUT …/status with the object's resourceVersion: a stale object fails with 409. */
  replaceClusterVersionStatus(cv: ClusterVersion): Promise<ClusterVersion>;
  /** A JSON merge patch of the object (spec), as `oc adm upgrade` and `kubectl patch --type=merge` send. */
  mergePatchClusterVersion(name: string, patch: Record<string, unknown>): Promise<ClusterVersion>;
  watchClusterVersions(handlers: WatchHandlers<ClusterVersion>): Watcher;
}

/** core/v1 Events about the objects this service decides on. */
export interface EventPort {
  createEvent(namespace: string, event: KubeEvent): Promise<void>;
}

/** core/v1 ConfigMaps: trust inputs, the signature cache, the published state. */
export interface ConfigMapPort {
  /** undefined when there is no such ConfigMap (404 is not an error here). */
  getConfigMap(namespace: string, name: string): Promise<ConfigMap | undefined>;
  listConfigMaps(namespace: string, labelSelector?: string): Promise<ConfigMap[]>;
  /** Fails with 409 when the name is taken. */
  createConfigMap(namespace: string, cm: ConfigMap): Promise<ConfigMap>;
  /** With a resourceVersion, a stale object fails with 409; a missing one with 404. */
  replaceConfigMap(namespace: string, cm: ConfigMap): Promise<ConfigMap>;
}

/** coordination.k8s.io/v1 Leases, for leader election. */
export interface LeasePort {
  /** undefined when there is no such Lease (404 is not an error here). */
  getLease(namespace: string, name: string): Promise<Lease | undefined>;
  /** Fails with 409 when the name is taken. */
  createLease(namespace: string, lease: Lease): Promise<Lease>;
  /** With a resourceVersion, a stale object fails with 409; a missing one with 404. */
  replaceLease(namespace: string, lease: Lease): Promise<Lease>;
}

/** The cluster-scoped configuration verification reads besides ConfigMaps. */
export interface ClusterConfigPort {
  /**
   * ClusterImagePolicies (config.openshift.io/v1) as the API server returns them. Fails with
   * {@link ResourceNotServedError} when the cluster serves no version of the resource (its CRD
   * is not installed), with a plain KubeApiError otherwise (a 404 when only another version is
   * served).
   */
  listClusterImagePolicies(): Promise<unknown[]>;
  /**
   * ImageDigestMirrorSets (config.openshift.io/v1) and ImageContentSourcePolicies
   * (operator.openshift.io/v1alpha1). A kind the cluster serves in no version (its CRD is not
   * installed) has none and is named in `notServed`; any other failure, a 404 for a kind served
   * only in another version included, is thrown.
   */
  listMirrorSets(): Promise<MirrorSetList>;
  /** The distinct `status.nodeInfo.architecture` of the cluster's Nodes (sorted). */
  listNodeArchitectures(): Promise<string[]>;
  /**
   * A Secret (the cluster's pull secret: RBAC grants `get` on that one name only); undefined
   * when it does not exist. Its `data` is base64 as the API server returns it: a secret, never
   * logged.
   */
  getSecret(namespace: string, name: string): Promise<SecretData | undefined>;
  /**
   * The cluster-scoped Proxy `name` (config.openshift.io/v1) as the API server returns it;
   * undefined on a 404, whether the object or the Proxy API itself is missing: no proxy is
   * configured (as the cluster-version operator takes a NotFound).
   */
  getClusterProxy(name: string): Promise<unknown>;
  /**
   * The cluster-scoped image configuration `name` (images.config.openshift.io/v1) as the API
   * server returns it; undefined on a 404, whether the object or the API is missing.
   */
  getClusterImageConfig(name: string): Promise<unknown>;
  /**
   * The cluster-scoped FeatureGate `name` (config.openshift.io/v1) as the API server returns it;
   * undefined on a 404, whether the object or the API is missing.
   */
  getFeatureGate(name: string): Promise<unknown>;
}

/** The cluster's mirror sets, and the kinds it does not serve at all. */
export interface MirrorSetList {
  readonly items: unknown[];
  /** `plural.group` of each mirror-set kind the API server serves in no version. */
  readonly notServed: readonly string[];
}

/** A Secret as verification reads it. */
export interface SecretData {
  readonly metadata: { readonly uid?: string; readonly resourceVersion?: string };
  readonly type?: string;
  /** Values base64-encoded, as the API server returns them. */
  readonly data?: Readonly<Record<string, string>>;
}

/** Who a caller of the HTTP surface is, and what it may do. */
export interface AccessReviewPort {
  /** TokenReview: who a bearer token belongs to, or undefined when it is not valid. */
  reviewToken(token: string): Promise<{ username: string; groups: string[] } | undefined>;
  /** SubjectAccessReview for a non-resource URL and verb. */
  canAccess(
    user: { username: string; groups: string[] },
    path: string,
    verb: string,
  ): Promise<boolean>;
}

/**
 * The narrow port through which the service talks to Kubernetes. This file is the only importer
 * of @kubernetes/client-node; everything else sees these methods and KubeApiError. Consumers
 * depend on the role interfaces above that they use (the controller on ClusterVersionPort and
 * EventPort, leader election on LeasePort, …), so an in-memory fake or a narrower test double
 * only needs those; the composition root passes the whole port.
 */
export interface KubePort
  extends
    ClusterVersionPort,
    EventPort,
    ConfigMapPort,
    LeasePort,
    ClusterConfigPort,
    AccessReviewPort {
  describe(): string;
}

export type { KubeEvent, Lease };

export interface WatchHandlers<T> {
  readonly onChange: (object: T) => void;
  readonly onDelete?: (object: T) => void;
  readonly onError?: (error: unknown, retryInMs: number) => void;
  readonly onConnect?: () => void;
}

export interface Watcher {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** An API error with its HTTP status (409 conflict, 404 not found, 403 forbidden, …). */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  readonly status: number;
  constructor(status: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
  }
}

/**
 * The API server serves no version of a resource type: its CustomResourceDefinition is not
 * installed (a ClusterImagePolicy on a cluster without TechPreviewNoUpgrade before the API went
 * GA). A list answered 404 is this error only once discovery confirmed that no version of the
 * group has the resource; a missing object, a resource served under another version, a 403 or a
 * failed discovery never are.
 */
export class ResourceNotServedError extends KubeApiError {
  /** `plural.group`, as the API server names the resource type. */
  readonly resource: string;
  constructor(what: string, resource: string, options?: { cause?: unknown }) {
    super(404, `${what}: 404 the API server does not serve ${resource} in any version`, options);
    this.resource = resource;
  }
}

/** Whether `err` says the resource type is not served at all ({@link ResourceNotServedError}). */
export function isResourceNotServed(err: unknown): err is ResourceNotServedError {
  return err instanceof ResourceNotServedError;
}

export interface KubeConfigOptions {
  /** A kubeconfig file; else KUBECONFIG-style default loading, else in-cluster. */
  readonly kubeconfig?: string;
  readonly context?: string;
  /** Environment for default loading (KUBECONFIG); read by the caller, not here. */
  readonly inCluster?: boolean;
}

/** Informer restarts after an error back off from this delay, doubling, up to the cap. */
export const WATCH_RESTART_BASE_MS = 500;
export const WATCH_RESTART_MAX_MS = 30_000;
/** An error after this long without one starts the backoff over. */
const WATCH_HEALTHY_RESET_MS = 60_000;

const CV = { group: 'config.openshift.io', version: 'v1', plural: 'clusterversions' } as const;
const PROXY = { group: 'config.openshift.io', version: 'v1', plural: 'proxies' } as const;
const IMAGE_CONFIG = { group: 'config.openshift.io', version: 'v1', plural: 'images' } as const;
const FEATURE_GATE = {
  group: 'config.openshift.io',
  version: 'v1',
  plural: 'featuregates',
} as const;

export function loadKubeConfig(options: KubeConfigOptions): KubeConfig {
  const kc = new KubeConfig();
  if (options.kubeconfig !== undefined) kc.loadFromFile(options.kubeconfig);
  else if (options.inCluster === true) kc.loadFromCluster();
  else kc.loadFromDefault();
  if (options.context !== undefined) kc.setCurrentContext(options.context);
  return kc;
}

/**
 * The port over `source`'s cluster and user. Every request and watch of one port shares one
 * keep-alive dispatcher ({@link KeepAliveKubeConfig}), so a reconcile's API calls reuse open
 * connections instead of opening one each.
 */
export function createKubePort(source: KubeConfig): KubePort {
  const kc = source instanceof KeepAliveKubeConfig ? source : KeepAliveKubeConfig.from(source);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  /** A cluster-scoped config.openshift.io singleton; undefined on a 404 (object or API absent). */
  const getClusterConfig = async (
    what: string,
    resource: { readonly group: string; readonly version: string; readonly plural: string },
    name: string,
  ): Promise<unknown> => {
    try {
      return await call(
        what,
        async (): Promise<unknown> => await custom.getClusterCustomObject({ ...resource, name }),
      );
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  };
  const coordination = kc.makeApiClient(CoordinationV1Api);
  const authn = kc.makeApiClient(AuthenticationV1Api);
  const authz = kc.makeApiClient(AuthorizationV1Api);
  const apis = kc.makeApiClient(ApisApi);
  const server = kc.getCurrentCluster()?.server ?? 'unknown';

  return {
    describe: () => `Kubernetes API at ${server}`,
    getClusterVersion: (name) =>
      call(
        `get clusterversion ${name}`,
        async () => (await custom.getClusterCustomObject({ ...CV, name })) as ClusterVersion,
      ),
    mergePatchClusterVersion: (name, patch) =>
      call(
        `patch clusterversion ${name}`,
        async () =>
          (await custom.patchClusterCustomObject(
            { ...CV, name, body: patch },
            setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
          )) as ClusterVersion,
      ),
    listMirrorSets: async () => {
      const list = async (
        resource: { readonly group: string; readonly version: string; readonly plural: string },
        kind: string,
      ): Promise<{ items: unknown[]; notServed?: string }> => {
        const what = `list ${resource.plural}`;
        try {
          const items = await call(what, async () => {
            const result = (await custom.listClusterCustomObject(resource)) as {
              items?: unknown[];
            };
            return (result.items ?? []).map((item) => ({
              kind,
              apiVersion: `${resource.group}/${resource.version}`,
              ...(item as object),
            }));
          });
          return { items };
        } catch (err) {
          if (!(err instanceof KubeApiError) || err.status !== 404) throw err;
          const { error } = await explainListNotFound(what, resource, err, {
            groups: () => apis.getAPIVersions(),
            resources: (group, version) => custom.getAPIResources({ group, version }),
          });
          if (!isResourceNotServed(error)) throw error;
          return { items: [], notServed: error.resource };
        }
      };
      // Both kinds at once; a failure is reported in this order (the first kind's first), as a
      // sequential read would, and the other's is not left unhandled.
      const reads = [
        list(
          { group: 'config.openshift.io', version: 'v1', plural: 'imagedigestmirrorsets' },
          'ImageDigestMirrorSet',
        ),
        list(
          {
            group: 'operator.openshift.io',
            version: 'v1alpha1',
            plural: 'imagecontentsourcepolicies',
          },
          'ImageContentSourcePolicy',
        ),
      ];
      for (const read of reads) read.catch(() => undefined);
      const items: unknown[] = [];
      const notServed: string[] = [];
      for (const read of reads) {
        const one = await read;
        items.push(...one.items);
        if (one.notServed !== undefined) notServed.push(one.notServed);
      }
      return { items, notServed };
    },
    listClusterImagePolicies: async () => {
      const what = 'list clusterimagepolicies';
      const resource = {
        group: 'config.openshift.io',
        version: 'v1',
        plural: 'clusterimagepolicies',
      };
      const listAs = (version: string): Promise<unknown[]> =>
        call(what, async () => {
          const list = (await custom.listClusterCustomObject({ ...resource, version })) as {
            items?: unknown[];
          };
          return list.items ?? [];
        });
      try {
        return await listAs(resource.version);
      } catch (err) {
        if (!(err instanceof KubeApiError) || err.status !== 404) throw err;
        const { error, servedIn } = await explainListNotFound(what, resource, err, {
          groups: () => apis.getAPIVersions(),
          resources: (group, version) => custom.getAPIResources({ group, version }),
        });
        // Before v1 (OpenShift 4.16–4.19 TechPreviewNoUpgrade) the CRD served v1alpha1 alone; its
        // objects are policies all the same (src/policy validates both versions). Any other
        // version stays the 404 naming it: those objects exist but are not understood here.
        if (
          servedIn.includes(CLUSTER_IMAGE_POLICY_PREVIOUS_VERSION) &&
          !servedIn.includes(resource.version)
        ) {
          return await listAs(CLUSTER_IMAGE_POLICY_PREVIOUS_VERSION);
        }
        throw error;
      }
    },
    replaceClusterVersionStatus: (cv) =>
      call(
        `update clusterversion ${cv.metadata.name ?? ''} status`,
        async () =>
          (await custom.replaceClusterCustomObjectStatus({
            ...CV,
            name: cv.metadata.name ?? '',
            body: cv,
          })) as ClusterVersion,
      ),
    watchClusterVersions: (handlers) =>
      createWatcher<ClusterVersion>(
        kc,
        `/apis/${CV.group}/${CV.version}/${CV.plural}`,
        async () =>
          (await custom.listClusterCustomObject({ ...CV })) as {
            metadata?: { resourceVersion?: string };
            items: ClusterVersion[];
          },
        handlers,
      ),
    getConfigMap: async (namespace, name) => {
      try {
        return (await core.readNamespacedConfigMap({ namespace, name })) as ConfigMap;
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return undefined;
        throw toKubeError(`get configmap ${namespace}/${name}`, err);
      }
    },
    getSecret: async (namespace, name) => {
      const what = `get secret ${namespace}/${name}`;
      try {
        const secret = await core.readNamespacedSecret({ namespace, name });
        // Only what verification reads: no managedFields, annotations or stringData copies.
        return {
          metadata: {
            ...(secret.metadata?.uid !== undefined ? { uid: secret.metadata.uid } : {}),
            ...(secret.metadata?.resourceVersion !== undefined
              ? { resourceVersion: secret.metadata.resourceVersion }
              : {}),
          },
          ...(secret.type !== undefined ? { type: secret.type } : {}),
          ...(secret.data !== undefined ? { data: secret.data } : {}),
        };
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return undefined;
        // Fixed words only: a Status body's message names the Secret, but anything else (a body
        // that did not parse, a transport error quoting what it read) might hold its content.
        throw secretReadError(what, err);
      }
    },
    getClusterProxy: (name) => getClusterConfig(`get proxy ${name}`, PROXY, name),
    getClusterImageConfig: (name) =>
      getClusterConfig(`get image.config.openshift.io ${name}`, IMAGE_CONFIG, name),
    getFeatureGate: (name) => getClusterConfig(`get featuregate ${name}`, FEATURE_GATE, name),
    listNodeArchitectures: () =>
      call('list nodes', async () => {
        const nodes = (await core.listNode()).items;
        const archs = new Set<string>();
        for (const node of nodes) {
          const arch = node.status?.nodeInfo?.architecture;
          if (typeof arch === 'string' && arch !== '') archs.add(arch);
        }
        return [...archs].sort();
      }),
    listConfigMaps: (namespace, labelSelector) =>
      call(
        `list configmaps in ${namespace}`,
        async () =>
          (
            await core.listNamespacedConfigMap({
              namespace,
              ...(labelSelector !== undefined ? { labelSelector } : {}),
            })
          ).items as ConfigMap[],
      ),
    createConfigMap: (namespace, cm) =>
      call(
        `create configmap ${namespace}/${cm.metadata.name ?? ''}`,
        async () =>
          (await core.createNamespacedConfigMap({ namespace, body: cm as never })) as ConfigMap,
      ),
    replaceConfigMap: (namespace, cm) =>
      call(
        `update configmap ${namespace}/${cm.metadata.name ?? ''}`,
        async () =>
          (await core.replaceNamespacedConfigMap({
            namespace,
            name: cm.metadata.name ?? '',
            body: cm as never,
          })) as ConfigMap,
      ),
    createEvent: async (namespace, event) => {
      await call(`create event in ${namespace}`, () =>
        core.createNamespacedEvent({ namespace, body: event as never }),
      );
    },
    getLease: async (namespace, name) => {
      try {
        return fromLease(await coordination.readNamespacedLease({ namespace, name }));
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return undefined;
        throw toKubeError(`get lease ${namespace}/${name}`, err);
      }
    },
    createLease: (namespace, lease) =>
      call(`create lease ${namespace}`, async () =>
        fromLease(await coordination.createNamespacedLease({ namespace, body: toLease(lease) })),
      ),
    replaceLease: (namespace, lease) =>
      call(`update lease ${namespace}`, async () =>
        fromLease(
          await coordination.replaceNamespacedLease({
            namespace,
            name: lease.metadata.name ?? '',
            body: toLease(lease),
          }),
        ),
      ),
    reviewToken: (token) =>
      call('create tokenreview', async () => {
        // client-node's model classes are plain data to its serializer.
        // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
        const review = await authn.createTokenReview({ body: { spec: { token } } });
        const user = review.status?.user;
        return review.status?.authenticated === true && user?.username !== undefined
          ? { username: user.username, groups: user.groups ?? [] }
          : undefined;
      }),
    canAccess: (user, path, verb) =>
      call('create subjectaccessreview', async () => {
        /* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment -- client-node's
           model classes are plain data to its serializer */
        const review = await authz.createSubjectAccessReview({
          body: {
            spec: {
              user: user.username,
              groups: user.groups,
              nonResourceAttributes: { path, verb },
            },
          },
        });
        /* eslint-enable @typescript-eslint/no-unsafe-class-instance-assignment */
        return review.status?.allowed === true;
      }),
  };
}

/** The ClusterImagePolicy version served before v1, listed when a cluster serves only it. */
export const CLUSTER_IMAGE_POLICY_PREVIOUS_VERSION = 'v1alpha1';

/** The discovery documents {@link explainListNotFound} reads. */
interface Discovery {
  groups(): Promise<{ groups: { name: string; versions: { version: string }[] }[] }>;
  resources(group: string, version: string): Promise<{ resources: { name: string }[] }>;
}

/**
 * What a 404 to a cluster-scoped list means. A list names no object, so the API server answers
 * 404 ("404 page not found") only when it does not route the resource at that group/version; the
 * group's discovery then tells the two cases apart: no version has the resource (its CRD is not
 * installed: {@link ResourceNotServedError}), or another version has it (a plain 404 naming the
 * versions served: those objects exist but are not read here, which must not pass for none).
 * A failed discovery is thrown as it is: not knowing is never "not served".
 */
async function explainListNotFound(
  what: string,
  resource: { readonly group: string; readonly version: string; readonly plural: string },
  notFound: KubeApiError,
  discovery: Discovery,
): Promise<{ error: KubeApiError; servedIn: readonly string[] }> {
  const name = `${resource.plural}.${resource.group}`;
  const group = (
    await call(`discover API groups (after ${what})`, () => discovery.groups())
  ).groups.find((g) => g.name === resource.group);
  const servedIn: string[] = [];
  for (const { version } of group?.versions ?? []) {
    const list = await call(`discover ${resource.group}/${version} (after ${what})`, () =>
      discovery.resources(resource.group, version),
    );
    if (list.resources.some((r) => r.name === resource.plural)) servedIn.push(version);
  }
  if (servedIn.length === 0) {
    return { error: new ResourceNotServedError(what, name, { cause: notFound }), servedIn };
  }
  // Served under the version asked for too: it was installed meanwhile; a retry will list it.
  if (servedIn.includes(resource.version)) return { error: notFound, servedIn };
  return {
    error: new KubeApiError(
      404,
      `${what}: 404 ${name} is served as ${servedIn.map((v) => `${resource.group}/${v}`).join(', ')}, not ${resource.group}/${resource.version}`,
      { cause: notFound },
    ),
    servedIn,
  };
}

/** 429 Too Many Requests is retried this often, honouring Retry-After (as client-go does). */
const MAX_429_RETRIES = 5;
const MAX_RETRY_AFTER_MS = 5_000;

async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ApiException && err.code === 429 && attempt < MAX_429_RETRIES) {
        await sleep(retryAfterMs(err));
        continue;
      }
      throw toKubeError(what, err);
    }
  }
}

/** Retry-After from the header or the Status body's details, capped; 1 s when absent. */
function retryAfterMs(err: ApiException<unknown>): number {
  const header = Number(err.headers['retry-after']);
  const body = err.body as { details?: { retryAfterSeconds?: unknown } } | string | undefined;
  const detail =
    typeof body === 'object' && typeof body.details?.retryAfterSeconds === 'number'
      ? body.details.retryAfterSeconds
      : NaN;
  const seconds = Number.isFinite(header) ? header : Number.isFinite(detail) ? detail : 1;
  return Math.min(Math.max(seconds, 0) * 1000, MAX_RETRY_AFTER_MS);
}

/**
 * A failed Secret read, in words that cannot carry the Secret: the HTTP status and the API
 * server's Status message (which names the object, never its data); no cause is kept, since a
 * parser's or transport's error may quote the bytes it read.
 */
function secretReadError(what: string, err: unknown): KubeApiError {
  if (err instanceof ApiException) {
    const body = err.body as { message?: unknown } | null | undefined;
    const status =
      typeof body === 'object' &&
      body !== null &&
      typeof body.message === 'string' &&
      body.message.length <= 1024
        ? body.message
        : 'the API server answered without a Status message';
    return new KubeApiError(err.code, `${what}: ${String(err.code)} ${status}`);
  }
  return new KubeApiError(0, `${what}: the request failed before the API server answered`);
}

function toKubeError(what: string, err: unknown): KubeApiError {
  if (err instanceof ApiException) {
    const body = err.body as { message?: string } | string | undefined;
    const message =
      typeof body === 'object' && typeof body.message === 'string'
        ? body.message
        : typeof body === 'string'
          ? body
          : err.message;
    return new KubeApiError(err.code, `${what}: ${String(err.code)} ${message}`, { cause: err });
  }
  return new KubeApiError(0, `${what}: ${err instanceof Error ? err.message : String(err)}`, {
    cause: err,
  });
}

/**
 * An informer that relists after 410 Gone (the client does) and restarts with capped exponential
 * backoff after any other error (the client stops on those).
 */
function createWatcher<T extends { metadata?: object }>(
  kc: KubeConfig,
  path: string,
  list: () => Promise<{ metadata?: { resourceVersion?: string }; items: T[] }>,
  handlers: WatchHandlers<T>,
): Watcher {
  // client-node waits 1, 2, 4 … 30 s before re-opening a watch the server closed cleanly when no
  // event came in between: capped, so a quiet object's next edit is not seen up to 30 s late.
  const informer = new ListWatch(path, new Watch(kc), list, false, undefined, undefined, {
    delayFn: (ms) => sleep(Math.min(ms, WATCH_RESTART_BASE_MS)),
  });
  let stopped = false;
  let delay = WATCH_RESTART_BASE_MS;
  let lastErrorAt = 0;
  let timer: NodeJS.Timeout | undefined;
  informer.on('add', (o) => {
    handlers.onChange(o);
  });
  informer.on('update', (o) => {
    handlers.onChange(o);
  });
  informer.on('delete', (o) => handlers.onDelete?.(o));
  informer.on('connect', () => {
    handlers.onConnect?.();
  });
  informer.on('error', (err: unknown) => {
    if (stopped) return;
    // Consecutive failures back off; a watch that stayed healthy for a while starts over. (The
    // client's start() resolves even when its list fails, so its result cannot tell.)
    const now = Date.now();
    if (now - lastErrorAt > WATCH_HEALTHY_RESET_MS) delay = WATCH_RESTART_BASE_MS;
    lastErrorAt = now;
    const wait = delay;
    delay = Math.min(delay * 2, WATCH_RESTART_MAX_MS);
    handlers.onError?.(err, wait);
    timer = setTimeout(() => {
      if (stopped) return;
      informer.start().catch((e: unknown) => handlers.onError?.(e, delay));
    }, wait);
  });
  return {
    async start() {
      stopped = false;
      await informer.start();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await informer.stop();
    },
  };
}

/** MicroTime: RFC 3339 with exactly six fractional digits, as the API server parses it. */
function toMicroTime(time: string): string {
  return new Date(time).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** client-node passes MicroTime values through as given; the port speaks RFC 3339 strings. */
function toLease(lease: Lease): never {
  const spec = lease.spec ?? {};
  return {
    ...lease,
    spec: {
      ...spec,
      ...(spec.renewTime !== undefined ? { renewTime: toMicroTime(spec.renewTime) } : {}),
      ...(spec.acquireTime !== undefined ? { acquireTime: toMicroTime(spec.acquireTime) } : {}),
    },
  } as never;
}

/** client-node returns Lease times as Date objects; the port speaks MicroTime strings. */
function fromLease(lease: unknown): Lease {
  return JSON.parse(JSON.stringify(lease)) as Lease;
}
