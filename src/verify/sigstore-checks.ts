import { isVerifyError } from '../errors.js';
import type { DigestPullspec } from '../image/pullspec.js';
import { effectivePolicies, resolvePolicies } from '../policy/scope.js';
import type { PolicyObject, SignedIdentity as PolicySignedIdentity } from '../policy/types.js';
import type { RegistryClient, RegistryRepository } from '../registry/client.js';
import { fetchBundleReferrers, fetchSignatureLayers } from '../sigstore/fetch-signatures.js';
import type { SignatureRegistry } from '../sigstore/fetch-signatures.js';
import type { SignedIdentity } from '../sigstore/signed-identity.js';
import { parseSignatureTrust } from '../sigstore/signature-trust.js';
import type { TrustConfig } from '../sigstore/signature-trust.js';
import { createSignatureVerifier, resolveImage } from '../sigstore/verify-signatures.js';
import type { SigstoreCheck } from './verdict.js';

export interface SigstoreConfig {
  /** Validated ClusterImagePolicies (ImagePolicies are namespaced and do not gate releases). */
  readonly policies: readonly PolicyObject[];
  readonly client: RegistryClient;
  /**
   * Where the image and its signatures are read from when that is not its own repository (the
   * mirror a node pulls it from); identities are still matched against its logical name.
   */
  readonly source?: RegistryRepository;
}

/**
 * The Sigstore checks that apply to a release, as CRI-O would apply them: the policies of the
 * most specific matching scope, all required. Returns no check when no scope covers the image.
 * PublicKey roots verify with the key; FulcioCAWithRekor and PKI roots verify the signing
 * certificate against the policy's CAs only. A check that cannot be completed fails: never
 * verified by omission. With `source`, signatures are read from that repository (a mirror)
 * while identities are still matched against `ref`, the logical name.
 */
export async function checkSigstore(
  ref: DigestPullspec,
  config: SigstoreConfig,
  signal: AbortSignal,
  source?: RegistryRepository,
): Promise<SigstoreCheck[]> {
  const match = resolvePolicies(
    ref,
    effectivePolicies(config.policies.filter((p) => p.kind === 'ClusterImagePolicy')),
  );
  if (match === undefined) return [];
  return Promise.all(
    match.policies.map((policy) =>
      checkOne(ref, policy, match.scope, config.client, signal, source ?? config.source),
    ),
  );
}

