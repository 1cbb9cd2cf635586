import { parseDigest } from '../image/pullspec.js';
import { VerifyError } from '../errors.js';

/**
 * A fully normalised docker reference, as containers/image's `reference.ParseNormalizedNamed`
 * yields it: `name` is `host/path` with Docker Hub expanded (`busybox` →
 * `docker.io/library/busybox`, `index.docker.io` → `docker.io`).
 */
export interface DockerReference {
  readonly name: string;
  readonly tag?: string;
  readonly digest?: string;
}

/**
 * How the identity a signature claims must relate to the image (containers/image
 * `signedIdentity`, `signature/policy_reference_match.go`).
 */
export type SignedIdentity =
  /** Tagged image: the signature names exactly it; image by digest: the same repository. */
  | { readonly type: 'matchRepoDigestOrExact' }
  /** The same repository, whatever the tag or digest. */
  | { readonly type: 'matchRepository' }
  /** Exactly the image reference (never for images by digest alone). */
  | { readonly type: 'matchExact' }
  /** Exactly `dockerReference` (tagged or by digest), whatever the image is called. */
  | { readonly type: 'exactReference'; readonly dockerReference: string }
  /** The repository `dockerRepository`, whatever the image is called. */
  | { readonly type: 'exactRepository'; readonly dockerRepository: string }
  /** The image's `prefix` (whole path segments) replaced by `signedPrefix`, then as the default. */
  | { readonly type: 'remapIdentity'; readonly prefix: string; readonly signedPrefix: string };

const DOCKER_HUB = 'docker.io';
const LEGACY_DOCKER_HUB = 'index.docker.io';
/** distribution/reference's NameTotalLengthMax. */
const MAX_NAME_LENGTH = 255;

