import { isVerifyError, VerifyError } from '../errors.js';
import type { BundleErrorCode, RegistryErrorCode, SigstoreErrorCode } from '../errors.js';
import type {
  GetBlobOptions,
  GetManifestOptions,
  GetReferrersOptions,
  ManifestResult,
  ReferrersResult,
} from '../registry/client.js';
import { DOCKER_MANIFEST, OCI_MANIFEST } from '../registry/manifest.js';
import type { Descriptor } from '../registry/manifest.js';
import { BUNDLE_ARTIFACT_TYPE, MAX_BUNDLE_BYTES } from './bundle-verify.js';
import { MAX_PAYLOAD_BYTES, SIMPLE_SIGNING_MEDIA_TYPE } from './payload.js';
import type {
  FetchedBlob,
  FetchedBundle,
  FetchedBundles,
  FetchedLayer,
  FetchedLayers,
  ResolvedImage,
  SignatureRepository,
} from './verify-signatures.js';

// The I/O edge of signature verification: reads an image's cosign signatures from a registry,
// within limits, into plain data for verify-signatures.ts. Nothing here verifies a signature.

/**
 * Layers of one signature manifest we look at. cosign appends one layer per signature; a
 * handful is normal. Beyond this the manifest is refused unread (each layer costs a blob fetch).
 */
export const MAX_SIGNATURE_LAYERS = 32;
/** Bundle referrers examined for one image; more are refused unread. */
export const MAX_BUNDLE_REFERRERS = 16;

/**
 * The registry operations reading signatures needs (RegistryClient has them): a manifest by tag
 * or digest, a blob by descriptor (digest-checked, size-capped), and an image's referrers.
 */
export interface SignatureRegistry {
  getManifest(
    repository: SignatureRepository,
    reference: string,
    options: GetManifestOptions,
  ): Promise<ManifestResult>;
  getBlob(
    repository: SignatureRepository,
    descriptor: { readonly digest: string; readonly size?: number },
    options: GetBlobOptions,
  ): Promise<Uint8Array>;
  getReferrers(
    repository: SignatureRepository,
    digest: string,
    options: GetReferrersOptions,
  ): Promise<ReferrersResult>;
}

export interface FetchSignatureLayersOptions {
  readonly signal: AbortSignal;
  /**
   * Annotations a simplesigning layer needs for its payload to be fetched (the verifier's
   * `layerAnnotations`): a layer lacking one is rejected whatever its payload, so it costs no
   * request.
   */
  readonly requiredAnnotations: readonly string[];
  /** Default MAX_SIGNATURE_LAYERS. */
  readonly maxLayers?: number;
}

/**
 * Fetches the legacy cosign signatures of an image: the `sha256-<hex>.sig` manifest (a missing
 * tag, manifest or repository is `unsigned`; more than `maxLayers` layers or an index is
 * `refused`), then, layer by layer in order, the payload of each simplesigning layer carrying
 * the required annotations (capped at MAX_PAYLOAD_BYTES and digest-checked: a payload the
 * registry cannot serve intact is recorded as PAYLOAD_OVERSIZE or PAYLOAD_UNAVAILABLE).
 * Registry failures (network, auth, timeouts) and an aborted signal throw.
 */
export async function fetchSignatureLayers(
  registry: SignatureRegistry,
  image: ResolvedImage,
  options: FetchSignatureLayersOptions,
): Promise<FetchedLayers> {
  const { signal } = options;
  const tag = image.signatureTag;
  const maxLayers = options.maxLayers ?? MAX_SIGNATURE_LAYERS;
  let found: ManifestResult;
  try {
    found = await registry.getManifest(image.repository, tag, {
      signal,
      accept: [OCI_MANIFEST, DOCKER_MANIFEST],
      maxLayers,
    });
  } catch (err) {
    if (isVerifyError(err, 'TOO_MANY_LAYERS')) {
      return {
        kind: 'refused',
        image,
        location: { tag },
        code: 'TOO_MANY_SIGNATURES',
        message: `the signature manifest ${tag} has more than ${maxLayers} layers`,
      };
    }
    throw err;
  }
  if (found.status === 'not-found') {
    return { kind: 'unsigned', image, location: { tag }, detail: found.detail };
  }
  const location = { tag, digest: found.digest };
  if (found.manifest.kind !== 'image') {
    return {
      kind: 'refused',
      image,
      location,
      code: 'INVALID_SIGNATURE_MANIFEST',
      message: `${tag} holds an index, not a signature manifest`,
    };
  }
  const wanted = (layer: Descriptor): boolean =>
    layer.mediaType === SIMPLE_SIGNING_MEDIA_TYPE &&
    options.requiredAnnotations.every((name) => layer.annotations?.[name] !== undefined);
  const signatures = await fetchEach(
    found.manifest.layers,
    signal,
    'signature verification was aborted',
    async (layer): Promise<FetchedLayer> => ({
      digest: layer.digest,
      mediaType: layer.mediaType,
      annotations: layer.annotations ?? {},
      ...(wanted(layer)
        ? {
            payload: await fetchBlob(
              () =>
                registry.getBlob(image.repository, layer, { signal, maxBytes: MAX_PAYLOAD_BYTES }),
              (err) => blobFailure(err, PAYLOAD_FAILURES),
            ),
          }
        : {}),
    }),
  );
  return { kind: 'found', image, location, signatures };
}

