/**
 * The CVO's spec validation (lib/validation/validation.go:19-31) asks Go's net/url.Parse whether
 * spec.upstream is a URL and google/uuid which variant and version spec.clusterID is. Our
 * src/controller/go-parse.ts answers the same questions; Go itself judges here
 * (interop/cmd/go-parsers): systematic cases plus seeded mutations of valid values. Every case
 * must agree: there is no allow-list entry for these.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';

import { goUrlParseFails, goUuid } from '../../src/image/go-parse.js';
import { diffSeed, seededRandom } from '../helpers/differential.js';
import { runGoParsersHarness } from '../helpers/interop.js';
import type { GoParsersCase } from '../helpers/interop.js';

const URLS = [
  'https://api.openshift.com/api/upgrades_info/v1/graph',
  'http://graph.corp.example:8080/graph?arch=amd64#top',
  'https://user:pa%20ss@graph.example/x',
  'https://[fd00::1]:8443/graph',
  'https://[fd00::1/graph',
  'https://[fd00::1]x/graph',
  'https://graph.example:port/graph',
  'https://graph.example:/graph',
  'https://gra ph.example/graph',
  'https://graph.example/gr aph',
  'https://graph.example/%zz',
  'https://graph.example/%4',
  'https://graph.example/ok#%zz',
  'https://graph.example/ok?q=%zz',
  'https://grap%41h.example/',
  'https://grap%zzh.example/',
  ':no-scheme',
  'graph.example:8080/graph',
  'graph.example/a:b',
  '/relative/path',
  './a:b',
  '1http://graph.example',
  'mailto:admin@example.com',
  'http:opaque%zz',
  'https://graph.example/\u0001',
  'https://graph.example/\u007f',
  '*',
  '//graph.example/x',
  '///x',
  'https://graph.example/é',
  'https://grâph.example/',
  'https://graph{x}.example/',
  'https://graph.example/{x}',
  'HTTPS://Graph.Example/',
  'a+b.c-d://x/',
  'https://[fe80::1%25en0]:8443/',
  'https://[fe80::1%25en%200]/',
  'https://[fe80::1%25]/',
  'https://[fe80::1%en0]/',
  'https://[1.2.3.4]/',
  'https://[::ffff:1.2.3.4]/',
  'https://[::ffff:01.2.3.4]/',
  'https://[fe80::1%25en%C3%A9]/',
  'https://a:1:2/',
  'https://graph.example.com:8443:1/api',
  'http://localhost:80:80/',
  'https://a:b:1/',
  'ftp://a:1:2/',
  'https://h%C3%A9st/',
  'https://h%25st/',
  'https://héllo:pässword@graph.example/',
  'https://us%zzer@graph.example/',
  'https://user@pass@graph.example/',
  'https://graph.example:80:80/',
  'https://graph.example/#frag%20ok',
  'https://graph.example/#\u0001',
  'http:///x',
  'http://',
  '',
  '?q',
  '#f',
  'https://graph.example?q#%zz',
];

const UUIDS = [
  '7d1f3a34-7d1f-4c1f-9c1f-7d1f3a347d1f',
  '7D1F3A34-7D1F-4C1F-9C1F-7D1F3A347D1F',
  '7d1f3a34-7d1f-1c1f-9c1f-7d1f3a347d1f',
  '7d1f3a34-7d1f-4c1f-cc1f-7d1f3a347d1f',
  '7d1f3a34-7d1f-4c1f-1c1f-7d1f3a347d1f',
  '7d1f3a34-7d1f-4c1f-ec1f-7d1f3a347d1f',
  '00000000-0000-0000-0000-000000000000',
  '{7d1f3a34-7d1f-4c1f-9c1f-7d1f3a347d1f}',
  'urn:uuid:7d1f3a34-7d1f-4c1f-9c1f-7d1f3a347d1f',
  'URN:UUID:7d1f3a34-7d1f-4c1f-9c1f-7d1f3a347d1f',
  '7d1f3a347d1f4c1f9c1f7d1f3a347d1f',
  '7d1f3a34_7d1f-4c1f-9c1f-7d1f3a347d1f',
  '7d1f3a34-7d1f-4c1f-9c1f-7d1f3a347d1g',
  '[7d1f3a34-7d1f-4c1f-9c1f-7d1f3a347d1f]',
  'x',
  '',
];

/** Seeded edits of valid values: a character replaced, deleted or inserted. */
function mutations(base: readonly string[], count: number, seed: number): string[] {
  const random = seededRandom(seed);
  const alphabet = ':/?#[]@%!$&\'()*+,;= -._~0123456789abcdefABCDEF{}|\\^`"<>\u0000\u00e9';
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const value = base[Math.floor(random() * base.length)] ?? '';
    const at = Math.floor(random() * (value.length + 1));
    const c = alphabet[Math.floor(random() * alphabet.length)] ?? 'x';
    const op = Math.floor(random() * 3);
    out.push(
      op === 0
        ? value.slice(0, at) + c + value.slice(at + 1)
        : op === 1
          ? value.slice(0, at) + value.slice(at + 1)
          : value.slice(0, at) + c + value.slice(at),
    );
  }
  return out;
}

