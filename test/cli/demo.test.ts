import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { runGpgDemo } from '../../walkthrough/gpg-demo.js';

describe('cvo-verifier demo (the main job without a cluster)', () => {
  it('walks through by-tag, signed, unsigned and newly published releases with the expected answers', async () => {
    let out = '';
    const ok = await runGpgDemo({ stdout: (t) => (out += t) });
    assert.equal(ok, true, out);
    const results = [...out.matchAll(/^Result: {2}(.*)$/gm)].map((m) => m[1]);
    assert.deepEqual(results, ['NOT VERIFIED', 'VERIFIED', 'NOT VERIFIED', 'VERIFIED']);
    assert.match(out, /release images that are not accessed via digest cannot be verified/);
    assert.match(
      out,
      /unable to verify sha256:[0-9a-f]{64} against keyrings: verifier-public-key-demo/,
    );
  });
});
