import { setTimeout as sleep } from 'node:timers/promises';

import { Credentials } from './credentials.js';
import {
  isResourceNotServed,
  KubeApiError,
  parseJsonObject,
  ResourceNotServedError,
  responseError,
  transportError,
} from './errors.js';
import type { KubeConfig } from './kubeconfig.js';
import { KubeTransport } from './transport.js';
import type { HttpMethod, KubeResponse } from './transport.js';
import type { ClusterVersion, ConfigMap, KubeEvent, Lease } from './types.js';
import { createInformer, MAX_LIST_BYTES } from './watch.js';
import type { WatchHandlers, Watcher } from './watch.js';

export {
  isResourceNotServed,
  KubeApiError,
  KubeConfigError,
  ResourceNotServedError,
} from './errors.js';
export { loadKubeConfig } from './kubeconfig.js';
export type { InClusterOptions, KubeConfig, KubeConfigOptions } from './kubeconfig.js';
export { WATCH_RESTART_BASE_MS, WATCH_RESTART_MAX_MS } from './watch.js';
export type { WatchHandlers, Watcher } from './watch.js';

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
  /** An informer over the ConfigMaps of `namespace` that match `labelSelector`. */
  watchConfigMaps(
    namespace: string,
    labelSelector: string,
    handlers: WatchHandlers<ConfigMap>,
  ): Watcher;
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
 * The narrow port through which the service talks to Kubernetes. Only src/kube/ speaks HTTP to
 * the API server; everything else sees these methods and KubeApiError. Consumers
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

/** Tests' and the composition root's choices; defaults are the production ones. */
export interface KubePortOptions {
  /** Clock for exec plugin credential expiry. */
  readonly now?: () => number;
  /**
   * The environment an exec plugin starts from, before its own env entries; default this
   * process's (the plugin runs as kubectl would run it here).
   */
  readonly execEnv?: Readonly<Record<string, string | undefined>>;
  /**
   * Called with each warning the API server returns (a `Warning: 299 - "…"` header: deprecated
   * APIs, an admission webhook's warnings), as kubectl prints them; control characters are
   * replaced, so a webhook's text cannot drive the terminal.
   */
  readonly onWarning?: (message: string) => void;
}

/**
 * One object (a ConfigMap, a ClusterVersion, a Lease, a review): etcd stores at most 1.5 MiB per
 * object by default, and the API server accepts requests of 3 MiB; 8 MiB bounds anything else.
 */
const MAX_OBJECT_BYTES = 8 * 1024 * 1024;
/** A discovery document (/apis lists every group; OpenShift's is some 100 KiB). */
const MAX_DISCOVERY_BYTES = 8 * 1024 * 1024;

interface Resource {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
}

const CV = { group: 'config.openshift.io', version: 'v1', plural: 'clusterversions' } as const;
const PROXY = { group: 'config.openshift.io', version: 'v1', plural: 'proxies' } as const;
const IMAGE_CONFIG = { group: 'config.openshift.io', version: 'v1', plural: 'images' } as const;
const FEATURE_GATE = {
  group: 'config.openshift.io',
  version: 'v1',
  plural: 'featuregates',
} as const;

const segment = encodeURIComponent;
const clusterPath = (r: Resource, name?: string): string =>
  `/apis/${r.group}/${r.version}/${r.plural}${name !== undefined ? `/${segment(name)}` : ''}`;
const corePath = (namespace: string, plural: string, name?: string): string =>
  `/api/v1/namespaces/${segment(namespace)}/${plural}${name !== undefined ? `/${segment(name)}` : ''}`;
const leasePath = (namespace: string, name?: string): string =>
  `/apis/coordination.k8s.io/v1/namespaces/${segment(namespace)}/leases${name !== undefined ? `/${segment(name)}` : ''}`;

/** One API call: what it is (for messages), the request, and how much of an answer to read. */
interface Call {
  readonly what: string;
  readonly method: HttpMethod;
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  readonly body?: unknown;
  readonly contentType?: string;
  readonly maxBytes?: number;
}

/**
 * The port over `config`'s cluster and user. Every request and watch of one port shares one
 * keep-alive dispatcher ({@link KubeTransport}), so a reconcile's API calls reuse open
 * connections instead of opening one each.
 */
