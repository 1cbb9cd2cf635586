/** Successful verdicts the CVO keeps in memory (library-go caches 64). */
export const DEFAULT_VERDICT_CACHE_SIZE = 64;

/**
 * A bounded least-recently-used map. Only successful verdicts are stored, so a release that
 * failed is always looked at again.
 */
export class LruCache<V> {
  private readonly entries = new Map<string, V>();
  private readonly maxEntries: number;
  hits = 0;
  misses = 0;

  constructor(maxEntries = DEFAULT_VERDICT_CACHE_SIZE) {
    if (!Number.isInteger(maxEntries) || maxEntries < 0)
      throw new RangeError('maxEntries must be a non-negative integer');
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): V | undefined {
    const value = this.entries.get(key);
    if (value === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  /** Forgets `key` (a verdict that no longer holds). */
  delete(key: string): void {
    this.entries.delete(key);
  }

  set(key: string, value: V): void {
    if (this.maxEntries === 0) return;
    this.entries.delete(key);
    this.entries.set(key, value);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
  }
}
