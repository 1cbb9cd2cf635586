import { createHash } from 'node:crypto';

import { isVerifyError, toErrorLabel } from '../errors.js';
import type { ErrorLabel } from '../errors.js';
import type { DigestPullspec } from '../image/pullspec.js';
import { effectivePolicies, resolvePolicies } from '../policy/scope.js';
import type { EffectivePolicies } from '../policy/scope.js';
import type { PolicyObject } from '../policy/types.js';
import type { RegistryClient, RegistryRepository } from '../registry/client.js';
import { checkSigstore } from '../verify/sigstore-checks.js';
import { LruCache } from '../verify/verdict-cache.js';
import type { SigstoreCheck } from '../verify/verdict.js';

/** What became of one component image. */
export type ComponentStatus =
  /** Every policy covering it found a valid signature. */
  | 'verified'
  /** Covered, and at least one policy found no signature at all (the 4.12 "etcd" case). */
  | 'unsigned'
  /** Covered, and a signature was there but did not verify (wrong key, bad identity…). */
  | 'invalid'
  /** No ClusterImagePolicy scope covers its repository: nothing to check, nothing enforced. */
  | 'not-covered'
  /** Covered, but the registry could not answer (missing image, unreachable, refused). */
  | 'error';

/** A source to read a component from: the repository itself or one of its mirrors. */
export interface ComponentSource extends RegistryRepository {
  /** `host/path` */
  readonly name: string;
  readonly mirror: boolean;
}

export interface ComponentResult {
  /** The release's tag names for this image (image-references `spec.tags[].name`). */
  readonly tags: readonly string[];
  /** The logical pullspec, as the release names it. */
  readonly pullspec: string;
  readonly status: ComponentStatus;
  /** One line a person can act on. */
  readonly reason: string;
  /** Where its signatures were read (a mirror's name when one was used). */
  readonly source?: string;
  readonly checks: readonly SigstoreCheck[];
  readonly cached: boolean;
  /** When a cached verdict was made (unix ms); set on cache entries only. */
  readonly checkedAt?: number;
}

export interface PayloadSummary {
  readonly total: number;
  readonly verified: number;
  readonly unsigned: number;
  readonly invalid: number;
  readonly notCovered: number;
  readonly errors: number;
}

export interface ComponentInput {
  readonly pullspec: DigestPullspec;
  readonly tags: readonly string[];
}

/** Verdicts kept between runs: only `verified` ones, keyed by image, digest and policies. */
export type ComponentVerdictCache = LruCache<ComponentResult>;

export function createComponentCache(maxEntries = 4096): ComponentVerdictCache {
  return new LruCache<ComponentResult>(maxEntries);
}

/**
 * How long a component's "verified" is reused. The key already holds everything the verdict
 * depends on but time (the policy content, the sources); PKI certificates are checked at the
 * current time, so a verdict is judged again after this long rather than trusted forever.
 */
export const COMPONENT_VERDICT_TTL_MS = 10 * 60_000;

export interface VerifyComponentsOptions {
  readonly client: RegistryClient;
  /** Validated ClusterImagePolicies (ImagePolicies are namespaced and never gate a release). */
  readonly policies: readonly PolicyObject[];
  /** Where to read each component from, in order (mirrors first); default: itself only. */
  readonly sourcesFor?: (pullspec: DigestPullspec) => readonly ComponentSource[];
  readonly concurrency?: number;
  readonly cache?: ComponentVerdictCache;
  /** Unix milliseconds; injected by tests of the cache's lifetime. */
  readonly now?: () => number;
  readonly signal: AbortSignal;
  /** Called after each component, with how many are done of how many. */
  readonly onProgress?: (done: number, total: number, last: ComponentResult) => void;
}

export const DEFAULT_COMPONENT_CONCURRENCY = 16;

/**
 * Verifies component images against the ClusterImagePolicies that cover them, as CRI-O would
 * when a node pulls them: the most specific scope's policies, all required; signatures read
 * from the source the image would be pulled from (the first mirror that has it, else the
 * repository itself), identities matched against the logical name.
 *
 * Results come back in input order. Nothing is `verified` without every covering policy
 * passing; a registry failure is an `error`, never a pass.
 */
export async function verifyComponents(
  components: readonly ComponentInput[],
  options: VerifyComponentsOptions,
): Promise<ComponentResult[]> {
  const cluster = effectivePolicies(
    options.policies.filter((p) => p.kind === 'ClusterImagePolicy'),
  );
  const clusterPolicies = [...cluster.byScope.values()].flat();
  const policyKey = policiesKey(clusterPolicies);
  const results = new Array<ComponentResult>(components.length);
  const concurrency = Math.max(1, options.concurrency ?? DEFAULT_COMPONENT_CONCURRENCY);
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const index = next++;
      const component = components[index];
      if (component === undefined) return;
      const result = await verifyOne(component, cluster, clusterPolicies, policyKey, options);
      results[index] = result;
      done++;
      options.onProgress?.(done, components.length, result);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, components.length) }, worker));
  return results;
}

