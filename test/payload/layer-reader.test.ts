import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { zstdCompressSync } from 'node:zlib';

import { isVerifyError } from '../../src/errors.js';
import type { PayloadErrorCode, VerifyError } from '../../src/errors.js';
import { compressionOf, extractFromLayer } from '../../src/payload/layer-reader.js';
import type {
  ExtractLimits,
  ExtractResult,
  LayerCompression,
} from '../../src/payload/layer-reader.js';
import { chunked, gzip, makeTar, paxRecords, zstd } from '../helpers/tar.js';
import type { TarEntryInput } from '../helpers/tar.js';

const OCI_TAR = 'application/vnd.oci.image.layer.v1.tar';
const OCI_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const OCI_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
const DOCKER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

const REFS = 'release-manifests/image-references';
const META = 'release-manifests/release-metadata';
const WANTED = [REFS, META] as const;

const MEDIA_TYPE: Readonly<Record<LayerCompression, string>> = {
  none: OCI_TAR,
  gzip: OCI_GZIP,
  zstd: OCI_ZSTD,
};

function compress(tar: Buffer, compression: LayerCompression): Buffer {
  switch (compression) {
    case 'none':
      return tar;
    case 'gzip':
      return gzip(tar);
    case 'zstd':
      return zstd(tar);
  }
}

interface ExtractInput {
  readonly mediaType?: string;
  readonly wanted?: readonly string[];
  readonly limits?: ExtractLimits;
  readonly signal?: AbortSignal;
}

function extract(
  source: AsyncIterable<Uint8Array> | Uint8Array,
  input: ExtractInput = {},
): Promise<ExtractResult> {
  return extractFromLayer(source, {
    mediaType: input.mediaType ?? OCI_GZIP,
    wanted: input.wanted ?? WANTED,
    layer: 'layer sha256:test',
    ...(input.limits === undefined ? {} : { limits: input.limits }),
    ...(input.signal === undefined ? {} : { signal: input.signal }),
  });
}

/** Extracts `entries` written as a gzip layer. */
function extractTar(entries: TarEntryInput[], input: ExtractInput = {}): Promise<ExtractResult> {
  return extract(gzip(makeTar(entries)), input);
}

