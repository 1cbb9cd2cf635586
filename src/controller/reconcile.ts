import type { VerifyErrorCode } from '../errors.js';
import type { ClusterVersion, ClusterVersionStatus, Condition, Release } from '../kube/types.js';
import { ConditionType, findCondition, removeCondition, setCondition } from './conditions.js';
import { recordTarget } from './history.js';
import { NOTHING_COVERED_REASON, PAYLOAD_FAILED_REASON, toConditionReason } from './reasons.js';
import { goQuote, resolveTarget } from './target.js';
import type { TargetOptions } from './target.js';

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
  /** `invalid`: Invalid=True's message for spec fields the CVO clears alone (upstream, clusterID). */
  | { readonly kind: 'nothing'; readonly invalid?: string }
  | { readonly kind: 'invalid'; readonly message: string }
  | {
      readonly kind: 'verify';
      readonly image: string;
      readonly version: string;
      readonly force: boolean;
      readonly invalid?: string;
    };

/**
 * Decides whether spec.desiredUpdate needs verification. A target that status already shows as
 * accepted (desired, history head and ReleaseAccepted=True for the same image) needs nothing:
 * status writes and restarts do not re-verify it. A target that was refused is verified again.
 */
export function planReconcile(cv: ClusterVersion, options: TargetOptions = {}): Plan {
  const target = resolveTarget(cv, options);
  const invalid =
    'invalid' in target && target.invalid !== undefined ? { invalid: target.invalid } : {};
  switch (target.kind) {
    case 'none':
      return { kind: 'nothing', ...invalid };
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
        return { kind: 'nothing', ...invalid };
      }
      return {
        kind: 'verify',
        image: target.image,
        version: target.version,
        force: target.force,
        ...invalid,
      };
    }
    default: {
      const never: never = target;
      throw new Error(`unknown target ${JSON.stringify(never)}`);
    }
  }
}

/**
 * The CVO's ReleaseAccepted=False message (pkg/cvo/sync_worker.go:354, the failure from
 * pkg/cvo/updatepayload.go:134).
 */
export function retrievePayloadFailedMessage(
  version: string,
  image: string,
  error: string,
): string {
  return `Retrieving payload failed version=${goQuote(version)} image=${goQuote(image)} failure=The update cannot be verified: ${error}`;
}

/** The CVO's accepted-risk text for a forced, unverified update (pkg/cvo/updatepayload.go:140). */
export function forcedRiskMessage(version: string, image: string, error: string): string {
  return `Target release version=${goQuote(version)} image=${goQuote(image)} cannot be verified, but continuing anyway because the update was forced: ${error}`;
}

/** ReleaseAccepted=False message when the payload's component images would fail (enforce). */
export function payloadRefusedMessage(version: string, image: string, payload: string): string {
  return `Payload verification failed version=${goQuote(version)} image=${goQuote(image)}: ${payload}`;
}

/**
 * The CVO's refusal when a payload's release-metadata contradicts the requested version
 * (pkg/cvo/sync_worker.go:399-400).
 */
export function payloadVersionMismatchMessage(
  version: string,
  image: string,
  payloadVersion: string,
): string {
  return `Verifying payload failed version=${goQuote(version)} image=${goQuote(image)} failure=release image version ${payloadVersion} does not match the expected upstream version ${version}`;
}

/** The CVO's ReleaseAccepted=True message (pkg/cvo/sync_worker.go:456-457). */
export function payloadLoadedMessage(version: string, image: string, architecture: string): string {
  return `Payload loaded version=${goQuote(version)} image=${goQuote(image)} architecture=${goQuote(architecture)}`;
}

/** What the payload check concluded, reduced to what status and events need. */
export interface PayloadResult {
  readonly mode: 'warn' | 'enforce';
  readonly verified: boolean;
  /** Nothing was checked (no component covered by a policy): not verified, its own reason. */
  readonly nothingCovered?: boolean;
  /** One line naming the failing components (abbreviated), or the count that verified. */
  readonly message: string;
}

/**
 * What the release's own release-metadata says, as the CVO loads it before accepting an update
 * (pkg/cvo/sync_worker.go loadUpdatedPayload), or why it could not be read.
 */
