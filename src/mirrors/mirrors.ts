import type { DigestPullspec } from '../image/pullspec.js';
import { decodeManifestDocuments, ManifestTextError } from '../json/manifest-text.js';
import { VerifyError } from '../errors.js';

/** Largest mirror configuration file accepted (several documents), as for policy files. */
export const MAX_MIRROR_FILE_CHARS = 4 * 1024 * 1024;
/**
 * Largest single document (text between YAML `---` markers, or a whole JSON file). A real
 * ImageDigestMirrorSet is well under 4 KiB; 64 KiB holds several hundred rules.
 */
export const MAX_MIRROR_DOCUMENT_CHARS = 64 * 1024;
/** Most rules (source entries) read from one file, and most objects (documents, List items). */
export const MAX_MIRROR_RULES = 1000;
/**
 * Mirrors per rule and characters per source or mirror: the CRDs set no bound, these are ours.
 * Repository names are at most 255 characters in the distribution spec, plus the host.
 */
const MAX_MIRRORS_PER_RULE = 256;
const MAX_LOCATION_LENGTH = 512;
/** Kubernetes object names (DNS-1123 subdomain). */
const MAX_NAME_LENGTH = 253;
/** JSON nesting is ~6 levels in these schemas. */
const MAX_JSON_DEPTH = 32;
/** Values quoted in error messages are cut here so a hostile file cannot flood logs. */
const MAX_QUOTED_LENGTH = 200;

const IDMS_KIND = 'ImageDigestMirrorSet';
const ICSP_KIND = 'ImageContentSourcePolicy';
type MirrorKind = typeof IDMS_KIND | typeof ICSP_KIND;

interface KindSchema {
  readonly apiVersion: string;
  /** The spec field holding the rules. */
  readonly rulesField: string;
  /** Fields a rule may have. */
  readonly ruleFields: ReadonlySet<string>;
  /** `*.domain` sources (IDMS's `[*.]host` format). */
  readonly wildcardSource: boolean;
  /** `x-kubernetes-list-type: set` on mirrors: the API server rejects duplicates. */
  readonly uniqueMirrors: boolean;
}

const SCHEMAS: Readonly<Record<MirrorKind, KindSchema>> = {
  ImageDigestMirrorSet: {
    apiVersion: 'config.openshift.io/v1',
    rulesField: 'imageDigestMirrors',
    ruleFields: new Set(['source', 'mirrors', 'mirrorSourcePolicy']),
    wildcardSource: true,
    uniqueMirrors: true,
  },
  // The ICSP CRD has no patterns; its sources and mirrors end up as registries.conf locations
  // all the same, so they are held to IDMS's non-wildcard grammar.
  ImageContentSourcePolicy: {
    apiVersion: 'operator.openshift.io/v1alpha1',
    rulesField: 'repositoryDigestMirrors',
    ruleFields: new Set(['source', 'mirrors']),
    wildcardSource: false,
    uniqueMirrors: false,
  },
};

const LIST_KINDS = new Set(['List', 'ImageDigestMirrorSetList', 'ImageContentSourcePolicyList']);
const TOP_LEVEL_FIELDS = new Set(['apiVersion', 'kind', 'metadata', 'spec', 'status']);
const MIRROR_SOURCE_POLICIES = ['NeverContactSource', 'AllowContactingSource'] as const;

// The IDMS CRD's patterns (openshift/api config/v1, ImageDigestMirrors.source and .mirrors).
const HOST_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const LOCATION_RE = new RegExp(
  `^(?:${HOST_COMPONENT}(?:(?:\\.${HOST_COMPONENT})+)?(?::[0-9]+)?)` +
    '(?:(?:/[a-z0-9]+(?:(?:(?:[._]|__|[-]*)[a-z0-9]+)+)?)+)?$',
);
const WILDCARD_SOURCE_RE = new RegExp(`^\\*(?:\\.${HOST_COMPONENT})+$`);
const DNS1123_LABEL = '[a-z0-9](?:[-a-z0-9]*[a-z0-9])?';
const DNS1123_SUBDOMAIN_RE = new RegExp(`^${DNS1123_LABEL}(?:\\.${DNS1123_LABEL})*$`);
const YAML_DOCUMENT_MARKER_RE = /^(?:---|\.\.\.)(?=[ \t\r\n]|$)/gm;

