// oc adm upgrade recommend's texts, text for text. Every expected text below is oc's source text
// (github.com/openshift/oc at 6b8e30c5b39aa742147846341a203905e04834f3, 2026-04-22, read from its
// repository), with the line of pkg/cli/admin/upgrade/recommend/recommend.go it comes from and the
// call oc writes it with (fmt.Fprintf(o.Out) is stdout, fmt.Fprintf(o.ErrOut) stderr; an error
// of Complete or Run is printed by kcmdutil.CheckErr as `error: …` on stderr, exit 1).
//
// With an openshift/oc checkout at that commit, `OC_SOURCE_DIR=… npm run interop:oc` also looks
// each text up at its line there and compares recommend's output for every ClusterVersion of oc's
// own examples with oc's recorded output (test/interop/oc-recommend-source.optional.ts). Nothing
// of oc's is kept in this repository.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { OC_RECOMMEND_TEXTS } from '../../src/cli/recommend.js';
import { OC } from '../helpers/oc-recommend-texts.js';
import type { OcText } from '../helpers/oc-recommend-texts.js';

/** Texts we print differently from oc on purpose, and how. */
const DIFFERENCES: Readonly<Partial<Record<keyof typeof OC_RECOMMEND_TEXTS, string>>> = {
  cannotParseUpdate: 'a newline added',
};

describe("recommend's texts are oc adm upgrade recommend's", () => {
  for (const [name, oc] of Object.entries(OC) as [keyof typeof OC_RECOMMEND_TEXTS, OcText][]) {
    it(`${name} (recommend.go:${String(oc.line)}, ${oc.how})`, () => {
      const ours = OC_RECOMMEND_TEXTS[name];
      if (DIFFERENCES[name] === 'a newline added') assert.equal(ours, `${oc.text}\n`);
      else assert.equal(ours, oc.text);
    });
  }
  it('every text is cited', () => {
    assert.deepEqual(Object.keys(OC).sort(), Object.keys(OC_RECOMMEND_TEXTS).sort());
  });
});
