/**
 * Bounds the requests one client has in flight. Waiters are served first come, first served; an
 * aborted waiter leaves the queue without taking a permit.
 */
export class Semaphore {
  private active = 0;
  private readonly waiters: (() => void)[] = [];
  private readonly limit: number;

  constructor(limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new RangeError(`a semaphore needs a positive integer limit, got ${limit}`);
    }
    this.limit = limit;
  }

  /** Resolves with a release function once a permit is free; rejects when `signal` aborts. */
  async acquire(signal: AbortSignal): Promise<() => void> {
    signal.throwIfAborted();
    if (this.active < this.limit) {
      this.active++;
      return this.releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const at = this.waiters.indexOf(grant);
        if (at !== -1) this.waiters.splice(at, 1);
        reject(signal.reason as Error);
      };
      // The releasing holder hands its permit straight to this waiter (active is unchanged).
      const grant = (): void => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      this.waiters.push(grant);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    return this.releaser();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next !== undefined) next();
      else this.active--;
    };
  }
}
