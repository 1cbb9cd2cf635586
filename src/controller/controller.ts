import { CODE_TABLE, VerifyError } from '../errors.js';
import type { ErrorArea, ErrorLabel, VerifyErrorCode } from '../errors.js';
import { KubeApiError } from '../kube/client.js';
import type { ClusterVersionPort, EventPort, KubeEvent, Watcher } from '../kube/client.js';
import type { ClusterVersion, ClusterVersionStatus } from '../kube/types.js';
import type { Logger } from '../observability/logger.js';
import type { ClusterVerification, ReleaseVerifierPort } from './verification-port.js';
import { systemClock } from './clock.js';
import { verifyWithinBudget } from './budgeted-verification.js';
import type { Clock, TimerHandle } from './clock.js';
import { ConditionType, findCondition, setCondition } from './conditions.js';
import { markVerified } from './history.js';
import { applyInvalid, applyNothing, applyVerdict, planReconcile } from './reconcile.js';
import { toConditionReason } from './reasons.js';
import type { EventSpec } from './reconcile.js';
import type { TargetOptions } from './target.js';
import {
  ACCEPT_RISKS_GATE,
  cvoGatesFromFeatureGate,
  DEFAULT_CVO_GATES,
  STATUS_RELEASE_ARCHITECTURE_GATE,
} from './feature-gates.js';
import type { CvoGates } from './feature-gates.js';
import { RecheckScheduler } from './recheck-scheduler.js';
import type { RecheckEntry } from './recheck-scheduler.js';
import { MAX_PUBLISHED_FAILURES } from './state-publisher.js';
import type { StatePublisher } from './state-publisher.js';
import { WorkQueue } from './work-queue.js';

/**
 * Where the signatures that verified a release are kept, so a restarted or disconnected service
 * verifies it again without reaching a store (the CVO's signature ConfigMap in production).
 */
export interface SignatureCachePort {
  describe(): string;
  /**
   * Adds `signatures` for `digest`; resolves how many were new. With `keep`, the cache also drops
   * the signatures of digests not in it.
   */
  persist(
    digest: string,
    signatures: readonly Uint8Array[],
    keep?: ReadonlySet<string>,
  ): Promise<number>;
}

/**
 * The release digests `cv` still names: its history, status.desired and the requested update.
 * Their signatures are what the signature cache keeps.
 */
export function digestsNamedBy(cv: ClusterVersion): Set<string> {
  const update = cv.spec.desiredUpdate;
  const images = [
    ...(cv.status?.history ?? []).map((h) => h.image),
    cv.status?.desired.image,
    update?.image,
    // A version-only request names the available update it resolves to.
    ...(update?.version !== undefined && update.version !== '' && (update.image ?? '') === ''
      ? (cv.status?.availableUpdates ?? [])
          .filter((u) => u.version === update.version)
          .map((u) => u.image)
      : []),
  ];
  const digests = new Set<string>();
  for (const image of images) {
    const at = image?.lastIndexOf('@') ?? -1;
    if (image !== undefined && at >= 0) digests.add(image.slice(at + 1));
  }
  return digests;
}

export interface ControllerOptions {
  /** The ClusterVersion it decides on and the Events it records (a KubePort in production). */
  readonly kube: ClusterVersionPort & EventPort;
  readonly verifier: ReleaseVerifierPort;
  readonly logger: Logger;
  /** The singleton ClusterVersion's name. */
  readonly name?: string;
  /** Where Events about the ClusterVersion are written (the CVO uses openshift-cluster-version). */
  readonly eventNamespace?: string;
  readonly signatureCache?: SignatureCachePort;
  /** Publishes verdict evidence and re-check times for `cvo-verifier status`. */
  readonly statePublisher?: StatePublisher;
  readonly recheckBaseMs?: number;
  readonly recheckMaxMs?: number;
  /**
   * How often the ClusterVersion is reconciled with nothing changed (default 10 min): what the
   * spec and status do not show changes through it (the FeatureGate; the CVO restarts itself
   * when the gates change).
   */
  readonly resyncMs?: number;
  /** Time and timers for the queue, re-checks, budgets and timestamps; the process clock by default. */
  readonly clock?: Clock;
  /**
   * How long one verification the controller starts may run: a requested update's (its payload
   * included) or a background re-check's; {@link DEFAULT_RECONCILE_BUDGET_MS} by default. A
   * requested update whose verification has not finished by then is refused like any other
   * unverified one (ReleaseAccepted=False, ReleaseVerified=False with reason VerificationAborted;
   * a forced one is accepted with verified: false) and re-checked in the background; a re-check
   * cut short changes nothing.
   */
  readonly reconcileBudgetMs?: number;
  /** Attempts at a status write that keeps meeting 409 Conflict. */
  readonly maxConflictRetries?: number;
  /**
   * What ReleaseAccepted=True says as `architecture=` for a payload that is not multi-arch, as
   * Go names it (the CVO writes its own runtime.GOARCH); this process's by default.
   */
  readonly architecture?: string;
  /**
   * Whether the cluster enables the ClusterUpdateAcceptRisks feature gate (the CVO's
   * shouldReconcileAcceptRisks): spec.desiredUpdate.acceptRisks is then allowed, and an empty
   * desiredUpdate's Invalid message names it. Off by default, as on Default clusters.
   */
  readonly acceptRisks?: boolean;
  /**
   * Where the cluster's FeatureGate `cluster` is read on every reconcile, for the gates the CVO
   * honours (ClusterUpdateAcceptRisks, and ImageStreamImportMode, its StatusReleaseArchitecture)
   * at the cluster's version; it then decides `acceptRisks`. Without it: `acceptRisks` as given,
   * StatusReleaseArchitecture off.
   */
  readonly featureGates?: { getFeatureGate(name: string): Promise<unknown> };
}

