import { isVerifyError, VerifyError } from '../errors.js';
import type { DigestPullspec } from '../image/pullspec.js';
import type { RegistryClient, RegistryRepository } from '../registry/client.js';
import { DOCKER_MANIFEST_LIST } from '../registry/manifest.js';
import type { Descriptor, ImageIndex, ImageManifest, Platform } from '../registry/manifest.js';
import { DEFAULT_MAX_UNCOMPRESSED_BYTES, extractFromLayer } from './layer-reader.js';
import type { ExtractLimits, ExtractResult } from './layer-reader.js';
import { parseImageReferences, parseReleaseMetadata } from './release-content.js';
import type { ImageReferences, ReleaseMetadata } from './release-content.js';

export const IMAGE_REFERENCES_PATH = 'release-manifests/image-references';
export const RELEASE_METADATA_PATH = 'release-manifests/release-metadata';
/** The directory whose manifests may hold the release's own verification ConfigMap. */
export const RELEASE_MANIFESTS_DIR = 'release-manifests';
/** The CVO's own manifests (Go-templated when it applies them). */
export const CVO_MANIFESTS_DIR = 'manifests';
/** Both directories the CVO applies every manifest of. */
export const MANIFEST_DIRS: readonly string[] = [CVO_MANIFESTS_DIR, RELEASE_MANIFESTS_DIR];
/** A release image layer's compressed size limit; it is streamed, never held whole. */
export const DEFAULT_MAX_LAYER_BYTES = 512 * 1024 * 1024;
/** Layers a release image may have: every one is read; an image with more is refused. */
export const MAX_RELEASE_LAYERS = 64;
/**
 * Bytes all of one release's layers may decompress to, together. Each layer has its own cap
 * (DEFAULT_MAX_UNCOMPRESSED_BYTES) but a release repeating one small, highly compressible blob as
 * dozens of layers must not cost dozens of times that: the whole read stops here (measured: gzip
 * inflates ~0.5 GiB per CPU second on this 2-core machine, so about 4 s at most). An OpenShift
 * release image is a few hundred MiB uncompressed. The time budget is the caller's signal (the
 * service's payload budget, `verify-payload --timeout`).
 */
export const MAX_RELEASE_UNCOMPRESSED_BYTES = 2 * 1024 * 1024 * 1024;

/** Where to read the release image from: its repository or a mirror of it. */
export interface ReleaseSource extends RegistryRepository {
  readonly name: string;
  readonly mirror: boolean;
}

export interface ReadReleaseOptions {
  readonly signal: AbortSignal;
  /**
   * `os/architecture[/variant]` chosen from a manifest list as containers/image's
   * ChooseInstance chooses (see {@link chooseInstance}); default `linux/amd64`.
   */
  readonly platform?: string;
  /** Every platform of a manifest list instead of one. */
  readonly allPlatforms?: boolean;
  /** Sources in order (mirrors first); default: the pullspec's own repository. */
  readonly sources?: readonly ReleaseSource[];
  readonly maxLayerBytes?: number;
  readonly limits?: ExtractLimits;
  /** Bytes all layers of one platform may decompress to together (tests lower it). */
  readonly maxReleaseUncompressedBytes?: number;
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
  /**
   * Files of `manifests/` and `release-manifests/` by path: what the CVO applies (and where the
   * release's own root of trust is).
   */
  readonly manifests: ReadonlyMap<string, Buffer>;
  readonly layersRead: number;
}

const DEFAULT_PLATFORM = 'linux/amd64';

function platformName(platform: Platform | undefined): string | undefined {
  if (platform === undefined) return undefined;
  return [platform.os, platform.architecture, platform.variant].filter((p) => p).join('/');
}

/**
 * The platform a node asks for: containers/image's SystemContext `OSChoice`,
 * `ArchitectureChoice` and `VariantChoice` (Go names: `amd64`, `arm64`, `ppc64le`, `s390x`).
 */
export interface WantedPlatform {
  readonly os: string;
  readonly architecture: string;
  /** Absent or empty: no variant asked for (which is not the same as `v8` on arm64). */
  readonly variant?: string;
}

