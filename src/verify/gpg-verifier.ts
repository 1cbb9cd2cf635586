import { createHash } from 'node:crypto';

import { VerifyError } from '../errors.js';
import type { VerifyErrorCode } from '../errors.js';
import { SATISFIED_DETAIL } from './verdict.js';
import { checkAtomicPayload } from '../gpg/atomic-payload.js';
import type { Keyring } from '../gpg/keyring.js';
import { verifySignedMessage } from '../gpg/verify-message.js';
import { MemorySignatureStore } from '../stores/memory-store.js';
import type { SignatureStore, StoreEvent } from '../stores/store.js';
import type { GpgCheck, SignatureEvidence, StoreReport } from './verdict.js';
import { LruCache } from './verdict-cache.js';

/** Time one verification may take in all, across every store. */
export const DEFAULT_VERIFY_BUDGET_MS = 30_000;
/** Signatures checked per verification across all stores, whatever the stores hold. */
export const MAX_CANDIDATES = 64;

export interface GpgTrust {
  /** `the config map <ns>/<name>` or another description, for messages. */
  readonly source: string;
  /** Every keyring must be satisfied by some signature from any of its keys. */
  readonly keyrings: readonly Keyring[];
}

export interface GpgVerifierOptions {
  readonly trust: GpgTrust;
  /** Read in parallel (default) or in order; the first complete success stops the rest. */
  readonly stores: readonly SignatureStore[];
  readonly mode?: 'parallel' | 'serial';
  readonly budgetMs?: number;
  readonly now?: () => Date;
  readonly cache?: LruCache<GpgResult>;
}

export interface GpgResult {
  readonly verified: boolean;
  readonly code?: VerifyErrorCode;
  readonly message: string;
  readonly details: readonly string[];
  readonly checks: readonly GpgCheck[];
  readonly stores: readonly StoreReport[];
  readonly cached: boolean;
  /** Signature bodies that satisfied a keyring: what a signature cache persists. */
  readonly signatures: readonly Uint8Array[];
}

/**
 * The cluster-version operator's release verification (library-go pkg/verify), with evidence:
 * a digest is verified when every keyring in the trust is satisfied by at least one signature
 * found in the stores whose payload names exactly that digest.
 */
export class GpgReleaseVerifier {
  private readonly trust: GpgTrust;
  private readonly stores: readonly SignatureStore[];
  private readonly mode: 'parallel' | 'serial';
  private readonly budgetMs: number;
  private readonly now: () => Date;
  private readonly cache: LruCache<GpgResult>;
  private readonly trustKey: string;

  constructor(options: GpgVerifierOptions) {
    if (options.trust.keyrings.length === 0) {
      throw new VerifyError(
        'NO_KEYS',
        `${options.trust.source} did not provide any GPG public keys to verify signatures from and cannot be used`,
      );
    }
    this.trust = options.trust;
    this.stores = options.stores;
    this.mode = options.mode ?? 'parallel';
    this.budgetMs = options.budgetMs ?? DEFAULT_VERIFY_BUDGET_MS;
    this.now = options.now ?? (() => new Date());
    this.cache = options.cache ?? new LruCache<GpgResult>();
    // A cached success is reused only for exactly the trust it was made with: every keyring's
    // whole content (revocations and expiry included) and the same stores.
    this.trustKey = createHash('sha256')
      .update(JSON.stringify(options.trust.keyrings.map((k) => k.contentDigest())))
      .update(JSON.stringify(options.stores.map((st) => st.describe())))
      .digest('hex');
  }

  describe(): string {
    return `GPG verification against ${this.trust.keyrings.map((k) => k.name).join(', ')} from ${this.trust.source} using ${this.stores.map((s) => s.describe()).join(', ') || 'no stores'}`;
  }

  async verify(digest: string, signal?: AbortSignal): Promise<GpgResult> {
    const cacheKey = `${digest}|${this.trustKey}`;
    const hit = this.cache.get(cacheKey);
    if (hit) {
      // Time-dependent facts (a signature's own expiry, revocations dated later) are judged
      // again now: the signatures that satisfied the keyrings are verified once more, from
      // memory, without reading a store. Only if they still verify is the verdict reused.
      const again = await this.run(
        digest,
        [new MemorySignatureStore({ [digest]: hit.signatures }, 'cached signatures')],
        signal,
      );
      if (again.verified) return { ...hit, cached: true };
      this.cache.delete(cacheKey);
    }
    const result = await this.run(digest, this.stores, signal);
    if (result.verified) this.cache.set(cacheKey, result);
    return result;
  }

