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

  it('counts store errors by their bounded label, never by code or message', async () => {
    const metrics = createMetrics({
      isLeader: () => false,
      reconcileQueueDepth: () => 0,
      rechecks: () => [],
    });
    metrics.recordStores([
      {
        store: 'https://store.example.com/sigs',
        signaturesRead: 0,
        errors: [
          { location: 'a', code: 'STORE_TIMEOUT', message: 'no answer in 10s' },
          { location: 'b', code: 'STORE_ERROR', message: 'response status 500' },
          { location: 'c', code: 'STORE_ERROR', message: 'connection reset' },
        ],
      },
    ]);
    const text = await metrics.registry.metrics();
    const count = (outcome: string): string | undefined =>
      new RegExp(
        `cvo_verifier_signature_store_requests_total\\{store="https://store\\.example\\.com/sigs",outcome="${outcome}"\\} (\\d+)`,
      ).exec(text)?.[1];
    assert.equal(count('timeout'), '1');
    assert.equal(count('unavailable'), '2');
    assert.ok(!text.includes('STORE_'), text);
  });
});
