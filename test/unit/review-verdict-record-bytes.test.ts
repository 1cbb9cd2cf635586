import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  MAX_RECORD_BYTES,
  RECORD_KEY,
  VerdictRecord,
} from '../../src/controller/verdict-record.js';
import { MemoryKube } from '../helpers/memory-kube.js';

// The record's cap is documented in bytes (256 KiB, so that it and the published state fit a
// ConfigMap's 1 MiB). Messages quote what registries and stores answered: not only ASCII.

describe('review: the verdict record is bounded in bytes, as written', () => {
  it('multi-byte messages do not take the written record past MAX_RECORD_BYTES', async () => {
    const kube = new MemoryKube();
    const record = new VerdictRecord(kube, 'ns', 'state');
    const at = new Date('2026-01-01T00:00:00.000Z');
    for (let i = 0; i < 100; i++)
      await record.record(
        {
          image: `quay.io/x/release@sha256:${String(i).padStart(64, '0')}`,
          version: '4.17.0',
          verified: false,
          forced: true,
          acceptedRisk: '€'.repeat(3000),
          reason: 'NotSigned',
          message: 'é'.repeat(3000),
          payload: {
            verified: false,
            reason: 'PayloadVerificationFailed',
            message: '✗'.repeat(3000),
          },
          firstCheckedAt: at.toISOString(),
          checkedAt: at.toISOString(),
        },
        new Set(),
        at,
      );
    const text = (await kube.getConfigMap('ns', 'state'))?.data?.[RECORD_KEY] ?? '';
    assert.ok(
      Buffer.byteLength(text) <= MAX_RECORD_BYTES,
      `${String(Buffer.byteLength(text))} bytes written`,
    );
  });
});
