import { isVerifyError } from '../errors.js';
import type { VerifyErrorCode } from '../errors.js';
import type { DigestPullspec } from '../image/pullspec.js';
import { effectivePolicies, resolvePolicies } from '../policy/scope.js';
import type { PolicyObject, SignedIdentity as PolicySignedIdentity } from '../policy/types.js';
import type { RegistryClient } from '../registry/client.js';
import type { SignedIdentity } from '../sigstore/signed-identity.js';
import { verifyImageSignatures } from '../sigstore/verify-image.js';
import type { SigstoreCheck } from './verdict.js';

export interface SigstoreConfig {
  /** Validated ClusterImagePolicies (ImagePolicies are namespaced and do not gate releases). */
  readonly policies: readonly PolicyObject[];
  readonly client: RegistryClient;
}

/**
 * The Sigstore checks that apply to a release, as CRI-O would apply them: the policies of the
 * most specific matching scope, all required. Returns no check when no scope covers the image.
 * Roots of trust not implemented yet (keyless Fulcio, PKI) fail the check: never verified by
 * omission.
 */
export async function checkSigstore(
  ref: DigestPullspec,
  config: SigstoreConfig,
  signal: AbortSignal,
): Promise<SigstoreCheck[]> {
  const match = resolvePolicies(
    ref,
    effectivePolicies(config.policies.filter((p) => p.kind === 'ClusterImagePolicy')),
  );
  if (match === undefined) return [];
  return Promise.all(
    match.policies.map((policy) => checkOne(ref, policy, match.scope, config.client, signal)),
  );
}

async function checkOne(
  ref: DigestPullspec,
  policy: PolicyObject,
  scope: string,
  client: RegistryClient,
  signal: AbortSignal,
): Promise<SigstoreCheck> {
  const base = { kind: 'sigstore' as const, policy: policy.name, scope };
  const root = policy.spec.policy.rootOfTrust;
  if (root.policyType !== 'PublicKey') {
    return {
      ...base,
      verified: false,
      code: 'UNSUPPORTED_ALGORITHM',
      reason: `root of trust ${root.policyType} is not supported yet; the check fails closed`,
      evidence: [],
    };
  }
  const publicKeyPem = Buffer.from(root.publicKey.keyData, 'base64').toString('utf8');
  const rekorKeyPem =
    root.publicKey.rekorKeyData !== undefined
      ? Buffer.from(root.publicKey.rekorKeyData, 'base64').toString('utf8')
      : undefined;
  try {
    const verdict = await verifyImageSignatures(
      client,
      {
        host: ref.host,
        path: ref.path,
        digest: ref.digest,
        ...(ref.tag !== undefined ? { tag: ref.tag } : {}),
      },
      {
        publicKeyPem,
        ...(rekorKeyPem !== undefined ? { rekorKeyPem } : {}),
        signedIdentity: toSignedIdentity(policy.spec.policy.signedIdentity),
        signal,
      },
    );
    switch (verdict.status) {
      case 'verified': {
        const layer = verdict.layers.find((l) => l.status === 'verified');
        const identity = layer?.status === 'verified' ? layer.dockerReference : '';
        return {
          ...base,
          verified: true,
          reason: `cosign signature in ${verdict.signatureManifest.tag} verified with the policy's key (identity ${identity})`,
          evidence: verdict.layers,
        };
      }
      case 'unsigned':
        return {
          ...base,
          verified: false,
          code: 'NOT_SIGNED',
          reason: `no cosign signature: ${verdict.detail}`,
          evidence: [],
        };
      case 'rejected':
        return {
          ...base,
          verified: false,
          code: 'BAD_SIGNATURE',
          reason: `${verdict.code}: ${verdict.message}`,
          evidence: verdict.layers,
        };
      default: {
        const never: never = verdict;
        throw new Error(`unknown verdict ${JSON.stringify(never)}`);
      }
    }
  } catch (err) {
    if (!isVerifyError(err)) throw err;
    const code: VerifyErrorCode = err.code;
    return { ...base, verified: false, code, reason: err.message, evidence: [] };
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
