// The fetch adapter against an in-memory registry: what it asks for, the limits it enforces and
// how registry failures become signature failures (or throw). The real-registry tests in
// verify-image*.test.ts and bundle-verify.test.ts cover the same adapter end to end.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';

import { isVerifyError, VerifyError } from '../../src/errors.js';
import type { ManifestResult, ReferrersResult } from '../../src/registry/client.js';
import type { Descriptor, Manifest } from '../../src/registry/manifest.js';
import { BUNDLE_ARTIFACT_TYPE } from '../../src/sigstore/bundle-verify.js';
import { CERTIFICATE_ANNOTATION } from '../../src/sigstore/certificate.js';
import {
  fetchBundleReferrers,
  fetchSignatureLayers,
  MAX_BUNDLE_REFERRERS,
} from '../../src/sigstore/fetch-signatures.js';
import type { SignatureRegistry } from '../../src/sigstore/fetch-signatures.js';
import { SIMPLE_SIGNING_MEDIA_TYPE } from '../../src/sigstore/payload.js';
import { SIGNATURE_ANNOTATION } from '../../src/sigstore/public-key.js';
import { resolveImage } from '../../src/sigstore/verify-signatures.js';
import type { FetchedBlob } from '../../src/sigstore/verify-signatures.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const TAG = `${DIGEST.replace(':', '-')}.sig`;
const image = resolveImage({
  host: 'registry.example.com',
  path: 'ocp/release',
  digest: DIGEST,
  source: { host: 'mirror.example.com', path: 'ocp/release' },
});

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function descriptor(
  bytes: Uint8Array,
  mediaType: string,
  annotations?: Record<string, string>,
): Descriptor {
  return {
    mediaType,
    digest: sha256(bytes),
    size: bytes.length,
    ...(annotations !== undefined ? { annotations } : {}),
  };
}

function imageManifest(layers: readonly Descriptor[], subject?: string): Manifest {
  const config = Buffer.from('{}');
  return {
    kind: 'image',
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: descriptor(config, 'application/vnd.oci.image.config.v1+json'),
    layers,
    ...(subject !== undefined
      ? {
          subject: {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: subject,
            size: 1,
          },
        }
      : {}),
  };
}

/** An in-memory registry: manifests by reference, blobs by digest, a list of what was asked. */
class MemoryRegistry implements SignatureRegistry {
  readonly requests: string[] = [];
  readonly manifests = new Map<string, Manifest | Error>();
  readonly blobs = new Map<string, Uint8Array | Error>();
  referrers: ReferrersResult = { source: 'api', referrers: [] };

  getManifest(
    repository: { host: string; path: string },
    reference: string,
  ): Promise<ManifestResult> {
    this.requests.push(`manifest ${repository.host}/${repository.path}:${reference}`);
    const manifest = this.manifests.get(reference);
    if (manifest instanceof Error) return Promise.reject(manifest);
    if (manifest === undefined) {
      return Promise.resolve({ status: 'not-found', location: reference, detail: 'unknown tag' });
    }
    const bytes = Buffer.from(JSON.stringify(manifest));
    return Promise.resolve({
      status: 'found',
      digest: sha256(bytes),
      mediaType: manifest.mediaType,
      bytes,
      manifest,
      location: reference,
    });
  }

  getBlob(
    _repository: { host: string; path: string },
    blob: { readonly digest: string },
  ): Promise<Uint8Array> {
    this.requests.push(`blob ${blob.digest}`);
    const found = this.blobs.get(blob.digest);
    if (found instanceof Error) return Promise.reject(found);
    if (found === undefined) return Promise.reject(new VerifyError('BLOB_NOT_FOUND', 'no blob'));
    return Promise.resolve(found);
  }

  getReferrers(): Promise<ReferrersResult> {
    this.requests.push('referrers');
    return Promise.resolve(this.referrers);
  }

  /** A `.sig` manifest holding these layers, each blob stored (or failing) as given. */
  sign(...layers: readonly { bytes: Buffer; descriptor: Descriptor; error?: Error }[]): void {
    this.manifests.set(TAG, imageManifest(layers.map((l) => l.descriptor)));
    for (const layer of layers) this.blobs.set(layer.descriptor.digest, layer.error ?? layer.bytes);
  }
}

function layer(
  text: string,
  annotations: Record<string, string>,
  mediaType = SIMPLE_SIGNING_MEDIA_TYPE,
) {
  const bytes = Buffer.from(text);
  return { bytes, descriptor: descriptor(bytes, mediaType, annotations) };
}

