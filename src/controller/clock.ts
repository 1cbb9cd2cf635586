/** An opaque handle for a timer started by a {@link Clock}. */
export interface TimerHandle {
  readonly __timer: unique symbol;
}

export interface TimerOptions {
  /**
   * Whether a pending timer keeps the process alive (Node's default). Background work (retries,
   * re-checks) passes false so it never holds up exit; a deadline on work in flight keeps true.
   */
  readonly ref?: boolean;
}

/**
 * Time as the controller sees it: the wall clock and one-shot timers. Injected, so the work
 * queue, re-check scheduler, leader election and reconcile budget run against a manual clock in
 * unit tests (test/helpers/manual-clock.ts) instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once, `ms` from now. */
  setTimeout(fn: () => void, ms: number, options?: TimerOptions): TimerHandle;
  /** Cancels a timer that has not run yet; a handle already run or cleared is ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/** The process clock: Date.now and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms, options) => {
    const timer = setTimeout(fn, ms);
    if (options?.ref === false) timer.unref();
    return timer as unknown as TimerHandle;
  },
  clearTimeout: (handle) => {
    clearTimeout(handle as unknown as NodeJS.Timeout);
  },
};

/** A signal that aborts `ms` from now on `clock`, and what stops its timer. */
export interface Deadline {
  readonly signal: AbortSignal;
  /** Clears the timer; the signal stays as it is. Call once the guarded work is over. */
  dispose(): void;
}

/**
 * A deadline on `clock`: like AbortSignal.timeout, but on an injectable clock and with a
 * referenced timer, so work waiting on a peer that never answers keeps the process alive until
 * its budget ends. The abort reason is a TimeoutError DOMException, as AbortSignal.timeout's.
 */
export function createDeadline(clock: Clock, ms: number, what: string): Deadline {
  const controller = new AbortController();
  const handle = clock.setTimeout(() => {
    controller.abort(new DOMException(`${what} exceeded ${String(ms)} ms`, 'TimeoutError'));
  }, ms);
  return {
    signal: controller.signal,
    dispose: () => {
      clock.clearTimeout(handle);
    },
  };
}
