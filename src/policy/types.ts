/**
 * ClusterImagePolicy and ImagePolicy (config.openshift.io/v1 or v1alpha1) as validated values.
 * The two versions have the same fields; they differ only in validation rules (validate.ts).
 * Base64 fields keep the text as written; rendering re-encodes the decoded bytes.
 */
export type PolicyKind = 'ClusterImagePolicy' | 'ImagePolicy';

export type PolicyApiVersion = 'config.openshift.io/v1' | 'config.openshift.io/v1alpha1';

export type PolicyType = 'PublicKey' | 'FulcioCAWithRekor' | 'PKI';

export interface PublicKeyRoot {
  readonly keyData: string;
  readonly rekorKeyData?: string;
}

export interface FulcioCAWithRekorRoot {
  readonly fulcioCAData: string;
  readonly rekorKeyData: string;
  readonly fulcioSubject: { readonly oidcIssuer: string; readonly signedEmail: string };
}

export interface PkiRoot {
  readonly caRootsData: string;
  readonly caIntermediatesData?: string;
  readonly pkiCertificateSubject: { readonly email?: string; readonly hostname?: string };
}

export type RootOfTrust =
  | { readonly policyType: 'PublicKey'; readonly publicKey: PublicKeyRoot }
  | { readonly policyType: 'FulcioCAWithRekor'; readonly fulcioCAWithRekor: FulcioCAWithRekorRoot }
  | { readonly policyType: 'PKI'; readonly pki: PkiRoot };

export type MatchPolicy =
  'MatchRepoDigestOrExact' | 'MatchRepository' | 'ExactRepository' | 'RemapIdentity';

export type SignedIdentity =
  | { readonly matchPolicy: 'MatchRepoDigestOrExact' }
  | { readonly matchPolicy: 'MatchRepository' }
  | {
      readonly matchPolicy: 'ExactRepository';
      readonly exactRepository: { readonly repository: string };
    }
  | {
      readonly matchPolicy: 'RemapIdentity';
      readonly remapIdentity: { readonly prefix: string; readonly signedPrefix: string };
    };

export interface ImagePolicySpec {
  /** In the order written; duplicates are rejected (`x-kubernetes-list-type: set`). */
  readonly scopes: readonly string[];
  readonly policy: {
    readonly rootOfTrust: RootOfTrust;
    readonly signedIdentity?: SignedIdentity;
  };
}

/** One validated object and where it came from. */
export interface PolicyObject {
  /** The version the object was written in (and validated against). */
  readonly apiVersion: PolicyApiVersion;
  readonly kind: PolicyKind;
  readonly name: string;
  /** Set for ImagePolicy when the document names it; never for ClusterImagePolicy. */
  readonly namespace?: string;
  readonly spec: ImagePolicySpec;
  /** `file#N` as in PolicyError.source. */
  readonly source: string;
  /**
   * Set only by the cluster trust reader for an object the cluster holds that does not validate
   * here (the v1alpha1 CRD lets more in than v1): why. Its scopes are enforced as a refusal, as
   * CRI-O refuses pulls under a policy it cannot use; its `spec.policy` is a placeholder and it is
   * never rendered.
   */
  readonly unusable?: string;
}