/** `os/architecture[/variant]` as a {@link WantedPlatform}; PLATFORM_NOT_FOUND when malformed. */
export function parsePlatform(text: string): WantedPlatform {
  const parts = text.split('/');
  const [os, architecture, variant] = parts;
  if (
    parts.length > 3 ||
    os === undefined ||
    os === '' ||
    architecture === undefined ||
    architecture === '' ||
    variant === ''
  ) {
    throw new VerifyError(
      'PLATFORM_NOT_FOUND',
      `platform ${JSON.stringify(text)} is not OS/ARCH[/VARIANT]`,
    );
  }
  return { os, architecture, ...(variant !== undefined ? { variant } : {}) };
}

/** The zstd instance annotation of an OCI index entry (containers/image writes it when pushing). */
export const ZSTD_INSTANCE_ANNOTATION = 'io.github.containers.compression.zstd';

/**
 * Known variants per architecture, most capable first (containers/image
 * internal/pkg/platform `compatibility`). A Map: an architecture named `constructor` must not
 * find Object.prototype's.
 */
const VARIANT_COMPATIBILITY: ReadonlyMap<string, readonly string[]> = new Map([
  ['arm', ['v8', 'v7', 'v6', 'v5']],
  ['arm64', ['v8']],
]);

/**
 * The variants an instance may have to be chosen, best first (containers/image
 * `WantedPlatforms` when the architecture is given, so nothing is read from the machine).
 * A variant asked for is walked down its compatibility list, then "no variant"; no variant asked
 * for prefers entries without one, then every known variant of the architecture. So `arm64`
 * prefers a plain `linux/arm64` entry and `arm64/v8` a `linux/arm64/v8` one; an unknown variant
 * matches only itself, then "no variant".
 */
export function wantedVariants(wanted: WantedPlatform): readonly string[] {
  const known = VARIANT_COMPATIBILITY.get(wanted.architecture);
  const variant = wanted.variant ?? '';
  if (variant === '') return ['', ...(known ?? [])];
  const at = known?.indexOf(variant) ?? -1;
  return [...(known !== undefined && at !== -1 ? known.slice(at) : [variant]), ''];
}

/**
 * The instance of a manifest list or OCI index that containers/image's `List.ChooseInstance`
 * (v5.42.1) picks for `wanted` — what CRI-O pulls on a node of that platform — or undefined when
 * it finds none. Platform fields are compared exactly (case-sensitive); `os.version`,
 * `os.features`, entry media types and artifact types play no part.
 *
 * - Docker v2s2 list: for each wanted variant in order, the first entry with that os,
 *   architecture and variant. An entry without `platform` never matches; annotations are not
 *   part of the format and are ignored.
 * - OCI index: among matching entries, the best-ranked variant wins; on a tie an entry annotated
 *   `io.github.containers.compression.zstd: "true"` beats one without (ChooseInstance prefers
 *   zstd; CRI-O's pull, copy.Image with PreferGzipInstances unset, chooses the same way); then the
 *   earlier entry. An entry without `platform` matches any platform, ranked below every variant.
 */
export function chooseInstance(list: ImageIndex, wanted: WantedPlatform): Descriptor | undefined {
  const variants = wantedVariants(wanted);
  const rank = (platform: Platform): number =>
    platform.os === wanted.os && platform.architecture === wanted.architecture
      ? variants.indexOf(platform.variant ?? '')
      : -1;
  if (list.mediaType === DOCKER_MANIFEST_LIST) {
    for (let wantedRank = 0; wantedRank < variants.length; wantedRank++) {
      const found = list.manifests.find(
        (m) => m.platform !== undefined && rank(m.platform) === wantedRank,
      );
      if (found !== undefined) return found;
    }
    return undefined;
  }
  let best: { entry: Descriptor; rank: number; zstd: boolean } | undefined;
  for (const entry of list.manifests) {
    const entryRank = entry.platform === undefined ? Infinity : rank(entry.platform);
    if (entryRank === -1) continue;
    const zstd = entry.annotations?.[ZSTD_INSTANCE_ANNOTATION] === 'true';
    // Strictly better only: on a full tie the earlier entry stays.
    if (
      best === undefined ||
      entryRank < best.rank ||
      (entryRank === best.rank && zstd && !best.zstd)
    ) {
      best = { entry, rank: entryRank, zstd };
    }
  }
  return best?.entry;
}

