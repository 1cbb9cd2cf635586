import { VerifyError } from '../errors.js';
import type { RegistryClient, RegistryRepository } from '../registry/client.js';
import { isRegistryError } from '../registry/errors.js';
import { DOCKER_MANIFEST, OCI_MANIFEST } from '../registry/manifest.js';
import type { Descriptor } from '../registry/manifest.js';
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
    repository: { host: image.host, path: image.path },
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