/**
 * Fetches the cosign v3 Sigstore bundles of an image: its referrers of the bundle artifact type
 * (none is `unsigned`; more than MAX_BUNDLE_REFERRERS is `refused`), then, referrer by referrer,
 * its manifest and its one bundle layer (capped at MAX_BUNDLE_BYTES). A referrer that is not a
 * one-bundle-layer image manifest whose subject is this image, or whose blobs the registry
 * cannot serve intact, is recorded as its bundle-coded error. Registry failures and an aborted signal
 * throw.
 */
export async function fetchBundleReferrers(
  registry: SignatureRegistry,
  image: ResolvedImage,
  options: { readonly signal: AbortSignal },
): Promise<FetchedBundles> {
  const { signal } = options;
  const found = await registry.getReferrers(image.repository, image.digest, {
    signal,
    artifactType: BUNDLE_ARTIFACT_TYPE,
  });
  const location = { source: found.source };
  const count = found.referrers.length;
  if (count === 0) {
    return {
      kind: 'unsigned',
      image,
      location,
      detail: `no ${BUNDLE_ARTIFACT_TYPE} referrers of ${image.digest}`,
    };
  }
  if (count > MAX_BUNDLE_REFERRERS) {
    return {
      kind: 'refused',
      image,
      location,
      code: 'TOO_MANY_BUNDLES',
      message: `${count} bundle referrers, over the limit of ${MAX_BUNDLE_REFERRERS}`,
    };
  }
  const signatures = await fetchEach(
    found.referrers,
    signal,
    'bundle verification was aborted',
    async (referrer): Promise<FetchedBundle> => ({
      referrer: referrer.digest,
      bundle: await fetchBlob(
        () => fetchBundleBlob(registry, image, referrer.digest, signal),
        (err) =>
          isVerifyError(err) && err.area === 'bundle' ? err : blobFailure(err, BUNDLE_FAILURES),
      ),
    }),
  );
  return { kind: 'found', image, location, signatures };
}

/** The referrer's manifest, checked to be a bundle of this image, then its bundle blob. */
async function fetchBundleBlob(
  registry: SignatureRegistry,
  image: ResolvedImage,
  referrer: string,
  signal: AbortSignal,
): Promise<Uint8Array> {
  const found = await registry.getManifest(image.repository, referrer, {
    signal,
    accept: [OCI_MANIFEST],
    maxLayers: 1,
  });
  if (found.status === 'not-found') {
    throw new VerifyError('BUNDLE_UNAVAILABLE', `referrer ${referrer}: ${found.detail}`);
  }
  const manifest = found.manifest;
  if (manifest.kind !== 'image') {
    throw new VerifyError('BUNDLE_INVALID', `referrer ${referrer} is an index`);
  }
  // The referrers list is the registry's word; the manifest's subject is what the referrer says.
  if (manifest.subject?.digest !== image.digest) {
    throw new VerifyError(
      'BUNDLE_SUBJECT_MISMATCH',
      `referrer ${referrer} refers to ${manifest.subject?.digest ?? 'nothing'}, not ${image.digest}`,
    );
  }
  const [layer] = manifest.layers;
  if (
    manifest.layers.length !== 1 ||
    layer === undefined ||
    layer.mediaType !== BUNDLE_ARTIFACT_TYPE
  ) {
    throw new VerifyError(
      'BUNDLE_INVALID',
      `referrer ${referrer} needs exactly one ${BUNDLE_ARTIFACT_TYPE} layer`,
    );
  }
  return registry.getBlob(image.repository, layer, { signal, maxBytes: MAX_BUNDLE_BYTES });
}

/** Registry errors that mean "this blob cannot be had intact", with the signature's code. */
type BlobFailures<C extends string> = readonly (readonly [RegistryErrorCode, C])[];

const PAYLOAD_FAILURES: BlobFailures<SigstoreErrorCode> = [
  ['OVERSIZE', 'PAYLOAD_OVERSIZE'],
  ['DIGEST_MISMATCH', 'PAYLOAD_UNAVAILABLE'],
  ['BLOB_NOT_FOUND', 'PAYLOAD_UNAVAILABLE'],
];

const BUNDLE_FAILURES: BlobFailures<BundleErrorCode> = [
  ['OVERSIZE', 'BUNDLE_OVERSIZE'],
  ['TOO_MANY_LAYERS', 'BUNDLE_INVALID'],
  ['DIGEST_MISMATCH', 'BUNDLE_UNAVAILABLE'],
  ['BLOB_NOT_FOUND', 'BUNDLE_UNAVAILABLE'],
];

/** The listed registry failure `err` is, as the signature's error; undefined for any other. */
function blobFailure<C extends SigstoreErrorCode | BundleErrorCode>(
  err: unknown,
  failures: BlobFailures<C>,
): VerifyError | undefined {
  for (const [registryCode, code] of failures) {
    if (isVerifyError(err, registryCode)) return new VerifyError(code, err.message, { cause: err });
  }
  return undefined;
}

/**
 * Runs `fetch`, recording what `failure` classifies as the signature's failure; anything else
 * (transport, auth, abort) throws.
 */
async function fetchBlob(
  fetch: () => Promise<Uint8Array>,
  failure: (err: unknown) => VerifyError | undefined,
): Promise<FetchedBlob> {
  try {
    return { status: 'fetched', bytes: await fetch() };
  } catch (err) {
    const error = failure(err);
    if (error === undefined) throw err;
    return { status: 'failed', error };
  }
}

/** Fetches item by item, in order, stopping with ABORTED as soon as the signal has fired. */
async function fetchEach<T, R>(
  items: readonly T[],
  signal: AbortSignal,
  aborted: string,
  fetch: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = [];
  for (const item of items) {
    if (signal.aborted) throw new VerifyError('ABORTED', aborted, { cause: signal.reason });
    results.push(await fetch(item));
  }
  return results;
}
