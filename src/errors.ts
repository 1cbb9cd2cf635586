/**
 * Every failure this project reports is a {@link VerifyError} carrying a closed `code`, so
 * callers (CLI exit codes, Kubernetes condition reasons, metrics, evidence) switch on codes
 * rather than on message text. Codes are grouped in per-area unions; {@link CODE_TABLE} gives
 * every code its area, its condition reason and its metric label, in this one place.
 */

// ---- Codes, by area --------------------------------------------------------------------------

/** Codes any area may raise. */
export type CommonErrorCode =
  /** The configuration cannot be used (nothing to verify with, conflicting settings). */
  | 'USAGE'
  /** The caller's AbortSignal fired (a budget ran out or the work was stopped). */
  | 'ABORTED';

/** A release pullspec or digest the CVO refuses before any check runs. */
export type PullspecErrorCode = 'NOT_BY_DIGEST' | 'INVALID_DIGEST' | 'INVALID_PULLSPEC';

/** The root of trust and its stores, as configured. */
export type TrustErrorCode =
  | 'ROOT_OF_TRUST_NOT_FOUND'
  | 'ROOT_OF_TRUST_INVALID'
  | 'NO_STORES'
  | 'NO_KEYS'
  | 'INVALID_KEY'
  | 'INVALID_STORE'
  /**
   * A cluster object verification reads (the root-of-trust ConfigMap, the pull secret, the Proxy,
   * mirror sets) could not be read: forbidden, a server error, a timeout. Never taken for none.
   */
  | 'CLUSTER_CONFIG_UNREADABLE';

/** A signature read and refused, by GPG and cosign alike. */
export type SignatureErrorCode =
  /** The signature does not verify over the signed bytes with the key. */
  | 'BAD_SIGNATURE'
  /** The signed payload's `critical.type` is not the one this kind of signature must carry. */
  | 'PAYLOAD_WRONG_TYPE'
  /** The signed payload names another manifest digest. */
  | 'PAYLOAD_DIGEST_MISMATCH';

/** OpenPGP messages and atomic container signature payloads. */
export type GpgErrorCode =
  | SignatureErrorCode
  | 'MALFORMED_MESSAGE'
  | 'UNSUPPORTED_MESSAGE'
  | 'UNSIGNED'
  | 'UNSUPPORTED_ALGORITHM'
  | 'UNKNOWN_KEY'
  | 'KEY_NOT_VALID'
  | 'KEY_REVOKED'
  | 'SIGNATURE_EXPIRED'
  | 'SIGNATURE_FROM_FUTURE'
  | 'PAYLOAD_INVALID_JSON'
  | 'PAYLOAD_NO_IDENTITY';

/** Signature stores (HTTP, file, ConfigMap) and what reading them found. */
export type StoreErrorCode =
  'STORE_ERROR' | 'STORE_OVERSIZE' | 'STORE_TIMEOUT' | 'STORE_REDIRECT' | 'NOT_SIGNED';

/**
 * Why a registry operation failed. A missing manifest or tag is not among them: it is a result
 * (`status: 'not-found'`), because for cosign it means "unsigned", not "broken".
 */
export type RegistryErrorCode =
  /** The repository, tag or digest the caller passed is malformed. */
  | 'INVALID_REFERENCE'
  /** Plain HTTP to a host that is neither loopback nor listed as insecure. */
  | 'INSECURE_TRANSPORT'
  /** A docker config.json / pull secret that cannot be read or parsed. */
  | 'INVALID_CREDENTIALS_FILE'
  /** 401 after the authentication handshake, or a token server refusing the credentials. */
  | 'UNAUTHORIZED'
  /** 403 from the registry. */
  | 'DENIED'
  /** A blob a manifest refers to is missing (a broken registry, not an unsigned image). */
  | 'BLOB_NOT_FOUND'
  /** Any other unexpected status, including 429 and 5xx once retries are spent. */
  | 'HTTP_STATUS'
  /** Connection-level failure (refused, reset, TLS). */
  | 'NETWORK'
  /** A response that is not what the protocol promises: bad JSON, media type, challenge… */
  | 'INVALID_RESPONSE'
  /** Content whose digest (or size) differs from the one it was fetched by. */
  | 'DIGEST_MISMATCH'
  /** A body larger than its limit (rejected, never truncated). */
  | 'OVERSIZE'
  /** An image manifest with more layers than the limit. */
  | 'TOO_MANY_LAYERS'
  /** An index (or referrers list) with more entries than the limit. */
  | 'TOO_MANY_MANIFESTS'
  /** The per-request time limit ran out. */
  | 'TIMEOUT'
  /** Too many redirects, a redirect without Location, or to a scheme other than http(s). */
  | 'REDIRECT'
  /** The caller's AbortSignal fired. */
  | 'ABORTED';

