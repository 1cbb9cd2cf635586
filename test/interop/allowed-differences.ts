/**
 * The one reviewed list of deliberate differences between our verdicts and the reference
 * implementations' in the differential tests (test/interop/). A disagreement on a case whose
 * class is not listed here, or in a direction not listed, fails the suite. Every entry says why
 * we decide differently; "stricter" entries are places where the reference is weak on purpose
 * documented in ../shared/docs/DOMAIN.md.
 */
export interface AllowedDifference {
  /** The corpus class (a case's `kind`). */
  readonly kind: string;
  readonly reference: 'library-go' | 'containers/image' | 'cosign';
  /** Our verdict and the reference's on such cases. */
  readonly ours: boolean;
  readonly theirs: boolean;
  readonly reason: string;
}

export const ALLOWED_DIFFERENCES: readonly AllowedDifference[] = [
  {
    kind: 'gpg/sha1-digest',
    reference: 'library-go',
    ours: false,
    theirs: true,
    reason:
      'stricter: SHA-1 signatures are collision-prone and refused (x/crypto/openpgp accepts them)',
  },
  {
    kind: 'gpg/compress-bzip2',
    reference: 'library-go',
    ours: false,
    theirs: true,
    reason:
      'BZip2-compressed signed messages are refused (no BZip2 decoder in Node; GnuPG and Red Hat sign with ZIP/ZLIB, which verify); a false reject on purpose, never an accept',
  },
  {
    kind: 'scope/out-of-scope',
    reference: 'containers/image',
    ours: false,
    theirs: true,
    reason:
      'by design: `verify` needs at least one applicable check and says "no check applies"; a node falls back to the policy.json default (insecureAcceptAnything, as the MCO renders it)',
  },
  {
    kind: 'cosign/name-only-identity',
    reference: 'cosign',
    ours: false,
    theirs: true,
    reason:
      'parity with containers/image, not cosign: cosign verify checks no signed identity, while CRI-O (containers/image) refuses a name-only docker-reference under the default matchRepoDigestOrExact',
  },
  {
    kind: 'cosign/v3-digest-only-subject',
    reference: 'cosign',
    ours: false,
    theirs: true,
    reason:
      'fail closed: a cosign v3 statement subject carries only a digest, so no signedIdentity rule can be checked (containers/image v5.42.1 reads no bundles at all)',
  },
  {
    kind: 'cosign/v3-attestation-bundle',
    reference: 'cosign',
    ours: false,
    theirs: true,
    reason:
      'we believe cosign v3.1.3 is wrong here: `cosign verify --key` accepts an image whose only bundles are attestations (SLSA, CycloneDX, vuln); an attestation is never a signature (cosign v2 agrees with us)',
  },
];

/** The allow-list entry covering a disagreement, if any. */
export function allowedDifference(
  kind: string,
  reference: AllowedDifference['reference'],
  ours: boolean,
  theirs: boolean,
): AllowedDifference | undefined {
  return ALLOWED_DIFFERENCES.find(
    (d) => d.kind === kind && d.reference === reference && d.ours === ours && d.theirs === theirs,
  );
}
