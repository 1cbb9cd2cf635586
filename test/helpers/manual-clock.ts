import { setImmediate as nextTurn } from 'node:timers/promises';

import type { Clock, TimerHandle } from '../../src/controller/clock.js';

/** Where a ManualClock starts unless told otherwise. */
export const MANUAL_CLOCK_EPOCH = Date.parse('2026-01-01T00:00:00.000Z');

/**
 * Lets every promise continuation that is ready run: one turn of the event loop drains the
 * microtask queue, whatever the chain length, as long as nothing waits on real I/O or timers.
 * Not a sleep: it waits for no amount of time.
 */
export async function settle(turns = 2): Promise<void> {
  for (let i = 0; i < turns; i++) await nextTurn();
}

interface PendingTimer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

/**
 * A {@link Clock} whose time moves only when a test says so. Timers due within an advance run in
 * order of due time (then of creation), each at its own time, with promise continuations settled
 * after each one: what a timer's callback starts has run before the next timer fires.
 */
export class ManualClock implements Clock {
  private current: number;
  private seq = 0;
  private readonly timers = new Map<number, PendingTimer>();

  constructor(start = MANUAL_CLOCK_EPOCH) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const seq = ++this.seq;
    this.timers.set(seq, { at: this.current + Math.max(0, ms), seq, fn });
    return seq as unknown as TimerHandle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as unknown as number);
  }

  /** How many timers are waiting. */
  get pending(): number {
    return this.timers.size;
  }

  /** The delays, from now, of the waiting timers, soonest first. */
  pendingDelays(): number[] {
    return [...this.timers.values()].map((t) => t.at - this.current).sort((a, b) => a - b);
  }

  /** Moves time forward by `ms`, running every timer that falls due on the way. */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    await settle();
    for (;;) {
      const next = this.earliest();
      if (next === undefined || next.at > target) break;
      this.timers.delete(next.seq);
      this.current = next.at;
      next.fn();
      await settle();
    }
    this.current = target;
    await settle();
  }

  /** Moves time to the soonest waiting timer and runs it (and any due at the same time). */
  async runNext(): Promise<void> {
    const next = this.earliest();
    if (next === undefined) throw new Error('ManualClock: no timer is waiting');
    await this.advance(next.at - this.current);
  }

  private earliest(): PendingTimer | undefined {
    let best: PendingTimer | undefined;
    for (const t of this.timers.values()) {
      if (best === undefined || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    }
    return best;
  }
}
