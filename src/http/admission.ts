import { BY_TAG_FORCED_WARNING, BY_TAG_REFUSED } from '../image/oc-messages.js';
import type { ClusterVersion } from '../kube/types.js';
import { forcedRiskMessage, payloadRefusedMessage } from '../controller/reconcile.js';
import { goQuote, resolveTarget } from '../controller/target.js';

/** The parts of admission.k8s.io/v1 AdmissionReview this webhook reads and writes. */
export interface AdmissionReview {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  request?: {
    uid: string;
    kind?: { group?: string; version?: string; kind?: string };
    operation?: string;
    name?: string;
    object?: unknown;
    oldObject?: unknown;
    userInfo?: { username?: string };
  };
  response?: AdmissionResponse;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; reason?: string; message: string };
  warnings?: string[];
}

export type WebhookVerifyMode = 'off' | 'enforce';

/** What the webhook learns from a verification. */
export interface AdmissionVerdict {
  readonly verified: boolean;
  readonly message: string;
  /** The whole-payload verdict, when the payload was checked. */
  readonly payload?: {
    readonly mode: 'warn' | 'enforce';
    readonly verified: boolean;
    readonly message: string;
  };
}

/** The decision and a label for metrics and logs. */
export interface AdmissionDecision {
  readonly response: AdmissionResponse;
  readonly reason: string;
}

export interface AdmissionOptions {
  readonly mode: WebhookVerifyMode;
  /**
   * Verifies a by-digest target (enforce mode) with the cluster's own trust; must resolve within
   * the webhook's budget. It gets the image and whether the edit forces it (what the CVO does
   * with an accepted update depends on it) only: nothing else of the posted object (stores, CA
   * bundles, history) may become trust or an outbound URL.
   */
  readonly verify?: (
    image: string,
    signal: AbortSignal,
    force: boolean,
  ) => Promise<AdmissionVerdict>;
  /**
   * Companion mode (the webhook is the gate, the CVO applies): a forced edit is verified too, and
   * allowed with the CVO's accepted-risk words as a warning when it does not verify; a payload
   * verdict from `verify` denies an unforced edit (`enforce`) or warns (`warn`).
   */
  readonly companion?: boolean;
  /**
   * Bounds verifications in flight: a request waits for a permit within its budget (and is
   * denied as timed out if none frees up), so a flood of reviews cannot fan out into unbounded
   * outbound reads or starve the controller.
   */
  readonly limiter?: { acquire(signal: AbortSignal): Promise<() => void> };
  /** Time left for verification inside the API server's webhook timeout. */
  readonly budgetMs: number;
}

/** A request uid as the API server writes them (UUIDs), bounded. */
const UID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The webhook's own limit on a request body: ClusterVersions are a few hundred KiB at most. */
export const MAX_ADMISSION_BODY_BYTES = 3 * 1024 * 1024;

function allow(uid: string, reason: string, warnings?: string[]): AdmissionDecision {
  return { response: { uid, allowed: true, ...(warnings ? { warnings } : {}) }, reason };
}

function deny(uid: string, reason: string, message: string): AdmissionDecision {
  return {
    response: { uid, allowed: false, status: { code: 403, reason: 'Forbidden', message } },
    reason,
  };
}

function isClusterVersion(value: unknown): value is ClusterVersion {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as { kind?: unknown; spec?: unknown };
  return v.kind === 'ClusterVersion' && typeof v.spec === 'object' && v.spec !== null;
}

/**
 * Reviews a ClusterVersion UPDATE. Only a change of spec.desiredUpdate (image, version, force) is
 * judged, so unrelated edits are never blocked: a by-tag image without force is denied with oc's
 * refusal; with force it is allowed with oc's warning; in enforce mode a by-digest target that
 * fails verification within the budget (or whose verification does not finish in time) is
 * denied unless forced. In companion mode also a target whose payload fails (payload `enforce`;
 * `warn` warns), and a forced target is verified and allowed with the accepted risk as a warning.
 * Anything it cannot parse is denied with a message saying what.
 */