/** The FeatureGate as read for one reconcile: the object (undefined when absent) or why not. */
type FeatureGateRead =
  | { readonly kind: 'read'; readonly object: unknown }
  | { readonly kind: 'unreadable'; readonly error: unknown };

/** Node's process.arch as Go's GOARCH names it (what the CVO's runtime.GOARCH says). */
export function toGoArchitecture(arch: string): string {
  switch (arch) {
    case 'x64':
      return 'amd64';
    case 'ia32':
      return '386';
    case 'ppc64':
      // Node's ppc64 on Linux is little-endian: the only ppc64 OpenShift runs on.
      return 'ppc64le';
    case 'mipsel':
      return 'mipsle';
    default:
      return arch;
  }
}

/**
 * The default reconcile budget: five minutes, what the payload check got before the budget was
 * named (ten 30 s signature budgets). A whole-payload check reads the manifests and signatures of
 * a few hundred component images and takes far longer than one signature check, which the
 * verifier bounds more tightly with its own budget inside this one.
 */
export const DEFAULT_RECONCILE_BUDGET_MS = 5 * 60_000;

/** Reconcile with nothing changed this often (see ControllerOptions.resyncMs). */
export const DEFAULT_RESYNC_MS = 10 * 60_000;

const HISTORY_KEY = 'history:';
const TARGET_KEY = 'target:';
/** The accepted, verified target, verified again while the trust it was accepted under changes. */
const TRUST_KEY = 'trust:';
/**
 * Whether `image` is the accepted, verified target the ReleaseVerified condition speaks of: the
 * spec still asks for it (a newer request, refused or pending, owns the condition instead), it
 * is status.desired, and history recorded it verified.
 */
function watchesTrustOf(cv: ClusterVersion, image: string, target: TargetOptions): boolean {
  if (!image.includes('@') || cv.status?.desired.image !== image) return false;
  if (planReconcile(cv, target).kind !== 'nothing') return false;
  return cv.status.history?.find((h) => h.image === image)?.verified === true;
}

/**
 * Verdicts about the trust itself (by the kind of their code): only these turn a verified
 * target's ReleaseVerified False. A root of trust that cannot be read, stores or registries that
 * do not answer, GPG signatures no longer found or unreadable, or a budget running out say
 * nothing about the trust, and never flip it. Sigstore refusals: see {@link isTrustVerdict}.
 */
const TRUST_VERDICT_LABELS: ReadonlySet<ErrorLabel> = new Set<ErrorLabel>([
  'untrusted_signer',
  'bad_signature',
  'expired',
  'payload_mismatch',
]);
/** Areas whose codes reject Sigstore signatures that were present (a layer, a bundle, a certificate). */
const SIGSTORE_AREAS: ReadonlySet<ErrorArea> = new Set<ErrorArea>([
  'sigstore',
  'certificate',
  'bundle',
]);
/** Kinds that say nothing about the trust: the registry did not answer, time ran out, the configuration is broken. */
const NO_TRUST_VERDICT_LABELS: ReadonlySet<ErrorLabel> = new Set<ErrorLabel>([
  'unavailable',
  'timeout',
  'aborted',
  'redirect',
  'misconfigured',
  'store_misconfigured',
]);

