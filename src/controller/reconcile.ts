import type { VerifyErrorCode } from '../errors.js';
import type { ClusterVersion, ClusterVersionStatus } from '../kube/types.js';
import { ConditionType, findCondition, setCondition } from './conditions.js';
import { addHistoryEntry } from './history.js';
import { NOTHING_COVERED_REASON, PAYLOAD_FAILED_REASON, toConditionReason } from './reasons.js';
import { resolveTarget } from './target.js';

/** What verification concluded, reduced to what status, events and history need. */
export interface VerificationOutcome {
  readonly verified: boolean;
  readonly code?: VerifyErrorCode;
  /** Short form, e.g. `unable to verify sha256:… against keyrings: verifier-public-key-redhat`. */
  readonly message: string;
  /** Long form lines: every store failure and rejected signature. */
  readonly details: readonly string[];
  /** One line for people: who signed it, or the most useful reason it failed. */
  readonly summary: string;
}

export interface EventSpec {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

/** What a reconcile must do next for the current spec. */
export type Plan =
  | { readonly kind: 'nothing' }
  | { readonly kind: 'invalid'; readonly message: string }
  | {
      readonly kind: 'verify';
      readonly image: string;
      readonly version: string;
      readonly force: boolean;
    };

/**
 * Decides whether spec.desiredUpdate needs verification. A target that status already shows as
 * accepted (desired, history head and ReleaseAccepted=True for the same image) needs nothing:
 * status writes and restarts do not re-verify it. A target that was refused is verified again.
 */
export function planReconcile(cv: ClusterVersion): Plan {
  const target = resolveTarget(cv);
  switch (target.kind) {
    case 'none':
      return { kind: 'nothing' };
    case 'invalid':
      return { kind: 'invalid', message: target.message };
    case 'target': {
      const status = cv.status;
      const accepted = findCondition(status?.conditions, ConditionType.ReleaseAccepted);
      const head = status?.history?.[0];
      if (
        status?.desired.image === target.image &&
        head?.image === target.image &&
        accepted?.status === 'True'
      ) {
        return { kind: 'nothing' };
      }
      return { kind: 'verify', image: target.image, version: target.version, force: target.force };
    }
    default: {
      const never: never = target;
      throw new Error(`unknown target ${JSON.stringify(never)}`);
    }
  }
}

/** The CVO's ReleaseAccepted=False message (parity). */
export function retrievePayloadFailedMessage(
  version: string,
  image: string,
  error: string,
): string {
  return `Retrieving payload failed version=${JSON.stringify(version)} image=${JSON.stringify(image)} failure=The update cannot be verified: ${error}`;
}

/** The CVO's accepted-risk text for a forced, unverified update (parity). */
export function forcedRiskMessage(version: string, image: string, error: string): string {
  return `Target release version=${JSON.stringify(version)} image=${JSON.stringify(image)} cannot be verified, but continuing anyway because the update was forced: ${error}`;
}

/** ReleaseAccepted=False message when the payload's component images would fail (enforce). */
export function payloadRefusedMessage(version: string, image: string, payload: string): string {
  return `Payload verification failed version=${JSON.stringify(version)} image=${JSON.stringify(image)}: ${payload}`;
}

/** The CVO's refusal when a payload's release-metadata contradicts the requested version. */
export function payloadVersionMismatchMessage(
  version: string,
  image: string,
  payloadVersion: string,
): string {
  return `Verifying payload failed version=${JSON.stringify(version)} image=${JSON.stringify(image)} failure=release image version ${payloadVersion} does not match the expected upstream version ${version}`;
}

/** What the payload check concluded, reduced to what status and events need. */
export interface PayloadResult {
  readonly mode: 'warn' | 'enforce';
  readonly verified: boolean;
  /** Nothing was checked (no component covered by a policy): not verified, its own reason. */
  readonly nothingCovered?: boolean;
  /** The payload's release-metadata version, when the payload was read. */
  readonly version?: string;
  /** One line naming the failing components (abbreviated), or the count that verified. */
  readonly message: string;
}

/** The long form: the short error and every detail, newlines replaced as the CVO's events do. */
export function fullError(outcome: VerificationOutcome): string {
  return [outcome.message, ...outcome.details].join(' // ').replace(/\n/g, ' // ');
}

export function emptyStatus(cv: ClusterVersion): ClusterVersionStatus {
  return {
    desired: {},
    observedGeneration: cv.metadata.generation ?? 0,
    versionHash: '',
    availableUpdates: null,
  };
}

/** Status for a spec.desiredUpdate that cannot be resolved (CVO: Invalid, InvalidClusterVersion). */
export function applyInvalid(
  cv: ClusterVersion,
  message: string,
  now: string,
): ClusterVersionStatus {
  const status = cv.status ?? emptyStatus(cv);
  return {
    ...status,
    conditions: setCondition(
      status.conditions,
      { type: ConditionType.Invalid, status: 'True', reason: 'InvalidClusterVersion', message },
      now,
    ),
  };
}

/**
 * Applies a verification verdict for the planned target: accepted (verified, or forced) adds a
 * Partial history entry and sets status.desired; refused sets ReleaseAccepted=False in the CVO's
 * words and leaves history alone. Returns the new status and the events to record.
 */
export function applyVerdict(
  cv: ClusterVersion,
  plan: Extract<Plan, { kind: 'verify' }>,
  outcome: VerificationOutcome,
  now: string,
  payload?: PayloadResult,
): { status: ClusterVersionStatus; events: EventSpec[] } {
  const status = cv.status ?? emptyStatus(cv);
  let conditions = setCondition(
    status.conditions,
    { type: ConditionType.Invalid, status: 'False', reason: 'AsExpected', message: '' },
    now,
  );
  const { image } = plan;
  // As the CVO: an image requested without a version takes the payload's; a version that the
  // payload contradicts is refused, forced or not (what stops a downgrade through a spoofed
  // update graph).
  const version =
    plan.version === '' && payload?.version !== undefined ? payload.version : plan.version;
  const events: EventSpec[] = [];
  conditions = setCondition(
    conditions,
    outcome.verified
      ? {
          type: ConditionType.ReleaseVerified,
          status: 'True',
          reason: 'Verified',
          message: `${image}: ${outcome.summary}`,
        }
      : {
          type: ConditionType.ReleaseVerified,
          status: 'False',
          reason: toConditionReason(outcome.code),
          message: `${image}: ${outcome.summary === outcome.message ? outcome.message : `${outcome.message}: ${outcome.summary}`}`,
        },
    now,
  );

  if (payload !== undefined) {
    conditions = setCondition(
      conditions,
      payload.verified
        ? {
            type: ConditionType.PayloadVerified,
            status: 'True',
            reason: 'PayloadVerified',
            message: `${image}: ${payload.message}`,
          }
        : {
            type: ConditionType.PayloadVerified,
            status: 'False',
            reason:
              payload.nothingCovered === true ? NOTHING_COVERED_REASON : PAYLOAD_FAILED_REASON,
            message: `${image}: ${payload.message}${payload.mode === 'warn' ? ' (warn mode: the update is not blocked)' : ''}`,
          },
      now,
    );
  }
  // After verification, as the CVO orders them: an unverified, unforced target is refused for
  // that first (below).
  if (
    payload?.version !== undefined &&
    payload.version !== version &&
    (outcome.verified || plan.force)
  ) {
    const message = payloadVersionMismatchMessage(version, image, payload.version);
    conditions = setCondition(
      conditions,
      {
        type: ConditionType.ReleaseAccepted,
        status: 'False',
        reason: 'VerifyPayloadVersion',
        message,
      },
      now,
    );
    events.push({ type: 'Warning', reason: 'VerifyPayloadVersionFailed', message });
    return {
      status: {
        ...status,
        conditions,
        observedGeneration: cv.metadata.generation ?? status.observedGeneration,
      },
      events,
    };
  }
  const payloadFailed = payload !== undefined && !payload.verified;

  if (outcome.verified && payloadFailed && payload.mode === 'enforce' && !plan.force) {
    const message = payloadRefusedMessage(version, image, payload.message);
    conditions = setCondition(
      conditions,
      {
        type: ConditionType.ReleaseAccepted,
        status: 'False',
        reason: PAYLOAD_FAILED_REASON,
        message,
      },
      now,
    );
    events.push({ type: 'Warning', reason: PAYLOAD_FAILED_REASON, message });
    return {
      status: {
        ...status,
        conditions,
        observedGeneration: cv.metadata.generation ?? status.observedGeneration,
      },
      events,
    };
  }

  if (!outcome.verified && !plan.force) {
    conditions = setCondition(
      conditions,
      {
        type: ConditionType.ReleaseAccepted,
        status: 'False',
        reason: 'RetrievePayload',
        message: retrievePayloadFailedMessage(version, image, outcome.message),
      },
      now,
    );
    events.push({
      type: 'Warning',
      reason: 'RetrievePayloadFailed',
      message: retrievePayloadFailedMessage(version, image, fullError(outcome)),
    });
    return {
      status: {
        ...status,
        conditions,
        observedGeneration: cv.metadata.generation ?? status.observedGeneration,
      },
      events,
    };
  }

  const risks: string[] = [];
  if (!outcome.verified) risks.push(forcedRiskMessage(version, image, outcome.message));
  if (payloadFailed && payload.mode === 'enforce') {
    risks.push(
      `Payload verification failed for version=${JSON.stringify(version)} image=${JSON.stringify(image)}, but continuing anyway because the update was forced: ${payload.message}`,
    );
  }
  if (payloadFailed) {
    events.push({
      type: 'Warning',
      reason: PAYLOAD_FAILED_REASON,
      message: `${payloadRefusedMessage(version, image, payload.message)}${payload.mode === 'warn' ? ' (warn mode: the update is not blocked)' : ' (accepted: the update was forced)'}`,
    });
  }
  const acceptedRisks = risks.length > 0 ? risks.join('\n') : undefined;
  if (!outcome.verified) {
    events.push({
      type: 'Warning',
      reason: 'RetrievePayload',
      message: `${forcedRiskMessage(version, image, outcome.message)} // ${outcome.details.join(' // ')}`,
    });
  } else {
    events.push({
      type: 'Normal',
      reason: 'ReleaseVerified',
      message: `Release ${image} verified: ${outcome.summary}`,
    });
  }
  conditions = setCondition(
    conditions,
    {
      type: ConditionType.ReleaseAccepted,
      status: 'True',
      reason: 'PayloadLoaded',
      message: `Payload loaded version=${JSON.stringify(version)} image=${JSON.stringify(image)}`,
    },
    now,
  );
  const history = addHistoryEntry(
    status.history,
    {
      startedTime: now,
      version,
      image,
      verified: outcome.verified,
      ...(acceptedRisks !== undefined ? { acceptedRisks } : {}),
    },
    now,
  );
  return {
    status: {
      ...status,
      // The schema requires version; it is the payload's when only an image was given and the
      // payload was read, else empty.
      desired: { version, image },
      history,
      conditions,
      observedGeneration: cv.metadata.generation ?? status.observedGeneration,
    },
    events,
  };
}