/** One source entry of an ImageDigestMirrorSet or ImageContentSourcePolicy. */
export interface MirrorRule {
  /** `host[:port][/namespace…]`, or `*.domain` (IDMS only). */
  readonly source: string;
  /** In the order given; may be empty (the rule then has no effect). */
  readonly mirrors: readonly string[];
  /** `mirrorSourcePolicy: NeverContactSource`. */
  readonly neverContactSource: boolean;
  /** `Kind/name` of the object the rule came from. */
  readonly from: string;
}

/** A repository to fetch a by-digest image from, in the order to try. */
export interface MirrorSource {
  /** Registry `host[:port]`. */
  readonly host: string;
  /** Repository path below the host. */
  readonly path: string;
  /** `host/path` */
  readonly name: string;
  /** False for the image's own repository. */
  readonly mirror: boolean;
  /** `Kind/name` of the first rule listing this mirror. */
  readonly rule?: string;
}

type Mapping = Readonly<Record<string, unknown>>;

function isMapping(value: unknown): value is Mapping {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function quote(value: string): string {
  const shown = value.length > MAX_QUOTED_LENGTH ? `${value.slice(0, MAX_QUOTED_LENGTH)}…` : value;
  return JSON.stringify(shown);
}

function typeOf(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function invalid(where: string, problem: string, cause?: unknown): VerifyError {
  return new VerifyError(
    'INVALID_CONTENT',
    `${where}: ${problem}`,
    cause === undefined ? {} : { cause },
  );
}

/** Length of the longest text between YAML document markers: a bound on every document. */
function longestDocumentChars(text: string): number {
  let longest = 0;
  let start = 0;
  for (const marker of text.matchAll(YAML_DOCUMENT_MARKER_RE)) {
    longest = Math.max(longest, marker.index - start);
    start = marker.index;
  }
  return Math.max(longest, text.length - start);
}

function decodeDocuments(text: string, origin: string): unknown[] {
  if (
    text.length <= MAX_MIRROR_FILE_CHARS &&
    longestDocumentChars(text) > MAX_MIRROR_DOCUMENT_CHARS
  ) {
    throw invalid(origin, `a document is longer than ${MAX_MIRROR_DOCUMENT_CHARS} characters`);
  }
  try {
    return decodeManifestDocuments(text, origin, {
      maxChars: MAX_MIRROR_FILE_CHARS,
      maxJsonChars: MAX_MIRROR_DOCUMENT_CHARS,
      maxJsonDepth: MAX_JSON_DEPTH,
    });
  } catch (err) {
    if (!(err instanceof ManifestTextError)) throw err;
    throw invalid(origin, err.message, err.cause);
  }
}

/** Kubernetes drops `null` for optional fields; so do we. */
function optional(value: unknown): unknown {
  return value === null ? undefined : value;
}

function checkKnownFields(
  object: Mapping,
  allowed: ReadonlySet<string>,
  where: string,
  path: string,
): void {
  for (const key of Object.keys(object)) {
    if (!allowed.has(key)) throw invalid(where, `unknown field ${quote(path + key)}`);
  }
}

/** Why a source or mirror fails the CRD pattern, or undefined when it matches. */
function locationProblem(value: string, allowWildcard: boolean): string | undefined {
  if (value.length > MAX_LOCATION_LENGTH) return `is longer than ${MAX_LOCATION_LENGTH} characters`;
  if (allowWildcard && value.startsWith('*')) {
    return WILDCARD_SOURCE_RE.test(value)
      ? undefined
      : 'is not a valid wildcard: only *.domain is allowed (no port, path or inner *)';
  }
  if (LOCATION_RE.test(value)) return undefined;
  if (value.includes('@')) return 'must not include a digest';
  const slash = value.indexOf('/');
  if (slash !== -1 && value.slice(slash).includes(':')) return 'must not include a tag';
  if (value.includes('*')) {
    return allowWildcard
      ? 'is not a valid wildcard: only *.domain is allowed (no port, path or inner *)'
      : 'must not be a wildcard';
  }
  return 'must be host[:port][/namespace[/…]] with a lowercase repository path';
}

function parseLocation(
  value: unknown,
  where: string,
  path: string,
  options: { wildcard: boolean; mirror: boolean },
): string {
  if (typeof value !== 'string')
    throw invalid(where, `${path} must be a string, got ${typeOf(value)}`);
  const problem = locationProblem(value, options.wildcard);
  if (problem !== undefined) throw invalid(where, `${path} ${quote(value)} ${problem}`);
  if (options.mirror) {
    // containers/image reparses `mirror + rest of the name` as a canonical reference: a first
    // segment that is not recognisably a registry host would be read as a Docker Hub path.
    const host = value.split('/', 1)[0] ?? '';
    if (!host.includes('.') && !host.includes(':') && host !== 'localhost') {
      throw invalid(
        where,
        `${path} ${quote(value)} must start with a registry host (containing "." or ":", or localhost)`,
      );
    }
  }
  return value;
}

function parseRule(
  value: unknown,
  schema: KindSchema,
  from: string,
  where: string,
  path: string,
): MirrorRule {
  if (!isMapping(value)) throw invalid(where, `${path} must be an object, got ${typeOf(value)}`);
  checkKnownFields(value, schema.ruleFields, where, `${path}.`);
  if (optional(value.source) === undefined) throw invalid(where, `${path}.source is required`);
  const source = parseLocation(value.source, where, `${path}.source`, {
    wildcard: schema.wildcardSource,
    mirror: false,
  });

  const mirrors: string[] = [];
  const rawMirrors = optional(value.mirrors);
  if (rawMirrors !== undefined) {
    if (!Array.isArray(rawMirrors)) {
      throw invalid(where, `${path}.mirrors must be an array, got ${typeOf(rawMirrors)}`);
    }
    if (rawMirrors.length > MAX_MIRRORS_PER_RULE) {
      throw invalid(
        where,
        `${path}.mirrors has ${rawMirrors.length} entries, more than the limit of ${MAX_MIRRORS_PER_RULE}`,
      );
    }
    for (const [i, raw] of (rawMirrors as unknown[]).entries()) {
      const mirror = parseLocation(raw, where, `${path}.mirrors[${i}]`, {
        wildcard: false,
        mirror: true,
      });
      if (schema.uniqueMirrors && mirrors.includes(mirror)) {
        throw invalid(where, `${path}.mirrors[${i}] ${quote(mirror)} is a duplicate value`);
      }
      mirrors.push(mirror);
    }
  }

  let neverContactSource = false;
  const policy = optional(value.mirrorSourcePolicy);
  if (policy !== undefined) {
    if (!MIRROR_SOURCE_POLICIES.some((p) => p === policy)) {
      const got = typeof policy === 'string' ? quote(policy) : typeOf(policy);
      throw invalid(
        where,
        `${path}.mirrorSourcePolicy ${got} is not one of ${MIRROR_SOURCE_POLICIES.join(', ')}`,
      );
    }
    neverContactSource = policy === 'NeverContactSource';
  }
  return { source, mirrors, neverContactSource, from };
}

function parseObject(value: unknown, where: string, ruleBudget: number): MirrorRule[] {
  if (!isMapping(value)) throw invalid(where, `document must be an object, got ${typeOf(value)}`);
  const { kind } = value;
  if (typeof kind !== 'string') throw invalid(where, `kind must be a string, got ${typeOf(kind)}`);
  if (kind !== IDMS_KIND && kind !== ICSP_KIND) {
    throw invalid(where, `unsupported kind ${quote(kind)}: expected ${IDMS_KIND} or ${ICSP_KIND}`);
  }
  const schema = SCHEMAS[kind];
  if (value.apiVersion !== schema.apiVersion) {
    const got =
      typeof value.apiVersion === 'string' ? quote(value.apiVersion) : typeOf(value.apiVersion);
    throw invalid(where, `apiVersion of ${kind} must be ${quote(schema.apiVersion)}, got ${got}`);
  }
  checkKnownFields(value, TOP_LEVEL_FIELDS, where, '');
  const { metadata } = value;
  if (!isMapping(metadata))
    throw invalid(where, `metadata must be an object, got ${typeOf(metadata)}`);
  const { name } = metadata;
  if (typeof name !== 'string') {
    throw invalid(where, `metadata.name must be a string, got ${typeOf(name)}`);
  }
  if (name.length > MAX_NAME_LENGTH || !DNS1123_SUBDOMAIN_RE.test(name)) {
    throw invalid(where, `metadata.name ${quote(name)} is not a valid Kubernetes object name`);
  }
  const from = `${kind}/${name}`;
  const at = `${where} (${from})`;

  const { spec } = value;
  if (!isMapping(spec)) throw invalid(at, `spec must be an object, got ${typeOf(spec)}`);
  checkKnownFields(spec, new Set([schema.rulesField]), at, 'spec.');
  const rawRules = optional(spec[schema.rulesField]);
  if (rawRules === undefined) return [];
  const rulesPath = `spec.${schema.rulesField}`;
  if (!Array.isArray(rawRules)) {
    throw invalid(at, `${rulesPath} must be an array, got ${typeOf(rawRules)}`);
  }
  if (rawRules.length > ruleBudget) {
    throw invalid(at, `${rulesPath}: more than ${MAX_MIRROR_RULES} mirror rules in the file`);
  }
  return (rawRules as unknown[]).map((rule, i) =>
    parseRule(rule, schema, from, at, `${rulesPath}[${i}]`),
  );
}

/**
 * One ImageDigestMirrorSet or ImageContentSourcePolicy object already decoded (as the API server
 * returns it, reduced to apiVersion, kind, metadata.name and spec), checked as strictly as a
 * file's. Throws {@link VerifyError} `INVALID_CONTENT` naming `origin`.
 */
export function parseMirrorObject(value: unknown, origin: string): MirrorRule[] {
  return parseObject(value, origin, MAX_MIRROR_RULES);
}

/**
 * Parses YAML or JSON text holding ImageDigestMirrorSet (config.openshift.io/v1) and
 * ImageContentSourcePolicy (operator.openshift.io/v1alpha1) objects: single objects, multi-document
 * YAML, and Lists. Sources and mirrors are checked against the IDMS CRD patterns; fields the CRDs
 * do not define are rejected. Throws {@link VerifyError} `INVALID_CONTENT` naming the origin
 * (`origin#N` for the Nth document, `.items[i]` inside Lists), the object and the field.
 */
export function parseMirrorConfig(text: string, origin: string): MirrorRule[] {
  const documents = decodeDocuments(text, origin);
  const candidates: { value: unknown; where: string }[] = [];
  for (const [i, doc] of documents.entries()) {
    if (doc === null || doc === undefined) continue;
    const where = documents.length === 1 ? origin : `${origin}#${i + 1}`;
    if (isMapping(doc) && typeof doc.kind === 'string' && LIST_KINDS.has(doc.kind)) {
      const { items } = doc;
      if (!Array.isArray(items)) throw invalid(where, `items of a ${doc.kind} must be an array`);
      if (candidates.length + items.length > MAX_MIRROR_RULES) {
        throw invalid(origin, `more than ${MAX_MIRROR_RULES} objects`);
      }
      for (const [j, item] of (items as unknown[]).entries())
        candidates.push({ value: item, where: `${where}.items[${j}]` });
    } else {
      if (candidates.length + 1 > MAX_MIRROR_RULES) {
        throw invalid(origin, `more than ${MAX_MIRROR_RULES} objects`);
      }
      candidates.push({ value: doc, where });
    }
  }
  const rules: MirrorRule[] = [];
  for (const { value, where } of candidates)
    rules.push(...parseObject(value, where, MAX_MIRROR_RULES - rules.length));
  return rules;
}

/** The hostname of `host[:port]` (IPv6 literals are returned whole; no wildcard matches them). */
function hostname(host: string): string {
  if (host.startsWith('[')) return host;
  const colon = host.indexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

/** What follows `source` in the image's `host/path`, or undefined when the source does not match. */
function remainderAfter(source: string, pullspec: DigestPullspec): string | undefined {
  if (source.startsWith('*.')) {
    // `*.example.com` matches subdomains of example.com (not example.com itself), on any port.
    // containers/image splices a port into the mirror text (`mirror:5000/path`); we map the
    // whole registry host to the mirror instead.
    return hostname(pullspec.host).endsWith(source.slice(1)) ? `/${pullspec.path}` : undefined;
  }
  // Whole path segments only: quay.io/ocp matches quay.io/ocp/release, not quay.io/ocp-dev.
  // (containers/image also lets `example.com` match `example.com:5000/…`, a behaviour it calls
  // unintended; here a port is part of the host.)
  const { name } = pullspec;
  if (name === source) return '';
  return name.startsWith(`${source}/`) ? name.slice(source.length) : undefined;
}

/** A rule whose mirrors are all its own source configures nothing (the MCO skips it). */
function hasRealMirror(rule: MirrorRule): boolean {
  return rule.mirrors.some((mirror) => mirror !== rule.source);
}

/**
 * The most specific source matching the image: the longest non-wildcard source, else the longest
 * wildcard one, as containers/image chooses a registries.conf entry.
 */
function bestSource(
  rules: readonly MirrorRule[],
  pullspec: DigestPullspec,
): { source: string; remainder: string } | undefined {
  let best: { source: string; remainder: string; wildcard: boolean } | undefined;
  for (const { source } of rules) {
    const remainder = remainderAfter(source, pullspec);
    if (remainder === undefined) continue;
    const wildcard = source.startsWith('*.');
    const better =
      best === undefined ||
      (best.wildcard && !wildcard) ||
      (best.wildcard === wildcard && source.length > best.source.length);
    if (better) best = { source, remainder, wildcard };
  }
  return best;
}

/** Smallest-first binary heap of node indices. */
class IndexHeap {
  private readonly items: number[] = [];

  get size(): number {
    return this.items.length;
  }

  push(value: number): void {
    const { items } = this;
    items.push(value);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent] ?? 0;
      if (p <= value) break;
      items[i] = p;
      i = parent;
    }
    items[i] = value;
  }

  pop(): number | undefined {
    const { items } = this;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= items.length) break;
      const right = left + 1;
      const l = items[left] ?? 0;
      const r = items[right];
      const child = r !== undefined && r < l ? right : left;
      const c = items[child] ?? 0;
      if (last <= c) break;
      items[i] = c;
      i = child;
    }
    items[i] = last;
    return top;
  }
}

