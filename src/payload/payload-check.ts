import { isVerifyError } from '../errors.js';
import type { DigestPullspec } from '../image/pullspec.js';
import type { PolicyObject } from '../policy/types.js';
import type { RegistryClient } from '../registry/client.js';
import { mirrorSources } from '../mirrors/mirrors.js';
import type { MirrorRule } from '../mirrors/mirrors.js';
import {
  nothingCovered,
  payloadVerified,
  summarize,
  verifyComponents,
} from './payload-verifier.js';
import type { ComponentResult, ComponentVerdictCache, PayloadSummary } from './payload-verifier.js';
import { readReleasePayload } from './release-image.js';
import type { ReleasePayload } from './release-image.js';
import type { ReleaseMetadata } from './release-content.js';
import { findManifestImages, imagesOutsideReferences } from './manifest-images.js';
import type { ManifestImage } from './manifest-images.js';
import { dedupeComponents } from './release-content.js';

/** Failing components named in a message before the rest are counted. */
export const NAMED_FAILURES = 3;

/** What the service needs to know about a release's payload before accepting it. */
export interface PayloadOutcome {
  readonly verified: boolean;
  /** No component was checked (none, or none covered): not verified, for its own reason. */
  readonly nothingCovered?: boolean;
  /** release-metadata's version, when the payload could be read. */
  readonly version?: string;
  /** The whole release-metadata, when the payload could be read. */
  readonly metadata?: ReleaseMetadata;
  readonly summary?: PayloadSummary;
  /** Components that would fail when nodes pull them (unsigned, invalid, error). */
  readonly failing: readonly ComponentResult[];
  /** One line for conditions and events; names the failing components, abbreviated. */
  readonly message: string;
  readonly durationMs: number;
}

export interface CheckPayloadOptions {
  readonly client: RegistryClient;
  /** Validated ClusterImagePolicies. */
  readonly policies: readonly PolicyObject[];
  readonly mirrors: readonly MirrorRule[];
  readonly cache?: ComponentVerdictCache;
  readonly concurrency?: number;
  /** `os/architecture` picked from a manifest list (default linux/amd64). */
  readonly platform?: string;
  readonly signal: AbortSignal;
}

/** `etcd (unsigned), cli (invalid), installer (error) and 4 more`. */
export function describeFailures(failing: readonly ComponentResult[]): string {
  const named = failing
    .slice(0, NAMED_FAILURES)
    .map((c) => `${c.tags.join(',')} (${c.status})`)
    .join(', ');
  return failing.length > NAMED_FAILURES
    ? `${named} and ${failing.length - NAMED_FAILURES} more`
    : named;
}

/**
 * Reads a release's payload and verifies every component image against the ClusterImagePolicies,
 * mirror-aware, returning one outcome. A payload that cannot be read is not verified (fail
 * closed); the reason says why. Only an abort is thrown.
 */
export async function checkReleasePayload(
  release: DigestPullspec,
  options: CheckPayloadOptions,
): Promise<PayloadOutcome> {
  const started = performance.now();
  const elapsed = (): number => Math.round(performance.now() - started);
  const sourcesFor = (pullspec: DigestPullspec) => mirrorSources(options.mirrors, pullspec);
  let payload: ReleasePayload | undefined;
  try {
    [payload] = await readReleasePayload(options.client, release, {
      signal: options.signal,
      sources: sourcesFor(release),
      ...(options.platform !== undefined ? { platform: options.platform } : {}),
    });
  } catch (err) {
    if (!isVerifyError(err) || err.code === 'ABORTED') throw err;
    return {
      verified: false,
      failing: [],
      message: `the release payload could not be read: ${err.message}`,
      durationMs: elapsed(),
    };
  }
  if (payload === undefined) throw new Error('unreachable: no payload read');
  // Images the manifests would run that image-references does not list are checked by nobody.
  let outside: ManifestImage[];
  try {
    outside = imagesOutsideReferences(
      findManifestImages(payload.manifests),
      new Set(payload.references.components.map((c) => c.pullspec.raw)),
    );
  } catch (err) {
    if (!isVerifyError(err)) throw err;
    return {
      verified: false,
      version: payload.metadata.version,
      metadata: payload.metadata,
      failing: [],
      message: `the release payload's manifests could not be read: ${err.message}`,
      durationMs: elapsed(),
    };
  }
  if (outside.length > 0) {
    const named = outside
      .slice(0, NAMED_FAILURES)
      .map((o) => `${o.object} in ${o.path} (${o.image})`)
      .join(', ');
    return {
      verified: false,
      version: payload.metadata.version,
      metadata: payload.metadata,
      failing: [],
      message: `${outside.length} image(s) the manifests of ${payload.metadata.version} would run are not in image-references, so no signature check covers them: ${named}${outside.length > NAMED_FAILURES ? ` and ${outside.length - NAMED_FAILURES} more` : ''}`,
      durationMs: elapsed(),
    };
  }
  const results = await verifyComponents(dedupeComponents(payload.references.components), {
    client: options.client,
    policies: options.policies,
    sourcesFor,
    signal: options.signal,
    ...(options.cache !== undefined ? { cache: options.cache } : {}),
    ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
  });
  const summary = summarize(results);
  const failing = results.filter(
    (r) => r.status === 'unsigned' || r.status === 'invalid' || r.status === 'error',
  );
  const verified = payloadVerified(summary);
  const covered = summary.total - summary.notCovered;
  const none = nothingCovered(summary);
  const message = verified
    ? `all ${covered} component images of ${payload.metadata.version} covered by ClusterImagePolicies have valid signatures (${summary.notCovered} not covered)`
    : none
      ? `none of the ${summary.total} component images of ${payload.metadata.version} is covered by a ClusterImagePolicy: nothing was verified`
      : `${failing.length} of ${covered} component images of ${payload.metadata.version} would fail signature verification when nodes pull them: ${describeFailures(failing)}`;
  return {
    verified,
    ...(none ? { nothingCovered: true } : {}),
    version: payload.metadata.version,
    metadata: payload.metadata,
    summary,
    failing,
    message,
    durationMs: elapsed(),
  };
}
