import type { VerifyErrorCode } from '../errors.js';
import { KubeApiError } from '../kube/client.js';
import type { ClusterVersionPort, ConfigMapPort } from '../kube/client.js';
import type { ClusterVersion, ConfigMap, Release } from '../kube/types.js';
import type { Logger } from '../observability/logger.js';
import { createDeadline, systemClock } from './clock.js';
import type { Clock, TimerHandle } from './clock.js';
import { payloadVersionMismatchMessage } from './reconcile.js';
import { NOTHING_COVERED_REASON, PAYLOAD_FAILED_REASON, toConditionReason } from './reasons.js';
import type { ClusterVerification, ReleaseVerifierPort } from './verification-port.js';

/** Whether the cluster would accept an update right now, and why not. */
export type UpdateVerdict =
  | { readonly result: 'verified'; readonly summary: string; readonly checkedAt: string }
  | {
      readonly result: 'refused';
      readonly code?: VerifyErrorCode;
      /** The condition reason the service would write (ReleaseVerified's, or the payload's). */
      readonly reason: string;
      readonly message: string;
      readonly checkedAt: string;
    }
  | { readonly result: 'unknown'; readonly message: string; readonly checkedAt?: string };

/** Codes that say the check could not be made, not that the release fails it. */
const UNKNOWN_CODES: ReadonlySet<VerifyErrorCode> = new Set([
  'CLUSTER_CONFIG_UNREADABLE',
  'ABORTED',
]);

/**
 * The verdict on one offered update from its verification (signatures, the whole payload when
 * checked, the release's own metadata), as the service decides when the update is requested
 * unforced. Pure.
 */
export function toUpdateVerdict(
  release: Release,
  verification: ClusterVerification,
  checkedAt: string,
): UpdateVerdict {
  const { outcome, payload, release: loaded } = verification;
  if (!outcome.verified) {
    if (outcome.code !== undefined && UNKNOWN_CODES.has(outcome.code))
      return { result: 'unknown', message: outcome.message, checkedAt };
    return {
      result: 'refused',
      ...(outcome.code !== undefined ? { code: outcome.code } : {}),
      reason: toConditionReason(outcome.code),
      message: outcome.message,
      checkedAt,
    };
  }
  if (payload !== undefined && !payload.verified) {
    return {
      result: 'refused',
      reason: payload.nothingCovered === true ? NOTHING_COVERED_REASON : PAYLOAD_FAILED_REASON,
      message: payload.message,
      checkedAt,
    };
  }
  const version = release.version ?? '';
  if (loaded?.kind === 'loaded' && version !== '' && loaded.version !== version) {
    return {
      result: 'refused',
      reason: 'VerifyPayloadVersion',
      message: payloadVersionMismatchMessage(version, release.image ?? '', loaded.version),
      checkedAt,
    };
  }
  return { result: 'verified', summary: outcome.summary, checkedAt };
}

/** The ClusterVersion as an unforced request of nothing: what an offered update is judged under. */
export function withoutRequest(cv: ClusterVersion): ClusterVersion {
  const spec = { ...cv.spec };
  delete spec.desiredUpdate;
  return { ...cv, spec };
}

/** The key of the published verdicts in their ConfigMap. */
export const UPDATES_KEY = 'updates.json';
/** The ConfigMap, in the service's namespace, the leader publishes the verdicts to. */
export const UPDATES_CONFIGMAP_NAME = 'cvo-update-verifier-updates';
/** Offered updates pre-verified per pass, newest first: each may read a whole payload. */
export const MAX_PREVERIFIED_UPDATES = 10;
/** How often every offered update is verified again (trust and signatures change). */
export const PREVERIFY_INTERVAL_MS = 10 * 60_000;
/** Budget of one update's verification, its payload check included. */
export const PREVERIFY_BUDGET_MS = 5 * 60_000;

export interface PublishedUpdateVerdict {
  readonly image: string;
  readonly version: string;
  readonly verdict: UpdateVerdict;
}

