import type { ClusterVersion } from '../kube/types.js';
import type { PayloadResult, ReleaseLoad, VerificationOutcome } from './reconcile.js';

/**
 * What the controller needs from verification, in its own terms: the composition root wires the
 * cluster's trust (src/trust/) behind it; unit tests wire fakes. Nothing here names a keyring,
 * a store, a registry or a policy: those are the verifier's business.
 */
export interface ReleaseVerifierPort {
  /**
   * The verdict on `image` under the trust the cluster configures now. `cv` is the live
   * ClusterVersion (its spec.signatureStores, force flag and history are trust inputs); `signal`
   * bounds the whole verification and aborts it when the controller stops.
   */
  verify(
    image: string,
    cv: ClusterVersion,
    signal: AbortSignal,
    options?: VerifyCallOptions,
  ): Promise<ClusterVerification>;
}

export interface VerifyCallOptions {
  /** Also verify the release's payload (the reconcile of a requested update; not re-checks). */
  readonly payload?: boolean;
  /**
   * With `payload`, also read an accepted release's release-metadata (default). The admission
   * webhook does not use it and passes false: it never reads a release's metadata, before or
   * after its verdict.
   */
  readonly releaseMetadata?: boolean;
}

/** One component image the payload check found failing, as status readers see it. */
export interface FailingComponent {
  readonly tags: readonly string[];
  readonly pullspec: string;
  readonly status: string;
  readonly reason: string;
}

/** The payload's verdict and the mode it is applied in. */
export interface PayloadVerification extends PayloadResult {
  readonly summary?: {
    readonly total: number;
    readonly verified: number;
    readonly unsigned: number;
    readonly invalid: number;
    readonly notCovered: number;
    readonly errors: number;
  };
  readonly failing: readonly FailingComponent[];
}

/** The outcome plus the signatures that proved it, for the signature cache. */
export interface ClusterVerification {
  readonly outcome: VerificationOutcome;
  readonly signatures: readonly Uint8Array[];
  readonly digest: string | null;
  /**
   * The payload's verdict, when asked for and it applies: payload verification configured, the
   * cluster has ClusterImagePolicies, and the release verified or its update is forced.
   */
  readonly payload?: PayloadVerification;
  /**
   * The release's own metadata (version, architecture, url, channels), or why it could not be
   * read: asked for with `payload` and read when the release verified or its update is forced.
   */
  readonly release?: ReleaseLoad;
}