export function summarize(results: readonly ComponentResult[]): PayloadSummary {
  const count = (status: ComponentStatus): number =>
    results.filter((r) => r.status === status).length;
  return {
    total: results.length,
    verified: count('verified'),
    unsigned: count('unsigned'),
    invalid: count('invalid'),
    notCovered: count('not-covered'),
    errors: count('error'),
  };
}

/**
 * Every covered component verified (uncovered ones are not checked, and do not fail) — and at
 * least one was: a payload of which nothing was checked (no components, or none covered by a
 * policy) is never "verified".
 */
export function payloadVerified(summary: PayloadSummary): boolean {
  return summary.verified > 0 && summary.unsigned + summary.invalid + summary.errors === 0;
}

/** Nothing in the payload was checked: no components, or none covered by any policy. */
export function nothingCovered(summary: PayloadSummary): boolean {
  return summary.total === summary.notCovered;
}

/** A key that changes whenever any policy's name or content changes. */
function policiesKey(policies: readonly PolicyObject[]): string {
  const hash = createHash('sha256');
  for (const p of [...policies].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    hash
      .update(p.name)
      .update('\0')
      .update(JSON.stringify(p.spec))
      .update('\0')
      .update(p.unusable ?? '')
      .update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

async function verifyOne(
  component: ComponentInput,
  cluster: EffectivePolicies,
  policies: readonly PolicyObject[],
  policyKey: string,
  options: VerifyComponentsOptions,
): Promise<ComponentResult> {
  const { pullspec, tags } = component;
  const base = { tags, pullspec: pullspec.raw };
  const match = resolvePolicies(pullspec, cluster);
  if (match === undefined) {
    return {
      ...base,
      status: 'not-covered',
      reason: 'no ClusterImagePolicy scope covers this repository',
      checks: [],
      cached: false,
    };
  }
  const sources = options.sourcesFor?.(pullspec) ?? [
    { host: pullspec.host, path: pullspec.path, name: pullspec.name, mirror: false },
  ];
  const cacheKey = `${pullspec.name}@${pullspec.digest}|${policyKey}|${sources.map((s) => s.name).join(',')}`;
  const hit = options.cache?.get(cacheKey);
  const now = (options.now ?? Date.now)();
  if (hit !== undefined && now - (hit.checkedAt ?? 0) < COMPONENT_VERDICT_TTL_MS)
    return { ...hit, cached: true };

  let source: ComponentSource | undefined;
  try {
    source = await pickSource(options.client, pullspec, sources, options.signal);
  } catch (err) {
    if (!isVerifyError(err) || err.code === 'ABORTED') throw err;
    return { ...base, status: 'error', reason: err.message, checks: [], cached: false };
  }
  if (source === undefined) {
    return {
      ...base,
      status: 'error',
      reason: `${pullspec.digest} is not in ${sources.map((s) => s.name).join(', ')}`,
      checks: [],
      cached: false,
    };
  }
  const checks = await checkSigstore(
    pullspec,
    { policies, client: options.client },
    options.signal,
    source.mirror ? { host: source.host, path: source.path } : undefined,
  );
  const result: ComponentResult = {
    ...base,
    ...classify(checks),
    ...(source.mirror ? { source: source.name } : {}),
    checks,
    cached: false,
  };
  if (result.status === 'verified') options.cache?.set(cacheKey, { ...result, checkedAt: now });
  return result;
}

/**
 * The source a node would pull from: with one source, that one (not fetched here: the
 * signature lookup answers for it); with mirrors, the first that has the manifest.
 */
export async function pickSource(
  client: RegistryClient,
  pullspec: DigestPullspec,
  sources: readonly ComponentSource[],
  signal: AbortSignal,
): Promise<ComponentSource | undefined> {
  if (sources.length === 1) return sources[0];
  let lastError: Error | undefined;
  for (const source of sources) {
    try {
      const found = await client.getManifest(source, pullspec.digest, { signal });
      if (found.status === 'found') return source;
    } catch (err) {
      // Registry failures move on to the next mirror; an abort or anything else does not.
      if (!isVerifyError(err) || err.area !== 'registry') throw err;
      lastError = err;
    }
  }
  if (lastError !== undefined) throw lastError;
  return undefined;
}

/** Kinds of failure that mean the registry could not answer (ERROR), not that it said no. */
const ERROR_LABELS: ReadonlySet<ErrorLabel> = new Set<ErrorLabel>([
  'unavailable',
  'timeout',
  'redirect',
  'store_misconfigured',
]);

function classify(checks: readonly SigstoreCheck[]): {
  status: ComponentStatus;
  reason: string;
} {
  const failed = checks.filter((c) => !c.verified);
  if (checks.length > 0 && failed.length === 0) {
    return {
      status: 'verified',
      reason: checks.map((c) => `${c.policy}: ${c.reason}`).join('; '),
    };
  }
  const reason = failed.map((c) => `${c.policy}: ${c.reason}`).join('; ');
  if (failed.some((c) => c.code !== undefined && ERROR_LABELS.has(toErrorLabel(c.code)))) {
    return { status: 'error', reason };
  }
  if (failed.every((c) => c.code !== undefined && toErrorLabel(c.code) === 'unsigned')) {
    return { status: 'unsigned', reason };
  }
  return { status: 'invalid', reason: reason === '' ? 'no policy check ran' : reason };
}
