import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  createMetrics,
  MAX_STORE_LABELS,
  OTHER_STORE_LABEL,
} from '../../src/observability/metrics.js';

describe('service metrics', () => {
  it('keeps the store label bounded: past the cap every new store counts as other', async () => {
    const metrics = createMetrics({
      isLeader: () => false,
      reconcileQueueDepth: () => 0,
      rechecks: () => [],
    });
    for (let i = 0; i < MAX_STORE_LABELS + 50; i++) {
      metrics.recordStores([
        {
          store: `https://store-${i}.example.com/sigs`,
          signaturesRead: 1,
          errors: [],
          end: { reason: 'not-found', detail: '' },
        },
      ]);
    }
    const text = await metrics.registry.metrics();
    const series = text
      .split('\n')
      .filter((line) => line.startsWith('cvo_verifier_signature_store_requests_total{'));
    const stores = new Set(series.map((line) => /store="([^"]*)"/.exec(line)?.[1]));
    assert.equal(stores.size, MAX_STORE_LABELS + 1);
    assert.ok(stores.has(OTHER_STORE_LABEL));
    assert.ok(!text.includes(`store-${MAX_STORE_LABELS + 10}.example.com`));
  });
});
