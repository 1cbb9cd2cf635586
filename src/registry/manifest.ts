import { createHash } from 'node:crypto';

import { parseDigest } from '../image/pullspec.js';
import { isJsonObject, parseStrictJson } from '../json/strict-json.js';
import type { JsonValue } from '../json/strict-json.js';
import { VerifyError } from '../errors.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

export type ImageManifestMediaType = typeof OCI_MANIFEST | typeof DOCKER_MANIFEST;
export type IndexMediaType = typeof OCI_INDEX | typeof DOCKER_MANIFEST_LIST;
export type ManifestMediaType = ImageManifestMediaType | IndexMediaType;

/** Every manifest media type the client asks for and understands. */
export const MANIFEST_MEDIA_TYPES: readonly ManifestMediaType[] = [
  OCI_MANIFEST,
  OCI_INDEX,
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
];

/** cosign signs images with ≤ a few layers; 32 leaves room while bounding blob fetches. */
export const DEFAULT_MAX_LAYERS = 32;
/** Entries of an index or a referrers list (containers/image reads ≤ 128 lookaside signatures). */
export const DEFAULT_MAX_INDEX_MANIFESTS = 128;

export interface Platform {
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
}

/** An OCI content descriptor; only the fields verification uses are kept. */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly platform?: Platform;
}

