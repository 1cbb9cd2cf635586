import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseReleasePullspec } from '../../src/image/pullspec.js';
import type { DigestPullspec } from '../../src/image/pullspec.js';
import { isVerifyError, VerifyError } from '../../src/errors.js';
import {
  MAX_MIRROR_DOCUMENT_CHARS,
  MAX_MIRROR_RULES,
  mirrorSources,
  parseMirrorConfig,
} from '../../src/mirrors/mirrors.js';
import type { MirrorRule } from '../../src/mirrors/mirrors.js';

const D = `sha256:${'a'.repeat(64)}`;
const image = (name: string): DigestPullspec => parseReleasePullspec(`${name}@${D}`);

/** What `oc adm release mirror` prints for a mirror to mirror.example.com:5000/ocp4/openshift4. */
const OC_IDMS = `apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata:
  creationTimestamp: null
  name: example
spec:
  imageDigestMirrors:
  - mirrors:
    - mirror.example.com:5000/ocp4/openshift4
    source: quay.io/openshift-release-dev/ocp-release
  - mirrors:
    - mirror.example.com:5000/ocp4/openshift4
    source: quay.io/openshift-release-dev/ocp-v4.0-art-dev
status: {}
`;

const OC_ICSP = `apiVersion: operator.openshift.io/v1alpha1
kind: ImageContentSourcePolicy
metadata:
  name: example
spec:
  repositoryDigestMirrors:
  - mirrors:
    - mirror.example.com:5000/ocp4/openshift4
    source: quay.io/openshift-release-dev/ocp-release
  - mirrors:
    - mirror.example.com:5000/ocp4/openshift4
    source: quay.io/openshift-release-dev/ocp-v4.0-art-dev
`;

function rule(source: string, mirrors: string[], options: Partial<MirrorRule> = {}): MirrorRule {
  return { source, mirrors, neverContactSource: false, from: 'ImageDigestMirrorSet/t', ...options };
}

/** The repositories `mirrorSources` returns, `name` plus ` (source)` for the original. */
function names(rules: readonly MirrorRule[], name: string): string[] {
  return mirrorSources(rules, image(name)).map((s) => (s.mirror ? s.name : `${s.name} (source)`));
}

function idms(name: string, entries: string): string {
  return `apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata:
  name: ${name}
spec:
  imageDigestMirrors:
${entries}`;
}

function expectInvalid(parse: () => unknown, ...fragments: string[]): void {
  assert.throws(parse, (err: unknown) => {
    assert.ok(err instanceof VerifyError, `expected VerifyError, got ${String(err)}`);
    assert.ok(isVerifyError(err, 'INVALID_CONTENT'), `code ${err.code}`);
    for (const fragment of fragments)
      assert.ok(
        err.message.includes(fragment),
        `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(fragment)}`,
      );
    return true;
  });
}

