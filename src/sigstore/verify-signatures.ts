import { X509Certificate } from 'node:crypto';

import { isVerifyError, VerifyError } from '../errors.js';
import type {
  BundleErrorCode,
  CertificateErrorCode,
  ErrorArea,
  SigstoreErrorCode,
} from '../errors.js';
import { isJsonObject, parseStrictJson } from '../json/strict-json.js';
import type { JsonValue } from '../json/strict-json.js';
import { verifyBundle } from './bundle-verify.js';
import type { ImageExpectation } from './bundle-verify.js';
import { CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, readCertificateKey } from './certificate.js';
import { parseCosignPayload, SIMPLE_SIGNING_MEDIA_TYPE } from './payload.js';
import { SIGNATURE_ANNOTATION, verifyPayloadSignature } from './public-key.js';
import type { VerificationKey } from './public-key.js';
import { BUNDLE_ANNOTATION, MAX_BUNDLE_LENGTH, verifyRekorBundle } from './rekor-set.js';
import type { RekorEvidence } from './rekor-set.js';
import {
  formatDockerReference,
  matchesSignedIdentity,
  parseDockerReference,
  validateSignedIdentity,
} from './signed-identity.js';
import type { DockerReference, SignedIdentity } from './signed-identity.js';
import { verifySigningCertificate } from './signature-trust.js';
import type { SignatureTrust } from './signature-trust.js';

// The pure verification core for cosign signatures: it takes what fetch-signatures.ts fetched
// (bytes and annotations) and a root of trust, and returns verdicts. No I/O, no clock but the
// certificate checks' "now" for PKI without a Rekor SET.

// ---- The image --------------------------------------------------------------------------------

/** A repository: `host` as in a pullspec, `path` below it. */
export interface SignatureRepository {
  readonly host: string;
  readonly path: string;
}

/** The image to verify, by digest. */
export interface ImageToVerify {
  readonly host: string;
  readonly path: string;
  readonly digest: string;
  /**
   * The tag the image was asked for, if any. The identity is then checked as containers/image
   * checks an image pulled by tag (MatchRepoDigestOrExact: exactly `name:tag`); the content is
   * still bound by the digest. containers/image never sees both, so they are not combined.
   */
  readonly tag?: string;
  /**
   * Where to fetch the image's signatures from when not its own repository: a mirror
   * (ImageDigestMirrorSet), as CRI-O reads signatures beside the copy it pulls. The identity is
   * still checked against `host/path`, the logical name.
   */
  readonly source?: SignatureRepository;
}

/** The image whose signatures are fetched and verified, resolved once. */
export interface ResolvedImage {
  /** The digest every signature must sign. */
  readonly digest: string;
  /** The reference as shown in verdicts. */
  readonly shown: string;
  /** What signed identities are matched against (by tag when a tag was given). */
  readonly identityReference: DockerReference;
  /** Where the signatures are read from. */
  readonly repository: SignatureRepository;
  /** `sha256-<hex>.sig`: the tag of the legacy cosign signature manifest. */
  readonly signatureTag: string;
}

/** Resolves host/path/tag/digest into the references fetching and verifying need. */
export function resolveImage(image: ImageToVerify): ResolvedImage {
  const raw = `${image.host}/${image.path}${image.tag !== undefined ? `:${image.tag}` : ''}@${image.digest}`;
  const reference = parseDockerReference(raw);
  if (reference?.digest === undefined) {
    throw new VerifyError('INVALID_PULLSPEC', `invalid image reference ${JSON.stringify(raw)}`);
  }
  const digest = reference.digest;
  return {
    digest,
    shown: formatDockerReference(reference),
    identityReference:
      reference.tag !== undefined
        ? { name: reference.name, tag: reference.tag }
        : { name: reference.name, digest },
    repository: image.source ?? { host: image.host, path: image.path },
    signatureTag: `${image.digest.replace(':', '-')}.sig`,
  };
}

// ---- What is verified: fetched signatures -----------------------------------------------------

/** A blob as fetched: its bytes, or why the registry could not serve it intact. */
export type FetchedBlob =
  | { readonly status: 'fetched'; readonly bytes: Uint8Array }
  | { readonly status: 'failed'; readonly error: VerifyError };

