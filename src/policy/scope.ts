import type { Pullspec } from '../image/pullspec.js';
import type { PolicyObject } from './types.js';

/**
 * The status condition the MCO writes on an ImagePolicy some of whose scopes a
 * ClusterImagePolicy scope covers (machine-config-operator
 * pkg/controller/container-runtime-config/container_runtime_config_controller.go,
 * getValidScopePolicies: `apicfgv1.ImagePolicyPending`, `reasonConflictScopes`,
 * `metav1.ConditionFalse`).
 */
export const CONFLICT_SCOPES_REASON = 'ConflictScopes';
export const CONFLICT_SCOPES_CONDITION_TYPE = 'Pending';

/** One ImagePolicy whose conflicting scopes were dropped, with the condition the MCO writes. */
export interface ScopeConflict {
  readonly conditionType: typeof CONFLICT_SCOPES_CONDITION_TYPE;
  readonly status: 'False';
  readonly reason: typeof CONFLICT_SCOPES_REASON;
  readonly namespace: string | undefined;
  readonly name: string;
  /** The scopes equal to or nested inside a ClusterImagePolicy scope, in spec order. */
  readonly scopes: readonly string[];
  /** The MCO's condition message, word for word (conflictScopesMessage). */
  readonly message: string;
}

/**
 * Go's `%q` of a []string: `["a" "b"]`. Each element is strconv.Quote'd; validated scopes are
 * printable ASCII without `"` or `\\`, where that equals JSON.stringify.
 */
function goQuoteStrings(values: readonly string[]): string {
  return `[${values.map((v) => JSON.stringify(v)).join(' ')}]`;
}

/**
 * The MCO's ConflictScopes message: `fmt.Sprintf("has conflicting scope(s) %q that equal to or
 * nest inside existing clusterimagepolicy, only policy from clusterimagepolicy scope(s) will be
 * applied", conflictScopes)` (getValidScopePolicies).
 */
export function conflictScopesMessage(scopes: readonly string[]): string {
  return `has conflicting scope(s) ${goQuoteStrings(scopes)} that equal to or nest inside existing clusterimagepolicy, only policy from clusterimagepolicy scope(s) will be applied`;
}

/**
 * Whether `subScope` equals or is nested inside `superScope`, exactly as the MCO decides which
 * ImagePolicy scopes conflict: openshift/runtime-utils pkg/registries/registries.go
 * ScopeIsNestedInsideScope. A path below the scope (`/` after it) or a host under a `*.` wildcard
 * is nested; a tag or digest of the scope (`repo:tag`, `repo@sha256:…`) is not, nor is a tagged
 * or digested reference under a wildcard (its text before the first `:` holds a `/`).
 */
export function scopeIsNestedInsideScope(subScope: string, superScope: string): boolean {
  if (superScope === subScope) return true;
  if (
    subScope.length > superScope.length &&
    subScope.startsWith(superScope) &&
    subScope[superScope.length] === '/'
  )
    return true;
  if (superScope.startsWith('*.')) {
    const suffix = superScope.slice(1);
    if (subScope.includes(':')) {
      const first = subScope.split(':')[0] ?? '';
      return first.endsWith(suffix) && !first.includes('/');
    }
    return (subScope.split('/')[0] ?? '').endsWith(suffix);
  }
  return false;
}

/**
 * Scopes that may apply to a reference, most specific first, as containers/image looks them up
 * (docker/policyconfiguration/naming.go): the identity (`repo@digest`, else `repo:tag`,
 * `latest` by default), the repository and each parent namespace up to host[:port], then
 * `*.`-wildcards of the host without its port, from most to least specific. A bare
 * `example.com` yields only `*.com`, so `*.example.com` never matches it.
 * A reference with both a tag and a digest is looked up by digest.
 */
export function scopeCandidates(ref: Pullspec): string[] {
  // Host names are case-insensitive (DNS): `QUAY.io/x` is read from the same registry as
  // `quay.io/x`, so it falls under the same scope (stricter than containers/image, which
  // compares scopes as written and would let the other spelling escape the policy).
  const name = `${ref.host.toLowerCase()}/${ref.path}`;
  const identity =
    ref.digest !== undefined ? `${name}@${ref.digest}` : `${name}:${ref.tag ?? 'latest'}`;
  return [identity, ...namespaceChain(name)];
}

/** `host/a/b` → `host/a/b`, `host/a`, `host`, then the wildcards of host (port stripped). */
function namespaceChain(name: string): string[] {
  const out: string[] = [];
  let current = name;
  for (;;) {
    out.push(current);
    const slash = current.lastIndexOf('/');
    if (slash === -1) break;
    current = current.slice(0, slash);
  }
  return [...out, ...wildcardParents(current.split(':')[0] ?? '')];
}

function wildcardParents(host: string): string[] {
  const out: string[] = [];
  let rest = host;
  for (let dot = rest.indexOf('.'); dot !== -1; dot = rest.indexOf('.')) {
    rest = rest.slice(dot + 1);
    out.push(`*.${rest}`);
  }
  return out;
}

/** Policies sharing one winning scope: all of them are required together. */
export interface ScopeMatch {
  readonly scope: string;
  readonly policies: readonly PolicyObject[];
}

/**
 * The MCO's per-scope tables (getValidScopePolicies): every ClusterImagePolicy scope, and the
 * ImagePolicy scopes no ClusterImagePolicy scope covers, per namespace. Policies sharing a scope
 * are all required; they are listed ClusterImagePolicies first, then by namespace and name (the
 * MCO takes them in informer-cache order, which is unspecified).
 */
