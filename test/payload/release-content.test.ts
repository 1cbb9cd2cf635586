import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { isVerifyError, VerifyError } from '../../src/errors.js';
import {
  dedupeComponents,
  MAX_IMAGE_REFERENCE_TAGS,
  MAX_IMAGE_REFERENCES_BYTES,
  MAX_PREVIOUS_VERSIONS,
  MAX_RELEASE_METADATA_BYTES,
  parseImageReferences,
  parseReleaseMetadata,
  releaseFacts,
} from '../../src/payload/release-content.js';
import type { ReleaseComponent } from '../../src/payload/release-content.js';

type Plain = Record<string, unknown>;

const ART = 'quay.io/openshift-release-dev/ocp-v4.0-art-dev';
const digest = (c: string): string => `sha256:${c.repeat(64)}`;

function tagEntry(name: string, pullspec: string): Plain {
  return {
    name,
    annotations: {
      'io.openshift.build.commit.id': '0123456789abcdef',
      'io.openshift.build.source-location': `https://github.com/openshift/${name}`,
    },
    from: { kind: 'DockerImage', name: pullspec },
    generation: null,
    importPolicy: {},
    referencePolicy: { type: 'Source' },
  };
}

/** An image-references shaped like the ones `oc adm release new` writes. */
function imageReferences(): Plain {
  return {
    kind: 'ImageStream',
    apiVersion: 'image.openshift.io/v1',
    metadata: {
      name: '4.17.0',
      creationTimestamp: '2024-09-27T12:00:00Z',
      annotations: { 'release.openshift.io/from-image-stream': 'ocp/4.17-art-latest' },
    },
    spec: {
      lookupPolicy: { local: false },
      tags: [
        tagEntry('etcd', `${ART}@${digest('a')}`),
        tagEntry('cli', `${ART}@${digest('b')}`),
        tagEntry('tools', `${ART}@${digest('c')}`),
        tagEntry('cluster-version-operator', `${ART}@${digest('d')}`),
      ],
    },
    status: { dockerImageRepository: '' },
  };
}

const encode = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

/** Applies `mutate` to a fresh realistic document and returns its bytes. */
function mutated(mutate: (doc: Plain) => void, base: () => Plain = imageReferences): Uint8Array {
  const doc = base();
  mutate(doc);
  return encode(doc);
}

function tags(doc: Plain): Plain[] {
  return (doc.spec as { tags: Plain[] }).tags;
}

function expectInvalid(parse: () => unknown, fragment: string): void {
  assert.throws(parse, (err: unknown) => {
    assert.ok(err instanceof VerifyError, `expected VerifyError, got ${String(err)}`);
    assert.ok(isVerifyError(err, 'INVALID_CONTENT'), `code ${err.code}`);
    assert.equal(err.area, 'payload');
    assert.ok(
      err.message.includes(fragment),
      `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(fragment)}`,
    );
    return true;
  });
}

