import { X509Certificate } from 'node:crypto';

import { isJsonObject, parseStrictJson } from '../json/strict-json.js';
import type { JsonValue } from '../json/strict-json.js';
import type { RegistryClient, RegistryRepository } from '../registry/client.js';
import type { Descriptor } from '../registry/manifest.js';
import {
  CERTIFICATE_ANNOTATION,
  CertificateError,
  CHAIN_ANNOTATION,
  isCertificateError,
  parseFulcioRoots,
  parsePkiRoots,
  readCertificateKey,
  verifyFulcioCertificate,
  verifyPkiCertificate,
} from './certificate.js';
import type { CertificateErrorCode, CertificateRoots, VerifiedCertificate } from './certificate.js';
import { isSigstoreError, SigstoreError } from './errors.js';
import type { SigstoreErrorCode } from './errors.js';
import { MAX_PAYLOAD_BYTES, parseCosignPayload, SIMPLE_SIGNING_MEDIA_TYPE } from './payload.js';
import { parsePublicKey, SIGNATURE_ANNOTATION, verifyPayloadSignature } from './public-key.js';
import type { VerificationKey } from './public-key.js';
import { BUNDLE_ANNOTATION, MAX_BUNDLE_LENGTH, verifyRekorBundle } from './rekor-set.js';
import type { RekorEvidence } from './rekor-set.js';
import {
  formatDockerReference,
  matchesSignedIdentity,
  validateSignedIdentity,
} from './signed-identity.js';
import type { DockerReference, SignedIdentity } from './signed-identity.js';
import {
  checkLayers,
  fetchSignatureManifest,
  fetchSignaturePayload,
  rejectionOf,
  resolveImage,
  verdictWithoutLayers,
} from './signature-manifest.js';
import { MAX_SIGNATURE_LAYERS } from './verify-image.js';
import type { ImageToVerify, SignatureManifestRef } from './verify-image.js';

/** Every reason a keyless layer or image can be rejected. */
export type KeylessErrorCode = SigstoreErrorCode | CertificateErrorCode;

/** Certificate-based roots of trust, with PEM texts (already base64-decoded from the policy). */
export type CertificateTrust =
  | {
      /** FulcioCAWithRekor: a Rekor SET is required and fixes the time certificates are checked at. */
      readonly type: 'fulcio';
      readonly fulcioCaPem: string;
      readonly rekorKeyPem: string;
      readonly oidcIssuer: string;
      readonly signedEmail: string;
    }
  | {
      /** PKI: certificates are checked now, or at the SET's time when a Rekor key is configured. */
      readonly type: 'pki';
      readonly caRootsPem: string;
      readonly caIntermediatesPem?: string;
      readonly email?: string;
      readonly hostname?: string;
      readonly rekorKeyPem?: string;
    };

export interface VerifyImageKeylessOptions {
  readonly trust: CertificateTrust;
  readonly signedIdentity: SignedIdentity;
  readonly signal: AbortSignal;
  readonly maxLayers?: number;
  readonly maxPayloadBytes?: number;
}

/** What happened to one layer of the signature manifest. */
export type KeylessLayerOutcome =
  | {
      readonly index: number;
      readonly digest: string;
      readonly status: 'verified';
      readonly dockerReference: string;
      readonly emails: readonly string[];
      readonly dnsNames: readonly string[];
      readonly oidcIssuer?: string;
      readonly rekor?: RekorEvidence;
    }
  | {
      readonly index: number;
      readonly digest: string;
      readonly status: 'rejected';
      readonly code: KeylessErrorCode;
      readonly message: string;
    }
  | {
      readonly index: number;
      readonly digest: string;
      readonly status: 'skipped';
      readonly mediaType: string;
    };

/** The result of verifying an image's certificate-signed cosign signatures. */
export type KeylessSignatureVerdict =
  | {
      readonly status: 'verified';
      readonly image: string;
      readonly signatureManifest: SignatureManifestRef;
      readonly layers: readonly KeylessLayerOutcome[];
    }
  | {
      readonly status: 'unsigned';
      readonly image: string;
      readonly signatureTag: string;
      readonly detail: string;
    }
  | {
      readonly status: 'rejected';
      readonly image: string;
      readonly code: KeylessErrorCode;
      readonly message: string;
      readonly signatureManifest?: SignatureManifestRef;
      readonly layers: readonly KeylessLayerOutcome[];
    };

