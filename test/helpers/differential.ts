import assert from 'node:assert/strict';

import { allowedDifference } from '../interop/allowed-differences.js';
import type { AllowedDifference } from '../interop/allowed-differences.js';

/** One corpus case's verdicts, ours and the reference's. */
export interface Outcome {
  readonly id: string;
  readonly kind: string;
  readonly ours: boolean;
  readonly theirs: boolean;
  /** What each side said, for the failure message. */
  readonly oursDetail: string;
  readonly theirsDetail: string;
}

/**
 * Compares verdicts: prints cases run, agreements and allowed disagreements (with reasons), and
 * fails listing every disagreement the allow-list does not cover.
 */
export function judge(
  reference: AllowedDifference['reference'],
  outcomes: readonly Outcome[],
  log: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): void {
  assert.ok(outcomes.length > 0, 'the corpus is empty');
  let agreements = 0;
  let bothVerified = 0;
  const allowed = new Map<string, { entry: AllowedDifference; count: number }>();
  const failures: string[] = [];
  const verbose = process.env.DIFF_VERBOSE !== undefined;
  for (const o of outcomes) {
    if (verbose)
      log(`  ${o.id} ${o.kind}: ours=${String(o.ours)} ${reference}=${String(o.theirs)}`);
    if (o.ours === o.theirs) {
      agreements++;
      if (o.ours) bothVerified++;
      continue;
    }
    const entry = allowedDifference(o.kind, reference, o.ours, o.theirs);
    if (entry !== undefined) {
      const seen = allowed.get(entry.kind) ?? { entry, count: 0 };
      seen.count++;
      allowed.set(entry.kind, seen);
      continue;
    }
    failures.push(
      `${o.id} [${o.kind}]: ours=${String(o.ours)} (${o.oursDetail.slice(0, 300)}) ${reference}=${String(o.theirs)} (${o.theirsDetail.slice(0, 300)})`,
    );
  }
  const allowedCount = [...allowed.values()].reduce((n, a) => n + a.count, 0);
  log(
    `differential vs ${reference}: ${outcomes.length} cases, ${agreements} agreements (${bothVerified} verified by both, ${agreements - bothVerified} refused by both), ${allowedCount} allowed disagreements, ${failures.length} disagreements`,
  );
  // A corpus where one side always says the same would agree trivially.
  assert.ok(
    bothVerified > 0 && bothVerified < agreements,
    'the corpus must hold cases both sides verify and cases both refuse',
  );
  for (const { entry, count } of allowed.values())
    log(`  allowed ${entry.kind} ×${count}: ${entry.reason}`);
  assert.deepEqual(failures, [], `disagreements with ${reference}:\n${failures.join('\n')}`);
}

/** A small seeded PRNG (mulberry32): a run is repeated with the seed it prints. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The run's seed: DIFF_SEED when set, else a fresh one (printed by the caller). A DIFF_SEED that
 * is not one integer (e.g. a list) is refused rather than silently replaced by a random seed.
 */
export function diffSeed(env: NodeJS.ProcessEnv = process.env): number {
  const fixed = env.DIFF_SEED;
  if (fixed === undefined || fixed === '') return Math.floor(Math.random() * 2 ** 31);
  if (!/^\d+$/.test(fixed))
    throw new Error(`DIFF_SEED must be one non-negative integer (got ${JSON.stringify(fixed)})`);
  return Number(fixed);
}