// The distribution reference grammar (distribution/reference regexp.go).
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const NAME = `(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const REFERENCE_RE = new RegExp(`^(${NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const DOMAIN_RE = new RegExp(`^${DOMAIN}$`);
const NAME_RE = new RegExp(`^${NAME}$`);
const IDENTIFIER_RE = /^[a-f0-9]{64}$/;

/**
 * Parses a reference the way `reference.ParseNormalizedNamed` does; undefined when it is not a
 * valid reference (callers treat that as "does not match", like containers/image).
 */
export function parseDockerReference(text: string): DockerReference | undefined {
  if (IDENTIFIER_RE.test(text)) return undefined;
  const slash = text.indexOf('/');
  let domain = DOCKER_HUB;
  let remainder = text;
  if (slash !== -1) {
    const first = text.slice(0, slash);
    // A first component is a host when it looks like one (dot, port, localhost, uppercase).
    if (/[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first) {
      domain = first;
      remainder = text.slice(slash + 1);
    }
  }
  if (domain === LEGACY_DOCKER_HUB) domain = DOCKER_HUB;
  if (domain === DOCKER_HUB && !remainder.includes('/')) remainder = `library/${remainder}`;
  const match = REFERENCE_RE.exec(`${domain}/${remainder}`);
  if (!match) return undefined;
  const [, name = '', tag, digest] = match;
  if (name.length > MAX_NAME_LENGTH) return undefined;
  if (digest !== undefined) {
    try {
      parseDigest(digest);
    } catch {
      return undefined;
    }
  }
  return {
    name,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

/** `name[:tag][@digest]`, distribution's `String()`. */
export function formatDockerReference(ref: DockerReference): string {
  return `${ref.name}${ref.tag !== undefined ? `:${ref.tag}` : ''}${
    ref.digest !== undefined ? `@${ref.digest}` : ''
  }`;
}

function isNameOnly(ref: DockerReference): boolean {
  return ref.tag === undefined && ref.digest === undefined;
}

/** A reference in its fully expanded form only (`reference.ParseNamed`). */
function parseCanonicalReference(text: string): DockerReference | undefined {
  const ref = parseDockerReference(text);
  return ref !== undefined && formatDockerReference(ref) === text ? ref : undefined;
}

/**
 * Checks a policy once, when it is configured: malformed policies are configuration errors, not
 * signatures that fail to match.
 */
export function validateSignedIdentity(identity: SignedIdentity): void {
  const invalid = (why: string): never => {
    throw new VerifyError('INVALID_POLICY', `signedIdentity ${identity.type}: ${why}`);
  };
  switch (identity.type) {
    case 'matchRepoDigestOrExact':
    case 'matchRepository':
    case 'matchExact':
      return;
    case 'exactReference': {
      const ref = parseDockerReference(identity.dockerReference);
      if (ref === undefined || isNameOnly(ref)) {
        invalid(
          `dockerReference ${JSON.stringify(identity.dockerReference)} is not tagged or by digest`,
        );
      }
      return;
    }
    case 'exactRepository': {
      const ref = parseDockerReference(identity.dockerRepository);
      if (ref === undefined) {
        invalid(
          `dockerRepository ${JSON.stringify(identity.dockerRepository)} is not a repository`,
        );
      }
      return;
    }
    case 'remapIdentity':
      for (const [field, value] of [
        ['prefix', identity.prefix],
        ['signedPrefix', identity.signedPrefix],
      ] as const) {
        if (!DOMAIN_RE.test(value) && !NAME_RE.test(value)) {
          invalid(`${field} ${JSON.stringify(value)} is not a host[:port] or repository prefix`);
        }
      }
      return;
    default:
      return invalid('unknown type');
  }
}

/** containers/image `matchRepoDigestOrExactReferenceValues`. */
function matchRepoDigestOrExact(intended: DockerReference, signature: DockerReference): boolean {
  // cosign writes name-only identities; they never satisfy this policy (no default tag is added).
  if (isNameOnly(signature)) return false;
  // Tagged (with or without a digest): the exact reference.
  if (intended.tag !== undefined) {
    return formatDockerReference(signature) === formatDockerReference(intended);
  }
  // By digest: the repository. The digest itself is checked against the payload separately.
  if (intended.digest !== undefined) return signature.name === intended.name;
  return false;
}

/** Whether `name` is `prefix` or lies below it on a `/` boundary (a port is not a boundary). */
function matchesPrefix(name: string, prefix: string): boolean {
  if (name.length === prefix.length) return name === prefix;
  return name.length > prefix.length && name.startsWith(prefix) && name[prefix.length] === '/';
}

/** The image reference after remapping, or undefined when the result is not a valid reference. */
function remap(
  intended: DockerReference,
  prefix: string,
  signedPrefix: string,
): DockerReference | undefined {
  if (!matchesPrefix(intended.name, prefix)) return intended;
  const rewritten = signedPrefix + formatDockerReference(intended).slice(prefix.length);
  return parseCanonicalReference(rewritten);
}

/**
 * Whether a signature claiming `signatureReference` may stand for the image `image` under
 * `identity`. An unparsable claim never matches. Call {@link validateSignedIdentity} on the
 * policy first.
 */
export function matchesSignedIdentity(
  identity: SignedIdentity,
  image: DockerReference,
  signatureReference: string,
): boolean {
  const signature = parseDockerReference(signatureReference);
  if (signature === undefined) return false;
  switch (identity.type) {
    case 'matchRepoDigestOrExact':
      return matchRepoDigestOrExact(image, signature);
    case 'matchRepository':
      return signature.name === image.name;
    case 'matchExact':
      if (isNameOnly(image) || isNameOnly(signature)) return false;
      return formatDockerReference(signature) === formatDockerReference(image);
    case 'exactReference': {
      const intended = parseDockerReference(identity.dockerReference);
      if (intended === undefined || isNameOnly(intended) || isNameOnly(signature)) return false;
      return formatDockerReference(signature) === formatDockerReference(intended);
    }
    case 'exactRepository': {
      const intended = parseDockerReference(identity.dockerRepository);
      return intended !== undefined && signature.name === intended.name;
    }
    case 'remapIdentity': {
      const intended = remap(image, identity.prefix, identity.signedPrefix);
      return intended !== undefined && matchRepoDigestOrExact(intended, signature);
    }
    default:
      return false;
  }
}