/** Why reading or checking a release payload failed. */
export type PayloadErrorCode =
  /** A layer whose compression or archive format is not one we read (or not what it claims). */
  | 'LAYER_FORMAT'
  /** A compressed stream that ends early or is corrupt (a truncated layer). */
  | 'LAYER_CORRUPT'
  /** An archive entry, a member or a whole layer over its size or count limit. */
  | 'LAYER_OVERSIZE'
  /** An archive entry whose path escapes the archive root (`..`, absolute) or is unreadable. */
  | 'UNSAFE_PATH'
  /** `release-manifests/image-references` or `release-metadata` absent from every layer. */
  | 'MISSING_FILE'
  /** The release image's manifest (or a platform's) is in none of the registries it was read from. */
  | 'RELEASE_NOT_FOUND'
  /** image-references, release-metadata, an ImageDigestMirrorSet or ImageContentSourcePolicy
   *  that does not have the expected shape. */
  | 'INVALID_CONTENT'
  /** A manifest list without the requested platform. */
  | 'PLATFORM_NOT_FOUND';

/** Why a cosign signature, its payload or its Rekor entry was not accepted. */
export type SigstoreErrorCode =
  | SignatureErrorCode
  /** A PEM public key that cannot be read, holds a private key, or is not one block. */
  | 'INVALID_PUBLIC_KEY'
  /** A key type, curve or size we do not verify with. */
  | 'UNSUPPORTED_KEY'
  /** A signedIdentity policy that is malformed (bad prefix, reference, type). */
  | 'INVALID_POLICY'
  /** A simplesigning layer without the signature annotation. */
  | 'SIGNATURE_MISSING'
  /** A signature annotation that is not canonical standard base64. */
  | 'SIGNATURE_ENCODING'
  /** A payload blob over its size limit. */
  | 'PAYLOAD_OVERSIZE'
  /** A payload that is not strict JSON of the simple signing shape. */
  | 'PAYLOAD_INVALID'
  /** The payload's docker-reference does not satisfy the signedIdentity policy. */
  | 'IDENTITY_MISMATCH'
  /** A Rekor key is configured but the layer has no bundle annotation. */
  | 'REKOR_BUNDLE_MISSING'
  /** A bundle annotation or entry body that is not the expected strict JSON. */
  | 'REKOR_BUNDLE_INVALID'
  /** The bundle's logID is not the configured Rekor key's. */
  | 'REKOR_LOG_ID_MISMATCH'
  /** The SignedEntryTimestamp does not verify with the Rekor key. */
  | 'REKOR_SET_INVALID'
  /** The log entry binds another key, signature or payload hash. */
  | 'REKOR_ENTRY_MISMATCH'
  /** A log entry kind or version other than hashedrekord 0.0.1. */
  | 'REKOR_UNSUPPORTED_ENTRY'
  /** The signature manifest has more layers than the limit. */
  | 'TOO_MANY_SIGNATURES'
  /** The signature tag holds something other than an image manifest. */
  | 'INVALID_SIGNATURE_MANIFEST'
  /** A payload blob the registry cannot serve intact (missing, digest or size mismatch). */
  | 'PAYLOAD_UNAVAILABLE';