async function rejectsWith(
  promise: Promise<unknown>,
  code: PayloadErrorCode,
  ...mentions: string[]
): Promise<VerifyError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(isVerifyError(caught), `expected a VerifyError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.area, 'payload');
  for (const text of mentions) assert.ok(caught.message.includes(text), caught.message);
  return caught;
}

function text(files: ReadonlyMap<string, Buffer>): Record<string, string> {
  return Object.fromEntries([...files].map(([path, body]) => [path, body.toString()]));
}

/** A layer shaped like a release payload's: a few hundred other entries around the two files. */
function releaseLayer(): TarEntryInput[] {
  const entries: TarEntryInput[] = [
    { name: 'release-manifests/', type: 'dir' },
    { name: 'bin/', type: 'dir' },
  ];
  for (let i = 0; i < 150; i++) {
    entries.push({
      name: `release-manifests/0000_${String(i)}_manifest.yaml`,
      body: `kind: X${String(i)}\n`,
    });
    entries.push({ name: `bin/tool-${String(i)}`, body: Buffer.alloc(i * 37, i) });
  }
  entries.splice(80, 0, { name: REFS, body: '{"kind":"ImageStream"}' });
  entries.splice(200, 0, { name: META, body: '{"version":"4.18.0"}' });
  entries.push({ name: 'bin/sh', type: 'symlink', linkname: 'tool-1' });
  entries.push({ name: 'bin/sh2', type: 'hardlink', linkname: 'bin/tool-2' });
  return entries;
}

/** `data` compressed as one zstd frame per `frameSize` bytes, with skippable frames between. */
function zstdFrames(data: Buffer, frameSize: number): Buffer {
  const skippable = Buffer.alloc(8 + 5);
  skippable.writeUInt32LE(0x184d2a5e, 0);
  skippable.writeUInt32LE(5, 4);
  const frames: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += frameSize) {
    frames.push(zstdCompressSync(data.subarray(offset, offset + frameSize)), skippable);
  }
  return Buffer.concat(frames);
}

describe('compressionOf', () => {
  const table: [mediaType: string, expected: LayerCompression][] = [
    [OCI_TAR, 'none'],
    [OCI_GZIP, 'gzip'],
    [OCI_ZSTD, 'zstd'],
    [DOCKER_GZIP, 'gzip'],
  ];
  for (const [mediaType, expected] of table) {
    it(`${mediaType} → ${expected}`, () => {
      assert.equal(compressionOf(mediaType), expected);
    });
  }

  const unsupported = [
    'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
    'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
    'application/vnd.oci.image.layer.v1.tar+bzip2',
    'application/vnd.oci.image.manifest.v1+json',
    '',
  ];
  for (const mediaType of unsupported) {
    it(`rejects ${JSON.stringify(mediaType)} as LAYER_FORMAT, naming it`, () => {
      assert.throws(
        () => compressionOf(mediaType),
        (err: unknown) =>
          isVerifyError(err, 'LAYER_FORMAT') && err.message.includes(JSON.stringify(mediaType)),
      );
    });
  }
});

describe('extractFromLayer', () => {
  describe('when the layer holds the wanted files', () => {
    for (const compression of ['gzip', 'zstd', 'none'] as const) {
      it(`extracts two files among many (${compression})`, async () => {
        const tar = makeTar(releaseLayer());
        const result = await extract(compress(tar, compression), {
          mediaType: MEDIA_TYPE[compression],
        });
        assert.deepEqual(text(result.files), {
          [REFS]: '{"kind":"ImageStream"}',
          [META]: '{"version":"4.18.0"}',
        });
        assert.deepEqual([...result.whiteouts], []);
        assert.equal(result.entries, 306);
        assert.equal(result.uncompressedBytes, tar.length);
      });
    }

    it('reads the Docker gzip media type', async () => {
      const result = await extract(gzip(makeTar([{ name: REFS, body: 'x' }])), {
        mediaType: DOCKER_GZIP,
      });
      assert.deepEqual(text(result.files), { [REFS]: 'x' });
    });

    it('gives the same result from 7-byte chunks as from one buffer', async () => {
      for (const compression of ['gzip', 'zstd', 'none'] as const) {
        const layer = compress(makeTar(releaseLayer()), compression);
        const mediaType = MEDIA_TYPE[compression];
        const whole = await extract(layer, { mediaType });
        const streamed = await extract(chunked(layer, 7), { mediaType });
        assert.deepEqual(streamed, whole, compression);
      }
    });

    it('reads a zstd layer of many frames with skippable frames between them', async () => {
      const tar = makeTar(releaseLayer());
      const layer = zstdFrames(tar, 1000);
      const expected = await extract(tar, { mediaType: OCI_TAR });
      assert.deepEqual(await extract(layer, { mediaType: OCI_ZSTD }), expected);
      assert.deepEqual(await extract(chunked(layer, 7), { mediaType: OCI_ZSTD }), expected);
      assert.deepEqual(await extract(chunked(layer, 4099), { mediaType: OCI_ZSTD }), expected);
    });

    it('reads a gzip layer of several members', async () => {
      const tar = makeTar(releaseLayer());
      const layer = Buffer.concat([gzip(tar.subarray(0, 3000)), gzip(tar.subarray(3000))]);
      const result = await extract(layer);
      assert.equal(result.files.get(META)?.toString(), '{"version":"4.18.0"}');
      assert.equal(result.uncompressedBytes, tar.length);
    });

    it('normalises ./ prefixes, doubled slashes and . components', async () => {
      const result = await extractTar([
        { name: './', type: 'dir' },
        { name: './release-manifests/', type: 'dir' },
        { name: `./${REFS}`, body: 'refs' },
        { name: 'release-manifests//./release-metadata', body: 'meta' },
      ]);
      assert.deepEqual(text(result.files), { [REFS]: 'refs', [META]: 'meta' });
    });

    it('keys files by the wanted path as given', async () => {
      const result = await extractTar([{ name: REFS, body: 'refs' }], { wanted: [`./${REFS}`] });
      assert.deepEqual(text(result.files), { [`./${REFS}`]: 'refs' });
    });

    it('keeps the last of duplicate entries, as extraction would', async () => {
      const result = await extractTar([
        { name: REFS, body: 'first' },
        { name: META, body: 'meta' },
        { name: `./${REFS}`, body: 'second, longer' },
        { name: 'other', body: 'x' },
      ]);
      assert.deepEqual(text(result.files), { [REFS]: 'second, longer', [META]: 'meta' });
    });

    it('reads names over 100 bytes from GNU long-name headers', async () => {
      const long = `release-manifests/${'d'.repeat(120)}/image-references`;
      const target = `${'t'.repeat(150)}/x`;
      const result = await extractTar(
        [
          { name: long, body: 'gnu', longName: 'gnu' },
          { name: 'link', type: 'symlink', linkname: target, longName: 'gnu' },
          { name: 'short', body: 'short' },
        ],
        { wanted: [long, 'short'] },
      );
      assert.deepEqual(text(result.files), { [long]: 'gnu', short: 'short' });
    });

    it('reads names over 100 bytes from PAX path records', async () => {
      const long = `release-manifests/${'p'.repeat(200)}/release-metadata`;
      const result = await extractTar(
        [
          { name: long, body: 'pax', longName: 'pax' },
          { name: 'link', type: 'symlink', linkname: 'l'.repeat(300), longName: 'pax' },
        ],
        { wanted: [long] },
      );
      assert.deepEqual(text(result.files), { [long]: 'pax' });
    });

    it('lets a PAX path override the header name', async () => {
      const result = await extractTar([
        { name: 'decoy', body: 'from pax', pax: { path: REFS, mtime: '1.5' } },
        { name: REFS, body: 'plain', pax: { path: 'elsewhere' } },
      ]);
      assert.deepEqual(text(result.files), { [REFS]: 'from pax' });
    });

    it('honours a PAX size record and a base-256 size field', async () => {
      const result = await extractTar([
        { name: REFS, body: 'refs', size: 0, pax: { size: '4' } },
        { name: META, body: 'meta', base256Size: true },
      ]);
      assert.deepEqual(text(result.files), { [REFS]: 'refs', [META]: 'meta' });
    });

    it('ignores global PAX headers that change no entry, devices and FIFOs', async () => {
      const result = await extractTar([
        { name: 'pax_global_header', typeflag: 'g', body: paxRecords({ comment: 'git' }) },
        { name: 'dev/null', typeflag: '3' },
        { name: 'fifo', typeflag: '6' },
        { name: REFS, body: 'refs' },
      ]);
      assert.deepEqual(text(result.files), { [REFS]: 'refs' });
      assert.equal(result.entries, 4);
    });

    it("joins a STAR header's 131-byte prefix, as Go's archive/tar does", async () => {
      // A full 131-byte prefix runs into STAR's access time: read as ustar (155 bytes) it names
      // `release-manifests<digits>/image-references`, while Go extracts the real one.
      const prefix = `${'./'.repeat(57)}release-manifests`;
      assert.equal(prefix.length, 131);
      const result = await extractTar([
        { name: 'image-references', prefix, headerFormat: 'star', body: 'refs' },
      ]);
      assert.deepEqual(text(result.files), { [REFS]: 'refs' });
    });

    it('reads the full 155-byte prefix of a ustar header', async () => {
      const prefix = `${'d'.repeat(140)}/release-manifests`.slice(-150);
      const result = await extractTar([{ name: 'x', prefix, body: 'x' }], {
        wanted: [`${prefix}/x`],
      });
      assert.deepEqual(text(result.files), { [`${prefix}/x`]: 'x' });
    });

    it('accepts an archive without its end-of-archive marker', async () => {
      const result = await extract(
        gzip(makeTar([{ name: REFS, body: 'refs' }], { endMarker: false })),
      );
      assert.deepEqual(text(result.files), { [REFS]: 'refs' });
    });

    it('returns no files for a layer without them, and accepts an empty tar', async () => {
      const result = await extractTar([{ name: 'etc/os-release', body: 'ID=rhel' }]);
      assert.equal(result.files.size, 0);
      const empty = await extract(Buffer.alloc(0), { mediaType: OCI_TAR });
      assert.deepEqual(
        { ...empty, files: [...empty.files] },
        {
          files: [],
          whiteouts: new Set(),
          entries: 0,
          uncompressedBytes: 0,
        },
      );
    });
  });

  describe('when the layer has whiteouts', () => {
    it('reports a .wh. file for a wanted path', async () => {
      const result = await extractTar([
        { name: 'release-manifests/.wh.image-references', body: '' },
        { name: 'release-manifests/.wh.unrelated', body: '' },
      ]);
      assert.deepEqual([...result.whiteouts], [REFS]);
      assert.equal(result.files.size, 0);
    });

    it('reports an opaque whiteout in a directory above wanted paths', async () => {
      const opaque = await extractTar([{ name: 'release-manifests/.wh..wh..opq', body: '' }]);
      assert.deepEqual([...opaque.whiteouts].sort(), [REFS, META]);
      const elsewhere = await extractTar([{ name: 'etc/.wh..wh..opq', body: '' }]);
      assert.deepEqual([...elsewhere.whiteouts], []);
    });

    it('reports the whiteout of a directory above wanted paths', async () => {
      const result = await extractTar([{ name: './.wh.release-manifests', body: '' }]);
      assert.deepEqual([...result.whiteouts].sort(), [REFS, META]);
    });

    for (const [what, whiteout] of [
      ['its own whiteout', 'release-manifests/.wh.image-references'],
      ['a whiteout of its directory', '.wh.release-manifests'],
      ['an opaque whiteout above its directory', '.wh..wh..opq'],
    ] as const) {
      it(`rejects a wanted file followed in the same layer by ${what}`, async () => {
        // containers/storage deletes the file it just wrote; the OCI spec says it stays.
        const tar = makeTar([
          { name: REFS, body: 'refs' },
          { name: whiteout, body: '' },
        ]);
        const err = await rejectsWith(extract(gzip(tar)), 'INVALID_CONTENT');
        assert.match(
          err.message,
          /follows "release-manifests\/image-references" in the same layer/,
        );
      });
    }

    it('reports a whiteout and a file of the same layer both (the whiteout is for lower layers)', async () => {
      const result = await extractTar([
        { name: 'release-manifests/.wh..wh..opq', body: '' },
        { name: REFS, body: 'new' },
      ]);
      assert.deepEqual(text(result.files), { [REFS]: 'new' });
      assert.deepEqual([...result.whiteouts].sort(), [REFS, META]);
    });
  });

  describe('when a wanted directory is given', () => {
    const dirInput = { wanted: WANTED, wantedDirectory: 'release-manifests' };

    it('keeps the regular files directly in it, keyed by normalised path', async () => {
      const result = await extractDir([
        { name: './release-manifests/', type: 'dir' },
        { name: './release-manifests/0000_a.yaml', body: 'a' },
        { name: 'release-manifests/0000_b.yaml', body: 'b' },
        { name: 'release-manifests/sub/', type: 'dir' },
        { name: 'release-manifests/sub/deep.yaml', body: 'skipped' },
        { name: 'release-manifests-other/x.yaml', body: 'skipped' },
        { name: REFS, body: 'refs' },
      ]);
      assert.deepEqual(text(result.files), {
        'release-manifests/0000_a.yaml': 'a',
        'release-manifests/0000_b.yaml': 'b',
        [REFS]: 'refs',
      });
    });

    it('rejects a link in it, or a link in its place, as INVALID_CONTENT', async () => {
      await rejectsWith(
        extractDir([{ name: 'release-manifests/x.yaml', type: 'symlink', linkname: 'y.yaml' }]),
        'INVALID_CONTENT',
        '"release-manifests/x.yaml"',
      );
      await rejectsWith(
        extractDir([{ name: 'release-manifests', type: 'symlink', linkname: 'etc' }]),
        'INVALID_CONTENT',
        '"release-manifests"',
      );
    });

    it('reports deleted files, and the directory itself when all of it is deleted', async () => {
      const one = await extractDir([{ name: 'release-manifests/.wh.x.yaml', body: '' }]);
      assert.deepEqual([...one.whiteouts], ['release-manifests/x.yaml']);
      const opaque = await extractDir([{ name: 'release-manifests/.wh..wh..opq', body: '' }]);
      assert.deepEqual([...opaque.whiteouts].sort(), ['release-manifests', REFS, META]);
      const removed = await extractDir([{ name: '.wh.release-manifests', body: '' }]);
      assert.deepEqual([...removed.whiteouts].sort(), ['release-manifests', REFS, META]);
    });

    it('rejects its files together over maxDirectoryBytes', async () => {
      const entries = [
        { name: 'release-manifests/a.yaml', body: 'x'.repeat(60) },
        { name: 'release-manifests/a.yaml', body: 'x'.repeat(60) }, // a duplicate replaces
        { name: 'release-manifests/b.yaml', body: 'x'.repeat(40) },
      ];
      const fits = await extractDir(entries, { maxDirectoryBytes: 100 });
      assert.equal(fits.files.size, 2);
      await rejectsWith(
        extractDir([...entries, { name: 'release-manifests/c.yaml', body: 'x' }], {
          maxDirectoryBytes: 100,
        }),
        'LAYER_OVERSIZE',
        '100 bytes',
      );
    });

    function extractDir(entries: TarEntryInput[], limits?: ExtractLimits): Promise<ExtractResult> {
      return extractFromLayer(makeTar(entries), {
        mediaType: OCI_TAR,
        ...dirInput,
        ...(limits === undefined ? {} : { limits }),
      });
    }
  });

  describe('when the compressed stream is corrupt', () => {
    const layer = gzip(makeTar(releaseLayer()));

    it('rejects a truncated gzip stream as LAYER_CORRUPT', async () => {
      await rejectsWith(
        extract(layer.subarray(0, layer.length - 20)),
        'LAYER_CORRUPT',
        'sha256:test',
      );
      await rejectsWith(
        extract(layer.subarray(0, layer.length >> 1)),
        'LAYER_CORRUPT',
        'sha256:test',
      );
    });

    it('rejects a gzip stream with a flipped byte as LAYER_CORRUPT', async () => {
      for (const offset of [layer.length >> 1, layer.length - 8]) {
        const flipped = Buffer.from(layer);
        flipped[offset] = (flipped[offset] ?? 0) ^ 0x40;
        await rejectsWith(extract(flipped), 'LAYER_CORRUPT', 'sha256:test');
      }
    });

    it('rejects data after the end of a gzip stream', async () => {
      await rejectsWith(extract(Buffer.concat([layer, Buffer.from('trailing')])), 'LAYER_CORRUPT');
    });

    it('rejects truncated, corrupt or trailing zstd data as LAYER_CORRUPT', async () => {
      const z = zstd(makeTar(releaseLayer()));
      const flipped = Buffer.from(z);
      flipped[z.length >> 1] = (flipped[z.length >> 1] ?? 0) ^ 0xff;
      const variants = [
        z.subarray(0, z.length - 3),
        z.subarray(0, z.length >> 1),
        Buffer.concat([z, Buffer.from('trailing')]),
        Buffer.concat([z, z.subarray(0, 10)]),
        flipped,
      ];
      for (const variant of variants) {
        await rejectsWith(
          extract(variant, { mediaType: OCI_ZSTD }),
          'LAYER_CORRUPT',
          'sha256:test',
        );
      }
    });

    it('rejects a gzip layer shorter than its magic bytes', async () => {
      await rejectsWith(extract(Buffer.from([0x1f])), 'LAYER_CORRUPT');
      await rejectsWith(extract(Buffer.alloc(0)), 'LAYER_CORRUPT');
    });
  });

  describe('when the archive is corrupt', () => {
    const tar = makeTar([
      { name: REFS, body: 'x'.repeat(2000) },
      { name: META, body: 'meta' },
    ]);

    it('rejects a tar that ends inside a body or a header', async () => {
      for (const end of [1200, 3584 + 100]) {
        await rejectsWith(extract(gzip(tar.subarray(0, end))), 'LAYER_CORRUPT', 'ends inside');
      }
    });

    it("accepts a tar that ends inside the padding after a body, as Go's archive/tar does", async () => {
      const result = await extract(gzip(tar.subarray(0, 512 + 2000 + 10)));
      assert.equal(result.files.get(REFS)?.length, 2000);
    });

    it('rejects a bad header checksum', async () => {
      const bad = Buffer.from(tar);
      bad[5] = 0x41; // in the first entry's name
      await rejectsWith(extract(gzip(bad)), 'LAYER_CORRUPT', 'checksum');
    });

    it('rejects a size field that is not octal', async () => {
      const bad = makeTar([{ name: REFS, body: 'x' }]);
      bad.write('00000000009\0', 124, 'latin1');
      rewriteChecksum(bad);
      await rejectsWith(extract(gzip(bad)), 'LAYER_CORRUPT', 'size');
    });

    it('rejects a negative base-256 size', async () => {
      const bad = makeTar([{ name: REFS, body: 'x' }]);
      bad[124] = 0xff;
      rewriteChecksum(bad);
      await rejectsWith(extract(gzip(bad)), 'LAYER_CORRUPT', 'negative');
    });

    it('rejects a lone zero block followed by more entries', async () => {
      const bad = Buffer.concat([
        makeTar([{ name: 'a', body: 'a' }], { endMarker: false }),
        Buffer.alloc(512),
        makeTar([{ name: REFS, body: 'hidden' }]),
      ]);
      await rejectsWith(extract(gzip(bad)), 'LAYER_CORRUPT', 'lone zero block');
    });

    it('rejects malformed PAX records and a PAX header with no entry after it', async () => {
      const malformed = [
        makeTar([
          { name: 'x', typeflag: 'x', body: '8 path=a\n' },
          { name: REFS, body: 'x' },
        ]),
        makeTar([
          { name: 'x', typeflag: 'x', body: '12 pathxabc\n' },
          { name: REFS, body: 'x' },
        ]),
        makeTar([{ name: REFS, body: 'x', pax: { size: '1e3' } }]),
        makeTar([{ name: 'x', typeflag: 'x', body: paxRecords({ path: REFS }) }]),
      ];
      for (const bad of malformed) await rejectsWith(extract(gzip(bad)), 'LAYER_CORRUPT');
    });

    for (const key of [
      'SCHILY.xattr.trusted.overlay.redirect',
      'SCHILY.xattr.trusted.overlay.opaque',
      'SCHILY.xattr.user.overlay.redirect',
    ]) {
      it(`rejects an entry carrying ${key}, naming the entry`, async () => {
        const tar = makeTar([
          { name: 'release-manifests/', type: 'dir', pax: { [key]: '/other' } },
          { name: REFS, body: 'refs' },
        ]);
        const err = await rejectsWith(extract(gzip(tar)), 'LAYER_FORMAT');
        assert.match(err.message, /"release-manifests\/" carries the overlay xattr/);
      });
    }

    it('accepts other xattrs', async () => {
      const result = await extractTar([
        { name: REFS, body: 'refs', pax: { 'SCHILY.xattr.user.comment': 'x' } },
      ]);
      assert.deepEqual(text(result.files), { [REFS]: 'refs' });
    });

    it('rejects a body on a directory or link entry', async () => {
      await rejectsWith(
        extractTar([{ name: 'dir/', type: 'dir', body: 'hidden' }]),
        'LAYER_CORRUPT',
        '"dir/"',
      );
    });

    for (const [what, typeflag] of [
      ['character device', '3'],
      ['block device', '4'],
      ['FIFO', '6'],
      ['hard link', '1'],
      ['symbolic link', '2'],
    ] as const) {
      it(`rejects a ${what} with a size (Go reads the "body" as the next header)`, async () => {
        // Go's archive/tar reads no body for these: the hidden header below is, to
        // containers/storage, a second image-references that replaces the first.
        const hidden = makeTar([{ name: REFS, body: 'evil' }], { endMarker: false });
        const tar = makeTar([
          { name: REFS, body: 'good' },
          {
            name: 'dev/thing',
            typeflag,
            linkname: typeflag === '1' ? REFS : typeflag === '2' ? 'x' : '',
            body: hidden,
          },
        ]);
        const err = await rejectsWith(extract(gzip(tar)), 'LAYER_CORRUPT');
        assert.match(err.message, /"dev\/thing".*has a size of/);
      });
    }

    it('rejects typeflags containers/storage does not extract', async () => {
      for (const typeflag of ['7', 'V', 'M', 'A']) {
        const tar = makeTar([
          { name: 'elsewhere', typeflag, body: 'x' },
          { name: REFS, body: 'r' },
        ]);
        const err = await rejectsWith(extract(gzip(tar)), 'LAYER_FORMAT');
        assert.match(err.message, /"elsewhere" has typeflag/);
      }
    });

    it('acts on a whiteout whatever its typeflag, as containers/storage does', async () => {
      const result = await extractTar([
        { name: 'release-manifests/.wh.image-references', typeflag: '7', body: '' },
      ]);
      assert.deepEqual([...result.whiteouts], [REFS]);
    });

    it('rejects a global PAX header named like a wanted path (containers/storage deletes it)', async () => {
      const tar = makeTar([
        { name: REFS, body: 'refs' },
        { name: REFS, typeflag: 'g', body: paxRecords({ comment: 'x' }) },
      ]);
      const err = await rejectsWith(extract(gzip(tar)), 'INVALID_CONTENT');
      assert.match(err.message, /typeflag "g"/);
    });

    it('rejects a global PAX header between an extended header and its entry', async () => {
      const tar = makeTar([{ name: 'long'.repeat(30), longName: 'gnu', body: '' }]);
      // Splice a global header between the L header (2 blocks) and its entry.
      const global = makeTar([{ name: 'g', typeflag: 'g', body: paxRecords({ comment: 'x' }) }], {
        endMarker: false,
      });
      const spliced = Buffer.concat([tar.subarray(0, 1024), global, tar.subarray(1024)]);
      await rejectsWith(extract(gzip(spliced)), 'LAYER_FORMAT');
    });

    it('rejects an entry below a symbolic link of the same layer (storage follows it)', async () => {
      // containers/storage resolves the parent through the link: this writes
      // release-manifests/image-references.
      const tar = makeTar([
        { name: 'opt/rm', type: 'symlink', linkname: '../release-manifests' },
        { name: 'opt/rm/image-references', body: 'evil' },
      ]);
      const err = await rejectsWith(extract(gzip(tar)), 'UNSAFE_PATH');
      assert.match(
        err.message,
        /"opt\/rm\/image-references" lies below "opt\/rm", a symbolic link/,
      );
    });

    it('rejects a whiteout below a symbolic link of the same layer', async () => {
      const tar = makeTar([
        { name: 'opt/rm', type: 'symlink', linkname: '/release-manifests' },
        { name: 'opt/rm/.wh.image-references', body: '' },
      ]);
      await rejectsWith(extract(gzip(tar)), 'UNSAFE_PATH', 'lies below');
    });

    it('rejects an entry below a file of the same layer (storage: not a directory)', async () => {
      const tar = makeTar([
        { name: 'etc', body: 'x' },
        { name: 'etc/os-release', body: 'y' },
      ]);
      await rejectsWith(extract(gzip(tar)), 'LAYER_FORMAT', 'non-directory');
    });

    it('accepts entries below a link that a directory or whiteout replaced', async () => {
      const result = await extractTar([
        { name: 'opt/a', type: 'symlink', linkname: 'b' },
        { name: 'opt/a/', type: 'dir' },
        { name: 'opt/a/x', body: 'x' },
        { name: 'opt/c', type: 'symlink', linkname: 'b' },
        { name: 'opt/.wh.c', body: '' },
        { name: 'opt/c/x', body: 'x' },
        { name: REFS, body: 'refs' },
      ]);
      assert.deepEqual(text(result.files), { [REFS]: 'refs' });
    });

    it('rejects a symbolic link with an empty target (storage cannot create it)', async () => {
      const tar = makeTar([{ name: 'opt/l', type: 'symlink', linkname: '' }]);
      await rejectsWith(extract(gzip(tar)), 'LAYER_FORMAT', 'empty target');
    });

    it("ignores an empty GNU long name, as Go's archive/tar does", async () => {
      // An `L` header with an empty body, then the entry: its own name stands.
      const longLink = makeTar([{ name: '././@LongLink', typeflag: 'L', body: '' }], {
        endMarker: false,
      });
      const result = await extract(
        gzip(Buffer.concat([longLink, makeTar([{ name: REFS, body: 'r' }])])),
      );
      assert.deepEqual(text(result.files), { [REFS]: 'r' });
    });

    it('rejects a regular file entry with a directory name', async () => {
      await rejectsWith(extractTar([{ name: `${REFS}/`, body: 'x' }]), 'LAYER_CORRUPT');
    });
  });

  describe('when an entry path or link target is unsafe', () => {
    const table: [what: string, entry: TarEntryInput, named: string][] = [
      ['a parent path', { name: '../etc/passwd', body: 'x' }, '"../etc/passwd"'],
      ['an absolute path', { name: '/abs', body: 'x' }, '"/abs"'],
      ['a .. that escapes', { name: 'a/../../b', body: 'x' }, '"a/../../b"'],
      ['a .. that stays inside', { name: 'a/../b', body: 'x' }, '"a/../b"'],
      ['a .. directory', { name: './../', type: 'dir' }, '"./../"'],
      ['a PAX path with ..', { name: 'ok', body: 'x', pax: { path: '../x' } }, '"../x"'],
      ['a PAX path with a NUL', { name: 'ok', body: 'x', pax: { path: 'a\0b' } }, '"a\\u0000b"'],
      [
        'a long GNU name with ..',
        { name: `${'a/'.repeat(60)}../../${'../'.repeat(60)}x`, body: 'x', longName: 'gnu' },
        '"a/a/a/',
      ],
      ['a file named as the root', { name: '.', body: '' }, '"."'],
      [
        'a symlink escaping the root',
        { name: 'a/link', type: 'symlink', linkname: '../../x' },
        '"a/link"',
      ],
      [
        'an absolute hard link',
        { name: 'link', type: 'hardlink', linkname: '/etc/shadow' },
        '"link"',
      ],
      ['a hard link with ..', { name: 'a/link', type: 'hardlink', linkname: '../x' }, '"a/link"'],
      ['an empty hard link', { name: 'link', type: 'hardlink', linkname: '' }, '"link"'],
    ];
    for (const [what, entry, named] of table) {
      it(`rejects ${what} as UNSAFE_PATH, naming the entry`, async () => {
        await rejectsWith(
          extractTar([{ name: 'ok', body: 'fine' }, entry, { name: REFS, body: 'refs' }]),
          'UNSAFE_PATH',
          named,
          'sha256:test',
        );
      });
    }

    it('accepts links that stay inside the root', async () => {
      const result = await extractTar([
        { name: 'a/b/link', type: 'symlink', linkname: '../../c/./d' },
        { name: 'a/link', type: 'symlink', linkname: 'sibling' },
        { name: 'a/hard', type: 'hardlink', linkname: './a/b/c' },
        // Absolute targets resolve inside the image's root (base OS layers are full of them).
        { name: 'etc/alternatives/x', type: 'symlink', linkname: '/usr/lib/systemd/x' },
      ]);
      assert.equal(result.entries, 4);
    });
  });

  describe('when a wanted path is not a regular file', () => {
    const table: [what: string, entry: TarEntryInput][] = [
      ['a directory', { name: `${REFS}/`, type: 'dir' }],
      ['a symlink', { name: REFS, type: 'symlink', linkname: 'elsewhere' }],
      ['a hard link', { name: REFS, type: 'hardlink', linkname: 'etc/passwd' }],
      ['a FIFO', { name: REFS, typeflag: '6' }],
    ];
    for (const [what, entry] of table) {
      it(`rejects ${what} as INVALID_CONTENT`, async () => {
        await rejectsWith(extractTar([entry]), 'INVALID_CONTENT', `"${REFS}"`);
      });
    }

    it('rejects a symlink where a directory above a wanted path must be', async () => {
      await rejectsWith(
        extractTar([{ name: 'release-manifests', type: 'symlink', linkname: 'etc' }]),
        'INVALID_CONTENT',
        '"release-manifests"',
      );
    });
  });

  describe('when a limit is exceeded', () => {
    it('rejects a wanted file over maxFileBytes, naming it and the limit', async () => {
      await rejectsWith(
        extractTar([{ name: REFS, body: 'x'.repeat(101) }], { limits: { maxFileBytes: 100 } }),
        'LAYER_OVERSIZE',
        `"${REFS}"`,
        '100 bytes',
      );
      const exact = await extractTar([{ name: REFS, body: 'x'.repeat(100) }], {
        limits: { maxFileBytes: 100 },
      });
      assert.equal(exact.files.get(REFS)?.length, 100);
    });

    it('rejects an oversized wanted file from its header, before reading its body', async () => {
      // The header claims 1 GiB and no body follows: the size is refused before the truncation.
      const tar = makeTar([{ name: REFS, body: '', size: 1024 ** 3 }], { endMarker: false });
      await rejectsWith(extract(gzip(tar)), 'LAYER_OVERSIZE', `"${REFS}"`);
    });

    it('skips other files of any size', async () => {
      const result = await extractTar(
        [
          { name: 'big', body: Buffer.alloc(4096) },
          { name: REFS, body: 'refs' },
        ],
        { limits: { maxFileBytes: 10 } },
      );
      assert.deepEqual(text(result.files), { [REFS]: 'refs' });
    });

    it('stops a decompression bomb at maxUncompressedBytes', async () => {
      const bomb = gzip(makeTar([{ name: 'zeros', body: Buffer.alloc(8 * 1024 * 1024) }]));
      assert.ok(bomb.length < 64 * 1024);
      await rejectsWith(
        extract(bomb, { limits: { maxUncompressedBytes: 1024 * 1024 } }),
        'LAYER_OVERSIZE',
        '1048576',
        'sha256:test',
      );
      const zbomb = zstd(makeTar([{ name: 'zeros', body: Buffer.alloc(8 * 1024 * 1024) }]));
      await rejectsWith(
        extract(zbomb, { mediaType: OCI_ZSTD, limits: { maxUncompressedBytes: 1024 * 1024 } }),
        'LAYER_OVERSIZE',
      );
    });

    it('rejects a layer over maxCompressedBytes', async () => {
      const layer = gzip(makeTar(releaseLayer()));
      await rejectsWith(
        extract(chunked(layer, 100), { limits: { maxCompressedBytes: layer.length - 1 } }),
        'LAYER_OVERSIZE',
        'compressed',
      );
      await extract(layer, { limits: { maxCompressedBytes: layer.length } });
    });

    it('rejects more entries than maxEntries', async () => {
      const entries = Array.from({ length: 11 }, (_, i) => ({ name: `f${String(i)}`, body: '' }));
      await rejectsWith(
        extractTar(entries, { limits: { maxEntries: 10 } }),
        'LAYER_OVERSIZE',
        '10',
      );
      const result = await extractTar(entries.slice(0, 10), { limits: { maxEntries: 10 } });
      assert.equal(result.entries, 10);
    });

    it('rejects a PAX or GNU long-name header over maxHeaderBytes', async () => {
      const long = 'n'.repeat(600);
      for (const longName of ['pax', 'gnu'] as const) {
        await rejectsWith(
          extractTar([{ name: long, body: '', longName }], { limits: { maxHeaderBytes: 512 } }),
          'LAYER_OVERSIZE',
          '512',
        );
      }
    });
  });

  describe('when the format is not what the layer claims', () => {
    it('rejects a gzip layer without the gzip magic bytes', async () => {
      const tar = makeTar([{ name: REFS, body: 'x' }]);
      await rejectsWith(extract(tar), 'LAYER_FORMAT', '1f8b');
      await rejectsWith(extract(zstd(tar)), 'LAYER_FORMAT', 'gzip');
    });

    it('rejects a zstd layer without the zstd magic bytes', async () => {
      const tar = makeTar([{ name: REFS, body: 'x' }]);
      await rejectsWith(extract(gzip(tar), { mediaType: OCI_ZSTD }), 'LAYER_FORMAT', '28b52ffd');
      await rejectsWith(extract(chunked(tar, 1), { mediaType: OCI_ZSTD }), 'LAYER_FORMAT');
    });

    it('rejects compressed data in a layer declared uncompressed', async () => {
      const tar = makeTar([{ name: REFS, body: 'x' }]);
      await rejectsWith(extract(gzip(tar), { mediaType: OCI_TAR }), 'LAYER_FORMAT', 'gzip');
      await rejectsWith(extract(zstd(tar), { mediaType: OCI_TAR }), 'LAYER_FORMAT', 'zstd');
    });

    it('rejects an unknown media type, naming the layer and the type', async () => {
      await rejectsWith(
        extract(Buffer.alloc(0), { mediaType: 'application/x-tar' }),
        'LAYER_FORMAT',
        'sha256:test',
        'application/x-tar',
      );
    });

    it('rejects GNU sparse files, old and PAX style', async () => {
      await rejectsWith(
        extractTar([{ name: 'sparse', typeflag: 'S', body: '' }]),
        'LAYER_FORMAT',
        'sparse',
      );
      await rejectsWith(
        extractTar([{ name: 'sparse', body: '', pax: { 'GNU.sparse.major': '1' } }]),
        'LAYER_FORMAT',
        'sparse',
      );
    });

    it('rejects a global PAX header that sets a path', async () => {
      await rejectsWith(
        extractTar([
          { name: 'g', typeflag: 'g', body: paxRecords({ path: REFS }) },
          { name: 'other', body: 'x' },
        ]),
        'LAYER_FORMAT',
        '"path"',
      );
    });

    it('rejects a PAX path that disagrees with a GNU long name', async () => {
      await rejectsWith(
        extractTar([{ name: 'l'.repeat(150), body: 'x', longName: 'gnu', pax: { path: REFS } }]),
        'LAYER_FORMAT',
      );
    });

    it('rejects two PAX headers for one entry', async () => {
      const tar = makeTar([
        { name: 'x1', typeflag: 'x', body: paxRecords({ path: 'a' }) },
        { name: REFS, body: 'x', pax: { path: 'b' } },
      ]);
      await rejectsWith(extract(gzip(tar)), 'LAYER_FORMAT', 'two extended headers');
    });
  });

  describe('when the read is aborted or the source fails', () => {
    it('rejects with ABORTED when the signal is already aborted', async () => {
      const controller = new AbortController();
      controller.abort();
      const err = await extract(gzip(makeTar([])), { signal: controller.signal }).catch(
        (e: unknown) => e,
      );
      assert.ok(isVerifyError(err, 'ABORTED'), String(err));
    });

    it('rejects with ABORTED mid-stream and closes a stalled source', async () => {
      const controller = new AbortController();
      const layer = gzip(makeTar(releaseLayer()));
      let closed = false;
      const source: AsyncIterable<Uint8Array> = {
        [Symbol.asyncIterator]() {
          let sent = false;
          return {
            next: () => {
              if (!sent) {
                sent = true;
                setTimeout(() => controller.abort(new Error('deadline')), 10);
                return Promise.resolve({ done: false, value: layer.subarray(0, 1000) });
              }
              return new Promise<IteratorResult<Uint8Array>>(() => undefined); // stalls forever
            },
            return: () => {
              closed = true;
              return Promise.resolve({ done: true, value: undefined });
            },
          };
        },
      };
      const err = await extract(source, { signal: controller.signal }).catch((e: unknown) => e);
      assert.ok(isVerifyError(err, 'ABORTED'), String(err));
      assert.ok(closed, 'the source iterator was closed');
    });

    it('rethrows an error of the source as is', async () => {
      const failure = new Error('connection reset');
      async function* failing(): AsyncGenerator<Uint8Array> {
        yield gzip(makeTar(releaseLayer())).subarray(0, 100);
        await Promise.resolve();
        throw failure;
      }
      await assert.rejects(extract(failing()), (err: unknown) => err === failure);
    });

    it('closes the source when the layer is rejected', async () => {
      let finished = false;
      async function* source(): AsyncGenerator<Uint8Array> {
        try {
          yield makeTar([{ name: '/abs', body: 'x' }], { endMarker: false });
          for (;;) {
            await new Promise((resolve) => setImmediate(resolve));
            yield Buffer.alloc(512);
          }
        } finally {
          finished = true;
        }
      }
      await rejectsWith(extract(source(), { mediaType: OCI_TAR }), 'UNSAFE_PATH', '"/abs"');
      await new Promise((resolve) => setTimeout(resolve, 10));
      assert.ok(finished, 'the source generator was closed');
    });
  });
});

describe('test helper makeTar', () => {
  const systemTar = spawnSync('tar', ['--version'], { encoding: 'utf8' });
  const skip = systemTar.status === 0 ? false : 'no system tar';

  const entries: TarEntryInput[] = [
    { name: 'dir/', type: 'dir' },
    { name: 'dir/file.txt', body: 'hello\n', mode: 0o600 },
    { name: './dotted', body: '' },
    { name: `gnu/${'g'.repeat(150)}`, body: 'gnu long', longName: 'gnu' },
    { name: `pax/${'p'.repeat(150)}`, body: 'pax long', longName: 'pax' },
    { name: 'dir/link', type: 'symlink', linkname: 'file.txt' },
    { name: 'dir/longlink', type: 'symlink', linkname: 'k'.repeat(120), longName: 'gnu' },
    { name: 'hard', type: 'hardlink', linkname: 'dir/file.txt' },
    { name: 'base256', body: 'b256', base256Size: true },
    { name: 'pax_global_header', typeflag: 'g', body: paxRecords({ comment: 'c' }) },
    { name: 'big', body: Buffer.alloc(1500, 'z') },
  ];

  it('writes archives the system tar lists', { skip }, () => {
    const listed = spawnSync('tar', ['-tf', '-'], { input: makeTar(entries), encoding: 'utf8' });
    assert.equal(listed.status, 0, listed.stderr);
    assert.deepEqual(
      listed.stdout.trimEnd().split('\n'),
      entries.filter((e) => e.typeflag !== 'g').map((e) => e.name),
    );
  });

  it('writes bodies, modes and links the system tar reads back', { skip }, () => {
    const tar = makeTar(entries);
    const verbose = spawnSync('tar', ['-tvf', '-'], { input: tar, encoding: 'utf8' });
    assert.equal(verbose.status, 0, verbose.stderr);
    assert.match(
      verbose.stdout,
      /^-rw------- root\/root\s+6 2024-01-01 \d\d:\d\d dir\/file\.txt$/m,
    );
    assert.match(verbose.stdout, /^lrw-r--r-- .* dir\/link -> file\.txt$/m);
    assert.match(verbose.stdout, new RegExp(`dir/longlink -> ${'k'.repeat(120)}$`, 'm'));
    assert.match(verbose.stdout, /^hrw-r--r-- .* hard link to dir\/file\.txt$/m);
    for (const [name, body] of [
      [`gnu/${'g'.repeat(150)}`, 'gnu long'],
      [`pax/${'p'.repeat(150)}`, 'pax long'],
      ['base256', 'b256'],
      ['big', 'z'.repeat(1500)],
    ] as const) {
      const out = spawnSync('tar', ['-xOf', '-', name], { input: tar, encoding: 'utf8' });
      assert.equal(out.status, 0, out.stderr);
      assert.equal(out.stdout, body, name);
    }
  });

  it('reads back what the system tar writes', { skip }, async () => {
    // GNU tar in its default format writes `L` long names; with --format=posix, PAX headers.
    for (const format of ['gnu', 'posix']) {
      const script = [
        'set -e',
        'cd "$(mktemp -d)"',
        `mkdir -p release-manifests/${'d'.repeat(120)}`,
        `printf refs > ${REFS}`,
        `printf deep > release-manifests/${'d'.repeat(120)}/f`,
        'ln -s image-references release-manifests/link',
        `tar --format=${format} --owner=0 --group=0 -cf - ./release-manifests`,
        'cd / && rm -rf "$OLDPWD"',
      ].join('\n');
      const made = spawnSync('sh', ['-c', script], { maxBuffer: 1 << 24 });
      assert.equal(made.status, 0, made.stderr.toString());
      const deep = `release-manifests/${'d'.repeat(120)}/f`;
      const result = await extract(gzip(made.stdout), { wanted: [REFS, deep] });
      assert.deepEqual(text(result.files), { [REFS]: 'refs', [deep]: 'deep' }, format);
    }
  });
});

/** Recomputes a header checksum after a test edits the header. */
function rewriteChecksum(block: Buffer): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block.subarray(0, 512)) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
}
