import { checkCertificatesPem, checkPublicKeyPem, decodeBase64Field } from './pem.js';
import { PolicyError } from './policy-error.js';
import type { PolicyIssue } from './policy-error.js';
import type {
  ImagePolicySpec,
  MatchPolicy,
  PolicyApiVersion,
  PolicyKind,
  PolicyObject,
  PolicyType,
  RootOfTrust,
  SignedIdentity,
} from './types.js';

/**
 * The versions the API server serves these kinds in, newest first: `v1` (openshift/api
 * config/v1, the payload's CRDs since the hard cut to v1 in openshift/api d1ee05174e) and
 * `v1alpha1` (config/v1alpha1, served by TechPreviewNoUpgrade clusters before that cut and the
 * version the OpenShift documentation shows). Any other apiVersion is refused.
 */
export const POLICY_API_VERSIONS = [
  'config.openshift.io/v1',
  'config.openshift.io/v1alpha1',
] as const satisfies readonly PolicyApiVersion[];

// Limits the two schemas share (openshift/api config/v1 and config/v1alpha1).
const MAX_SCOPES = 256;
const MAX_SCOPE_LENGTH = 512;
const MAX_KEY_DATA_LENGTH = 8192;
const MAX_EMAIL_LENGTH = 320;
const MAX_HOSTNAME_LENGTH = 253;
const MAX_REPOSITORY_LENGTH = 512;
// Kubernetes object names (DNS-1123 subdomain) and namespaces (DNS-1123 label).
const MAX_NAME_LENGTH = 253;
const MAX_NAMESPACE_LENGTH = 63;

const DNS1123_LABEL = '[a-z0-9](?:[-a-z0-9]*[a-z0-9])?';
const DNS1123_SUBDOMAIN_RE = new RegExp(`^${DNS1123_LABEL}(?:\\.${DNS1123_LABEL})*$`);
const DNS1123_LABEL_RE = new RegExp(`^${DNS1123_LABEL}$`);