/**
 * Whether a refusal speaks about the trust. GPG: the kinds above. Sigstore: signatures were
 * present and none verified, for any reason but the registry not answering or a broken
 * configuration; a malformed, oversized or unsupported signature in front of an old-key one must
 * not hide that the release no longer verifies under the current policy.
 */
function isTrustVerdict(code: VerifyErrorCode): boolean {
  const { area, label } = CODE_TABLE[code];
  if (TRUST_VERDICT_LABELS.has(label)) return true;
  return SIGSTORE_AREAS.has(area) && !NO_TRUST_VERDICT_LABELS.has(label);
}
/** Events longer than this are cut, so full evidence never makes an Event too large to store. */
const MAX_EVENT_MESSAGE = 16 * 1024;

/**
 * Whether `a` is a later state of the object than `b`. The API server's resourceVersions are
 * etcd revisions (decimal integers) and compare as numbers; anything else is not comparable and
 * counts as not newer, so the caller takes the later arrival.
 */
export function isNewerRevision(a: ClusterVersion, b: ClusterVersion): boolean {
  const ra = a.metadata.resourceVersion;
  const rb = b.metadata.resourceVersion;
  if (
    ra === undefined ||
    rb === undefined ||
    !/^[0-9]{1,20}$/.test(ra) ||
    !/^[0-9]{1,20}$/.test(rb)
  )
    return false;
  return BigInt(ra) > BigInt(rb);
}

/**
 * Watches the ClusterVersion and decides each requested release: verifies it, records the
 * outcome in status (conditions, history, desired) as the CVO does, writes Events, re-checks
 * unverified releases in the background and persists the signatures that verified.
 * It never applies payloads and never marks a history entry Completed.
 */
export class ReleaseController {
  private readonly options: ControllerOptions;
  private readonly name: string;
  // Rebuilt by every start(): a stopped queue and scheduler never run again, and a replica that
  // loses and later regains leadership must start from a clean slate.
  private queue: WorkQueue;
  private rechecks: RecheckScheduler;
  private readonly clock: Clock;
  private readonly budgetMs: number;
  private readonly architecture: string;
  private target: TargetOptions;
  /**
   * Aborted by stop(): verifications in flight end at once and nothing they concluded is
   * written. Each reconcile and re-check holds the signal it started under; start() makes a new one.
   */
  private lifetime = new AbortController();
  private watcher: Watcher | undefined;
  /** desiredUpdate as last enqueued, so unrelated status writes do not trigger work. */
  private lastSpec: string | undefined;
  private statePublishing: Promise<void> = Promise.resolve();
  private synced = false;
  /** The CVO feature gates as last read (or as configured). */
  private gates: CvoGates;
  private resync: TimerHandle | undefined;
  /** What was last logged about the feature gates. */
  private gatesState: string | undefined;
  /**
   * The ClusterVersion as the watch last delivered it (or this controller last wrote it): a
   * reconcile's first attempt plans from it instead of a GET. A stale copy costs a conflict on
   * the status write (the PUT carries its resourceVersion), then a fresh GET: never a write on
   * top of an object this controller did not read.
   */
  private observed: ClusterVersion | undefined;

  constructor(options: ControllerOptions) {
    this.options = options;
    this.name = options.name ?? 'version';
    this.clock = options.clock ?? systemClock;
    this.budgetMs = options.reconcileBudgetMs ?? DEFAULT_RECONCILE_BUDGET_MS;
    this.architecture = options.architecture ?? toGoArchitecture(process.arch);
    this.target = { acceptRisks: options.acceptRisks === true };
    this.gates = { ...DEFAULT_CVO_GATES, acceptRisks: options.acceptRisks === true };
    this.queue = this.createQueue();
    this.rechecks = this.createRechecks();
  }

  private createQueue(): WorkQueue {
    return new WorkQueue(
      (key) => this.reconcile(key),
      (key, err) => {
        this.options.logger.error('reconcile failed', { key, error: String(err) });
      },
      { clock: this.clock },
    );
  }

  private createRechecks(): RecheckScheduler {
    return new RecheckScheduler({
      run: (key) => this.recheck(key),
      onChange: () => {
        this.publishState();
      },
      onError: (key, err) => {
        this.options.logger.warn('re-check failed', { key, error: String(err) });
      },
      ...(this.options.recheckBaseMs !== undefined ? { baseMs: this.options.recheckBaseMs } : {}),
      ...(this.options.recheckMaxMs !== undefined ? { maxMs: this.options.recheckMaxMs } : {}),
      clock: this.clock,
    });
  }

  /** Now as the API server's metav1.Time: RFC 3339 in whole seconds, as the CVO writes it. */
  private apiTime(): string {
    return toApiTime(this.now());
  }

