import type { VerifyError } from '../errors.js';

/**
 * What a store yields while it is read for one digest: a signature body, a failure to read one
 * (the store moves on to the next index), or the end of the store with the reason.
 */
export type StoreEvent =
  | {
      readonly kind: 'signature';
      readonly location: string;
      readonly index: number;
      readonly body: Uint8Array;
    }
  | {
      readonly kind: 'error';
      readonly location: string;
      readonly index: number;
      readonly error: VerifyError;
    }
  | { readonly kind: 'end'; readonly reason: StoreEndReason; readonly detail: string };

export type StoreEndReason = 'not-found' | 'limit' | 'aborted' | 'exhausted';

/**
 * A source of atomic container signatures for a digest (library-go's store.Store). Stores are
 * read lazily: a consumer that has what it needs stops iterating, and the abort signal stops
 * any request under way.
 */
export interface SignatureStore {
  /** A short human description for logs, evidence and status: `https://… (HTTP)`. */
  describe(): string;
  signatures(digest: string, signal: AbortSignal): AsyncIterable<StoreEvent>;
}

/** The default and maximum number of `signature-N` entries read per store (library-go reads 1..9 or 10). */
export const DEFAULT_MAX_SIGNATURES = 9;
/** library-go reads at most 50 KiB of a signature; we reject anything larger rather than truncate it. */
export const DEFAULT_MAX_SIGNATURE_BYTES = 50 * 1024;
