import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { gzip, makeTar } from '../../testbed/tar-writer.js';
import { parseReleasePullspec } from '../../src/image/pullspec.js';
import { isVerifyError } from '../../src/errors.js';
import { findManifestImages } from '../../src/payload/manifest-images.js';
import { readReleaseMetadata, readReleasePayload } from '../../src/payload/release-image.js';
import type { RegistryClient } from '../../src/registry/client.js';
import { memoryReleaseClient } from '../helpers/memory-release.js';

const RELEASE = `quay.io/openshift-release-dev/ocp-release@sha256:${'a'.repeat(64)}`;
const COMPONENT = `quay.io/ocp/art@sha256:${'b'.repeat(64)}`;
const HIDDEN = `evil.example.com/miner@sha256:${'e'.repeat(64)}`;

const references = JSON.stringify({
  kind: 'ImageStream',
  apiVersion: 'image.openshift.io/v1',
  metadata: { name: '4.17.0' },
  spec: { tags: [{ name: 'etcd', from: { kind: 'DockerImage', name: COMPONENT } }] },
});
const metadata = JSON.stringify({ kind: 'cincinnati-metadata-v0', version: '4.17.0' });

/** A release image served from memory: `layers` lowest first, each a gzip'd tar. */
function memoryRelease(layers: readonly Buffer[]): RegistryClient {
  return memoryReleaseClient(layers).client;
}

const topLayer = gzip(
  makeTar([
    { name: 'release-manifests/', type: 'dir' },
    { name: 'release-manifests/image-references', body: references },
    { name: 'release-manifests/release-metadata', body: metadata },
  ]),
);

describe('readReleasePayload across layers', () => {
  it('reads manifests from every layer, not only the one holding image-references', async () => {
    const lower = gzip(
      makeTar([
        { name: 'release-manifests/', type: 'dir' },
        {
          name: 'release-manifests/0000_50_hidden.yaml',
          body: `kind: Deployment\nmetadata: {name: hidden}\nspec: {template: {spec: {containers: [{name: x, image: "${HIDDEN}"}]}}}\n`,
        },
      ]),
    );
    const [payload] = await readReleasePayload(
      memoryRelease([lower, topLayer]),
      parseReleasePullspec(RELEASE),
      { signal: AbortSignal.timeout(20_000) },
    );
    assert.ok(payload);
    assert.equal(payload.layersRead, 2);
    assert.deepEqual(
      findManifestImages(payload.manifests).map((m) => m.image),
      [HIDDEN],
    );
  });

  it("reads the CVO's own manifests/ directory too (review finding: a Deployment there escaped)", async () => {
    const cvoLayer = gzip(
      makeTar([
        { name: 'manifests/', type: 'dir' },
        {
          name: 'manifests/0000_00_evil.yaml',
          body: `kind: Deployment\nmetadata: {name: evil}\nspec: {template: {spec: {containers: [{name: x, image: "${HIDDEN}"}]}}}\n`,
        },
      ]),
    );
    const [payload] = await readReleasePayload(
      memoryRelease([cvoLayer, topLayer]),
      parseReleasePullspec(RELEASE),
      { signal: AbortSignal.timeout(20_000) },
    );
    assert.ok(payload);
    assert.ok(payload.manifests.has('manifests/0000_00_evil.yaml'));
    assert.deepEqual(
      findManifestImages(payload.manifests).map((m) => m.image),
      [HIDDEN],
    );
  });

  it('refuses a release with more layers than it reads, rather than ignoring the rest', async () => {
    const filler = gzip(makeTar([{ name: 'x', body: 'x' }]));
    await assert.rejects(
      readReleasePayload(
        memoryRelease([...Array.from({ length: 64 }, () => filler), topLayer]),
        parseReleasePullspec(RELEASE),
        { signal: AbortSignal.timeout(20_000) },
      ),
      (err) => isVerifyError(err, 'LAYER_OVERSIZE') && /65 layers/.test(err.message),
    );
  });

  it('stops at the per-release decompression budget, however the bytes are spread over layers', async () => {
    // Highly compressible filler: 3 layers of 8 MiB each, a few KiB compressed.
    const filler = gzip(makeTar([{ name: 'filler', body: Buffer.alloc(8 * 1024 * 1024) }]));
    const client = memoryRelease([filler, filler, filler, topLayer]);
    await assert.rejects(
      readReleasePayload(client, parseReleasePullspec(RELEASE), {
        signal: AbortSignal.timeout(20_000),
        maxReleaseUncompressedBytes: 20 * 1024 * 1024,
      }),
      (err) =>
        isVerifyError(err, 'LAYER_OVERSIZE') &&
        /together \(the per-release budget\)/.test(err.message),
    );
    // Within the budget the same release reads.
    const [payload] = await readReleasePayload(client, parseReleasePullspec(RELEASE), {
      signal: AbortSignal.timeout(20_000),
      maxReleaseUncompressedBytes: 40 * 1024 * 1024,
    });
    assert.equal(payload?.layersRead, 4);
  });
});

describe('readReleaseMetadata (what the CVO needs to name a release)', () => {
  it('reads release-metadata from the top layers without fetching the ones below', async () => {
    // A lower layer that is not gzip at all: reading it would fail.
    const broken = Buffer.from('not a layer');
    const info = await readReleaseMetadata(
      memoryRelease([broken, topLayer]),
      parseReleasePullspec(RELEASE),
      { signal: AbortSignal.timeout(20_000) },
    );
    assert.equal(info.metadata.version, '4.17.0');
    // The whole payload read does reach that layer, and fails on it.
    await assert.rejects(
      readReleasePayload(memoryRelease([broken, topLayer]), parseReleasePullspec(RELEASE), {
        signal: AbortSignal.timeout(20_000),
      }),
    );
  });

  it('refuses image-references and release-metadata naming different releases, as the CVO does', async () => {
    const other = gzip(
      makeTar([
        { name: 'release-manifests/', type: 'dir' },
        { name: 'release-manifests/image-references', body: references },
        {
          name: 'release-manifests/release-metadata',
          body: JSON.stringify({ kind: 'cincinnati-metadata-v0', version: '4.16.3' }),
        },
      ]),
    );
    for (const read of [readReleaseMetadata, readReleasePayload]) {
      await assert.rejects(
        read(memoryRelease([other]), parseReleasePullspec(RELEASE), {
          signal: AbortSignal.timeout(20_000),
        }),
        (err) =>
          isVerifyError(err, 'INVALID_CONTENT') &&
          err.message.endsWith(
            'version from image-references (4.17.0) differs from release-metadata (4.16.3)',
          ),
      );
    }
  });
});