/**
 * Merges the mirror lists of rules sharing one source as the MCO does: each list (followed by
 * the source, unless the list names it) is a chain of "try before" edges, topologically sorted;
 * the source is dropped when it comes last. So (a, b, c) and (c, d, e) give a, b, c, d, e, and
 * (B, C) and (A, B) give A, B, C. Ties go to the entry seen first; conflicting orders (a cycle,
 * "unspecified" in the CRD) are broken at the entry seen first.
 */
function mergeMirrorLists(source: string, lists: readonly (readonly string[])[]): string[] {
  const index = new Map<string, number>();
  const nodes: string[] = [];
  const successors: Set<number>[] = [];
  const inDegree: number[] = [];
  const node = (name: string): number => {
    let i = index.get(name);
    if (i === undefined) {
      i = nodes.length;
      index.set(name, i);
      nodes.push(name);
      successors.push(new Set());
      inDegree.push(0);
    }
    return i;
  };
  for (const list of lists) {
    const chain = (list.includes(source) ? list : [...list, source]).map(node);
    for (let k = 0; k + 1 < chain.length; k++) {
      const from = chain[k] ?? 0;
      const to = chain[k + 1] ?? 0;
      const out = successors[from];
      if (from === to || out === undefined || out.has(to)) continue;
      out.add(to);
      inDegree[to] = (inDegree[to] ?? 0) + 1;
    }
  }

  const ready = new IndexHeap();
  for (const [i, degree] of inDegree.entries()) if (degree === 0) ready.push(i);
  const emitted = new Array<boolean>(nodes.length).fill(false);
  const order: string[] = [];
  let firstPending = 0;
  while (order.length < nodes.length) {
    let next = ready.pop();
    if (next === undefined) {
      // Every pending entry waits on another: a cycle. Break it at the earliest-seen one.
      while (emitted[firstPending] === true) firstPending++;
      next = firstPending;
    }
    if (emitted[next] === true) continue;
    emitted[next] = true;
    order.push(nodes[next] ?? '');
    for (const successor of successors[next] ?? []) {
      inDegree[successor] = (inDegree[successor] ?? 0) - 1;
      if (inDegree[successor] === 0 && emitted[successor] !== true) ready.push(successor);
    }
  }
  if (order.at(-1) === source) order.pop();
  return order;
}

