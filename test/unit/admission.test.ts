import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { reviewClusterVersion } from '../../src/http/admission.js';
import { loggable } from '../../src/http/app.js';
import { Semaphore } from '../../src/registry/semaphore.js';
import type { AdmissionOptions, AdmissionReview } from '../../src/http/admission.js';
import { BY_TAG_FORCED_WARNING, BY_TAG_REFUSED } from '../../src/image/oc-messages.js';
import type { ClusterVersion } from '../../src/kube/types.js';

const DIGEST = `quay.io/ocp/release@sha256:${'a'.repeat(64)}`;
const TAG = 'quay.io/ocp/release:4.17.0';

function cv(desiredUpdate?: ClusterVersion['spec']['desiredUpdate']): ClusterVersion {
  return {
    apiVersion: 'config.openshift.io/v1',
    kind: 'ClusterVersion',
    metadata: { name: 'version' },
    spec: { clusterID: 'x', ...(desiredUpdate ? { desiredUpdate } : {}) },
    status: {
      desired: { version: '4.16.0', image: 'x' },
      observedGeneration: 1,
      versionHash: 'h',
      availableUpdates: [{ version: '4.17.0', image: DIGEST }],
    },
  };
}

function review(object: unknown, oldObject: unknown = cv(), operation = 'UPDATE'): AdmissionReview {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'u1',
      kind: { group: 'config.openshift.io', version: 'v1', kind: 'ClusterVersion' },
      operation,
      object,
      oldObject,
    },
  };
}

const off: AdmissionOptions = { mode: 'off', budgetMs: 1000 };
const enforce = (verified: boolean, delayMs = 0): AdmissionOptions => ({
  mode: 'enforce',
  budgetMs: 100,
  verify: async () => {
    await new Promise((r) => setTimeout(r, delayMs));
    return { verified, message: 'unable to verify sha256:… against keyrings: k' };
  },
});

/** Companion mode: the webhook is the gate, with a payload verdict beside the signature's. */
const companion = (
  verified: boolean,
  payload?: { mode: 'warn' | 'enforce'; verified: boolean },
  delayMs = 0,
): AdmissionOptions => ({
  mode: 'enforce',
  budgetMs: 100,
  companion: true,
  verify: async () => {
    await new Promise((r) => setTimeout(r, delayMs));
    return {
      verified,
      message: 'unable to verify sha256:… against keyrings: k',
      ...(payload !== undefined
        ? { payload: { ...payload, message: '1 of 40 component images … etcd (unsigned)' } }
        : {}),
    };
  },
});

