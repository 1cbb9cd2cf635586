import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parsePublishedUpdates, UPDATES_KEY } from '../../src/controller/update-preverifier.js';
import type { ConfigMap } from '../../src/kube/types.js';

// recommend reads this ConfigMap with every run: an entry that is not a verdict is dropped (that
// update is then checked by the command itself), never a TypeError that ends the command.

function cm(value: unknown): ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'cvo-update-verifier-updates', namespace: 'cvo-update-verifier' },
    data: { [UPDATES_KEY]: JSON.stringify(value) },
  };
}

describe('review: published update verdicts that are not verdicts', () => {
  it('drops malformed entries and keeps the rest', () => {
    const good = {
      image: 'quay.io/x/release@sha256:' + 'a'.repeat(64),
      version: '4.17.1',
      verdict: { result: 'verified', summary: 's', checkedAt: '2026-01-01T00:00:00.000Z' },
    };
    const parsed = parsePublishedUpdates(
      cm({
        updatedAt: 'x',
        identity: 'i',
        intervalMs: 600_000,
        verdicts: [null, { image: 'y' }, { image: 'z', verdict: { result: 'maybe' } }, good],
      }),
    );
    assert.deepEqual(parsed?.verdicts, [good]);
  });

  it('a document that is not an object is no published state', () => {
    assert.equal(parsePublishedUpdates(cm(null)), undefined);
  });
});
