import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { VerifyError } from '../../src/errors.js';
import {
  parseDigest,
  parsePullspec,
  parseReleasePullspec,
  toStoreDigestPath,
} from '../../src/image/pullspec.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('parsePullspec', () => {
  const cases: { input: string; host: string; path: string; tag?: string; digest?: string }[] = [
    {
      input: `quay.io/openshift-release-dev/ocp-release@${D}`,
      host: 'quay.io',
      path: 'openshift-release-dev/ocp-release',
      digest: D,
    },
    {
      input: 'quay.io/openshift-release-dev/ocp-release:4.17.0-x86_64',
      host: 'quay.io',
      path: 'openshift-release-dev/ocp-release',
      tag: '4.17.0-x86_64',
    },
    {
      input: `localhost:5000/ocp/release:4.17@${D}`,
      host: 'localhost:5000',
      path: 'ocp/release',
      tag: '4.17',
      digest: D,
    },
    { input: `127.0.0.1:5000/release@${D}`, host: '127.0.0.1:5000', path: 'release', digest: D },
    { input: 'busybox', host: 'docker.io', path: 'library/busybox' },
    { input: 'busybox:1.36', host: 'docker.io', path: 'library/busybox', tag: '1.36' },
    { input: 'openshift/origin-cli', host: 'docker.io', path: 'openshift/origin-cli' },
    // Docker Hub spellings normalise as distribution/reference does, so scopes see one name.
    { input: `docker.io/busybox@${D}`, host: 'docker.io', path: 'library/busybox', digest: D },
    {
      input: `index.docker.io/library/busybox@${D}`,
      host: 'docker.io',
      path: 'library/busybox',
      digest: D,
    },
    { input: 'index.docker.io/busybox:1', host: 'docker.io', path: 'library/busybox', tag: '1' },
    { input: 'index.docker.io/ns/repo', host: 'docker.io', path: 'ns/repo' },
    { input: 'Registry/ns/repo', host: 'Registry', path: 'ns/repo' },
    { input: `[::1]:5000/a/b@${D}`, host: '[::1]:5000', path: 'a/b', digest: D },
  ];
  for (const c of cases) {
    it(`parses ${c.input}`, () => {
      const p = parsePullspec(c.input);
      assert.equal(p.host, c.host);
      assert.equal(p.path, c.path);
      assert.equal(p.name, `${c.host}/${c.path}`);
      assert.equal(p.tag, c.tag);
      assert.equal(p.digest, c.digest);
    });
  }

  const invalid = [
    '',
    'Quay.io/Upper/Case',
    'quay.io/a//b',
    'quay.io/a/b:bad tag',
    'quay.io/-a/b',
    'quay.io/a/b:',
    'x'.repeat(5000),
  ];
  for (const input of invalid) {
    it(`rejects ${JSON.stringify(input.slice(0, 30))}`, () => {
      assert.throws(
        () => parsePullspec(input),
        (err: unknown) => err instanceof VerifyError && err.code === 'INVALID_PULLSPEC',
      );
    });
  }
});

describe('parseReleasePullspec', () => {
  it('refuses by-tag pullspecs with the CVO text', () => {
    assert.throws(
      () => parseReleasePullspec('quay.io/openshift-release-dev/ocp-release:4.17.0-x86_64'),
      (err: unknown) =>
        err instanceof VerifyError &&
        err.code === 'NOT_BY_DIGEST' &&
        err.message === 'release images that are not accessed via digest cannot be verified',
    );
  });

  const badDigests = ['sha256:', 'sha256:ABC!', ':abc', 'SHA256:abc', 'sha256:abc/../x', 'sha256'];
  for (const digest of badDigests) {
    it(`refuses malformed digest ${JSON.stringify(digest)} with the CVO text`, () => {
      assert.throws(
        () => parseReleasePullspec(`quay.io/a/b@${digest}`),
        (err: unknown) =>
          err instanceof VerifyError &&
          err.code === 'INVALID_DIGEST' &&
          err.message.startsWith(
            `the provided release image digest has an invalid format: ${JSON.stringify(digest)}`,
          ),
      );
    });
  }

  it('is stricter than the CVO on digest length and case', () => {
    for (const digest of [
      'sha256:abc',
      `sha256:${'A'.repeat(64)}`,
      `md5:${'a'.repeat(32)}`,
      `sha256:${'a'.repeat(65)}`,
    ]) {
      assert.throws(
        () => parseDigest(digest),
        (err: unknown) => err instanceof VerifyError && err.code === 'INVALID_DIGEST',
      );
    }
    assert.equal(parseDigest(`sha512:${'b'.repeat(128)}`), `sha512:${'b'.repeat(128)}`);
  });

  it('returns the digest of a by-digest pullspec', () => {
    assert.equal(parseReleasePullspec(`quay.io/a/b@${D}`).digest, D);
  });

  it('names the store directory sha256=<hex>', () => {
    assert.equal(toStoreDigestPath(D), `sha256=${'a'.repeat(64)}`);
  });
});
