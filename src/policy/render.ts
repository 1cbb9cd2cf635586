import { scopeMirrorEndpoints } from '../mirrors/mirrors.js';
import type { MirrorRule } from '../mirrors/mirrors.js';
import { decodeBase64Field } from './pem.js';
import { parsePolicyText } from './parse.js';
import { PolicyError } from './policy-error.js';
import { scopePolicies } from './scope.js';
import type { ScopeConflict } from './scope.js';
import type { PolicyObject, RootOfTrust, SignedIdentity } from './types.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const INSECURE_ACCEPT_ANYTHING = { type: 'insecureAcceptAnything' } as const;

/**
 * `/etc/containers/policy.json` as the MCO installs it before any policy, byte for byte: the
 * `contents.inline` block of machine-config-operator
 * templates/{master,worker,arbiter}/01-*-container-runtime/_base/files/policy.yaml (which end
 * without a newline, so the block has none). The MCO leaves it untouched while no
 * ClusterImagePolicy exists (updatePolicyJSON returns it as read).
 */
export const MCO_POLICY_JSON_TEMPLATE = `{
    "default": [
        {
            "type": "insecureAcceptAnything"
        }
    ],
    "transports":
        {
            "docker-daemon":
                {
                    "": [{"type":"insecureAcceptAnything"}]
                }
        }
}`;

/**
 * containers/image's `atomic` transport (the OpenShift registry) accepts at most three path
 * segments, so the MCO copies only scopes with fewer than three `/` into it
 * (helpers.go updatePolicyJSON and updateNamespacedPolicyJSONs:
 * `if strings.Count(scope, "/") >= 3 { continue }`).
 */
function belongsInAtomic(scope: string): boolean {
  let slashes = 0;
  for (const c of scope) if (c === '/') slashes++;
  return slashes < 3;
}

const LONE_SURROGATE_RE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Strings as Go holds them: the API server decodes a lone surrogate escape to U+FFFD. */
function wellFormed(value: Json): Json {
  if (typeof value === 'string') return value.replace(LONE_SURROGATE_RE, '\uFFFD');
  if (Array.isArray(value)) return value.map(wellFormed);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k.replace(LONE_SURROGATE_RE, '\uFFFD'),
        wellFormed(v),
      ]),
    );
  return value;
}

/**
 * Go's `json.MarshalIndent(v, "", "  ")`: JSON.stringify's layout (the same for these values:
 * strings, objects and arrays only), plus encoding/json's HTML-safe escapes of `<`, `>`, `&`,
 * U+2028 and U+2029. No trailing newline. Keys must already be in Go's order (struct fields in
 * declaration order, map keys sorted bytewise).
 */
