import type { DigestPullspec } from '../image/pullspec.js';
import type { RegistryClient, RegistryRepository } from '../registry/client.js';
import { isRegistryError } from '../registry/errors.js';
import type { Descriptor, ImageManifest, Platform } from '../registry/manifest.js';
import { PayloadError } from './errors.js';
import { extractFromLayer } from './layer-reader.js';
import type { ExtractLimits, ExtractResult } from './layer-reader.js';
import { parseImageReferences, parseReleaseMetadata } from './release-content.js';
import type { ImageReferences, ReleaseMetadata } from './release-content.js';

export const IMAGE_REFERENCES_PATH = 'release-manifests/image-references';
export const RELEASE_METADATA_PATH = 'release-manifests/release-metadata';
/** The directory whose manifests may hold the release's own verification ConfigMap. */
export const RELEASE_MANIFESTS_DIR = 'release-manifests';
/** A release image layer's compressed size limit; it is streamed, never held whole. */
export const DEFAULT_MAX_LAYER_BYTES = 512 * 1024 * 1024;
/** Layers looked at, top down, before giving up on finding the release files. */
export const MAX_RELEASE_LAYERS = 64;

/** Where to read the release image from: its repository or a mirror of it. */
export interface ReleaseSource extends RegistryRepository {
  readonly name: string;
  readonly mirror: boolean;
}

export interface ReadReleaseOptions {
  readonly signal: AbortSignal;
  /** `os/architecture[/variant]` picked from a manifest list (default `linux/amd64`). */
  readonly platform?: string;
  /** Every platform of a manifest list instead of one. */
  readonly allPlatforms?: boolean;
  /** Sources in order (mirrors first); default: the pullspec's own repository. */
  readonly sources?: readonly ReleaseSource[];
  readonly maxLayerBytes?: number;
  readonly limits?: ExtractLimits;
}

/** One platform's release payload, as read from its image. */
export interface ReleasePayload {
  /** The image manifest's digest (the platform's, under a manifest list). */
  readonly manifestDigest: string;
  readonly platform?: string;
  /** Where it was read (`host/path`). */
  readonly source: string;
  readonly references: ImageReferences;
  readonly metadata: ReleaseMetadata;
  /** `release-manifests/*.{yaml,yml,json}` by path, for the release's own root of trust. */
  readonly manifests: ReadonlyMap<string, Buffer>;
  readonly layersRead: number;
}

const DEFAULT_PLATFORM = 'linux/amd64';

function platformName(platform: Platform | undefined): string | undefined {
  if (platform === undefined) return undefined;
  return [platform.os, platform.architecture, platform.variant].filter((p) => p).join('/');
}

/**
 * Reads a release image by digest: its manifest (or, under a manifest list, the requested
 * platform's or every platform's), then its layers from the top down until
 * `release-manifests/image-references` and `release-metadata` are found, honouring whiteouts.
 * Every byte is fetched by digest and checked against it; layers are decompressed and untarred
 * as streams with the limits of {@link ExtractLimits}; nothing is written to disk.
 *
 * Throws PayloadError (`MISSING_FILE`, `PLATFORM_NOT_FOUND`, the layer codes) or RegistryError.
 */
export async function readReleasePayload(
  client: RegistryClient,
  pullspec: DigestPullspec,
  options: ReadReleaseOptions,
): Promise<ReleasePayload[]> {
  const sources = options.sources ?? [
    { host: pullspec.host, path: pullspec.path, name: pullspec.name, mirror: false },
  ];
  let lastError: Error | undefined;
  for (const source of sources) {
    let found;
    try {
      found = await client.getManifest(source, pullspec.digest, { signal: options.signal });
    } catch (err) {
      if (!isRegistryError(err) || err.registryCode === 'ABORTED') throw err;
      lastError = err;
      continue;
    }
    if (found.status === 'not-found') {
      lastError = new PayloadError(
        'MISSING_FILE',
        `release image ${source.name}@${pullspec.digest}: ${found.detail}`,
      );
      continue;
    }
    const manifest = found.manifest;
    if (manifest.kind === 'image') {
      return [await readPlatform(client, source, found.digest, manifest, undefined, options)];
    }
    const wanted = options.platform ?? DEFAULT_PLATFORM;
    const entries = manifest.manifests.filter(
      (m) => options.allPlatforms === true || platformName(m.platform) === wanted,
    );
    if (entries.length === 0) {
      const offered = manifest.manifests.map((m) => platformName(m.platform) ?? '?').join(', ');
      throw new PayloadError(
        'PLATFORM_NOT_FOUND',
        `release image ${source.name}@${pullspec.digest} has no ${wanted} image (it has ${offered})`,
      );
    }
    const payloads: ReleasePayload[] = [];
    for (const entry of entries) {
      const child = await client.getManifest(source, entry.digest, { signal: options.signal });
      if (child.status === 'not-found' || child.manifest.kind !== 'image') {
        throw new PayloadError(
          'MISSING_FILE',
          `release image ${source.name}@${entry.digest} (${platformName(entry.platform) ?? '?'}) is missing or not an image`,
        );
      }
      payloads.push(
        await readPlatform(
          client,
          source,
          child.digest,
          child.manifest,
          platformName(entry.platform),
          options,
        ),
      );
    }
    return payloads;
  }
  throw lastError ?? new PayloadError('MISSING_FILE', `release image ${pullspec.raw} not found`);
}