/** What `cvo-verifier recommend` reads. */
export interface PublishedUpdates {
  readonly updatedAt: string;
  readonly identity: string;
  /** How often the verdicts are refreshed: a verdict older than a few of these is stale. */
  readonly intervalMs: number;
  readonly verdicts: readonly PublishedUpdateVerdict[];
}

/** Reads published verdicts, or undefined when the ConfigMap holds none or garbage. */
export function parsePublishedUpdates(cm: ConfigMap | undefined): PublishedUpdates | undefined {
  const text = cm?.data?.[UPDATES_KEY];
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as PublishedUpdates;
    if (!Array.isArray(value.verdicts) || typeof value.intervalMs !== 'number') return undefined;
    // An entry that is not a verdict (a hand edit) is dropped: that update is checked instead.
    return { ...value, verdicts: value.verdicts.filter(isPublishedVerdict) };
  } catch {
    return undefined;
  }
}

function isPublishedVerdict(v: unknown): v is PublishedUpdateVerdict {
  if (typeof v !== 'object' || v === null) return false;
  const { image, verdict } = v as { image?: unknown; verdict?: unknown };
  if (typeof image !== 'string' || typeof verdict !== 'object' || verdict === null) return false;
  const { result } = verdict as { result?: unknown };
  return result === 'verified' || result === 'refused' || result === 'unknown';
}

/** Read through a call: an await may have aborted a signal the compiler saw as not aborted. */
function isAborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

