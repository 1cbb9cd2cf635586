import { KubeApiError } from '../kube/client.js';
import type { ClusterVersionPort, EventPort, Watcher } from '../kube/client.js';
import type { ClusterVersion, Condition } from '../kube/types.js';
import type { Logger } from '../observability/logger.js';
import { systemClock } from './clock.js';
import { verifyWithinBudget } from './budgeted-verification.js';
import type { Clock } from './clock.js';
import { findCondition, removeCondition, setCondition } from './conditions.js';
import {
  DEFAULT_RECONCILE_BUDGET_MS,
  digestsNamedBy,
  isNewerRevision,
  toApiTime,
} from './controller.js';
import type { SignatureCachePort } from './controller.js';
import { RecheckScheduler } from './recheck-scheduler.js';
import type { RecheckEntry } from './recheck-scheduler.js';
import { forcedRiskMessage } from './reconcile.js';
import { NOTHING_COVERED_REASON, PAYLOAD_FAILED_REASON, toConditionReason } from './reasons.js';
import { MAX_PUBLISHED_FAILURES } from './state-publisher.js';
import type { StatePublisher } from './state-publisher.js';
import { goQuote, resolveTarget } from './target.js';
import type { ClusterVerification, ReleaseVerifierPort } from './verification-port.js';
import type { RecordedVerdict, VerdictRecord } from './verdict-record.js';
import { WorkQueue } from './work-queue.js';

/**
 * The companion's condition types on ClusterVersion status. The prefix cannot collide with the
 * CVO's: its types are Available, Progressing, Failing, RetrievedUpdates, Upgradeable and the
 * Upgradeable* subconditions it removes, ReleaseAccepted, Invalid, ImplicitlyEnabledCapabilities
 * (and ImplicitlyEnabled, which it removes) — pkg/internal/constants.go:56-87 and pkg/cvo/status.go
 * at openshift/cluster-version-operator 6e719331fb58.
 */
export const CompanionConditionType = {
  ReleaseVerified: 'UpdateVerifierReleaseVerified',
  PayloadVerified: 'UpdateVerifierPayloadVerified',
} as const;

const COMPANION_TYPES: readonly string[] = Object.values(CompanionConditionType);

/** The condition types a companion owns (and only these it ever writes). */
export function isCompanionCondition(type: string): boolean {
  return COMPANION_TYPES.includes(type);
}

export interface CompanionOptions {
  readonly kube: ClusterVersionPort & EventPort;
  readonly verifier: ReleaseVerifierPort;
  readonly record: VerdictRecord;
  readonly logger: Logger;
  readonly name?: string;
  readonly eventNamespace?: string;
  readonly signatureCache?: SignatureCachePort;
  readonly statePublisher?: StatePublisher;
  readonly recheckBaseMs?: number;
  readonly recheckMaxMs?: number;
  /** Reconcile with nothing changed this often (default 10 min). */
  readonly resyncMs?: number;
  readonly clock?: Clock;
  readonly reconcileBudgetMs?: number;
  /** Attempts at a condition write that keeps meeting 409 Conflict. */
  readonly maxConflictRetries?: number;
  /**
   * After the CVO dropped our conditions (its conflict retry writes the status it computed from
   * an older copy, see {@link CompanionController}), they are written again after this delay,
   * doubling while they keep being dropped, up to {@link REPAIR_MAX_MS}.
   */
  readonly repairBaseMs?: number;
}

const REPAIR_MAX_MS = 30_000;
/** A repair that is not undone within this long resets the repair backoff. */
const REPAIR_QUIET_MS = 60_000;
const MAX_EVENT_MESSAGE = 16 * 1024;

/** Whether `cv`'s companion conditions are other than `wanted` (type, status, reason, message). */
function differs(
  cv: ClusterVersion,
  wanted: readonly Omit<Condition, 'lastTransitionTime'>[],
): boolean {
  if (cv.status === undefined) return false;
  const current = (cv.status.conditions ?? []).filter((c) => isCompanionCondition(c.type));
  if (current.length !== wanted.length) return true;
  return wanted.some((w) => {
    const c = findCondition(current, w.type);
    return c?.status !== w.status || c.reason !== w.reason || c.message !== w.message;
  });
}

