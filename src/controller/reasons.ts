import type { VerifyErrorCode } from '../errors.js';

/** Kubernetes condition reasons (CamelCase) for every verification error code, in one place. */
export const CONDITION_REASONS: Readonly<Record<VerifyErrorCode, string>> = {
  NOT_BY_DIGEST: 'NotByDigest',
  INVALID_DIGEST: 'InvalidDigest',
  INVALID_PULLSPEC: 'InvalidPullspec',
  ROOT_OF_TRUST_NOT_FOUND: 'RootOfTrustNotFound',
  ROOT_OF_TRUST_INVALID: 'RootOfTrustInvalid',
  NO_STORES: 'NoSignatureStores',
  NO_KEYS: 'NoPublicKeys',
  INVALID_KEY: 'InvalidPublicKey',
  INVALID_STORE: 'InvalidSignatureStore',
  USAGE: 'InvalidConfiguration',
  MALFORMED_MESSAGE: 'MalformedSignature',
  UNSUPPORTED_MESSAGE: 'UnsupportedSignature',
  UNSIGNED: 'UnsignedMessage',
  UNSUPPORTED_ALGORITHM: 'UnsupportedAlgorithm',
  UNKNOWN_KEY: 'UnknownKey',
  KEY_NOT_VALID: 'KeyNotValid',
  KEY_REVOKED: 'KeyRevoked',
  SIGNATURE_EXPIRED: 'SignatureExpired',
  SIGNATURE_FROM_FUTURE: 'SignatureFromFuture',
  BAD_SIGNATURE: 'BadSignature',
  PAYLOAD_INVALID_JSON: 'InvalidSignaturePayload',
  PAYLOAD_WRONG_TYPE: 'WrongSignatureType',
  PAYLOAD_NO_IDENTITY: 'SignatureWithoutIdentity',
  PAYLOAD_DIGEST_MISMATCH: 'SignatureDigestMismatch',
  STORE_ERROR: 'SignatureStoreError',
  STORE_OVERSIZE: 'SignatureTooLarge',
  STORE_TIMEOUT: 'SignatureStoreTimeout',
  STORE_REDIRECT: 'SignatureStoreRedirect',
  NOT_SIGNED: 'NotSigned',
  ABORTED: 'VerificationAborted',
};

export function toConditionReason(code: VerifyErrorCode | undefined): string {
  return code === undefined ? 'VerificationFailed' : CONDITION_REASONS[code];
}

/** ReleaseAccepted / PayloadVerified reason and Event reason when component images would fail. */
export const PAYLOAD_FAILED_REASON = 'PayloadVerificationFailed';
/** PayloadVerified=False when no component image is covered by a ClusterImagePolicy. */
export const NOTHING_COVERED_REASON = 'NoComponentsCovered';
