/**
 * The API server's warnings (admission webhooks, deprecated APIs) as the client reports them:
 * `Warning` headers with code 299, RFC 7234 quoted strings, bounded, control characters replaced.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseWarnings } from '../../src/kube/client.js';

describe('parseWarnings', () => {
  it('reads the 299 warnings of one or several headers, unescaping quoted strings', () => {
    assert.deepEqual(parseWarnings(undefined), []);
    assert.deepEqual(parseWarnings('299 - "Target release cannot be verified"'), [
      'Target release cannot be verified',
    ]);
    assert.deepEqual(
      parseWarnings(['299 - "a \\"quoted\\" word"', '299 kube-apiserver "second"']),
      ['a "quoted" word', 'second'],
    );
    assert.deepEqual(parseWarnings('299 - "one", 299 - "two"'), ['one', 'two']);
    assert.deepEqual(parseWarnings('299 - "dated" "Tue, 15 Nov 1994 08:12:31 GMT"'), ['dated']);
  });

  it('ignores other codes and what is not a warning value', () => {
    assert.deepEqual(parseWarnings('199 - "miscellaneous"'), []);
    assert.deepEqual(parseWarnings('not a warning'), []);
    assert.deepEqual(parseWarnings('299 - unquoted'), []);
    assert.deepEqual(parseWarnings('299 - ""'), []);
  });

  it('replaces control characters, so a webhook cannot drive the terminal, and bounds the text', () => {
    assert.deepEqual(parseWarnings('299 - "red\u001b[31m text\u0007"'), [
      'red\ufffd[31m text\ufffd',
    ]);
    const long = 'x'.repeat(10_000);
    assert.equal(parseWarnings(`299 - "${long}"`)[0]?.length, 4096);
    const many = Array.from({ length: 40 }, (_, i) => `299 - "w${String(i)}"`);
    assert.equal(parseWarnings(many).length, 16);
  });
});