/** Why a signing certificate (or a configured CA bundle) was not accepted. */
export type CertificateErrorCode =
  /** A layer with a signature but no certificate annotation. */
  | 'CERTIFICATE_MISSING'
  /** A certificate that is not exactly one readable PEM block of well-formed DER. */
  | 'CERTIFICATE_INVALID'
  /** The chain annotation is oversized, not PEM certificates, or holds an unreadable one. */
  | 'CERTIFICATE_CHAIN_INVALID'
  /** No path from the certificate to a configured anchor (through configured or chain CAs). */
  | 'CERTIFICATE_UNTRUSTED'
  /** A certificate in the path had expired at the verification time. */
  | 'CERTIFICATE_EXPIRED'
  /** A certificate in the path was not yet valid at the verification time. */
  | 'CERTIFICATE_NOT_YET_VALID'
  /** A certificate in the path is signed with MD5 or SHA-1 (or an RSA key under 1024 bits). */
  | 'CERTIFICATE_INSECURE_ALGORITHM'
  /** A certificate in the path is signed with an algorithm Go does not verify (DSA, …). */
  | 'CERTIFICATE_UNSUPPORTED_ALGORITHM'
  /** An issuer that may not sign certificates: not a CA, or keyUsage without keyCertSign. */
  | 'CERTIFICATE_NOT_CA'
  /** A CA's basicConstraints pathLenConstraint allows fewer intermediates below it. */
  | 'CERTIFICATE_PATH_LENGTH'
  /** A name in the path is outside a CA's permitted subtrees or inside its excluded ones. */
  | 'CERTIFICATE_NAME_CONSTRAINTS'
  /** The path's certificate policies fail RFC 5280/9618 policy validation. */
  | 'CERTIFICATE_POLICY_INVALID'
  /** The leaf, or a CA constraining EKUs, does not allow code signing. */
  | 'CERTIFICATE_NOT_CODE_SIGNING'
  /** A critical extension Go does not handle. */
  | 'CERTIFICATE_UNSUPPORTED_EXTENSION'
  /** The Fulcio issuer extensions are absent or name another OIDC issuer. */
  | 'CERTIFICATE_ISSUER_MISMATCH'
  /** The v1 and v2 Fulcio issuer extensions disagree. */
  | 'CERTIFICATE_ISSUER_CONFLICT'
  /** No SAN equals the configured email or matches the configured hostname. */
  | 'CERTIFICATE_SUBJECT_MISMATCH'
  /** A configured CA bundle or subject that cannot be used (a configuration error). */
  | 'CERTIFICATE_ROOTS_INVALID';

/** Why a cosign v3 bundle referrer was not accepted, beyond the sigstore and certificate codes. */
export type BundleErrorCode =
  /** A bundle that is not strict JSON of the v0.3 shape, or a referrer manifest not of its shape. */
  | 'BUNDLE_INVALID'
  /** A bundle form we do not verify (messageSignature, another payload type or log entry kind). */
  | 'BUNDLE_UNSUPPORTED'
  /** The referrer's subject, or the statement's subject, is another digest. */
  | 'BUNDLE_SUBJECT_MISMATCH'
  /** An attestation (a statement whose predicateType is not cosign's signature predicate). */
  | 'BUNDLE_NOT_A_SIGNATURE'
  /** A bundle blob over its size limit. */
  | 'BUNDLE_OVERSIZE'
  /** A bundle blob the registry cannot serve intact. */
  | 'BUNDLE_UNAVAILABLE'
  /** More bundle referrers than the limit. */
  | 'TOO_MANY_BUNDLES';

/** Every code, of every area. */
export type VerifyErrorCode =
  | CommonErrorCode
  | PullspecErrorCode
  | TrustErrorCode
  | GpgErrorCode
  | StoreErrorCode
  | RegistryErrorCode
  | PayloadErrorCode
  | SigstoreErrorCode
  | CertificateErrorCode
  | BundleErrorCode;

// ---- The one table: area, condition reason, metric label ----------------------------------------

