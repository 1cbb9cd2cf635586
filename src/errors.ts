/**
 * Every failure this project reports carries a closed `code`, so callers (CLI exit codes,
 * Kubernetes condition reasons, evidence) switch on codes rather than on message text.
 */
export type VerifyErrorCode =
  // pullspec and digest
  | 'NOT_BY_DIGEST'
  | 'INVALID_DIGEST'
  | 'INVALID_PULLSPEC'
  // root of trust / configuration
  | 'ROOT_OF_TRUST_NOT_FOUND'
  | 'ROOT_OF_TRUST_INVALID'
  | 'NO_STORES'
  | 'NO_KEYS'
  | 'INVALID_KEY'
  | 'INVALID_STORE'
  | 'USAGE'
  // OpenPGP message and signature checks
  | 'MALFORMED_MESSAGE'
  | 'UNSUPPORTED_MESSAGE'
  | 'UNSIGNED'
  | 'UNSUPPORTED_ALGORITHM'
  | 'UNKNOWN_KEY'
  | 'KEY_NOT_VALID'
  | 'KEY_REVOKED'
  | 'SIGNATURE_EXPIRED'
  | 'SIGNATURE_FROM_FUTURE'
  | 'BAD_SIGNATURE'
  // atomic container signature payload
  | 'PAYLOAD_INVALID_JSON'
  | 'PAYLOAD_WRONG_TYPE'
  | 'PAYLOAD_NO_IDENTITY'
  | 'PAYLOAD_DIGEST_MISMATCH'
  // signature stores
  | 'STORE_ERROR'
  | 'STORE_OVERSIZE'
  | 'STORE_TIMEOUT'
  | 'STORE_REDIRECT'
  | 'NOT_SIGNED'
  | 'ABORTED';

export class VerifyError extends Error {
  override readonly name = 'VerifyError';
  readonly code: VerifyErrorCode;

  constructor(code: VerifyErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export function isVerifyError(err: unknown, code?: VerifyErrorCode): err is VerifyError {
  return err instanceof VerifyError && (code === undefined || err.code === code);
}

/** Converts anything thrown into a VerifyError, keeping the original as `cause`. */
export function toVerifyError(err: unknown, fallback: VerifyErrorCode): VerifyError {
  if (err instanceof VerifyError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new VerifyError(fallback, message, { cause: err });
}