  private now(): Date {
    return new Date(this.clock.now());
  }

  get queueDepth(): number {
    return this.queue.depth;
  }

  pendingRechecks(): RecheckEntry[] {
    // Unverified releases and refused targets; the watch on a verified target is not pending.
    return this.rechecks.list().filter((r) => !r.key.startsWith(TRUST_KEY));
  }

  async start(): Promise<void> {
    if (this.lifetime.signal.aborted) this.lifetime = new AbortController();
    this.queue = this.createQueue();
    this.rechecks = this.createRechecks();
    this.lastSpec = undefined;
    this.watcher = this.options.kube.watchClusterVersions({
      onChange: (cv) => {
        if (cv.metadata.name !== this.name) return;
        this.observe(cv);
        // What the CVO validates: desiredUpdate, spec.upstream and spec.clusterID (an edit of
        // either gets Invalid and observedGeneration at once). Other spec edits (the channel) and
        // status writes do not re-verify a refused target; the periodic resync writes their
        // observedGeneration.
        const spec = JSON.stringify([
          cv.spec.upstream,
          cv.spec.clusterID,
          cv.spec.desiredUpdate?.image,
          cv.spec.desiredUpdate?.version,
          cv.spec.desiredUpdate?.force,
          cv.spec.desiredUpdate?.architecture,
          cv.spec.desiredUpdate?.acceptRisks,
        ]);
        if (spec === this.lastSpec) return;
        this.lastSpec = spec;
        this.queue.add(this.name);
      },
      onDelete: (cv) => {
        if (cv.metadata.name === this.name) this.observed = undefined;
      },
      onError: (err, retryInMs) => {
        this.options.logger.warn('ClusterVersion watch failed; restarting', {
          error: String(err),
          retryInMs,
        });
      },
    });
    await this.watcher.start();
    this.synced = true;
    this.scheduleResync();
    // Resume work that status shows as pending (after a restart or a leader change).
    this.queue.add(this.name);
  }

  /** Started, with its watch established and the initial list done. */
  isSynced(): boolean {
    return this.synced;
  }

  /**
   * Cancels the verifications in flight and resolves once the reconcile and re-checks that were
   * running have ended: no status or Event is written after (the published state may still be).
   */
  async stop(): Promise<void> {
    this.synced = false;
    if (this.resync !== undefined) this.clock.clearTimeout(this.resync);
    this.resync = undefined;
    this.lifetime.abort(new DOMException('the controller stopped', 'AbortError'));
    await this.rechecks.stop();
    await this.watcher?.stop();
    await this.queue.stop();
    this.lastSpec = undefined;
    this.observed = undefined;
  }

  private scheduleResync(): void {
    this.resync = this.clock.setTimeout(
      () => {
        if (this.lifetime.signal.aborted) return;
        this.queue.add(this.name);
        this.scheduleResync();
      },
      this.options.resyncMs ?? DEFAULT_RESYNC_MS,
      { ref: false },
    );
  }

  /** Waits until queued reconciles have run (tests and the demo). */
  async idle(): Promise<void> {
    await this.queue.idle();
  }

  enqueue(): void {
    this.queue.add(this.name);
  }