function goMarshalIndent(value: Json): string {
  return JSON.stringify(wellFormed(value), null, 2).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Canonical base64 of the decoded bytes, as Go re-marshals a []byte field. */
function reencode(base64: string): string {
  const bytes = decodeBase64Field(base64);
  // Validated objects only reach here; a failure is a programming error.
  if (bytes === undefined) throw new Error('unreachable: invalid base64 in a validated policy');
  return bytes.toString('base64');
}

function signedIdentityJson(identity: SignedIdentity | undefined): Json {
  const match = identity ?? { matchPolicy: 'MatchRepoDigestOrExact' as const };
  switch (match.matchPolicy) {
    case 'MatchRepoDigestOrExact':
      return { type: 'matchRepoDigestOrExact' };
    case 'MatchRepository':
      return { type: 'matchRepository' };
    case 'ExactRepository':
      return { type: 'exactRepository', dockerRepository: match.exactRepository.repository };
    case 'RemapIdentity':
      return {
        type: 'remapIdentity',
        prefix: match.remapIdentity.prefix,
        signedPrefix: match.remapIdentity.signedPrefix,
      };
  }
}

/**
 * One `sigstoreSigned` requirement, with fields in containers/image's marshalling order
 * (keyData, fulcio, rekorPublicKeyData, pki, signedIdentity) and data inline as base64.
 */
export function toPolicyRequirement(
  rootOfTrust: RootOfTrust,
  signedIdentity?: SignedIdentity,
): Json {
  const out: Record<string, Json> = { type: 'sigstoreSigned' };
  switch (rootOfTrust.policyType) {
    case 'PublicKey':
      out.keyData = reencode(rootOfTrust.publicKey.keyData);
      if (rootOfTrust.publicKey.rekorKeyData !== undefined)
        out.rekorPublicKeyData = reencode(rootOfTrust.publicKey.rekorKeyData);
      break;
    case 'FulcioCAWithRekor': {
      const f = rootOfTrust.fulcioCAWithRekor;
      out.fulcio = {
        caData: reencode(f.fulcioCAData),
        oidcIssuer: f.fulcioSubject.oidcIssuer,
        subjectEmail: f.fulcioSubject.signedEmail,
      };
      out.rekorPublicKeyData = reencode(f.rekorKeyData);
      break;
    }
    case 'PKI': {
      const p = rootOfTrust.pki;
      const pki: Record<string, Json> = { caRootsData: reencode(p.caRootsData) };
      if (p.caIntermediatesData !== undefined)
        pki.caIntermediatesData = reencode(p.caIntermediatesData);
      if (p.pkiCertificateSubject.email !== undefined)
        pki.subjectEmail = p.pkiCertificateSubject.email;
      if (p.pkiCertificateSubject.hostname !== undefined)
        pki.subjectHostname = p.pkiCertificateSubject.hostname;
      out.pki = pki;
      break;
    }
  }
  out.signedIdentity = signedIdentityJson(signedIdentity);
  return out;
}

/** A containers policy (signature.Policy): `default` and `transports` (map of maps). */
interface GoPolicy {
  readonly default: readonly Json[];
  readonly transports: Map<string, Map<string, Json[]>>;
}

/** The MCO's template, decoded as signature.Policy reads it. */
function templatePolicy(): GoPolicy {
  return {
    default: [{ ...INSECURE_ACCEPT_ANYTHING }],
    transports: new Map([['docker-daemon', new Map([['', [{ ...INSECURE_ACCEPT_ANYTHING }]]])]]),
  };
}

function compareBytes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** signature.Policy marshalled: struct fields in order, every map's keys sorted (Go maps). */
function marshalPolicy(policy: GoPolicy): string {
  const sortedObject = <V>(map: ReadonlyMap<string, V>, f: (v: V) => Json): Json =>
    Object.fromEntries([...map.keys()].sort(compareBytes).map((k) => [k, f(map.get(k) as V)]));
  return goMarshalIndent({
    default: [...policy.default],
    transports: sortedObject(policy.transports, (scopes) => sortedObject(scopes, (r) => r)),
  });
}

function requirements(policies: readonly PolicyObject[]): Json[] {
  return policies.map((p) =>
    toPolicyRequirement(p.spec.policy.rootOfTrust, p.spec.policy.signedIdentity),
  );
}

/**
 * `/etc/containers/policy.json` as the MCO writes it (helpers.go updatePolicyJSON, with no
 * allowed or blocked registries): without ClusterImagePolicies the template unchanged; otherwise
 * the template with `transports.docker` holding every ClusterImagePolicy scope (all of its
 * policies required) and `transports.atomic` the same for scopes with fewer than three `/`,
 * marshalled as Go does. Byte for byte, no trailing newline.
 */
export function renderPolicyJson(cluster: ReadonlyMap<string, readonly PolicyObject[]>): string {
  return cluster.size === 0 ? MCO_POLICY_JSON_TEMPLATE : marshalPolicy(clusterPolicy(cluster));
}

function clusterPolicy(cluster: ReadonlyMap<string, readonly PolicyObject[]>): GoPolicy {
  const policy = templatePolicy();
  if (cluster.size === 0) return policy;
  const docker = new Map<string, Json[]>();
  for (const [scope, policies] of cluster) docker.set(scope, requirements(policies));
  policy.transports.set('docker', docker);
  policy.transports.set('atomic', new Map([...docker].filter(([scope]) => belongsInAtomic(scope))));
  return policy;
}

/**
 * `/etc/crio/policies/<namespace>.json` as the MCO writes it (helpers.go
 * updateNamespacedPolicyJSONs): the cluster policy.json decoded, each of the namespace's
 * ImagePolicy scopes appended to `transports.docker` and, with fewer than three `/`, to
 * `transports.atomic` (both created when absent). Undefined when the namespace has no
 * ImagePolicy scope in effect: the MCO writes no file and CRI-O uses policy.json.
 */
export function renderNamespacePolicyJson(
  cluster: ReadonlyMap<string, readonly PolicyObject[]>,
  namespaced: ReadonlyMap<string, ReadonlyMap<string, readonly PolicyObject[]>>,
  namespace: string,
): string | undefined {
  const own = [...namespaced]
    .map(([scope, byNamespace]) => [scope, byNamespace.get(namespace)] as const)
    .filter((e): e is readonly [string, readonly PolicyObject[]] => e[1] !== undefined);
  if (own.length === 0) return undefined;
  const policy = clusterPolicy(cluster);
  const docker = policy.transports.get('docker') ?? new Map<string, Json[]>();
  policy.transports.set('docker', docker);
  const atomic = policy.transports.get('atomic') ?? new Map<string, Json[]>();
  policy.transports.set('atomic', atomic);
  for (const [scope, policies] of own) {
    docker.set(scope, [...(docker.get(scope) ?? []), ...requirements(policies)]);
    if (belongsInAtomic(scope))
      atomic.set(scope, [...(atomic.get(scope) ?? []), ...requirements(policies)]);
  }
  return marshalPolicy(policy);
}

const LETTER_RE = /^\p{L}$/u;
const DIGIT_RE = /^\p{Nd}$/u;

/**
 * How go-yaml v2 orders map keys (gopkg.in/yaml.v2 sorter.go keyList.Less, strings only), which
 * is the order of the MCO's registries.d file (ghodss/yaml marshals through it): rune by rune,
 * letters after non-letters, runs of digits compared as numbers.
 */
export function compareYamlV2Keys(a: string, b: string): number {
  const less = (x: string, y: string): boolean => {
    // Go's []rune(s): code points.
    const ar = Array.from(x);
    const br = Array.from(y);
    for (let i = 0; i < ar.length && i < br.length; i++) {
      const ac = ar[i] as string;
      const bc = br[i] as string;
      if (ac === bc) continue;
      const al = LETTER_RE.test(ac);
      const bl = LETTER_RE.test(bc);
      if (al && bl) return (ac.codePointAt(0) ?? 0) < (bc.codePointAt(0) ?? 0);
      if (al || bl) return bl;
      const digit = (c: string | undefined): boolean => c !== undefined && DIGIT_RE.test(c);
      const value = (c: string): number => (c.codePointAt(0) ?? 0) - 0x30;
      let an = 0;
      let bn = 0;
      if (ac === '0' || bc === '0') {
        for (let j = i - 1; j >= 0 && digit(ar[j]); j--) {
          if (ar[j] !== '0') {
            an = 1;
            bn = 1;
            break;
          }
        }
      }
      let ai = i;
      for (; ai < ar.length && digit(ar[ai]); ai++) an = an * 10 + value(ar[ai] as string);
      let bi = i;
      for (; bi < br.length && digit(br[bi]); bi++) bn = bn * 10 + value(br[bi] as string);
      if (an !== bn) return an < bn;
      if (ai !== bi) return ai < bi;
      return (ac.codePointAt(0) ?? 0) < (bc.codePointAt(0) ?? 0);
    }
    return ar.length < br.length;
  };
  return less(a, b) ? -1 : less(b, a) ? 1 : 0;
}

/** Characters of image scopes and mirror endpoints (the CRDs' and mirrors' grammars). */
const YAML_KEY_CHARSET_RE = /^[A-Za-z0-9._:/@*+-]+$/;
/** gopkg.in/yaml.v2 resolve.go yamlStyleFloat: read back as a float when unquoted. */
const YAML_STYLE_FLOAT_RE = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
/** go-yaml v2's emitter (libyaml) writes a key longer than this as `? key` / `: value`. */
const YAML_V2_MAX_SIMPLE_KEY_BYTES = 128;

/**
 * One registries.d key as go-yaml v2 writes it, for the scope and mirror grammars only: a key
 * that would read back as a number is double-quoted (encode.go stringv), one starting with an
 * indicator (`*` of a wildcard) single-quoted (the emitter's plain-scalar rules), any other plain.
 */
function yamlV2Key(key: string): string {
  if (!YAML_KEY_CHARSET_RE.test(key))
    throw new Error(
      `unreachable: registries.d key outside the scope grammar: ${JSON.stringify(key)}`,
    );
  const plain = key.replaceAll('_', '');
  if (YAML_STYLE_FLOAT_RE.test(plain) || /^[0-9]+$/.test(plain)) return `"${key}"`;
  if (/^[-?:*@]/.test(key)) return `'${key}'`;
  return key;
}

/**
 * `/etc/containers/registries.d/sigstore-registries.yaml` as the MCO writes it (helpers.go
 * generateSigstoreRegistriesdConfig, marshalled by ghodss/yaml through go-yaml v2):
 * `docker: <scope>: use-sigstore-attachments: true` for every ClusterImagePolicy scope and every
 * ImagePolicy scope in effect (all namespaces: the file is per node) and, with mirror rules
 * (ImageDigestMirrorSets / ImageContentSourcePolicies), the mirror endpoints images of those
 * scopes are read from; keys in go-yaml v2 order. Empty when there is no scope: the MCO writes
 * no file.
 */
export function renderRegistriesD(
  scopes: Iterable<string>,
  mirrors: readonly MirrorRule[] = [],
): string {
  const keys = new Set<string>();
  for (const scope of scopes) {
    keys.add(scope);
    for (const endpoint of scopeMirrorEndpoints(mirrors, scope)) keys.add(endpoint);
  }
  if (keys.size === 0) return '';
  let out = 'docker:\n';
  for (const key of [...keys].sort(compareYamlV2Keys)) {
    const text = yamlV2Key(key);
    out +=
      Buffer.byteLength(key, 'utf8') > YAML_V2_MAX_SIMPLE_KEY_BYTES
        ? `  ? ${text}\n  : use-sigstore-attachments: true\n`
        : `  ${text}:\n    use-sigstore-attachments: true\n`;
  }
  return out;
}

/** Input of `renderPolicies`: a file's name (used in messages) and its text. */
export interface PolicyFile {
  readonly name: string;
  readonly text: string;
}

export interface RenderedPolicies {
  /**
   * What CRI-O checks the pods of `namespace` against: `/etc/crio/policies/<namespace>.json`
   * when the MCO writes one, else `/etc/containers/policy.json` (which this is without a
   * namespace). Byte for byte; empty when `errors` is non-empty.
   */
  readonly policyJson: string;
  /** `/etc/containers/policy.json`; empty when `errors` is non-empty. */
  readonly clusterPolicyJson: string;
  /** `/etc/crio/policies/<ns>.json` of every namespace with ImagePolicy scopes in effect. */
  readonly namespacePolicyJsons: ReadonlyMap<string, string>;
  /** The registries.d file; empty when `errors` is non-empty or the MCO writes none. */
  readonly registriesD: string;
  readonly conflicts: readonly ScopeConflict[];
  readonly errors: readonly PolicyError[];
  /** Every valid object read, in input order. */
  readonly policies: readonly PolicyObject[];
}

/** What the MCO writes for valid policies: renderPolicies without parsing. Pure. */
export function renderValidPolicies(
  policies: readonly PolicyObject[],
  namespace?: string,
  mirrors: readonly MirrorRule[] = [],
): Omit<RenderedPolicies, 'errors' | 'policies'> {
  const split = scopePolicies(policies, namespace);
  const clusterPolicyJson = renderPolicyJson(split.cluster);
  const namespaces = new Set<string>();
  for (const byNamespace of split.namespaced.values())
    for (const ns of byNamespace.keys()) namespaces.add(ns);
  const namespacePolicyJsons = new Map<string, string>();
  for (const ns of [...namespaces].sort(compareBytes)) {
    const json = renderNamespacePolicyJson(split.cluster, split.namespaced, ns);
    if (json !== undefined) namespacePolicyJsons.set(ns, json);
  }
  return {
    policyJson:
      (namespace === undefined ? undefined : namespacePolicyJsons.get(namespace)) ??
      clusterPolicyJson,
    clusterPolicyJson,
    namespacePolicyJsons,
    registriesD: renderRegistriesD([...split.cluster.keys(), ...split.namespaced.keys()], mirrors),
    conflicts: split.conflicts,
  };
}

function objectKey(p: PolicyObject, namespace: string | undefined): string {
  return p.kind === 'ClusterImagePolicy'
    ? `ClusterImagePolicy ${p.name}`
    : `ImagePolicy ${p.namespace ?? namespace ?? ''}/${p.name}`;
}

/**
 * Parses, validates and renders ClusterImagePolicy / ImagePolicy files (v1 or v1alpha1) the way
 * the Machine Config Operator writes them: `policy.json` (the cluster's, or with `namespace` the
 * one CRI-O uses for that namespace's pods) and the registries.d file. ImagePolicy scopes equal
 * to or nested in a ClusterImagePolicy scope are dropped and returned as `conflicts`, one per
 * ImagePolicy with the condition the MCO writes. An ImagePolicy without `metadata.namespace`
 * counts as being in `namespace`. Pure: no I/O.
 */
export function renderPolicies(
  files: readonly PolicyFile[],
  namespace?: string,
  mirrors: readonly MirrorRule[] = [],
): RenderedPolicies {
  const policies: PolicyObject[] = [];
  const errors: PolicyError[] = [];
  const seen = new Map<string, string>();
  for (const file of files) {
    const parsed = parsePolicyText(file.text, file.name);
    errors.push(...parsed.errors);
    for (const p of parsed.objects) {
      const key = objectKey(p, namespace);
      const first = seen.get(key);
      if (first !== undefined) {
        errors.push(
          new PolicyError('DUPLICATE_OBJECT', p.source, [
            {
              path: 'metadata.name',
              message: `Duplicate value: ${key} is also defined in ${first}`,
            },
          ]),
        );
        continue;
      }
      seen.set(key, p.source);
      policies.push(p);
    }
  }
  if (errors.length > 0)
    return {
      policyJson: '',
      clusterPolicyJson: '',
      namespacePolicyJsons: new Map(),
      registriesD: '',
      conflicts: scopePolicies(policies, namespace).conflicts,
      errors,
      policies,
    };
  return { ...renderValidPolicies(policies, namespace, mirrors), errors, policies };
}
