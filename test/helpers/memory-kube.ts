import { randomBytes, randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';

import { systemClock } from '../../src/controller/clock.js';
import type { Clock } from '../../src/controller/clock.js';
import {
  CLUSTER_IMAGE_POLICY_PREVIOUS_VERSION,
  KubeApiError,
  ResourceNotServedError,
} from '../../src/kube/client.js';
import type {
  KubePort,
  MirrorSetList,
  SecretData,
  WatchHandlers,
  Watcher,
} from '../../src/kube/client.js';
import type {
  ClusterVersion,
  ConfigMap,
  KubeEvent,
  Lease,
  ObjectMeta,
} from '../../src/kube/types.js';

/** The resources the fake serves, named as the API server's audit log names them. */
export type MemoryResource =
  | 'clusterversions'
  | 'clusterversions/status'
  | 'configmaps'
  | 'events'
  | 'leases'
  | 'clusterimagepolicies'
  | 'mirrorsets'
  | 'nodes'
  | 'secrets'
  | 'proxies'
  | 'images'
  | 'featuregates'
  | 'tokenreviews'
  | 'subjectaccessreviews';

/** The optional resource types ClusterConfigPort lists: CRDs a cluster may not have. */
export type OptionalResource =
  'clusterimagepolicies' | 'imagedigestmirrorsets' | 'imagecontentsourcepolicies';

/** Their group, the version the client lists and the kind of their objects. */
const OPTIONAL: Readonly<
  Record<
    OptionalResource,
    { readonly group: string; readonly version: string; readonly kind: string }
  >
> = {
  clusterimagepolicies: { group: 'config.openshift.io', version: 'v1', kind: 'ClusterImagePolicy' },
  imagedigestmirrorsets: {
    group: 'config.openshift.io',
    version: 'v1',
    kind: 'ImageDigestMirrorSet',
  },
  imagecontentsourcepolicies: {
    group: 'operator.openshift.io',
    version: 'v1alpha1',
    kind: 'ImageContentSourcePolicy',
  },
};

export type MemoryVerb = 'get' | 'list' | 'create' | 'update' | 'patch' | 'delete' | 'watch';

/** One call the fake served (or refused), as client-go's fake records Actions(). */
export interface MemoryAction {
  readonly verb: MemoryVerb;
  readonly resource: MemoryResource;
  readonly namespace?: string;
  readonly name?: string;
}

/**
 * Runs before the fake applies a call. It may throw (a KubeApiError from {@link kubeApiError},
 * to inject a failure) or write through the fake (a concurrent writer: the call then meets the
 * newer resourceVersion). Reactors run one at a time; a reactor's own calls do not run reactors.
 */
export type MemoryReactor = (action: MemoryAction) => void | Promise<void>;

export interface MemoryKubeOptions {
  /** Timestamps (creationTimestamp) come from it; the process clock by default. */
  readonly clock?: Clock;
  /**
   * Namespaces that exist; a namespaced create elsewhere fails with 404 as the API server's does.
   * Every namespace exists when omitted.
   */
  readonly namespaces?: readonly string[];
}

type Resource = 'clusterversions' | 'configmaps' | 'leases' | 'events';

/** API groups of the resources, as the API server names them in Status messages and details. */
const GROUPS: Readonly<Record<Resource, string>> = {
  clusterversions: 'config.openshift.io',
  configmaps: '',
  leases: 'coordination.k8s.io',
  events: '',
};

function qualified(resource: Resource): string {
  return GROUPS[resource] === '' ? resource : `${resource}.${GROUPS[resource]}`;
}

/** A metav1.Status, as the API server answers a failed call. */
export interface ApiStatus {
  readonly code: number;
  readonly reason: string;
  readonly message: string;
  readonly details?: { readonly name?: string; readonly group?: string; readonly kind?: string };
}

/**
 * The error the real client throws for a failed call: `what` is src/kube/client.ts's description
 * of the call (`update clusterversion version status`). Its message carries the Status body as
 * the API server sent it (JSON and a newline): src/kube/errors.ts quotes the body unparsed.
 */
export function kubeApiError(what: string, status: ApiStatus): KubeApiError {
  const body = JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: status.message,
    reason: status.reason,
    ...(status.details !== undefined ? { details: status.details } : {}),
    code: status.code,
  });
  return new KubeApiError(status.code, `${what}: ${String(status.code)} ${body}\n`);
}