/** One layer of a legacy `.sig` signature manifest. */
export interface FetchedLayer {
  readonly digest: string;
  readonly mediaType: string;
  readonly annotations: Readonly<Record<string, string>>;
  /**
   * The payload of a simplesigning layer; absent when it was not fetched: another media type,
   * or an annotation every signature needs under the trust at hand is missing (see
   * {@link SignatureVerifier.layerAnnotations}).
   */
  readonly payload?: FetchedBlob;
}

/** One cosign v3 Sigstore bundle, an OCI 1.1 referrer of the image. */
export interface FetchedBundle {
  /** The referrer manifest's digest. */
  readonly referrer: string;
  readonly bundle: FetchedBlob;
}

/** Where legacy signatures are: the `.sig` manifest's tag, and its digest once found. */
export interface SignatureManifestLocation {
  readonly tag: string;
  readonly digest?: string;
}

/** Where bundles are listed: the OCI 1.1 referrers API, or its `sha256-<hex>` tag fallback. */
export interface ReferrersLocation {
  readonly source: 'api' | 'tag';
}

/** Every reason a signature (layer or bundle) or an image's signatures can be rejected. */
export type SignatureRejectionCode = SigstoreErrorCode | CertificateErrorCode | BundleErrorCode;

/** What fetching an image's signatures of one form found: none, too many or unusable, or some. */
export type FetchedSignatures<S, L> =
  | {
      readonly kind: 'unsigned';
      readonly image: ResolvedImage;
      readonly location: L;
      readonly detail: string;
    }
  | {
      /** Refused unread: over a count limit, or not of the expected shape. */
      readonly kind: 'refused';
      readonly image: ResolvedImage;
      readonly location: L;
      readonly code: SignatureRejectionCode;
      readonly message: string;
    }
  | {
      readonly kind: 'found';
      readonly image: ResolvedImage;
      readonly location: L;
      readonly signatures: readonly S[];
    };

export type FetchedLayers = FetchedSignatures<FetchedLayer, SignatureManifestLocation>;
export type FetchedBundles = FetchedSignatures<FetchedBundle, ReferrersLocation>;

// ---- Verdicts -----------------------------------------------------------------------------------

/** What happened to one layer of the signature manifest. */
export type LayerOutcome =
  | {
      readonly index: number;
      readonly digest: string;
      readonly status: 'verified';
      readonly dockerReference: string;
      /** The certificate's names (certificate roots of trust only). */
      readonly emails?: readonly string[];
      readonly dnsNames?: readonly string[];
      readonly oidcIssuer?: string;
      readonly rekor?: RekorEvidence;
    }
  | {
      readonly index: number;
      readonly digest: string;
      readonly status: 'rejected';
      readonly code: SignatureRejectionCode;
      readonly message: string;
    }
  | {
      readonly index: number;
      readonly digest: string;
      readonly status: 'skipped';
      readonly mediaType: string;
    };

/** What happened to one bundle referrer. */
export type BundleOutcome =
  | {
      readonly referrer: string;
      readonly status: 'verified';
      readonly dockerReference: string;
      readonly emails: readonly string[];
      readonly dnsNames: readonly string[];
      readonly integratedTime?: number;
      readonly logIndex?: number;
    }
  | {
      readonly referrer: string;
      readonly status: 'rejected';
      readonly code: SignatureRejectionCode;
      readonly message: string;
    };

/** The result of verifying an image's signatures of one form, with the evidence. */
export type SignatureVerdict<O, L> =
  | {
      readonly status: 'verified';
      readonly image: string;
      readonly location: L;
      /** Every signature's outcome, in order; at least one verified. */
      readonly signatures: readonly O[];
    }
  | {
      /** No signatures of this form: nothing to verify (a policy decides if that is allowed). */
      readonly status: 'unsigned';
      readonly image: string;
      readonly location: L;
      readonly detail: string;
    }
  | {
      readonly status: 'rejected';
      readonly image: string;
      readonly location: L;
      /** The first rejected signature's code, or why the signatures were refused unread. */
      readonly code: SignatureRejectionCode;
      readonly message: string;
      readonly signatures: readonly O[];
    };

export type LayerVerdict = SignatureVerdict<LayerOutcome, SignatureManifestLocation>;
export type BundleVerdict = SignatureVerdict<BundleOutcome, ReferrersLocation>;

// ---- The verifier -------------------------------------------------------------------------------