/**
 * What kind of failure a code is: a bounded set, so metrics stay low-cardinality whatever codes
 * are added, and the decisions that only care about the kind (does a verdict speak about the
 * trust? could the registry not answer?) read it instead of listing codes.
 */
export type ErrorLabel =
  /** The image reference or digest is malformed or not by digest. */
  | 'invalid_reference'
  /** The root of trust, keys, policies or options cannot be used. */
  | 'misconfigured'
  /** A signature store or registry is configured so that it cannot be read. */
  | 'store_misconfigured'
  /** No signature at all. */
  | 'unsigned'
  /** A signature (or its parts) that cannot be read. */
  | 'malformed'
  /** A signature, key or format we do not verify. */
  | 'unsupported'
  /** The signer's key or certificate is not one the trust accepts. */
  | 'untrusted_signer'
  /** The signature, or its required transparency-log proof, does not verify. */
  | 'bad_signature'
  /** A signature, key or certificate outside its validity period. */
  | 'expired'
  /** A verified signature whose payload is not what it must be (shape, type, identity, digest). */
  | 'payload_mismatch'
  /** A store or registry that did not answer usably. */
  | 'unavailable'
  /** Over a size or count limit. */
  | 'too_large'
  /** A time limit ran out. */
  | 'timeout'
  /** A redirect that is not followed. */
  | 'redirect'
  /** Release payload content that cannot be read or is not of the expected shape. */
  | 'invalid_release'
  /** The caller stopped the work. */
  | 'aborted';

/** Every {@link ErrorLabel}, for tests and for metrics that pre-register their series. */
export const ERROR_LABELS: readonly ErrorLabel[] = [
  'invalid_reference',
  'misconfigured',
  'store_misconfigured',
  'unsigned',
  'malformed',
  'unsupported',
  'untrusted_signer',
  'bad_signature',
  'expired',
  'payload_mismatch',
  'unavailable',
  'too_large',
  'timeout',
  'redirect',
  'invalid_release',
  'aborted',
];

export interface ErrorCodeInfo {
  readonly area: ErrorArea;
  /** The Kubernetes condition (and Event) reason, CamelCase. */
  readonly reason: string;
  readonly label: ErrorLabel;
}

type Rows<C extends VerifyErrorCode> = Readonly<Record<C, readonly [reason: string, ErrorLabel]>>;

/* Each section lists the codes its area owns; a code raised by several areas with the same
 * meaning (ABORTED, BAD_SIGNATURE…) is owned once. Reasons of codes that existed before the
 * areas' codes were kept whole are unchanged: users and alerts read them. */
