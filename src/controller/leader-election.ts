import { KubeApiError } from '../kube/client.js';
import type { Lease, LeasePort } from '../kube/client.js';
import { systemClock } from './clock.js';
import type { Clock, TimerHandle } from './clock.js';

export interface LeaderElectionOptions {
  readonly kube: LeasePort;
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  /** A lease not renewed for this long may be taken over. */
  readonly leaseDurationMs?: number;
  /** How often the leader renews. */
  readonly renewIntervalMs?: number;
  /** How often a follower tries to acquire. */
  readonly retryIntervalMs?: number;
  readonly clock?: Clock;
  readonly onStartedLeading: () => void;
  readonly onStoppedLeading: () => void;
  readonly onError?: (err: unknown) => void;
}

/**
 * Leader election with a coordination.k8s.io/v1 Lease, as client-go does it: acquire when the
 * lease is free or has not changed for its duration, renew before it expires, and stop leading as
 * soon as another holder is seen or a renewal write loses, or when the API server has been
 * unreachable for the lease duration. Writes carry resourceVersion, so two
 * candidates racing for the same lease cannot both win.
 */
/** Tries to release the lease on stop (a racing renewal makes the first write conflict). */
const RELEASE_ATTEMPTS = 3;

export class LeaderElector {
  private readonly options: LeaderElectionOptions;
  private readonly leaseDurationMs: number;
  private readonly renewIntervalMs: number;
  private readonly retryIntervalMs: number;
  private readonly clock: Clock;
  private leading = false;
  private lastRenew = 0;
  private lastContact = 0;
  /** The lease record last seen and when this process first saw it (local clock). */
  private observedRecord = '';
  private observedAt = 0;
  private timer: TimerHandle | undefined;
  private stopped = false;

  constructor(options: LeaderElectionOptions) {
    this.options = options;
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewIntervalMs = options.renewIntervalMs ?? 5_000;
    this.retryIntervalMs = options.retryIntervalMs ?? 2_000;
    this.clock = options.clock ?? systemClock;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Whether the API server answered this elector within the lease duration. */
  get inContact(): boolean {
    return this.clock.now() - this.lastContact < this.leaseDurationMs;
  }

  start(): void {
    this.stopped = false;
    void this.tick();
  }

  /** Stops campaigning; a leader releases the lease so a standby can take over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.clock.clearTimeout(this.timer);
    if (this.leading) {
      this.setLeading(false);
      // A renewal in flight when stop() began may land between our read and our write (409):
      // read again and retry, a few times, rather than leave the lease held until it expires.
      for (let attempt = 1; attempt <= RELEASE_ATTEMPTS; attempt++) {
        try {
          const lease = await this.options.kube.getLease(this.options.namespace, this.options.name);
          if (lease?.spec?.holderIdentity === this.options.identity) {
            await this.options.kube.replaceLease(this.options.namespace, {
              ...lease,
              spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 },
            });
          }
          break;
        } catch (err) {
          if (attempt === RELEASE_ATTEMPTS) this.options.onError?.(err);
        }
      }
    }
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      const outcome = await this.tryAcquireOrRenew();
      this.lastContact = this.clock.now();
      // stop() may have run during the await: a stopped elector never starts leading again.
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- see above
      if (this.stopped) return;
      if (outcome === 'held') {
        this.lastRenew = this.clock.now();
        this.setLeading(true);
      } else {
        // Another holder, or a lost write race: someone else owns the lease now.
        this.setLeading(false);
      }
    } catch (err) {
      this.options.onError?.(err);
      // The API server is unreachable: keep leading only while our last renewal is still valid.
      if (this.leading && this.clock.now() - this.lastRenew >= this.leaseDurationMs)
        this.setLeading(false);
    }
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() may run during the awaits above
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(
      () => void this.tick(),
      this.leading ? this.renewIntervalMs : this.retryIntervalMs,
    );
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    if (leading) this.options.onStartedLeading();
    else this.options.onStoppedLeading();
  }

  /**
   * One attempt to take or keep the lease. Expiry is judged by when this process last saw the
   * lease record change (as client-go does), not by the holder's renewTime, so clock skew
   * between replicas cannot make two leaders.
   */
  private async tryAcquireOrRenew(): Promise<'held' | 'lost'> {
    const { kube, namespace, name, identity } = this.options;
    const now = new Date(this.clock.now());
    const micro = now.toISOString();
    const spec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      renewTime: micro,
    };
    const lease = await kube.getLease(namespace, name);
    try {
      if (lease === undefined) {
        const created: Lease = {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
          spec: { ...spec, acquireTime: micro, leaseTransitions: 0 },
        };
        await kube.createLease(namespace, created);
        return 'held';
      }
      const holder = lease.spec?.holderIdentity ?? '';
      const record = `${holder}|${lease.spec?.renewTime ?? ''}|${lease.metadata.resourceVersion ?? ''}`;
      if (record !== this.observedRecord) {
        this.observedRecord = record;
        this.observedAt = now.getTime();
      }
      const duration = (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
      const expired = holder === '' || this.observedAt + duration < now.getTime();
      if (holder !== identity && !expired) return 'lost';
      const transitions = (lease.spec?.leaseTransitions ?? 0) + (holder === identity ? 0 : 1);
      await kube.replaceLease(namespace, {
        ...lease,
        spec: {
          ...lease.spec,
          ...spec,
          leaseTransitions: transitions,
          ...(holder === identity ? {} : { acquireTime: micro }),
        },
      });
      return 'held';
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 409) return 'lost';
      throw err;
    }
  }
}