/** Verifies fetched signatures against one root of trust and signed-identity policy. */
export interface SignatureVerifier {
  /**
   * Annotations a simplesigning layer must carry before its payload is worth fetching: without
   * one of them the layer is rejected whatever its payload says.
   */
  readonly layerAnnotations: readonly string[];
  /**
   * Legacy cosign signatures (simplesigning layers). Per layer, in order: the annotations
   * (signature; certificate for certificate roots; Rekor bundle for Fulcio), the payload, the
   * signature over its raw bytes with the configured key or the certificate's key, the Rekor SET
   * when a Rekor key is configured (for a certificate: the entry must be for this certificate),
   * the certificate against the configured CAs and subject at the SET's time (PKI without a
   * SET: now; the chain annotation's certificates but its last may serve as untrusted
   * intermediates, as in containers/image), then the payload parsed strictly (type, digest
   * equal to the image's) and its claimed identity checked. At least one layer must pass.
   */
  verifyLayers(fetched: FetchedLayers): LayerVerdict;
  /** cosign v3 Sigstore bundles (see {@link verifyBundle}). At least one bundle must pass. */
  verifyBundles(fetched: FetchedBundles): BundleVerdict;
}

/** One annotation every layer needs under a kind of trust, and what its absence means. */
interface RequiredAnnotation {
  readonly name: string;
  readonly missing: () => Error;
}

const SIGNATURE_REQUIRED: RequiredAnnotation = {
  name: SIGNATURE_ANNOTATION,
  missing: () => new VerifyError('SIGNATURE_MISSING', `no ${SIGNATURE_ANNOTATION} annotation`),
};
const CERTIFICATE_REQUIRED: RequiredAnnotation = {
  name: CERTIFICATE_ANNOTATION,
  missing: () => new VerifyError('CERTIFICATE_MISSING', `no ${CERTIFICATE_ANNOTATION} annotation`),
};
const FULCIO_BUNDLE_REQUIRED: RequiredAnnotation = {
  name: BUNDLE_ANNOTATION,
  missing: () =>
    new VerifyError(
      'REKOR_BUNDLE_MISSING',
      `a Fulcio root of trust needs a Rekor SET, and the layer has no ${BUNDLE_ANNOTATION} annotation`,
    ),
};

/** Checked in this order, before the payload is looked at (or fetched). */
const REQUIRED_ANNOTATIONS: Readonly<
  Record<SignatureTrust['kind'], readonly RequiredAnnotation[]>
> = {
  key: [SIGNATURE_REQUIRED],
  pki: [SIGNATURE_REQUIRED, CERTIFICATE_REQUIRED],
  fulcio: [SIGNATURE_REQUIRED, CERTIFICATE_REQUIRED, FULCIO_BUNDLE_REQUIRED],
};

/**
 * A verifier for one root of trust (see parseSignatureTrust) and signed-identity policy.
 * Throws INVALID_POLICY for a malformed policy, so configuration errors come before any fetch.
 */
export function createSignatureVerifier(
  trust: SignatureTrust,
  signedIdentity: SignedIdentity,
): SignatureVerifier {
  validateSignedIdentity(signedIdentity);
  return {
    layerAnnotations: REQUIRED_ANNOTATIONS[trust.kind].map((required) => required.name),
    verifyLayers: (fetched) =>
      judge(
        fetched,
        (layer, index) => checkLayer(trust, { ...fetched.image, signedIdentity }, layer, index),
        (layer, index, rejection): LayerOutcome => ({
          index,
          digest: layer.digest,
          status: 'rejected',
          ...rejection,
        }),
        {
          code: 'SIGNATURE_MISSING',
          message: `${fetched.image.signatureTag} has no ${SIMPLE_SIGNING_MEDIA_TYPE} layer`,
        },
      ),
    verifyBundles: (fetched) =>
      judge(
        fetched,
        ({ referrer, bundle }): BundleOutcome => ({
          referrer,
          status: 'verified',
          ...verifyBundle(blobOf(bundle), trust, { ...fetched.image, signedIdentity }),
        }),
        ({ referrer }, _index, rejection): BundleOutcome => ({
          referrer,
          status: 'rejected',
          ...rejection,
        }),
        { code: 'BUNDLE_INVALID', message: 'no bundle verified' },
      ),
  };
}

