import type { VerifyError, VerifyErrorCode } from '../errors.js';
import type { StoreEndReason } from '../stores/store.js';

/** What happened to one signature when checked against one keyring. */
export interface SignatureEvidence {
  readonly store: string;
  readonly location: string;
  readonly index: number;
  readonly outcome: 'verified' | 'rejected';
  readonly code?: VerifyErrorCode;
  readonly message: string;
  readonly keyId?: string;
  readonly signer?: string;
  readonly signedAt?: string;
  readonly identity?: string;
}

/** What one store did while it was read. */
export interface StoreReport {
  readonly store: string;
  signaturesRead: number;
  readonly errors: {
    readonly location: string;
    readonly code: VerifyErrorCode;
    readonly message: string;
  }[];
  end?: { readonly reason: StoreEndReason; readonly detail: string };
}

export interface GpgCheck {
  readonly kind: 'gpg';
  readonly keyring: string;
  readonly verified: boolean;
  readonly code?: VerifyErrorCode;
  /** One line a person can act on. */
  readonly reason: string;
  readonly evidence: readonly SignatureEvidence[];
}

/** One ClusterImagePolicy that covers the image, and whether its signatures passed. */
export interface SigstoreCheck {
  readonly kind: 'sigstore';
  readonly policy: string;
  readonly scope: string;
  readonly verified: boolean;
  readonly code?: VerifyErrorCode;
  readonly reason: string;
  readonly evidence: readonly unknown[];
}

export type Check = GpgCheck | SigstoreCheck;

/** The answer to "may this cluster trust this release?" with everything that led to it. */
export interface ReleaseVerdict {
  readonly image: string;
  readonly digest: string | null;
  readonly verified: boolean;
  /** Why it is not verified, when it is not. */
  readonly code?: VerifyErrorCode;
  /** Short form: the CVO's text on failure (`unable to verify … against keyrings: …`). */
  readonly message: string;
  /** Long form: every store failure and rejected signature, one per line. */
  readonly details: readonly string[];
  readonly checks: readonly Check[];
  readonly stores: readonly StoreReport[];
  readonly cached: boolean;
  readonly durationMs: number;
  /** Signature bodies that satisfied a keyring (what a signature cache persists); not printed. */
  readonly signatures: readonly Uint8Array[];
}

/**
 * The end detail of a store read stopped because every keyring was satisfied (the GPG verifier
 * writes it; the CLI words it). Here, with nothing to load, so the CLI can say it without the
 * verifiers.
 */
export const SATISFIED_DETAIL = 'every keyring was satisfied';

/**
 * The verdict for a pullspec that can never be verified (by tag, or malformed), before any check
 * runs: the pullspec parser's error, nothing checked. Here, with nothing to load, so the CLI can
 * refuse without loading the verifiers.
 */
export function refusedVerdict(image: string, err: VerifyError, durationMs = 0): ReleaseVerdict {
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
    durationMs,
    signatures: [],
  };
}
