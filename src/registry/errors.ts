import { isVerifyError } from '../errors.js';
import type { RegistryErrorCode, VerifyError } from '../errors.js';

export type { RegistryErrorCode } from '../errors.js';

/**
 * Transitional (issue 12): registry failures are {@link VerifyError}s carrying the registry's own
 * codes. This guard remains only until src/sigstore reads `isVerifyError` and `err.area`; then
 * this module goes away.
 */
export function isRegistryError(err: unknown, code?: RegistryErrorCode): err is VerifyError {
  if (code !== undefined) return isVerifyError(err, code);
  return isVerifyError(err) && (err.area === 'registry' || err.code === 'ABORTED');
}