/** Semantic-version order, newest first; what does not parse goes last. */
function compareNewestFirst(a: Release, b: Release): number {
  const parse = (v: string | undefined): number[] | undefined => {
    const m = /^(\d+)\.(\d+)\.(\d+)(-.+)?/.exec(v ?? '');
    return m === null ? undefined : [Number(m[1]), Number(m[2]), Number(m[3]), m[4] ? 0 : 1];
  };
  const pa = parse(a.version);
  const pb = parse(b.version);
  if (pa === undefined || pb === undefined) return pa === pb ? 0 : pa === undefined ? 1 : -1;
  for (let i = 0; i < pa.length; i++) {
    const d = (pb[i] ?? 0) - (pa[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The available and conditional updates (each image once), newest first, at most `max`. */
export function offeredUpdates(cv: ClusterVersion, max: number): Release[] {
  const byImage = new Map<string, Release>();
  for (const r of [
    ...(cv.status?.availableUpdates ?? []),
    ...(cv.status?.conditionalUpdates ?? []).map((c) => c.release),
  ]) {
    if (r.image !== undefined && r.image !== '' && !byImage.has(r.image)) byImage.set(r.image, r);
  }
  return [...byImage.values()].sort(compareNewestFirst).slice(0, max);
}

export interface UpdatePreverifierOptions {
  readonly kube: ClusterVersionPort & ConfigMapPort;
  readonly verifier: ReleaseVerifierPort;
  readonly clusterVersionName: string;
  /** The service's namespace. */
  readonly namespace: string;
  readonly name?: string;
  readonly identity: string;
  readonly logger?: Logger;
  readonly clock?: Clock;
  readonly maxUpdates?: number;
  readonly intervalMs?: number;
  readonly budgetMs?: number;
}

/**
 * The leader's background pre-verification of the updates the cluster is offered: every
 * `intervalMs`, at most `maxUpdates` of them, one at a time, each within `budgetMs`, with the
 * cluster's trust (the same verifier the controller uses, so its caches are shared), judged as
 * an unforced request. The verdicts are published after each update to a ConfigMap of their own
 * (never the controller's state ConfigMap), for `cvo-verifier recommend`. It never blocks a
 * reconcile: it runs beside the controller and shares nothing with its queue.
 */
export class UpdatePreverifier {
  private readonly options: UpdatePreverifierOptions;
  private readonly clock: Clock;
  private running = false;
  private timer: TimerHandle | undefined;
  private abort: AbortController | undefined;
  private pass: Promise<void> = Promise.resolve();
  private verdicts = new Map<string, PublishedUpdateVerdict>();

  constructor(options: UpdatePreverifierOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
  }

  /** Starts the first pass at once (in the background); later ones every interval. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
    this.schedule(0);
  }

  /** Stops: aborts the verification in flight and waits for the pass to end. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.abort?.abort(new DOMException('the update pre-verifier stopped', 'AbortError'));
    await this.pass;
  }

  /** The pass in flight (tests wait on it). */
  get current(): Promise<void> {
    return this.pass;
  }

  private schedule(ms: number): void {
    this.timer = this.clock.setTimeout(
      () => {
        this.timer = undefined;
        this.pass = this.runPass().catch((err: unknown) => {
          this.options.logger?.warn('update pre-verification failed', { error: String(err) });
        });
        void this.pass.finally(() => {
          if (this.running) this.schedule(this.options.intervalMs ?? PREVERIFY_INTERVAL_MS);
        });
      },
      ms,
      { ref: false },
    );
  }

  private async runPass(): Promise<void> {
    const stopped = this.abort?.signal;
    if (stopped === undefined || stopped.aborted) return;
    const { kube, verifier, clusterVersionName } = this.options;
    const cv = await kube.getClusterVersion(clusterVersionName);
    const offered = offeredUpdates(cv, this.options.maxUpdates ?? MAX_PREVERIFIED_UPDATES);
    const unrequested = withoutRequest(cv);
    // Updates no longer offered are dropped; the others keep their last verdict until renewed.
    const kept = new Map<string, PublishedUpdateVerdict>();
    for (const r of offered) {
      const old = this.verdicts.get(r.image ?? '');
      if (old !== undefined) kept.set(old.image, old);
    }
    this.verdicts = kept;
    if (offered.length === 0) {
      await this.publishLogged();
      return;
    }
    for (const release of offered) {
      if (isAborted(stopped)) return;
      const image = release.image ?? '';
      const budgetMs = this.options.budgetMs ?? PREVERIFY_BUDGET_MS;
      const deadline = createDeadline(this.clock, budgetMs, 'update pre-verification');
      let verdict: UpdateVerdict;
      try {
        const verification = await verifier.verify(
          image,
          unrequested,
          AbortSignal.any([stopped, deadline.signal]),
          { payload: true },
        );
        verdict = toUpdateVerdict(release, verification, this.nowIso());
      } catch (err) {
        if (isAborted(stopped)) return;
        verdict = {
          result: 'unknown',
          message: deadline.signal.aborted
            ? `the check did not finish within ${String(budgetMs / 1000)}s`
            : `the check failed: ${err instanceof Error ? err.message : String(err)}`,
          checkedAt: this.nowIso(),
        };
      } finally {
        deadline.dispose();
      }
      this.verdicts.set(image, { image, version: release.version ?? '', verdict });
      await this.publishLogged();
    }
  }

  /** A failed write is logged; the next update's (or pass's) write carries every verdict. */
  private async publishLogged(): Promise<void> {
    try {
      await this.publish();
    } catch (err) {
      this.options.logger?.warn('could not publish the update verdicts', { error: String(err) });
    }
  }

  private nowIso(): string {
    return new Date(this.clock.now()).toISOString();
  }

  private async publish(): Promise<void> {
    const { kube, namespace, identity } = this.options;
    const name = this.options.name ?? UPDATES_CONFIGMAP_NAME;
    const state: PublishedUpdates = {
      updatedAt: this.nowIso(),
      identity,
      intervalMs: this.options.intervalMs ?? PREVERIFY_INTERVAL_MS,
      verdicts: [...this.verdicts.values()],
    };
    const data = { [UPDATES_KEY]: JSON.stringify(state, null, 2) };
    for (let attempt = 1; ; attempt++) {
      const existing = await kube.getConfigMap(namespace, name);
      try {
        if (existing === undefined) {
          await kube.createConfigMap(namespace, {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: {
              name,
              namespace,
              labels: { 'app.kubernetes.io/name': 'cvo-update-verifier' },
            },
            data,
          });
        } else {
          await kube.replaceConfigMap(namespace, { ...existing, data });
        }
        return;
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 409 && attempt < 3)) throw err;
      }
    }
  }
}