const SECTIONS = {
  common: {
    USAGE: ['InvalidConfiguration', 'misconfigured'],
    ABORTED: ['VerificationAborted', 'aborted'],
  } satisfies Rows<CommonErrorCode>,
  pullspec: {
    NOT_BY_DIGEST: ['NotByDigest', 'invalid_reference'],
    INVALID_DIGEST: ['InvalidDigest', 'invalid_reference'],
    INVALID_PULLSPEC: ['InvalidPullspec', 'invalid_reference'],
  } satisfies Rows<PullspecErrorCode>,
  trust: {
    ROOT_OF_TRUST_NOT_FOUND: ['RootOfTrustNotFound', 'misconfigured'],
    ROOT_OF_TRUST_INVALID: ['RootOfTrustInvalid', 'misconfigured'],
    NO_STORES: ['NoSignatureStores', 'store_misconfigured'],
    NO_KEYS: ['NoPublicKeys', 'misconfigured'],
    INVALID_KEY: ['InvalidPublicKey', 'misconfigured'],
    INVALID_STORE: ['InvalidSignatureStore', 'store_misconfigured'],
    CLUSTER_CONFIG_UNREADABLE: ['ClusterConfigurationUnreadable', 'unavailable'],
  } satisfies Rows<TrustErrorCode>,
  signature: {
    BAD_SIGNATURE: ['BadSignature', 'bad_signature'],
    PAYLOAD_WRONG_TYPE: ['WrongSignatureType', 'payload_mismatch'],
    PAYLOAD_DIGEST_MISMATCH: ['SignatureDigestMismatch', 'payload_mismatch'],
  } satisfies Rows<SignatureErrorCode>,
  gpg: {
    MALFORMED_MESSAGE: ['MalformedSignature', 'malformed'],
    UNSUPPORTED_MESSAGE: ['UnsupportedSignature', 'unsupported'],
    UNSIGNED: ['UnsignedMessage', 'unsigned'],
    UNSUPPORTED_ALGORITHM: ['UnsupportedAlgorithm', 'unsupported'],
    UNKNOWN_KEY: ['UnknownKey', 'untrusted_signer'],
    KEY_NOT_VALID: ['KeyNotValid', 'untrusted_signer'],
    KEY_REVOKED: ['KeyRevoked', 'untrusted_signer'],
    SIGNATURE_EXPIRED: ['SignatureExpired', 'expired'],
    SIGNATURE_FROM_FUTURE: ['SignatureFromFuture', 'expired'],
    PAYLOAD_INVALID_JSON: ['InvalidSignaturePayload', 'payload_mismatch'],
    PAYLOAD_NO_IDENTITY: ['SignatureWithoutIdentity', 'payload_mismatch'],
  } satisfies Rows<Exclude<GpgErrorCode, SignatureErrorCode>>,
  store: {
    STORE_ERROR: ['SignatureStoreError', 'unavailable'],
    STORE_OVERSIZE: ['SignatureTooLarge', 'too_large'],
    STORE_TIMEOUT: ['SignatureStoreTimeout', 'timeout'],
    STORE_REDIRECT: ['SignatureStoreRedirect', 'redirect'],
    NOT_SIGNED: ['NotSigned', 'unsigned'],
  } satisfies Rows<StoreErrorCode>,
  registry: {
    INVALID_REFERENCE: ['InvalidImageReference', 'invalid_reference'],
    INSECURE_TRANSPORT: ['InsecureRegistryTransport', 'store_misconfigured'],
    INVALID_CREDENTIALS_FILE: ['InvalidRegistryCredentials', 'store_misconfigured'],
    UNAUTHORIZED: ['RegistryUnauthorized', 'unavailable'],
    DENIED: ['RegistryDenied', 'unavailable'],
    BLOB_NOT_FOUND: ['RegistryBlobNotFound', 'unavailable'],
    HTTP_STATUS: ['RegistryUnexpectedStatus', 'unavailable'],
    NETWORK: ['RegistryUnreachable', 'unavailable'],
    INVALID_RESPONSE: ['RegistryInvalidResponse', 'unavailable'],
    DIGEST_MISMATCH: ['RegistryDigestMismatch', 'unavailable'],
    OVERSIZE: ['RegistryResponseTooLarge', 'too_large'],
    TOO_MANY_LAYERS: ['TooManyLayers', 'too_large'],
    TOO_MANY_MANIFESTS: ['TooManyManifests', 'too_large'],
    TIMEOUT: ['RegistryTimeout', 'timeout'],
    REDIRECT: ['RegistryRedirect', 'redirect'],
  } satisfies Rows<Exclude<RegistryErrorCode, CommonErrorCode>>,
  payload: {
    LAYER_FORMAT: ['UnsupportedLayerFormat', 'unsupported'],
    LAYER_CORRUPT: ['CorruptLayer', 'invalid_release'],
    LAYER_OVERSIZE: ['LayerTooLarge', 'too_large'],
    UNSAFE_PATH: ['UnsafeLayerPath', 'invalid_release'],
    MISSING_FILE: ['ReleaseFileMissing', 'invalid_release'],
    RELEASE_NOT_FOUND: ['ReleaseImageNotFound', 'unavailable'],
    INVALID_CONTENT: ['InvalidReleaseContent', 'invalid_release'],
    PLATFORM_NOT_FOUND: ['PlatformNotFound', 'invalid_release'],
  } satisfies Rows<PayloadErrorCode>,
  sigstore: {
    INVALID_PUBLIC_KEY: ['InvalidPolicyPublicKey', 'misconfigured'],
    UNSUPPORTED_KEY: ['UnsupportedPublicKey', 'unsupported'],
    INVALID_POLICY: ['InvalidSignedIdentityPolicy', 'misconfigured'],
    SIGNATURE_MISSING: ['SignatureAnnotationMissing', 'malformed'],
    SIGNATURE_ENCODING: ['InvalidSignatureEncoding', 'malformed'],
    PAYLOAD_OVERSIZE: ['SignaturePayloadTooLarge', 'too_large'],
    PAYLOAD_INVALID: ['InvalidCosignPayload', 'payload_mismatch'],
    IDENTITY_MISMATCH: ['SignedIdentityMismatch', 'payload_mismatch'],
    REKOR_BUNDLE_MISSING: ['RekorBundleMissing', 'bad_signature'],
    REKOR_BUNDLE_INVALID: ['InvalidRekorBundle', 'malformed'],
    REKOR_LOG_ID_MISMATCH: ['RekorLogMismatch', 'untrusted_signer'],
    REKOR_SET_INVALID: ['InvalidRekorSignedEntryTimestamp', 'bad_signature'],
    REKOR_ENTRY_MISMATCH: ['RekorEntryMismatch', 'bad_signature'],
    REKOR_UNSUPPORTED_ENTRY: ['UnsupportedRekorEntry', 'unsupported'],
    TOO_MANY_SIGNATURES: ['TooManySignatures', 'too_large'],
    INVALID_SIGNATURE_MANIFEST: ['InvalidSignatureManifest', 'malformed'],
    PAYLOAD_UNAVAILABLE: ['SignaturePayloadUnavailable', 'unavailable'],
  } satisfies Rows<Exclude<SigstoreErrorCode, SignatureErrorCode>>,
  certificate: {
    CERTIFICATE_MISSING: ['CertificateMissing', 'malformed'],
    CERTIFICATE_INVALID: ['InvalidCertificate', 'malformed'],
    CERTIFICATE_CHAIN_INVALID: ['InvalidCertificateChain', 'malformed'],
    CERTIFICATE_UNTRUSTED: ['CertificateUntrusted', 'untrusted_signer'],
    CERTIFICATE_EXPIRED: ['CertificateExpired', 'expired'],
    CERTIFICATE_NOT_YET_VALID: ['CertificateNotYetValid', 'expired'],
    CERTIFICATE_INSECURE_ALGORITHM: ['CertificateInsecureAlgorithm', 'unsupported'],
    CERTIFICATE_UNSUPPORTED_ALGORITHM: ['CertificateUnsupportedAlgorithm', 'unsupported'],
    CERTIFICATE_NOT_CA: ['CertificateIssuerNotCA', 'untrusted_signer'],
    CERTIFICATE_PATH_LENGTH: ['CertificatePathTooLong', 'untrusted_signer'],
    CERTIFICATE_NAME_CONSTRAINTS: ['CertificateNameNotPermitted', 'untrusted_signer'],
    CERTIFICATE_POLICY_INVALID: ['CertificatePolicyInvalid', 'untrusted_signer'],
    CERTIFICATE_NOT_CODE_SIGNING: ['CertificateNotForCodeSigning', 'untrusted_signer'],
    CERTIFICATE_UNSUPPORTED_EXTENSION: ['CertificateUnsupportedExtension', 'unsupported'],
    CERTIFICATE_ISSUER_MISMATCH: ['CertificateIssuerMismatch', 'untrusted_signer'],
    CERTIFICATE_ISSUER_CONFLICT: ['CertificateIssuerConflict', 'malformed'],
    CERTIFICATE_SUBJECT_MISMATCH: ['CertificateSubjectMismatch', 'untrusted_signer'],
    CERTIFICATE_ROOTS_INVALID: ['InvalidCertificateRoots', 'misconfigured'],
  } satisfies Rows<CertificateErrorCode>,
  bundle: {
    BUNDLE_INVALID: ['InvalidBundle', 'malformed'],
    BUNDLE_UNSUPPORTED: ['UnsupportedBundle', 'unsupported'],
    BUNDLE_SUBJECT_MISMATCH: ['BundleSubjectMismatch', 'payload_mismatch'],
    BUNDLE_NOT_A_SIGNATURE: ['BundleNotASignature', 'payload_mismatch'],
    BUNDLE_OVERSIZE: ['BundleTooLarge', 'too_large'],
    BUNDLE_UNAVAILABLE: ['BundleUnavailable', 'unavailable'],
    TOO_MANY_BUNDLES: ['TooManyBundles', 'too_large'],
  } satisfies Rows<BundleErrorCode>,
} as const;