describe('reviewClusterVersion in companion mode', () => {
  const cases: [string, AdmissionReview, AdmissionOptions, boolean, string, RegExp?][] = [
    [
      'payload failing (enforce), unforced',
      review(cv({ image: DIGEST })),
      companion(true, { mode: 'enforce', verified: false }),
      false,
      'payload-unverified',
      /^Payload verification failed version="" image=".*": 1 of 40 .*etcd \(unsigned\); set force to accept the risk$/,
    ],
    [
      'payload failing (warn), unforced',
      review(cv({ image: DIGEST })),
      companion(true, { mode: 'warn', verified: false }),
      true,
      'payload-warn',
    ],
    [
      'payload verified',
      review(cv({ image: DIGEST })),
      companion(true, { mode: 'enforce', verified: true }),
      true,
      'verified',
    ],
    ['unverified, unforced', review(cv({ image: DIGEST })), companion(false), false, 'unverified'],
    [
      'unverified, forced',
      review(cv({ image: DIGEST, version: '4.17.0', force: true })),
      companion(false),
      true,
      'forced',
    ],
    [
      'verified, forced',
      review(cv({ image: DIGEST, force: true })),
      companion(true, { mode: 'enforce', verified: true }),
      true,
      'forced-verified',
    ],
    [
      'forced, verification past the budget',
      review(cv({ image: DIGEST, force: true })),
      companion(false, undefined, 300),
      true,
      'forced-unchecked',
    ],
  ];
  for (const [name, input, options, allowed, reason, message] of cases) {
    it(`${allowed ? 'allows' : 'denies'}: ${name}`, async () => {
      const decision = await reviewClusterVersion(input, options);
      assert.equal(decision.response.allowed, allowed);
      assert.equal(decision.reason, reason);
      if (message) assert.match(decision.response.status?.message ?? '', message);
    });
  }

  it('warns a forced, unverifiable edit with the CVO’s accepted-risk words, the payload risk after', async () => {
    const decision = await reviewClusterVersion(
      review(cv({ image: DIGEST, version: '4.17.0', force: true })),
      companion(false, { mode: 'enforce', verified: false }),
    );
    assert.deepEqual(decision.response.warnings, [
      `Target release version="4.17.0" image="${DIGEST}" cannot be verified, but continuing anyway because the update was forced: unable to verify sha256:… against keyrings: k`,
      `Payload verification failed for version="4.17.0" image="${DIGEST}", but continuing anyway because the update was forced: 1 of 40 component images … etcd (unsigned)`,
    ]);
  });

  it('gate mode keeps its behaviour: a payload verdict is not judged and forced edits are not verified', async () => {
    const gate = { ...companion(true, { mode: 'enforce', verified: false }), companion: false };
    assert.equal(
      (await reviewClusterVersion(review(cv({ image: DIGEST })), gate)).reason,
      'verified',
    );
    let called = false;
    const forced = await reviewClusterVersion(review(cv({ image: DIGEST, force: true })), {
      ...gate,
      verify: () => {
        called = true;
        return Promise.resolve({ verified: false, message: '' });
      },
    });
    assert.equal(forced.reason, 'allowed');
    assert.equal(called, false);
  });
});

