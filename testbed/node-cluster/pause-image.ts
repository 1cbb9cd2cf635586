import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { makeTar } from '../tar-writer.js';

/** The sandbox image the test node's containerd runs as every pod's first container. */
export const PAUSE_IMAGE = 'localhost/cvo-testbed/pause:1';

const SOURCE = new URL('./pause.c', import.meta.url);

/**
 * Builds the pause program (testbed/node-cluster/pause.c, static, stripped) and writes it as a
 * one-layer OCI image archive that `ctr images import` names {@link PAUSE_IMAGE}. Cached under
 * `cacheDir` by the hash of the source; a half-written archive is never used.
 */
export async function ensurePauseImage(cacheDir: string): Promise<string> {
  const source = await readFile(SOURCE);
  const key = createHash('sha256').update(source).update(PAUSE_IMAGE).digest('hex').slice(0, 16);
  const archive = join(cacheDir, `pause-${key}.oci.tar`);
  if (
    await access(archive).then(
      () => true,
      () => false,
    )
  )
    return archive;
  await mkdir(cacheDir, { recursive: true });
  const binary = join(cacheDir, `pause-${key}.${process.pid}`);
  try {
    await compile(SOURCE.pathname, binary);
    const layer = makeTar([
      { name: 'pause', body: await readFile(binary), mode: 0o755 },
      { name: 'etc/', type: 'dir' },
    ]);
    const staging = `${archive}.${process.pid}`;
    await writeFile(staging, ociArchive(layer, PAUSE_IMAGE));
    await rename(staging, archive);
    return archive;
  } finally {
    await rm(binary, { force: true });
  }
}

/** An OCI image layout, as one uncompressed tar, holding one image of one layer. */
export function ociArchive(layer: Buffer, name: string): Buffer {
  const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Entrypoint: ['/pause'], User: '65535:65535' },
      rootfs: { type: 'layers', diff_ids: [sha(layer)] },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha(config),
        size: config.length,
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar',
          digest: sha(layer),
          size: layer.length,
        },
      ],
    }),
  );
  const tag = name.slice(name.lastIndexOf(':') + 1);
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: sha(manifest),
        size: manifest.length,
        platform: { architecture: 'amd64', os: 'linux' },
        annotations: {
          'io.containerd.image.name': name,
          'org.opencontainers.image.ref.name': tag,
        },
      },
    ],
  };
  const blob = (b: Buffer): { name: string; body: Buffer } => ({
    name: `blobs/sha256/${sha(b).slice('sha256:'.length)}`,
    body: b,
  });
  return makeTar([
    { name: 'oci-layout', body: JSON.stringify({ imageLayoutVersion: '1.0.0' }) },
    { name: 'index.json', body: JSON.stringify(index) },
    { name: 'blobs/', type: 'dir' },
    { name: 'blobs/sha256/', type: 'dir' },
    blob(config),
    blob(manifest),
    blob(layer),
  ]);
}

function compile(source: string, output: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('gcc', ['-static', '-Os', '-s', '-o', output, source], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => {
      reject(new Error(`gcc (to build the pause image) could not start: ${e.message}`));
    });
    child.on('exit', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`gcc -static ${source} failed (${String(code)}): ${err.slice(-1500)}`));
    });
  });
}