describe('parseMirrorConfig', () => {
  it('reads the ImageDigestMirrorSet oc adm release mirror prints', () => {
    const rules = parseMirrorConfig(OC_IDMS, 'idms.yaml');
    assert.deepEqual(rules, [
      {
        source: 'quay.io/openshift-release-dev/ocp-release',
        mirrors: ['mirror.example.com:5000/ocp4/openshift4'],
        neverContactSource: false,
        from: 'ImageDigestMirrorSet/example',
      },
      {
        source: 'quay.io/openshift-release-dev/ocp-v4.0-art-dev',
        mirrors: ['mirror.example.com:5000/ocp4/openshift4'],
        neverContactSource: false,
        from: 'ImageDigestMirrorSet/example',
      },
    ]);
    assert.deepEqual(
      mirrorSources(rules, image('quay.io/openshift-release-dev/ocp-v4.0-art-dev')),
      [
        {
          host: 'mirror.example.com:5000',
          path: 'ocp4/openshift4',
          name: 'mirror.example.com:5000/ocp4/openshift4',
          mirror: true,
          rule: 'ImageDigestMirrorSet/example',
        },
        {
          host: 'quay.io',
          path: 'openshift-release-dev/ocp-v4.0-art-dev',
          name: 'quay.io/openshift-release-dev/ocp-v4.0-art-dev',
          mirror: false,
        },
      ],
    );
  });

  it('reads the equivalent ImageContentSourcePolicy to the same rules', () => {
    const rules = parseMirrorConfig(OC_ICSP, 'icsp.yaml');
    assert.deepEqual(
      rules.map((r) => [r.source, r.mirrors, r.neverContactSource, r.from]),
      parseMirrorConfig(OC_IDMS, 'idms.yaml').map((r) => [
        r.source,
        r.mirrors,
        r.neverContactSource,
        'ImageContentSourcePolicy/example',
      ]),
    );
  });

  it('reads JSON, multi-document YAML and Lists', () => {
    const json = JSON.stringify({
      apiVersion: 'config.openshift.io/v1',
      kind: 'ImageDigestMirrorSet',
      metadata: { name: 'j' },
      spec: {
        imageDigestMirrors: [
          { source: 'a.example.com', mirrors: ['m.example.com'], mirrorSourcePolicy: null },
        ],
      },
    });
    assert.deepEqual(
      parseMirrorConfig(json, 'm.json').map((r) => r.from),
      ['ImageDigestMirrorSet/j'],
    );
    const multi = `---\n${OC_ICSP}---\n# nothing here\n---\n${OC_IDMS}...\n`;
    assert.deepEqual(
      parseMirrorConfig(multi, 'multi.yaml').map((r) => r.from),
      [
        'ImageContentSourcePolicy/example',
        'ImageContentSourcePolicy/example',
        'ImageDigestMirrorSet/example',
        'ImageDigestMirrorSet/example',
      ],
    );
    const list = JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'config.openshift.io/v1',
          kind: 'ImageDigestMirrorSet',
          metadata: { name: 'one' },
          spec: {},
        },
        {
          apiVersion: 'operator.openshift.io/v1alpha1',
          kind: 'ImageContentSourcePolicy',
          metadata: { name: 'two' },
          spec: { repositoryDigestMirrors: [{ source: 'b.example.com/ns' }] },
        },
      ],
    });
    assert.deepEqual(parseMirrorConfig(list, 'list.json'), [
      {
        source: 'b.example.com/ns',
        mirrors: [],
        neverContactSource: false,
        from: 'ImageContentSourcePolicy/two',
      },
    ]);
    assert.deepEqual(parseMirrorConfig('', 'empty.yaml'), []);
  });

  it('reads mirrorSourcePolicy and wildcard sources', () => {
    const rules = parseMirrorConfig(
      idms(
        'w',
        `  - source: "*.redhat.io"
    mirrors: [mirror.local/redhat]
    mirrorSourcePolicy: NeverContactSource
  - source: localhost:5000/ns
    mirrors: [mirror.local/ns]
    mirrorSourcePolicy: AllowContactingSource
`,
      ),
      'w.yaml',
    );
    assert.deepEqual(
      rules.map((r) => [r.source, r.neverContactSource]),
      [
        ['*.redhat.io', true],
        ['localhost:5000/ns', false],
      ],
    );
  });

  it('accepts the same mirror twice in an ImageContentSourcePolicy (no list-type set there)', () => {
    const text = OC_ICSP.replace(
      '    - mirror.example.com:5000/ocp4/openshift4\n',
      '    - mirror.example.com:5000/ocp4/openshift4\n    - mirror.example.com:5000/ocp4/openshift4\n',
    );
    assert.equal(parseMirrorConfig(text, 'icsp.yaml')[0]?.mirrors.length, 2);
  });

  const entry = (source: string, mirror = 'mirror.example.com/x'): string =>
    `  - source: ${JSON.stringify(source)}\n    mirrors: [${JSON.stringify(mirror)}]\n`;
  const invalid: [string, string, string[]][] = [
    [
      'a tag in the source',
      idms('t', entry('quay.io/ocp/release:4.17')),
      [
        't.yaml (ImageDigestMirrorSet/t)',
        'spec.imageDigestMirrors[0].source',
        'must not include a tag',
      ],
    ],
    [
      'a digest in the source',
      idms('t', entry(`quay.io/ocp/release@${D}`)),
      ['spec.imageDigestMirrors[0].source', 'must not include a digest'],
    ],
    [
      'an uppercase repository path',
      idms('t', entry('quay.io/OCP')),
      ['spec.imageDigestMirrors[0].source "quay.io/OCP" must be host[:port][/namespace'],
    ],
    [
      'a wildcard with a path',
      idms('t', entry('*.example.com/ns')),
      ['spec.imageDigestMirrors[0].source "*.example.com/ns" is not a valid wildcard'],
    ],
    ['a wildcard with a port', idms('t', entry('*.example.com:5000')), ['is not a valid wildcard']],
    ['an inner wildcard', idms('t', entry('quay.*.io')), ['is not a valid wildcard']],
    [
      'a mirror with a tag',
      idms('t', entry('quay.io/ocp', 'mirror.example.com/ocp:latest')),
      [
        'spec.imageDigestMirrors[0].mirrors[0] "mirror.example.com/ocp:latest" must not include a tag',
      ],
    ],
    [
      'a wildcard mirror',
      idms('t', entry('quay.io/ocp', '*.example.com')),
      ['spec.imageDigestMirrors[0].mirrors[0] "*.example.com" must not be a wildcard'],
    ],
    [
      'a mirror whose first segment is not a registry host',
      idms('t', entry('quay.io/ocp', 'mirror/ocp')),
      ['spec.imageDigestMirrors[0].mirrors[0] "mirror/ocp" must start with a registry host'],
    ],
    [
      'a mirror that is not a string',
      idms('t', '  - source: quay.io/ocp\n    mirrors: [5000]\n'),
      ['spec.imageDigestMirrors[0].mirrors[0] must be a string, got a number'],
    ],
    [
      'mirrors that are not a list',
      idms('t', '  - source: quay.io/ocp\n    mirrors: mirror.example.com/ocp\n'),
      ['spec.imageDigestMirrors[0].mirrors must be an array, got a string'],
    ],
    [
      'a duplicate mirror in an ImageDigestMirrorSet',
      idms('t', '  - source: quay.io/ocp\n    mirrors: [m.example.com/a, m.example.com/a]\n'),
      ['spec.imageDigestMirrors[0].mirrors[1] "m.example.com/a" is a duplicate value'],
    ],
    [
      'an unknown mirrorSourcePolicy',
      idms(
        't',
        '  - source: quay.io/ocp\n    mirrors: [m.example.com/a]\n    mirrorSourcePolicy: Never\n',
      ),
      [
        'spec.imageDigestMirrors[0].mirrorSourcePolicy "Never" is not one of NeverContactSource, AllowContactingSource',
      ],
    ],
    [
      'a misspelt field in a rule',
      idms(
        't',
        '  - source: quay.io/ocp\n    mirrors: [m.example.com/a]\n    mirrorSourcePolicies: NeverContactSource\n',
      ),
      ['unknown field "spec.imageDigestMirrors[0].mirrorSourcePolicies"'],
    ],
    [
      'a rule without a source',
      idms('t', '  - mirrors: [m.example.com/a]\n'),
      ['spec.imageDigestMirrors[0].source is required'],
    ],
    [
      'rules that are not a list',
      idms('t', '    source: quay.io/ocp\n'),
      ['spec.imageDigestMirrors must be an array, got an object'],
    ],
    [
      'an unknown spec field',
      OC_IDMS.replace('spec:\n', 'spec:\n  repositoryDigestMirrors: []\n'),
      ['unknown field "spec.repositoryDigestMirrors"'],
    ],
    [
      'a missing spec',
      'apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata: {name: t}\n',
      ['spec must be an object, got missing'],
    ],
    [
      'an unknown kind',
      OC_IDMS.replace('kind: ImageDigestMirrorSet', 'kind: ImageTagMirrorSet'),
      ['t.yaml: unsupported kind "ImageTagMirrorSet"'],
    ],
    [
      'a wrong apiVersion',
      OC_IDMS.replace('config.openshift.io/v1', 'operator.openshift.io/v1alpha1'),
      ['apiVersion of ImageDigestMirrorSet must be "config.openshift.io/v1"'],
    ],
    [
      'a missing name',
      OC_IDMS.replace('  name: example\n', ''),
      ['t.yaml: metadata.name must be a string, got missing'],
    ],
    [
      'an invalid name',
      OC_IDMS.replace('name: example', 'name: Example_1'),
      ['metadata.name "Example_1" is not a valid Kubernetes object name'],
    ],
    [
      'a wildcard source in an ImageContentSourcePolicy',
      OC_ICSP.replace('source: quay.io/openshift-release-dev/ocp-release', 'source: "*.quay.io"'),
      [
        '(ImageContentSourcePolicy/example): spec.repositoryDigestMirrors[0].source "*.quay.io" must not be a wildcard',
      ],
    ],
    ['invalid YAML', 'kind: [unclosed\n', ['t.yaml: invalid YAML']],
    ['a scalar document', 'just text\n', ['t.yaml: document must be an object, got a string']],
    [
      'a List without items',
      'apiVersion: v1\nkind: List\n',
      ['t.yaml: items of a List must be an array'],
    ],
  ];
  for (const [what, text, fragments] of invalid)
    it(`rejects ${what}`, () => {
      expectInvalid(() => parseMirrorConfig(text, 't.yaml'), ...fragments);
    });

  it('names the document and List item at fault', () => {
    expectInvalid(
      () =>
        parseMirrorConfig(`${OC_IDMS}---\n${OC_ICSP.replace('v1alpha1', 'v1')}`, 'cluster.yaml'),
      'cluster.yaml#2: apiVersion of ImageContentSourcePolicy',
    );
    const list = JSON.stringify({
      kind: 'ImageDigestMirrorSetList',
      apiVersion: 'config.openshift.io/v1',
      items: [{ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'x' } }],
    });
    expectInvalid(
      () => parseMirrorConfig(list, 'l.json'),
      'l.json.items[0]: unsupported kind "ConfigMap"',
    );
  });

  it('rejects duplicate keys in JSON', () => {
    const text =
      '{"apiVersion":"config.openshift.io/v1","kind":"ImageDigestMirrorSet",' +
      '"metadata":{"name":"d"},"spec":{"imageDigestMirrors":[' +
      '{"source":"quay.io/ocp","mirrors":["m.example.com/a"],"source":"quay.io/other"}]}}';
    expectInvalid(
      () => parseMirrorConfig(text, 'd.json'),
      'd.json: invalid JSON: duplicate key "source"',
    );
  });

  it(`rejects a document over ${MAX_MIRROR_DOCUMENT_CHARS} characters and more than ${MAX_MIRROR_RULES} rules`, () => {
    const padded = `# ${'x'.repeat(MAX_MIRROR_DOCUMENT_CHARS)}\n${OC_IDMS}`;
    expectInvalid(() => parseMirrorConfig(padded, 'big.yaml'), 'big.yaml: a document is longer');
    // The same content split into documents is fine.
    assert.equal(
      parseMirrorConfig(
        `# ${'x'.repeat(MAX_MIRROR_DOCUMENT_CHARS - 10)}\n---\n${OC_IDMS}`,
        'ok.yaml',
      ).length,
      2,
    );
    const entries = (n: number, from = 0): string =>
      Array.from({ length: n }, (_, i) => entry(`quay.io/r${from + i}`)).join('');
    const manyRules = `${idms('a', entries(600))}---\n${idms('b', entries(401, 600))}`;
    expectInvalid(
      () => parseMirrorConfig(manyRules, 'many.yaml'),
      `more than ${MAX_MIRROR_RULES} mirror rules`,
    );
    const enough = `${idms('a', entries(600))}---\n${idms('b', entries(400, 600))}`;
    assert.equal(parseMirrorConfig(enough, 'many.yaml').length, MAX_MIRROR_RULES);
  });
});