describe('reviewClusterVersion', () => {
  const cases: [string, AdmissionReview, AdmissionOptions, boolean, string, RegExp?][] = [
    [
      'by-tag without force',
      review(cv({ image: TAG })),
      off,
      false,
      'by-tag',
      new RegExp(BY_TAG_REFUSED.slice(0, 60).replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')),
    ],
    ['by-tag with force', review(cv({ image: TAG, force: true })), off, true, 'by-tag-forced'],
    ['by-digest, mode off', review(cv({ image: DIGEST })), off, true, 'allowed'],
    [
      'unchanged desiredUpdate (a by-tag left from before)',
      review(cv({ image: TAG }), cv({ image: TAG })),
      off,
      true,
      'desired-update-unchanged',
    ],
    ['no desiredUpdate', review(cv()), off, true, 'no-desired-update'],
    [
      'CREATE is not judged',
      review(cv({ image: TAG }), undefined, 'CREATE'),
      off,
      true,
      'not-applicable',
    ],
    ['enforce: verified', review(cv({ image: DIGEST })), enforce(true), true, 'verified'],
    [
      'enforce: unverified',
      review(cv({ image: DIGEST })),
      enforce(false),
      false,
      'unverified',
      /^The update cannot be verified: unable to verify/,
    ],
    [
      'enforce: unverified but forced',
      review(cv({ image: DIGEST, force: true })),
      enforce(false),
      true,
      'allowed',
    ],
    [
      'enforce: version resolved from availableUpdates',
      review(cv({ version: '4.17.0' })),
      enforce(false),
      false,
      'unverified',
    ],
    [
      'enforce: verification past the budget',
      review(cv({ image: DIGEST })),
      enforce(true, 300),
      false,
      'verification-timeout',
      /did not finish within 100 ms/,
    ],
    ['not a ClusterVersion object', review({ kind: 'Pod' }), off, false, 'malformed'],
  ];
  for (const [name, input, options, allowed, reason, message] of cases) {
    it(`${allowed ? 'allows' : 'denies'}: ${name}`, async () => {
      const decision = await reviewClusterVersion(input, options);
      assert.equal(decision.response.allowed, allowed);
      assert.equal(decision.reason, reason);
      assert.equal(decision.response.uid, 'u1');
      if (message) assert.match(decision.response.status?.message ?? '', message);
    });
  }

  it('warns with oc’s text when a by-tag target is forced', async () => {
    const decision = await reviewClusterVersion(review(cv({ image: TAG, force: true })), off);
    assert.deepEqual(decision.response.warnings, [BY_TAG_FORCED_WARNING]);
  });

  it('denies with oc’s full refusal text', async () => {
    const decision = await reviewClusterVersion(review(cv({ image: TAG })), off);
    assert.equal(decision.response.status?.message, BY_TAG_REFUSED);
    assert.equal(decision.response.status?.code, 403);
  });

  it('denies a review whose uid is not a plain bounded identifier, echoing nothing back', async () => {
    const base = review(cv({ image: TAG }));
    for (const uid of ['x'.repeat(200), 'a\nb', 'system:admin changed', '']) {
      const decision = await reviewClusterVersion(
        { ...base, request: { ...base.request!, uid } },
        off,
      );
      assert.equal(decision.response.allowed, false);
      assert.equal(decision.response.uid, '');
    }
  });

  it('denies a review without a uid', async () => {
    const decision = await reviewClusterVersion(
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' },
      off,
    );
    assert.equal(decision.response.allowed, false);
  });

  it('hands verify the target image alone, never the posted stores', async () => {
    const seen: unknown[][] = [];
    const posted = cv({ image: DIGEST });
    (posted.spec as Record<string, unknown>).signatureStores = [
      { url: 'http://10.0.0.1/probe?x=' },
    ];
    await reviewClusterVersion(review(posted), {
      mode: 'enforce',
      budgetMs: 1000,
      verify: (...args: unknown[]) => {
        seen.push(args);
        return Promise.resolve({ verified: true, message: '' });
      },
    });
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.[0], DIGEST);
    assert.ok(seen[0]?.[1] instanceof AbortSignal);
    assert.doesNotMatch(JSON.stringify(seen), /10\.0\.0\.1/);
  });

  it('bounds verifications in flight: one that ran out of budget is denied, one that never got a permit is left to the controller', async () => {
    let inFlight = 0;
    let peak = 0;
    const limiter = new Semaphore(2);
    const options: AdmissionOptions = {
      mode: 'enforce',
      budgetMs: 150,
      limiter,
      verify: async () => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((r) => setTimeout(r, 100));
        inFlight--;
        return { verified: true, message: '' };
      },
    };
    const decisions = await Promise.all(
      Array.from({ length: 6 }, () => reviewClusterVersion(review(cv({ image: DIGEST })), options)),
    );
    assert.equal(peak, 2);
    const saturated = decisions.filter((d) => d.reason === 'saturated');
    assert.ok(saturated.every((d) => d.response.allowed && d.response.warnings?.length === 1));
    assert.deepEqual(decisions.map((d) => d.reason).sort(), [
      'saturated',
      'saturated',
      'verification-timeout',
      'verification-timeout',
      'verified',
      'verified',
    ]);
  });
});

describe('loggable', () => {
  it('logs caller-supplied fields as bounded plain strings', () => {
    assert.equal(loggable('system:serviceaccount:x'), 'system:serviceaccount:x');
    assert.equal(loggable({ nested: 'object' }), '(not a string)');
    assert.equal(loggable('a\nforged line\u001b[31m'), 'a?forged line?[31m');
    assert.equal(loggable('x'.repeat(5000)).length, 129);
  });
});

describe('reviewClusterVersion hands the verifier what the edit forces', () => {
  for (const force of [false, true]) {
    it(`passes force=${String(force)} for an edit with force ${String(force)}, whatever the stored object says`, async () => {
      const seen: boolean[] = [];
      const options: AdmissionOptions = {
        mode: 'enforce',
        budgetMs: 1000,
        companion: true,
        verify: (_image, _signal, forced) => {
          seen.push(forced);
          return Promise.resolve({ verified: true, message: 'verified' });
        },
      };
      // The stored object says the opposite of the edit.
      const stored = cv({ version: '4.16.9', image: DIGEST.replace('a', 'b'), force: !force });
      const decision = await reviewClusterVersion(
        review(cv({ version: '4.17.0', image: DIGEST, force }), stored),
        options,
      );
      assert.equal(decision.response.allowed, true);
      assert.deepEqual(seen, [force]);
    });
  }
});
