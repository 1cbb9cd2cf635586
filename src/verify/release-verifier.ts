import { VerifyError } from '../errors.js';
import { parseReleasePullspec } from '../image/pullspec.js';
import type { DigestPullspec } from '../image/pullspec.js';
import type { GpgReleaseVerifier, GpgResult } from './gpg-verifier.js';
import { checkSigstore } from './sigstore-checks.js';
import type { SigstoreConfig } from './sigstore-checks.js';
import { refusedVerdict } from './verdict.js';
import type { ReleaseVerdict, SigstoreCheck } from './verdict.js';

export interface ReleaseVerifierOptions {
  readonly gpg?: GpgReleaseVerifier;
  /** ClusterImagePolicies and a registry client: Sigstore checks where a policy scope covers the image. */
  readonly sigstore?: SigstoreConfig;
  readonly clock?: () => number;
}

/**
 * Verifies a release pullspec (text, or already parsed) with every configured check. By-tag and malformed pullspecs are
 * refused with the CVO's messages before any check runs; with no check configured the answer
 * is a configuration error, never "verified".
 */
export async function verifyRelease(
  release: string | DigestPullspec,
  options: ReleaseVerifierOptions,
  signal?: AbortSignal,
): Promise<ReleaseVerdict> {
  const clock = options.clock ?? (() => performance.now());
  const started = clock();
  const image = typeof release === 'string' ? release : release.raw;
  let digest: string;
  let ref: DigestPullspec;
  try {
    // Parsed once: callers that already hold the typed pullspec pass it.
    ref = typeof release === 'string' ? parseReleasePullspec(release) : release;
    digest = ref.digest;
  } catch (err) {
    if (!(err instanceof VerifyError)) throw err;
    return refusedVerdict(image, err, clock() - started);
  }
  if (options.gpg === undefined && options.sigstore === undefined) {
    throw new VerifyError(
      'USAGE',
      'no verification is configured: give a root of trust (--root-of-trust) or image policies (--policy)',
    );
  }
  // Every check that applies must pass, and at least one must apply (never verified by omission).
  const [gpg, sigstore] = await Promise.all([
    options.gpg?.verify(digest, signal),
    options.sigstore === undefined
      ? Promise.resolve<SigstoreCheck[]>([])
      : checkSigstore(ref, options.sigstore, signal ?? new AbortController().signal),
  ]);
  const checks = [...(gpg?.checks ?? []), ...sigstore];
  const applied = checks.length > 0;
  const verified = applied && checks.every((c) => c.verified);
  const failedSigstore = sigstore.find((c) => !c.verified);
  const { code, message } = summarize(digest, gpg, failedSigstore, applied, verified);
  return {
    image,
    digest,
    verified,
    ...(code !== undefined ? { code } : {}),
    message,
    details: [
      ...(gpg?.details ?? []),
      ...sigstore
        .filter((c) => !c.verified)
        .map((c) => `sigstore policy ${c.policy} (scope ${c.scope}): ${c.reason}`),
    ],
    checks,
    stores: gpg?.stores ?? [],
    cached: gpg?.cached ?? false,
    durationMs: clock() - started,
    signatures: gpg?.signatures ?? [],
  };
}

/** The short message: the CVO's GPG text when GPG fails, else the first failing Sigstore check. */
function summarize(
  digest: string,
  gpg: GpgResult | undefined,
  failedSigstore: SigstoreCheck | undefined,
  applied: boolean,
  verified: boolean,
): { code?: ReleaseVerdict['code']; message: string } {
  if (!applied)
    return {
      code: 'NOT_SIGNED',
      message: `no check applies to ${digest}: no root of trust is configured and no image policy scope covers the image`,
    };
  if (gpg !== undefined && !gpg.verified)
    return { ...(gpg.code !== undefined ? { code: gpg.code } : {}), message: gpg.message };
  if (failedSigstore !== undefined) {
    return {
      code: failedSigstore.code ?? 'BAD_SIGNATURE',
      message: `unable to verify ${digest} against image policy ${failedSigstore.policy} (scope ${failedSigstore.scope}): ${failedSigstore.reason}`,
    };
  }
  return {
    message:
      verified && gpg !== undefined ? gpg.message : 'verified by every applicable image policy',
  };
}