/**
 * The entries some node could be handed by {@link chooseInstance}, for `--all-platforms`: not
 * the `unknown/unknown` entries BuildKit writes for attestations (no node asks for OS
 * `unknown`), nor a Docker list entry without a platform (it never matches). An OCI entry
 * without a platform is kept: any node takes it when nothing else matches.
 */
export function pullableInstances(list: ImageIndex): Descriptor[] {
  return list.manifests.filter((m) =>
    m.platform === undefined
      ? list.mediaType !== DOCKER_MANIFEST_LIST
      : !(m.platform.os === 'unknown' && m.platform.architecture === 'unknown'),
  );
}

/** JSON keys of a list that containers/image reads, by where they occur. */
const LIST_KEYS = [
  'schemaVersion',
  'mediaType',
  'artifactType',
  'manifests',
  'subject',
  'annotations',
];
const ENTRY_KEYS = [
  'mediaType',
  'digest',
  'size',
  'urls',
  'annotations',
  'data',
  'platform',
  'artifactType',
];
const PLATFORM_KEYS = ['architecture', 'os', 'os.version', 'os.features', 'variant', 'features'];

/** Go's encoding/json key folding (per rune, upper then lower: `ſ` is `s`, `K` (Kelvin) is `k`). */
function foldKey(key: string): string {
  return key.replace(/./gsu, (c) => c.toUpperCase().toLowerCase());
}

/**
 * Refuses a list in which a key is another spelling of a field containers/image reads
 * (`Platform`, `ARCHITECTURE`, `digeſt`): Go's encoding/json matches keys case-insensitively, so
 * a node would see a platform or digest that our exact-key parser does not. Fail closed.
 */
export function assertUnambiguousListKeys(bytes: Uint8Array, what: string): void {
  const check = (value: unknown, known: readonly string[], where: string): void => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return;
    for (const key of Object.keys(value)) {
      const folded = foldKey(key);
      const field = known.find((k) => k !== key && k.toLowerCase() === folded);
      if (field !== undefined) {
        throw new VerifyError(
          'INVALID_CONTENT',
          `${what}: ${where} has the key ${JSON.stringify(key)}, which containers/image reads as ${JSON.stringify(field)}`,
        );
      }
    }
  };
  const document = JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown;
  check(document, LIST_KEYS, 'the list');
  const manifests = (document as { manifests?: unknown }).manifests;
  if (!Array.isArray(manifests)) return;
  manifests.forEach((entry: unknown, i) => {
    check(entry, ENTRY_KEYS, `manifests[${i}]`);
    check(
      (entry as { platform?: unknown } | null)?.platform,
      PLATFORM_KEYS,
      `manifests[${i}].platform`,
    );
  });
}

/**
 * Reads a release image by digest: its manifest (or, under a manifest list, the requested
 * platform's or every platform's), then its layers from the top down until
 * `release-manifests/image-references` and `release-metadata` are found, honouring whiteouts.
 * Every byte is fetched by digest and checked against it; layers are decompressed and untarred
 * as streams with the limits of {@link ExtractLimits}; nothing is written to disk.
 *
 * Throws VerifyError: `RELEASE_NOT_FOUND`, `MISSING_FILE`, `PLATFORM_NOT_FOUND`, the layer codes or
 * a registry code.
 */
export async function readReleasePayload(
  client: RegistryClient,
  pullspec: DigestPullspec,
  options: ReadReleaseOptions,
): Promise<ReleasePayload[]> {
  return readInstances(client, pullspec, options, (source, digest, manifest, platform) =>
    readPlatform(client, source, digest, manifest, platform, options, 'payload'),
  );
}

/** A release's metadata as the CVO loads it, without its manifests. */
export interface ReleaseInfo {
  readonly manifestDigest: string;
  readonly platform?: string;
  /** Where it was read (`host/path`). */
  readonly source: string;
  readonly metadata: ReleaseMetadata;
}

/**
 * Reads only what the cluster-version operator needs to name a release: its
 * `release-manifests/release-metadata` (and `image-references`, whose name must agree), for one
 * platform (`options.platform`), layers from the top down until both are found. Cheaper than
 * {@link readReleasePayload}: the layers below them are not fetched.
 *
 * Throws VerifyError as {@link readReleasePayload}.
 */