function toSource(location: string, mirror: boolean, rule?: string): MirrorSource {
  const slash = location.indexOf('/');
  const host = location.slice(0, slash);
  const path = location.slice(slash + 1);
  return { host, path, name: location, mirror, ...(rule !== undefined ? { rule } : {}) };
}

/**
 * The ordered repositories to fetch a by-digest image from, as containers/image does with the
 * registries.conf the MCO renders from these rules: the rules whose source is the most specific
 * match for the image (whole path segments; wildcards only when no other source matches) have
 * their mirrors merged; each mirror repository is the mirror plus the rest of the image's name
 * after the source; the image's own repository comes last unless one of those rules says
 * NeverContactSource. Rules without a real mirror are ignored, as the MCO ignores them. With no
 * match the result is the image's own repository alone.
 *
 * Throws {@link VerifyError} `INVALID_CONTENT` when a host-only mirror would replace a whole
 * repository name (the result would have no repository path).
 */
export function mirrorSources(
  rules: readonly MirrorRule[],
  pullspec: DigestPullspec,
): MirrorSource[] {
  const original: MirrorSource = {
    host: pullspec.host,
    path: pullspec.path,
    name: pullspec.name,
    mirror: false,
  };
  const effective = rules.filter(hasRealMirror);
  const match = bestSource(effective, pullspec);
  if (match === undefined) return [original];
  const group = effective.filter((rule) => rule.source === match.source);
  const merged = mergeMirrorLists(
    match.source,
    group.map((rule) => rule.mirrors),
  );

  const result: MirrorSource[] = [];
  const seen = new Set<string>();
  for (const mirror of merged) {
    const location = `${mirror}${match.remainder}`;
    if (seen.has(location)) continue;
    seen.add(location);
    if (location === pullspec.name) {
      // The source listed among its own mirrors: tried in that position, as containers/image does.
      result.push(original);
      continue;
    }
    const rule = group.find((r) => r.mirrors.includes(mirror))?.from;
    if (!location.includes('/')) {
      throw invalid(
        rule ?? match.source,
        `mirror ${quote(mirror)} of source ${quote(match.source)} leaves no repository path for ${quote(pullspec.name)}`,
      );
    }
    result.push(toSource(location, true, rule));
  }
  const neverContactSource = group.some((rule) => rule.neverContactSource);
  if (!neverContactSource && !seen.has(pullspec.name)) result.push(original);
  return result;
}

