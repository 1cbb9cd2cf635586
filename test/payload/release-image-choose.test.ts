import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { nodePlatform } from '../../src/trust/node-platform.js';
import { isVerifyError } from '../../src/errors.js';
import {
  assertUnambiguousListKeys,
  chooseInstance,
  parsePlatform,
  pullableInstances,
  wantedVariants,
  ZSTD_INSTANCE_ANNOTATION,
} from '../../src/payload/release-image.js';
import type { WantedPlatform } from '../../src/payload/release-image.js';
import { DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST } from '../../src/registry/manifest.js';
import type { Descriptor, ImageIndex, Platform } from '../../src/registry/manifest.js';

function entry(
  name: string,
  platform?: Platform,
  annotations?: Record<string, string>,
): Descriptor {
  return {
    mediaType: OCI_MANIFEST,
    digest: `sha256:${name.padEnd(64, '0')}`,
    size: 1,
    ...(platform !== undefined ? { platform } : {}),
    ...(annotations !== undefined ? { annotations } : {}),
  };
}

function list(mediaType: ImageIndex['mediaType'], ...manifests: Descriptor[]): ImageIndex {
  return { kind: 'index', mediaType, manifests };
}

const zstd = { [ZSTD_INSTANCE_ANNOTATION]: 'true' };
const p = (os: string, architecture: string, variant?: string): Platform => ({
  os,
  architecture,
  ...(variant !== undefined ? { variant } : {}),
});

function chosen(index: ImageIndex, wanted: string): string | undefined {
  return chooseInstance(index, parsePlatform(wanted))?.digest.slice(7, 8);
}