interface Context {
  readonly client: RegistryClient;
  readonly repository: RegistryRepository;
  readonly digest: string;
  readonly identityReference: DockerReference;
  readonly trust: CertificateTrust;
  readonly roots: CertificateRoots;
  readonly rekorKey: VerificationKey | undefined;
  readonly signedIdentity: SignedIdentity;
  readonly maxPayloadBytes: number;
  readonly signal: AbortSignal;
}

/**
 * Verifies the legacy cosign signatures of an image by digest against a certificate root of
 * trust (FulcioCAWithRekor or PKI). Per simplesigning layer: the certificate annotation's key
 * must be bound by a valid Rekor SET (required for Fulcio) to the same signature and payload
 * hash, the certificate must chain to a configured CA (the chain annotation's certificates but
 * its last may serve as untrusted intermediates, as in containers/image) and be valid at the
 * SET's integratedTime (PKI without a SET: now), with the CodeSigning EKU and the configured
 * subject; the signature must verify over the raw payload with the
 * certificate's key; then the payload is parsed and its identity checked. At least one layer
 * must pass. Configuration errors and registry failures throw.
 */
export async function verifyImageKeylessSignatures(
  client: RegistryClient,
  image: ImageToVerify,
  options: VerifyImageKeylessOptions,
): Promise<KeylessSignatureVerdict> {
  const { trust } = options;
  const roots =
    trust.type === 'fulcio'
      ? parseFulcioRoots(trust.fulcioCaPem)
      : parsePkiRoots(trust.caRootsPem, trust.caIntermediatesPem);
  const rekorKey = trust.rekorKeyPem !== undefined ? parsePublicKey(trust.rekorKeyPem) : undefined;
  validateSignedIdentity(options.signedIdentity);
  const resolved = resolveImage(image);
  const { digest, shown, identityReference, repository } = resolved;
  const maxLayers = options.maxLayers ?? MAX_SIGNATURE_LAYERS;
  const lookup = await fetchSignatureManifest(client, resolved, {
    signal: options.signal,
    maxLayers,
  });
  if (lookup.kind !== 'found') return verdictWithoutLayers(lookup, resolved);
  const { signatureManifest } = lookup;
  const context: Context = {
    client,
    repository,
    digest,
    identityReference,
    trust,
    roots,
    rekorKey,
    signedIdentity: options.signedIdentity,
    maxPayloadBytes: options.maxPayloadBytes ?? MAX_PAYLOAD_BYTES,
    signal: options.signal,
  };
  const layers = await checkLayers(
    lookup.layers,
    (index, layer) => verifyLayer(context, index, layer),
    options.signal,
  );
  if (layers.some((layer) => layer.status === 'verified')) {
    return { status: 'verified', image: shown, signatureManifest, layers };
  }
  return {
    status: 'rejected',
    image: shown,
    ...rejectionOf(layers, resolved.signatureTag, SIMPLE_SIGNING_MEDIA_TYPE),
    signatureManifest,
    layers,
  };
}