  private async run(
    digest: string,
    stores: readonly SignatureStore[],
    signal: AbortSignal | undefined,
  ): Promise<GpgResult> {
    const run = new Run(digest, this.trust.keyrings, this.now());
    const controller = new AbortController();
    // A referenced timer, unlike AbortSignal.timeout's: a verification waiting on a store that
    // never answers must keep the process alive until its budget ends, not let it exit.
    const budget = new AbortController();
    const timer = setTimeout(() => {
      budget.abort(new DOMException('verification budget exhausted', 'TimeoutError'));
    }, this.budgetMs);
    const inner = AbortSignal.any([controller.signal, budget.signal, ...(signal ? [signal] : [])]);
    run.onComplete = () => {
      controller.abort();
    };
    try {
      await this.readStores(run, stores, inner);
    } finally {
      clearTimeout(timer);
    }
    if (!run.complete && budget.signal.aborted)
      run.details.push(`verification budget of ${this.budgetMs} ms exhausted`);
    if (!run.complete && signal?.aborted === true) run.details.push('verification was cancelled');
    return run.result();
  }

  private async readStores(
    run: Run,
    stores: readonly SignatureStore[],
    inner: AbortSignal,
  ): Promise<void> {
    if (stores.length === 0) {
      run.details.push('no signature stores are configured');
    } else if (this.mode === 'parallel') {
      await Promise.all(stores.map((store) => run.readStore(store, inner)));
    } else {
      for (const store of stores) {
        if (run.complete || inner.aborted) break;
        await run.readStore(store, inner);
      }
    }
  }
}

/** Why a store read stopped early on a success (its end reason stays `aborted` in the data). */
export { SATISFIED_DETAIL };

/** The state of one verification: which keyrings remain, and everything seen so far. */
class Run {
  onComplete: () => void = () => undefined;
  readonly details: string[] = [];
  private readonly remaining: Set<string>;
  private readonly evidence = new Map<string, SignatureEvidence[]>();
  private readonly reports: StoreReport[] = [];
  private readonly satisfying: Uint8Array[] = [];
  private candidates = 0;
  private readonly digest: string;
  private readonly keyrings: readonly Keyring[];
  private readonly now: Date;

  constructor(digest: string, keyrings: readonly Keyring[], now: Date) {
    this.digest = digest;
    this.keyrings = keyrings;
    this.now = now;
    this.remaining = new Set(keyrings.map((k) => k.name));
    for (const k of keyrings) this.evidence.set(k.name, []);
  }

  get complete(): boolean {
    return this.remaining.size === 0;
  }

  async readStore(store: SignatureStore, signal: AbortSignal): Promise<void> {
    const report: StoreReport = { store: store.describe(), signaturesRead: 0, errors: [] };
    this.reports.push(report);
    try {
      for await (const event of store.signatures(this.digest, signal)) {
        await this.handle(store, report, event);
        if (this.complete || signal.aborted) break;
      }
    } catch (err) {
      // A store must report failures as events; anything thrown is a bug in it, not a verdict.
      const error =
        err instanceof VerifyError
          ? err
          : new VerifyError('STORE_ERROR', `${store.describe()}: ${String(err)}`, { cause: err });
      report.errors.push({ location: store.describe(), code: error.code, message: error.message });
      this.details.push(error.message);
    }
    if (report.end === undefined && (this.complete || signal.aborted)) {
      report.end = {
        reason: 'aborted',
        detail: this.complete ? SATISFIED_DETAIL : 'stopped',
      };
    }
  }