// The CRD's CEL regular expressions, transcribed from RE2 (`[[:xdigit:]]` → `[0-9A-Fa-f]`).
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})+(?::[0-9]+)?)|(?:localhost(?::[0-9]+)?)`;
const PATH = '(?:(?:/[a-z0-9]+(?:(?:(?:[._]|__|[-]*)[a-z0-9]+)+)?)+)?';
const WILDCARD_SCOPE_RE = new RegExp(`^\\*(?:\\.${DOMAIN_COMPONENT})+$`);
const SCOPE_RE = new RegExp(
  `^(?:(?:${DOMAIN})${PATH})(?::(?:[\\w][\\w.-]{0,127}))?` +
    `(?:@(?:[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9A-Fa-f]{32,}))?$`,
);
const REPOSITORY_RE = new RegExp(`^(?:${DOMAIN})${PATH}$`);
const ENDS_WITH_TAG_RE = /:[\w][\w.-]{0,127}$/;
const LOCALHOST_PORT_RE = /^localhost:[0-9]+$/;
// CEL `matches` is RE2, whose \S is [^\t\n\f\r ] (ASCII only; JavaScript's \S also excludes
// \v and Unicode spaces, which the API server accepts).
const EMAIL_RE = /^[^\t\n\f\r ]+@[^\t\n\f\r ]+$/;

const POLICY_TYPES: readonly PolicyType[] = ['PublicKey', 'FulcioCAWithRekor', 'PKI'];
const MATCH_POLICIES: readonly MatchPolicy[] = [
  'MatchRepoDigestOrExact',
  'MatchRepository',
  'ExactRepository',
  'RemapIdentity',
];

const SCOPE_DOMAIN_MESSAGE =
  "invalid image scope format, scope must contain a fully qualified domain name or 'localhost'";
const SCOPE_WILDCARD_MESSAGE =
  'invalid image scope with wildcard, a wildcard can only be at the start of the domain and is only supported for subdomain matching, not path matching';
const SCOPE_SYNTAX_MESSAGE =
  'invalid repository namespace or image specification in the image scope';
const REPOSITORY_TAG_MESSAGE =
  'invalid repository or prefix in the signedIdentity, should not include the tag or digest';

/**
 * What differs between the v1 and v1alpha1 schemas (compare the CRDs: openshift/api
 * config/v1/zz_generated.crd-manifests/0000_10_config-operator_01_clusterimagepolicies.crd.yaml
 * with config/v1alpha1's copy as of 85c1377d1^, the last commit that had it; the TechPreview
 * payload CRD shipped before the cut is the same schema). Field names, required fields, enums,
 * the scope, repository, union and PKI rules, and every other length are the same in both.
 */
interface SchemaRules {
  /**
   * `publicKey.keyData`, both `rekorKeyData` and `fulcioCAData` carry CEL rules on their first
   * and last PEM markers (v1 only; v1alpha1 has them on the PKI fields alone).
   */
  readonly keyMarkerRules: boolean;
  /** `publicKey.keyData` minLength (v1: 68). */
  readonly minKeyDataLength: number | undefined;
  /** `pki.caRootsData` / `pki.caIntermediatesData` minLength (v1: 72). */
  readonly minCaDataLength: number | undefined;
  /** `fulcioSubject.oidcIssuer` maxLength (v1: 2048). */
  readonly maxOidcIssuerLength: number | undefined;
  /** `fulcioSubject.signedEmail` maxLength (v1: 320). */
  readonly maxSignedEmailLength: number | undefined;
  /** `status.conditions` maxItems (v1: 8). */
  readonly maxConditions: number | undefined;
  /** CEL message of `pkiCertificateSubject.email`. */
  readonly pkiEmailMessage: string;
  /** CEL message of `pkiCertificateSubject.hostname`. */
  readonly hostnameMessage: string;
  /** CEL message of the signedIdentity repository / prefix syntax rule. */
  readonly repositorySyntaxMessage: string;
}

const SCHEMA_RULES: Readonly<Record<PolicyApiVersion, SchemaRules>> = {
  'config.openshift.io/v1': {
    keyMarkerRules: true,
    minKeyDataLength: 68,
    minCaDataLength: 72,
    maxOidcIssuerLength: 2048,
    maxSignedEmailLength: MAX_EMAIL_LENGTH,
    maxConditions: 8,
    pkiEmailMessage: 'invalid email address',
    hostnameMessage:
      "hostname must be a valid dns 1123 subdomain name, optionally prefixed by '*.'. It must consist only of lowercase alphanumeric characters, hyphens, periods and the optional preceding asterisk.",
    repositorySyntaxMessage:
      "invalid repository or prefix in the signedIdentity. The repository or prefix must starts with 'localhost' or a valid '.' separated domain. If contains registry paths, the path component names must start with at least one letter or number, with following parts able to be separated by one period, one or two underscore and multiple dashes.",
  },
  'config.openshift.io/v1alpha1': {
    keyMarkerRules: false,
    minKeyDataLength: undefined,
    minCaDataLength: undefined,
    maxOidcIssuerLength: undefined,
    maxSignedEmailLength: undefined,
    maxConditions: undefined,
    pkiEmailMessage: 'invalid email address in pkiCertificateSubject',
    hostnameMessage:
      "hostname should be a valid dns 1123 subdomain name, optionally prefixed by '*.'. It should consist only of lowercase alphanumeric characters, hyphens, periods and the optional preceding asterisk.",
    repositorySyntaxMessage: 'invalid repository or prefix in the signedIdentity',
  },
};

type Obj = Readonly<Record<string, unknown>>;

function isRecord(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Collects every failure, like the API server, instead of stopping at the first. */
class Checker {
  readonly issues: PolicyIssue[] = [];

  readonly version: PolicyApiVersion;
  readonly rules: SchemaRules;

  /** `version`: the schema the object is checked against. */
  constructor(version: PolicyApiVersion) {
    this.version = version;
    this.rules = SCHEMA_RULES[version];
  }

  fail(path: string, message: string): void {
    this.issues.push({ path, message });
  }

  /** An object with only `allowed` keys (structural schema: unknown fields are errors). */
  object(value: unknown, path: string, allowed: readonly string[]): Obj | undefined {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.fail(path, `Invalid value: must be an object`);
      return undefined;
    }
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) this.fail(join(path, key), 'unknown field');
    }
    return value as Obj;
  }

  required(obj: Obj, path: string, key: string): unknown {
    const value = obj[key];
    if (value === undefined || value === null) this.fail(join(path, key), 'Required value');
    return value ?? undefined;
  }

  string(
    value: unknown,
    path: string,
    limits: { readonly min?: number; readonly max?: number } = {},
  ): string | undefined {
    if (typeof value !== 'string') {
      this.fail(path, 'Invalid value: must be a string');
      return undefined;
    }
    let ok = true;
    if (limits.max !== undefined && value.length > limits.max) {
      this.fail(path, `Too long: may not be longer than ${limits.max}`);
      ok = false;
    }
    if (limits.min !== undefined && value.length < limits.min) {
      this.fail(path, `Invalid value: should be at least ${limits.min} chars long`);
      ok = false;
    }
    return ok ? value : undefined;
  }

  oneOf<T extends string>(value: unknown, path: string, allowed: readonly T[]): T | undefined {
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      this.fail(
        path,
        `Unsupported value: ${JSON.stringify(value)}: supported values: ${allowed.map((a) => JSON.stringify(a)).join(', ')}`,
      );
      return undefined;
    }
    return value as T;
  }
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** The CRD's CEL rules for one image scope; undefined when valid. */
export function checkScope(scope: string): string | undefined {
  const host = scope.split('/')[0] ?? '';
  const labels = host.split('.');
  if (labels.length === 1 && (labels[0] ?? '').split(':')[0] !== 'localhost')
    return SCOPE_DOMAIN_MESSAGE;
  if (scope.includes('*'))
    return WILDCARD_SCOPE_RE.test(scope) ? undefined : SCOPE_WILDCARD_MESSAGE;
  return SCOPE_RE.test(scope) ? undefined : SCOPE_SYNTAX_MESSAGE;
}

/**
 * The CRD's CEL rules for signedIdentity repositories and prefixes; undefined when valid. The
 * rules are the same in both versions, the syntax rule's message is not.
 */
export function checkRepository(
  value: string,
  apiVersion: PolicyApiVersion = 'config.openshift.io/v1',
): string | undefined {
  if (ENDS_WITH_TAG_RE.test(value) && !LOCALHOST_PORT_RE.test(value)) return REPOSITORY_TAG_MESSAGE;
  return REPOSITORY_RE.test(value) ? undefined : SCHEMA_RULES[apiVersion].repositorySyntaxMessage;
}

/**
 * k8s CEL `isURL` is Go's url.ParseRequestURI: an absolute URI or an absolute path, no control
 * characters or spaces. This is an approximation of that parser.
 */
function isUrl(value: string): boolean {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0020\u007f]/.test(value)) return false;
  if (value.startsWith('/')) return true;
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:(.*)$/s.exec(value);
  if (m === null) return false;
  const rest = m[1] ?? '';
  // `scheme:opaque` parses as an opaque URI in Go.
  if (!rest.startsWith('//')) return true;
  const authority = (rest.slice(2).split(/[/?#]/)[0] ?? '').replace(/^[^@]*@/, '');
  return /^(?:\[[0-9A-Fa-f:.]+\]|[^:[\]]*)(?::[0-9]*)?$/.test(authority);
}

/**
 * format: byte plus, where the schema has them, the CEL start/end (and marker count) rules, then
 * (stricter, in both versions) the decoded PEM's kind: only PEM blocks of that kind.
 */
function checkPemField(
  c: Checker,
  value: unknown,
  path: string,
  kind: 'PUBLIC KEY' | 'CERTIFICATE',
  limits: { readonly min?: number | undefined; readonly max: number },
  markers: 'none' | 'start-end' | 'start-end-count',
): string | undefined {
  const text = c.string(value, path, limits);
  if (text === undefined) return undefined;
  const bytes = decodeBase64Field(text);
  if (bytes === undefined) {
    c.fail(path, 'Invalid value: must be base64-encoded (format: byte)');
    return undefined;
  }
  const field = path.slice(path.lastIndexOf('.') + 1);
  const pem = bytes.toString('latin1');
  const begin = `-----BEGIN ${kind}-----`;
  const end = `-----END ${kind}-----`;
  let ok = true;
  if (markers !== 'none' && !pem.startsWith(begin)) {
    c.fail(path, `Invalid value: the ${field} must start with base64 encoding of '${begin}'.`);
    ok = false;
  }
  if (markers !== 'none' && !pem.endsWith(`${end}\n`) && !pem.endsWith(end)) {
    c.fail(path, `Invalid value: the ${field} must end with base64 encoding of '${end}'.`);
    ok = false;
  }
  if (markers === 'start-end-count' && pem.split(begin).length !== pem.split(end).length) {
    c.fail(
      path,
      `Invalid value: ${field} must be base64 encoding of valid PEM format data contain the same number of '${begin}' and '${end}' markers.`,
    );
    ok = false;
  }
  if (!ok) return undefined;
  const reason = kind === 'PUBLIC KEY' ? checkPublicKeyPem(pem) : checkCertificatesPem(pem);
  if (reason !== undefined) {
    c.fail(path, `Invalid value: ${reason}`);
    return undefined;
  }
  return text;
}

function checkEmail(
  c: Checker,
  value: unknown,
  path: string,
  max: number | undefined,
  message: string,
): string | undefined {
  const text = c.string(value, path, max === undefined ? {} : { max });
  if (text === undefined) return undefined;
  if (!EMAIL_RE.test(text)) {
    c.fail(path, `Invalid value: ${message}`);
    return undefined;
  }
  return text;
}

function checkRootOfTrust(c: Checker, value: unknown, path: string): RootOfTrust | undefined {
  const obj = c.object(value, path, ['policyType', 'publicKey', 'fulcioCAWithRekor', 'pki']);
  if (obj === undefined) return undefined;
  const policyType = obj.policyType;
  if (policyType === undefined || policyType === null)
    c.fail(join(path, 'policyType'), 'Required value');
  else c.oneOf(policyType, join(path, 'policyType'), POLICY_TYPES);
  // The three union rules of the CRD, each reported on the rootOfTrust object.
  const members = [
    ['pki', 'PKI'],
    ['publicKey', 'PublicKey'],
    ['fulcioCAWithRekor', 'FulcioCAWithRekor'],
  ] as const;
  let unionOk = true;
  for (const [member, type] of members) {
    if ((policyType === type) !== (obj[member] !== undefined)) {
      c.fail(
        path,
        `Invalid value: "object": ${member} is required when policyType is ${type}, and forbidden otherwise`,
      );
      unionOk = false;
    }
  }

  const keyMarkers = c.rules.keyMarkerRules ? 'start-end' : 'none';
  let result: RootOfTrust | undefined;
  if (obj.publicKey !== undefined) {
    const p = join(path, 'publicKey');
    const pk = c.object(obj.publicKey, p, ['keyData', 'rekorKeyData']);
    if (pk !== undefined) {
      const keyData = checkPemField(
        c,
        c.required(pk, p, 'keyData'),
        join(p, 'keyData'),
        'PUBLIC KEY',
        { min: c.rules.minKeyDataLength, max: MAX_KEY_DATA_LENGTH },
        keyMarkers,
      );
      const rekorKeyData =
        pk.rekorKeyData === undefined
          ? undefined
          : checkPemField(
              c,
              pk.rekorKeyData,
              join(p, 'rekorKeyData'),
              'PUBLIC KEY',
              { max: MAX_KEY_DATA_LENGTH },
              keyMarkers,
            );
      if (keyData !== undefined && (pk.rekorKeyData === undefined || rekorKeyData !== undefined))
        result = {
          policyType: 'PublicKey',
          publicKey: { keyData, ...(rekorKeyData !== undefined ? { rekorKeyData } : {}) },
        };
    }
  }
  if (obj.fulcioCAWithRekor !== undefined) {
    const p = join(path, 'fulcioCAWithRekor');
    const f = c.object(obj.fulcioCAWithRekor, p, ['fulcioCAData', 'rekorKeyData', 'fulcioSubject']);
    if (f !== undefined) {
      const fulcioCAData = checkPemField(
        c,
        c.required(f, p, 'fulcioCAData'),
        join(p, 'fulcioCAData'),
        'CERTIFICATE',
        { max: MAX_KEY_DATA_LENGTH },
        keyMarkers,
      );
      const rekorKeyData = checkPemField(
        c,
        c.required(f, p, 'rekorKeyData'),
        join(p, 'rekorKeyData'),
        'PUBLIC KEY',
        { max: MAX_KEY_DATA_LENGTH },
        keyMarkers,
      );
      const sp = join(p, 'fulcioSubject');
      const subjectValue = c.required(f, p, 'fulcioSubject');
      const subject =
        subjectValue === undefined
          ? undefined
          : c.object(subjectValue, sp, ['oidcIssuer', 'signedEmail']);
      let oidcIssuer: string | undefined;
      let signedEmail: string | undefined;
      if (subject !== undefined) {
        const issuerValue = c.required(subject, sp, 'oidcIssuer');
        if (issuerValue !== undefined) {
          const max = c.rules.maxOidcIssuerLength;
          oidcIssuer = c.string(
            issuerValue,
            join(sp, 'oidcIssuer'),
            max === undefined ? {} : { max },
          );
          if (oidcIssuer !== undefined && !isUrl(oidcIssuer)) {
            c.fail(join(sp, 'oidcIssuer'), 'Invalid value: oidcIssuer must be a valid URL');
            oidcIssuer = undefined;
          }
        }
        const emailValue = c.required(subject, sp, 'signedEmail');
        if (emailValue !== undefined)
          signedEmail = checkEmail(
            c,
            emailValue,
            join(sp, 'signedEmail'),
            c.rules.maxSignedEmailLength,
            'invalid email address',
          );
      }
      if (
        fulcioCAData !== undefined &&
        rekorKeyData !== undefined &&
        oidcIssuer !== undefined &&
        signedEmail !== undefined
      )
        result = {
          policyType: 'FulcioCAWithRekor',
          fulcioCAWithRekor: {
            fulcioCAData,
            rekorKeyData,
            fulcioSubject: { oidcIssuer, signedEmail },
          },
        };
    }
  }
  if (obj.pki !== undefined) {
    const p = join(path, 'pki');
    const k = c.object(obj.pki, p, ['caRootsData', 'caIntermediatesData', 'pkiCertificateSubject']);
    if (k !== undefined) {
      const caLimits = { min: c.rules.minCaDataLength, max: MAX_KEY_DATA_LENGTH };
      const caRootsData = checkPemField(
        c,
        c.required(k, p, 'caRootsData'),
        join(p, 'caRootsData'),
        'CERTIFICATE',
        caLimits,
        'start-end-count',
      );
      const caIntermediatesData =
        k.caIntermediatesData === undefined
          ? undefined
          : checkPemField(
              c,
              k.caIntermediatesData,
              join(p, 'caIntermediatesData'),
              'CERTIFICATE',
              caLimits,
              'start-end-count',
            );
      const sp = join(p, 'pkiCertificateSubject');
      const subjectValue = c.required(k, p, 'pkiCertificateSubject');
      const subject =
        subjectValue === undefined ? undefined : c.object(subjectValue, sp, ['email', 'hostname']);
      let email: string | undefined;
      let hostname: string | undefined;
      let subjectOk = subject !== undefined;
      if (subject !== undefined) {
        if (subject.email === undefined && subject.hostname === undefined) {
          c.fail(
            sp,
            'Invalid value: "object": at least one of email or hostname must be set in pkiCertificateSubject',
          );
          subjectOk = false;
        }
        if (subject.email !== undefined) {
          email = checkEmail(
            c,
            subject.email,
            join(sp, 'email'),
            MAX_EMAIL_LENGTH,
            c.rules.pkiEmailMessage,
          );
          subjectOk &&= email !== undefined;
        }
        if (subject.hostname !== undefined) {
          hostname = c.string(subject.hostname, join(sp, 'hostname'), { max: MAX_HOSTNAME_LENGTH });
          const bare = hostname?.startsWith('*.') === true ? hostname.slice(2) : hostname;
          if (
            bare !== undefined &&
            (bare.length > MAX_NAME_LENGTH || !DNS1123_SUBDOMAIN_RE.test(bare))
          ) {
            c.fail(join(sp, 'hostname'), `Invalid value: ${c.rules.hostnameMessage}`);
            hostname = undefined;
          }
          subjectOk &&= hostname !== undefined;
        }
      }
      if (
        caRootsData !== undefined &&
        (k.caIntermediatesData === undefined || caIntermediatesData !== undefined) &&
        subjectOk
      )
        result = {
          policyType: 'PKI',
          pki: {
            caRootsData,
            ...(caIntermediatesData !== undefined ? { caIntermediatesData } : {}),
            pkiCertificateSubject: {
              ...(email !== undefined ? { email } : {}),
              ...(hostname !== undefined ? { hostname } : {}),
            },
          },
        };
    }
  }
  return unionOk ? result : undefined;
}

function checkRepositoryField(c: Checker, value: unknown, path: string): string | undefined {
  const text = c.string(value, path, { max: MAX_REPOSITORY_LENGTH });
  if (text === undefined) return undefined;
  const reason = checkRepository(text, c.version);
  if (reason !== undefined) {
    c.fail(path, `Invalid value: ${reason}`);
    return undefined;
  }
  return text;
}

function checkSignedIdentity(c: Checker, value: unknown, path: string): SignedIdentity | undefined {
  const obj = c.object(value, path, ['matchPolicy', 'exactRepository', 'remapIdentity']);
  if (obj === undefined) return undefined;
  const raw = c.required(obj, path, 'matchPolicy');
  const matchPolicy =
    raw === undefined ? undefined : c.oneOf(raw, join(path, 'matchPolicy'), MATCH_POLICIES);
  let ok = matchPolicy !== undefined;
  for (const [member, type] of [
    ['exactRepository', 'ExactRepository'],
    ['remapIdentity', 'RemapIdentity'],
  ] as const) {
    if ((raw === type) !== (obj[member] !== undefined)) {
      c.fail(
        path,
        `Invalid value: "object": ${member} is required when matchPolicy is ${type}, and forbidden otherwise`,
      );
      ok = false;
    }
  }
  let repository: string | undefined;
  if (obj.exactRepository !== undefined) {
    const p = join(path, 'exactRepository');
    const e = c.object(obj.exactRepository, p, ['repository']);
    const r = e === undefined ? undefined : c.required(e, p, 'repository');
    repository = r === undefined ? undefined : checkRepositoryField(c, r, join(p, 'repository'));
    ok &&= repository !== undefined;
  }
  let prefix: string | undefined;
  let signedPrefix: string | undefined;
  if (obj.remapIdentity !== undefined) {
    const p = join(path, 'remapIdentity');
    const m = c.object(obj.remapIdentity, p, ['prefix', 'signedPrefix']);
    if (m !== undefined) {
      const pv = c.required(m, p, 'prefix');
      const sv = c.required(m, p, 'signedPrefix');
      prefix = pv === undefined ? undefined : checkRepositoryField(c, pv, join(p, 'prefix'));
      signedPrefix =
        sv === undefined ? undefined : checkRepositoryField(c, sv, join(p, 'signedPrefix'));
    }
    ok &&= prefix !== undefined && signedPrefix !== undefined;
  }
  if (!ok || matchPolicy === undefined) return undefined;
  switch (matchPolicy) {
    case 'MatchRepoDigestOrExact':
    case 'MatchRepository':
      return { matchPolicy };
    case 'ExactRepository':
      return repository === undefined
        ? undefined
        : { matchPolicy, exactRepository: { repository } };
    case 'RemapIdentity':
      return prefix === undefined || signedPrefix === undefined
        ? undefined
        : { matchPolicy, remapIdentity: { prefix, signedPrefix } };
  }
}

function checkScopes(c: Checker, value: unknown, path: string): string[] | undefined {
  if (!Array.isArray(value)) {
    c.fail(path, 'Invalid value: must be an array');
    return undefined;
  }
  if (value.length > MAX_SCOPES) {
    // Checked before the items so a huge (or alias-inflated) list is never walked.
    c.fail(path, `Too many: ${value.length}: must have at most ${MAX_SCOPES} items`);
    return undefined;
  }
  const scopes: string[] = [];
  let ok = true;
  const seen = new Set<string>();
  for (const [i, item] of (value as unknown[]).entries()) {
    const p = `${path}[${i}]`;
    const scope = c.string(item, p, { max: MAX_SCOPE_LENGTH });
    if (scope === undefined) {
      ok = false;
      continue;
    }
    const reason = checkScope(scope);
    if (reason !== undefined) {
      c.fail(p, `Invalid value: ${JSON.stringify(scope)}: ${reason}`);
      ok = false;
    }
    if (seen.has(scope)) {
      c.fail(p, `Duplicate value: ${JSON.stringify(scope)}`);
      ok = false;
    }
    seen.add(scope);
    scopes.push(scope);
  }
  return ok ? scopes : undefined;
}

function checkSpec(c: Checker, value: unknown, path: string): ImagePolicySpec | undefined {
  const spec = c.object(value, path, ['scopes', 'policy']);
  if (spec === undefined) return undefined;
  const scopesValue = c.required(spec, path, 'scopes');
  const scopes =
    scopesValue === undefined ? undefined : checkScopes(c, scopesValue, join(path, 'scopes'));
  const policyValue = c.required(spec, path, 'policy');
  if (policyValue === undefined) return undefined;
  const pp = join(path, 'policy');
  const policy = c.object(policyValue, pp, ['rootOfTrust', 'signedIdentity']);
  if (policy === undefined) return undefined;
  const rootValue = c.required(policy, pp, 'rootOfTrust');
  const rootOfTrust =
    rootValue === undefined ? undefined : checkRootOfTrust(c, rootValue, join(pp, 'rootOfTrust'));
  const signedIdentity =
    policy.signedIdentity === undefined
      ? undefined
      : checkSignedIdentity(c, policy.signedIdentity, join(pp, 'signedIdentity'));
  if (scopes === undefined || rootOfTrust === undefined) return undefined;
  if (policy.signedIdentity !== undefined && signedIdentity === undefined) return undefined;
  return {
    scopes,
    policy: { rootOfTrust, ...(signedIdentity !== undefined ? { signedIdentity } : {}) },
  };
}

function checkStatus(c: Checker, value: unknown): void {
  // Status is written by the cluster; we only check its shape, never act on it.
  const status = c.object(value, 'status', ['conditions']);
  if (status?.conditions === undefined) return;
  const max = c.rules.maxConditions;
  if (!Array.isArray(status.conditions))
    c.fail('status.conditions', 'Invalid value: must be an array');
  else if (max !== undefined && status.conditions.length > max)
    c.fail('status.conditions', `Too many: must have at most ${max} items`);
}

/**
 * Validates one decoded object as the API server would for a ClusterImagePolicy or ImagePolicy
 * (structural schema, lengths, CEL rules) plus stricter checks of the decoded PEM data.
 * Throws a PolicyError (`INVALID_POLICY`) listing every failing field.
 */
export function validatePolicyObject(value: unknown, source: string): PolicyObject {
  const apiVersion = isRecord(value) ? value.apiVersion : undefined;
  const version = POLICY_API_VERSIONS.find((v) => v === apiVersion);
  // An unknown apiVersion is refused below; the rest of the object is still checked (as v1, the
  // stricter schema) so every problem is reported at once.
  const c = new Checker(version ?? 'config.openshift.io/v1');
  const obj = c.object(value, '', ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  if (obj === undefined) throw new PolicyError('INVALID_POLICY', source, c.issues);
  const kind = obj.kind;
  if (kind !== 'ClusterImagePolicy' && kind !== 'ImagePolicy') {
    throw new PolicyError('UNSUPPORTED_KIND', source, [
      {
        path: 'kind',
        message: `Unsupported value: ${JSON.stringify(kind)}: supported values: "ClusterImagePolicy", "ImagePolicy"`,
      },
    ]);
  }
  if (version === undefined)
    c.fail(
      'apiVersion',
      `Unsupported value: ${JSON.stringify(obj.apiVersion)}: supported values: ${POLICY_API_VERSIONS.map((v) => JSON.stringify(v)).join(', ')}`,
    );
  let name: string | undefined;
  let namespace: string | undefined;
  const metadataValue = c.required(obj, '', 'metadata');
  if (metadataValue !== undefined) {
    const metadata = c.object(metadataValue, 'metadata', Object.keys(metadataValue as object));
    if (metadata !== undefined) {
      const nameValue = c.required(metadata, 'metadata', 'name');
      if (nameValue !== undefined) {
        name = c.string(nameValue, 'metadata.name', { max: MAX_NAME_LENGTH });
        if (name !== undefined && !DNS1123_SUBDOMAIN_RE.test(name)) {
          c.fail(
            'metadata.name',
            "Invalid value: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'",
          );
          name = undefined;
        }
      }
      if (metadata.namespace !== undefined && kind === 'ImagePolicy') {
        namespace = c.string(metadata.namespace, 'metadata.namespace', {
          max: MAX_NAMESPACE_LENGTH,
        });
        if (namespace !== undefined && !DNS1123_LABEL_RE.test(namespace)) {
          c.fail(
            'metadata.namespace',
            "Invalid value: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'",
          );
          namespace = undefined;
        }
      }
    }
  }
  const specValue = c.required(obj, '', 'spec');
  const spec = specValue === undefined ? undefined : checkSpec(c, specValue, 'spec');
  if (obj.status !== undefined) checkStatus(c, obj.status);
  if (c.issues.length > 0 || version === undefined || name === undefined || spec === undefined)
    throw new PolicyError('INVALID_POLICY', source, c.issues);
  const policyKind: PolicyKind = kind;
  return {
    apiVersion: version,
    kind: policyKind,
    name,
    ...(namespace !== undefined ? { namespace } : {}),
    spec,
    source,
  };
}