async function verifyLayer(
  context: Context,
  index: number,
  layer: Descriptor,
): Promise<KeylessLayerOutcome> {
  const { digest } = layer;
  if (layer.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE) {
    return { index, digest, status: 'skipped', mediaType: layer.mediaType };
  }
  try {
    const annotations = layer.annotations ?? {};
    const signatureBase64 = annotations[SIGNATURE_ANNOTATION];
    if (signatureBase64 === undefined) {
      throw new SigstoreError('SIGNATURE_MISSING', `no ${SIGNATURE_ANNOTATION} annotation`);
    }
    const certificatePem = annotations[CERTIFICATE_ANNOTATION];
    if (certificatePem === undefined) {
      throw new CertificateError('CERTIFICATE_MISSING', `no ${CERTIFICATE_ANNOTATION} annotation`);
    }
    const bundle = annotations[BUNDLE_ANNOTATION];
    if (bundle === undefined && context.trust.type === 'fulcio') {
      throw new SigstoreError(
        'REKOR_BUNDLE_MISSING',
        `a Fulcio root of trust needs a Rekor SET, and the layer has no ${BUNDLE_ANNOTATION} annotation`,
      );
    }
    const payload = await fetchSignaturePayload(context, layer);
    // Untrusted until the chain is checked, but needed to bind the Rekor entry, which gives
    // the time the chain is checked at.
    const untrusted = readCertificateKey(certificatePem);
    // Nothing in the payload is looked at before its signature verifies.
    const signature = verifyPayloadSignature(untrusted.key, payload, signatureBase64);
    let rekor: RekorEvidence | undefined;
    if (context.rekorKey !== undefined && bundle !== undefined) {
      rekor = verifyRekorBundle({
        bundle,
        rekorKey: context.rekorKey,
        signingKey: untrusted.key,
        signature,
        payload,
      });
      checkEntryCertificate(bundle, untrusted.der);
    } else if (context.rekorKey !== undefined) {
      throw new SigstoreError(
        'REKOR_BUNDLE_MISSING',
        `a Rekor key is configured but the layer has no ${BUNDLE_ANNOTATION} annotation`,
      );
    }
    // Signer-supplied intermediates: they can only fill a gap up to a configured CA.
    const untrustedChainPem = annotations[CHAIN_ANNOTATION];
    const verified = verifyCertificate(context, certificatePem, untrustedChainPem, rekor);
    const claims = parseCosignPayload(payload, context.maxPayloadBytes);
    if (claims.dockerManifestDigest !== context.digest) {
      throw new SigstoreError(
        'PAYLOAD_DIGEST_MISMATCH',
        `the payload signs ${claims.dockerManifestDigest}, not ${context.digest}`,
      );
    }
    if (
      !matchesSignedIdentity(
        context.signedIdentity,
        context.identityReference,
        claims.dockerReference,
      )
    ) {
      throw new SigstoreError(
        'IDENTITY_MISMATCH',
        `the signed identity ${JSON.stringify(claims.dockerReference.slice(0, 300))} does not match ` +
          `${formatDockerReference(context.identityReference)} under ${context.signedIdentity.type}`,
      );
    }
    return {
      index,
      digest,
      status: 'verified',
      dockerReference: claims.dockerReference,
      emails: verified.emails,
      dnsNames: verified.dnsNames,
      ...(verified.oidcIssuer !== undefined ? { oidcIssuer: verified.oidcIssuer } : {}),
      ...(rekor !== undefined ? { rekor } : {}),
    };
  } catch (err) {
    if (isSigstoreError(err)) {
      return { index, digest, status: 'rejected', code: err.sigstoreCode, message: err.message };
    }
    if (isCertificateError(err) && err.certificateCode !== 'CERTIFICATE_ROOTS_INVALID') {
      return { index, digest, status: 'rejected', code: err.certificateCode, message: err.message };
    }
    throw err;
  }
}

function verifyCertificate(
  context: Context,
  certificatePem: string,
  untrustedChainPem: string | undefined,
  rekor: RekorEvidence | undefined,
): VerifiedCertificate {
  const chain = untrustedChainPem !== undefined ? { untrustedChainPem } : {};
  const { trust } = context;
  if (trust.type === 'fulcio') {
    if (rekor === undefined) {
      throw new SigstoreError('REKOR_BUNDLE_MISSING', 'a Fulcio certificate needs a Rekor SET');
    }
    return verifyFulcioCertificate({
      certificatePem,
      roots: context.roots,
      ...chain,
      oidcIssuer: trust.oidcIssuer,
      signedEmail: trust.signedEmail,
      integratedTime: rekor.integratedTime,
    });
  }
  return verifyPkiCertificate({
    certificatePem,
    roots: context.roots,
    ...chain,
    ...(trust.email !== undefined ? { email: trust.email } : {}),
    ...(trust.hostname !== undefined ? { hostname: trust.hostname } : {}),
    ...(rekor !== undefined ? { at: rekor.integratedTime } : {}),
  });
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
    throw new SigstoreError('REKOR_BUNDLE_INVALID', 'the log entry certificate cannot be read', {
      cause: err,
    });
  }
  if (!entryDer.equals(leafDer)) {
    throw new SigstoreError('REKOR_ENTRY_MISMATCH', 'the log entry is for another certificate');
  }
}