describe('wantedVariants (containers/image WantedPlatforms with the architecture given)', () => {
  const table: [WantedPlatform, string[]][] = [
    [{ os: 'linux', architecture: 'amd64' }, ['']],
    [{ os: 'linux', architecture: 'amd64', variant: 'v3' }, ['v3', '']],
    [{ os: 'linux', architecture: 'arm64' }, ['', 'v8']],
    [{ os: 'linux', architecture: 'arm64', variant: 'v8' }, ['v8', '']],
    [{ os: 'linux', architecture: 'arm64', variant: 'v9' }, ['v9', '']],
    [{ os: 'linux', architecture: 'arm' }, ['', 'v8', 'v7', 'v6', 'v5']],
    [{ os: 'linux', architecture: 'arm', variant: 'v7' }, ['v7', 'v6', 'v5', '']],
    [{ os: 'linux', architecture: 'arm', variant: 'v5' }, ['v5', '']],
    [{ os: 'linux', architecture: 'constructor' }, ['']],
    [{ os: 'linux', architecture: 'ppc64le', variant: '' }, ['']],
  ];
  for (const [wanted, expected] of table) {
    it(`${JSON.stringify(wanted)} → ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(wantedVariants(wanted), expected);
    });
  }
});

describe('parsePlatform', () => {
  it('reads OS/ARCH and OS/ARCH/VARIANT', () => {
    assert.deepEqual(parsePlatform('linux/arm64'), { os: 'linux', architecture: 'arm64' });
    assert.deepEqual(parsePlatform('linux/arm/v7'), {
      os: 'linux',
      architecture: 'arm',
      variant: 'v7',
    });
  });
  for (const bad of ['linux', 'linux/', '/amd64', 'linux/arm64/', 'a/b/c/d', '']) {
    it(`refuses ${JSON.stringify(bad)}`, () => {
      assert.throws(
        () => parsePlatform(bad),
        (err) => isVerifyError(err, 'PLATFORM_NOT_FOUND'),
      );
    });
  }
});

describe('chooseInstance', () => {
  describe('when the list is an OCI index', () => {
    it('prefers the best-ranked variant, whatever the order', () => {
      const index = list(
        OCI_INDEX,
        entry('a', p('linux', 'arm64', 'v8')),
        entry('b', p('linux', 'arm64')),
      );
      assert.equal(chosen(index, 'linux/arm64'), 'b');
      assert.equal(chosen(index, 'linux/arm64/v8'), 'a');
    });
    it('prefers a zstd instance over an earlier gzip one of the same rank', () => {
      const index = list(
        OCI_INDEX,
        entry('a', p('linux', 'amd64')),
        entry('b', p('linux', 'amd64'), zstd),
        entry('c', p('linux', 'amd64'), zstd),
      );
      assert.equal(chosen(index, 'linux/amd64'), 'b');
    });
    it('ranks the variant before compression', () => {
      const index = list(
        OCI_INDEX,
        entry('a', p('linux', 'arm64', 'v8'), zstd),
        entry('b', p('linux', 'arm64')),
      );
      assert.equal(chosen(index, 'linux/arm64'), 'b');
    });
    it('takes only the exact string "true" as zstd', () => {
      const index = list(
        OCI_INDEX,
        entry('a', p('linux', 'amd64')),
        entry('b', p('linux', 'amd64'), { [ZSTD_INSTANCE_ANNOTATION]: 'TRUE' }),
      );
      assert.equal(chosen(index, 'linux/amd64'), 'a');
    });
    it('lets an entry without a platform match anything, below every variant', () => {
      const index = list(OCI_INDEX, entry('a'), entry('b', p('linux', 'amd64')));
      assert.equal(chosen(index, 'linux/amd64'), 'b');
      assert.equal(chosen(index, 'linux/s390x'), 'a');
    });
    it('never picks an attestation entry of platform unknown/unknown', () => {
      const index = list(
        OCI_INDEX,
        entry('a', p('unknown', 'unknown'), {
          'vnd.docker.reference.type': 'attestation-manifest',
        }),
        entry('b', p('linux', 'amd64')),
      );
      assert.equal(chosen(index, 'linux/amd64'), 'b');
      assert.equal(chosen(index, 'linux/arm64'), undefined);
    });
    it('compares platform strings exactly', () => {
      const index = list(
        OCI_INDEX,
        entry('a', p('Linux', 'amd64')),
        entry('b', p('linux', 'ARM64')),
      );
      assert.equal(chosen(index, 'linux/amd64'), undefined);
      assert.equal(chosen(index, 'linux/arm64'), undefined);
    });
    it('walks arm variants down, never up', () => {
      const index = list(
        OCI_INDEX,
        entry('a', p('linux', 'arm', 'v8')),
        entry('b', p('linux', 'arm', 'v6')),
      );
      assert.equal(chosen(index, 'linux/arm/v7'), 'b');
      assert.equal(chosen(index, 'linux/arm/v5'), undefined);
      assert.equal(chosen(index, 'linux/arm'), 'a');
    });
  });

  describe('when the list is a Docker v2s2 manifest list', () => {
    it('takes the first entry of the best variant and ignores compression annotations', () => {
      const index = list(
        DOCKER_MANIFEST_LIST,
        entry('a', p('linux', 'amd64')),
        entry('b', p('linux', 'amd64'), zstd),
      );
      assert.equal(chosen(index, 'linux/amd64'), 'a');
    });
    it('never matches an entry without a platform', () => {
      const index = list(DOCKER_MANIFEST_LIST, entry('a'));
      assert.equal(chosen(index, 'linux/amd64'), undefined);
    });
    it('prefers the variant rank over list order', () => {
      const index = list(
        DOCKER_MANIFEST_LIST,
        entry('a', p('linux', 'arm64', 'v8')),
        entry('b', p('linux', 'arm64')),
      );
      assert.equal(chosen(index, 'linux/arm64'), 'b');
      assert.equal(chosen(index, 'linux/arm64/v8'), 'a');
    });
  });
});

describe('assertUnambiguousListKeys', () => {
  const body = (text: string) => Buffer.from(text);
  const ok = `{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"d","size":1,"platform":{"os":"linux","architecture":"amd64"}}]}`;
  it('accepts exact keys', () => {
    assertUnambiguousListKeys(body(ok), 'list');
  });
  for (const [name, text] of [
    ['Platform', ok.replace('"platform"', '"Platform"')],
    ['ARCHITECTURE', ok.replace('"architecture"', '"ARCHITECTURE"')],
    ['digeſt (long s)', ok.replace('"digest"', '"dige\u017ft"')],
    ['Manifests', ok.replace('"manifests"', '"Manifests"')],
    ['oS', ok.replace('"os"', '"oS"')],
  ] as const) {
    it(`refuses a key spelt ${name} (Go reads keys case-insensitively)`, () => {
      assert.throws(
        () => assertUnambiguousListKeys(body(text), 'list'),
        (err) => isVerifyError(err, 'INVALID_CONTENT'),
      );
    });
  }
});

describe('nodePlatform (what CRI-O on a node of the service architecture asks for)', () => {
  const table: [string, string][] = [
    ['x64', 'linux/amd64'],
    ['amd64', 'linux/amd64'],
    ['arm64', 'linux/arm64/v8'],
    ['ppc64', 'linux/ppc64le'],
    ['ppc64le', 'linux/ppc64le'],
    ['s390x', 'linux/s390x'],
    ['riscv64', 'linux/riscv64'],
  ];
  for (const [arch, platform] of table) {
    it(`${arch} → ${platform}`, () => {
      assert.equal(nodePlatform(arch), platform);
    });
  }
  it('on arm64 prefers the v8 entry, as containers/image with the detected variant does', () => {
    const index = list(
      OCI_INDEX,
      entry('a', p('linux', 'arm64')),
      entry('b', p('linux', 'arm64', 'v8')),
    );
    assert.equal(chosen(index, nodePlatform('arm64')), 'b');
  });
});

describe('pullableInstances (--all-platforms)', () => {
  const attestation = entry('c', p('unknown', 'unknown'), {
    'vnd.docker.reference.type': 'attestation-manifest',
  });
  it('leaves out attestation entries and, in a Docker list, entries without a platform', () => {
    const manifests = [entry('a', p('linux', 'amd64')), entry('b'), attestation];
    const names = (index: ImageIndex) => pullableInstances(index).map((m) => m.digest.slice(7, 8));
    assert.deepEqual(names(list(OCI_INDEX, ...manifests)), ['a', 'b']);
    assert.deepEqual(names(list(DOCKER_MANIFEST_LIST, ...manifests)), ['a']);
  });
});
