import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseDuration } from '../../src/config/duration.js';
import { LruCache } from '../../src/verify/verdict-cache.js';

describe('parseDuration', () => {
  const ok: [string, number][] = [
    ['30s', 30_000],
    ['500ms', 500],
    ['2m', 120_000],
    ['1m30s', 90_000],
    ['1h', 3_600_000],
    ['1.5s', 1500],
  ];
  for (const [text, ms] of ok) it(`parses ${text}`, () => assert.equal(parseDuration(text), ms));
  for (const text of ['', '30', 's', '0s', '-1s', '1x', '1s ']) {
    it(`rejects ${JSON.stringify(text)}`, () =>
      assert.throws(() => parseDuration(text), RangeError));
  }
});

describe('LruCache', () => {
  it('evicts the least recently used entry beyond its bound', () => {
    const cache = new LruCache<number>(2);
    cache.set('a', 1);
    cache.set('b', 2);
    assert.equal(cache.get('a'), 1); // a is now the most recent
    cache.set('c', 3);
    assert.equal(cache.get('b'), undefined);
    assert.equal(cache.get('a'), 1);
    assert.equal(cache.get('c'), 3);
    assert.equal(cache.size, 2);
  });

  it('stores nothing with a bound of zero', () => {
    const cache = new LruCache<number>(0);
    cache.set('a', 1);
    assert.equal(cache.get('a'), undefined);
  });
});
