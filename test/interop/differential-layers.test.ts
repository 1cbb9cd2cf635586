/**
 * The release file system we read, judged by containers/storage itself
 * (interop/cmd/storage-harness: go.podman.io/storage pkg/archive.ApplyLayer, layers applied in
 * order into one directory). The same layer blobs go to `readReleasePayload` (through an
 * in-memory registry client, so the real top-down merge with whiteouts runs) and to the harness,
 * over a systematic corpus of tar header variants, whiteouts, links and overlay xattrs plus
 * seeded structural mutations of a layered release.
 *
 * A case's verdict is whether a release payload (image-references and release-metadata, both
 * parsed) comes out. When both sides give one, they must be the same, byte for byte after
 * parsing: a different file is never an allowed difference. An error on our side counts as "not
 * verified", never as a different file; our deliberate refusals are allow-listed by refusal
 * class (allowed-differences.ts), only in the direction ours=refused, storage=files.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { parseReleasePullspec } from '../../src/image/pullspec.js';
import type { Descriptor } from '../../src/registry/manifest.js';
import { isVerifyError } from '../../src/errors.js';
import { parseImageReferences, parseReleaseMetadata } from '../../src/payload/release-content.js';
import { readReleasePayload } from '../../src/payload/release-image.js';
import { diffSeed, judge, seededRandom } from '../helpers/differential.js';
import type { Outcome } from '../helpers/differential.js';
import { runStorageHarness } from '../helpers/interop.js';
import { memoryReleaseClient } from '../helpers/memory-release.js';
import type { StorageCase } from '../helpers/interop.js';
import { gzip, makeTar, zstd } from '../helpers/tar.js';
import type { TarEntryInput } from '../helpers/tar.js';

const REFS = 'release-manifests/image-references';
const META = 'release-manifests/release-metadata';
const RELEASE = `quay.io/openshift-release-dev/ocp-release@sha256:${'a'.repeat(64)}`;
/** Seeded mutations of a layered release added to the systematic corpus each run. */
const MUTATED_CASES = 120;

type Compression = 'none' | 'gzip' | 'zstd';
const MEDIA_TYPE: Readonly<Record<Compression, string>> = {
  none: 'application/vnd.oci.image.layer.v1.tar',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
};
const EXTENSION: Readonly<Record<Compression, string>> = {
  none: 'tar',
  gzip: 'tar.gz',
  zstd: 'tar.zst',
};

interface LayerCase {
  readonly id: string;
  readonly kind: string;
  /** Uncompressed archives, lowest layer first. */
  readonly layers: readonly Buffer[];
}

/** A valid image-references naming one component whose digest encodes `marker`. */
function refs(marker: string, version = '4.17.0'): string {
  const hex = createHash('sha256').update(marker).digest('hex');
  return JSON.stringify({
    kind: 'ImageStream',
    apiVersion: 'image.openshift.io/v1',
    metadata: { name: version },
    spec: {
      tags: [
        {
          name: `component-${marker}`,
          from: {
            kind: 'DockerImage',
            name: `quay.io/openshift-release-dev/ocp-v4.0@sha256:${hex}`,
          },
        },
      ],
    },
  });
}

function meta(version = '4.17.0'): string {
  return JSON.stringify({ kind: 'cincinnati-metadata-v0', version });
}

const GOOD = refs('good');
const EVIL = refs('evil');
/** EVIL for a release-metadata of 4.17.1 (the two files must name the same release). */
const EVIL_4171 = refs('evil', '4.17.1');

/** A base layer: some OS files, the release directory, its two files. */
function baseLayer(extra: TarEntryInput[] = []): Buffer {
  return makeTar([
    { name: 'etc/', type: 'dir' },
    { name: 'etc/os-release', body: 'ID=rhel\n' },
    { name: 'release-manifests/', type: 'dir' },
    { name: REFS, body: GOOD },
    { name: META, body: meta() },
    { name: 'release-manifests/0000_cm.yaml', body: 'kind: ConfigMap\n' },
    ...extra,
  ]);
}

/** An archive whose "body" is the header and body of one more entry (no end marker). */
function hidden(entries: TarEntryInput[]): Buffer {
  return makeTar(entries, { endMarker: false });
}

