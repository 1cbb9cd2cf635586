import { VerifyError } from '../errors.js';
import type { VerifyErrorCode } from '../errors.js';

/** Why a cosign signature, its payload or its Rekor entry was not accepted. */
export type SigstoreErrorCode =
  /** A PEM public key that cannot be read, holds a private key, or is not one block. */
  | 'INVALID_PUBLIC_KEY'
  /** A key type, curve or size we do not verify with. */
  | 'UNSUPPORTED_KEY'
  /** A signedIdentity policy that is malformed (bad prefix, reference, type). */
  | 'INVALID_POLICY'
  /** A simplesigning layer without the signature annotation. */
  | 'SIGNATURE_MISSING'
  /** A signature annotation that is not canonical standard base64. */
  | 'SIGNATURE_ENCODING'
  /** The signature does not verify over the payload bytes with the configured key. */
  | 'BAD_SIGNATURE'
  /** A payload blob over its size limit. */
  | 'PAYLOAD_OVERSIZE'
  /** A payload that is not strict JSON of the simple signing shape. */
  | 'PAYLOAD_INVALID'
  /** `critical.type` is not `cosign container image signature`. */
  | 'PAYLOAD_WRONG_TYPE'
  /** The payload signs another manifest digest. */
  | 'PAYLOAD_DIGEST_MISMATCH'
  /** The payload's docker-reference does not satisfy the signedIdentity policy. */
  | 'IDENTITY_MISMATCH'
  /** A Rekor key is configured but the layer has no bundle annotation. */
  | 'REKOR_BUNDLE_MISSING'
  /** A bundle annotation or entry body that is not the expected strict JSON. */
  | 'REKOR_BUNDLE_INVALID'
  /** The bundle's logID is not the configured Rekor key's. */
  | 'REKOR_LOG_ID_MISMATCH'
  /** The SignedEntryTimestamp does not verify with the Rekor key. */
  | 'REKOR_SET_INVALID'
  /** The log entry binds another key, signature or payload hash. */
  | 'REKOR_ENTRY_MISMATCH'
  /** A log entry kind or version other than hashedrekord 0.0.1. */
  | 'REKOR_UNSUPPORTED_ENTRY'
  /** The signature manifest has more layers than the limit. */
  | 'TOO_MANY_SIGNATURES'
  /** The signature tag holds something other than an image manifest. */
  | 'INVALID_SIGNATURE_MANIFEST'
  /** A payload blob the registry cannot serve intact (missing, digest or size mismatch). */
  | 'PAYLOAD_UNAVAILABLE';

/** The one place sigstore failures meet the project-wide codes. */
const VERIFY_CODE: Readonly<Record<SigstoreErrorCode, VerifyErrorCode>> = {
  INVALID_PUBLIC_KEY: 'INVALID_KEY',
  UNSUPPORTED_KEY: 'UNSUPPORTED_ALGORITHM',
  INVALID_POLICY: 'ROOT_OF_TRUST_INVALID',
  SIGNATURE_MISSING: 'UNSIGNED',
  SIGNATURE_ENCODING: 'MALFORMED_MESSAGE',
  BAD_SIGNATURE: 'BAD_SIGNATURE',
  PAYLOAD_OVERSIZE: 'STORE_OVERSIZE',
  PAYLOAD_INVALID: 'PAYLOAD_INVALID_JSON',
  PAYLOAD_WRONG_TYPE: 'PAYLOAD_WRONG_TYPE',
  PAYLOAD_DIGEST_MISMATCH: 'PAYLOAD_DIGEST_MISMATCH',
  IDENTITY_MISMATCH: 'PAYLOAD_NO_IDENTITY',
  REKOR_BUNDLE_MISSING: 'BAD_SIGNATURE',
  REKOR_BUNDLE_INVALID: 'MALFORMED_MESSAGE',
  REKOR_LOG_ID_MISMATCH: 'UNKNOWN_KEY',
  REKOR_SET_INVALID: 'BAD_SIGNATURE',
  REKOR_ENTRY_MISMATCH: 'BAD_SIGNATURE',
  REKOR_UNSUPPORTED_ENTRY: 'UNSUPPORTED_MESSAGE',
  TOO_MANY_SIGNATURES: 'STORE_OVERSIZE',
  INVALID_SIGNATURE_MANIFEST: 'MALFORMED_MESSAGE',
  PAYLOAD_UNAVAILABLE: 'STORE_ERROR',
};

/**
 * A sigstore verification failure. Like RegistryError it is a {@link VerifyError} carrying the
 * project-wide code; `sigstoreCode` keeps the detail.
 */
export class SigstoreError extends VerifyError {
  readonly sigstoreCode: SigstoreErrorCode;

  constructor(code: SigstoreErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(VERIFY_CODE[code], message, 'cause' in options ? { cause: options.cause } : {});
    this.sigstoreCode = code;
  }
}

export function isSigstoreError(err: unknown, code?: SigstoreErrorCode): err is SigstoreError {
  return err instanceof SigstoreError && (code === undefined || err.sigstoreCode === code);
}
