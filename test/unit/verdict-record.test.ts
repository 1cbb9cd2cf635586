import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { StatePublisher } from '../../src/controller/state-publisher.js';
import {
  MAX_RECORD_BYTES,
  MAX_RECORD_ENTRIES,
  mergeVerdict,
  parseVerdictRecord,
  RECORD_KEY,
  VerdictRecord,
} from '../../src/controller/verdict-record.js';
import type { RecordedVerdict } from '../../src/controller/verdict-record.js';
import { MemoryKube } from '../helpers/memory-kube.js';

const NAMESPACE = 'cvo-update-verifier';
const NAME = 'cvo-update-verifier-state';
const AT = '2026-01-01T00:00:00.000Z';

function verdict(image: string, extra: Partial<RecordedVerdict> = {}): RecordedVerdict {
  return {
    image,
    version: '4.17.0',
    verified: false,
    forced: true,
    acceptedRisk: 'Target release … cannot be verified, but continuing anyway',
    reason: 'NotSigned',
    message: 'unable to verify',
    firstCheckedAt: AT,
    checkedAt: AT,
    ...extra,
  };
}

describe('the companion’s verdict record', () => {
  it('keeps one entry per image, newest first, and the first time it was checked', () => {
    let list = mergeVerdict([], verdict('a'));
    list = mergeVerdict(list, verdict('b'));
    list = mergeVerdict(list, verdict('a', { verified: true, firstCheckedAt: 'later' }));
    assert.deepEqual(
      list.map((v) => [v.image, v.verified, v.firstCheckedAt]),
      [
        ['a', true, AT],
        ['b', false, AT],
      ],
    );
  });

  it(`is bounded: ${String(MAX_RECORD_ENTRIES)} entries, entries history still names kept first`, () => {
    let list: RecordedVerdict[] = [];
    for (let i = 0; i < MAX_RECORD_ENTRIES + 20; i++)
      list = mergeVerdict(list, verdict(`img${String(i)}`), new Set(['img0']));
    assert.equal(list.length, MAX_RECORD_ENTRIES);
    assert.ok(
      list.some((v) => v.image === 'img0'),
      'the oldest, still in history, is kept',
    );
    assert.ok(!list.some((v) => v.image === 'img1'));
  });

  it(`is bounded in bytes (${String(MAX_RECORD_BYTES)}): long messages are cut and old entries go`, () => {
    let list: RecordedVerdict[] = [];
    for (let i = 0; i < 90; i++)
      list = mergeVerdict(
        list,
        verdict(`img${String(i)}`, {
          message: 'x'.repeat(10_000),
          acceptedRisk: 'y'.repeat(10_000),
        }),
      );
    assert.ok(JSON.stringify(list).length < MAX_RECORD_BYTES);
    assert.ok((list[0]?.message.length ?? 0) <= 2048);
    assert.equal(list[0]?.image, 'img89');
  });

  it('shares the state ConfigMap with the published state: each writer keeps the other’s key', async () => {
    const kube = new MemoryKube();
    const record = new VerdictRecord(kube, NAMESPACE, NAME);
    const publisher = new StatePublisher(kube, NAMESPACE, NAME, 'replica-a');
    await publisher.publish([], new Date(AT));
    await record.record(verdict('a'), new Set(), new Date(AT));
    await publisher.publish([], new Date(AT));
    const cm = await kube.getConfigMap(NAMESPACE, NAME);
    assert.ok(cm?.data?.['state.json'] !== undefined);
    assert.deepEqual(
      parseVerdictRecord(cm)?.verdicts.map((v) => v.image),
      ['a'],
    );
    assert.deepEqual(
      (await record.read()).map((v) => v.image),
      ['a'],
    );
    assert.ok(cm.data[RECORD_KEY]?.includes('"mode": "companion"'));
  });
});