export interface ImageManifest {
  readonly kind: 'image';
  readonly mediaType: ImageManifestMediaType;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly artifactType?: string;
  readonly subject?: Descriptor;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface ImageIndex {
  readonly kind: 'index';
  readonly mediaType: IndexMediaType;
  readonly manifests: readonly Descriptor[];
  readonly artifactType?: string;
  readonly subject?: Descriptor;
  readonly annotations?: Readonly<Record<string, string>>;
}

export type Manifest = ImageManifest | ImageIndex;

export interface ManifestLimits {
  readonly maxLayers: number;
  readonly maxIndexManifests: number;
}

/** `sha256:<hex>` (or the given algorithm) of `bytes`. */
export function computeDigest(bytes: Uint8Array, algorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** Throws DIGEST_MISMATCH unless `bytes` hash to `expected` (a validated digest). */
export function verifyDigest(bytes: Uint8Array, expected: string, what: string): void {
  const algorithm = expected.slice(0, expected.indexOf(':'));
  const actual = computeDigest(bytes, algorithm);
  if (actual !== expected) {
    throw new VerifyError(
      'DIGEST_MISMATCH',
      `${what}: content digest ${actual} does not match the expected ${expected}`,
    );
  }
}

/** The OCI 1.1 referrers tag schema: `sha256:<hex>` → `sha256-<hex>` (at most 128 chars). */
export function toReferrersTag(digest: string): string {
  return digest.replace(':', '-').slice(0, 128);
}

/**
 * Parses and validates a manifest or index. The media type comes from the body's `mediaType`,
 * else from the Content-Type, else from the shape (OCI allows omitting it). A body whose
 * `mediaType` contradicts a manifest Content-Type is rejected: two readers must not see two
 * different documents. Duplicate JSON keys are rejected for the same reason.
 */
export function parseManifest(
  bytes: Uint8Array,
  contentType: string | undefined,
  limits: ManifestLimits,
  what: string,
): Manifest {
  const invalid = (why: string, cause?: unknown): never => {
    throw new VerifyError(
      'INVALID_RESPONSE',
      `${what}: ${why}`,
      cause === undefined ? {} : { cause },
    );
  };
  let document: JsonValue;
  try {
    document = parseStrictJson(Buffer.from(bytes).toString('utf8'), {
      maxLength: bytes.length + 1,
    });
  } catch (err) {
    return invalid(`not valid JSON: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  if (!isJsonObject(document)) return invalid('not a JSON object');

  const header = contentType?.split(';')[0]?.trim().toLowerCase();
  const headerType = MANIFEST_MEDIA_TYPES.find((type) => type === header);
  const bodyType = document.mediaType;
  if (bodyType !== undefined && typeof bodyType !== 'string')
    return invalid('mediaType is not a string');
  let mediaType: string;
  if (bodyType !== undefined) {
    if (headerType !== undefined && headerType !== bodyType) {
      return invalid(
        `mediaType ${JSON.stringify(bodyType)} contradicts Content-Type ${headerType}`,
      );
    }
    mediaType = bodyType;
  } else if (headerType !== undefined) {
    mediaType = headerType;
  } else {
    mediaType = Array.isArray(document.manifests) ? OCI_INDEX : OCI_MANIFEST;
  }
  if (document.schemaVersion !== 2) return invalid('schemaVersion is not 2');

  const optionalString = (value: JsonValue | undefined, field: string): string | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== 'string') return invalid(`${field} is not a string`);
    return value;
  };
  const annotationsOf = (
    value: JsonValue | undefined,
    field: string,
  ): Record<string, string> | undefined => {
    if (value === undefined) return undefined;
    if (!isJsonObject(value)) return invalid(`${field} is not an object`);
    const out: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const [key, entry] of Object.entries(value)) {
      if (typeof entry !== 'string')
        return invalid(`${field}[${JSON.stringify(key)}] is not a string`);
      out[key] = entry;
    }
    return out;
  };
  const descriptor = (value: JsonValue | undefined, field: string): Descriptor => {
    if (!isJsonObject(value)) return invalid(`${field} is not a descriptor object`);
    const { mediaType: type, digest, size } = value;
    if (typeof type !== 'string' || type === '') return invalid(`${field}.mediaType is missing`);
    if (typeof digest !== 'string') return invalid(`${field}.digest is missing`);
    try {
      parseDigest(digest);
    } catch (err) {
      return invalid(`${field}.digest ${JSON.stringify(digest)} is not a valid digest`, err);
    }
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      return invalid(`${field}.size is not a non-negative integer`);
    }
    const artifactType = optionalString(value.artifactType, `${field}.artifactType`);
    const annotations = annotationsOf(value.annotations, `${field}.annotations`);
    let platform: Platform | undefined;
    if (value.platform !== undefined) {
      const p = value.platform;
      if (!isJsonObject(p) || typeof p.architecture !== 'string' || typeof p.os !== 'string') {
        return invalid(`${field}.platform needs architecture and os strings`);
      }
      const variant = optionalString(p.variant, `${field}.platform.variant`);
      platform = {
        architecture: p.architecture,
        os: p.os,
        ...(variant !== undefined ? { variant } : {}),
      };
    }
    return {
      mediaType: type,
      digest,
      size,
      ...(artifactType !== undefined ? { artifactType } : {}),
      ...(annotations !== undefined ? { annotations } : {}),
      ...(platform !== undefined ? { platform } : {}),
    };
  };
  const common = (): Pick<Manifest, 'artifactType' | 'subject' | 'annotations'> => {
    const artifactType = optionalString(document.artifactType, 'artifactType');
    const annotations = annotationsOf(document.annotations, 'annotations');
    const subject =
      document.subject === undefined ? undefined : descriptor(document.subject, 'subject');
    return {
      ...(artifactType !== undefined ? { artifactType } : {}),
      ...(subject !== undefined ? { subject } : {}),
      ...(annotations !== undefined ? { annotations } : {}),
    };
  };

  switch (mediaType) {
    case OCI_MANIFEST:
    case DOCKER_MANIFEST: {
      if (document.manifests !== undefined) return invalid('an image manifest with "manifests"');
      const layers = document.layers;
      if (!Array.isArray(layers)) return invalid('layers is not an array');
      if (layers.length > limits.maxLayers) {
        throw new VerifyError(
          'TOO_MANY_LAYERS',
          `${what}: ${layers.length} layers exceed the limit of ${limits.maxLayers}`,
        );
      }
      return {
        kind: 'image',
        mediaType,
        config: descriptor(document.config, 'config'),
        layers: layers.map((layer, i) => descriptor(layer, `layers[${i}]`)),
        ...common(),
      };
    }
    case OCI_INDEX:
    case DOCKER_MANIFEST_LIST: {
      if (document.layers !== undefined) return invalid('an index with "layers"');
      const manifests = document.manifests;
      if (!Array.isArray(manifests)) return invalid('manifests is not an array');
      if (manifests.length > limits.maxIndexManifests) {
        throw new VerifyError(
          'TOO_MANY_MANIFESTS',
          `${what}: ${manifests.length} manifests exceed the limit of ${limits.maxIndexManifests}`,
        );
      }
      return {
        kind: 'index',
        mediaType,
        manifests: manifests.map((entry, i) => descriptor(entry, `manifests[${i}]`)),
        ...common(),
      };
    }
    default:
      return invalid(`unsupported manifest media type ${JSON.stringify(mediaType)}`);
  }
}