const SIGNED = { [SIGNATURE_ANNOTATION]: 'c2lnbmF0dXJl' };

function failure(blob: FetchedBlob | undefined): VerifyError | undefined {
  return blob?.status === 'failed' ? blob.error : undefined;
}

describe('fetchSignatureLayers', () => {
  const signal = AbortSignal.timeout(5_000);

  it('reads the .sig manifest from the source repository, and only the payloads worth reading', async () => {
    const registry = new MemoryRegistry();
    const signed = layer('one', SIGNED);
    const unsignedLayer = layer('two', {});
    const other = layer('three', SIGNED, 'text/plain');
    registry.sign(signed, unsignedLayer, other);
    const fetched = await fetchSignatureLayers(registry, image, {
      signal,
      requiredAnnotations: [SIGNATURE_ANNOTATION],
    });
    assert.equal(fetched.kind, 'found');
    assert.deepEqual(registry.requests, [
      `manifest mirror.example.com/ocp/release:${TAG}`,
      `blob ${signed.descriptor.digest}`,
    ]);
    assert.ok(fetched.kind === 'found');
    assert.deepEqual(
      fetched.signatures.map((s) => [s.mediaType, s.payload?.status]),
      [
        [SIMPLE_SIGNING_MEDIA_TYPE, 'fetched'],
        [SIMPLE_SIGNING_MEDIA_TYPE, undefined],
        ['text/plain', undefined],
      ],
    );
    assert.equal(fetched.location.tag, TAG);
  });

  it('leaves a layer unread when an annotation the trust needs is missing', async () => {
    const registry = new MemoryRegistry();
    registry.sign(layer('one', SIGNED));
    const fetched = await fetchSignatureLayers(registry, image, {
      signal,
      requiredAnnotations: [SIGNATURE_ANNOTATION, CERTIFICATE_ANNOTATION],
    });
    assert.ok(fetched.kind === 'found');
    assert.equal(fetched.signatures[0]?.payload, undefined);
    assert.equal(registry.requests.length, 1);
  });

  for (const [registryCode, code] of [
    ['OVERSIZE', 'PAYLOAD_OVERSIZE'],
    ['DIGEST_MISMATCH', 'PAYLOAD_UNAVAILABLE'],
    ['BLOB_NOT_FOUND', 'PAYLOAD_UNAVAILABLE'],
  ] as const) {
    it(`records a registry ${registryCode} as the layer's ${code}`, async () => {
      const registry = new MemoryRegistry();
      registry.sign({
        ...layer('one', SIGNED),
        error: new VerifyError(registryCode, 'the detail'),
      });
      const fetched = await fetchSignatureLayers(registry, image, {
        signal,
        requiredAnnotations: [SIGNATURE_ANNOTATION],
      });
      assert.ok(fetched.kind === 'found');
      const error = failure(fetched.signatures[0]?.payload);
      assert.equal(error?.code, code);
      assert.equal(error.message, 'the detail');
    });
  }

  it('throws a transport failure rather than taking it for a bad signature', async () => {
    const registry = new MemoryRegistry();
    registry.sign({ ...layer('one', SIGNED), error: new VerifyError('UNAUTHORIZED', 'denied') });
    await assert.rejects(
      fetchSignatureLayers(registry, image, { signal, requiredAnnotations: [] }),
      (err) => isVerifyError(err, 'UNAUTHORIZED'),
    );
  });

  it('is unsigned without a .sig tag, and refuses an index or too many layers', async () => {
    const registry = new MemoryRegistry();
    const options = { signal, requiredAnnotations: [] };
    const unsigned = await fetchSignatureLayers(registry, image, options);
    assert.deepEqual([unsigned.kind, unsigned.location], ['unsigned', { tag: TAG }]);
    registry.manifests.set(TAG, {
      kind: 'index',
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [],
    });
    const index = await fetchSignatureLayers(registry, image, options);
    assert.ok(index.kind === 'refused');
    assert.equal(index.code, 'INVALID_SIGNATURE_MANIFEST');
    assert.ok(index.location.digest?.startsWith('sha256:'));
    registry.manifests.set(TAG, new VerifyError('TOO_MANY_LAYERS', 'over'));
    const many = await fetchSignatureLayers(registry, image, { ...options, maxLayers: 4 });
    assert.ok(many.kind === 'refused');
    assert.deepEqual(
      [many.code, many.message],
      ['TOO_MANY_SIGNATURES', `the signature manifest ${TAG} has more than 4 layers`],
    );
  });

  it('stops with ABORTED between layers once the signal fires', async () => {
    const registry = new MemoryRegistry();
    const controller = new AbortController();
    registry.sign(layer('one', SIGNED), layer('two', SIGNED));
    const getBlob = registry.getBlob.bind(registry);
    registry.getBlob = async (...args) => {
      controller.abort();
      return getBlob(...args);
    };
    await assert.rejects(
      fetchSignatureLayers(registry, image, {
        signal: controller.signal,
        requiredAnnotations: [],
      }),
      (err) =>
        isVerifyError(err, 'ABORTED') && err.message === 'signature verification was aborted',
    );
    assert.equal(registry.requests.filter((r) => r.startsWith('blob')).length, 1);
  });
});