async function checkOne(
  ref: DigestPullspec,
  policy: PolicyObject,
  scope: string,
  client: SignatureRegistry,
  signal: AbortSignal,
  source: RegistryRepository | undefined,
): Promise<SigstoreCheck> {
  const base = { kind: 'sigstore' as const, policy: policy.name, scope };
  if (policy.unusable !== undefined) {
    return {
      ...base,
      verified: false,
      code: 'INVALID_POLICY',
      reason: `the policy cannot be used, so images in its scopes are refused (as CRI-O refuses them): ${policy.unusable}`,
      evidence: [],
    };
  }
  const root = policy.spec.policy.rootOfTrust;
  const image = {
    host: ref.host,
    path: ref.path,
    digest: ref.digest,
    ...(ref.tag !== undefined ? { tag: ref.tag } : {}),
    ...(source !== undefined ? { source } : {}),
  };
  const signedIdentity = toSignedIdentity(policy.spec.policy.signedIdentity);
  const pem = (base64: string): string => Buffer.from(base64, 'base64').toString('utf8');
  try {
    let trust: TrustConfig;
    let how: string;
    switch (root.policyType) {
      case 'PublicKey': {
        const rekorKeyData = root.publicKey.rekorKeyData;
        trust = {
          type: 'publicKey',
          keyPem: pem(root.publicKey.keyData),
          ...(rekorKeyData !== undefined ? { rekorKeyPem: pem(rekorKeyData) } : {}),
        };
        how = "verified with the policy's key";
        break;
      }
      case 'FulcioCAWithRekor': {
        const f = root.fulcioCAWithRekor;
        trust = {
          type: 'fulcio',
          fulcioCaPem: pem(f.fulcioCAData),
          rekorKeyPem: pem(f.rekorKeyData),
          oidcIssuer: f.fulcioSubject.oidcIssuer,
          signedEmail: f.fulcioSubject.signedEmail,
        };
        how = `verified keyless for ${f.fulcioSubject.signedEmail} (${f.fulcioSubject.oidcIssuer})`;
        break;
      }
      case 'PKI': {
        const p = root.pki;
        const subject = p.pkiCertificateSubject;
        trust = {
          type: 'pki',
          caRootsPem: pem(p.caRootsData),
          ...(p.caIntermediatesData !== undefined
            ? { caIntermediatesPem: pem(p.caIntermediatesData) }
            : {}),
          ...(subject.email !== undefined ? { email: subject.email } : {}),
          ...(subject.hostname !== undefined ? { hostname: subject.hostname } : {}),
        };
        how = "verified with a certificate from the policy's PKI";
        break;
      }
      default: {
        const never: never = root;
        throw new Error(`unknown root of trust ${JSON.stringify(never)}`);
      }
    }
    // Configuration errors (keys, CAs, signedIdentity, the reference) throw before any request.
    const verifier = createSignatureVerifier(parseSignatureTrust(trust), signedIdentity);
    const resolved = resolveImage(image);
    const verdict = verifier.verifyLayers(
      await fetchSignatureLayers(client, resolved, {
        signal,
        requiredAnnotations: verifier.layerAnnotations,
      }),
    );
    if (verdict.status === 'verified') {
      return {
        ...base,
        verified: true,
        reason: `cosign signature in ${verdict.location.tag} ${how}`,
        evidence: verdict.signatures,
      };
    }
    // No acceptable legacy signature: cosign v3 stores Sigstore bundles as OCI 1.1 referrers.
    const bundles = verifier.verifyBundles(
      await fetchBundleReferrers(client, resolved, { signal }),
    );
    if (bundles.status === 'verified') {
      return {
        ...base,
        verified: true,
        reason: `cosign v3 Sigstore bundle (OCI referrer) ${how}`,
        evidence: bundles.signatures,
      };
    }
    if (verdict.status === 'rejected') {
      return {
        ...base,
        verified: false,
        code: verdict.code,
        reason: `${verdict.code}: ${verdict.message}`,
        evidence: verdict.signatures,
      };
    }
    if (bundles.status === 'rejected') {
      return {
        ...base,
        verified: false,
        code: bundles.code,
        reason: `${bundles.code}: ${bundles.message}`,
        evidence: bundles.signatures,
      };
    }
    return {
      ...base,
      verified: false,
      code: 'NOT_SIGNED',
      reason: `no cosign signature: ${verdict.detail}, and no Sigstore bundle referrers`,
      evidence: [],
    };
  } catch (err) {
    if (!isVerifyError(err)) throw err;
    return { ...base, verified: false, code: err.code, reason: err.message, evidence: [] };
  }
}

/** ClusterImagePolicy's signedIdentity → containers/image's (MatchRepoDigestOrExact by default). */
export function toSignedIdentity(identity: PolicySignedIdentity | undefined): SignedIdentity {
  switch (identity?.matchPolicy) {
    case undefined:
    case 'MatchRepoDigestOrExact':
      return { type: 'matchRepoDigestOrExact' };
    case 'MatchRepository':
      return { type: 'matchRepository' };
    case 'ExactRepository':
      return { type: 'exactRepository', dockerRepository: identity.exactRepository.repository };
    case 'RemapIdentity':
      return {
        type: 'remapIdentity',
        prefix: identity.remapIdentity.prefix,
        signedPrefix: identity.remapIdentity.signedPrefix,
      };
    default: {
      const never: never = identity;
      throw new Error(`unknown signedIdentity ${JSON.stringify(never)}`);
    }
  }
}