export interface ScopePolicies {
  /** ClusterImagePolicy scope → its policies; scopes sorted. */
  readonly cluster: ReadonlyMap<string, readonly PolicyObject[]>;
  /** ImagePolicy scope → namespace → its policies; scopes and namespaces sorted. */
  readonly namespaced: ReadonlyMap<string, ReadonlyMap<string, readonly PolicyObject[]>>;
  /** One per ImagePolicy with conflicting scopes, sorted by namespace and name. */
  readonly conflicts: readonly ScopeConflict[];
}

/**
 * Splits policies as the MCO does before rendering. An ImagePolicy without `metadata.namespace`
 * counts as being in `defaultNamespace` (as with `kubectl apply -n`), or in `""` without one.
 */
export function scopePolicies(
  policies: readonly PolicyObject[],
  defaultNamespace?: string,
): ScopePolicies {
  const sorted = [...policies].sort(comparePolicies);
  const cluster = new Map<string, PolicyObject[]>();
  for (const p of sorted) {
    if (p.kind !== 'ClusterImagePolicy') continue;
    for (const scope of p.spec.scopes) cluster.set(scope, [...(cluster.get(scope) ?? []), p]);
  }
  const clusterScopes = [...cluster.keys()];
  const namespaced = new Map<string, Map<string, PolicyObject[]>>();
  const conflicts: ScopeConflict[] = [];
  for (const p of sorted) {
    if (p.kind !== 'ImagePolicy') continue;
    const namespace = p.namespace ?? defaultNamespace;
    const conflicting: string[] = [];
    for (const scope of p.spec.scopes) {
      if (clusterScopes.some((c) => scopeIsNestedInsideScope(scope, c))) {
        conflicting.push(scope);
        continue;
      }
      const byNamespace = namespaced.get(scope) ?? new Map<string, PolicyObject[]>();
      byNamespace.set(namespace ?? '', [...(byNamespace.get(namespace ?? '') ?? []), p]);
      namespaced.set(scope, byNamespace);
    }
    if (conflicting.length > 0)
      conflicts.push({
        conditionType: CONFLICT_SCOPES_CONDITION_TYPE,
        status: 'False',
        reason: CONFLICT_SCOPES_REASON,
        namespace,
        name: p.name,
        scopes: conflicting,
        message: conflictScopesMessage(conflicting),
      });
  }
  const sortedKeys = <V>(map: ReadonlyMap<string, V>): Map<string, V> =>
    new Map([...map.keys()].sort(compareStrings).map((k) => [k, map.get(k) as V]));
  return {
    cluster: sortedKeys(cluster),
    namespaced: new Map(
      [...sortedKeys(namespaced)].map(([scope, byNamespace]) => [scope, sortedKeys(byNamespace)]),
    ),
    conflicts,
  };
}

/** Policies sharing one winning scope: all of them are required together. */
export interface ScopeMatch {
  readonly scope: string;
  readonly policies: readonly PolicyObject[];
}

/** Policies in effect per scope after dropping conflicting ImagePolicy scopes. */
export interface EffectivePolicies {
  /** Scope → policies, both sorted (ClusterImagePolicies first, then by namespace and name). */
  readonly byScope: ReadonlyMap<string, readonly PolicyObject[]>;
  readonly conflicts: readonly ScopeConflict[];
}

function comparePolicies(a: PolicyObject, b: PolicyObject): number {
  if (a.kind !== b.kind) return a.kind === 'ClusterImagePolicy' ? -1 : 1;
  return compareStrings(a.namespace ?? '', b.namespace ?? '') || compareStrings(a.name, b.name);
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The per-scope table one namespace's pods are checked against: every ClusterImagePolicy scope,
 * plus, when `includeNamespace` is given, the scopes of ImagePolicies in that namespace that no
 * ClusterImagePolicy scope covers (see scopePolicies). Conflicts are reported for ImagePolicies of
 * every namespace.
 */
export function effectivePolicies(
  policies: readonly PolicyObject[],
  includeNamespace?: string,
): EffectivePolicies {
  const split = scopePolicies(policies, includeNamespace);
  const byScope = new Map<string, readonly PolicyObject[]>(split.cluster);
  if (includeNamespace !== undefined)
    for (const [scope, byNamespace] of split.namespaced) {
      const own = byNamespace.get(includeNamespace);
      if (own !== undefined) byScope.set(scope, own);
    }
  const sorted = new Map<string, readonly PolicyObject[]>();
  for (const scope of [...byScope.keys()].sort(compareStrings))
    sorted.set(scope, byScope.get(scope) ?? []);
  return { byScope: sorted, conflicts: split.conflicts };
}

/**
 * The policies that apply to `ref`: those of the most specific matching scope (all required
 * together), or undefined when no scope matches (the `default` policy applies).
 */
export function resolvePolicies(
  ref: Pullspec,
  effective: EffectivePolicies,
): ScopeMatch | undefined {
  // Scopes are matched with their host lowercased, as image names are (scopeCandidates).
  const byScope = new Map<string, { scope: string; policies: readonly PolicyObject[] }>();
  for (const [scope, policies] of effective.byScope) {
    const slash = scope.indexOf('/');
    const key =
      slash === -1
        ? scope.toLowerCase()
        : `${scope.slice(0, slash).toLowerCase()}${scope.slice(slash)}`;
    if (!byScope.has(key)) byScope.set(key, { scope, policies });
  }
  for (const candidate of scopeCandidates(ref)) {
    const match = byScope.get(candidate);
    if (match !== undefined && match.policies.length > 0) return match;
  }
  return undefined;
}
