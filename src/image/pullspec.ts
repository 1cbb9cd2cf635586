import { VerifyError } from '../errors.js';

/** A parsed image reference. `name` is the fully qualified repository (host/path). */
export interface Pullspec {
  readonly raw: string;
  readonly host: string;
  /** Repository path below the host, e.g. `openshift-release-dev/ocp-release`. */
  readonly path: string;
  /** `host/path` */
  readonly name: string;
  readonly tag?: string;
  readonly digest?: string;
}

export interface DigestPullspec extends Pullspec {
  readonly digest: string;
}

const DOCKER_HUB = 'docker.io';
/** Docker Hub's legacy name, which distribution/reference normalises to `docker.io`. */
const LEGACY_DOCKER_HUB = 'index.docker.io';
const MAX_PULLSPEC_LENGTH = 4096;

// Grammar from the distribution reference spec (docker/distribution reference/regexp.go).
const HOST_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST = `(?:${HOST_COMPONENT}(?:\\.${HOST_COMPONENT})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]+)?`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const HOST_RE = new RegExp(`^${HOST}$`);
const PATH_COMPONENT_RE = new RegExp(`^${PATH_COMPONENT}$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;

/** The cluster-version operator's digest syntax (parity). */
const CVO_DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** Digest algorithms we can use, with the exact length of their lowercase hex encoding. */
const DIGEST_HEX_LENGTH: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };

/** Text the CVO returns for a release image without a digest (parity). */
export const NOT_BY_DIGEST_MESSAGE =
  'release images that are not accessed via digest cannot be verified';

/**
 * Validates a digest string: first with the CVO's syntax and message (parity), then stricter:
 * a known algorithm with exactly the right number of lowercase hex characters.
 */
export function parseDigest(digest: string): string {
  if (!CVO_DIGEST_RE.test(digest)) {
    throw new VerifyError(
      'INVALID_DIGEST',
      `the provided release image digest has an invalid format: ${JSON.stringify(digest)}`,
    );
  }
  const [algorithm = '', encoded = ''] = digest.split(':', 2);
  const length = DIGEST_HEX_LENGTH[algorithm];
  if (length === undefined || encoded.length !== length || !/^[0-9a-f]+$/.test(encoded)) {
    throw new VerifyError(
      'INVALID_DIGEST',
      `the provided release image digest has an invalid format: ${JSON.stringify(digest)} ` +
        `(expected sha256, sha384 or sha512 followed by its lowercase hex encoding)`,
    );
  }
  return digest;
}

/**
 * Parses `host[:port]/path[:tag][@digest]`, normalised as distribution/reference's
 * ParseNormalizedNamed normalises it (containers/image looks policy scopes up with that name):
 * `busybox`, `docker.io/busybox` and `index.docker.io/library/busybox` are all
 * `docker.io/library/busybox`, so a policy scoped to that name covers every spelling.
 */
export function parsePullspec(raw: string): Pullspec {
  if (raw.length === 0 || raw.length > MAX_PULLSPEC_LENGTH) {
    throw new VerifyError(
      'INVALID_PULLSPEC',
      `invalid pullspec: length must be 1 to ${MAX_PULLSPEC_LENGTH}`,
    );
  }
  let rest = raw;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = parseDigest(rest.slice(at + 1));
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) {
      throw new VerifyError(
        'INVALID_PULLSPEC',
        `invalid pullspec ${JSON.stringify(raw)}: invalid tag ${JSON.stringify(tag)}`,
      );
    }
  }
  const parts = rest.split('/');
  let host = DOCKER_HUB;
  const first = parts[0] ?? '';
  // A first component is a host when it looks like one: a dot, a port, localhost, an IPv6
  // literal, or an uppercase letter (repository paths are lowercase), as splitDockerDomain.
  if (
    parts.length > 1 &&
    (first.includes('.') ||
      first.includes(':') ||
      first === 'localhost' ||
      first.startsWith('[') ||
      first.toLowerCase() !== first)
  ) {
    host = first === LEGACY_DOCKER_HUB ? DOCKER_HUB : first;
    parts.shift();
    if (!HOST_RE.test(host)) {
      throw new VerifyError(
        'INVALID_PULLSPEC',
        `invalid pullspec ${JSON.stringify(raw)}: invalid registry host ${JSON.stringify(host)}`,
      );
    }
  }
  if (host === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  for (const component of parts) {
    if (!PATH_COMPONENT_RE.test(component)) {
      throw new VerifyError(
        'INVALID_PULLSPEC',
        `invalid pullspec ${JSON.stringify(raw)}: invalid repository path component ${JSON.stringify(component)}`,
      );
    }
  }
  const path = parts.join('/');
  return {
    raw,
    host,
    path,
    name: `${host}/${path}`,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

/**
 * Parses a release pullspec the way the CVO gates it: no `@` → by-tag refusal; a malformed
 * digest → the CVO's invalid-format message; then the full reference grammar.
 */
export function parseReleasePullspec(raw: string): DigestPullspec {
  if (!raw.includes('@')) {
    throw new VerifyError('NOT_BY_DIGEST', NOT_BY_DIGEST_MESSAGE);
  }
  const parsed = parsePullspec(raw);
  if (parsed.digest === undefined) {
    throw new VerifyError('NOT_BY_DIGEST', NOT_BY_DIGEST_MESSAGE);
  }
  return parsed as DigestPullspec;
}

/** `sha256:abc…` → `sha256=abc…`, the directory name signature stores use. */
export function toStoreDigestPath(digest: string): string {
  return digest.replace(':', '=');
}
