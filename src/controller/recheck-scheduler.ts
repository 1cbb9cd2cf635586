import { systemClock } from './clock.js';
import type { Clock, TimerHandle } from './clock.js';

/** Background re-checks start after this delay and double up to the cap. */
export const DEFAULT_RECHECK_BASE_MS = 30_000;
export const DEFAULT_RECHECK_MAX_MS = 60 * 60_000;

export interface RecheckEntry {
  readonly key: string;
  readonly attempts: number;
  readonly nextAt: Date;
}

export interface RecheckOptions {
  readonly baseMs?: number;
  readonly maxMs?: number;
  readonly clock?: Clock;
  /** Runs one re-check; resolves true when the key needs no more checks. */
  readonly run: (key: string) => Promise<boolean>;
  readonly onError?: (key: string, err: unknown) => void;
  /** Called after a re-check ran and was rescheduled or finished. */
  readonly onChange?: () => void;
}

/**
 * Re-runs a check per key with exponential backoff and a cap until it reports done. The keys come
 * from cluster state (history entries with verified: false, refused targets), so a restarted
 * service resumes them simply by scheduling what status shows.
 */
export class RecheckScheduler {
  private readonly entries = new Map<
    string,
    { attempts: number; nextAt: number; timer: TimerHandle }
  >();
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly clock: Clock;
  private readonly options: RecheckOptions;
  /** Re-checks running now, so stop() can wait for them. */
  private readonly running = new Set<Promise<void>>();
  private stopped = false;

  constructor(options: RecheckOptions) {
    this.options = options;
    this.baseMs = options.baseMs ?? DEFAULT_RECHECK_BASE_MS;
    this.maxMs = options.maxMs ?? DEFAULT_RECHECK_MAX_MS;
    this.clock = options.clock ?? systemClock;
  }

  /** Schedules exactly `keys`: new ones start at the base delay, others keep their backoff. */
  sync(keys: Iterable<string>): void {
    const wanted = new Set(keys);
    for (const key of [...this.entries.keys()]) if (!wanted.has(key)) this.cancel(key);
    for (const key of wanted) if (!this.entries.has(key)) this.schedule(key, 0);
  }

  list(): RecheckEntry[] {
    return [...this.entries].map(([key, e]) => ({
      key,
      attempts: e.attempts,
      nextAt: new Date(e.nextAt),
    }));
  }

  cancel(key: string): void {
    const entry = this.entries.get(key);
    if (entry) this.clock.clearTimeout(entry.timer);
    this.entries.delete(key);
  }

  /**
   * Cancels every scheduled re-check at once (list() is empty on return) and resolves when the
   * re-checks already running have finished: a stopped scheduler's owner writes nothing after.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const key of [...this.entries.keys()]) this.cancel(key);
    await Promise.all(this.running);
  }

  delayFor(attempts: number): number {
    return Math.min(this.baseMs * 2 ** Math.min(attempts, 30), this.maxMs);
  }

  private schedule(key: string, attempts: number): void {
    if (this.stopped) return;
    const delay = this.delayFor(attempts);
    const timer = this.clock.setTimeout(
      () => {
        const run = this.fire(key, attempts).finally(() => this.running.delete(run));
        this.running.add(run);
      },
      delay,
      { ref: false },
    );
    this.entries.set(key, { attempts, nextAt: this.clock.now() + delay, timer });
  }

  private async fire(key: string, attempts: number): Promise<void> {
    let done = false;
    try {
      done = await this.options.run(key);
    } catch (err) {
      this.options.onError?.(key, err);
    }
    const current = this.entries.get(key);
    // Cancelled or re-synced while running: leave it to whoever changed it.
    if (current?.attempts !== attempts) return;
    if (done) this.entries.delete(key);
    else this.schedule(key, attempts + 1);
    this.options.onChange?.();
  }
}
