import { Counter, Gauge, Histogram, Registry } from 'prom-client';

import { toErrorLabel } from '../errors.js';
import type { PayloadOutcome } from '../payload/payload-check.js';
import type { StoreReport } from '../verify/verdict.js';

/** Distinct `store` label values kept; later stores are counted under {@link OTHER_STORE_LABEL}. */
export const MAX_STORE_LABELS = 16;
export const OTHER_STORE_LABEL = 'other';

/** Everything the service reports to Prometheus, on a private registry (no global state). */
export interface ServiceMetrics {
  readonly registry: Registry;
  recordVerification(
    kind: 'gpg',
    result: 'verified' | 'refused',
    reason: string,
    seconds: number,
    cached: boolean,
  ): void;
  recordStores(stores: readonly StoreReport[]): void;
  recordAdmission(decision: 'allowed' | 'denied', reason: string, seconds: number): void;
  /** A whole-payload verification: its result, time, and the last payload's components by status. */
  recordPayload(outcome: PayloadOutcome): void;
}

export interface MetricsSources {
  readonly isLeader: () => boolean;
  readonly reconcileQueueDepth: () => number;
  readonly rechecks: () => readonly { readonly nextAt: Date }[];
}

export function createMetrics(sources: MetricsSources): ServiceMetrics {
  const registry = new Registry();
  const verifications = new Counter({
    name: 'cvo_verifier_verifications_total',
    help: 'Release verifications by kind, result and reason.',
    labelNames: ['kind', 'result', 'reason'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'cvo_verifier_verification_duration_seconds',
    help: 'Time to verify a release, stores included.',
    labelNames: ['kind', 'result'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const cache = new Counter({
    name: 'cvo_verifier_verdict_cache_total',
    help: 'Verifications answered from the verdict cache (hit) or not (miss).',
    labelNames: ['result'],
    registers: [registry],
  });
  const stores = new Counter({
    name: 'cvo_verifier_signature_store_requests_total',
    help: 'Signature store reads: signatures read, errors by kind, and how each read ended.',
    labelNames: ['store', 'outcome'],
    registers: [registry],
  });
  const admission = new Counter({
    name: 'cvo_verifier_admission_reviews_total',
    help: 'ClusterVersion admission reviews by decision and reason.',
    labelNames: ['decision', 'reason'],
    registers: [registry],
  });
  const admissionDuration = new Histogram({
    name: 'cvo_verifier_admission_review_duration_seconds',
    help: 'Time to answer an admission review.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 10],
    registers: [registry],
  });
  const payloads = new Counter({
    name: 'cvo_verifier_payload_verifications_total',
    help: 'Whole-payload verifications by result (verified, failed, unreadable).',
    labelNames: ['result'],
    registers: [registry],
  });
  const payloadDuration = new Histogram({
    name: 'cvo_verifier_payload_verification_duration_seconds',
    help: 'Time to read a release payload and verify its component images.',
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [registry],
  });
  const payloadComponents = new Gauge({
    name: 'cvo_verifier_payload_components',
    help: 'Component images of the last payload verified, by status.',
    labelNames: ['status'],
    registers: [registry],
  });
  new Gauge({
    name: 'cvo_verifier_leader',
    help: '1 when this replica leads and reconciles, else 0.',
    registers: [registry],
    collect() {
      this.set(sources.isLeader() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'cvo_verifier_reconcile_queue_depth',
    help: 'ClusterVersion reconciles queued or running.',
    registers: [registry],
    collect() {
      this.set(sources.reconcileQueueDepth());
    },
  });
  new Gauge({
    name: 'cvo_verifier_recheck_queue_depth',
    help: 'Unverified releases waiting for a background re-check.',
    registers: [registry],
    collect() {
      this.set(sources.rechecks().length);
    },
  });
  new Gauge({
    name: 'cvo_verifier_recheck_next_attempt_timestamp_seconds',
    help: 'When the next background re-check runs (Unix seconds); 0 when none is pending.',
    registers: [registry],
    collect() {
      const next = sources
        .rechecks()
        .reduce((min, r) => Math.min(min, r.nextAt.getTime()), Number.POSITIVE_INFINITY);
      this.set(Number.isFinite(next) ? next / 1000 : 0);
    },
  });
  // Store labels are the stores' redacted descriptions, from cluster configuration only; past
  // MAX_STORE_LABELS distinct ones they share `other`, so label series stay bounded whatever the
  // configuration churns through.
  const storeLabels = new Set<string>();
  const storeLabel = (description: string): string => {
    if (storeLabels.has(description)) return description;
    if (storeLabels.size >= MAX_STORE_LABELS) return OTHER_STORE_LABEL;
    storeLabels.add(description);
    return description;
  };
  return {
    registry,
    recordVerification(kind, result, reason, seconds, cached) {
      verifications.inc({ kind, result, reason });
      duration.observe({ kind, result }, seconds);
      cache.inc({ result: cached ? 'hit' : 'miss' });
    },
    recordStores(reports) {
      for (const r of reports) {
        const store = storeLabel(r.store);
        if (r.signaturesRead > 0) stores.inc({ store, outcome: 'signature' }, r.signaturesRead);
        // Errors count by their bounded label (the kind of failure), never by code or text.
        for (const e of r.errors) stores.inc({ store, outcome: toErrorLabel(e.code) });
        if (r.end !== undefined) stores.inc({ store, outcome: `end_${r.end.reason}` });
      }
    },
    recordAdmission(decision, reason, seconds) {
      admission.inc({ decision, reason });
      admissionDuration.observe(seconds);
    },
    recordPayload(outcome) {
      const { summary } = outcome;
      payloads.inc({
        result: outcome.verified ? 'verified' : summary === undefined ? 'unreadable' : 'failed',
      });
      payloadDuration.observe(outcome.durationMs / 1000);
      if (summary !== undefined) {
        payloadComponents.set({ status: 'verified' }, summary.verified);
        payloadComponents.set({ status: 'unsigned' }, summary.unsigned);
        payloadComponents.set({ status: 'invalid' }, summary.invalid);
        payloadComponents.set({ status: 'error' }, summary.errors);
        payloadComponents.set({ status: 'not_covered' }, summary.notCovered);
      }
    },
  };
}