/** The area that owns a code (codes shared with one meaning are `common` or `signature`). */
export type ErrorArea = keyof typeof SECTIONS;

// Every code has a row: the sections together are checked against the whole union here.
type Covered = {
  [A in ErrorArea]: keyof (typeof SECTIONS)[A];
}[ErrorArea];
type EveryCodeHasARow = [VerifyErrorCode] extends [Covered] ? true : never;

function buildTable(_complete: EveryCodeHasARow): Readonly<Record<VerifyErrorCode, ErrorCodeInfo>> {
  const table = new Map<string, ErrorCodeInfo>();
  for (const [area, rows] of Object.entries(SECTIONS) as [
    ErrorArea,
    Readonly<Record<string, readonly [string, ErrorLabel]>>,
  ][]) {
    for (const [code, [reason, label]] of Object.entries(rows)) {
      if (table.has(code)) throw new Error(`error code ${code} is owned by two areas`);
      table.set(code, { area, reason, label });
    }
  }
  // Complete: `EveryCodeHasARow` fails to compile when a code of the union has no row.
  return Object.fromEntries(table) as Record<VerifyErrorCode, ErrorCodeInfo>;
}

/** For every code: its area, condition reason and metric label. */
export const CODE_TABLE: Readonly<Record<VerifyErrorCode, ErrorCodeInfo>> = buildTable(true);