describe('parseImageReferences', () => {
  it('reads the version and every component, in order, ignoring fields it does not use', () => {
    const refs = parseImageReferences(encode(imageReferences()));
    assert.equal(refs.name, '4.17.0');
    assert.deepEqual(
      refs.components.map((c) => c.tag),
      ['etcd', 'cli', 'tools', 'cluster-version-operator'],
    );
    const [etcd] = refs.components;
    assert.equal(etcd?.pullspec.host, 'quay.io');
    assert.equal(etcd?.pullspec.path, 'openshift-release-dev/ocp-v4.0-art-dev');
    assert.equal(etcd?.pullspec.name, ART);
    assert.equal(etcd?.pullspec.digest, digest('a'));
  });

  it('accepts an empty tag list and a pullspec carrying both tag and digest', () => {
    assert.deepEqual(
      parseImageReferences(mutated((d) => ((d.spec as Plain).tags = []))).components,
      [],
    );
    const refs = parseImageReferences(
      mutated((d) => (tags(d)[0] = tagEntry('etcd', `${ART}:v4.17@${digest('a')}`))),
    );
    assert.equal(refs.components[0]?.pullspec.digest, digest('a'));
  });

  it(`accepts ${MAX_IMAGE_REFERENCE_TAGS} tags and rejects one more`, () => {
    const many = (n: number): Uint8Array =>
      mutated((d) => {
        (d.spec as Plain).tags = Array.from({ length: n }, (_, i) =>
          tagEntry(`t${i}`, `${ART}@${digest('e')}`),
        );
      });
    assert.equal(
      parseImageReferences(many(MAX_IMAGE_REFERENCE_TAGS)).components.length,
      MAX_IMAGE_REFERENCE_TAGS,
    );
    expectInvalid(
      () => parseImageReferences(many(MAX_IMAGE_REFERENCE_TAGS + 1)),
      `spec.tags has ${MAX_IMAGE_REFERENCE_TAGS + 1} entries`,
    );
  });

  it('names the field in the error for a tag pullspec', () => {
    assert.throws(
      () =>
        parseImageReferences(mutated((d) => (tags(d)[3] = tagEntry('cvo', 'quay.io/x:latest')))),
      {
        name: 'VerifyError',
        message: 'image-references: spec.tags[3].from.name "quay.io/x:latest" is not by digest',
      },
    );
  });

  const invalid: [string, (doc: Plain) => void, string][] = [
    ['a wrong kind', (d) => (d.kind = 'ImageStreamTag'), 'kind must be "ImageStream"'],
    ['a missing kind', (d) => delete d.kind, 'kind must be "ImageStream", got missing'],
    [
      'a wrong apiVersion',
      (d) => (d.apiVersion = 'v1'),
      'apiVersion must be "image.openshift.io/v1", got "v1"',
    ],
    ['no metadata', (d) => delete d.metadata, 'metadata must be an object, got missing'],
    ['an empty name', (d) => ((d.metadata as Plain).name = ''), 'metadata.name must not be empty'],
    ['no spec', (d) => delete d.spec, 'spec must be an object'],
    [
      'tags that are not an array',
      (d) => ((d.spec as Plain).tags = { etcd: {} }),
      'spec.tags must be an array, got an object',
    ],
    [
      'a tag that is not an object',
      (d) => ((tags(d) as unknown[])[1] = 'cli'),
      'spec.tags[1] must be an object',
    ],
    [
      'a tag without a name',
      (d) => delete tags(d)[2]?.name,
      'spec.tags[2].name must be a string, got missing',
    ],
    ['an empty tag name', (d) => ((tags(d)[0] as Plain).name = ''), 'spec.tags[0].name must not'],
    [
      'a tag name over 253 characters',
      (d) => ((tags(d)[0] as Plain).name = 'x'.repeat(254)),
      'spec.tags[0].name is longer than 253 characters',
    ],
    [
      'a duplicate tag name',
      (d) => ((tags(d)[3] as Plain).name = 'cli'),
      'spec.tags[3].name "cli" duplicates spec.tags[1].name',
    ],
    ['a tag without from', (d) => delete tags(d)[0]?.from, 'spec.tags[0].from must be an object'],
    [
      'a from of another kind',
      (d) => ((tags(d)[1] as Plain).from = { kind: 'ImageStreamTag', name: 'cli:latest' }),
      'spec.tags[1].from.kind of tag "cli" must be "DockerImage", got "ImageStreamTag"',
    ],
    [
      'a from.name that is not a string',
      (d) => ((tags(d)[0] as Plain).from = { kind: 'DockerImage', name: 7 }),
      'spec.tags[0].from.name must be a string, got a number',
    ],
    [
      'a pullspec that does not parse',
      (d) => (tags(d)[0] = tagEntry('etcd', `quay.io/Bad/Repo@${digest('a')}`)),
      'spec.tags[0].from.name "quay.io/Bad/Repo@sha256:',
    ],
    [
      'a malformed digest',
      (d) => (tags(d)[0] = tagEntry('etcd', `${ART}@sha256:abc`)),
      'is not a valid pullspec',
    ],
    [
      'a digest other than sha256',
      (d) => (tags(d)[2] = tagEntry('tools', `${ART}@sha512:${'f'.repeat(128)}`)),
      'spec.tags[2].from.name "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha512:',
    ],
  ];
  for (const [what, mutate, fragment] of invalid)
    it(`rejects ${what}`, () => {
      expectInvalid(() => parseImageReferences(mutated(mutate)), fragment);
    });

  it('rejects a digest other than sha256 as not by sha256 digest', () => {
    expectInvalid(
      () =>
        parseImageReferences(
          mutated((d) => (tags(d)[0] = tagEntry('etcd', `${ART}@sha384:${'f'.repeat(96)}`))),
        ),
      'is not by sha256 digest',
    );
  });

  it('rejects duplicate JSON keys', () => {
    const text = JSON.stringify(imageReferences()).replace(
      '"kind":"ImageStream"',
      '"kind":"ImageStream","kind":"ImageStream"',
    );
    expectInvalid(
      () => parseImageReferences(new TextEncoder().encode(text)),
      'image-references: invalid JSON: duplicate key "kind"',
    );
  });

  it('rejects invalid UTF-8, a byte order mark, text that is not JSON and a non-object', () => {
    const bytes = encode(imageReferences());
    const broken = new Uint8Array([...bytes.slice(0, 20), 0xc3, 0x28, ...bytes.slice(20)]);
    expectInvalid(() => parseImageReferences(broken), 'image-references: file is not valid UTF-8');
    const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...bytes]);
    expectInvalid(
      () => parseImageReferences(bom),
      'invalid JSON: unexpected character at offset 0',
    );
    expectInvalid(
      () => parseImageReferences(new TextEncoder().encode('kind: ImageStream')),
      'invalid JSON',
    );
    expectInvalid(() => parseImageReferences(encode([])), 'document must be an object');
  });

  it('rejects a file over 4 MiB before decoding it', () => {
    const big = new Uint8Array(MAX_IMAGE_REFERENCES_BYTES + 1).fill(0x20);
    expectInvalid(() => parseImageReferences(big), 'more than the limit of 4194304');
  });
});