function details(resource: Resource, name: string): ApiStatus['details'] {
  return GROUPS[resource] === ''
    ? { name, kind: resource }
    : { name, group: GROUPS[resource], kind: resource };
}

type Stored = { metadata: ObjectMeta } & Record<string, unknown>;

/**
 * An in-memory KubePort, as library-go's memory store stands in for a signature store: objects
 * keyed by kind, namespace and name; one resourceVersion counter for every write (as etcd's
 * revision), bumped only when a write changes the object (a no-op update keeps it, as the API
 * server's does); 409 Conflict when an update carries a stale resourceVersion or a create a
 * taken name; 404 as the real client reports it (an error for ClusterVersions and updates,
 * undefined from getConfigMap and getLease); a ClusterVersion's status only through its status
 * subresource and its generation bumped by spec changes; ClusterVersion watches fed from writes.
 * The errors are the KubeApiErrors src/kube/client.ts throws, with its descriptions of each call.
 *
 * It does not validate objects against their schemas, does not run admission, and serves
 * unconditional updates (no resourceVersion) for ConfigMaps and Leases but, like the API server
 * for custom resources, refuses them for the ClusterVersion (422).
 */
export class MemoryKube implements KubePort {
  private readonly clock: Clock;
  private readonly namespaces: ReadonlySet<string> | undefined;
  private readonly objects = new Map<string, Stored>();
  private readonly recordedEvents: KubeEvent[] = [];
  private revision = 1000;
  private readonly watchers = new Set<WatchHandlers<ClusterVersion>>();
  /** ConfigMap informers: their namespace and selector, and the names they have reported. */
  private readonly configMapWatchers = new Set<{
    readonly namespace: string;
    readonly matches: (labels: Readonly<Record<string, string>>) => boolean;
    readonly handlers: WatchHandlers<ConfigMap>;
    readonly seen: Set<string>;
  }>();
  private reactors: {
    verb: MemoryVerb;
    resource: MemoryResource;
    fn: MemoryReactor;
    times: number;
  }[] = [];
  private inReactor = false;
  /** Every call, in order, including refused ones. */
  readonly actions: MemoryAction[] = [];
  /** What the list methods of ClusterConfigPort return. */
  clusterImagePolicies: unknown[] = [];
  mirrorSets: unknown[] = [];
  nodeArchitectures: string[] = [];
  /** Secrets by `namespace/name` (getSecret; `data` base64 as the API server returns it). */
  readonly secrets = new Map<string, SecretData>();
  /** Cluster-scoped Proxy objects by name (getClusterProxy). */
  readonly proxies = new Map<string, unknown>();
  /** Cluster-scoped image configurations by name (getClusterImageConfig). */
  readonly imageConfigs = new Map<string, unknown>();
  /** Cluster-scoped FeatureGates by name (getFeatureGate). */
  readonly featureGates = new Map<string, unknown>();
  /**
   * Optional resource types the cluster does not serve under the version the client lists: the
   * versions it serves instead, none (`[]`) when their CRD is not installed at all. What the real
   * client then reports: a ClusterImagePolicy list fails (ResourceNotServedError when no version
   * is served, else a 404 naming the versions); a mirror-set kind served in no version lists as
   * none and is named in `notServed`, one served in another version fails the list (a 404).
   */
  readonly notServed = new Map<OptionalResource, readonly string[]>();
  /** Bearer tokens TokenReview accepts, and what SubjectAccessReview allows. */
  readonly tokens = new Map<string, { username: string; groups: string[] }>();
  allow: (user: { username: string; groups: string[] }, path: string, verb: string) => boolean =
    () => false;

  constructor(options: MemoryKubeOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.namespaces = options.namespaces !== undefined ? new Set(options.namespaces) : undefined;
  }

  describe(): string {
    return 'in-memory Kubernetes API';
  }

  /**
   * Runs `fn` before each of the next `times` calls of `verb` on `resource` (every call when
   * times is Infinity).
   */
  before(verb: MemoryVerb, resource: MemoryResource, fn: MemoryReactor, times = 1): void {
    this.reactors.push({ verb, resource, fn, times });
  }

  /** The Events created in `namespace` (every namespace when omitted), oldest first. */
  events(namespace?: string): KubeEvent[] {
    return this.recordedEvents
      .filter((e) => namespace === undefined || e.metadata.namespace === namespace)
      .map((e) => structuredClone(e));
  }

