import { VerifyError } from '../errors.js';
import { parsePullspec } from '../image/pullspec.js';
import { goUrlParseFails } from '../image/go-parse.js';
import type { DigestPullspec, Pullspec } from '../image/pullspec.js';
import { isJsonObject, parseStrictJson, StrictJsonError } from '../json/strict-json.js';
import type { JsonValue } from '../json/strict-json.js';

/**
 * Largest `image-references` accepted. 4.17's holds ~190 tags in ~150 KiB; 4 MiB is also the
 * manifest and signature limit of containers/image.
 */
export const MAX_IMAGE_REFERENCES_BYTES = 4 * 1024 * 1024;
/** Largest `release-metadata` accepted. Real ones are a few KiB (a version and its previous ones). */
export const MAX_RELEASE_METADATA_BYTES = 1024 * 1024;
/** Most tags accepted in `image-references`: ten times what a release carries today. */
export const MAX_IMAGE_REFERENCE_TAGS = 2000;
/** Most `previous` versions accepted in `release-metadata` (4.17 lists a few dozen). */
export const MAX_PREVIOUS_VERSIONS = 5000;
/** ImageStream tag names are Kubernetes names at most (DNS-1123 subdomain length). */
const MAX_TAG_NAME_LENGTH = 253;
/** metadata.name of image-references is the release version; bounded like a Kubernetes name. */
const MAX_RELEASE_NAME_LENGTH = 253;
/** Bounds the semver check; real versions are ~30 characters (`4.17.0-0.nightly-2024-…`). */
const MAX_VERSION_LENGTH = 256;
/** parsePullspec's own limit, checked here first so the message names the field. */
const MAX_PULLSPEC_LENGTH = 4096;
/** Values quoted in error messages are cut here so a hostile file cannot flood logs. */
const MAX_QUOTED_LENGTH = 200;

const IMAGE_REFERENCES = 'image-references';
const RELEASE_METADATA = 'release-metadata';
const IMAGE_STREAM_KIND = 'ImageStream';
const IMAGE_STREAM_API_VERSION = 'image.openshift.io/v1';
const DOCKER_IMAGE_KIND = 'DockerImage';
const CINCINNATI_METADATA_KIND = 'cincinnati-metadata-v0';