function systematicCases(): LayerCase[] {
  const cases: LayerCase[] = [];
  const add = (kind: string, layers: Buffer[]): void => {
    cases.push({ id: `s${cases.length}`, kind, layers });
  };
  add('plain', [baseLayer()]);
  add('plain-dot-slash', [
    makeTar([
      { name: './', type: 'dir' },
      { name: './release-manifests/', type: 'dir' },
      { name: `./${REFS}`, body: GOOD },
      { name: `./${META}`, body: meta() },
    ]),
  ]);
  add('upper-replaces', [baseLayer(), makeTar([{ name: REFS, body: EVIL }])]);
  add('duplicate-last-wins', [baseLayer([{ name: REFS, body: EVIL }])]);
  add('no-parent-dir-entries', [
    makeTar([
      { name: REFS, body: GOOD },
      { name: META, body: meta() },
    ]),
  ]);
  add('whiteout-file', [
    baseLayer(),
    makeTar([{ name: 'release-manifests/.wh.image-references', body: '' }]),
  ]);
  add('whiteout-then-file', [
    baseLayer(),
    makeTar([
      { name: 'release-manifests/.wh.image-references', body: '' },
      { name: REFS, body: EVIL },
    ]),
  ]);
  add('file-then-whiteout', [
    baseLayer(),
    makeTar([
      { name: REFS, body: EVIL },
      { name: 'release-manifests/.wh.image-references', body: '' },
    ]),
  ]);
  add('whiteout-dir', [baseLayer(), makeTar([{ name: '.wh.release-manifests', body: '' }])]);
  add('whiteout-dir-then-new', [
    baseLayer(),
    makeTar([
      { name: '.wh.release-manifests', body: '' },
      { name: 'release-manifests/', type: 'dir' },
      { name: REFS, body: EVIL_4171 },
      { name: META, body: meta('4.17.1') },
    ]),
  ]);
  add('opaque-dir', [
    baseLayer(),
    makeTar([
      { name: 'release-manifests/', type: 'dir' },
      { name: 'release-manifests/.wh..wh..opq', body: '' },
    ]),
  ]);
  add('opaque-dir-then-new', [
    baseLayer(),
    makeTar([
      { name: 'release-manifests/', type: 'dir' },
      { name: 'release-manifests/.wh..wh..opq', body: '' },
      { name: REFS, body: EVIL_4171 },
      { name: META, body: meta('4.17.1') },
    ]),
  ]);
  add('opaque-after-new', [
    baseLayer(),
    makeTar([
      { name: 'release-manifests/', type: 'dir' },
      { name: REFS, body: EVIL_4171 },
      { name: META, body: meta('4.17.1') },
      { name: 'release-manifests/.wh..wh..opq', body: '' },
    ]),
  ]);
  add('opaque-root-after-new', [
    baseLayer(),
    makeTar([
      { name: REFS, body: EVIL_4171 },
      { name: META, body: meta('4.17.1') },
      { name: '.wh..wh..opq', body: '' },
    ]),
  ]);
  add('dir-replaced-by-file', [baseLayer(), makeTar([{ name: 'release-manifests', body: 'x' }])]);
  add('file-replaced-by-dir', [
    baseLayer(),
    makeTar([
      { name: `${REFS}/`, type: 'dir' },
      { name: `${REFS}/x`, body: 'x' },
    ]),
  ]);
  for (const [typeflag, name] of [
    ['6', 'fifo'],
    ['3', 'char'],
    ['4', 'block'],
  ] as const) {
    add(`header-only-${name}-with-size`, [
      baseLayer([{ name: `dev/${name}`, typeflag, body: hidden([{ name: REFS, body: EVIL }]) }]),
    ]);
    add(`header-only-${name}-empty`, [baseLayer([{ name: `dev/${name}`, typeflag }])]);
    add(`${name}-at-refs`, [baseLayer(), makeTar([{ name: REFS, typeflag }])]);
  }
  add('dir-with-size', [
    baseLayer([{ name: 'opt/', type: 'dir', body: hidden([{ name: REFS, body: EVIL }]) }]),
  ]);
  add('symlink-with-size', [
    baseLayer([
      { name: 'opt/l', type: 'symlink', linkname: 'x', body: hidden([{ name: REFS, body: EVIL }]) },
    ]),
  ]);
  add('hardlink-with-size', [
    baseLayer([
      {
        name: 'opt-hl',
        type: 'hardlink',
        linkname: 'etc/os-release',
        body: hidden([{ name: REFS, body: EVIL }]),
      },
    ]),
  ]);
  const starPrefix = `${'./'.repeat(57)}release-manifests`;
  add('star-prefix', [
    baseLayer([{ name: 'image-references', prefix: starPrefix, headerFormat: 'star', body: EVIL }]),
  ]);
  add('star-prefix-short', [
    baseLayer([
      { name: 'image-references', prefix: 'release-manifests', headerFormat: 'star', body: EVIL },
    ]),
  ]);
  add('ustar-prefix', [baseLayer([{ name: 'image-references', prefix: starPrefix, body: EVIL }])]);
  add('ustar-prefix-full', [
    baseLayer([
      { name: 'image-references', prefix: `${'./'.repeat(69)}release-manifests`, body: EVIL },
    ]),
  ]);
  const longRefs = `${'./'.repeat(60)}${REFS}`;
  add('gnu-long-name', [baseLayer([{ name: longRefs, longName: 'gnu', body: EVIL }])]);
  add('pax-long-name', [baseLayer([{ name: longRefs, longName: 'pax', body: EVIL }])]);
  add('pax-path-override', [baseLayer([{ name: 'decoy', pax: { path: REFS }, body: EVIL }])]);
  add('pax-empty-path', [baseLayer([{ name: REFS, pax: { path: '' }, body: EVIL }])]);
  add('gnu-long-link', [
    baseLayer([
      { name: 'opt/l', type: 'symlink', linkname: `${'./'.repeat(60)}etc`, longName: 'gnu' },
    ]),
  ]);
  for (const key of [
    'SCHILY.xattr.trusted.overlay.redirect',
    'SCHILY.xattr.trusted.overlay.opaque',
    'SCHILY.xattr.user.overlay.redirect',
  ]) {
    add(`overlay-xattr-${key.split('.').slice(2).join('.')}`, [
      baseLayer(),
      makeTar([
        { name: 'other/', type: 'dir' },
        { name: 'other/image-references', body: EVIL },
        {
          name: 'release-manifests/',
          type: 'dir',
          pax: { [key]: key.endsWith('opaque') ? 'y' : '/other' },
        },
      ]),
    ]);
  }
  add('other-xattr', [
    baseLayer([{ name: 'etc/motd', body: 'hi', pax: { 'SCHILY.xattr.user.comment': 'x' } }]),
  ]);
  add('symlink-at-refs', [
    baseLayer(),
    makeTar([
      { name: 'other/', type: 'dir' },
      { name: 'other/refs', body: EVIL },
      { name: REFS, type: 'symlink', linkname: '/other/refs' },
    ]),
  ]);
  add('hardlink-at-refs', [
    baseLayer(),
    makeTar([
      { name: 'other/', type: 'dir' },
      { name: 'other/refs', body: EVIL },
      { name: REFS, type: 'hardlink', linkname: 'other/refs' },
    ]),
  ]);
  add('symlink-dir', [
    baseLayer(),
    makeTar([
      { name: 'other/', type: 'dir' },
      { name: 'other/image-references', body: EVIL },
      { name: 'other/release-metadata', body: meta('4.17.2') },
      { name: '.wh.release-manifests', body: '' },
      { name: 'release-manifests', type: 'symlink', linkname: 'other' },
    ]),
  ]);
  add('links-elsewhere', [
    baseLayer([
      { name: 'opt/l', type: 'symlink', linkname: '../release-manifests/image-references' },
      { name: 'opt/h', type: 'hardlink', linkname: REFS },
    ]),
  ]);
  add('symlink-parent-same-layer', [
    baseLayer(),
    makeTar([
      { name: 'opt/rm', type: 'symlink', linkname: '../release-manifests' },
      { name: 'opt/rm/image-references', body: EVIL },
    ]),
  ]);
  add('symlink-parent-absolute', [
    baseLayer([
      { name: 'opt/rm', type: 'symlink', linkname: '/release-manifests' },
      { name: 'opt/rm/image-references', body: EVIL },
    ]),
  ]);
  add('symlink-parent-whiteout', [
    baseLayer(),
    makeTar([
      { name: 'opt/rm', type: 'symlink', linkname: '/release-manifests' },
      { name: 'opt/rm/.wh.image-references', body: '' },
    ]),
  ]);
  add('file-parent', [
    baseLayer([
      { name: 'opt', body: 'x' },
      { name: 'opt/y', body: 'y' },
    ]),
  ]);
  add('symlink-empty-target', [baseLayer([{ name: 'opt/l', type: 'symlink', linkname: '' }])]);
  // PAX sparse format 1.0: the body starts with a text map (one region: offset 0, all of it).
  const sparseMap = Buffer.alloc(512);
  sparseMap.write(`1\n0\n${Buffer.byteLength(EVIL)}\n`, 'latin1');
  add('sparse-pax-1.0', [
    baseLayer([
      {
        name: 'GNUSparseFile.0/image-references',
        pax: {
          'GNU.sparse.major': '1',
          'GNU.sparse.minor': '0',
          'GNU.sparse.name': REFS,
          'GNU.sparse.realsize': String(Buffer.byteLength(EVIL)),
        },
        body: Buffer.concat([sparseMap, Buffer.from(EVIL)]),
      },
    ]),
  ]);
  add('global-header', [baseLayer([{ name: 'pax_global_header', typeflag: 'g', body: 'x' }])]);
  add('global-header-named-refs', [baseLayer([{ name: REFS, typeflag: 'g', body: '' }])]);
  add('contiguous-typeflag', [baseLayer([{ name: 'opt/c', typeflag: '7', body: 'x' }])]);
  add('truncated-body', [baseLayer().subarray(0, 512 * 6 + 100)]);
  add('truncated-upper', [baseLayer(), makeTar([{ name: REFS, body: EVIL }]).subarray(0, 700)]);
  add('no-end-marker', [Buffer.concat([baseLayer().subarray(0, -1024)])]);
  add('missing-metadata', [makeTar([{ name: REFS, body: GOOD }])]);
  return cases;
}

