import { VerifyError } from '../errors.js';
import { parseReleasePullspec } from '../image/pullspec.js';
import type { GpgReleaseVerifier } from './gpg-verifier.js';
import type { ReleaseVerdict } from './verdict.js';

export interface ReleaseVerifierOptions {
  readonly gpg?: GpgReleaseVerifier;
  readonly clock?: () => number;
}

/**
 * Verifies a release pullspec with every configured check. By-tag and malformed pullspecs are
 * refused with the CVO's messages before any check runs; with no check configured the answer
 * is a configuration error, never "verified".
 */
export async function verifyRelease(
  image: string,
  options: ReleaseVerifierOptions,
  signal?: AbortSignal,
): Promise<ReleaseVerdict> {
  const clock = options.clock ?? (() => performance.now());
  const started = clock();
  let digest: string;
  try {
    digest = parseReleasePullspec(image).digest;
  } catch (err) {
    if (!(err instanceof VerifyError)) throw err;
    return {
      image,
      digest: null,
      verified: false,
      code: err.code,
      message: err.message,
      details: [],
      checks: [],
      stores: [],
      cached: false,
      durationMs: clock() - started,
      signatures: [],
    };
  }
  if (options.gpg === undefined) {
    throw new VerifyError(
      'USAGE',
      'no verification is configured: give a root of trust (--root-of-trust)',
    );
  }
  const gpg = await options.gpg.verify(digest, signal);
  return {
    image,
    digest,
    verified: gpg.verified,
    ...(gpg.code !== undefined ? { code: gpg.code } : {}),
    message: gpg.message,
    details: gpg.details,
    checks: gpg.checks,
    stores: gpg.stores,
    cached: gpg.cached,
    durationMs: clock() - started,
    signatures: gpg.signatures,
  };
}
