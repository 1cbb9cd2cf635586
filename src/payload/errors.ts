import { VerifyError } from '../errors.js';
import type { VerifyErrorCode } from '../errors.js';

/** Why reading or checking a release payload failed. */
export type PayloadErrorCode =
  /** A layer whose compression or archive format is not one we read (or not what it claims). */
  | 'LAYER_FORMAT'
  /** A compressed stream that ends early or is corrupt (a truncated layer). */
  | 'LAYER_CORRUPT'
  /** An archive entry, a member or a whole layer over its size or count limit. */
  | 'LAYER_OVERSIZE'
  /** An archive entry whose path escapes the archive root (`..`, absolute) or is unreadable. */
  | 'UNSAFE_PATH'
  /** `release-manifests/image-references` or `release-metadata` absent from every layer. */
  | 'MISSING_FILE'
  /** image-references, release-metadata, an ImageDigestMirrorSet or ImageContentSourcePolicy
   *  that does not have the expected shape. */
  | 'INVALID_CONTENT'
  /** A manifest list without the requested platform. */
  | 'PLATFORM_NOT_FOUND';

const VERIFY_CODE: Readonly<Record<PayloadErrorCode, VerifyErrorCode>> = {
  LAYER_FORMAT: 'UNSUPPORTED_MESSAGE',
  LAYER_CORRUPT: 'MALFORMED_MESSAGE',
  LAYER_OVERSIZE: 'STORE_OVERSIZE',
  UNSAFE_PATH: 'MALFORMED_MESSAGE',
  MISSING_FILE: 'MALFORMED_MESSAGE',
  INVALID_CONTENT: 'MALFORMED_MESSAGE',
  PLATFORM_NOT_FOUND: 'STORE_ERROR',
};

/**
 * A payload failure: a {@link VerifyError} whose `code` is the project-wide code, with
 * `payloadCode` keeping the detail. Messages name the layer, entry or field at fault.
 */
export class PayloadError extends VerifyError {
  readonly payloadCode: PayloadErrorCode;

  constructor(code: PayloadErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(VERIFY_CODE[code], message, 'cause' in options ? { cause: options.cause } : {});
    this.payloadCode = code;
  }
}

export function isPayloadError(err: unknown, code?: PayloadErrorCode): err is PayloadError {
  return err instanceof PayloadError && (code === undefined || err.payloadCode === code);
}