export type ReleaseLoad =
  | {
      readonly kind: 'loaded';
      readonly version: string;
      /** `Multi` when the metadata says so (cincinnati.ParseMetadata); else absent. */
      readonly architecture?: string;
      readonly url?: string;
      readonly channels?: readonly string[];
    }
  | {
      readonly kind: 'unreadable';
      readonly message: string;
      /**
       * The CVO's step that would fail: `retrieve` (the image or a layer could not be fetched:
       * RetrievePayload) or `load` (its content is not a release payload: LoadPayload).
       */
      readonly stage: 'retrieve' | 'load';
      /**
       * `enforce` (the default): refused as the CVO refuses a payload it cannot retrieve or load,
       * forced or not; `warn`: accepted with a Warning, the version unchecked (for a service
       * beside a CVO that loads the payload itself).
       */
      readonly mode: 'enforce' | 'warn';
    };

/** The Warning Event when the release's metadata could not be read and `warn` accepts it. */
export const RELEASE_METADATA_UNREADABLE_REASON = 'ReleaseMetadataUnreadable';

/**
 * The CVO's ReleaseAccepted=False message when the payload cannot be retrieved or loaded
 * (pkg/cvo/sync_worker.go:353-354 and :378).
 */
export function payloadUnreadableMessage(
  stage: 'retrieve' | 'load',
  version: string,
  image: string,
  failure: string,
): string {
  return stage === 'retrieve'
    ? `Retrieving payload failed version=${goQuote(version)} image=${goQuote(image)} failure=${failure}`
    : `Loading payload failed version=${goQuote(version)} image=${goQuote(image)} failure=${failure}`;
}

/**
 * Said when the release-metadata could not be read: the verdict is this service's, loading is the
 * CVO's, which will fail on the same image (pkg/cvo/sync_worker.go, "Loading payload failed").
 */