/** Offsets of the entry headers (extended headers included) of an uncompressed archive. */
function headerOffsets(tar: Buffer): number[] {
  const out: number[] = [];
  let offset = 0;
  while (offset + 512 <= tar.length) {
    const block = tar.subarray(offset, offset + 512);
    if (block.every((b) => b === 0)) break;
    out.push(offset);
    const size = parseInt(block.toString('latin1', 124, 135).replace(/\0.*$/, '') || '0', 8);
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

function writeChecksum(tar: Buffer, offset: number): void {
  tar.fill(0x20, offset + 148, offset + 156);
  let sum = 0;
  for (let i = offset; i < offset + 512; i++) sum += tar[i] ?? 0;
  tar.write(`${sum.toString(8).padStart(6, '0')}\0 `, offset + 148, 'latin1');
}

/** A layered release with a bit of everything, for the mutations to twist. */
function mutationBase(): Buffer[] {
  return [
    baseLayer(),
    makeTar([
      { name: 'dev/fifo', typeflag: '6' },
      { name: 'opt/link', type: 'symlink', linkname: '../release-manifests/image-references' },
      { name: 'opt/hl', type: 'hardlink', linkname: 'etc/os-release' },
      { name: 'release-manifests/.wh.0000_cm.yaml', body: '' },
      { name: REFS, body: EVIL },
      { name: `${'./'.repeat(60)}opt/long`, body: 'long' },
      { name: 'opt/after', body: 'after' },
    ]),
  ];
}

const MUTATIONS = ['typeflag', 'size', 'name', 'link', 'magic', 'truncate'] as const;

function mutatedCases(seed: number): LayerCase[] {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const cases: LayerCase[] = [];
  for (let n = 0; n < MUTATED_CASES; n++) {
    const layers: Buffer[] = mutationBase().map((l) => Buffer.from(l));
    const index = Math.floor(random() * layers.length);
    let layer: Buffer = layers[index] as Buffer;
    const offsets = headerOffsets(layer);
    const at = pick(offsets);
    const mutation = pick(MUTATIONS);
    switch (mutation) {
      case 'typeflag':
        layer.write(
          pick(['0', '1', '2', '3', '4', '5', '6', '7', 'g', 'x', 'L', '\0']),
          at + 156,
          'latin1',
        );
        break;
      case 'size': {
        const current = parseInt(layer.toString('latin1', at + 124, at + 135) || '0', 8);
        const size = pick([0, 1, current + 1, Math.max(0, current - 1), 512, 1024, 1536]);
        layer.write(`${size.toString(8).padStart(11, '0')}\0`, at + 124, 'latin1');
        break;
      }
      case 'name':
        layer.fill(0, at, at + 100);
        layer.write(
          pick([
            REFS,
            `./${REFS}`,
            'release-manifests',
            'release-manifests/',
            META,
            '.wh.release-manifests',
            'release-manifests/.wh..wh..opq',
          ]),
          at,
          'utf8',
        );
        break;
      case 'link':
        layer.fill(0, at + 157, at + 257);
        layer.write(pick([REFS, 'other', '/etc/os-release', '']), at + 157, 'utf8');
        break;
      case 'magic':
        if (random() < 0.5) layer.write('tar\0', at + 508, 'latin1');
        else layer.write('ustar  \0', at + 257, 'latin1');
        break;
      case 'truncate':
        layer = layer.subarray(0, Math.floor(random() * layer.length));
        break;
    }
    if (mutation !== 'truncate') writeChecksum(layer, at);
    layers[index] = layer;
    cases.push({ id: `m${n}`, kind: `mutated-${mutation}`, layers });
  }
  return cases;
}

/** The comparable content of a payload: parsed image-references and release-metadata. */
type Payload = string;

function describePayload(references: unknown, metadata: unknown): Payload {
  return JSON.stringify({ references, metadata });
}

/**
 * Our refusals that are deliberate (stricter than containers/storage), by class: the class is
 * the allow-list key, so each kind of refusal is reviewed once, whatever case provoked it.
 */
function refusalClass(err: unknown): string {
  if (!isVerifyError(err) || err.area !== 'payload') return 'other';
  const m = err.message;
  if (/has a size of \d+ bytes/.test(m)) return 'refused:header-only-with-size';
  if (/carries the overlay xattr/.test(m)) return 'refused:overlay-xattr';
  if (
    err.code === 'INVALID_CONTENT' &&
    /is a (symbolic link|hard link)|symbolic link .* in the wanted directory|hard link .* in the wanted directory|symbolic link .* stands where/.test(
      m,
    )
  ) {
    return 'refused:link-at-watched-path';
  }
  if (err.code === 'INVALID_CONTENT' && /not a (regular file|directory)|stands where/.test(m)) {
    return 'refused:wanted-path-ever-not-a-file';
  }
  if (/lies below .*, a symbolic link/.test(m)) return 'refused:below-symlink';
  if (/sparse/i.test(m)) return 'refused:sparse';
  if (/ends (inside|after) an extended header|extended header is followed by the end/.test(m)) {
    return 'refused:archive-ends-at-extended-header';
  }
  if (/different GNU long name|two extended headers|global PAX header/.test(m)) {
    return 'refused:ambiguous-extended-headers';
  }
  if (err.code === 'UNSAFE_PATH' && /points outside|unsafe path/.test(m)) {
    return 'refused:absolute-or-dotdot';
  }
  return `refused:${err.code}`;
}

describe('release file system against containers/storage ApplyLayer (differential)', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'diff-layers-'));
  });

  after(async () => {
    // DIFF_KEEP keeps the layer files, named <case id>-<layer index>, to replay a case by hand.
    if (process.env.DIFF_KEEP !== undefined) process.stdout.write(`layers kept in ${dir}\n`);
    else await rm(dir, { recursive: true, force: true });
  });

  // ApplyLayer creates devices and sets ownership and trusted.* xattrs: only root can.
  const notRoot = process.getuid?.() !== 0;
  if (notRoot && process.env.CI === 'true') throw new Error('the layer differential needs root');
  const skip = notRoot
    ? 'containers/storage ApplyLayer needs root (devices, chown, xattrs)'
    : false;

  it(
    'agrees with containers/storage on every case but the allowed differences',
    { skip },
    async () => {
      const seed = diffSeed();
      process.stdout.write(
        `differential layer corpus seed ${seed} (DIFF_SEED=${seed} repeats it)\n`,
      );
      const random = seededRandom(seed ^ 0x5eed);
      const cases = [...systematicCases(), ...mutatedCases(seed)];
      const blobs = new Map<string, { blob: Buffer; mediaType: string }>();
      const harnessCases: StorageCase[] = [];
      const descriptors = new Map<string, Descriptor[]>();
      let layersJudged = 0;
      for (const c of cases) {
        const paths: string[] = [];
        const descs: Descriptor[] = [];
        for (const [i, tar] of c.layers.entries()) {
          const compression =
            (['none', 'gzip', 'zstd'] as const)[Math.floor(random() * 3)] ?? 'gzip';
          const blob =
            compression === 'gzip' ? gzip(tar) : compression === 'zstd' ? zstd(tar) : tar;
          const path = join(dir, `${c.id}-${i}.${EXTENSION[compression]}`);
          await writeFile(path, blob);
          paths.push(path);
          const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
          blobs.set(digest, { blob, mediaType: MEDIA_TYPE[compression] });
          descs.push({ mediaType: MEDIA_TYPE[compression], digest, size: blob.length });
          layersJudged++;
        }
        descriptors.set(c.id, descs);
        harnessCases.push({ id: c.id, layers: paths, paths: [REFS, META] });
      }
      const theirs = await runStorageHarness(harnessCases);

      const outcomes: Outcome[] = [];
      const differentFiles: string[] = [];
      for (const c of cases) {
        const mine = await readOurs(descriptors.get(c.id) ?? [], blobs);
        const ref = theirs.get(c.id);
        const refPayload = ref === undefined ? undefined : theirPayload(ref.files);
        const theirDetail =
          ref?.error !== undefined
            ? `error: ${ref.error}`
            : refPayload === undefined
              ? `no payload (files: ${JSON.stringify(Object.fromEntries(Object.entries(ref?.files ?? {}).map(([k, v]) => [k, v === null ? null : 'present'])))})`
              : 'payload';
        if (mine.payload !== undefined && refPayload !== undefined && mine.payload !== refPayload) {
          differentFiles.push(`${c.id} [${c.kind}]: ours ${mine.payload} storage ${refPayload}`);
        }
        // containers/storage failing the whole layer on a file-system conflict away from the
        // release paths, which we do not model (see allowed-differences.ts).
        const storageConflict =
          ref?.error !== undefined &&
          /no such file or directory|not a directory|file exists/.test(ref.error) &&
          !ref.error.includes('release-manifests');
        outcomes.push({
          id: c.id,
          kind:
            mine.payload === undefined
              ? `layers/${mine.refusal}`
              : storageConflict
                ? 'layers/storage-conflict-outside-release'
                : `layers/${c.kind}`,
          ours: mine.payload !== undefined,
          theirs: refPayload !== undefined,
          oursDetail: `${c.kind}: ${mine.detail}`,
          theirsDetail: theirDetail,
        });
      }
      process.stdout.write(`  ${cases.length} cases, ${layersJudged} layers judged\n`);
      // Printed before judging, which stops at the first failed assertion.
      for (const line of differentFiles) process.stdout.write(`  DIFFERENT FILES ${line}\n`);
      judge('containers/storage', outcomes);
      if (differentFiles.length > 0) {
        throw new Error(
          `same verdict, different release files (never allowed):\n${differentFiles.join('\n')}`,
        );
      }
    },
  );
});

