import { VerifyError } from '../errors.js';
import type { VerifyErrorCode } from '../errors.js';

/**
 * Why a registry operation failed. A missing manifest or tag is not among them: it is a result
 * (`status: 'not-found'`), because for cosign it means "unsigned", not "broken".
 */
export type RegistryErrorCode =
  /** The repository, tag or digest the caller passed is malformed. */
  | 'INVALID_REFERENCE'
  /** Plain HTTP to a host that is neither loopback nor listed as insecure. */
  | 'INSECURE_TRANSPORT'
  /** A docker config.json / pull secret that cannot be read or parsed. */
  | 'INVALID_CREDENTIALS_FILE'
  /** 401 after the authentication handshake, or a token server refusing the credentials. */
  | 'UNAUTHORIZED'
  /** 403 from the registry. */
  | 'DENIED'
  /** A blob a manifest refers to is missing (a broken registry, not an unsigned image). */
  | 'BLOB_NOT_FOUND'
  /** Any other unexpected status, including 429 and 5xx once retries are spent. */
  | 'HTTP_STATUS'
  /** Connection-level failure (refused, reset, TLS). */
  | 'NETWORK'
  /** A response that is not what the protocol promises: bad JSON, media type, challenge… */
  | 'INVALID_RESPONSE'
  /** Content whose digest (or size) differs from the one it was fetched by. */
  | 'DIGEST_MISMATCH'
  /** A body larger than its limit (rejected, never truncated). */
  | 'OVERSIZE'
  /** An image manifest with more layers than the limit. */
  | 'TOO_MANY_LAYERS'
  /** An index (or referrers list) with more entries than the limit. */
  | 'TOO_MANY_MANIFESTS'
  /** The per-request time limit ran out. */
  | 'TIMEOUT'
  /** Too many redirects, a redirect without Location, or to a scheme other than http(s). */
  | 'REDIRECT'
  /** The caller's AbortSignal fired. */
  | 'ABORTED';

/** The one place registry failures meet the project-wide codes (conditions, exit codes). */
const VERIFY_CODE: Readonly<Record<RegistryErrorCode, VerifyErrorCode>> = {
  INVALID_REFERENCE: 'INVALID_PULLSPEC',
  INSECURE_TRANSPORT: 'INVALID_STORE',
  INVALID_CREDENTIALS_FILE: 'INVALID_STORE',
  UNAUTHORIZED: 'STORE_ERROR',
  DENIED: 'STORE_ERROR',
  BLOB_NOT_FOUND: 'STORE_ERROR',
  HTTP_STATUS: 'STORE_ERROR',
  NETWORK: 'STORE_ERROR',
  INVALID_RESPONSE: 'STORE_ERROR',
  DIGEST_MISMATCH: 'STORE_ERROR',
  OVERSIZE: 'STORE_OVERSIZE',
  TOO_MANY_LAYERS: 'STORE_OVERSIZE',
  TOO_MANY_MANIFESTS: 'STORE_OVERSIZE',
  TIMEOUT: 'STORE_TIMEOUT',
  REDIRECT: 'STORE_REDIRECT',
  ABORTED: 'ABORTED',
};

export interface RegistryErrorOptions {
  readonly cause?: unknown;
  /** HTTP status of the response that failed, when there was one. */
  readonly status?: number;
  /** Whether another attempt may succeed (429, 5xx, connection resets). */
  readonly retryable?: boolean;
  /** The server's Retry-After, already capped, in milliseconds. */
  readonly retryAfterMs?: number;
}

/**
 * A registry failure. It is a {@link VerifyError} whose `code` is the project-wide code the
 * registry code maps to, so callers that only know VerifyError keep working; `registryCode`
 * keeps the detail. Messages name the registry URL and never carry credentials or tokens.
 */
export class RegistryError extends VerifyError {
  readonly registryCode: RegistryErrorCode;
  readonly status: number | undefined;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(code: RegistryErrorCode, message: string, options: RegistryErrorOptions = {}) {
    super(VERIFY_CODE[code], message, 'cause' in options ? { cause: options.cause } : {});
    this.registryCode = code;
    this.status = options.status;
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
  }
}

export function isRegistryError(err: unknown, code?: RegistryErrorCode): err is RegistryError {
  return err instanceof RegistryError && (code === undefined || err.registryCode === code);
}