  private async reconcile(name: string): Promise<void> {
    const lifetime = this.lifetime.signal;
    const retries = this.options.maxConflictRetries ?? 10;
    // A conflict retry within this call reuses the verdict for the same request instead of
    // verifying again. It never outlives the call: a later reconcile (after stop() and start(),
    // or after a failed write) verifies again under the trust of its own time.
    const outcomes = new Map<string, ClusterVerification>();
    for (let attempt = 1; ; attempt++) {
      if (lifetime.aborted) return;
      // Read alongside the ClusterVersion: which FeatureGate is read does not depend on it, only
      // which of its versions applies does. It never rejects (unreadable means all gates off).
      const featureGate = this.readFeatureGate();
      // The first attempt plans from the watch's copy; after a conflict, from a fresh GET.
      let cv: ClusterVersion;
      const observed = attempt === 1 ? this.observed : undefined;
      if (observed !== undefined) {
        cv = observed;
      } else {
        try {
          cv = await this.options.kube.getClusterVersion(name);
        } catch (err) {
          if (err instanceof KubeApiError && err.status === 404) return;
          throw err;
        }
      }
      const early = outcomes.size === 0 ? this.verifyEarly(cv, lifetime) : undefined;
      this.applyFeatureGates(cv, await featureGate);
      const plan = planReconcile(cv, this.target);
      // The early verification is used only for the plan it was started for.
      const earlyKey = plan.kind === 'verify' ? JSON.stringify([plan.image, plan.force]) : '';
      if (early !== undefined && early.key !== earlyKey) early.cancel();
      let status: ClusterVersionStatus;
      let events: EventSpec[] = [];
      let verification: ClusterVerification | undefined;
      switch (plan.kind) {
        case 'nothing': {
          const cleared = applyNothing(cv, this.apiTime(), plan.invalid);
          if (cleared === undefined) {
            this.syncRechecks(cv);
            return;
          }
          status = cleared;
          break;
        }
        case 'invalid':
          status = applyInvalid(cv, plan.message, this.apiTime());
          break;
        case 'verify': {
          // A conflict retry reuses the verdict for the same request instead of verifying again.
          const key = JSON.stringify([plan.image, plan.force]);
          verification =
            outcomes.get(key) ??
            (early?.key === key
              ? await early.verification
              : await this.verifyWithinBudget(plan.image, cv, lifetime, { payload: true }));
          // Stopped meanwhile: nothing a cancelled verification concluded is written.
          if (verification === undefined) return;
          this.recordVerdict(plan.image, verification);
          outcomes.clear();
          outcomes.set(key, verification);
          ({ status, events } = applyVerdict(cv, plan, verification.outcome, {
            now: this.apiTime(),
            architecture: this.architecture,
            statusReleaseArchitecture: this.gates.statusReleaseArchitecture,
            payload: verification.payload,
            release: verification.release,
          }));
          break;
        }
        default: {
          const never: never = plan;
          throw new Error(`unknown plan ${JSON.stringify(never)}`);
        }
      }
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() may run during the awaits above
      if (lifetime.aborted) return;
      let written: ClusterVersion;
      try {
        written = await this.options.kube.replaceClusterVersionStatus({ ...cv, status });
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 409 && attempt < retries) {
          this.options.logger.info('status write conflicted; retrying with a fresh object', {
            attempt,
          });
          continue;
        }
        throw err;
      }
      outcomes.clear();
      this.observe(written);
      this.options.logger.info('reconciled ClusterVersion', {
        plan: plan.kind,
        ...(plan.kind === 'verify'
          ? { image: plan.image, force: plan.force, verified: verification?.outcome.verified }
          : {}),
      });
      await Promise.all(events.map((e) => this.recordEvent(written, e)));
      if (verification?.outcome.verified === true && verification.digest !== null) {
        await this.persistSignatures(
          verification.digest,
          verification.signatures,
          digestsNamedBy(written),
        );
      }
      this.syncRechecks(written);
      return;
    }
  }

  /**
   * Keeps `cv` as the copy the next reconcile plans from unless the one kept is newer: the answer
   * to this controller's status write can arrive after the watch delivered a later edit, and a
   * reconcile that planned "nothing to do" from the older copy would leave that edit undecided.
   */
  private observe(cv: ClusterVersion): void {
    const kept = this.observed;
    if (kept !== undefined && isNewerRevision(kept, cv)) return;
    this.observed = cv;
  }

  /**
   * Starts verifying the release `cv` requests while the FeatureGate is still being read, when
   * the gates cannot change what is to be verified: the plan is the same with every gate value
   * (today only acceptRisks can turn a request Invalid). Undefined otherwise. A verification the
   * plan does not use is cancelled: it writes nothing and its answer is dropped.
   */
  private verifyEarly(
    cv: ClusterVersion,
    lifetime: AbortSignal,
  ):
    | { key: string; verification: Promise<ClusterVerification | undefined>; cancel: () => void }
    | undefined {
    const plans = [true, false].map((acceptRisks) => planReconcile(cv, { acceptRisks }));
    const keys = plans.map((p) => (p.kind === 'verify' ? JSON.stringify([p.image, p.force]) : ''));
    const [plan] = plans;
    if (plan?.kind !== 'verify' || keys[0] !== keys[1]) return undefined;
    const cancelled = new AbortController();
    const verification = this.verifyWithinBudget(
      plan.image,
      cv,
      AbortSignal.any([lifetime, cancelled.signal]),
      { payload: true },
    );
    // Observed by the plan that uses it; a cancelled one's failure is of no interest.
    verification.catch(() => undefined);
    return {
      key: keys[0] ?? '',
      verification,
      cancel: () => {
        cancelled.abort(new DOMException('the plan changed', 'AbortError'));
      },
    };
  }

  /** Schedules a re-check for every unverified history entry and for a refused target. */
  private syncRechecks(cv: ClusterVersion): void {
    const keys = new Set<string>();
    for (const h of cv.status?.history ?? []) {
      if (!h.verified && h.image.includes('@')) keys.add(`${HISTORY_KEY}${h.image}`);
    }
    const accepted = findCondition(cv.status?.conditions, ConditionType.ReleaseAccepted);
    const plan = planReconcile(cv, this.target);
    if (plan.kind === 'verify' && accepted?.status === 'False' && plan.image.includes('@'))
      keys.add(`${TARGET_KEY}${plan.image}`);
    // A verified target stays under watch: a key revoked or a signature expired later turns its
    // ReleaseVerified condition False (history keeps what was true at acceptance, as the CVO).
    const desired = cv.status?.desired.image;
    if (desired !== undefined && watchesTrustOf(cv, desired, this.target))
      keys.add(`${TRUST_KEY}${desired}`);
    this.rechecks.sync(keys);
    this.publishState();
  }

  /**
   * The FeatureGate `cluster` as the API server answered (undefined when none is configured);
   * never rejects: a failure is part of the answer.
   */
  private async readFeatureGate(): Promise<FeatureGateRead | undefined> {
    const source = this.options.featureGates;
    if (source === undefined) return undefined;
    try {
      return { kind: 'read', object: await source.getFeatureGate('cluster') };
    } catch (err) {
      return { kind: 'unreadable', error: err };
    }
  }

  /**
   * The cluster's CVO feature gates at its version (the newest Completed history entry, else
   * status.desired), from {@link readFeatureGate}'s answer, as the CVO reads them; a FeatureGate that
   * cannot be read leaves the defaults (all off: acceptRisks is then Invalid, never silently
   * accepted). Logged once per change. Nothing changes when no FeatureGate source is configured.
   */
  private applyFeatureGates(cv: ClusterVersion, read: FeatureGateRead | undefined): void {
    if (read === undefined) return;
    // The release the cluster runs: the CVO reads the FeatureGate for its own payload's version.
    // This service applies nothing, so that is the newest Completed history entry (else the
    // desired release); the desired one would switch the gates off as soon as an update to a
    // version without a FeatureGate entry yet is accepted.
    const history = cv.status?.history ?? [];
    const version =
      history.find((h) => h.state === 'Completed' && h.version !== '')?.version ??
      (cv.status?.desired.version || history[0]?.version) ??
      '';
    let gates: CvoGates;
    let problem: string | undefined;
    try {
      if (read.kind === 'unreadable') throw read.error;
      gates = cvoGatesFromFeatureGate(read.object, version);
    } catch (err) {
      gates = DEFAULT_CVO_GATES;
      problem = err instanceof Error ? err.message : String(err);
    }
    this.gates = gates;
    this.target = { acceptRisks: gates.acceptRisks };
    const state = JSON.stringify([version, gates, problem]);
    if (state === this.gatesState) return;
    this.gatesState = state;
    const fields = {
      version,
      [ACCEPT_RISKS_GATE]: gates.acceptRisks,
      [STATUS_RELEASE_ARCHITECTURE_GATE]: gates.statusReleaseArchitecture,
    };
    if (problem !== undefined)
      this.options.logger.warn('could not read the FeatureGate; CVO feature gates off', {
        ...fields,
        error: problem,
      });
    else
      this.options.logger.info(
        gates.known
          ? 'CVO feature gates'
          : 'CVO feature gates: no FeatureGate entry for this version, all off',
        fields,
      );
  }

  private recordVerdict(image: string, verification: ClusterVerification): void {
    const { outcome, payload } = verification;
    this.options.statePublisher?.record({
      image,
      verified: outcome.verified,
      ...(outcome.code !== undefined ? { code: outcome.code } : {}),
      message: outcome.message,
      summary: outcome.summary,
      details: outcome.details,
      checkedAt: this.now().toISOString(),
      ...(payload !== undefined
        ? {
            payload: {
              mode: payload.mode,
              verified: payload.verified,
              message: payload.message,
              ...(payload.summary !== undefined ? { summary: payload.summary } : {}),
              failing: payload.failing.slice(0, MAX_PUBLISHED_FAILURES).map((c) => ({
                tags: c.tags,
                pullspec: c.pullspec,
                status: c.status,
                reason: c.reason,
              })),
            },
          }
        : {}),
    });
  }

  /** Best effort: status readers lose detail, never correctness, when this fails. */
  private publishState(): void {
    const publisher = this.options.statePublisher;
    if (publisher === undefined) return;
    const rechecks = this.pendingRechecks().map((r) => ({
      kind: r.key.startsWith(TARGET_KEY) ? ('target' as const) : ('history' as const),
      image: r.key.slice(r.key.startsWith(TARGET_KEY) ? TARGET_KEY.length : HISTORY_KEY.length),
      attempts: r.attempts,
      nextAt: r.nextAt.toISOString(),
    }));
    this.statePublishing = this.statePublishing
      .then(() => publisher.publish(rechecks, this.now()))
      .catch((err: unknown) => {
        this.options.logger.warn('could not publish state', { error: String(err) });
      });
  }

  private async recheck(key: string): Promise<boolean> {
    const lifetime = this.lifetime.signal;
    if (key.startsWith(TRUST_KEY)) return this.recheckTrust(key.slice(TRUST_KEY.length), lifetime);
    if (key.startsWith(TARGET_KEY)) {
      this.queue.add(this.name);
      await this.queue.idle();
      const cv = await this.options.kube.getClusterVersion(this.name);
      return planReconcile(cv, this.target).kind !== 'verify';
    }
    const image = key.slice(HISTORY_KEY.length);
    let cv = await this.options.kube.getClusterVersion(this.name);
    if (!(cv.status?.history ?? []).some((h) => h.image === image && !h.verified)) return true;
    const verification = await this.verifyWithinBudget(image, cv, lifetime, {});
    if (verification === undefined) return false;
    this.recordVerdict(image, verification);
    if (!verification.outcome.verified) {
      this.options.logger.info('release still unverified', {
        image,
        reason: verification.outcome.message,
      });
      return false;
    }
    const retries = this.options.maxConflictRetries ?? 10;
    for (let attempt = 1; ; attempt++) {
      if (lifetime.aborted) return false;
      const { history, changed } = markVerified(cv.status?.history, image);
      if (!changed || cv.status === undefined) return true;
      // The current target's ReleaseVerified turns True with the signature that proved it.
      const conditions =
        cv.status.desired.image === image
          ? setCondition(
              cv.status.conditions,
              {
                type: ConditionType.ReleaseVerified,
                status: 'True',
                reason: 'Verified',
                message: `${image}: ${verification.outcome.summary}`,
              },
              this.apiTime(),
            )
          : cv.status.conditions;
      try {
        cv = await this.options.kube.replaceClusterVersionStatus({
          ...cv,
          status: { ...cv.status, history, ...(conditions !== undefined ? { conditions } : {}) },
        });
        break;
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 409 && attempt < retries)) throw err;
        cv = await this.options.kube.getClusterVersion(this.name);
      }
    }
    await this.recordEvent(cv, {
      type: 'Normal',
      reason: 'ReleaseVerified',
      message: `Release ${image}, accepted earlier without verification, is now verified: ${verification.outcome.summary}`,
    });
    if (verification.digest !== null)
      await this.persistSignatures(
        verification.digest,
        verification.signatures,
        digestsNamedBy(cv),
      );
    this.options.logger.info('release verified by background re-check', { image });
    return true;
  }

  /**
   * Verifies the accepted, verified target again under the cluster's current trust, for as long
   * as it is the target (done = false: again later, with backoff). A verdict about the trust
   * (revoked or removed key, expired or bad signature) turns ReleaseVerified False with a Warning
   * Event; verified again later (the revocation undone), it turns True with a Normal one. History
   * keeps `verified` as recorded at acceptance.
   */
  private async recheckTrust(image: string, lifetime: AbortSignal): Promise<boolean> {
    const cv = await this.options.kube.getClusterVersion(this.name);
    if (cv.status === undefined || !watchesTrustOf(cv, image, this.target)) return true;
    const verification = await this.verifyWithinBudget(image, cv, lifetime, {});
    if (verification === undefined) return false;
    this.recordVerdict(image, verification);
    const { outcome } = verification;
    const current = findCondition(cv.status.conditions, ConditionType.ReleaseVerified);
    if (outcome.verified) {
      if (current?.status === 'False') {
        await this.setTargetVerified(image, {
          condition: {
            type: ConditionType.ReleaseVerified,
            status: 'True',
            reason: 'Verified',
            message: `${image}: ${outcome.summary}`,
          },
          event: {
            type: 'Normal',
            reason: 'ReleaseVerified',
            message: `Release ${image} verifies again under the cluster's current trust: ${outcome.summary}`,
          },
          lifetime,
        });
      }
      return false;
    }
    if (outcome.code === undefined || !isTrustVerdict(outcome.code)) return false;
    if (current?.status === 'False' && current.reason === toConditionReason(outcome.code))
      return false;
    await this.setTargetVerified(image, {
      condition: {
        type: ConditionType.ReleaseVerified,
        status: 'False',
        reason: toConditionReason(outcome.code),
        message: `${image}: ${outcome.summary === outcome.message ? outcome.message : `${outcome.message}: ${outcome.summary}`}`,
      },
      event: {
        type: 'Warning',
        reason: 'ReleaseNoLongerVerified',
        message: `Release ${image}, accepted as verified, no longer verifies under the cluster's current trust: ${outcome.message} (history keeps verified: true as recorded at acceptance)`,
      },
      lifetime,
    });
    this.options.logger.warn('accepted release no longer verifies', {
      image,
      reason: outcome.message,
    });
    return false;
  }

  /** Writes the target's ReleaseVerified condition (409s retried) and records the Event. */
  private async setTargetVerified(
    image: string,
    change: {
      condition: Parameters<typeof setCondition>[1];
      event: EventSpec;
      /** The re-check's: once aborted (stop), nothing is written. */
      lifetime: AbortSignal;
    },
  ): Promise<void> {
    let cv = await this.options.kube.getClusterVersion(this.name);
    const retries = this.options.maxConflictRetries ?? 10;
    for (let attempt = 1; ; attempt++) {
      if (change.lifetime.aborted) return;
      if (cv.status === undefined || !watchesTrustOf(cv, image, this.target)) return;
      const conditions = setCondition(cv.status.conditions, change.condition, this.apiTime());
      try {
        cv = await this.options.kube.replaceClusterVersionStatus({
          ...cv,
          status: { ...cv.status, conditions },
        });
        break;
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 409 && attempt < retries)) throw err;
        cv = await this.options.kube.getClusterVersion(this.name);
      }
    }
    await this.recordEvent(cv, change.event);
  }

  /** {@link verifyWithinBudget} with this controller's verifier, clock, budget and logger. */
  private verifyWithinBudget(
    image: string,
    cv: ClusterVersion,
    lifetime: AbortSignal,
    call: { readonly payload?: boolean },
  ): Promise<ClusterVerification | undefined> {
    return verifyWithinBudget(
      {
        verifier: this.options.verifier,
        clock: this.clock,
        budgetMs: this.budgetMs,
        logger: this.options.logger,
      },
      image,
      cv,
      lifetime,
      call,
    );
  }

  private async persistSignatures(
    digest: string,
    signatures: readonly Uint8Array[],
    keep: ReadonlySet<string>,
  ): Promise<void> {
    if (this.options.signatureCache === undefined || signatures.length === 0) return;
    try {
      const added = await this.options.signatureCache.persist(digest, signatures, keep);
      if (added > 0)
        this.options.logger.info('signatures cached', {
          digest,
          added,
          cache: this.options.signatureCache.describe(),
        });
    } catch (err) {
      this.options.logger.warn('could not persist signatures', {
        digest,
        error: err instanceof VerifyError || err instanceof Error ? err.message : String(err),
      });
    }
  }

  private async recordEvent(cv: ClusterVersion, spec: EventSpec): Promise<void> {
    const namespace = this.options.eventNamespace ?? 'openshift-cluster-version';
    const now = this.now();
    const message =
      spec.message.length > MAX_EVENT_MESSAGE
        ? `${spec.message.slice(0, MAX_EVENT_MESSAGE - 1)}…`
        : spec.message;
    const event: KubeEvent = {
      metadata: { generateName: `${cv.metadata.name ?? this.name}.`, namespace },
      // Like the CVO's object reference: the cluster-scoped ClusterVersion "in" the event's namespace,
      // which the API server requires for kinds it does not know.
      involvedObject: {
        apiVersion: 'config.openshift.io/v1',
        kind: 'ClusterVersion',
        name: cv.metadata.name ?? this.name,
        namespace,
        ...(cv.metadata.uid !== undefined ? { uid: cv.metadata.uid } : {}),
      },
      type: spec.type,
      reason: spec.reason,
      message,
      source: { component: 'cvo-update-verifier' },
      firstTimestamp: toApiTime(now),
      lastTimestamp: toApiTime(now),
      count: 1,
    };
    try {
      await this.options.kube.createEvent(namespace, event);
    } catch (err) {
      this.options.logger.warn('could not record event', {
        reason: spec.reason,
        error: String(err),
      });
    }
  }
}

/**
 * A metav1.Time as Kubernetes serialises it (RFC 3339, whole seconds, `Z`): status conditions,
 * history and Event timestamps all read `2025-01-02T03:04:05Z`, never with milliseconds.
 */
export function toApiTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