/** Write statistics, for tests and logs: our 409s, and how often the CVO dropped our conditions. */
export interface CompanionWriteStats {
  writes: number;
  conflicts: number;
  repairs: number;
}

/**
 * Companion mode: beside a running CVO, which owns ClusterVersion status (history, desired, its
 * conditions). This controller never writes a field the CVO owns. It verifies every release
 * spec.desiredUpdate asks for (the payload too), records the verdict per release image in its own
 * record (forced ones with `verified: false` and the risk accepted), and projects the current
 * target's verdict into its own condition types. Unverified releases are re-checked in the
 * background; a valid signature flips the record and the condition.
 *
 * Why the conditions survive the CVO, and the one case where they do not (CVO 6e719331fb58):
 * - its status sync starts from the informer's copy of the ClusterVersion and changes only its own
 *   condition types, by type (resourcemerge.SetOperatorStatusCondition / RemoveOperatorStatusCondition,
 *   lib/resourcemerge/os.go:11-43; pkg/cvo/status.go:159-189 and 205-438): a foreign type is carried over;
 * - it writes only when status changed (pkg/cvo/status.go:836), as a PUT of the status subresource
 *   carrying the informer copy's resourceVersion (status.go:839);
 * - but on 409 it GETs the live object, takes only its metadata and PUTs the status it computed
 *   from the older copy again (status.go:840-852): a condition we wrote between its read and its
 *   write is dropped. Our write makes that happen (it bumps the resourceVersion), so the watch
 *   repairs it: when the object lacks the conditions the record implies, they are written again,
 *   with backoff while the CVO keeps dropping them. Each of our writes is a PUT of the status
 *   subresource with the resourceVersion we read, changing only our condition types: a CVO write
 *   in between fails ours with 409 (read again, re-apply), never the other way round. A JSON merge
 *   patch would replace the whole conditions list with our stale copy of the CVO's; a JSON patch
 *   would still bump the resourceVersion and meet the same CVO retry.
 */
export class CompanionController {
  private readonly options: CompanionOptions;
  private readonly name: string;
  private readonly clock: Clock;
  private readonly budgetMs: number;
  private queue: WorkQueue;
  private rechecks: RecheckScheduler;
  private lifetime = new AbortController();
  private watcher: Watcher | undefined;
  private synced = false;
  private lastSpec: string | undefined;
  private observed: ClusterVersion | undefined;
  /** The record as last read or written (the leader is its one writer). */
  private verdicts: readonly RecordedVerdict[] = [];
  private resync: ReturnType<Clock['setTimeout']> | undefined;
  private repairTimer: ReturnType<Clock['setTimeout']> | undefined;
  private repairAttempts = 0;
  /** A drop was seen and its repair has not been written yet. */
  private repairing = false;
  private lastRepairAt = 0;
  private statePublishing: Promise<void> = Promise.resolve();
  /**
   * Our conditions as last written (or found in place): when an object arrives without them,
   * another writer dropped them (the CVO's conflict retry) and they are repaired.
   */
  private lastWritten: Omit<Condition, 'lastTransitionTime'>[] | undefined;
  private lastWrittenVersion = 0;
  readonly stats: CompanionWriteStats = { writes: 0, conflicts: 0, repairs: 0 };

  constructor(options: CompanionOptions) {
    this.options = options;
    this.name = options.name ?? 'version';
    this.clock = options.clock ?? systemClock;
    this.budgetMs = options.reconcileBudgetMs ?? DEFAULT_RECONCILE_BUDGET_MS;
    this.queue = this.createQueue();
    this.rechecks = this.createRechecks();
  }

  /**
   * Keeps `cv` as the working copy unless the one kept is newer (as ReleaseController.observe):
   * the answer to a status write can arrive after the watch delivered a later edit, and planning
   * from the older copy would leave that edit undecided.
   */
  private observe(cv: ClusterVersion): void {
    const kept = this.observed;
    if (kept !== undefined && isNewerRevision(kept, cv)) return;
    this.observed = cv;
  }