  private async handle(
    store: SignatureStore,
    report: StoreReport,
    event: StoreEvent,
  ): Promise<void> {
    switch (event.kind) {
      case 'end':
        report.end = { reason: event.reason, detail: event.detail };
        if (
          event.reason === 'not-found' &&
          report.signaturesRead === 0 &&
          report.errors.length === 0
        ) {
          this.details.push(
            `${store.describe()}: no signatures for ${this.digest} (${event.detail})`,
          );
        }
        return;
      case 'error':
        report.errors.push({
          location: event.location,
          code: event.error.code,
          message: event.error.message,
        });
        this.details.push(event.error.message);
        return;
      case 'signature':
        report.signaturesRead++;
        if (this.complete) return;
        if (++this.candidates > MAX_CANDIDATES) {
          this.details.push(`more than ${MAX_CANDIDATES} signatures: the rest were not checked`);
          return;
        }
        await this.check(store, event.location, event.index, event.body);
        return;
      default: {
        const never: never = event;
        throw new Error(`unknown store event ${JSON.stringify(never)}`);
      }
    }
  }

  private async check(
    store: SignatureStore,
    location: string,
    index: number,
    body: Uint8Array,
  ): Promise<void> {
    let satisfiedAny = false;
    for (const keyring of this.keyrings) {
      if (!this.remaining.has(keyring.name)) continue;
      const list = this.evidence.get(keyring.name) ?? [];
      try {
        const message = await verifySignedMessage(body, keyring, { now: this.now });
        const payload = checkAtomicPayload(message.data, this.digest);
        list.push({
          store: store.describe(),
          location,
          index,
          outcome: 'verified',
          message: `signed by ${message.userIds[0] ?? 'key'} (key ${message.keyId.toUpperCase()}) at ${message.created.toISOString()}`,
          keyId: message.keyId.toUpperCase(),
          ...(message.userIds[0] !== undefined ? { signer: message.userIds[0] } : {}),
          signedAt: message.created.toISOString(),
          identity: payload.identity,
        });
        this.remaining.delete(keyring.name);
        satisfiedAny = true;
      } catch (err) {
        if (!(err instanceof VerifyError)) throw err;
        list.push({
          store: store.describe(),
          location,
          index,
          outcome: 'rejected',
          code: err.code,
          message: err.message,
        });
        this.details.push(`${location}: ${keyring.name}: ${err.message}`);
      }
    }
    if (satisfiedAny) this.satisfying.push(body);
    if (this.complete) this.onComplete();
  }

  result(): GpgResult {
    const checks: GpgCheck[] = this.keyrings.map((k) => {
      const evidence = this.evidence.get(k.name) ?? [];
      const verified = !this.remaining.has(k.name);
      if (verified) {
        const winner = evidence.find((e) => e.outcome === 'verified');
        return {
          kind: 'gpg',
          keyring: k.name,
          verified,
          reason: `${winner?.message ?? 'verified'} (${winner?.location ?? ''})`,
          evidence,
        };
      }
      const rejected = evidence.filter((e) => e.outcome === 'rejected');
      const first = rejected[0];
      if (first === undefined) {
        const errors = this.reports.reduce((n, r) => n + r.errors.length, 0);
        const reason =
          errors > 0
            ? `no signature could be read: ${errors} store error(s), e.g. ${this.reports.flatMap((r) => r.errors)[0]?.message ?? ''}`
            : `no signature found for ${this.digest} in ${this.reports.length} store(s)`;
        return {
          kind: 'gpg',
          keyring: k.name,
          verified,
          code: errors > 0 ? 'STORE_ERROR' : 'NOT_SIGNED',
          reason,
          evidence,
        };
      }
      const reason = `${rejected.length} signature(s) checked, none valid for this keyring: ${first.message}`;
      return {
        kind: 'gpg',
        keyring: k.name,
        verified,
        ...(first.code !== undefined ? { code: first.code } : {}),
        reason,
        evidence,
      };
    });
    const verified = this.remaining.size === 0;
    const unsatisfied = [...this.remaining].sort();
    const failed = checks.find((c) => !c.verified);
    return {
      verified,
      ...(verified ? {} : { code: failed?.code ?? 'NOT_SIGNED' }),
      message: verified
        ? `verified against keyrings: ${this.keyrings.map((k) => k.name).join(', ')}`
        : `unable to verify ${this.digest} against keyrings: ${unsatisfied.join(', ')}`,
      details: this.details,
      checks,
      stores: this.reports,
      cached: false,
      signatures: this.satisfying,
    };
  }
}
