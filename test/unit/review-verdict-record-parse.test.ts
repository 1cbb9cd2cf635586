import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  parseVerdictRecord,
  RECORD_KEY,
  VerdictRecord,
} from '../../src/controller/verdict-record.js';
import type { ConfigMap } from '../../src/kube/types.js';
import { MemoryKube } from '../helpers/memory-kube.js';

// The record lives in a ConfigMap others can edit by hand (or a bad restore can mangle). An entry
// that is not a verdict is dropped as unreadable, as a record that is not JSON is: it must not stop
// every later reconcile (each reads and merges the record) with a TypeError.

function cm(text: string): ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'state', namespace: 'ns' },
    data: { [RECORD_KEY]: text },
  };
}

const GOOD = {
  image: 'quay.io/x/release@sha256:' + 'a'.repeat(64),
  version: '4.17.0',
  verified: false,
  forced: true,
  reason: 'NotSigned',
  message: 'm',
  firstCheckedAt: '2026-01-01T00:00:00.000Z',
  checkedAt: '2026-01-01T00:00:00.000Z',
};

describe('review: a record with entries that are not verdicts', () => {
  it('keeps the readable entries and drops the others', () => {
    const parsed = parseVerdictRecord(
      cm(
        JSON.stringify({
          mode: 'companion',
          updatedAt: 'x',
          verdicts: [null, 3, { image: 7 }, GOOD],
        }),
      ),
    );
    assert.deepEqual(parsed?.verdicts, [GOOD]);
  });

  it('can still be written to', async () => {
    const kube = new MemoryKube();
    await kube.createConfigMap('ns', cm(JSON.stringify({ verdicts: [null, GOOD] })));
    const record = new VerdictRecord(kube, 'ns', 'state');
    const at = new Date('2026-01-02T00:00:00.000Z');
    const list = await record.record(
      { ...GOOD, image: 'quay.io/x/release@sha256:' + 'b'.repeat(64) },
      new Set(),
      at,
    );
    assert.equal(list.length, 2);
  });
});