export async function readReleaseMetadata(
  client: RegistryClient,
  pullspec: DigestPullspec,
  options: Omit<ReadReleaseOptions, 'allPlatforms'>,
): Promise<ReleaseInfo> {
  const [info] = await readInstances(
    client,
    pullspec,
    options,
    async (source, digest, manifest, platform) => {
      const payload = await readPlatform(
        client,
        source,
        digest,
        manifest,
        platform,
        options,
        'metadata',
      );
      return {
        manifestDigest: payload.manifestDigest,
        ...(payload.platform !== undefined ? { platform: payload.platform } : {}),
        source: payload.source,
        metadata: payload.metadata,
      };
    },
  );
  if (info === undefined) throw new Error('unreachable: no release instance read');
  return info;
}

/**
 * Finds the release's manifest in the first source that has it and reads the wanted platform's
 * instance (or every platform's) with `readOne`.
 */
async function readInstances<T>(
  client: RegistryClient,
  pullspec: DigestPullspec,
  options: ReadReleaseOptions,
  readOne: (
    source: ReleaseSource,
    manifestDigest: string,
    manifest: ImageManifest,
    platform: string | undefined,
  ) => Promise<T>,
): Promise<T[]> {
  const sources = options.sources ?? [
    { host: pullspec.host, path: pullspec.path, name: pullspec.name, mirror: false },
  ];
  let lastError: Error | undefined;
  for (const source of sources) {
    let found;
    try {
      found = await client.getManifest(source, pullspec.digest, { signal: options.signal });
    } catch (err) {
      if (!isVerifyError(err) || err.area !== 'registry') throw err;
      lastError = err;
      continue;
    }
    if (found.status === 'not-found') {
      lastError = new VerifyError(
        'RELEASE_NOT_FOUND',
        `release image ${source.name}@${pullspec.digest}: ${found.detail}`,
      );
      continue;
    }
    const manifest = found.manifest;
    if (manifest.kind === 'image') {
      return [await readOne(source, found.digest, manifest, undefined)];
    }
    const where = `release image ${source.name}@${pullspec.digest}`;
    assertUnambiguousListKeys(found.bytes, where);
    let entries: readonly Descriptor[];
    if (options.allPlatforms === true) {
      entries = pullableInstances(manifest);
    } else {
      const wanted = options.platform ?? DEFAULT_PLATFORM;
      const chosen = chooseInstance(manifest, parsePlatform(wanted));
      if (chosen === undefined) {
        const offered = manifest.manifests.map((m) => platformName(m.platform) ?? '?').join(', ');
        throw new VerifyError(
          'PLATFORM_NOT_FOUND',
          `${where} has no ${wanted} image (it has ${offered})`,
        );
      }
      entries = [chosen];
    }
    const results: T[] = [];
    for (const entry of entries) {
      const child = await client.getManifest(source, entry.digest, { signal: options.signal });
      if (child.status === 'not-found' || child.manifest.kind !== 'image') {
        throw new VerifyError(
          'RELEASE_NOT_FOUND',
          `release image ${source.name}@${entry.digest} (${platformName(entry.platform) ?? '?'}) is missing or not an image`,
        );
      }
      results.push(
        await readOne(source, child.digest, child.manifest, platformName(entry.platform)),
      );
    }
    return results;
  }
  throw (
    lastError ?? new VerifyError('RELEASE_NOT_FOUND', `release image ${pullspec.raw} not found`)
  );
}