  /** Calls recorded for `verb` on `resource`. */
  actionsOf(verb: MemoryVerb, resource: MemoryResource): MemoryAction[] {
    return this.actions.filter((a) => a.verb === verb && a.resource === resource);
  }

  /** Seeds a ClusterVersion as an installer would (status included); 409 when it exists. */
  async createClusterVersion(cv: ClusterVersion): Promise<ClusterVersion> {
    const name = cv.metadata.name ?? '';
    await this.act({ verb: 'create', resource: 'clusterversions', name });
    const key = this.key('clusterversions', undefined, name);
    if (this.objects.has(key))
      throw this.alreadyExists('create clusterversion', 'clusterversions', name);
    const stored = this.store(key, {
      ...structuredClone(cv),
      metadata: { ...this.newMeta(cv.metadata, undefined), generation: 1 },
    });
    this.notify('change', stored as unknown as ClusterVersion);
    return structuredClone(stored) as unknown as ClusterVersion;
  }

  /** Deletes a ClusterVersion (watchers see onDelete); 404 when there is none. */
  async deleteClusterVersion(name: string): Promise<void> {
    const what = `delete clusterversion ${name}`;
    await this.act({ verb: 'delete', resource: 'clusterversions', name });
    const current = this.existing(what, 'clusterversions', undefined, name);
    this.objects.delete(this.key('clusterversions', undefined, name));
    this.notify('delete', current as unknown as ClusterVersion);
  }

  // ClusterVersionPort

  async getClusterVersion(name: string): Promise<ClusterVersion> {
    await this.act({ verb: 'get', resource: 'clusterversions', name });
    return structuredClone(
      this.existing(`get clusterversion ${name}`, 'clusterversions', undefined, name),
    ) as unknown as ClusterVersion;
  }

  async replaceClusterVersionStatus(cv: ClusterVersion): Promise<ClusterVersion> {
    const name = cv.metadata.name ?? '';
    const what = `update clusterversion ${name} status`;
    await this.act({ verb: 'update', resource: 'clusterversions/status', name });
    const current = this.existing(what, 'clusterversions', undefined, name);
    const rv = cv.metadata.resourceVersion;
    if (rv === undefined || rv === '') {
      // Custom resources refuse unconditional updates.
      throw kubeApiError(what, {
        code: 422,
        reason: 'Invalid',
        message: `ClusterVersion.config.openshift.io "${name}" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update`,
        details: { name, group: 'config.openshift.io', kind: 'ClusterVersion' },
      });
    }
    if (rv !== current.metadata.resourceVersion) throw this.conflict(what, 'clusterversions', name);
    // The status subresource changes status and nothing else.
    const next: Stored = { ...current, status: structuredClone(cv.status) };
    if (cv.status === undefined) delete next.status;
    return this.update(
      this.key('clusterversions', undefined, name),
      current,
      next,
    ) as unknown as ClusterVersion;
  }

  async mergePatchClusterVersion(
    name: string,
    patch: Record<string, unknown>,
  ): Promise<ClusterVersion> {
    const what = `patch clusterversion ${name}`;
    await this.act({ verb: 'patch', resource: 'clusterversions', name });
    const current = this.existing(what, 'clusterversions', undefined, name);
    const precondition = (patch.metadata as { resourceVersion?: unknown } | undefined)
      ?.resourceVersion;
    if (typeof precondition === 'string' && precondition !== current.metadata.resourceVersion)
      throw this.conflict(what, 'clusterversions', name);
    const patched = applyMergePatch(current, patch) as Stored;
    const meta = patched.metadata ?? {};
    const next: Stored = {
      ...patched,
      // The main resource of a custom resource with a status subresource ignores status.
      ...('status' in current ? { status: current.status } : {}),
      metadata: {
        ...meta,
        name: current.metadata.name,
        uid: current.metadata.uid,
        creationTimestamp: current.metadata.creationTimestamp,
        resourceVersion: current.metadata.resourceVersion,
        generation:
          (current.metadata.generation ?? 1) +
          (isDeepStrictEqual(patched.spec, current.spec) ? 0 : 1),
      },
    };
    if (!('status' in current)) delete next.status;
    return this.update(
      this.key('clusterversions', undefined, name),
      current,
      next,
    ) as unknown as ClusterVersion;
  }