interface Rejection {
  readonly code: SignatureRejectionCode;
  readonly message: string;
}

/** The part of an outcome (layer or bundle) the shared verdict logic reads. */
type OutcomeLike =
  { readonly status: 'verified' | 'skipped' } | ({ readonly status: 'rejected' } & Rejection);

/**
 * Signature problems become rejections; configuration errors (a malformed policy, unusable
 * roots) and anything unexpected are thrown, never taken for a bad signature.
 */
function toRejection(err: unknown): Rejection | undefined {
  if (!isVerifyError(err) || !REJECTION_AREAS.has(err.area)) return undefined;
  if (err.code === 'INVALID_POLICY' || err.code === 'CERTIFICATE_ROOTS_INVALID') return undefined;
  return { code: err.code as SignatureRejectionCode, message: err.message };
}

/** The areas whose codes say why one signature is refused (see {@link SignatureRejectionCode}). */
const REJECTION_AREAS: ReadonlySet<ErrorArea> = new Set<ErrorArea>([
  'signature',
  'sigstore',
  'certificate',
  'bundle',
]);

/**
 * The loop every form shares: each signature checked in order (`check` returns its outcome or
 * throws why it is rejected); verified when at least one verified, else the first rejection,
 * or `nothing` when no signature of the form was there at all.
 */
function judge<S, O extends OutcomeLike, L>(
  fetched: FetchedSignatures<S, L>,
  check: (signature: S, index: number) => O,
  reject: (signature: S, index: number, rejection: Rejection) => O,
  nothing: Rejection,
): SignatureVerdict<O, L> {
  const image = fetched.image.shown;
  const { location } = fetched;
  switch (fetched.kind) {
    case 'unsigned':
      return { status: 'unsigned', image, location, detail: fetched.detail };
    case 'refused': {
      const { code, message } = fetched;
      return { status: 'rejected', image, location, code, message, signatures: [] };
    }
    case 'found':
      break;
    default: {
      const never: never = fetched;
      throw new Error(`unknown fetch result ${JSON.stringify(never)}`);
    }
  }
  const signatures = fetched.signatures.map((signature, index) => {
    try {
      return check(signature, index);
    } catch (err) {
      const rejection = toRejection(err);
      if (rejection === undefined) throw err;
      return reject(signature, index, rejection);
    }
  });
  if (signatures.some((outcome) => outcome.status === 'verified')) {
    return { status: 'verified', image, location, signatures };
  }
  const { code, message } = firstRejection(signatures) ?? nothing;
  return { status: 'rejected', image, location, code, message, signatures };
}

function firstRejection(outcomes: readonly OutcomeLike[]): Rejection | undefined {
  for (const outcome of outcomes) if (outcome.status === 'rejected') return outcome;
  return undefined;
}

/** A fetched blob's bytes; a fetch failure is the signature's rejection. */
function blobOf(blob: FetchedBlob): Uint8Array {
  if (blob.status === 'failed') throw blob.error;
  return blob.bytes;
}

// ---- Legacy layers --------------------------------------------------------------------------

function checkLayer(
  trust: SignatureTrust,
  expected: ImageExpectation,
  layer: FetchedLayer,
  index: number,
): LayerOutcome {
  const { digest, annotations } = layer;
  if (layer.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE) {
    return { index, digest, status: 'skipped', mediaType: layer.mediaType };
  }
  for (const required of REQUIRED_ANNOTATIONS[trust.kind]) annotation(annotations, required);
  if (layer.payload === undefined) {
    throw new VerifyError('PAYLOAD_UNAVAILABLE', `the payload of layer ${digest} was not fetched`);
  }
  const payload = blobOf(layer.payload);
  const signer = layerSigner(trust, annotations);
  // Order matters: nothing in the payload is looked at before its signature verifies.
  const signature = verifyPayloadSignature(
    signer.key,
    payload,
    annotation(annotations, SIGNATURE_REQUIRED),
  );
  let rekor: RekorEvidence | undefined;
  if (trust.rekorKey !== undefined) {
    const bundle = annotations[BUNDLE_ANNOTATION];
    if (bundle === undefined) {
      throw new VerifyError(
        'REKOR_BUNDLE_MISSING',
        `a Rekor key is configured but the layer has no ${BUNDLE_ANNOTATION} annotation`,
      );
    }
    rekor = verifyRekorBundle({
      bundle,
      rekorKey: trust.rekorKey,
      signingKey: signer.key,
      signature,
      payload,
    });
    if (signer.certificate !== undefined) checkEntryCertificate(bundle, signer.certificate.der);
  }
  // Signer-supplied intermediates (the chain annotation) only fill a gap up to a configured CA.
  const certified =
    trust.kind !== 'key' && signer.certificate !== undefined
      ? verifySigningCertificate(
          trust,
          signer.certificate.pem,
          annotations[CHAIN_ANNOTATION],
          rekor?.integratedTime,
        )
      : undefined;
  const dockerReference = checkPayloadClaims(expected, payload);
  return {
    index,
    digest,
    status: 'verified',
    dockerReference,
    ...(certified !== undefined
      ? {
          emails: certified.emails,
          dnsNames: certified.dnsNames,
          ...(certified.oidcIssuer !== undefined ? { oidcIssuer: certified.oidcIssuer } : {}),
        }
      : {}),
    ...(rekor !== undefined ? { rekor } : {}),
  };
}

