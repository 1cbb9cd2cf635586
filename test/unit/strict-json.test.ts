import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseStrictJson, StrictJsonError } from '../../src/json/strict-json.js';

describe('parseStrictJson', () => {
  const valid: [string, unknown][] = [
    ['{}', {}],
    [
      '{"a":1,"b":[true,false,null],"c":{"d":"e\\u0041"}}',
      { a: 1, b: [true, false, null], c: { d: 'eA' } },
    ],
    ['  [1, -2.5e3, "x"]  ', [1, -2500, 'x']],
    ['"\\"quoted\\""', '"quoted"'],
  ];
  for (const [text, expected] of valid) {
    it(`parses ${text}`, () => {
      assert.deepEqual(JSON.parse(JSON.stringify(parseStrictJson(text))), expected);
    });
  }

  const invalid: [string, RegExp][] = [
    ['{"a":1,"a":2}', /duplicate key "a"/],
    ['{"critical":{"type":"x","type":"y"}}', /duplicate key "type"/],
    ['{"a":1} x', /unexpected data/],
    ['{"a":01}', /unexpected data|expected/],
    ["{'a':1}", /expected a string key/],
    ['{"a":"\u0001"}', /control character/],
    ['[1,]', /unexpected character/],
    ['{"a":1,}', /expected a string key/],
    ['"unterminated', /unterminated string/],
    ['{"a":NaN}', /unexpected character/],
    [
      '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]',
      /nesting too deep/,
    ],
  ];
  for (const [text, message] of invalid) {
    it(`rejects ${text.slice(0, 40)}`, () => {
      assert.throws(
        () => parseStrictJson(text),
        (err: unknown) => err instanceof StrictJsonError && message.test(err.message),
      );
    });
  }

  it('rejects documents over the size limit', () => {
    assert.throws(
      () => parseStrictJson(`"${'a'.repeat(100)}"`, { maxLength: 50 }),
      /longer than 50/,
    );
  });

  it('does not let __proto__ keys reach the prototype', () => {
    const value = parseStrictJson('{"__proto__":{"polluted":true}}') as Record<string, unknown>;
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.deepEqual(Object.keys(value), ['__proto__']);
  });
});