export function releaseMetadataUnreadableMessage(
  version: string,
  image: string,
  failure: string,
): string {
  return `Reading release metadata failed version=${goQuote(version)} image=${goQuote(image)} failure=${failure.replace(/\n/g, ' // ')}: the version is taken from the request or the available updates and not checked against the payload`;
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

/**
 * Status when there is nothing to verify: the CVO removes the Invalid condition whenever
 * validation finds no error (pkg/cvo/status.go:291-293). Undefined when nothing changes.
 */
export function applyNothing(
  cv: ClusterVersion,
  now: string,
  invalid?: string,
): ClusterVersionStatus | undefined {
  const status = cv.status;
  if (status === undefined) return undefined;
  const generation = cv.metadata.generation;
  const conditions =
    invalid !== undefined
      ? setCondition(status.conditions, invalidCondition(invalid), now)
      : removeCondition(status.conditions, ConditionType.Invalid);
  // The CVO writes the generation it synced on every pass (pkg/cvo/status.go:205).
  const stale = generation !== undefined && status.observedGeneration !== generation;
  if (!stale && JSON.stringify(conditions) === JSON.stringify(status.conditions)) return undefined;
  return {
    ...status,
    conditions,
    observedGeneration: generation ?? status.observedGeneration,
  };
}

function invalidCondition(message: string): Omit<Condition, 'lastTransitionTime'> {
  return { type: ConditionType.Invalid, status: 'True', reason: 'InvalidClusterVersion', message };
}

/**
 * Status for a spec.desiredUpdate that cannot be resolved (CVO: Invalid, InvalidClusterVersion).
 * The generation counts as observed: the CVO syncs the spec with the invalid fields cleared
 * (pkg/cvo/cvo.go:832-880) and writes that generation (pkg/cvo/status.go:205).
 */
export function applyInvalid(
  cv: ClusterVersion,
  message: string,
  now: string,
): ClusterVersionStatus {
  const status = cv.status ?? emptyStatus(cv);
  return {
    ...status,
    conditions: setCondition(status.conditions, invalidCondition(message), now),
    observedGeneration: cv.metadata.generation ?? status.observedGeneration,
  };
}

/** What applyVerdict needs besides the verdict. */
export interface VerdictContext {
  readonly now: string;
  /**
   * What the CVO writes as `architecture=` for a payload whose release-metadata does not say
   * multi: the architecture its own process runs as, Go's runtime.GOARCH (`amd64`, `arm64`, …;
   * pkg/payload/payload.go:290-294).
   */
  readonly architecture: string;
  /**
   * The StatusReleaseArchitecture gate (the FeatureGate's ImageStreamImportMode): status.desired
   * then carries the payload's (or the available update's) architecture.
   */
  readonly statusReleaseArchitecture?: boolean;
  /** The payload's verdict, when the port checked the payload. */
  readonly payload?: PayloadResult | undefined;
  /** The release's metadata (or why it could not be read), when the port read it. */
  readonly release?: ReleaseLoad | undefined;
}

/**
 * Applies a verification verdict for the planned target: accepted (verified, or forced) records
 * the target in history and sets status.desired; refused sets ReleaseAccepted=False in the CVO's
 * words and leaves history alone. Returns the new status and the events to record.
 */
export function applyVerdict(
  cv: ClusterVersion,
  plan: Extract<Plan, { kind: 'verify' }>,
  outcome: VerificationOutcome,
  context: VerdictContext,
): { status: ClusterVersionStatus; events: EventSpec[] } {
  const { now, payload, release } = context;
  const loaded = release?.kind === 'loaded' ? release : undefined;
  const status = cv.status ?? emptyStatus(cv);
  // Valid spec: the CVO removes Invalid (pkg/cvo/status.go:291-293); a spec field it cleared
  // alone keeps it True while the update goes on.
  let conditions =
    plan.invalid !== undefined
      ? setCondition(status.conditions, invalidCondition(plan.invalid), context.now)
      : removeCondition(status.conditions, ConditionType.Invalid);
  const { image } = plan;
  // As the CVO: an image requested without a version takes the payload's; a version that the
  // payload contradicts is refused, forced or not (what stops a downgrade through a spoofed
  // update graph).
  const version = plan.version === '' && loaded !== undefined ? loaded.version : plan.version;
  const events: EventSpec[] = [];
  // ReleaseAccepted=False with the conditions so far and the events pushed before it.
  const refuse = (
    reason: string,
    message: string,
  ): { status: ClusterVersionStatus; events: EventSpec[] } => ({
    status: {
      ...status,
      conditions: setCondition(
        conditions,
        { type: ConditionType.ReleaseAccepted, status: 'False', reason, message },
        now,
      ),
      observedGeneration: cv.metadata.generation ?? status.observedGeneration,
    },
    events,
  });
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

  if (payload === undefined) {
    // It speaks of the target: a check of an earlier target must not stand for this one.
    conditions = removeCondition(conditions, ConditionType.PayloadVerified);
  } else {
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
  if (loaded !== undefined && loaded.version !== version && (outcome.verified || plan.force)) {
    const message = payloadVersionMismatchMessage(version, image, loaded.version);
    events.push({ type: 'Warning', reason: 'VerifyPayloadVersionFailed', message });
    return refuse('VerifyPayloadVersion', message);
  }
  if (release?.kind === 'unreadable' && release.mode === 'enforce') {
    // As the CVO: a payload it cannot retrieve or load is not accepted, forced or not; the
    // background re-check tries again.
    const message = payloadUnreadableMessage(release.stage, plan.version, image, release.message);
    events.push({
      type: 'Warning',
      reason: release.stage === 'retrieve' ? 'RetrievePayloadFailed' : 'LoadPayloadFailed',
      message: message.replace(/\n/g, ' // '),
    });
    return refuse(release.stage === 'retrieve' ? 'RetrievePayload' : 'LoadPayload', message);
  }

  const payloadFailed = payload !== undefined && !payload.verified;

  if (outcome.verified && payloadFailed && payload.mode === 'enforce' && !plan.force) {
    const message = payloadRefusedMessage(version, image, payload.message);
    events.push({ type: 'Warning', reason: PAYLOAD_FAILED_REASON, message });
    return refuse(PAYLOAD_FAILED_REASON, message);
  }

  if (!outcome.verified && !plan.force) {
    events.push({
      type: 'Warning',
      reason: 'RetrievePayloadFailed',
      message: retrievePayloadFailedMessage(plan.version, image, fullError(outcome)),
    });
    return refuse(
      'RetrievePayload',
      retrievePayloadFailedMessage(plan.version, image, outcome.message),
    );
  }

  const risks: string[] = [];
  // The CVO words the risk before it reads the payload: with the requested version, "" for an
  // image alone (pkg/cvo/updatepayload.go:140).
  if (!outcome.verified) risks.push(forcedRiskMessage(plan.version, image, outcome.message));
  if (payloadFailed && payload.mode === 'enforce') {
    risks.push(
      `Payload verification failed for version=${goQuote(version)} image=${goQuote(image)}, but continuing anyway because the update was forced: ${payload.message}`,
    );
  }
  if (payloadFailed) {
    events.push({
      type: 'Warning',
      reason: PAYLOAD_FAILED_REASON,
      message: `${payloadRefusedMessage(version, image, payload.message)}${payload.mode === 'warn' ? ' (warn mode: the update is not blocked)' : ' (accepted: the update was forced)'}`,
    });
  }
  const acceptedRisks = risks.join('\n');
  if (!outcome.verified) {
    events.push({
      type: 'Warning',
      reason: 'RetrievePayload',
      message: `${forcedRiskMessage(plan.version, image, outcome.message)} // ${outcome.details.join(' // ')}`,
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
      message: payloadLoadedMessage(version, image, loaded?.architecture ?? context.architecture),
    },
    now,
  );
  if (release?.kind === 'unreadable' && release.mode === 'warn') {
    events.push({
      type: 'Warning',
      reason: RELEASE_METADATA_UNREADABLE_REASON,
      message: releaseMetadataUnreadableMessage(plan.version, image, release.message),
    });
  }
  // The schema requires version: the payload's when only an image was given and the payload was
  // read; else what an available update of the same digest says, as the CVO fills what the
  // payload left blank; else empty. URL and channels likewise: the payload's first.
  const desired = mergeReleaseMetadata(
    {
      version,
      image,
      ...(loaded?.url !== undefined ? { url: loaded.url } : {}),
      ...(loaded?.channels !== undefined ? { channels: loaded.channels } : {}),
      ...(loaded?.architecture !== undefined ? { architecture: loaded.architecture } : {}),
    },
    status.availableUpdates,
    context.statusReleaseArchitecture === true,
  );
  const history = recordTarget(
    status.history,
    { version: desired.version ?? '', image },
    outcome.verified,
    now,
    acceptedRisks,
  );
  return {
    status: {
      ...status,
      desired,
      history,
      conditions,
      observedGeneration: cv.metadata.generation ?? status.observedGeneration,
    },
    events,
  };
}

/**
 * The CVO's mergeReleaseMetadata (pkg/cvo/cvo.go:977-1030) over status.availableUpdates: the
 * available update of the same digest fills the version, url and channels the payload left
 * blank (architecture too, but only under the StatusReleaseArchitecture feature gate, off by
 * default: never here). Empty values stay absent, as Go's omitempty leaves them.
 */
function mergeReleaseMetadata(
  release: {
    readonly version: string;
    readonly image: string;
    readonly url?: string;
    readonly channels?: readonly string[];
    readonly architecture?: string;
  },
  availableUpdates: readonly Release[] | null,
  statusReleaseArchitecture: boolean,
): Release {
  const merged: Release = {
    version: release.version,
    image: release.image,
    ...(release.url !== undefined && release.url !== '' ? { url: release.url } : {}),
    ...(release.channels !== undefined ? { channels: [...release.channels] } : {}),
    // The payload's architecture reaches status only under the gate (pkg/cvo/status.go).
    ...(statusReleaseArchitecture && release.architecture !== undefined
      ? { architecture: release.architecture }
      : {}),
  };
  const match = (availableUpdates ?? []).find((u) => equalDigest(u.image ?? '', release.image));
  if (match === undefined) return merged;
  // Only what the payload left blank (cvo.go:981: "to avoid clobbering data from
  // payload.LoadUpdate").
  if (merged.version === '' && match.version !== undefined) merged.version = match.version;
  if (merged.url === undefined && match.url !== undefined && match.url !== '')
    merged.url = match.url;
  if (merged.channels === undefined && match.channels !== undefined && match.channels.length > 0)
    merged.channels = [...match.channels];
  if (
    statusReleaseArchitecture &&
    merged.architecture === undefined &&
    match.architecture !== undefined &&
    match.architecture !== ''
  )
    merged.architecture = match.architecture;
  return merged;
}

/** pkg/cvo/sync_worker.go:846-862: identical, or by-digest pullspecs of the same digest. */
function equalDigest(a: string, b: string): boolean {
  if (a === b) return true;
  const digest = splitDigest(a);
  return digest !== '' && digest === splitDigest(b);
}

function splitDigest(pullspec: string): string {
  const parts = pullspec.split('@');
  return parts.length === 2 ? (parts[1] ?? '') : '';
}
