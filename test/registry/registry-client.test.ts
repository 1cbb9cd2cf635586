import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';

import { RegistryClient } from '../../src/registry/client.js';
import type { RegistryRepository } from '../../src/registry/client.js';
import { isVerifyError } from '../../src/errors.js';
import type { RegistryErrorCode } from '../../src/errors.js';
import { DEFAULT_MAX_LAYERS, OCI_INDEX, OCI_MANIFEST } from '../../src/registry/manifest.js';
import {
  findRegistryBinary,
  pushCosignSignature,
  pushImage,
  pushManifest,
  pushReferrer,
  RegistryFront,
  TestRegistry,
} from '../helpers/registry.js';
import type { PushedImage, PushTarget } from '../helpers/registry.js';

const BUNDLE_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const SBOM_TYPE = 'application/spdx+json';
const REPO_PATH = 'cvo-test/release';

const binary = await findRegistryBinary();

async function rejectsWith(promise: Promise<unknown>, code: RegistryErrorCode): Promise<Error> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(isVerifyError(caught), `expected a VerifyError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.area, code === 'ABORTED' ? 'common' : 'registry');
  return caught;
}

describe(
  'RegistryClient against a real docker-registry',
  { skip: 'skip' in binary ? binary.skip : false },
  () => {
    let registry: TestRegistry;
    let target: PushTarget;
    let repo: RegistryRepository;
    let image: PushedImage;
    let client: RegistryClient;
    const signal = (): AbortSignal => AbortSignal.timeout(10_000);

    before(async () => {
      assert.ok('path' in binary);
      registry = await TestRegistry.start(binary.path);
      target = { url: registry.url };
      repo = { host: registry.host, path: REPO_PATH };
      image = await pushImage(target, REPO_PATH, '4.18.0', { layers: 2 });
      client = new RegistryClient();
    });

    after(async () => {
      await client.close();
      await registry.stop();
    });

    describe('when an image is pushed', () => {
      it('reads its manifest back by tag, with the digest of the exact bytes', async () => {
        const result = await client.getManifest(repo, '4.18.0', { signal: signal() });
        assert.equal(result.status, 'found');
        assert.equal(result.digest, image.manifest.digest);
        assert.deepEqual(Buffer.from(result.bytes), Buffer.from(image.manifest.bytes));
        assert.equal(result.mediaType, OCI_MANIFEST);
        assert.equal(result.manifest.kind, 'image');
        assert.deepEqual(
          result.manifest.kind === 'image' && result.manifest.layers.map((l) => l.digest),
          image.layers.map((l) => l.digest),
        );
      });

      it('reads it back by digest', async () => {
        const result = await client.getManifest(repo, image.manifest.digest, {
          signal: signal(),
        });
        assert.equal(result.status, 'found');
        assert.equal(result.digest, image.manifest.digest);
        assert.equal(
          result.manifest.kind === 'image' && result.manifest.config.digest,
          image.config.digest,
        );
      });

      it('reads its blobs, checked against their digests and sizes', async () => {
        for (const [i, layer] of image.layers.entries()) {
          const bytes = await client.getBlob(repo, layer, { signal: signal() });
          assert.deepEqual(Buffer.from(bytes), Buffer.from(image.layerBytes[i]!));
        }
      });

      it('reads a docker-registry index (and tells it from a manifest)', async () => {
        const other = await pushImage(target, REPO_PATH, undefined);
        const index = await pushManifest(
          target,
          REPO_PATH,
          'multi',
          {
            schemaVersion: 2,
            mediaType: OCI_INDEX,
            manifests: [image.manifest, other.manifest].map((m, i) => ({
              mediaType: m.mediaType,
              digest: m.digest,
              size: m.size,
              platform: { architecture: i === 0 ? 'amd64' : 'arm64', os: 'linux' },
            })),
          },
          OCI_INDEX,
        );
        const result = await client.getManifest(repo, 'multi', { signal: signal() });
        assert.equal(result.status, 'found');
        assert.equal(result.digest, index.digest);
        assert.equal(result.manifest.kind, 'index');
        assert.deepEqual(
          result.manifest.kind === 'index' &&
            result.manifest.manifests.map((m) => m.platform?.architecture),
          ['amd64', 'arm64'],
        );
      });
    });

    describe('when the tag, manifest or repository is missing', () => {
      it('reports "not found" as a result, not an error', async () => {
        const missing = [
          client.getManifest(repo, 'no-such-tag', { signal: signal() }),
          client.getManifest(repo, `sha256:${'0'.repeat(64)}`, { signal: signal() }),
          client.getManifest({ ...repo, path: 'cvo-test/absent' }, 'latest', {
            signal: signal(),
          }),
        ];
        for (const result of await Promise.all(missing)) {
          assert.equal(result.status, 'not-found');
          assert.match(result.status === 'not-found' ? result.detail : '', /404/);
        }
      });

      it('treats a missing blob as an error (the registry is broken, not the image unsigned)', async () => {
        const err = await rejectsWith(
          client.getBlob(repo, { digest: `sha256:${'1'.repeat(64)}` }, { signal: signal() }),
          'BLOB_NOT_FOUND',
        );
        assert.equal((err as { code?: string }).code, 'BLOB_NOT_FOUND');
      });
    });

    describe('cosign storage', () => {
      it('finds a legacy signature under sha256-<hex>.sig, and none for an unsigned image', async () => {
        const payload = Buffer.from(
          JSON.stringify({
            critical: {
              identity: { 'docker-reference': `${registry.host}/${REPO_PATH}` },
              image: { 'docker-manifest-digest': image.manifest.digest },
              type: 'cosign container image signature',
            },
            optional: null,
          }),
        );
        await pushCosignSignature(target, REPO_PATH, image.manifest, payload, 'c2lnbmF0dXJl');
        const tag = `${image.manifest.digest.replace(':', '-')}.sig`;
        const signature = await client.getManifest(repo, tag, { signal: signal() });
        assert.equal(signature.status, 'found');
        assert.ok(signature.manifest.kind === 'image');
        const [layer] = signature.manifest.layers;
        assert.equal(layer?.mediaType, 'application/vnd.dev.cosign.simplesigning.v1+json');
        assert.equal(layer.annotations?.['dev.cosignproject.cosign/signature'], 'c2lnbmF0dXJl');
        assert.deepEqual(
          Buffer.from(await client.getBlob(repo, layer, { signal: signal() })),
          payload,
        );

        const unsigned = await pushImage(target, REPO_PATH, 'unsigned');
        const none = await client.getManifest(
          repo,
          `${unsigned.manifest.digest.replace(':', '-')}.sig`,
          { signal: signal() },
        );
        assert.equal(none.status, 'not-found');
      });
    });

    describe('referrers on a registry without the referrers API (distribution 2.8)', () => {
      it('falls back to the sha256-<hex> tag index and filters by artifact type', async () => {
        const subject = await pushImage(target, REPO_PATH, 'with-referrers');
        const bundle = await pushReferrer(
          target,
          REPO_PATH,
          subject.manifest,
          BUNDLE_TYPE,
          Buffer.from('{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}'),
        );
        await pushReferrer(target, REPO_PATH, subject.manifest, SBOM_TYPE, Buffer.from('{}'));

        const bundles = await client.getReferrers(repo, subject.manifest.digest, {
          signal: signal(),
          artifactType: BUNDLE_TYPE,
        });
        assert.equal(bundles.source, 'tag');
        assert.deepEqual(
          bundles.referrers.map((r) => [r.digest, r.artifactType]),
          [[bundle.digest, BUNDLE_TYPE]],
        );
        const all = await client.getReferrers(repo, subject.manifest.digest, { signal: signal() });
        assert.deepEqual(
          all.referrers.map((r) => r.artifactType).sort(),
          [SBOM_TYPE, BUNDLE_TYPE].sort(),
        );

        // The referrer itself, fetched by digest, names its subject.
        const referrer = await client.getManifest(repo, bundle.digest, { signal: signal() });
        assert.equal(
          referrer.status === 'found' && referrer.manifest.subject?.digest,
          subject.manifest.digest,
        );
      });

      it('returns no referrers when neither the API nor the tag exists', async () => {
        const result = await client.getReferrers(repo, image.manifest.digest, { signal: signal() });
        assert.deepEqual(result, { source: 'tag', referrers: [] });
      });
    });

    describe('limits', () => {
      it(`rejects a manifest with more than ${DEFAULT_MAX_LAYERS} layers, and takes a configured limit`, async () => {
        const big = await pushImage(target, REPO_PATH, 'many-layers', {
          layers: DEFAULT_MAX_LAYERS + 1,
          layerSize: 16,
        });
        const err = await rejectsWith(
          client.getManifest(repo, 'many-layers', { signal: signal() }),
          'TOO_MANY_LAYERS',
        );
        assert.equal((err as { code?: string }).code, 'TOO_MANY_LAYERS');
        const exact = await client.getManifest(repo, 'many-layers', {
          signal: signal(),
          maxLayers: DEFAULT_MAX_LAYERS + 1,
        });
        assert.equal(exact.status === 'found' && exact.digest, big.manifest.digest);
        const strict = new RegistryClient({ maxLayers: 1 });
        try {
          await rejectsWith(
            strict.getManifest(repo, '4.18.0', { signal: signal() }),
            'TOO_MANY_LAYERS',
          );
        } finally {
          await strict.close();
        }
      });

      it('rejects a blob over the limit (by Content-Length, and unfetched when its descriptor says so)', async () => {
        const large = await pushImage(target, REPO_PATH, 'large-layer', { layerSize: 64 * 1024 });
        const small = new RegistryClient({ maxBlobBytes: 16 * 1024 });
        try {
          const layer = large.layers[0]!;
          await rejectsWith(
            small.getBlob(repo, { digest: layer.digest }, { signal: signal() }),
            'OVERSIZE',
          );
          await rejectsWith(small.getBlob(repo, layer, { signal: signal() }), 'OVERSIZE');
          const bytes = await small.getBlob(repo, layer, { signal: signal(), maxBytes: 64 * 1024 });
          assert.equal(bytes.length, 64 * 1024);
        } finally {
          await small.close();
        }
      });

      it('rejects a manifest over the limit', async () => {
        const small = new RegistryClient({ maxManifestBytes: 256 });
        try {
          await rejectsWith(small.getManifest(repo, '4.18.0', { signal: signal() }), 'OVERSIZE');
        } finally {
          await small.close();
        }
      });
    });

    describe('through a loopback proxy that tampers with content', () => {
      let front: RegistryFront;
      let proxied: RegistryRepository;

      before(async () => {
        front = await RegistryFront.start(registry.url);
        proxied = { host: front.host, path: REPO_PATH };
      });
      beforeEach(() => front.reset());
      after(() => front.close());

      /** Appends a space to manifest bodies: still valid JSON, another digest. */
      const tamperManifests = (): void => {
        front.handler = async (req, res, self) => {
          if (!(req.url ?? '').includes('/manifests/')) return false;
          const upstream = await self.forward(req);
          RegistryFront.relay(res, upstream, Buffer.concat([upstream.body, Buffer.from(' ')]));
          return true;
        };
      };

      it('passes content through unchanged when nothing is tampered with', async () => {
        const result = await client.getManifest(proxied, image.manifest.digest, {
          signal: signal(),
        });
        assert.equal(result.status, 'found');
      });

      it('rejects a manifest fetched by digest whose body hashes to another digest', async () => {
        tamperManifests();
        const err = await rejectsWith(
          client.getManifest(proxied, image.manifest.digest, { signal: signal() }),
          'DIGEST_MISMATCH',
        );
        assert.match(err.message, new RegExp(image.manifest.digest));
      });

      it('rejects a manifest fetched by tag whose body contradicts Docker-Content-Digest', async () => {
        tamperManifests();
        await rejectsWith(
          client.getManifest(proxied, '4.18.0', { signal: signal() }),
          'DIGEST_MISMATCH',
        );
      });

      it('rejects a blob whose bytes hash to another digest', async () => {
        front.handler = async (req, res, self) => {
          if (!(req.url ?? '').includes('/blobs/')) return false;
          const upstream = await self.forward(req);
          const body = Buffer.from(upstream.body);
          body[0] = (body[0] ?? 0) ^ 0xff;
          RegistryFront.relay(res, upstream, body);
          return true;
        };
        await rejectsWith(
          client.getBlob(proxied, image.layers[0]!, { signal: signal() }),
          'DIGEST_MISMATCH',
        );
      });
    });
  },
);