/** The Kubernetes condition reason for a code; `VerificationFailed` when there is none. */
export function toConditionReason(code: VerifyErrorCode | undefined): string {
  return code === undefined ? 'VerificationFailed' : CODE_TABLE[code].reason;
}

/** The bounded metric label (the kind of failure) for a code. */
export function toErrorLabel(code: VerifyErrorCode): ErrorLabel {
  return CODE_TABLE[code].label;
}

// ---- The error -------------------------------------------------------------------------------

export interface VerifyErrorOptions {
  readonly cause?: unknown;
  /** HTTP status of the response that failed, when there was one. */
  readonly status?: number;
  /** Whether another attempt may succeed (429, 5xx, connection resets). */
  readonly retryable?: boolean;
  /** The server's Retry-After, already capped, in milliseconds. */
  readonly retryAfterMs?: number;
}

/**
 * A failure with its full code (never squeezed into another area's), keeping its `cause`.
 * Messages name what failed (a URL, layer, field) and never carry credentials or tokens.
 */
export class VerifyError extends Error {
  override readonly name = 'VerifyError';
  readonly code: VerifyErrorCode;
  readonly status: number | undefined;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(code: VerifyErrorCode, message: string, options: VerifyErrorOptions = {}) {
    super(message, 'cause' in options ? { cause: options.cause } : undefined);
    this.code = code;
    this.status = options.status;
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
  }

  /** The area that owns {@link code}. */
  get area(): ErrorArea {
    return CODE_TABLE[this.code].area;
  }
}

/** Whether `err` is a VerifyError, and when `code` is given, one with that code. */
export function isVerifyError<C extends VerifyErrorCode>(
  err: unknown,
  code?: C,
): err is VerifyError & { readonly code: C } {
  return err instanceof VerifyError && (code === undefined || err.code === code);
}

/** Converts anything thrown into a VerifyError, keeping the original as `cause`. */
export function toVerifyError(err: unknown, fallback: VerifyErrorCode): VerifyError {
  if (err instanceof VerifyError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new VerifyError(fallback, message, { cause: err });
}