describe('Go parsers of the CVO spec validation, judged by Go (interop/cmd/go-parsers)', () => {
  it('agrees with net/url.Parse and google/uuid on every case', async () => {
    const seed = diffSeed();
    const urls = [...URLS, ...mutations(URLS.slice(0, 4).concat(URLS.slice(-24)), 1000, seed)];
    const uuids = [
      ...UUIDS,
      ...Array.from({ length: 20 }, () => randomUUID()),
      ...mutations(UUIDS.slice(0, 2), 200, seed + 1),
    ];
    const cases: GoParsersCase[] = [
      ...urls.map((value, i) => ({ id: `url-${String(i)}`, kind: 'url' as const, value })),
      ...uuids.map((value, i) => ({ id: `uuid-${String(i)}`, kind: 'uuid' as const, value })),
    ];
    const go = await runGoParsersHarness(cases);
    const disagreements: string[] = [];
    let urlFailures = 0;
    let rfc4122v4 = 0;
    for (const c of cases) {
      const judge = go.get(c.id);
      assert.ok(
        judge !== undefined && judge.error === undefined,
        `${c.id}: ${String(judge?.error)}`,
      );
      if (c.kind === 'url') {
        const theirs = judge.urlFails === true;
        if (theirs) urlFailures++;
        if (goUrlParseFails(c.value) !== theirs)
          disagreements.push(`url ${JSON.stringify(c.value)}: Go fails=${String(theirs)}`);
      } else {
        const theirs = { rfc4122: judge.rfc4122 === true, version: judge.version ?? 0 };
        if (theirs.rfc4122 && theirs.version === 4) rfc4122v4++;
        const ours = goUuid(c.value);
        if (ours.rfc4122 !== theirs.rfc4122 || ours.version !== theirs.version)
          disagreements.push(
            `uuid ${JSON.stringify(c.value)}: Go ${JSON.stringify(theirs)}, ours ${JSON.stringify(ours)}`,
          );
      }
    }
    process.stdout.write(
      `# go-parsers (seed ${String(seed)}): ${String(cases.length)} cases, ${String(urlFailures)} URLs Go refuses, ${String(rfc4122v4)} RFC 4122 v4 UUIDs, ${String(disagreements.length)} disagreements\n`,
    );
    // Both answers occur, so the comparison means something.
    assert.ok(urlFailures > 10 && urlFailures < urls.length - 10, String(urlFailures));
    assert.ok(rfc4122v4 > 10 && rfc4122v4 < uuids.length - 10, String(rfc4122v4));
    assert.deepEqual(disagreements, []);
  });
});
