import type { ClusterVersion, Update } from '../kube/types.js';
import { goUrlParseFails, goUuid } from '../image/go-parse.js';

/** The release an admin asked for, resolved from spec.desiredUpdate. */
export type TargetResolution =
  /**
   * No target: spec.desiredUpdate is unset, or it is valid but names a version no available
   * update offers (the CVO then keeps its current release and says nothing, cvo.go:838-857).
   */
  | { readonly kind: 'none'; readonly invalid?: string }
  | {
      readonly kind: 'target';
      readonly image: string;
      readonly version: string;
      readonly force: boolean;
      /**
       * The Invalid=True message when another spec field (spec.upstream, spec.clusterID) is
       * invalid: the CVO clears that field alone and still processes the update.
       */
      readonly invalid?: string;
    }
  /** The CVO's Invalid=True message; the CVO clears spec.desiredUpdate and updates to nothing. */
  | { readonly kind: 'invalid'; readonly message: string };

export interface TargetOptions {
  /**
   * The CVO's shouldReconcileAcceptRisks (pkg/cvo/cvo.go:1239): the ClusterUpdateAcceptRisks
   * feature gate, which only TechPreviewNoUpgrade and CustomNoUpgrade clusters enable. Off by
   * default, as on Default clusters (whose CRD prunes spec.desiredUpdate.acceptRisks anyway).
   */
  readonly acceptRisks?: boolean;
}

/** One field.Error of k8s.io/apimachinery, as `Error()` prints it. */
interface FieldError {
  readonly field: string;
  readonly text: string;
}

/**
 * Resolves `spec.desiredUpdate` as the CVO's sync does (pkg/cvo/cvo.go:831-838): validate
 * (lib/validation/validation.go ValidateClusterVersion, its spec.desiredUpdate part), clear the
 * update when a spec.desiredUpdate.* field is invalid (ClearInvalidFields), then find the update
 * (pkg/cvo/updatepayload.go findUpdateFromConfig): an image is taken as given, a version alone is
 * looked up in status.availableUpdates only.
 */
export function resolveTarget(cv: ClusterVersion, options: TargetOptions = {}): TargetResolution {
  const specErrors = validateSpecFields(cv);
  const updateErrors = validateDesiredUpdate(cv, options.acceptRisks === true);
  if (updateErrors.length > 0) {
    // Every error but "Required" (all of architecture, version, image empty) clears the update;
    // after a "Required" one the CVO still looks version "" up in availableUpdates, which offer
    // no release without a version: there is no target either way.
    return { kind: 'invalid', message: invalidMessage([...specErrors, ...updateErrors]) };
  }
  // Other invalid fields are cleared alone (ClearInvalidFields): the update goes on, Invalid says.
  const invalid = specErrors.length > 0 ? { invalid: invalidMessage(specErrors) } : {};
  const update = findUpdateFromConfig(cv);
  if (update === undefined) return { kind: 'none', ...invalid };
  return { kind: 'target', ...update, ...invalid };
}

/** lib/validation/validation.go:19-31: spec.upstream and spec.clusterID, in that order. */
function validateSpecFields(cv: ClusterVersion): FieldError[] {
  const errors: FieldError[] = [];
  const upstream = typeof cv.spec.upstream === 'string' ? cv.spec.upstream : '';
  if (upstream !== '' && goUrlParseFails(upstream)) {
    errors.push(invalid('spec.upstream', upstream, 'must be a valid URL or empty'));
  }
  const clusterID = typeof cv.spec.clusterID === 'string' ? cv.spec.clusterID : '';
  if (clusterID !== '') {
    const id = goUuid(clusterID);
    if (!id.rfc4122) {
      errors.push(invalid('spec.clusterID', clusterID, 'must be an RFC4122-variant UUID'));
    } else if (id.version !== 4) {
      errors.push(invalid('spec.clusterID', clusterID, 'must be a version-4 UUID'));
    }
  }
  return errors;
}

/** The Invalid condition's message for validation errors (pkg/cvo/status.go:272-281). */
function invalidMessage(errors: readonly FieldError[]): string {
  if (errors.length === 1) return `The cluster version is invalid: ${errors[0]?.text ?? ''}`;
  return `The cluster version is invalid:\n${errors.map((e) => `* ${e.text}\n`).join('')}`;
}

/** lib/validation/validation.go:33-55, the switch over spec.desiredUpdate (at most one error). */
function validateDesiredUpdate(cv: ClusterVersion, acceptRisks: boolean): FieldError[] {
  const u = cv.spec.desiredUpdate;
  if (u === undefined) return [];
  const architecture = u.architecture ?? '';
  const version = u.version ?? '';
  const image = u.image ?? '';
  const risks = Array.isArray(u.acceptRisks) ? u.acceptRisks.length : 0;
  if (!acceptRisks && risks > 0) {
    return [forbidden('spec.desiredUpdate.acceptRisks', 'acceptRisks must not be specified')];
  }
  if (architecture === '' && version === '' && image === '' && !acceptRisks) {
    return [required('spec.desiredUpdate', 'must specify architecture, version, or image')];
  }
  if (architecture === '' && version === '' && image === '' && risks === 0 && acceptRisks) {
    return [
      required('spec.desiredUpdate', 'must specify architecture, version, image, or acceptRisks'),
    ];
  }
  if (version !== '' && !isSemver(version)) {
    return [
      invalid('spec.desiredUpdate.version', version, 'must be a semantic version (1.2.3[-...])'),
    ];
  }
  if (version !== '' && image === '') {
    const count = countPayloadsForVersion(cv, version);
    if (count === 0) {
      return [
        invalid(
          'spec.desiredUpdate.version',
          version,
          'when image is empty the update must be an available update',
        ),
      ];
    }
    if (count > 1) {
      return [
        invalid(
          'spec.desiredUpdate.version',
          version,
          'there are multiple possible payloads for this version, specify the exact image',
        ),
      ];
    }
  }
  return [];
}