  watchClusterVersions(handlers: WatchHandlers<ClusterVersion>): Watcher {
    let started = false;
    return {
      start: async () => {
        await this.act({ verb: 'watch', resource: 'clusterversions' });
        if (started) return;
        started = true;
        // The informer's initial list: an add for each object, then the watch.
        for (const [key, object] of this.objects) {
          if (key.startsWith('clusterversions/'))
            handlers.onChange(structuredClone(object) as unknown as ClusterVersion);
        }
        this.watchers.add(handlers);
        handlers.onConnect?.();
      },
      stop: () => {
        this.watchers.delete(handlers);
        return Promise.resolve();
      },
    };
  }

  // EventPort

  async createEvent(namespace: string, event: KubeEvent): Promise<void> {
    const what = `create event in ${namespace}`;
    await this.act({ verb: 'create', resource: 'events', namespace });
    this.requireNamespace(what, namespace);
    const name = this.nameFor(event.metadata, what, 'events');
    // The API server's legacy Event validation: an object in a namespace is reported in that
    // namespace; a cluster-scoped one only in "default" (hence the controller's "in" namespace).
    const involved = event.involvedObject.namespace ?? '';
    if (involved === '' ? namespace !== 'default' : involved !== namespace)
      throw kubeApiError(what, {
        code: 422,
        reason: 'Invalid',
        message: `Event "${name}" is invalid: involvedObject.namespace: Invalid value: "${involved}": does not match event.namespace`,
        details: { name, kind: 'Event' },
      });
    const key = this.key('events', namespace, name);
    if (this.objects.has(key)) throw this.alreadyExists(what, 'events', name);
    const stored = this.store(key, {
      ...structuredClone(event),
      metadata: this.newMeta({ ...event.metadata, name }, namespace),
    });
    this.recordedEvents.push(structuredClone(stored) as unknown as KubeEvent);
  }

  // ConfigMapPort

  async getConfigMap(namespace: string, name: string): Promise<ConfigMap | undefined> {
    await this.act({ verb: 'get', resource: 'configmaps', namespace, name });
    const found = this.objects.get(this.key('configmaps', namespace, name));
    return found !== undefined ? structuredClone(found) : undefined;
  }

  async listConfigMaps(namespace: string, labelSelector?: string): Promise<ConfigMap[]> {
    await this.act({ verb: 'list', resource: 'configmaps', namespace });
    const matches = parseLabelSelector(labelSelector ?? '');
    return [...this.objects]
      .filter(([key]) => key.startsWith(`configmaps/${namespace}/`))
      .map(([, object]) => object)
      .filter((object) => matches(object.metadata.labels ?? {}))
      .map((object) => structuredClone(object) as unknown as ConfigMap);
  }

  watchConfigMaps(
    namespace: string,
    labelSelector: string,
    handlers: WatchHandlers<ConfigMap>,
  ): Watcher {
    const watcher = {
      namespace,
      matches: parseLabelSelector(labelSelector),
      handlers,
      seen: new Set<string>(),
    };
    return {
      start: async () => {
        await this.act({ verb: 'watch', resource: 'configmaps', namespace });
        if (this.configMapWatchers.has(watcher)) return;
        // The informer's initial list: an add for each matching object, then the watch.
        for (const [key, object] of this.objects) {
          if (!key.startsWith(`configmaps/${namespace}/`)) continue;
          if (!watcher.matches(object.metadata.labels ?? {})) continue;
          watcher.seen.add(key);
          handlers.onChange(structuredClone(object));
        }
        this.configMapWatchers.add(watcher);
        handlers.onConnect?.();
      },
      stop: () => {
        this.configMapWatchers.delete(watcher);
        return Promise.resolve();
      },
    };
  }