async function readPlatform(
  client: RegistryClient,
  source: ReleaseSource,
  manifestDigest: string,
  manifest: ImageManifest,
  platform: string | undefined,
  options: ReadReleaseOptions,
  /** `payload`: every manifest too; `metadata`: stop at the layer that completes the two files. */
  scope: 'payload' | 'metadata',
): Promise<ReleasePayload> {
  const wanted = [IMAGE_REFERENCES_PATH, RELEASE_METADATA_PATH];
  const files = new Map<string, Buffer>();
  const manifests = new Map<string, Buffer>();
  const deleted = new Set<string>();
  if (manifest.layers.length > MAX_RELEASE_LAYERS) {
    // Refused, not truncated: a manifest in a layer we did not read would escape the checks.
    throw new VerifyError(
      'LAYER_OVERSIZE',
      `release image ${source.name}@${manifestDigest} has ${manifest.layers.length} layers, over the limit of ${MAX_RELEASE_LAYERS}`,
    );
  }
  const layers = [...manifest.layers].reverse();
  let layersRead = 0;
  // Directories a layer deleted whole: the layers below it add no manifests there.
  const deletedDirs = new Set<string>();
  const allDeleted = (): boolean => MANIFEST_DIRS.every((d) => deletedDirs.has(d));
  const budget = options.maxReleaseUncompressedBytes ?? MAX_RELEASE_UNCOMPRESSED_BYTES;
  let spent = 0;
  for (const layer of layers) {
    // Every layer down to the bottom is read, unless upper ones deleted both manifest
    // directories: the CVO applies every manifest of manifests/ and release-manifests/,
    // wherever its layer is, and each must be seen (the image check in manifest-images.ts).
    const filesSettled = wanted.every((path) => files.has(path) || deleted.has(path));
    if (filesSettled && (scope === 'metadata' || allDeleted())) break;
    const remaining = budget - spent;
    const perLayer = options.limits?.maxUncompressedBytes ?? DEFAULT_MAX_UNCOMPRESSED_BYTES;
    const result = await extractLayer(client, source, layer, manifestDigest, wanted, {
      ...options,
      limits: { ...options.limits, maxUncompressedBytes: Math.min(perLayer, remaining) },
    }).catch((err: unknown) => {
      if (isVerifyError(err, 'LAYER_OVERSIZE') && remaining < perLayer) {
        throw new VerifyError(
          'LAYER_OVERSIZE',
          `release image ${source.name}@${manifestDigest}: its layers decompress to more than ${budget} bytes together (the per-release budget)`,
          { cause: err },
        );
      }
      throw err;
    });
    spent += result.uncompressedBytes;
    layersRead++;
    // A layer's files sit above what it deletes from the layers below it.
    for (const [path, body] of result.files) {
      if (files.has(path) || deleted.has(path)) continue;
      if (wanted.includes(path)) files.set(path, body);
      else if (
        scope === 'payload' &&
        !deletedDirs.has(path.split('/')[0] ?? '') &&
        !manifests.has(path)
      )
        manifests.set(path, body);
    }
    for (const path of result.whiteouts) if (!files.has(path)) deleted.add(path);
    for (const dir of MANIFEST_DIRS) if (result.whiteouts.has(dir)) deletedDirs.add(dir);
  }
  const where = `${source.name}@${manifestDigest}`;
  const references = files.get(IMAGE_REFERENCES_PATH);
  const metadata = files.get(RELEASE_METADATA_PATH);
  if (references === undefined) {
    throw new VerifyError('MISSING_FILE', `release image ${where} has no ${IMAGE_REFERENCES_PATH}`);
  }
  if (metadata === undefined) {
    throw new VerifyError('MISSING_FILE', `release image ${where} has no ${RELEASE_METADATA_PATH}`);
  }
  const parsedReferences = parseImageReferences(references);
  const parsedMetadata = parseReleaseMetadata(metadata);
  // As the CVO loads a payload (pkg/payload/payload.go loadPayloadMetadata): the two files must
  // name the same release.
  if (parsedReferences.name !== parsedMetadata.version) {
    throw new VerifyError(
      'INVALID_CONTENT',
      `release image ${where}: version from image-references (${parsedReferences.name}) differs from release-metadata (${parsedMetadata.version})`,
    );
  }
  return {
    manifestDigest,
    ...(platform !== undefined ? { platform } : {}),
    source: source.name,
    references: parsedReferences,
    metadata: parsedMetadata,
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
        wantedDirectories: MANIFEST_DIRS,
        ...(options.limits !== undefined ? { limits: options.limits } : {}),
        signal: options.signal,
        layer: `layer ${layer.digest} of ${source.name}@${manifestDigest}`,
      });
    },
  });
  if (result === undefined) throw new Error('unreachable: a streamed layer yielded no result');
  return result;
}