const DUMMY_DIGEST = `sha256:${'a'.repeat(64)}`;
const DUMMY_PATH = '/a';

/** The mirror locations an image under `location` (a repository or host scope) is read from. */
function mirrorLocations(rules: readonly MirrorRule[], location: string): string[] {
  const hostOnly = !location.includes('/');
  // A host-only scope names no repository: ask for one below it and take the path back off,
  // as the Machine Config Operator does.
  const repository = hostOnly ? `${location}${DUMMY_PATH}` : location;
  const slash = repository.indexOf('/');
  const pullspec: DigestPullspec = {
    raw: `${repository}@${DUMMY_DIGEST}`,
    host: repository.slice(0, slash),
    path: repository.slice(slash + 1),
    name: repository,
    digest: DUMMY_DIGEST,
  };
  return mirrorSources(rules, pullspec)
    .filter((source) => source.mirror)
    .map((source) =>
      hostOnly && source.name.endsWith(DUMMY_PATH)
        ? source.name.slice(0, -DUMMY_PATH.length)
        : source.name,
    );
}

/** Whether `location` (a mirror rule's source) is `scope` or lies below it. */
function nestedIn(location: string, scope: string): boolean {
  if (scope.startsWith('*.')) {
    const host = location.split('/')[0] ?? '';
    const name = hostname(host.startsWith('*.') ? host.slice(2) : host);
    return name === scope.slice(2) ? host.startsWith('*.') : name.endsWith(scope.slice(1));
  }
  return location === scope || location.startsWith(`${scope}/`);
}

/**
 * The mirror endpoints the Machine Config Operator adds to registries.d beside a
 * ClusterImagePolicy scope, so CRI-O reads signatures there too: where images of the scope
 * itself are pulled from, and the mirrors of every mirrored source nested inside the scope.
 */
export function scopeMirrorEndpoints(rules: readonly MirrorRule[], scope: string): string[] {
  const endpoints = new Set<string>();
  if (!scope.startsWith('*.')) {
    for (const location of mirrorLocations(rules, scope)) endpoints.add(location);
  }
  for (const rule of rules.filter(hasRealMirror)) {
    if (!nestedIn(rule.source, scope)) continue;
    if (rule.source === scope && !scope.startsWith('*.')) continue; // handled above
    if (rule.source.startsWith('*.')) {
      for (const mirror of rule.mirrors) if (mirror !== rule.source) endpoints.add(mirror);
      continue;
    }
    for (const location of mirrorLocations(rules, rule.source)) endpoints.add(location);
  }
  endpoints.delete(scope);
  return [...endpoints];
}