export async function reviewClusterVersion(
  review: AdmissionReview,
  options: AdmissionOptions,
): Promise<AdmissionDecision> {
  const request = review.request;
  const uid = typeof request?.uid === 'string' ? request.uid : '';
  if (request === undefined || uid === '')
    return deny('', 'malformed', 'the AdmissionReview has no request uid');
  // The API server sends a UUID; anything else is not echoed back or logged.
  if (!UID_RE.test(uid))
    return deny('', 'malformed', 'the AdmissionReview request uid is malformed');
  if (request.kind?.kind !== 'ClusterVersion' || request.operation !== 'UPDATE')
    return allow(uid, 'not-applicable');
  if (!isClusterVersion(request.object))
    return deny(uid, 'malformed', 'request.object is not a ClusterVersion');
  const cv = request.object;
  const old = isClusterVersion(request.oldObject) ? request.oldObject : undefined;
  const next = cv.spec.desiredUpdate;
  const before = old?.spec.desiredUpdate;
  if (next === undefined) return allow(uid, 'no-desired-update');
  const unchanged =
    next.image === before?.image &&
    next.version === before?.version &&
    next.force === before?.force;
  if (unchanged) return allow(uid, 'desired-update-unchanged');

  const force = next.force === true;
  const image = next.image ?? '';
  if (image !== '' && !image.includes('@')) {
    return force
      ? allow(uid, 'by-tag-forced', [BY_TAG_FORCED_WARNING])
      : deny(uid, 'by-tag', BY_TAG_REFUSED);
  }
  if (options.mode === 'off' || options.verify === undefined) return allow(uid, 'allowed');
  if (force && options.companion !== true) return allow(uid, 'allowed');

  // Enforce: verify the resolved target (a version is looked up in the old object's status).
  // Companion mode resolves as its controller does, acceptRisks allowed: a CVO whose feature gate
  // is on applies such an update, and nothing but this webhook would have checked it.
  const target = resolveTarget(
    old?.status !== undefined ? { ...cv, status: old.status } : cv,
    options.companion === true ? { acceptRisks: true } : {},
  );
  if (target.kind !== 'target') return allow(uid, 'unresolvable');
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort();
  }, options.budgetMs);
  try {
    const verify = options.verify;
    const progress = { started: false };
    const limited = async (): Promise<AdmissionVerdict> => {
      const release = await options.limiter?.acquire(controller.signal);
      progress.started = true;
      try {
        return await verify(target.image, controller.signal, force);
      } finally {
        release?.();
      }
    };
    const result = await Promise.race([
      limited().catch((err: unknown): AdmissionVerdict | 'timeout' => {
        if (controller.signal.aborted) return 'timeout';
        // Companion mode: an error answer would be admitted (failurePolicy Ignore) with no
        // controller behind the webhook, so a verification that failed is a verdict: not verified.
        if (options.companion === true)
          return {
            verified: false,
            message: `verification failed: ${err instanceof Error ? err.message : String(err)}`,
          };
        throw err;
      }),
      new Promise<'timeout'>((resolve) => {
        controller.signal.addEventListener(
          'abort',
          () => {
            resolve('timeout');
          },
          { once: true },
        );
      }),
    ]);
    if (force) {
      // Companion mode: a forced edit is allowed, with the risk it accepts said as the CVO says it.
      if (result === 'timeout')
        return allow(uid, 'forced-unchecked', [
          `The update is forced and was not verified at admission (verification did not finish in time); the cluster-version verifier records its verdict on ${target.image}`,
        ]);
      const warnings: string[] = [];
      if (!result.verified)
        warnings.push(forcedRiskMessage(target.version, target.image, result.message));
      if (result.payload !== undefined && !result.payload.verified)
        warnings.push(
          `Payload verification failed for version=${goQuote(target.version)} image=${goQuote(target.image)}, but continuing anyway because the update was forced: ${result.payload.message}`,
        );
      return warnings.length === 0 ? allow(uid, 'forced-verified') : allow(uid, 'forced', warnings);
    }
    if (result === 'timeout' && !progress.started && options.companion !== true) {
      // Saturated (a flood of reviews holds every permit): a webhook that cannot judge in time
      // must not block the admin; the controller, the real gate, verifies the target anyway.
      // Not in companion mode: there the CVO applies what is admitted and this is the only gate.
      return allow(uid, 'saturated', [
        `The update was not verified at admission (the verifier is busy); the cluster-version verifier will verify ${target.image} before it is accepted`,
      ]);
    }
    if (result === 'timeout') {
      return deny(
        uid,
        'verification-timeout',
        `The update cannot be verified: verification of ${target.image} did not finish within ${options.budgetMs} ms; retry, or set force to accept the risk`,
      );
    }
    if (!result.verified)
      return deny(uid, 'unverified', `The update cannot be verified: ${result.message}`);
    const payload = options.companion === true ? result.payload : undefined;
    if (payload !== undefined && !payload.verified) {
      const text = payloadRefusedMessage(target.version, target.image, payload.message);
      return payload.mode === 'enforce'
        ? deny(uid, 'payload-unverified', `${text}; set force to accept the risk`)
        : allow(uid, 'payload-warn', [`${text} (warn mode: the update is not blocked)`]);
    }
    return allow(uid, 'verified');
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}