// semver.org's recommended expression (2.0.0), without capture groups.
const SEMVER_RE =
  /^(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)(?:-(?:(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+(?:[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

/** One `spec.tags[]` entry of `image-references`: a payload component and its image. */
export interface ReleaseComponent {
  readonly tag: string;
  readonly pullspec: DigestPullspec;
}

/** `release-manifests/image-references`: the release name (its version) and its components. */
export interface ImageReferences {
  /** `metadata.name`, the release version. */
  readonly name: string;
  /** In file order. */
  readonly components: readonly ReleaseComponent[];
}

/** `release-manifests/release-metadata` (Cincinnati metadata). */
export interface ReleaseMetadata {
  readonly version: string;
  /** Versions that may update to this one; empty when absent. */
  readonly previous: readonly string[];
  /**
   * Free-form annotations (e.g. `url`), any JSON value as the CVO reads them
   * (`map[string]interface{}`); empty when absent.
   */
  readonly metadata: Readonly<Record<string, unknown>>;
}

/** One image referenced by one or more tags of `image-references`. */
export interface UniqueComponent {
  readonly pullspec: DigestPullspec;
  readonly tags: readonly string[];
}

type JsonObject = { readonly [key: string]: JsonValue };

function quote(value: string): string {
  const shown = value.length > MAX_QUOTED_LENGTH ? `${value.slice(0, MAX_QUOTED_LENGTH)}…` : value;
  return JSON.stringify(shown);
}

function typeOf(value: JsonValue | undefined): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function invalid(file: string, problem: string, cause?: unknown): VerifyError {
  return new VerifyError(
    'INVALID_CONTENT',
    `${file}: ${problem}`,
    cause === undefined ? {} : { cause },
  );
}

/** Size cap, fatal UTF-8 decoding (a BOM is kept, so the JSON parser rejects it as Go's does). */
function decodeJson(bytes: Uint8Array, file: string, maxBytes: number): JsonValue {
  if (bytes.byteLength > maxBytes) {
    throw invalid(file, `file is ${bytes.byteLength} bytes, more than the limit of ${maxBytes}`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (err) {
    throw invalid(file, 'file is not valid UTF-8', err);
  }
  try {
    return parseStrictJson(text, { maxLength: maxBytes });
  } catch (err) {
    if (!(err instanceof StrictJsonError)) throw err;
    throw invalid(file, `invalid JSON: ${err.message}`, err);
  }
}

function requireObject(value: JsonValue | undefined, file: string, path: string): JsonObject {
  if (!isJsonObject(value)) throw invalid(file, `${path} must be an object, got ${typeOf(value)}`);
  return value;
}

function requireArray(
  value: JsonValue | undefined,
  file: string,
  path: string,
  maxItems: number,
): readonly JsonValue[] {
  if (!Array.isArray(value)) throw invalid(file, `${path} must be an array, got ${typeOf(value)}`);
  if (value.length > maxItems) {
    throw invalid(file, `${path} has ${value.length} entries, more than the limit of ${maxItems}`);
  }
  return value;
}

function requireString(
  value: JsonValue | undefined,
  file: string,
  path: string,
  maxLength: number,
): string {
  if (typeof value !== 'string') {
    throw invalid(file, `${path} must be a string, got ${typeOf(value)}`);
  }
  if (value.length === 0) throw invalid(file, `${path} must not be empty`);
  if (value.length > maxLength) {
    throw invalid(file, `${path} is longer than ${maxLength} characters`);
  }
  return value;
}

function requireConstant(object: JsonObject, key: string, expected: string, file: string): void {
  const value = object[key];
  if (value !== expected) {
    const got = typeof value === 'string' ? quote(value) : typeOf(value);
    throw invalid(file, `${key} must be ${quote(expected)}, got ${got}`);
  }
}

function requireSemver(value: JsonValue | undefined, file: string, path: string): string {
  const version = requireString(value, file, path, MAX_VERSION_LENGTH);
  if (!SEMVER_RE.test(version)) {
    throw invalid(
      file,
      `${path} ${quote(version)} is not a semantic version (x.y.z[-pre][+build])`,
    );
  }
  return version;
}

function parseComponentPullspec(raw: string, path: string): DigestPullspec {
  let parsed: Pullspec;
  try {
    parsed = parsePullspec(raw);
  } catch (err) {
    if (!(err instanceof VerifyError)) throw err;
    throw invalid(
      IMAGE_REFERENCES,
      `${path} ${quote(raw)} is not a valid pullspec: ${err.message}`,
      err,
    );
  }
  const { digest } = parsed;
  if (digest === undefined) {
    throw invalid(IMAGE_REFERENCES, `${path} ${quote(raw)} is not by digest`);
  }
  // Release payloads pin components by sha256; anything else is not what `oc adm release new` writes.
  if (!digest.startsWith('sha256:')) {
    throw invalid(IMAGE_REFERENCES, `${path} ${quote(raw)} is not by sha256 digest`);
  }
  return { ...parsed, digest };
}

/**
 * Parses `release-manifests/image-references`, the ImageStream listing the payload's component
 * images. Unknown fields are ignored; the fields used are checked strictly: every tag has a
 * unique name and a `DockerImage` pullspec by sha256 digest. Throws {@link VerifyError}
 * `INVALID_CONTENT` naming the field at fault.
 */
export function parseImageReferences(bytes: Uint8Array): ImageReferences {
  const file = IMAGE_REFERENCES;
  const root = requireObject(decodeJson(bytes, file, MAX_IMAGE_REFERENCES_BYTES), file, 'document');
  requireConstant(root, 'kind', IMAGE_STREAM_KIND, file);
  requireConstant(root, 'apiVersion', IMAGE_STREAM_API_VERSION, file);
  const metadata = requireObject(root.metadata, file, 'metadata');
  const name = requireString(metadata.name, file, 'metadata.name', MAX_RELEASE_NAME_LENGTH);
  const spec = requireObject(root.spec, file, 'spec');
  const tags = requireArray(spec.tags, file, 'spec.tags', MAX_IMAGE_REFERENCE_TAGS);

  const firstIndex = new Map<string, number>();
  const components: ReleaseComponent[] = [];
  for (const [i, entry] of tags.entries()) {
    const path = `spec.tags[${i}]`;
    const tagObject = requireObject(entry, file, path);
    const tag = requireString(tagObject.name, file, `${path}.name`, MAX_TAG_NAME_LENGTH);
    const first = firstIndex.get(tag);
    if (first !== undefined) {
      throw invalid(file, `${path}.name ${quote(tag)} duplicates spec.tags[${first}].name`);
    }
    firstIndex.set(tag, i);
    const from = requireObject(tagObject.from, file, `${path}.from`);
    if (from.kind !== DOCKER_IMAGE_KIND) {
      const got = typeof from.kind === 'string' ? quote(from.kind) : typeOf(from.kind);
      throw invalid(
        file,
        `${path}.from.kind of tag ${quote(tag)} must be ${quote(DOCKER_IMAGE_KIND)}, got ${got}`,
      );
    }
    const raw = requireString(from.name, file, `${path}.from.name`, MAX_PULLSPEC_LENGTH);
    components.push({ tag, pullspec: parseComponentPullspec(raw, `${path}.from.name`) });
  }
  return { name, components };
}

/**
 * Parses `release-manifests/release-metadata` (kind `cincinnati-metadata-v0`) as the CVO loads it
 * (pkg/payload/payload.go loadReleaseMetadata): `version` must be a semantic version, `previous`
 * strings, `metadata` an object of any values. Unknown top-level fields (e.g. `next`) are ignored.
 * Stricter than Go's encoding/json in one way: a duplicate key is refused, where Go takes the
 * last. Throws {@link VerifyError} `INVALID_CONTENT` naming the field at fault.
 */
export function parseReleaseMetadata(bytes: Uint8Array): ReleaseMetadata {
  const file = RELEASE_METADATA;
  const root = requireObject(decodeJson(bytes, file, MAX_RELEASE_METADATA_BYTES), file, 'document');
  requireConstant(root, 'kind', CINCINNATI_METADATA_KIND, file);
  const version = requireSemver(root.version, file, 'version');

  const previous: string[] = [];
  if (root.previous !== undefined && root.previous !== null) {
    const entries = requireArray(root.previous, file, 'previous', MAX_PREVIOUS_VERSIONS);
    for (const [i, entry] of entries.entries())
      previous.push(requireString(entry, file, `previous[${i}]`, MAX_VERSION_LENGTH));
  }

  let entries: [string, unknown][] = [];
  if (root.metadata !== undefined && root.metadata !== null) {
    entries = Object.entries(requireObject(root.metadata, file, 'metadata'));
  }
  // fromEntries defines own properties, so a key named `__proto__` stays an ordinary entry.
  return { version, previous, metadata: Object.fromEntries(entries) };
}

/** What release-metadata's `metadata` says of a release, as the CVO reads it. */
export interface ReleaseFacts {
  /** `Multi` for `release.openshift.io/architecture: multi`; absent otherwise. */
  readonly architecture?: 'Multi';
  readonly url?: string;
  /** Sorted, empty entries dropped; absent when not given. */
  readonly channels?: readonly string[];
  /** What was ignored and why (the CVO logs these and goes on). */
  readonly problems: readonly string[];
}

/**
 * The CVO's cincinnati.ParseMetadata (pkg/cincinnati/cincinnati.go) over release-metadata's
 * `metadata`: `url`, `release.openshift.io/architecture` (only `multi` is known) and
 * `io.openshift.upgrades.graph.release.channels` (comma-separated, sorted). A value it cannot use
 * is left out and named in `problems`, never fatal, as in the CVO.
 */
export function releaseFacts(metadata: ReleaseMetadata): ReleaseFacts {
  const problems: string[] = [];
  const fields = metadata.metadata;
  let url: string | undefined;
  if ('url' in fields) {
    const raw = fields.url;
    if (typeof raw !== 'string') problems.push(`URL is not a string: ${describe(raw)}`);
    else if (goUrlParseFails(raw)) problems.push(`invalid release URL: ${quote(raw)}`);
    else url = raw;
  }
  let architecture: 'Multi' | undefined;
  const architectureKey = 'release.openshift.io/architecture';
  if (architectureKey in fields) {
    const raw = fields[architectureKey];
    if (typeof raw !== 'string')
      problems.push(`${architectureKey} is not a string: ${describe(raw)}`);
    else if (raw === 'multi') architecture = 'Multi';
    else problems.push(`unrecognized ${architectureKey} value ${quote(raw)}`);
  }
  let channels: string[] | undefined;
  const channelsKey = 'io.openshift.upgrades.graph.release.channels';
  if (channelsKey in fields) {
    const raw = fields[channelsKey];
    if (typeof raw !== 'string') {
      problems.push(`${channelsKey} is not a string: ${describe(raw)}`);
    } else if (raw === '') {
      problems.push(`${channelsKey} is an empty string`);
    } else {
      const named = raw.split(',');
      // As the CVO: empty entries named from the last to the first, then dropped.
      for (let i = named.length - 1; i >= 0; i--) {
        if (named[i] === '') {
          problems.push(`${channelsKey} entry ${String(i)} is an empty string: ${quote(raw)}`);
          named.splice(i, 1);
        }
      }
      if (named.length === 0) problems.push(`no non-empty channels in ${channelsKey} []`);
      // Go's sort.Strings: byte order.
      else channels = named.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    }
  }
  return {
    ...(architecture !== undefined ? { architecture } : {}),
    ...(url !== undefined ? { url } : {}),
    ...(channels !== undefined ? { channels } : {}),
    problems,
  };
}

/** A JSON value in a log line (Go prints %v; the value is what matters). */
function describe(value: unknown): string {
  return JSON.stringify(value);
}

/**
 * Groups components by image (repository name and digest), in order of first appearance,
 * keeping every tag that refers to each image.
 */
export function dedupeComponents(components: readonly ReleaseComponent[]): UniqueComponent[] {
  const byImage = new Map<string, { pullspec: DigestPullspec; tags: string[] }>();
  for (const { tag, pullspec } of components) {
    const key = `${pullspec.name}@${pullspec.digest}`;
    const entry = byImage.get(key);
    if (entry === undefined) byImage.set(key, { pullspec, tags: [tag] });
    else entry.tags.push(tag);
  }
  return [...byImage.values()];
}
