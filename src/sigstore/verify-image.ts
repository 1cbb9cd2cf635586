import type { RegistryClient, RegistryRepository } from '../registry/client.js';
import type { Descriptor } from '../registry/manifest.js';
import { isSigstoreError, SigstoreError } from './errors.js';
import type { SigstoreErrorCode } from './errors.js';
import { MAX_PAYLOAD_BYTES, parseCosignPayload, SIMPLE_SIGNING_MEDIA_TYPE } from './payload.js';
import { parsePublicKey, SIGNATURE_ANNOTATION, verifyPayloadSignature } from './public-key.js';
import type { VerificationKey } from './public-key.js';
import { BUNDLE_ANNOTATION, verifyRekorBundle } from './rekor-set.js';
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

/**
 * Layers of one signature manifest we look at. cosign appends one layer per signature; a
 * handful is normal. Beyond this the manifest is refused unread (each layer costs a blob fetch).
 */
export const MAX_SIGNATURE_LAYERS = 32;

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
  readonly source?: RegistryRepository;
}

export interface VerifyImageSignaturesOptions {
  /** PEM `PUBLIC KEY` the signatures must verify with. */
  readonly publicKeyPem: string;
  /** PEM Rekor public key; when set, every accepted signature needs a valid Rekor SET. */
  readonly rekorKeyPem?: string;
  readonly signedIdentity: SignedIdentity;
  readonly signal: AbortSignal;
  readonly maxLayers?: number;
  readonly maxPayloadBytes?: number;
}

/** What happened to one layer of the signature manifest. */
export type LayerOutcome =
  | {
      readonly index: number;
      readonly digest: string;
      readonly status: 'verified';
      readonly dockerReference: string;
      readonly rekor?: RekorEvidence;
    }
  | {
      readonly index: number;
      readonly digest: string;
      readonly status: 'rejected';
      readonly code: SigstoreErrorCode;
      readonly message: string;
    }
  | {
      readonly index: number;
      readonly digest: string;
      readonly status: 'skipped';
      readonly mediaType: string;
    };

export interface SignatureManifestRef {
  readonly tag: string;
  readonly digest: string;
}

/** The result of verifying an image's legacy cosign signatures, with the evidence. */
export type ImageSignatureVerdict =
  | {
      readonly status: 'verified';
      readonly image: string;
      readonly signatureManifest: SignatureManifestRef;
      readonly layers: readonly LayerOutcome[];
    }
  | {
      /** No `sha256-<hex>.sig` tag: nothing to verify (a policy decides if that is allowed). */
      readonly status: 'unsigned';
      readonly image: string;
      readonly signatureTag: string;
      readonly detail: string;
    }
  | {
      readonly status: 'rejected';
      readonly image: string;
      /** The first rejected layer's code, or why the manifest itself was refused. */
      readonly code: SigstoreErrorCode;
      readonly message: string;
      readonly signatureManifest?: SignatureManifestRef;
      readonly layers: readonly LayerOutcome[];
    };

interface LayerContext {
  readonly client: RegistryClient;
  readonly repository: RegistryRepository;
  /** The digest every payload must sign. */
  readonly digest: string;
  /** The reference signed identities are matched against. */
  readonly identityReference: DockerReference;
  readonly key: VerificationKey;
  readonly rekorKey: VerificationKey | undefined;
  readonly signedIdentity: SignedIdentity;
  readonly maxPayloadBytes: number;
  readonly signal: AbortSignal;
}

/**
 * Verifies the legacy cosign signatures of an image by digest with a public key. Fetches the
 * `sha256-<hex>.sig` manifest (absent → `unsigned`); for each simplesigning layer, fetches the
 * payload blob (digest checked), verifies the signature over its raw bytes, then the Rekor SET
 * when a Rekor key is configured, then parses the payload strictly (type, digest equal to the
 * image's) and checks the claimed identity against `signedIdentity`. At least one layer must
 * pass. Configuration errors and registry failures (network, auth, timeouts) throw; anything
 * wrong with the signatures themselves is a `rejected` verdict.
 */
export async function verifyImageSignatures(
  client: RegistryClient,
  image: ImageToVerify,
  options: VerifyImageSignaturesOptions,
): Promise<ImageSignatureVerdict> {
  const key = parsePublicKey(options.publicKeyPem);
  const rekorKey =
    options.rekorKeyPem !== undefined ? parsePublicKey(options.rekorKeyPem) : undefined;
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

  const context: LayerContext = {
    client,
    repository,
    digest,
    identityReference,
    key,
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
  context: LayerContext,
  index: number,
  layer: Descriptor,
): Promise<LayerOutcome> {
  const { digest } = layer;
  if (layer.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE) {
    return { index, digest, status: 'skipped', mediaType: layer.mediaType };
  }
  try {
    const signatureBase64 = layer.annotations?.[SIGNATURE_ANNOTATION];
    if (signatureBase64 === undefined) {
      throw new SigstoreError('SIGNATURE_MISSING', `no ${SIGNATURE_ANNOTATION} annotation`);
    }
    const payload = await fetchSignaturePayload(context, layer);
    // Order matters: nothing in the payload is looked at before its signature verifies.
    const signature = verifyPayloadSignature(context.key, payload, signatureBase64);
    let rekor: RekorEvidence | undefined;
    if (context.rekorKey !== undefined) {
      const bundle = layer.annotations?.[BUNDLE_ANNOTATION];
      if (bundle === undefined) {
        throw new SigstoreError(
          'REKOR_BUNDLE_MISSING',
          `a Rekor key is configured but the layer has no ${BUNDLE_ANNOTATION} annotation`,
        );
      }
      rekor = verifyRekorBundle({
        bundle,
        rekorKey: context.rekorKey,
        signingKey: context.key,
        signature,
        payload,
      });
    }
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
      ...(rekor !== undefined ? { rekor } : {}),
    };
  } catch (err) {
    if (isSigstoreError(err)) {
      return { index, digest, status: 'rejected', code: err.sigstoreCode, message: err.message };
    }
    throw err;
  }
}

/** The payload blob; content problems become layer rejections, transport problems throw. */
