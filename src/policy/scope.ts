import type { Pullspec } from '../image/pullspec.js';
import type { PolicyObject } from './types.js';

/** Status reason the MCO sets on an ImagePolicy whose scope a ClusterImagePolicy covers. */
export const CONFLICT_SCOPES_REASON = 'ConflictScopes';

/** An ImagePolicy scope dropped because a ClusterImagePolicy scope equals or contains it. */
export interface ScopeConflict {
  readonly reason: typeof CONFLICT_SCOPES_REASON;
  readonly namespace: string | undefined;
  readonly name: string;
  readonly scope: string;
  /** The ClusterImagePolicy scope that wins, and the policies that hold it (sorted). */
  readonly clusterScope: string;
  readonly clusterPolicies: readonly string[];
  readonly message: string;
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

/**
 * The scopes a (valid) policy scope is nested in, itself first. A tagged or digested scope's
 * repository is its first parent; a wildcard's parents are the shorter wildcards.
 */
export function scopeAncestors(scope: string): string[] {
  if (scope.startsWith('*.')) return [scope, ...wildcardParents(scope.slice(2))];
  let repo = scope;
  const at = repo.indexOf('@');
  if (at !== -1) repo = repo.slice(0, at);
  else {
    const colon = repo.lastIndexOf(':');
    if (colon > repo.lastIndexOf('/') && repo.includes('/')) repo = repo.slice(0, colon);
  }
  const chain = namespaceChain(repo);
  return repo === scope ? chain : [scope, ...chain];
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
  const ns = (a.namespace ?? '').localeCompare(b.namespace ?? '', 'en');
  return ns !== 0 ? ns : a.name.localeCompare(b.name, 'en');
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Builds the per-scope table the MCO renders: every ClusterImagePolicy scope, plus, when
 * `includeNamespace` is given, the scopes of ImagePolicies in that namespace (an ImagePolicy
 * without `metadata.namespace` counts as being in it, as with `kubectl apply -n`). An
 * ImagePolicy scope equal to or nested in a ClusterImagePolicy scope is dropped and reported as
 * a `ConflictScopes` conflict, for ImagePolicies of every namespace.
 */
export function effectivePolicies(
  policies: readonly PolicyObject[],
  includeNamespace?: string,
): EffectivePolicies {
  const clusterScopes = new Map<string, PolicyObject[]>();
  for (const p of policies) {
    if (p.kind !== 'ClusterImagePolicy') continue;
    for (const scope of p.spec.scopes) {
      const list = clusterScopes.get(scope) ?? [];
      list.push(p);
      clusterScopes.set(scope, list);
    }
  }
  const byScope = new Map<string, PolicyObject[]>();
  for (const [scope, list] of clusterScopes) byScope.set(scope, [...list]);
  const conflicts: ScopeConflict[] = [];
  for (const p of policies) {
    if (p.kind !== 'ImagePolicy') continue;
    const namespace = p.namespace ?? includeNamespace;
    for (const scope of p.spec.scopes) {
      const covering = scopeAncestors(scope).find((s) => clusterScopes.has(s));
      if (covering !== undefined) {
        const owners = (clusterScopes.get(covering) ?? []).map((c) => c.name).sort(compareStrings);
        conflicts.push({
          reason: CONFLICT_SCOPES_REASON,
          namespace,
          name: p.name,
          scope,
          clusterScope: covering,
          clusterPolicies: owners,
          message:
            `has conflicting scope ${JSON.stringify(scope)} that is equal to or nested inside ` +
            `the ClusterImagePolicy scope ${JSON.stringify(covering)} (${owners.join(', ')}); ` +
            `only the ClusterImagePolicy applies to it`,
        });
        continue;
      }
      if (includeNamespace === undefined || namespace !== includeNamespace) continue;
      const list = byScope.get(scope) ?? [];
      list.push(p);
      byScope.set(scope, list);
    }
  }
  const sorted = new Map<string, readonly PolicyObject[]>();
  for (const scope of [...byScope.keys()].sort(compareStrings))
    sorted.set(scope, [...(byScope.get(scope) ?? [])].sort(comparePolicies));
  conflicts.sort(
    (a, b) =>
      compareStrings(a.namespace ?? '', b.namespace ?? '') ||
      compareStrings(a.name, b.name) ||
      compareStrings(a.scope, b.scope),
  );
  return { byScope: sorted, conflicts };
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
