import { createHash } from 'node:crypto';

import type { RegistryClient } from '../../src/registry/client.js';
import type { Descriptor, ImageManifest } from '../../src/registry/manifest.js';
import { chunked } from './tar.js';

/** A layer blob with the media type it is served under. */
export interface MemoryLayer {
  readonly blob: Buffer;
  readonly mediaType?: string;
}

/**
 * A registry client serving one release image from memory (`layers` lowest first, manifest by
 * any reference), with blobs streamed in `chunkSize` pieces: for tests of readReleasePayload that
 * need layer shapes a registry would refuse, or no registry at all.
 */
export function memoryReleaseClient(
  layers: readonly (Buffer | MemoryLayer)[],
  chunkSize = 64 * 1024,
): { client: RegistryClient; descriptors: Descriptor[] } {
  const blobs = new Map<string, Buffer>();
  const descriptors: Descriptor[] = layers.map((layer) => {
    const { blob, mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip' }: MemoryLayer =
      Buffer.isBuffer(layer) ? { blob: layer } : layer;
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
    blobs.set(digest, blob);
    return { mediaType, digest, size: blob.length };
  });
  const manifest = {
    kind: 'image',
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: `sha256:${'c'.repeat(64)}`,
      size: 2,
    },
    layers: descriptors,
  } as unknown as ImageManifest;
  const client = {
    getManifest: (_repo: unknown, reference: string) =>
      Promise.resolve({
        status: 'found',
        digest: reference,
        mediaType: manifest.mediaType,
        bytes: new Uint8Array(),
        manifest,
        location: 'memory',
      }),
    streamBlob: async (
      _repo: unknown,
      descriptor: { digest: string },
      options: { consume: (chunks: AsyncIterable<Uint8Array>) => Promise<void> },
    ) => {
      const blob = blobs.get(descriptor.digest);
      if (blob === undefined) throw new Error(`no blob ${descriptor.digest}`);
      await options.consume(chunked(blob, chunkSize));
    },
  } as unknown as RegistryClient;
  return { client, descriptors };
}