describe('fetchBundleReferrers', () => {
  const signal = AbortSignal.timeout(5_000);
  const bundleBytes = Buffer.from('{"bundle":true}');
  const bundleLayer = descriptor(bundleBytes, BUNDLE_ARTIFACT_TYPE);

  /** A registry listing one referrer per manifest given, each stored under its digest. */
  function withReferrers(...manifests: Manifest[]): MemoryRegistry {
    const registry = new MemoryRegistry();
    registry.blobs.set(bundleLayer.digest, bundleBytes);
    registry.referrers = {
      source: 'tag',
      referrers: manifests.map((manifest, i) => {
        const digest = `sha256:${String(i).repeat(64)}`;
        registry.manifests.set(digest, manifest);
        return { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 1 };
      }),
    };
    return registry;
  }

  it('fetches each bundle referrer of this image', async () => {
    const registry = withReferrers(imageManifest([bundleLayer], DIGEST));
    const fetched = await fetchBundleReferrers(registry, image, { signal });
    assert.ok(fetched.kind === 'found');
    assert.deepEqual(fetched.location, { source: 'tag' });
    const [first] = fetched.signatures;
    assert.ok(first?.bundle.status === 'fetched');
    assert.deepEqual(Buffer.from(first.bundle.bytes), bundleBytes);
  });

  it('is unsigned without referrers, and refuses too many unread', async () => {
    const none = await fetchBundleReferrers(withReferrers(), image, { signal });
    assert.deepEqual([none.kind, none.location], ['unsigned', { source: 'tag' }]);
    const many = Array.from({ length: MAX_BUNDLE_REFERRERS + 1 }, () =>
      imageManifest([bundleLayer], DIGEST),
    );
    const registry = withReferrers(...many);
    const refused = await fetchBundleReferrers(registry, image, { signal });
    assert.ok(refused.kind === 'refused');
    assert.equal(refused.code, 'TOO_MANY_BUNDLES');
    assert.deepEqual(registry.requests, ['referrers']);
  });

  for (const [what, manifest, code] of [
    [
      'refers to another image',
      imageManifest([bundleLayer], `sha256:${'cd'.repeat(32)}`),
      'BUNDLE_SUBJECT_MISMATCH',
    ],
    ['refers to nothing', imageManifest([bundleLayer]), 'BUNDLE_SUBJECT_MISMATCH'],
    ['has two layers', imageManifest([bundleLayer, bundleLayer], DIGEST), 'BUNDLE_INVALID'],
    [
      'holds another media type',
      imageManifest([{ ...bundleLayer, mediaType: 'text/plain' }], DIGEST),
      'BUNDLE_INVALID',
    ],
    ['is too large', new VerifyError('OVERSIZE', 'over'), 'BUNDLE_OVERSIZE'],
  ] as const) {
    it(`records a referrer that ${what} as ${code}, reading no bundle`, async () => {
      const registry = withReferrers(imageManifest([bundleLayer], DIGEST));
      const [referrer] = registry.referrers.referrers;
      assert.ok(referrer !== undefined);
      registry.manifests.set(referrer.digest, manifest);
      const fetched = await fetchBundleReferrers(registry, image, { signal });
      assert.ok(fetched.kind === 'found');
      assert.equal(failure(fetched.signatures[0]?.bundle)?.code, code);
      assert.equal(registry.requests.filter((r) => r.startsWith('blob')).length, 0);
    });
  }

  it('records a missing bundle blob as BUNDLE_UNAVAILABLE', async () => {
    const registry = withReferrers(imageManifest([bundleLayer], DIGEST));
    registry.blobs.delete(bundleLayer.digest);
    const fetched = await fetchBundleReferrers(registry, image, { signal });
    assert.ok(fetched.kind === 'found');
    assert.equal(failure(fetched.signatures[0]?.bundle)?.code, 'BUNDLE_UNAVAILABLE');
  });
});