/** A required annotation's value; its absence rejects the layer. */
function annotation(
  annotations: Readonly<Record<string, string>>,
  required: RequiredAnnotation,
): string {
  const value = annotations[required.name];
  if (value === undefined) throw required.missing();
  return value;
}

/**
 * The key the layer's signature must verify with: the configured key, or the certificate
 * annotation's. A certificate is untrusted until its chain is checked, but its key is needed
 * first to bind the Rekor entry, which gives the time the chain is checked at.
 */
function layerSigner(
  trust: SignatureTrust,
  annotations: Readonly<Record<string, string>>,
): { readonly key: VerificationKey; readonly certificate?: { pem: string; der: Buffer } } {
  if (trust.kind === 'key') return { key: trust.key };
  const pem = annotation(annotations, CERTIFICATE_REQUIRED);
  const { key, der } = readCertificateKey(pem);
  return { key, certificate: { pem, der } };
}

/** The payload, parsed strictly: it must sign the image's digest under an accepted identity. */
function checkPayloadClaims(expected: ImageExpectation, payload: Uint8Array): string {
  const claims = parseCosignPayload(payload);
  if (claims.dockerManifestDigest !== expected.digest) {
    throw new VerifyError(
      'PAYLOAD_DIGEST_MISMATCH',
      `the payload signs ${claims.dockerManifestDigest}, not ${expected.digest}`,
    );
  }
  if (
    !matchesSignedIdentity(
      expected.signedIdentity,
      expected.identityReference,
      claims.dockerReference,
    )
  ) {
    throw new VerifyError(
      'IDENTITY_MISMATCH',
      `the signed identity ${JSON.stringify(claims.dockerReference.slice(0, 300))} does not match ` +
        `${formatDockerReference(expected.identityReference)} under ${expected.signedIdentity.type}`,
    );
  }
  return claims.dockerReference;
}

function field(value: JsonValue | undefined, key: string): JsonValue | undefined {
  return isJsonObject(value) ? value[key] : undefined;
}

/**
 * verifyRekorBundle has bound the entry to the certificate's key; when the entry carries a
 * certificate (as cosign's keyless entries do), it must be this very certificate.
 */
function checkEntryCertificate(bundle: string, leafDer: Buffer): void {
  const body = field(
    field(parseStrictJson(bundle, { maxLength: MAX_BUNDLE_LENGTH }), 'Payload'),
    'body',
  );
  if (typeof body !== 'string') return;
  const entry = parseStrictJson(Buffer.from(body, 'base64').toString('utf8'), {
    maxLength: MAX_BUNDLE_LENGTH,
  });
  const content = field(field(field(field(entry, 'spec'), 'signature'), 'publicKey'), 'content');
  if (typeof content !== 'string') return;
  const pem = Buffer.from(content, 'base64').toString('utf8');
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) return;
  let entryDer: Buffer;
  try {
    entryDer = new X509Certificate(pem).raw;
  } catch (err) {
    throw new VerifyError('REKOR_BUNDLE_INVALID', 'the log entry certificate cannot be read', {
      cause: err,
    });
  }
  if (!entryDer.equals(leafDer)) {
    throw new VerifyError('REKOR_ENTRY_MISMATCH', 'the log entry is for another certificate');
  }
}
