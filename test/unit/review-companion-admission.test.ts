import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { reviewClusterVersion } from '../../src/http/admission.js';
import type { AdmissionOptions, AdmissionReview } from '../../src/http/admission.js';
import { Semaphore } from '../../src/registry/semaphore.js';
import type { ClusterVersion } from '../../src/kube/types.js';

// Companion mode: the CVO applies whatever the admin's edit asks for, so the webhook is the only
// gate this service has. It must fail closed where gate mode may leave a case to the controller.

const DIGEST = `quay.io/ocp/release@sha256:${'b'.repeat(64)}`;

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

function review(object: unknown): AdmissionReview {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '0f8e7c1a-1b2c-4d5e-8f90-123456789abc',
      kind: { group: 'config.openshift.io', version: 'v1', kind: 'ClusterVersion' },
      operation: 'UPDATE',
      object,
      oldObject: cv(),
    },
  };
}

describe('review: companion-mode webhook fails closed', () => {
  it('an unforced edit with acceptRisks is verified (the CVO applies it when its gate is on)', async () => {
    let asked = 0;
    const options: AdmissionOptions = {
      mode: 'enforce',
      budgetMs: 200,
      companion: true,
      verify: () => {
        asked++;
        return Promise.resolve({ verified: false, message: 'no signature' });
      },
    };
    const decision = await reviewClusterVersion(
      review(cv({ image: DIGEST, version: '4.17.0', acceptRisks: [{ name: 'SomeRisk' }] })),
      options,
    );
    assert.equal(asked, 1);
    assert.equal(decision.response.allowed, false);
  });

  it('an unforced edit that finds every permit held is denied, not allowed as in gate mode', async () => {
    const limiter = new Semaphore(1);
    const hold = await limiter.acquire(new AbortController().signal);
    try {
      const decision = await reviewClusterVersion(review(cv({ image: DIGEST })), {
        mode: 'enforce',
        budgetMs: 50,
        companion: true,
        limiter,
        verify: () => Promise.resolve({ verified: false, message: 'no signature' }),
      });
      assert.equal(decision.response.allowed, false);
    } finally {
      hold();
    }
  });

  it('an unforced edit whose verification throws is denied (an error answer is admitted by failurePolicy Ignore)', async () => {
    const decision = await reviewClusterVersion(review(cv({ image: DIGEST })), {
      mode: 'enforce',
      budgetMs: 200,
      companion: true,
      verify: () => Promise.reject(new Error('get clusterversion version: 503 the server is busy')),
    });
    assert.equal(decision.response.allowed, false);
    assert.match(decision.response.status?.message ?? '', /503 the server is busy/);
  });
});
