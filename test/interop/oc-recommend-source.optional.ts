/**
 * Optional (`OC_SOURCE_DIR=/path/to/oc npm run interop:oc`; `./scripts/test.sh` does not run it:
 * oc is not in this repository and the Go module proxy does not serve it): recommend's texts
 * looked up at the lines of oc's recommend.go that test/cli/oc-recommend-texts.test.ts cites, and
 * recommend's output for every ClusterVersion of oc's own examples
 * (pkg/cli/admin/upgrade/recommend/examples) compared with oc's recorded output, VERIFY column
 * and oc's alert pre-checks aside. Fails, never skips, without the checkout.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { load } from 'js-yaml';

import { planRecommend, renderRecommend } from '../../src/cli/recommend.js';
import type { RecommendOptions } from '../../src/cli/recommend.js';
import type { ClusterVersion } from '../../src/kube/types.js';
import { OC } from '../helpers/oc-recommend-texts.js';

const OC_SOURCE_DIR = process.env.OC_SOURCE_DIR;
const RECOMMEND_DIR = 'pkg/cli/admin/upgrade/recommend';

/** The checkout's recommend folder; fails (never skips) naming what is missing. */
function recommendDir(): string {
  assert.ok(
    OC_SOURCE_DIR !== undefined && OC_SOURCE_DIR !== '',
    'OC_SOURCE_DIR is not set: name an openshift/oc checkout at 6b8e30c5b39a (npm run interop:oc)',
  );
  const dir = join(OC_SOURCE_DIR, RECOMMEND_DIR);
  assert.ok(
    existsSync(join(dir, 'recommend.go')),
    `no ${RECOMMEND_DIR}/recommend.go under OC_SOURCE_DIR`,
  );
  return dir;
}

describe('recommend against the oc checkout OC_SOURCE_DIR names', () => {
  it('holds each text at the line cited', () => {
    const dir = recommendDir();
    const lines = readFileSync(join(dir, 'recommend.go'), 'utf8').split('\n');
    for (const [name, oc] of Object.entries(OC)) {
      // Go's double-quoted literal of these ASCII texts is JSON's.
      assert.ok(
        (lines[oc.line - 1] ?? '').includes(JSON.stringify(oc.text)),
        `${name}: recommend.go:${String(oc.line)} is ${JSON.stringify(lines[oc.line - 1])}`,
      );
    }
  });

  it("prints oc's recorded output for every example ClusterVersion", () => {
    const dir = recommendDir();
    const examples = join(dir, 'examples');
    let compared = 0;
    for (const file of readdirSync(examples).filter((f) => f.endsWith('-cv.yaml'))) {
      const base = file.slice(0, -'-cv.yaml'.length);
      const doc = load(readFileSync(join(examples, file), 'utf8')) as {
        items?: ClusterVersion[];
      } & ClusterVersion;
      // oc's mock loader takes a List's first item.
      const cv = doc.items?.[0] ?? doc;
      const variants: [string, Partial<RecommendOptions>][] = [
        ['.output', {}],
        ['.show-outdated-releases-output', { showOutdatedReleases: true }],
        ...readdirSync(examples)
          .filter((f) => f.startsWith(`${base}.version-`))
          .map((f): [string, Partial<RecommendOptions>] => [
            f.slice(base.length),
            { version: f.slice(`${base}.version-`.length, -'-output'.length) },
          ]),
      ];
      for (const [suffix, partial] of variants) {
        const options: RecommendOptions = {
          showOutdatedReleases: false,
          quiet: false,
          accept: [],
          ...partial,
        };
        const rendered = renderRecommend(planRecommend(cv, options), options, () => ({
          result: 'verified',
          summary: '',
          checkedAt: '',
          source: 'check',
        }));
        const trimEnds = (text: string): string =>
          text
            .split('\n')
            .map((l) => l.trimEnd())
            .filter((l) => !l.startsWith('error: issues that apply'))
            .join('\n')
            // oc's example test separates the error from the output with a blank line.
            .replace(/\n\nerror: /g, '\nerror: ')
            .replace(/\n+$/, '\n');
        const ours = trimEnds(
          rendered.stdout
            .replace(/^ *Verify: verified\n/gm, '')
            .replace(/ +VERIFY\n/g, '\n')
            .replace(/ +verified\n/g, '\n') +
            (rendered.error !== undefined ? `error: ${rendered.error}\n` : ''),
        );
        // oc's alert pre-checks (not made here) and their conditions are taken out.
        const want = trimEnds(
          readFileSync(join(examples, `${base}${suffix}`), 'utf8')
            .replace(/^The following conditions found[^\n]*\n\n/gm, '')
            .replace(
              /^recommended\/[^\n]*=[A-Za-z]+:\n\n {2}Reason: [^\n]*\n {2}Message: [^\n]*\n\n/gm,
              '',
            )
            .replace(/^\n+/, ''),
        );
        assert.equal(ours, want, `${base}${suffix}`);
        compared++;
      }
    }
    assert.ok(compared >= 10, `only ${String(compared)} example outputs compared`);
  });
});
