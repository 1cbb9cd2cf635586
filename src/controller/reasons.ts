import { CODE_TABLE } from '../errors.js';
import type { VerifyErrorCode } from '../errors.js';

export { toConditionReason } from '../errors.js';

/** Kubernetes condition reasons (CamelCase) for every code: the reason column of CODE_TABLE. */
export const CONDITION_REASONS: Readonly<Record<VerifyErrorCode, string>> = Object.fromEntries(
  Object.entries(CODE_TABLE).map(([code, info]) => [code, info.reason]),
) as Record<VerifyErrorCode, string>;

/** ReleaseAccepted / PayloadVerified reason and Event reason when component images would fail. */
export const PAYLOAD_FAILED_REASON = 'PayloadVerificationFailed';
/** PayloadVerified=False when no component image is covered by a ClusterImagePolicy. */
export const NOTHING_COVERED_REASON = 'NoComponentsCovered';