  private createQueue(): WorkQueue {
    return new WorkQueue(
      () => this.reconcile(),
      (key, err) => {
        this.options.logger.error('reconcile failed', { key, error: String(err) });
      },
      { clock: this.clock },
    );
  }

  private createRechecks(): RecheckScheduler {
    return new RecheckScheduler({
      run: (image) => this.recheck(image),
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

  get queueDepth(): number {
    return this.queue.depth;
  }

  pendingRechecks(): RecheckEntry[] {
    return this.rechecks.list();
  }

  isSynced(): boolean {
    return this.synced;
  }

  enqueue(): void {
    this.queue.add(this.name);
  }

  async idle(): Promise<void> {
    await this.queue.idle();
  }

  /** The record as this controller last knew it. */
  recordedVerdicts(): readonly RecordedVerdict[] {
    return this.verdicts;
  }

  async start(): Promise<void> {
    if (this.lifetime.signal.aborted) this.lifetime = new AbortController();
    this.queue = this.createQueue();
    this.rechecks = this.createRechecks();
    this.lastSpec = undefined;
    this.lastWritten = undefined;
    this.repairing = false;
    this.repairAttempts = 0;
    this.verdicts = await this.options.record.read();
    this.watcher = this.options.kube.watchClusterVersions({
      onChange: (cv) => {
        if (cv.metadata.name !== this.name) return;
        this.observe(cv);
        const update = cv.spec.desiredUpdate;
        const spec = JSON.stringify([
          update?.image,
          update?.version,
          update?.force,
          update?.architecture,
          // A version is resolved through availableUpdates, which the CVO fills.
          update?.image === undefined || update.image === '' ? cv.status?.availableUpdates : null,
        ]);
        if (spec !== this.lastSpec) {
          this.lastSpec = spec;
          this.queue.add(this.name);
          return;
        }
        // An event older than our last write (it was on its way) says nothing about a drop; the
        // resourceVersion compared as a number, as the CVO compares it (pkg/cvo/cvo.go:906-916).
        const newer = Number(cv.metadata.resourceVersion) > this.lastWrittenVersion;
        // Our own write's event may come before its response: an object that shows what the
        // record wants is no drop.
        const dropped =
          newer &&
          this.lastWritten !== undefined &&
          differs(cv, this.lastWritten) &&
          this.conditionsDiffer(cv);
        // Status the CVO has just created (a companion writes none before it): ours are due.
        if (this.lastWritten === undefined && cv.status !== undefined && this.conditionsDiffer(cv))
          this.queue.add(this.name);
        if (dropped) {
          if (!this.repairing)
            this.options.logger.info(
              'our conditions were dropped by another writer; writing them again',
              {
                resourceVersion: cv.metadata.resourceVersion,
                after: this.lastWrittenVersion,
              },
            );
          this.scheduleRepair();
        }
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
    this.queue.add(this.name);
  }

  async stop(): Promise<void> {
    this.synced = false;
    if (this.resync !== undefined) this.clock.clearTimeout(this.resync);
    if (this.repairTimer !== undefined) this.clock.clearTimeout(this.repairTimer);
    this.resync = undefined;
    this.repairTimer = undefined;
    this.lifetime.abort(new DOMException('the controller stopped', 'AbortError'));
    await this.rechecks.stop();
    await this.watcher?.stop();
    await this.queue.stop();
    await this.statePublishing;
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
      this.options.resyncMs ?? 10 * 60_000,
      { ref: false },
    );
  }

  /**
   * Our conditions were dropped or changed by another writer: write them again, at once the first
   * time, then with doubling delays while it keeps happening (a CVO whose every write races ours
   * must not be answered with a write storm).
   */
  private scheduleRepair(): void {
    // One repair per drop: events that show the same drop while it is being repaired add none.
    if (this.repairing || this.lifetime.signal.aborted) return;
    this.repairing = true;
    const now = this.clock.now();
    if (now - this.lastRepairAt > REPAIR_QUIET_MS) this.repairAttempts = 0;
    const base = this.options.repairBaseMs ?? 500;
    const delay =
      this.repairAttempts === 0
        ? 0
        : Math.min(base * 2 ** (this.repairAttempts - 1), REPAIR_MAX_MS);
    this.repairAttempts++;
    this.lastRepairAt = now;
    this.stats.repairs++;
    if (delay === 0) {
      this.queue.add(this.name);
      return;
    }
    this.repairTimer = this.clock.setTimeout(
      () => {
        this.repairTimer = undefined;
        this.queue.add(this.name);
      },
      delay,
      { ref: false },
    );
  }

  /** The verdict for the target the spec asks for now, when recorded for the same force flag. */
  private currentVerdict(cv: ClusterVersion): RecordedVerdict | undefined {
    const target = resolveTarget(cv, { acceptRisks: true });
    if (target.kind !== 'target') return undefined;
    return this.verdicts.find((v) => v.image === target.image);
  }

  /** Our conditions as the record says they should be for `cv`'s target. */
  private wantedConditions(cv: ClusterVersion): Omit<Condition, 'lastTransitionTime'>[] {
    const target = resolveTarget(cv, { acceptRisks: true });
    if (target.kind !== 'target') return [];
    const verdict = this.verdicts.find((v) => v.image === target.image);
    if (verdict === undefined) return [];
    const wanted: Omit<Condition, 'lastTransitionTime'>[] = [
      {
        type: CompanionConditionType.ReleaseVerified,
        status: verdict.verified ? 'True' : 'False',
        reason: verdict.reason,
        message: `${verdict.image}: ${verdict.message}${verdict.acceptedRisk !== undefined ? ` (accepted because the update was forced)` : ''}`,
      },
    ];
    if (verdict.payload !== undefined)
      wanted.push({
        type: CompanionConditionType.PayloadVerified,
        status: verdict.payload.verified ? 'True' : 'False',
        reason: verdict.payload.reason,
        message: `${verdict.image}: ${verdict.payload.message}`,
      });
    return wanted;
  }

  private conditionsDiffer(cv: ClusterVersion): boolean {
    return differs(cv, this.wantedConditions(cv));
  }

  private async reconcile(): Promise<void> {
    const lifetime = this.lifetime.signal;
    let cv: ClusterVersion;
    try {
      cv = this.observed ?? (await this.options.kube.getClusterVersion(this.name));
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return;
      throw err;
    }
    const target = resolveTarget(cv, { acceptRisks: true });
    if (target.kind === 'target') {
      const recorded = this.currentVerdict(cv);
      if (recorded?.forced !== target.force) {
        const verification = await this.verifyWithinBudget(target.image, cv, lifetime, true);
        if (verification === undefined) return;
        await this.recordVerification(cv, target, verification);
      }
    }
    if (lifetime.aborted) return;
    await this.writeConditions();
    this.syncRechecks(this.observed ?? cv);
  }

  /** Records the verdict for a requested release and says so in an Event. */
  private async recordVerification(
    cv: ClusterVersion,
    target: { readonly image: string; readonly version: string; readonly force: boolean },
    verification: ClusterVerification,
  ): Promise<void> {
    const { outcome, payload } = verification;
    const { image, version, force } = target;
    const now = this.now();
    const payloadFailed = payload !== undefined && !payload.verified;
    const risks: string[] = [];
    if (force && !outcome.verified) risks.push(forcedRiskMessage(version, image, outcome.message));
    if (force && payloadFailed && payload.mode === 'enforce')
      risks.push(
        `Payload verification failed for version=${goQuote(version)} image=${goQuote(image)}, but continuing anyway because the update was forced: ${payload.message}`,
      );
    const entry: RecordedVerdict = {
      image,
      version,
      verified: outcome.verified,
      forced: force,
      ...(risks.length > 0 ? { acceptedRisk: risks.join('\n') } : {}),
      reason: outcome.verified ? 'Verified' : toConditionReason(outcome.code),
      message:
        outcome.verified || outcome.summary === outcome.message
          ? outcome.verified
            ? outcome.summary
            : outcome.message
          : `${outcome.message}: ${outcome.summary}`,
      ...(payload !== undefined
        ? {
            payload: {
              verified: payload.verified,
              reason: payload.verified
                ? 'PayloadVerified'
                : payload.nothingCovered === true
                  ? NOTHING_COVERED_REASON
                  : PAYLOAD_FAILED_REASON,
              message: payload.message,
            },
          }
        : {}),
      firstCheckedAt: now.toISOString(),
      checkedAt: now.toISOString(),
    };
    this.verdicts = await this.options.record.record(entry, this.referenced(cv), now);
    this.publishVerdict(image, verification);
    if (outcome.verified)
      await this.recordEvent(
        cv,
        'Normal',
        'ReleaseVerified',
        `Release ${image} verified: ${outcome.summary}`,
      );
    else
      await this.recordEvent(
        cv,
        'Warning',
        force ? 'ReleaseForcedUnverified' : 'ReleaseNotVerified',
        force
          ? `${entry.acceptedRisk ?? ''} // ${outcome.details.join(' // ')}`
          : `Release ${image} cannot be verified: ${outcome.message} // ${outcome.details.join(' // ')}`,
      );
    if (payloadFailed)
      await this.recordEvent(
        cv,
        'Warning',
        PAYLOAD_FAILED_REASON,
        `Payload verification failed version=${goQuote(version)} image=${goQuote(image)}: ${payload.message}`,
      );
    if (outcome.verified && verification.digest !== null)
      await this.persistSignatures(
        verification.digest,
        verification.signatures,
        digestsNamedBy(cv),
      );
    this.options.logger.info('recorded verdict', { image, verified: outcome.verified, force });
  }

  /** The images history and the target name: the record keeps their verdicts first. */
  private referenced(cv: ClusterVersion): Set<string> {
    const keep = new Set((cv.status?.history ?? []).map((h) => h.image));
    const target = resolveTarget(cv, { acceptRisks: true });
    if (target.kind === 'target') keep.add(target.image);
    return keep;
  }

  /**
   * Writes our conditions for the current target, and only them: a PUT of the status
   * subresource with the resourceVersion just read (409: read again and re-apply). Nothing else
   * of the object changes; with no recorded verdict for the target our types are removed.
   */
  private async writeConditions(): Promise<void> {
    const retries = this.options.maxConflictRetries ?? 10;
    let cv = this.observed ?? (await this.options.kube.getClusterVersion(this.name));
    for (let attempt = 1; ; attempt++) {
      if (this.lifetime.signal.aborted) return;
      // The CVO creates status; a companion never writes one the CVO has not.
      if (cv.status === undefined) return;
      if (!this.conditionsDiffer(cv)) {
        this.lastWritten = this.wantedConditions(cv);
        this.repairing = false;
        return;
      }
      const now = toApiTime(this.now());
      let conditions = (cv.status.conditions ?? []).filter(
        (c) =>
          !isCompanionCondition(c.type) || this.wantedConditions(cv).some((w) => w.type === c.type),
      );
      for (const wanted of this.wantedConditions(cv))
        conditions = setCondition(conditions, wanted, now);
      if (this.wantedConditions(cv).length === 0)
        for (const type of COMPANION_TYPES) conditions = removeCondition(conditions, type);
      try {
        this.stats.writes++;
        const written = await this.options.kube.replaceClusterVersionStatus({
          ...cv,
          status: { ...cv.status, conditions },
        });
        this.observe(written);
        this.lastWritten = this.wantedConditions(written);
        this.lastWrittenVersion = Number(written.metadata.resourceVersion);
        this.repairing = false;
        return;
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 409 && attempt < retries)) throw err;
        this.stats.conflicts++;
        cv = await this.options.kube.getClusterVersion(this.name);
      }
    }
  }

  /** Re-checks every unverified release of the record that history or the spec still names. */
  private syncRechecks(cv: ClusterVersion): void {
    const keep = this.referenced(cv);
    this.rechecks.sync(
      this.verdicts
        .filter((v) => !v.verified && v.image.includes('@') && keep.has(v.image))
        .map((v) => v.image),
    );
    this.publishState();
  }

  private async recheck(image: string): Promise<boolean> {
    const lifetime = this.lifetime.signal;
    const entry = this.verdicts.find((v) => v.image === image);
    if (entry === undefined || entry.verified) return true;
    const cv = await this.options.kube.getClusterVersion(this.name);
    const verification = await this.verifyWithinBudget(image, cv, lifetime, false);
    if (verification === undefined) return false;
    this.publishVerdict(image, verification);
    const { outcome } = verification;
    if (!outcome.verified) {
      this.options.logger.info('release still unverified', { image, reason: outcome.message });
      return false;
    }
    const now = this.now();
    this.verdicts = await this.options.record.record(
      {
        ...entry,
        verified: true,
        reason: 'Verified',
        message: outcome.summary,
        checkedAt: now.toISOString(),
        verifiedAt: now.toISOString(),
      },
      this.referenced(cv),
      now,
    );
    this.observed = undefined;
    await this.writeConditions();
    await this.recordEvent(
      cv,
      'Normal',
      'ReleaseVerified',
      `Release ${image}, accepted earlier without verification, is now verified: ${outcome.summary}`,
    );
    if (verification.digest !== null)
      await this.persistSignatures(
        verification.digest,
        verification.signatures,
        digestsNamedBy(cv),
      );
    this.options.logger.info('release verified by background re-check', { image });
    return true;
  }

  private now(): Date {
    return new Date(this.clock.now());
  }

  private verifyWithinBudget(
    image: string,
    cv: ClusterVersion,
    lifetime: AbortSignal,
    payload: boolean,
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
      { payload },
    );
  }

  private publishVerdict(image: string, verification: ClusterVerification): void {
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
              failing: payload.failing.slice(0, MAX_PUBLISHED_FAILURES),
            },
          }
        : {}),
    });
  }

  private publishState(): void {
    const publisher = this.options.statePublisher;
    if (publisher === undefined) return;
    const rechecks = this.rechecks.list().map((r) => ({
      kind: 'history' as const,
      image: r.key,
      attempts: r.attempts,
      nextAt: r.nextAt.toISOString(),
    }));
    this.statePublishing = this.statePublishing
      .then(() => publisher.publish(rechecks, this.now()))
      .catch((err: unknown) => {
        this.options.logger.warn('could not publish state', { error: String(err) });
      });
  }

  private async persistSignatures(
    digest: string,
    signatures: readonly Uint8Array[],
    keep: ReadonlySet<string>,
  ): Promise<void> {
    if (this.options.signatureCache === undefined || signatures.length === 0) return;
    try {
      await this.options.signatureCache.persist(digest, signatures, keep);
    } catch (err) {
      this.options.logger.warn('could not persist signatures', { digest, error: String(err) });
    }
  }

  private async recordEvent(
    cv: ClusterVersion,
    type: 'Normal' | 'Warning',
    reason: string,
    text: string,
  ): Promise<void> {
    const namespace = this.options.eventNamespace ?? 'openshift-cluster-version';
    const at = toApiTime(this.now());
    const message =
      text.length > MAX_EVENT_MESSAGE ? `${text.slice(0, MAX_EVENT_MESSAGE - 1)}…` : text;
    try {
      await this.options.kube.createEvent(namespace, {
        metadata: { generateName: `${cv.metadata.name ?? this.name}.`, namespace },
        involvedObject: {
          apiVersion: 'config.openshift.io/v1',
          kind: 'ClusterVersion',
          name: cv.metadata.name ?? this.name,
          namespace,
          ...(cv.metadata.uid !== undefined ? { uid: cv.metadata.uid } : {}),
        },
        type,
        reason,
        message,
        source: { component: 'cvo-update-verifier' },
        firstTimestamp: at,
        lastTimestamp: at,
        count: 1,
      });
    } catch (err) {
      this.options.logger.warn('could not record event', { reason, error: String(err) });
    }
  }
}
