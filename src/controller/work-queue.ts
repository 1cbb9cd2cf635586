import { systemClock } from './clock.js';
import type { Clock, TimerHandle } from './clock.js';

/** A failed key is retried after this delay, doubling per consecutive failure, up to the cap. */
export const RETRY_BASE_MS = 250;
export const RETRY_MAX_MS = 30_000;

/**
 * A keyed, coalescing work queue with one worker. A handler that throws is retried with capped
 * exponential backoff (as client-go's rate-limited queue does), so a transient API error — a 429
 * while the API server initialises storage, a restart — never leaves a request unprocessed: adding a key that is already queued does
 * nothing; adding a key that is being processed runs it once more afterwards. Handlers never run
 * concurrently, so reconciles of the singleton ClusterVersion never race each other.
 */
export class WorkQueue {
  private readonly queued = new Set<string>();
  private readonly dirty = new Set<string>();
  private processing: string | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly handler: (key: string) => Promise<void>;
  private readonly onError: (key: string, err: unknown) => void;
  private idleWaiters: (() => void)[] = [];
  private readonly failures = new Map<string, number>();
  private readonly retryTimers = new Map<string, TimerHandle>();
  private readonly clock: Clock;

  constructor(
    handler: (key: string) => Promise<void>,
    onError: (key: string, err: unknown) => void,
    options: { readonly clock?: Clock } = {},
  ) {
    this.handler = handler;
    this.onError = onError;
    this.clock = options.clock ?? systemClock;
  }

  get depth(): number {
    return this.queued.size + (this.processing !== undefined ? 1 : 0);
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.processing === key) {
      this.dirty.add(key);
      return;
    }
    this.queued.add(key);
    this.running ??= this.drain();
  }

  /** Resolves when nothing is queued or being processed. */
  async idle(): Promise<void> {
    if (this.running === undefined) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.retryTimers.values()) this.clock.clearTimeout(timer);
    this.retryTimers.clear();
    this.queued.clear();
    this.dirty.clear();
    await this.running;
  }

  private retryLater(key: string): void {
    const failures = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, failures);
    if (this.retryTimers.has(key) || this.stopped) return;
    const delay = Math.min(RETRY_BASE_MS * 2 ** Math.min(failures - 1, 20), RETRY_MAX_MS);
    const timer = this.clock.setTimeout(
      () => {
        this.retryTimers.delete(key);
        this.add(key);
      },
      delay,
      { ref: false },
    );
    this.retryTimers.set(key, timer);
  }

  private async drain(): Promise<void> {
    try {
      for (;;) {
        const next = this.queued.values().next();
        if (next.done === true || this.stopped) break;
        const key = next.value;
        this.queued.delete(key);
        this.processing = key;
        try {
          await this.handler(key);
          this.failures.delete(key);
        } catch (err) {
          this.onError(key, err);
          this.retryLater(key);
        }
        this.processing = undefined;
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() may run during the await
        if (this.dirty.delete(key) && !this.stopped) this.queued.add(key);
      }
    } finally {
      this.running = undefined;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