async function readOurs(
  layers: readonly Descriptor[],
  blobs: ReadonlyMap<string, { blob: Buffer }>,
): Promise<{ payload?: Payload; refusal: string; detail: string }> {
  const { client } = memoryReleaseClient(
    layers.map((d) => {
      const found = blobs.get(d.digest);
      if (found === undefined) throw new Error(`no blob ${d.digest}`);
      return { blob: found.blob, mediaType: d.mediaType };
    }),
    3000,
  );
  try {
    const [payload] = await readReleasePayload(client, parseReleasePullspec(RELEASE), {
      signal: AbortSignal.timeout(30_000),
    });
    if (payload === undefined) return { refusal: 'refused:none', detail: 'no payload' };
    return {
      payload: describePayload(payload.references, payload.metadata),
      refusal: '',
      detail: 'payload',
    };
  } catch (err) {
    return { refusal: refusalClass(err), detail: err instanceof Error ? err.message : String(err) };
  }
}

function theirPayload(files: Readonly<Record<string, string | null>>): Payload | undefined {
  const references = files[REFS];
  const metadata = files[META];
  if (references == null || metadata == null) return undefined;
  try {
    return describePayload(
      parseImageReferences(Buffer.from(references, 'base64')),
      parseReleaseMetadata(Buffer.from(metadata, 'base64')),
    );
  } catch {
    return undefined;
  }
}
