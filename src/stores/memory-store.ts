import type { SignatureStore, StoreEvent } from './store.js';

/** Signatures held in memory, keyed by digest: for tests and for signatures already fetched. */
export class MemorySignatureStore implements SignatureStore {
  private readonly signaturesByDigest: Map<string, readonly Uint8Array[]>;
  private readonly name: string;

  constructor(signatures: Readonly<Record<string, readonly Uint8Array[]>> = {}, name = 'memory') {
    this.signaturesByDigest = new Map(Object.entries(signatures));
    this.name = name;
  }

  describe(): string {
    return this.name;
  }

  set(digest: string, signatures: readonly Uint8Array[]): void {
    this.signaturesByDigest.set(digest, signatures);
  }

  async *signatures(digest: string, signal: AbortSignal): AsyncIterable<StoreEvent> {
    const list = this.signaturesByDigest.get(digest) ?? [];
    let index = 0;
    for (const body of list) {
      index++;
      if (signal.aborted) {
        yield { kind: 'end', reason: 'aborted', detail: 'stopped' };
        return;
      }
      yield await Promise.resolve({
        kind: 'signature',
        location: `${this.name}[${index}]`,
        index,
        body,
      });
    }
    yield {
      kind: 'end',
      reason: list.length === 0 ? 'not-found' : 'exhausted',
      detail: `${list.length} signature(s)`,
    };
  }
}