describe('mirrorSources', () => {
  describe('when no rule matches', () => {
    it('returns the image repository alone', () => {
      assert.deepEqual(mirrorSources([], image('quay.io/ocp/release')), [
        { host: 'quay.io', path: 'ocp/release', name: 'quay.io/ocp/release', mirror: false },
      ]);
      assert.deepEqual(
        names([rule('quay.io/ocp', ['m.example.com/x'])], 'quay.io/ocp-dev/release'),
        ['quay.io/ocp-dev/release (source)'],
      );
    });
  });

  describe('when sources are matched on whole path segments', () => {
    const cases: [string, MirrorRule[], string, string[]][] = [
      [
        'a namespace matches repositories below it',
        [rule('quay.io/ocp', ['m.example.com/mirror'])],
        'quay.io/ocp/release',
        ['m.example.com/mirror/release', 'quay.io/ocp/release (source)'],
      ],
      [
        'a repository matches itself exactly',
        [rule('quay.io/ocp/release', ['m.example.com/mirror/rel'])],
        'quay.io/ocp/release',
        ['m.example.com/mirror/rel', 'quay.io/ocp/release (source)'],
      ],
      [
        'a prefix that is not a whole segment does not match',
        [rule('quay.io/ocp', ['m.example.com/mirror'])],
        'quay.io/ocp-dev/release',
        ['quay.io/ocp-dev/release (source)'],
      ],
      [
        'a host-only source matches every repository on the host',
        [rule('quay.io', ['m.example.com/quay'])],
        'quay.io/a/b/c',
        ['m.example.com/quay/a/b/c', 'quay.io/a/b/c (source)'],
      ],
      [
        'a host-only mirror takes the rest of the path',
        [rule('quay.io/ocp', ['m.example.com'])],
        'quay.io/ocp/release',
        ['m.example.com/release', 'quay.io/ocp/release (source)'],
      ],
      [
        'the longest matching source wins',
        [
          rule('quay.io', ['host.example.com/q']),
          rule('quay.io/ocp/release', ['repo.example.com/r']),
          rule('quay.io/ocp', ['ns.example.com/n']),
        ],
        'quay.io/ocp/release',
        ['repo.example.com/r', 'quay.io/ocp/release (source)'],
      ],
      [
        'a source with a port matches only that port',
        [rule('registry.example.com:5000', ['m.example.com/five'])],
        'registry.example.com:5000/ns/repo',
        ['m.example.com/five/ns/repo', 'registry.example.com:5000/ns/repo (source)'],
      ],
      [
        'a source without a port does not match a host with one',
        [rule('registry.example.com', ['m.example.com/plain'])],
        'registry.example.com:5000/ns/repo',
        ['registry.example.com:5000/ns/repo (source)'],
      ],
      [
        'a mirror with a port keeps it',
        [rule('localhost', ['localhost:5000/cache'])],
        'localhost/ns/repo',
        ['localhost:5000/cache/ns/repo', 'localhost/ns/repo (source)'],
      ],
      [
        'Docker Hub images are matched by their normalised name',
        [rule('docker.io/library', ['m.example.com/hub'])],
        'busybox',
        ['m.example.com/hub/busybox', 'docker.io/library/busybox (source)'],
      ],
    ];
    for (const [what, rules, name, expected] of cases)
      it(what, () => {
        assert.deepEqual(names(rules, name), expected);
      });
  });

  describe('when a source is a wildcard', () => {
    const wildcard = rule('*.redhat.io', ['mirror.local/redhat']);

    it('matches subdomains, mapping the whole registry to the mirror', () => {
      assert.deepEqual(names([wildcard], 'registry.redhat.io/product/repo'), [
        'mirror.local/redhat/product/repo',
        'registry.redhat.io/product/repo (source)',
      ]);
      assert.deepEqual(names([wildcard], 'a.b.redhat.io:8443/x'), [
        'mirror.local/redhat/x',
        'a.b.redhat.io:8443/x (source)',
      ]);
    });

    it('does not match the domain itself or look-alike domains', () => {
      assert.deepEqual(names([wildcard], 'redhat.io/x'), ['redhat.io/x (source)']);
      assert.deepEqual(names([wildcard], 'registry.notredhat.io/x'), [
        'registry.notredhat.io/x (source)',
      ]);
      assert.deepEqual(names([wildcard], 'registry.redhat.io.evil.com/x'), [
        'registry.redhat.io.evil.com/x (source)',
      ]);
    });

    it('is used only when no non-wildcard source matches, however short', () => {
      const rules = [wildcard, rule('registry.redhat.io', ['exact.example.com/r'])];
      assert.deepEqual(names(rules, 'registry.redhat.io/product/repo'), [
        'exact.example.com/r/product/repo',
        'registry.redhat.io/product/repo (source)',
      ]);
    });

    it('prefers the most specific wildcard', () => {
      const rules = [wildcard, rule('*.registry.redhat.io', ['deep.example.com/d'])];
      assert.deepEqual(names(rules, 'eu.registry.redhat.io/x'), [
        'deep.example.com/d/x',
        'eu.registry.redhat.io/x (source)',
      ]);
    });
  });

  describe('when a rule says NeverContactSource', () => {
    it('leaves the original repository out', () => {
      const rules = [rule('quay.io/ocp', ['m.example.com/o'], { neverContactSource: true })];
      assert.deepEqual(names(rules, 'quay.io/ocp/release'), ['m.example.com/o/release']);
    });

    it('leaves it out when any of the rules merged for that source says so', () => {
      const rules = [
        rule('quay.io/ocp', ['a.example.com/o'], { from: 'ImageDigestMirrorSet/one' }),
        rule('quay.io/ocp', ['b.example.com/o'], {
          neverContactSource: true,
          from: 'ImageDigestMirrorSet/two',
        }),
      ];
      assert.deepEqual(
        mirrorSources(rules, image('quay.io/ocp/release')).map((s) => [s.name, s.rule]),
        [
          ['a.example.com/o/release', 'ImageDigestMirrorSet/one'],
          ['b.example.com/o/release', 'ImageDigestMirrorSet/two'],
        ],
      );
    });

    it('does not apply to a less specific source', () => {
      const rules = [
        rule('quay.io', ['host.example.com/q'], { neverContactSource: true }),
        rule('quay.io/ocp', ['ns.example.com/n']),
      ];
      assert.deepEqual(names(rules, 'quay.io/ocp/release'), [
        'ns.example.com/n/release',
        'quay.io/ocp/release (source)',
      ]);
    });

    it('has no effect on a rule without mirrors, which the MCO ignores', () => {
      const rules = [
        rule('quay.io', ['host.example.com/q']),
        rule('quay.io/ocp', [], { neverContactSource: true }),
        rule('quay.io/ocp/release', ['quay.io/ocp/release'], { neverContactSource: true }),
      ];
      assert.deepEqual(names(rules, 'quay.io/ocp/release'), [
        'host.example.com/q/ocp/release',
        'quay.io/ocp/release (source)',
      ]);
    });
  });

  describe('when several rules share a source', () => {
    it('merges two ImageDigestMirrorSets in order, without duplicates', () => {
      const rules = parseMirrorConfig(
        `${idms('one', '  - source: quay.io/ocp\n    mirrors: [a.example.com/o, b.example.com/o, c.example.com/o]\n')}---\n` +
          idms(
            'two',
            '  - source: quay.io/ocp\n    mirrors: [c.example.com/o, d.example.com/o, e.example.com/o]\n',
          ),
        'two.yaml',
      );
      assert.deepEqual(
        mirrorSources(rules, image('quay.io/ocp/release')).map((s) => [s.name, s.rule]),
        [
          ['a.example.com/o/release', 'ImageDigestMirrorSet/one'],
          ['b.example.com/o/release', 'ImageDigestMirrorSet/one'],
          ['c.example.com/o/release', 'ImageDigestMirrorSet/one'],
          ['d.example.com/o/release', 'ImageDigestMirrorSet/two'],
          ['e.example.com/o/release', 'ImageDigestMirrorSet/two'],
          ['quay.io/ocp/release', undefined],
        ],
      );
    });

    it('keeps the relative order of every list where it can (the CRD example)', () => {
      const rules = [
        rule('quay.io/ocp', ['b.example.com/o', 'c.example.com/o']),
        rule('quay.io/ocp', ['a.example.com/o', 'b.example.com/o']),
      ];
      assert.deepEqual(names(rules, 'quay.io/ocp/r'), [
        'a.example.com/o/r',
        'b.example.com/o/r',
        'c.example.com/o/r',
        'quay.io/ocp/r (source)',
      ]);
    });

    it('settles conflicting orders deterministically, as the MCO example does', () => {
      const rules = [
        rule('quay.io/ocp', ['registry1.example.com/o', 'registry2.example.com/o']),
        rule('quay.io/ocp', [
          'local-mirror2.example.com/o',
          'registry2.example.com/o',
          'registry1.example.com/o',
        ]),
      ];
      assert.deepEqual(names(rules, 'quay.io/ocp/r'), [
        'local-mirror2.example.com/o/r',
        'registry1.example.com/o/r',
        'registry2.example.com/o/r',
        'quay.io/ocp/r (source)',
      ]);
    });

    it('merges ImageContentSourcePolicy and ImageDigestMirrorSet rules alike', () => {
      const rules = [
        ...parseMirrorConfig(OC_ICSP, 'icsp.yaml'),
        ...parseMirrorConfig(
          idms(
            'extra',
            '  - source: quay.io/openshift-release-dev/ocp-release\n    mirrors: [backup.example.com/ocp]\n',
          ),
          'idms.yaml',
        ),
      ];
      assert.deepEqual(
        mirrorSources(rules, image('quay.io/openshift-release-dev/ocp-release')).map((s) => [
          s.name,
          s.mirror,
          s.rule,
        ]),
        [
          ['mirror.example.com:5000/ocp4/openshift4', true, 'ImageContentSourcePolicy/example'],
          ['backup.example.com/ocp', true, 'ImageDigestMirrorSet/extra'],
          ['quay.io/openshift-release-dev/ocp-release', false, undefined],
        ],
      );
    });

    it('tries the source where a list names it, and only once', () => {
      const rules = [rule('quay.io/ocp', ['a.example.com/o', 'quay.io/ocp', 'b.example.com/o'])];
      assert.deepEqual(names(rules, 'quay.io/ocp/r'), [
        'a.example.com/o/r',
        'quay.io/ocp/r (source)',
        'b.example.com/o/r',
      ]);
    });
  });

  it('rejects a host-only mirror that would replace a whole repository name', () => {
    expectInvalid(
      () =>
        mirrorSources(
          [rule('quay.io/ocp/release', ['m.example.com'])],
          image('quay.io/ocp/release'),
        ),
      'ImageDigestMirrorSet/t: mirror "m.example.com" of source "quay.io/ocp/release" leaves no repository path',
    );
  });
});