async function readPlatform(
  client: RegistryClient,
  source: ReleaseSource,
  manifestDigest: string,
  manifest: ImageManifest,
  platform: string | undefined,
  options: ReadReleaseOptions,
): Promise<ReleasePayload> {
  const wanted = [IMAGE_REFERENCES_PATH, RELEASE_METADATA_PATH];
  const files = new Map<string, Buffer>();
  const manifests = new Map<string, Buffer>();
  const deleted = new Set<string>();
  const layers = [...manifest.layers].reverse().slice(0, MAX_RELEASE_LAYERS);
  let layersRead = 0;
  // Set once a layer deletes the whole directory: the layers below it add no manifests.
  let manifestsDeleted = false;
  for (const layer of layers) {
    if (wanted.every((path) => files.has(path) || deleted.has(path))) break;
    const result = await extractLayer(client, source, layer, manifestDigest, wanted, options);
    layersRead++;
    // A layer's files sit above what it deletes from the layers below it.
    for (const [path, body] of result.files) {
      if (files.has(path) || deleted.has(path)) continue;
      if (wanted.includes(path)) files.set(path, body);
      else if (!manifestsDeleted && !manifests.has(path)) manifests.set(path, body);
    }
    for (const path of result.whiteouts) if (!files.has(path)) deleted.add(path);
    if (result.whiteouts.has(RELEASE_MANIFESTS_DIR)) manifestsDeleted = true;
  }
  const where = `${source.name}@${manifestDigest}`;
  const references = files.get(IMAGE_REFERENCES_PATH);
  const metadata = files.get(RELEASE_METADATA_PATH);
  if (references === undefined) {
    throw new PayloadError(
      'MISSING_FILE',
      `release image ${where} has no ${IMAGE_REFERENCES_PATH}`,
    );
  }
  if (metadata === undefined) {
    throw new PayloadError(
      'MISSING_FILE',
      `release image ${where} has no ${RELEASE_METADATA_PATH}`,
    );
  }
  return {
    manifestDigest,
    ...(platform !== undefined ? { platform } : {}),
    source: source.name,
    references: parseImageReferences(references),
    metadata: parseReleaseMetadata(metadata),
    manifests,
    layersRead,
  };
}

/**
 * Streams one layer from the registry through decompression and tar, keeping only the wanted
 * files. The result is used only once the stream's digest has been checked (streamBlob fails
 * otherwise), so nothing read from a substituted layer is ever trusted.
 */
async function extractLayer(
  client: RegistryClient,
  source: RegistryRepository & { readonly name: string },
  layer: Descriptor,
  manifestDigest: string,
  wanted: readonly string[],
  options: ReadReleaseOptions,
): Promise<ExtractResult> {
  let result: ExtractResult | undefined;
  await client.streamBlob(source, layer, {
    signal: options.signal,
    maxBytes: options.maxLayerBytes ?? DEFAULT_MAX_LAYER_BYTES,
    consume: async (chunks) => {
      result = await extractFromLayer(chunks, {
        mediaType: layer.mediaType,
        wanted,
        wantedDirectory: RELEASE_MANIFESTS_DIR,
        ...(options.limits !== undefined ? { limits: options.limits } : {}),
        signal: options.signal,
        layer: `layer ${layer.digest} of ${source.name}@${manifestDigest}`,
      });
    },
  });
  if (result === undefined) throw new Error('unreachable: a streamed layer yielded no result');
  return result;
}