describe('parseReleaseMetadata', () => {
  const metadataDoc = (): Plain => ({
    kind: 'cincinnati-metadata-v0',
    version: '4.17.0',
    previous: ['4.16.0', '4.16.1', '4.17.0-rc.3'],
    metadata: {
      url: 'https://access.redhat.com/errata/RHSA-2024:3718',
      'io.openshift.upgrades.graph.release.channels': 'candidate-4.17,fast-4.17,stable-4.17',
    },
  });

  it('reads version, previous and metadata', () => {
    const parsed = parseReleaseMetadata(encode(metadataDoc()));
    assert.equal(parsed.version, '4.17.0');
    assert.deepEqual(parsed.previous, ['4.16.0', '4.16.1', '4.17.0-rc.3']);
    assert.equal(parsed.metadata.url, 'https://access.redhat.com/errata/RHSA-2024:3718');
  });

  it('defaults previous and metadata to empty and ignores unknown fields such as next', () => {
    const parsed = parseReleaseMetadata(
      encode({ kind: 'cincinnati-metadata-v0', version: '4.17.0', next: ['4.18.0'] }),
    );
    assert.deepEqual(parsed, { version: '4.17.0', previous: [], metadata: {} });
  });

  for (const version of [
    '4.17.0',
    '0.0.0',
    '4.17.0-0.nightly-2024-08-01-123456',
    '4.17.0-rc.1+build.5',
    '4.17.0+amd64',
  ])
    it(`accepts version ${version}`, () => {
      assert.equal(
        parseReleaseMetadata(mutated((d) => (d.version = version), metadataDoc)).version,
        version,
      );
    });

  for (const version of ['4.17', 'v4.17.0', '04.17.0', '4.17.0-', '4.17.0-01', '4.17.0+', ''])
    it(`rejects version ${JSON.stringify(version)}`, () => {
      expectInvalid(
        () => parseReleaseMetadata(mutated((d) => (d.version = version), metadataDoc)),
        'release-metadata: version',
      );
    });

  it('keeps a metadata key named __proto__ as an ordinary entry', () => {
    const text =
      '{"kind":"cincinnati-metadata-v0","version":"4.17.0","metadata":{"__proto__":"x"}}';
    const parsed = parseReleaseMetadata(new TextEncoder().encode(text));
    assert.deepEqual(Object.keys(parsed.metadata), ['__proto__']);
    assert.equal(Object.getPrototypeOf(parsed.metadata), Object.prototype);
  });

  const invalid: [string, (doc: Plain) => void, string][] = [
    [
      'a wrong kind',
      (d) => (d.kind = 'cincinnati-metadata-v1'),
      'release-metadata: kind must be "cincinnati-metadata-v0", got "cincinnati-metadata-v1"',
    ],
    ['a missing version', (d) => delete d.version, 'version must be a string, got missing'],
    ['a numeric version', (d) => (d.version = 4.17), 'version must be a string, got a number'],
    [
      'previous that is not an array',
      (d) => (d.previous = '4.16.0'),
      'previous must be an array, got a string',
    ],
    ['a previous entry that is not a string', (d) => (d.previous = ['4.16.0', 4]), 'previous[1]'],
    [
      `more than ${MAX_PREVIOUS_VERSIONS} previous versions`,
      (d) => (d.previous = Array.from({ length: MAX_PREVIOUS_VERSIONS + 1 }, () => '4.16.0')),
      `previous has ${MAX_PREVIOUS_VERSIONS + 1} entries`,
    ],
    ['metadata that is not an object', (d) => (d.metadata = ['url']), 'metadata must be an object'],
  ];
  for (const [what, mutate, fragment] of invalid)
    it(`rejects ${what}`, () => {
      expectInvalid(() => parseReleaseMetadata(mutated(mutate, metadataDoc)), fragment);
    });

  it('loads what the CVO loads: previous entries that are not versions, metadata values of any type', () => {
    const parsed = parseReleaseMetadata(
      new TextEncoder().encode(
        JSON.stringify({
          kind: 'cincinnati-metadata-v0',
          version: '4.17.0',
          previous: ['4.16.0', '4.16'],
          metadata: { url: 'https://example.com', count: 3, nested: { a: [1] } },
        }),
      ),
    );
    assert.deepEqual(parsed.previous, ['4.16.0', '4.16']);
    assert.deepEqual(JSON.parse(JSON.stringify(parsed.metadata)), {
      url: 'https://example.com',
      count: 3,
      nested: { a: [1] },
    });
  });

  it('rejects duplicate keys and a file over 1 MiB', () => {
    const text = '{"kind":"cincinnati-metadata-v0","version":"4.17.0","version":"4.99.0"}';
    expectInvalid(
      () => parseReleaseMetadata(new TextEncoder().encode(text)),
      'duplicate key "version"',
    );
    expectInvalid(
      () => parseReleaseMetadata(new Uint8Array(MAX_RELEASE_METADATA_BYTES + 1).fill(0x20)),
      'release-metadata: file is 1048577 bytes',
    );
  });
});

