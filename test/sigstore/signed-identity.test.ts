import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { isVerifyError } from '../../src/errors.js';
import {
  formatDockerReference,
  matchesSignedIdentity,
  parseDockerReference,
  validateSignedIdentity,
} from '../../src/sigstore/signed-identity.js';
import type { SignedIdentity } from '../../src/sigstore/signed-identity.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

describe('parseDockerReference', () => {
  const cases: [string, string | undefined][] = [
    ['busybox', 'docker.io/library/busybox'],
    ['busybox:latest', 'docker.io/library/busybox:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox'],
    ['index.docker.io/library/busybox', 'docker.io/library/busybox'],
    ['library/busybox', 'docker.io/library/busybox'],
    ['quay.io/ocp/release:4.18', 'quay.io/ocp/release:4.18'],
    [`quay.io/ocp/release@${D1}`, `quay.io/ocp/release@${D1}`],
    [`quay.io/ocp/release:4.18@${D1}`, `quay.io/ocp/release:4.18@${D1}`],
    ['localhost:5000/a/b:t', 'localhost:5000/a/b:t'],
    ['localhost/a', 'localhost/a'],
    ['Quay.IO/a', 'Quay.IO/a'],
    ['quay.io/A/b', undefined],
    ['quay.io/a:b:c', undefined],
    [`quay.io/a@sha256:${'1'.repeat(63)}`, undefined],
    ['1'.repeat(64), undefined],
    ['', undefined],
    [`quay.io/${'a'.repeat(250)}`, undefined],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input.slice(0, 60))} → ${String(expected)}`, () => {
      const ref = parseDockerReference(input);
      assert.equal(ref === undefined ? undefined : formatDockerReference(ref), expected);
    });
  }
});

describe('matchesSignedIdentity', () => {
  const byDigest = (name: string) => parseDockerReference(`${name}@${D1}`)!;
  const byTag = (name: string) => parseDockerReference(name)!;
  const def: SignedIdentity = { type: 'matchRepoDigestOrExact' };
  const cases: [string, SignedIdentity, ReturnType<typeof byTag>, string, boolean][] = [
    // MatchRepoDigestOrExact, image by digest: same repository, tag/digest in the claim needed.
    ['digest image, same repo with tag', def, byDigest('quay.io/a/b'), 'quay.io/a/b:4.18', true],
    [
      'digest image, same repo with digest',
      def,
      byDigest('quay.io/a/b'),
      `quay.io/a/b@${D2}`,
      true,
    ],
    ['digest image, name-only claim', def, byDigest('quay.io/a/b'), 'quay.io/a/b', false],
    ['digest image, other repo', def, byDigest('quay.io/a/b'), 'quay.io/a/c:1', false],
    ['digest image, other host', def, byDigest('quay.io/a/b'), 'example.com/a/b:1', false],
    ['digest image, port differs', def, byDigest('reg:5000/a/b'), 'reg/a/b:1', false],
    [
      'digest image, docker.io normalised',
      def,
      byDigest('busybox'),
      'index.docker.io/library/busybox:1',
      true,
    ],
    ['digest image, unparsable claim', def, byDigest('quay.io/a/b'), 'quay.io/a/b:x:y', false],
    // MatchRepoDigestOrExact, tagged image: exact.
    ['tag image, same tag', def, byTag('quay.io/a/b:1'), 'quay.io/a/b:1', true],
    ['tag image, tag substituted', def, byTag('quay.io/a/b:1'), 'quay.io/a/b:2', false],
    ['tag image, digest claim', def, byTag('quay.io/a/b:1'), `quay.io/a/b@${D1}`, false],
    ['tag image, docker hub short', def, byTag('busybox:1'), 'docker.io/library/busybox:1', true],
    ['name-only image', def, byTag('quay.io/a/b'), 'quay.io/a/b:1', false],
    // MatchRepository.
    [
      'repository, name-only claim',
      { type: 'matchRepository' },
      byDigest('quay.io/a/b'),
      'quay.io/a/b',
      true,
    ],
    [
      'repository, other repo',
      { type: 'matchRepository' },
      byDigest('quay.io/a/b'),
      'quay.io/a/bc',
      false,
    ],
    // MatchExact.
    [
      'exact, digest-only image',
      { type: 'matchExact' },
      byDigest('quay.io/a/b'),
      `quay.io/a/b@${D1}`,
      true,
    ],
    ['exact, tag mismatch', { type: 'matchExact' }, byTag('quay.io/a/b:1'), 'quay.io/a/b:2', false],
    // ExactRepository.
    [
      'exactRepository match',
      { type: 'exactRepository', dockerRepository: 'quay.io/sig/repo' },
      byDigest('mirror.example/x'),
      'quay.io/sig/repo:1',
      true,
    ],
    [
      'exactRepository other',
      { type: 'exactRepository', dockerRepository: 'quay.io/sig/repo' },
      byDigest('quay.io/sig/repo'),
      'quay.io/sig/other:1',
      false,
    ],
    [
      'exactRepository docker hub',
      { type: 'exactRepository', dockerRepository: 'busybox' },
      byDigest('x.io/y'),
      'docker.io/library/busybox',
      true,
    ],
    // ExactReference.
    [
      'exactReference match',
      { type: 'exactReference', dockerReference: 'quay.io/s/r:1' },
      byDigest('x.io/y'),
      'quay.io/s/r:1',
      true,
    ],
    [
      'exactReference other tag',
      { type: 'exactReference', dockerReference: 'quay.io/s/r:1' },
      byDigest('x.io/y'),
      'quay.io/s/r:2',
      false,
    ],
    // RemapIdentity.
    [
      'remap, whole segment',
      remapId('mirror.example/ocp', 'quay.io/openshift'),
      byDigest('mirror.example/ocp/release'),
      'quay.io/openshift/release:4.18',
      true,
    ],
    [
      'remap, exact prefix repo',
      remapId('mirror.example/ocp/release', 'quay.io/openshift/release'),
      byDigest('mirror.example/ocp/release'),
      'quay.io/openshift/release:1',
      true,
    ],
    [
      'remap, partial segment',
      remapId('mirror.example/oc', 'quay.io/openshift'),
      byDigest('mirror.example/ocp/release'),
      'quay.io/openshiftp/release:1',
      false,
    ],
    [
      'remap, partial segment not remapped',
      remapId('mirror.example/oc', 'quay.io/openshift'),
      byDigest('mirror.example/ocp/release'),
      'mirror.example/ocp/release:1',
      true,
    ],
    [
      'remap, host prefix vs port',
      remapId('mirror.example', 'quay.io'),
      byDigest('mirror.example:5000/ocp/release'),
      'quay.io:5000/ocp/release:1',
      false,
    ],
    [
      'remap, host prefix',
      remapId('mirror.example:5000', 'quay.io'),
      byDigest('mirror.example:5000/ocp/release'),
      'quay.io/ocp/release:1',
      true,
    ],
    [
      'remap, unmatched prefix: default rules',
      remapId('other.example', 'quay.io'),
      byDigest('mirror.example/a'),
      'quay.io/a:1',
      false,
    ],
    [
      'remap, non-canonical result',
      remapId('mirror.example/x', 'docker.io'),
      byDigest('mirror.example/x/busybox'),
      'docker.io/library/busybox:1',
      false,
    ],
    [
      'remap, tagged image exact',
      remapId('mirror.example', 'quay.io'),
      byTag('mirror.example/a/b:1'),
      'quay.io/a/b:1',
      true,
    ],
    [
      'remap, tagged image tag swapped',
      remapId('mirror.example', 'quay.io'),
      byTag('mirror.example/a/b:1'),
      'quay.io/a/b:2',
      false,
    ],
    [
      'remap, name-only claim',
      remapId('mirror.example', 'quay.io'),
      byDigest('mirror.example/a/b'),
      'quay.io/a/b',
      false,
    ],
  ];
  for (const [name, identity, image, claim, expected] of cases) {
    it(`${identity.type}: ${name}`, () => {
      validateSignedIdentity(identity);
      assert.equal(matchesSignedIdentity(identity, image, claim), expected);
    });
  }
});

function remapId(prefix: string, signedPrefix: string): SignedIdentity {
  return { type: 'remapIdentity', prefix, signedPrefix };
}

describe('validateSignedIdentity', () => {
  const invalid: SignedIdentity[] = [
    { type: 'exactReference', dockerReference: 'quay.io/a/b' },
    { type: 'exactReference', dockerReference: 'quay.io/A' },
    { type: 'exactRepository', dockerRepository: 'quay.io/A/b' },
    { type: 'remapIdentity', prefix: 'quay.io/a:tag', signedPrefix: 'quay.io' },
    { type: 'remapIdentity', prefix: 'quay.io', signedPrefix: `quay.io/a@${D1}` },
    { type: 'remapIdentity', prefix: '', signedPrefix: 'quay.io' },
  ];
  for (const identity of invalid) {
    it(`rejects ${JSON.stringify(identity)}`, () => {
      assert.throws(
        () => validateSignedIdentity(identity),
        (err) => isVerifyError(err, 'INVALID_POLICY'),
      );
    });
  }
});