  async createConfigMap(namespace: string, cm: ConfigMap): Promise<ConfigMap> {
    const what = `create configmap ${namespace}/${cm.metadata.name ?? ''}`;
    await this.act({ verb: 'create', resource: 'configmaps', namespace, name: cm.metadata.name });
    return this.create(what, 'configmaps', namespace, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      ...cm,
    });
  }

  async replaceConfigMap(namespace: string, cm: ConfigMap): Promise<ConfigMap> {
    const what = `update configmap ${namespace}/${cm.metadata.name ?? ''}`;
    await this.act({ verb: 'update', resource: 'configmaps', namespace, name: cm.metadata.name });
    return this.replace(what, 'configmaps', namespace, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      ...cm,
    });
  }

  // LeasePort

  async getLease(namespace: string, name: string): Promise<Lease | undefined> {
    await this.act({ verb: 'get', resource: 'leases', namespace, name });
    const found = this.objects.get(this.key('leases', namespace, name));
    return found !== undefined ? structuredClone(found) : undefined;
  }

  async createLease(namespace: string, lease: Lease): Promise<Lease> {
    await this.act({ verb: 'create', resource: 'leases', namespace, name: lease.metadata.name });
    return this.create(`create lease ${namespace}`, 'leases', namespace, toStoredLease(lease));
  }

  async replaceLease(namespace: string, lease: Lease): Promise<Lease> {
    await this.act({ verb: 'update', resource: 'leases', namespace, name: lease.metadata.name });
    return this.replace(`update lease ${namespace}`, 'leases', namespace, toStoredLease(lease));
  }

  // ClusterConfigPort

  async listClusterImagePolicies(): Promise<unknown[]> {
    const what = 'list clusterimagepolicies';
    await this.act({ verb: 'list', resource: 'clusterimagepolicies' });
    const servedAs = this.notServed.get('clusterimagepolicies');
    if (servedAs !== undefined) {
      const { group, version } = OPTIONAL.clusterimagepolicies;
      const name = `clusterimagepolicies.${group}`;
      const notFound = new KubeApiError(404, `${what}: 404 404 page not found\n`);
      if (servedAs.length === 0) throw new ResourceNotServedError(what, name, { cause: notFound });
      // As the client: a cluster serving only the version before v1 is listed through it.
      if (servedAs.includes(CLUSTER_IMAGE_POLICY_PREVIOUS_VERSION)) {
        return structuredClone(this.clusterImagePolicies);
      }
      throw new KubeApiError(
        404,
        `${what}: 404 ${name} is served as ${servedAs.map((v) => `${group}/${v}`).join(', ')}, not ${group}/${version}`,
        { cause: notFound },
      );
    }
    return structuredClone(this.clusterImagePolicies);
  }

  async listMirrorSets(): Promise<MirrorSetList> {
    await this.act({ verb: 'list', resource: 'mirrorsets' });
    const unserved = [...this.notServed.entries()].filter(
      ([r, servedAs]) => r !== 'clusterimagepolicies' && servedAs.length === 0,
    );
    const otherVersion = [...this.notServed.entries()].find(
      ([r, servedAs]) => r !== 'clusterimagepolicies' && servedAs.length > 0,
    );
    if (otherVersion !== undefined) {
      // As the client: a kind served only in another version is a 404 naming it, thrown.
      const [r, servedAs] = otherVersion;
      const { group, version } = OPTIONAL[r];
      throw new KubeApiError(
        404,
        `list ${r}: 404 ${r}.${group} is served as ${servedAs.map((v) => `${group}/${v}`).join(', ')}, not ${group}/${version}`,
      );
    }
    const kinds = new Set(unserved.map(([r]) => OPTIONAL[r].kind));
    return {
      items: structuredClone(
        this.mirrorSets.filter((m) => !kinds.has(String((m as { kind?: unknown } | null)?.kind))),
      ),
      notServed: unserved.map(([r]) => `${r}.${OPTIONAL[r].group}`),
    };
  }

  async getSecret(namespace: string, name: string): Promise<SecretData | undefined> {
    await this.act({ verb: 'get', resource: 'secrets', namespace, name });
    const found = this.secrets.get(`${namespace}/${name}`);
    return found !== undefined ? structuredClone(found) : undefined;
  }

  async getFeatureGate(name: string): Promise<unknown> {
    await this.act({ verb: 'get', resource: 'featuregates', name });
    const found = this.featureGates.get(name);
    return found !== undefined ? structuredClone(found) : undefined;
  }

  async getClusterImageConfig(name: string): Promise<unknown> {
    await this.act({ verb: 'get', resource: 'images', name });
    const found = this.imageConfigs.get(name);
    return found !== undefined ? structuredClone(found) : undefined;
  }

  async getClusterProxy(name: string): Promise<unknown> {
    await this.act({ verb: 'get', resource: 'proxies', name });
    return structuredClone(this.proxies.get(name));
  }

  async listNodeArchitectures(): Promise<string[]> {
    await this.act({ verb: 'list', resource: 'nodes' });
    return [...new Set(this.nodeArchitectures)].sort();
  }

  // AccessReviewPort

  async reviewToken(token: string): Promise<{ username: string; groups: string[] } | undefined> {
    await this.act({ verb: 'create', resource: 'tokenreviews' });
    const user = this.tokens.get(token);
    return user !== undefined ? structuredClone(user) : undefined;
  }

  async canAccess(
    user: { username: string; groups: string[] },
    path: string,
    verb: string,
  ): Promise<boolean> {
    await this.act({ verb: 'create', resource: 'subjectaccessreviews' });
    return this.allow(user, path, verb);
  }

  // Internals

  /** Records the call and runs the reactors that match it; always yields once, as I/O does. */
  private async act(action: MemoryAction): Promise<void> {
    this.actions.push(action);
    await Promise.resolve();
    if (this.inReactor) return;
    const due = this.reactors.filter(
      (r) => r.verb === action.verb && r.resource === action.resource && r.times > 0,
    );
    for (const r of due) r.times--;
    this.reactors = this.reactors.filter((r) => r.times > 0);
    this.inReactor = true;
    try {
      for (const r of due) await r.fn(action);
    } finally {
      this.inReactor = false;
    }
  }

  private key(resource: string, namespace: string | undefined, name: string): string {
    return `${resource}/${namespace ?? ''}/${name}`;
  }

  private existing(
    what: string,
    resource: Resource,
    namespace: string | undefined,
    name: string,
  ): Stored {
    const found = this.objects.get(this.key(resource, namespace, name));
    if (found === undefined)
      throw kubeApiError(what, {
        code: 404,
        reason: 'NotFound',
        message: `${qualified(resource)} "${name}" not found`,
        details: details(resource, name),
      });
    return found;
  }

  private requireNamespace(what: string, namespace: string): void {
    if (this.namespaces !== undefined && !this.namespaces.has(namespace))
      throw kubeApiError(what, {
        code: 404,
        reason: 'NotFound',
        message: `namespaces "${namespace}" not found`,
        details: { name: namespace, kind: 'namespaces' },
      });
  }

  private nameFor(meta: ObjectMeta, what: string, resource: Resource): string {
    if (meta.name !== undefined && meta.name !== '') return meta.name;
    const generate = meta.generateName;
    if (typeof generate === 'string' && generate !== '')
      return `${generate}${randomBytes(4).toString('hex').slice(0, 5)}`;
    throw kubeApiError(what, {
      code: 422,
      reason: 'Invalid',
      message: `${qualified(resource)} "" is invalid: metadata.name: Required value: name or generateName is required`,
    });
  }

  private newMeta(meta: ObjectMeta, namespace: string | undefined): ObjectMeta {
    const rest = structuredClone(meta);
    delete rest.generateName;
    return {
      ...rest,
      ...(namespace !== undefined ? { namespace } : {}),
      uid: randomUUID(),
      creationTimestamp: new Date(Math.floor(this.clock.now() / 1000) * 1000)
        .toISOString()
        .replace('.000Z', 'Z'),
      resourceVersion: String(++this.revision),
    };
  }

  private store(key: string, object: Stored): Stored {
    this.objects.set(key, object);
    if (key.startsWith('configmaps/')) this.notifyConfigMap(key, object);
    return object;
  }

  /** Tells the ConfigMap informers of `key`'s new state, as a watch event after the write. */
  private notifyConfigMap(key: string, object: Stored): void {
    const snapshot = structuredClone(object) as unknown as ConfigMap;
    for (const w of [...this.configMapWatchers]) {
      if (!key.startsWith(`configmaps/${w.namespace}/`)) continue;
      const matches = w.matches(object.metadata.labels ?? {});
      if (!matches && !w.seen.has(key)) continue;
      queueMicrotask(() => {
        if (!this.configMapWatchers.has(w)) return;
        if (matches) {
          w.seen.add(key);
          w.handlers.onChange(structuredClone(snapshot));
        } else {
          // Relabelled out of the selector: the watch reports it deleted.
          w.seen.delete(key);
          w.handlers.onDelete?.(structuredClone(snapshot));
        }
      });
    }
  }

  private create(
    what: string,
    resource: 'configmaps' | 'leases',
    namespace: string,
    object: Stored,
  ): Stored {
    this.requireNamespace(what, namespace);
    const name = this.nameFor(object.metadata, what, resource);
    if (object.metadata.resourceVersion !== undefined && object.metadata.resourceVersion !== '')
      throw kubeApiError(what, {
        code: 500,
        reason: 'InternalError',
        message: 'resourceVersion should not be set on objects to be created',
      });
    const key = this.key(resource, namespace, name);
    if (this.objects.has(key)) throw this.alreadyExists(what, resource, name);
    const stored = this.store(key, {
      ...structuredClone(object),
      metadata: this.newMeta({ ...object.metadata, name }, namespace),
    });
    return structuredClone(stored);
  }

  /** A PUT of a core object: conditional when it carries a resourceVersion. */
  private replace(
    what: string,
    resource: 'configmaps' | 'leases',
    namespace: string,
    object: Stored,
  ): Stored {
    const name = object.metadata.name ?? '';
    const current = this.existing(what, resource, namespace, name);
    const rv = object.metadata.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== current.metadata.resourceVersion)
      throw this.conflict(what, resource, name);
    const next: Stored = {
      ...structuredClone(object),
      metadata: {
        ...structuredClone(object.metadata),
        name,
        namespace,
        uid: current.metadata.uid,
        creationTimestamp: current.metadata.creationTimestamp,
        resourceVersion: current.metadata.resourceVersion,
      },
    };
    return this.update(this.key(resource, namespace, name), current, next);
  }

  /** Stores `next` with a new resourceVersion, unless it changes nothing; notifies watchers. */
  private update(key: string, current: Stored, next: Stored): Stored {
    if (isDeepStrictEqual(next, current)) return structuredClone(current);
    next.metadata = { ...next.metadata, resourceVersion: String(++this.revision) };
    this.store(key, next);
    if (key.startsWith('clusterversions/'))
      this.notify('change', next as unknown as ClusterVersion);
    return structuredClone(next);
  }

  /** Watch events arrive after the write that caused them, in order, as from the API server. */
  private notify(kind: 'change' | 'delete', object: ClusterVersion): void {
    const snapshot = structuredClone(object);
    const watchers = [...this.watchers];
    queueMicrotask(() => {
      for (const w of watchers) {
        if (!this.watchers.has(w)) continue;
        if (kind === 'change') w.onChange(structuredClone(snapshot));
        else w.onDelete?.(structuredClone(snapshot));
      }
    });
  }

  private conflict(what: string, resource: Resource, name: string): KubeApiError {
    return kubeApiError(what, {
      code: 409,
      reason: 'Conflict',
      message: `Operation cannot be fulfilled on ${qualified(resource)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      details: details(resource, name),
    });
  }

  private alreadyExists(what: string, resource: Resource, name: string): KubeApiError {
    return kubeApiError(what, {
      code: 409,
      reason: 'AlreadyExists',
      message: `${qualified(resource)} "${name}" already exists`,
      details: details(resource, name),
    });
  }
}

/** RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return structuredClone(patch);
  const result = new Map<string, unknown>(isPlainObject(target) ? Object.entries(target) : []);
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) result.delete(key);
    else result.set(key, applyMergePatch(result.get(key), value));
  }
  return Object.fromEntries(result);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Equality-based selectors (`a`, `!a`, `a=b`, `a==b`, `a!=b`, comma-separated). */
function parseLabelSelector(selector: string): (labels: Record<string, string>) => boolean {
  const terms = selector
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '')
    .map((term): ((labels: Record<string, string>) => boolean) => {
      if (/\s(in|notin)\s/.test(term))
        throw new Error(`MemoryKube: set-based selector ${JSON.stringify(term)} is not supported`);
      const neq = /^([^!=]+)!=(.*)$/.exec(term);
      if (neq) return (l) => l[neq[1] ?? ''] !== neq[2];
      const eq = /^([^!=]+)==?(.*)$/.exec(term);
      if (eq) return (l) => l[eq[1] ?? ''] === eq[2];
      if (term.startsWith('!')) return (l) => !(term.slice(1) in l);
      return (l) => term in l;
    });
  return (labels) => terms.every((t) => t(labels));
}

/** Lease times come back as the API server stores MicroTime: six fractional digits. */
function toStoredLease(lease: Lease): Stored {
  const spec = lease.spec ?? {};
  const iso = (t: string): string => new Date(t).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    ...structuredClone(lease),
    ...(lease.spec !== undefined
      ? {
          spec: {
            ...spec,
            ...(spec.renewTime !== undefined ? { renewTime: iso(spec.renewTime) } : {}),
            ...(spec.acquireTime !== undefined ? { acquireTime: iso(spec.acquireTime) } : {}),
          },
        }
      : {}),
  };
}
