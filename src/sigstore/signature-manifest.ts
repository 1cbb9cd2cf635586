import { VerifyError } from '../errors.js';
import type { RegistryClient, RegistryRepository } from '../registry/client.js';
import { isRegistryError } from '../registry/errors.js';
import { DOCKER_MANIFEST, OCI_MANIFEST } from '../registry/manifest.js';
import type { Descriptor } from '../registry/manifest.js';
import { SigstoreError } from './errors.js';
import { formatDockerReference, parseDockerReference } from './signed-identity.js';
import type { DockerReference } from './signed-identity.js';

/** The image a legacy cosign signature manifest is looked up for, resolved once. */
export interface ResolvedImage {
  /** The digest every payload must sign. */
  readonly digest: string;
  /** The reference as shown in verdicts. */
  readonly shown: string;
  /** What signed identities are matched against (by tag when a tag was given). */
  readonly identityReference: DockerReference;
  readonly repository: RegistryRepository;
  /** `sha256-<hex>.sig` */
  readonly signatureTag: string;
}

/** Resolves host/path/tag/digest into the references the signature checks need. */
export function resolveImage(image: {
  host: string;
  path: string;
  digest: string;
  tag?: string;
  source?: RegistryRepository;
}): ResolvedImage {
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

/** What the `.sig` tag holds: nothing (unsigned), something unusable, or signature layers. */
export type SignatureManifestLookup =
  | { readonly kind: 'unsigned'; readonly detail: string }
  | {
      readonly kind: 'rejected';
      readonly code: 'TOO_MANY_SIGNATURES' | 'INVALID_SIGNATURE_MANIFEST';
      readonly message: string;
      readonly signatureManifest?: { readonly tag: string; readonly digest: string };
    }
  | {
      readonly kind: 'found';
      readonly signatureManifest: { readonly tag: string; readonly digest: string };
      readonly layers: readonly Descriptor[];
    };

/**
 * Fetches the legacy cosign signature manifest of an image: a missing tag means unsigned (not an
 * error), more than `maxLayers` layers or an index is refused; registry failures throw.
 */
export async function fetchSignatureManifest(
  client: RegistryClient,
  image: ResolvedImage,
  options: { readonly signal: AbortSignal; readonly maxLayers: number },
): Promise<SignatureManifestLookup> {
  const tag = image.signatureTag;
  let found;
  try {
    found = await client.getManifest(image.repository, tag, {
      signal: options.signal,
      accept: [OCI_MANIFEST, DOCKER_MANIFEST],
      maxLayers: options.maxLayers,
    });
  } catch (err) {
    if (isRegistryError(err, 'TOO_MANY_LAYERS')) {
      return {
        kind: 'rejected',
        code: 'TOO_MANY_SIGNATURES',
        message: `the signature manifest ${tag} has more than ${options.maxLayers} layers`,
      };
    }
    throw err;
  }
  if (found.status === 'not-found') return { kind: 'unsigned', detail: found.detail };
  const signatureManifest = { tag, digest: found.digest };
  if (found.manifest.kind !== 'image') {
    return {
      kind: 'rejected',
      code: 'INVALID_SIGNATURE_MANIFEST',
      message: `${tag} holds an index, not a signature manifest`,
      signatureManifest,
    };
  }
  return { kind: 'found', signatureManifest, layers: found.manifest.layers };
}

/** The part of a layer outcome the shared verdict logic reads. */
export type LayerOutcomeLike<C extends string> =
  | { readonly status: 'verified' | 'skipped' }
  | { readonly status: 'rejected'; readonly code: C; readonly message: string };

/** Runs `check` on every layer in order, stopping with ABORTED when the signal fires. */
export async function checkLayers<O>(
  layers: readonly Descriptor[],
  check: (index: number, layer: Descriptor) => Promise<O>,
  signal: AbortSignal,
): Promise<O[]> {
  const outcomes: O[] = [];
  for (const [index, layer] of layers.entries()) {
    if (signal.aborted) {
      throw new VerifyError('ABORTED', 'signature verification was aborted', {
        cause: signal.reason,
      });
    }
    outcomes.push(await check(index, layer));
  }
  return outcomes;
}

/** Why no layer verified: the first rejection, or that no signature layer was there at all. */
export function rejectionOf<C extends string>(
  outcomes: readonly LayerOutcomeLike<C>[],
  signatureTag: string,
  signatureMediaType: string,
): { code: C | 'SIGNATURE_MISSING'; message: string } {
  for (const outcome of outcomes) {
    if (outcome.status === 'rejected') return { code: outcome.code, message: outcome.message };
  }
  return {
    code: 'SIGNATURE_MISSING',
    message: `${signatureTag} has no ${signatureMediaType} layer`,
  };
}

/** A signature payload blob, digest-checked and size-capped by the client, with sigstore codes. */
export async function fetchSignaturePayload(
  context: {
    readonly client: RegistryClient;
    readonly repository: RegistryRepository;
    readonly signal: AbortSignal;
    readonly maxPayloadBytes: number;
  },
  layer: Descriptor,
): Promise<Uint8Array> {
  try {
    return await context.client.getBlob(context.repository, layer, {
      signal: context.signal,
      maxBytes: context.maxPayloadBytes,
    });
  } catch (err) {
    if (isRegistryError(err, 'OVERSIZE'))
      throw new SigstoreError('PAYLOAD_OVERSIZE', err.message, { cause: err });
    if (isRegistryError(err, 'DIGEST_MISMATCH') || isRegistryError(err, 'BLOB_NOT_FOUND')) {
      throw new SigstoreError('PAYLOAD_UNAVAILABLE', err.message, { cause: err });
    }
    throw err;
  }
}

/** The verdict when the lookup already decides it (no `.sig` tag, or an unusable manifest). */
export function verdictWithoutLayers(
  lookup: Exclude<SignatureManifestLookup, { kind: 'found' }>,
  image: ResolvedImage,
):
  | { status: 'unsigned'; image: string; signatureTag: string; detail: string }
  | {
      status: 'rejected';
      image: string;
      code: 'TOO_MANY_SIGNATURES' | 'INVALID_SIGNATURE_MANIFEST';
      message: string;
      signatureManifest?: { readonly tag: string; readonly digest: string };
      layers: never[];
    } {
  if (lookup.kind === 'unsigned') {
    return {
      status: 'unsigned',
      image: image.shown,
      signatureTag: image.signatureTag,
      detail: lookup.detail,
    };
  }
  return {
    status: 'rejected',
    image: image.shown,
    code: lookup.code,
    message: lookup.message,
    ...(lookup.signatureManifest !== undefined
      ? { signatureManifest: lookup.signatureManifest }
      : {}),
    layers: [],
  };
}