describe('dedupeComponents', () => {
  const component = (tag: string, pullspec: string): ReleaseComponent => {
    const refs = parseImageReferences(
      mutated((d) => ((d.spec as Plain).tags = [tagEntry(tag, pullspec)])),
    );
    const [only] = refs.components;
    assert.ok(only);
    return only;
  };

  it('groups tags by repository and digest, in order of first appearance', () => {
    const unique = dedupeComponents([
      component('cli', `${ART}@${digest('a')}`),
      component('etcd', `${ART}@${digest('b')}`),
      component('cli-artifacts', `${ART}@${digest('a')}`),
      component('tools', `quay.io/other/repo@${digest('a')}`),
      component('tests', `${ART}@${digest('a')}`),
    ]);
    assert.deepEqual(
      unique.map((u) => [u.pullspec.name, u.pullspec.digest, u.tags]),
      [
        [ART, digest('a'), ['cli', 'cli-artifacts', 'tests']],
        [ART, digest('b'), ['etcd']],
        ['quay.io/other/repo', digest('a'), ['tools']],
      ],
    );
  });

  it('returns nothing for nothing', () => {
    assert.deepEqual(dedupeComponents([]), []);
  });
});

describe('releaseFacts (cincinnati.ParseMetadata, pkg/cincinnati/cincinnati.go:435-489)', () => {
  const facts = (metadata: Record<string, unknown>) =>
    releaseFacts({ version: '4.17.0', previous: [], metadata });

  it('reads url, the multi architecture and the channels, sorted as Go sort.Strings', () => {
    assert.deepEqual(
      facts({
        url: 'https://access.redhat.com/errata/RHSA-2026:0001',
        'release.openshift.io/architecture': 'multi',
        'io.openshift.upgrades.graph.release.channels': 'stable-4.17,,eus-4.18,Fast-4.17',
      }),
      {
        architecture: 'Multi',
        url: 'https://access.redhat.com/errata/RHSA-2026:0001',
        channels: ['Fast-4.17', 'eus-4.18', 'stable-4.17'],
        problems: [
          'io.openshift.upgrades.graph.release.channels entry 1 is an empty string: "stable-4.17,,eus-4.18,Fast-4.17"',
        ],
      },
    );
    assert.deepEqual(facts({}), { problems: [] });
  });

  it('leaves out what it cannot use and names it in the CVO’s words, never failing', () => {
    const got = facts({
      url: 'https://x/%zz',
      'release.openshift.io/architecture': 'amd64',
      'io.openshift.upgrades.graph.release.channels': '',
    });
    assert.deepEqual(got.problems, [
      'invalid release URL: "https://x/%zz"',
      'unrecognized release.openshift.io/architecture value "amd64"',
      'io.openshift.upgrades.graph.release.channels is an empty string',
    ]);
    assert.equal(got.url, undefined);
    assert.equal(got.architecture, undefined);
    assert.equal(got.channels, undefined);
    // Every URL Go's url.Parse refuses is dropped (the same parser as spec.upstream's check).
    for (const url of ['http://a b.com/', 'http://[::1/', ':foo'])
      assert.equal(facts({ url }).url, undefined, url);
    assert.deepEqual(facts({ 'io.openshift.upgrades.graph.release.channels': ',' }).problems, [
      'io.openshift.upgrades.graph.release.channels entry 1 is an empty string: ","',
      'io.openshift.upgrades.graph.release.channels entry 0 is an empty string: ","',
      'no non-empty channels in io.openshift.upgrades.graph.release.channels []',
    ]);
    assert.deepEqual(facts({ url: 3, 'release.openshift.io/architecture': null }).problems, [
      'URL is not a string: 3',
      'release.openshift.io/architecture is not a string: null',
    ]);
  });
});