/** lib/validation/validation.go:59-77: availableUpdates first, then (only if none) history. */
function countPayloadsForVersion(cv: ClusterVersion, version: string): number {
  let count = 0;
  for (const update of cv.status?.availableUpdates ?? []) {
    if (update.version === version && (update.image ?? '') !== '') count++;
  }
  if (count > 0) return count;
  for (const entry of cv.status?.history ?? []) {
    if (entry.version === version && entry.image !== '') return 1;
  }
  return 0;
}

/**
 * pkg/cvo/updatepayload.go:441-470. The CVO compares the architecture of the release it runs;
 * this service does not run one, and takes status.desired.architecture (set when the
 * StatusReleaseArchitecture feature gate is on) for it.
 */
function findUpdateFromConfig(
  cv: ClusterVersion,
): { image: string; version: string; force: boolean } | undefined {
  const update: Update | undefined = cv.spec.desiredUpdate;
  if (update === undefined) return undefined;
  const force = update.force === true;
  if ((update.image ?? '') !== '') {
    return { image: update.image ?? '', version: update.version ?? '', force };
  }
  let version = update.version ?? '';
  // Architecture changed to Multi: the only valid update is the current version's multi payload.
  if (update.architecture === 'Multi' && cv.status?.desired.architecture !== 'Multi') {
    version = cv.status?.desired.version ?? '';
  }
  for (const available of cv.status?.availableUpdates ?? []) {
    if (available.version === version && (available.image ?? '') !== '') {
      return { image: available.image ?? '', version, force };
    }
  }
  return undefined;
}

function required(field: string, detail: string): FieldError {
  return { field, text: `${field}: Required value: ${detail}` };
}

function forbidden(field: string, detail: string): FieldError {
  return { field, text: `${field}: Forbidden: ${detail}` };
}

/** field.Invalid with a string value: `%q` (apimachinery field/errors.go:88-89). */
function invalid(field: string, value: string, detail: string): FieldError {
  return { field, text: `${field}: Invalid value: ${goQuote(value)}: ${detail}` };
}

const SEMVER_NUMBERS = /^[0-9]*$/;
const SEMVER_ALPHANUM = /^[0-9A-Za-z-]*$/;
const MAX_UINT64 = 2n ** 64n - 1n;

/**
 * Whether github.com/blang/semver/v4 `Parse` (v4.0.0 semver.go:271-357) accepts `s`: exactly
 * three dot-separated numbers without leading zeroes that fit a uint64, then optional
 * `-prerelease` and `+build` identifiers.
 */
export function isSemver(s: string): boolean {
  if (s === '') return false;
  const first = s.indexOf('.');
  const second = first === -1 ? -1 : s.indexOf('.', first + 1);
  if (second === -1) return false;
  const major = s.slice(0, first);
  const minor = s.slice(first + 1, second);
  let patch = s.slice(second + 1);
  if (!isUint(major) || !isUint(minor)) return false;
  let build: string[] = [];
  let prerelease: string[] = [];
  const plus = patch.indexOf('+');
  if (plus !== -1) {
    build = patch.slice(plus + 1).split('.');
    patch = patch.slice(0, plus);
  }
  const dash = patch.indexOf('-');
  if (dash !== -1) {
    prerelease = patch.slice(dash + 1).split('.');
    patch = patch.slice(0, dash);
  }
  if (!isUint(patch)) return false;
  for (const pr of prerelease) {
    if (pr === '') return false;
    if (SEMVER_NUMBERS.test(pr)) {
      if (pr.length > 1 && pr.startsWith('0')) return false;
      if (BigInt(pr) > MAX_UINT64) return false;
    } else if (!SEMVER_ALPHANUM.test(pr)) return false;
  }
  return build.every((b) => b !== '' && SEMVER_ALPHANUM.test(b));
}

/** containsOnly(numbers), no leading zero, and strconv.ParseUint(s, 10, 64) succeeds. */
function isUint(s: string): boolean {
  if (s === '' || !SEMVER_NUMBERS.test(s)) return false;
  if (s.length > 1 && s.startsWith('0')) return false;
  return BigInt(s) <= MAX_UINT64;
}

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

/**
 * Go's `%q` of a string (strconv.Quote): the CVO's messages quote versions and pullspecs with
 * it. Printable characters stay, `"` and `\` are escaped, the rest become `\a`-style, `\xNN`,
 * `\uNNNN` or `\UNNNNNNNN` escapes. A lone surrogate is U+FFFD, as Go's JSON decoder makes it.
 */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (code >= 0x20 && code < 0x7f) out += ch;
    else if (code < 0x80) out += asciiEscape(code);
    else if (code >= 0xd800 && code <= 0xdfff) out += '\uFFFD';
    else if (PRINTABLE.test(ch)) out += ch;
    else if (code <= 0xffff) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += `\\U${code.toString(16).padStart(8, '0')}`;
  }
  return `${out}"`;
}

function asciiEscape(code: number): string {
  switch (code) {
    case 0x07:
      return '\\a';
    case 0x08:
      return '\\b';
    case 0x0c:
      return '\\f';
    case 0x0a:
      return '\\n';
    case 0x0d:
      return '\\r';
    case 0x09:
      return '\\t';
    case 0x0b:
      return '\\v';
    default:
      return `\\x${code.toString(16).padStart(2, '0')}`;
  }
}