export function createKubePort(config: KubeConfig, options: KubePortOptions = {}): KubePort {
  const credentials = new Credentials(config, {
    now: options.now ?? Date.now,
    env: options.execEnv ?? process.env,
  });
  const transport = new KubeTransport(config, credentials);
  const api = <T>(call: Call): Promise<T> => send<T>(transport, call, options.onWarning);
  /** A cluster-scoped config.openshift.io singleton; undefined on a 404 (object or API absent). */
  const getClusterConfig = async (
    what: string,
    resource: Resource,
    name: string,
  ): Promise<unknown> => {
    try {
      return await api({ what, method: 'GET', path: clusterPath(resource, name) });
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  };
  /** undefined on a 404. */
  const getOptional = async <T>(call: Call): Promise<T | undefined> => {
    try {
      return await api<T>(call);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  };
  const discovery: Discovery = {
    groups: (what) => api({ what, method: 'GET', path: '/apis', maxBytes: MAX_DISCOVERY_BYTES }),
    resources: (what, group, version) =>
      api({
        what,
        method: 'GET',
        path: `/apis/${group}/${version}`,
        maxBytes: MAX_DISCOVERY_BYTES,
      }),
  };
  const listItems = async (what: string, path: string, query?: Record<string, string>) =>
    (
      await api<{ items?: unknown[] | null }>({
        what,
        method: 'GET',
        path,
        maxBytes: MAX_LIST_BYTES,
        ...(query !== undefined ? { query } : {}),
      })
    ).items ?? [];

  return {
    describe: () => `Kubernetes API at ${config.cluster.server}`,
    getClusterVersion: (name) =>
      api({ what: `get clusterversion ${name}`, method: 'GET', path: clusterPath(CV, name) }),
    mergePatchClusterVersion: (name, patch) =>
      api({
        what: `patch clusterversion ${name}`,
        method: 'PATCH',
        path: clusterPath(CV, name),
        body: patch,
        contentType: 'application/merge-patch+json',
      }),
    listMirrorSets: async () => {
      const list = async (
        resource: Resource,
        kind: string,
      ): Promise<{ items: unknown[]; notServed?: string }> => {
        const what = `list ${resource.plural}`;
        try {
          const items = await listItems(what, clusterPath(resource));
          return {
            items: items.map((item) => ({
              kind,
              apiVersion: `${resource.group}/${resource.version}`,
              ...(item as object),
            })),
          };
        } catch (err) {
          if (!(err instanceof KubeApiError) || err.status !== 404) throw err;
          const { error } = await explainListNotFound(what, resource, err, discovery);
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
        listItems(what, clusterPath({ ...resource, version }));
      try {
        return await listAs(resource.version);
      } catch (err) {
        if (!(err instanceof KubeApiError) || err.status !== 404) throw err;
        const { error, servedIn } = await explainListNotFound(what, resource, err, discovery);
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
      api({
        what: `update clusterversion ${cv.metadata.name ?? ''} status`,
        method: 'PUT',
        path: `${clusterPath(CV, cv.metadata.name ?? '')}/status`,
        body: cv,
      }),
    watchClusterVersions: (handlers: WatchHandlers<ClusterVersion>): Watcher =>
      createInformer<ClusterVersion>({
        transport,
        path: clusterPath(CV),
        resource: CV.plural,
        handlers,
        ...(options.now !== undefined ? { now: options.now } : {}),
      }),
    getConfigMap: (namespace, name) =>
      getOptional<ConfigMap>({
        what: `get configmap ${namespace}/${name}`,
        method: 'GET',
        path: corePath(namespace, 'configmaps', name),
      }),
    getSecret: (namespace, name) => readSecret(transport, namespace, name),
    getClusterProxy: (name) => getClusterConfig(`get proxy ${name}`, PROXY, name),
    getClusterImageConfig: (name) =>
      getClusterConfig(`get image.config.openshift.io ${name}`, IMAGE_CONFIG, name),
    getFeatureGate: (name) => getClusterConfig(`get featuregate ${name}`, FEATURE_GATE, name),
    listNodeArchitectures: async () => {
      const nodes = (await listItems('list nodes', '/api/v1/nodes')) as {
        status?: { nodeInfo?: { architecture?: unknown } };
      }[];
      const archs = new Set<string>();
      for (const node of nodes) {
        const arch = node.status?.nodeInfo?.architecture;
        if (typeof arch === 'string' && arch !== '') archs.add(arch);
      }
      return [...archs].sort();
    },
    watchConfigMaps: (namespace, labelSelector, handlers) =>
      createInformer<ConfigMap>({
        transport,
        path: corePath(namespace, 'configmaps'),
        resource: `configmaps in ${namespace}`,
        query: { labelSelector },
        handlers,
        ...(options.now !== undefined ? { now: options.now } : {}),
      }),
    listConfigMaps: async (namespace, labelSelector) =>
      (await listItems(
        `list configmaps in ${namespace}`,
        corePath(namespace, 'configmaps'),
        labelSelector !== undefined ? { labelSelector } : undefined,
      )) as ConfigMap[],
    createConfigMap: (namespace, cm) =>
      api({
        what: `create configmap ${namespace}/${cm.metadata.name ?? ''}`,
        method: 'POST',
        path: corePath(namespace, 'configmaps'),
        body: cm,
      }),
    replaceConfigMap: (namespace, cm) =>
      api({
        what: `update configmap ${namespace}/${cm.metadata.name ?? ''}`,
        method: 'PUT',
        path: corePath(namespace, 'configmaps', cm.metadata.name ?? ''),
        body: cm,
      }),
    createEvent: async (namespace, event) => {
      await api({
        what: `create event in ${namespace}`,
        method: 'POST',
        path: corePath(namespace, 'events'),
        body: event,
      });
    },
    getLease: (namespace, name) =>
      getOptional<Lease>({
        what: `get lease ${namespace}/${name}`,
        method: 'GET',
        path: leasePath(namespace, name),
      }),
    createLease: (namespace, lease) =>
      api({
        what: `create lease ${namespace}`,
        method: 'POST',
        path: leasePath(namespace),
        body: toLease(lease),
      }),
    replaceLease: (namespace, lease) =>
      api({
        what: `update lease ${namespace}`,
        method: 'PUT',
        path: leasePath(namespace, lease.metadata.name ?? ''),
        body: toLease(lease),
      }),
    reviewToken: async (token) => {
      const review = await api<{
        status?: { authenticated?: boolean; user?: { username?: string; groups?: string[] } };
      }>({
        what: 'create tokenreview',
        method: 'POST',
        path: '/apis/authentication.k8s.io/v1/tokenreviews',
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
      });
      const user = review.status?.user;
      return review.status?.authenticated === true && user?.username !== undefined
        ? { username: user.username, groups: user.groups ?? [] }
        : undefined;
    },
    canAccess: async (user, path, verb) => {
      const review = await api<{ status?: { allowed?: boolean } }>({
        what: 'create subjectaccessreview',
        method: 'POST',
        path: '/apis/authorization.k8s.io/v1/subjectaccessreviews',
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: { user: user.username, groups: user.groups, nonResourceAttributes: { path, verb } },
        },
      });
      return review.status?.allowed === true;
    },
  };
}

/** The ClusterImagePolicy version served before v1, listed when a cluster serves only it. */
export const CLUSTER_IMAGE_POLICY_PREVIOUS_VERSION = 'v1alpha1';

/** 429 Too Many Requests is retried this often, honouring Retry-After (as client-go does). */
const MAX_429_RETRIES = 5;
const MAX_RETRY_AFTER_MS = 5_000;

/** Sends one call, retrying 429s; a non-2xx answer is a KubeApiError quoting the Status. */
async function send<T>(
  transport: KubeTransport,
  call: Call,
  onWarning?: (message: string) => void,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    let res: KubeResponse;
    try {
      res = await transport.request(
        {
          method: call.method,
          path: call.path,
          ...(call.query !== undefined ? { query: call.query } : {}),
          ...(call.body !== undefined ? { body: call.body } : {}),
          ...(call.contentType !== undefined ? { contentType: call.contentType } : {}),
        },
        call.maxBytes ?? MAX_OBJECT_BYTES,
      );
    } catch (err) {
      throw transportError(call.what, err);
    }
    if (onWarning !== undefined)
      for (const warning of parseWarnings(res.headers.warning)) onWarning(warning);
    if (res.status === 429 && attempt < MAX_429_RETRIES) {
      await sleep(retryAfterMs(res));
      continue;
    }
    if (res.status < 200 || res.status > 299) throw responseError(call.what, res.status, res.body);
    return parseJsonObject(call.what, res.body) as T;
  }
}

/** At most this many warnings of one answer are reported, each cut to this many characters. */
const MAX_WARNINGS = 16;
const MAX_WARNING_CHARS = 4096;

/**
 * The texts of an answer's `Warning` headers with code 299, as the API server writes them
 * (`299 - "text"`, one header each, RFC 7234 quoted-string escapes); any other code or shape is
 * ignored, as client-go ignores it. Control characters become U+FFFD.
 */
export function parseWarnings(header: string | string[] | undefined): string[] {
  if (header === undefined) return [];
  const values = Array.isArray(header) ? header : [header];
  const warnings: string[] = [];
  for (const value of values) {
    // Several warnings may share one header, comma-separated between quoted strings.
    const re = /(?:^|,)\s*(\d{3}) +[^ ,"]+ +"((?:[^"\\]|\\.)*)"(?: +"[^"]*")?\s*(?=,|$)/gy;
    let match;
    while ((match = re.exec(value)) !== null && warnings.length < MAX_WARNINGS) {
      if (match[1] !== '299') continue;
      const text = (match[2] ?? '')
        .replace(/\\(.)/g, '$1')
        // eslint-disable-next-line no-control-regex -- replacing control characters is the point
        .replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '\ufffd')
        .slice(0, MAX_WARNING_CHARS);
      if (text !== '') warnings.push(text);
    }
  }
  return warnings;
}

/** Retry-After from the header or the Status body's details, capped; 1 s when absent. */
function retryAfterMs(res: KubeResponse): number {
  const raw = res.headers['retry-after'];
  const header = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  let detail = NaN;
  try {
    const status = JSON.parse(res.body.toString('utf8')) as {
      details?: { retryAfterSeconds?: unknown };
    } | null;
    if (typeof status?.details?.retryAfterSeconds === 'number')
      detail = status.details.retryAfterSeconds;
  } catch {
    // No Status body: the header or the default.
  }
  const seconds = Number.isFinite(header) ? header : Number.isFinite(detail) ? detail : 1;
  return Math.min(Math.max(seconds, 0) * 1000, MAX_RETRY_AFTER_MS);
}

/**
 * A Secret read. Its errors are in words that cannot carry the Secret: the HTTP status and the
 * API server's Status message (which names the object, never its data); no cause is kept and no
 * body is quoted, since a parser's or transport's error may quote the bytes it read.
 */
async function readSecret(
  transport: KubeTransport,
  namespace: string,
  name: string,
): Promise<SecretData | undefined> {
  const what = `get secret ${namespace}/${name}`;
  let res: KubeResponse;
  try {
    res = await transport.request(
      { method: 'GET', path: corePath(namespace, 'secrets', name) },
      MAX_OBJECT_BYTES,
    );
  } catch (err) {
    throw new KubeApiError(
      0,
      err instanceof Error && err.name === 'ResponseTooLargeError'
        ? `${what}: the API server's answer is larger than ${String(MAX_OBJECT_BYTES)} bytes`
        : `${what}: the request failed before the API server answered`,
    );
  }
  if (res.status === 404) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(res.body.toString('utf8'));
  } catch {
    body = undefined;
  }
  if (res.status < 200 || res.status > 299) {
    const status = body as { kind?: unknown; message?: unknown } | null | undefined;
    const message =
      typeof status === 'object' &&
      status !== null &&
      status.kind === 'Status' &&
      typeof status.message === 'string' &&
      status.message.length <= 1024
        ? status.message
        : 'the API server answered without a Status message';
    throw new KubeApiError(res.status, `${what}: ${String(res.status)} ${message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new KubeApiError(
      0,
      `${what}: the API server's answer is not a JSON object (${String(res.body.length)} bytes)`,
    );
  const secret = body as {
    metadata?: { uid?: unknown; resourceVersion?: unknown };
    type?: unknown;
    data?: unknown;
  };
  const data = secret.data;
  if (
    data !== undefined &&
    data !== null &&
    (typeof data !== 'object' ||
      Array.isArray(data) ||
      Object.values(data).some((v) => typeof v !== 'string'))
  )
    throw new KubeApiError(0, `${what}: the Secret's data is not a map of strings`);
  // Only what verification reads: no managedFields, annotations or stringData copies.
  return {
    metadata: {
      ...(typeof secret.metadata?.uid === 'string' ? { uid: secret.metadata.uid } : {}),
      ...(typeof secret.metadata?.resourceVersion === 'string'
        ? { resourceVersion: secret.metadata.resourceVersion }
        : {}),
    },
    ...(typeof secret.type === 'string' ? { type: secret.type } : {}),
    ...(data !== undefined && data !== null ? { data: data as Record<string, string> } : {}),
  };
}

/** The discovery documents {@link explainListNotFound} reads. */
interface Discovery {
  groups(what: string): Promise<{ groups?: { name: string; versions?: { version: string }[] }[] }>;
  resources(
    what: string,
    group: string,
    version: string,
  ): Promise<{ resources?: { name: string }[] }>;
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
  resource: Resource,
  notFound: KubeApiError,
  discovery: Discovery,
): Promise<{ error: KubeApiError; servedIn: readonly string[] }> {
  const name = `${resource.plural}.${resource.group}`;
  const group = (await discovery.groups(`discover API groups (after ${what})`)).groups?.find(
    (g) => g.name === resource.group,
  );
  const servedIn: string[] = [];
  for (const { version } of group?.versions ?? []) {
    const list = await discovery.resources(
      `discover ${resource.group}/${version} (after ${what})`,
      resource.group,
      version,
    );
    if ((list.resources ?? []).some((r) => r.name === resource.plural)) servedIn.push(version);
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

/** MicroTime: RFC 3339 with exactly six fractional digits, as the API server parses it. */
function toMicroTime(time: string): string {
  return new Date(time).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** The port speaks RFC 3339 strings; the API server parses Lease times as MicroTime. */
function toLease(lease: Lease): Lease {
  const spec = lease.spec ?? {};
  return {
    ...lease,
    spec: {
      ...spec,
      ...(spec.renewTime !== undefined ? { renewTime: toMicroTime(spec.renewTime) } : {}),
      ...(spec.acquireTime !== undefined ? { acquireTime: toMicroTime(spec.acquireTime) } : {}),
    },
  };
}
