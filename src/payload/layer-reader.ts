import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createZstdDecompress } from 'node:zlib';

import { VerifyError } from '../errors.js';
import { normaliseArchivePath, quoteName, TarReader } from './tar.js';
import type { TarBodySink, TarEntry } from './tar.js';

/** A release payload layer is tens of MiB compressed; the largest OpenShift layers stay well below. */
export const DEFAULT_MAX_COMPRESSED_BYTES = 512 * 1024 * 1024;
/** Bounds decompression bombs: the whole layer, after decompression, skipped bodies included. */
export const DEFAULT_MAX_UNCOMPRESSED_BYTES = 2 * 1024 * 1024 * 1024;
/** A base OS layer holds some tens of thousands of entries. */
export const DEFAULT_MAX_ENTRIES = 200_000;
/** image-references and release-metadata are a few hundred KiB at most. */
export const DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024;
/** One PAX record set or GNU long name/link: paths are at most a few KiB (PATH_MAX is 4 KiB). */
export const DEFAULT_MAX_HEADER_BYTES = 1024 * 1024;
/** `release-manifests/` of an OpenShift release: several hundred manifests, tens of MiB. */
export const DEFAULT_MAX_DIRECTORY_BYTES = 256 * 1024 * 1024;

export type LayerCompression = 'gzip' | 'zstd' | 'none';

/** Layer media types we read (OCI image spec and Docker image manifest v2 schema 2). */
const LAYER_MEDIA_TYPES: ReadonlyMap<string, LayerCompression> = new Map([
  ['application/vnd.oci.image.layer.v1.tar', 'none'],
  ['application/vnd.oci.image.layer.v1.tar+gzip', 'gzip'],
  ['application/vnd.oci.image.layer.v1.tar+zstd', 'zstd'],
  ['application/vnd.docker.image.rootfs.diff.tar.gzip', 'gzip'],
]);

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

export interface ExtractLimits {
  /** The layer blob as read from `source`. */
  readonly maxCompressedBytes?: number;
  /** The whole layer after decompression. */
  readonly maxUncompressedBytes?: number;
  /** Entries in the layer's archive. */
  readonly maxEntries?: number;
  /** Each wanted file. */
  readonly maxFileBytes?: number;
  /** Each PAX record set and GNU long name or link. */
  readonly maxHeaderBytes?: number;
  /** All the files kept from `wantedDirectory` together. */
  readonly maxDirectoryBytes?: number;
}

export interface ExtractOptions {
  /** The layer descriptor's media type: selects the decompression. */
  readonly mediaType: string;
  /** Archive paths to extract (`release-manifests/image-references`), without `./`. */
  readonly wanted: readonly string[];
  /**
   * A directory (`release-manifests`) whose regular files are extracted too: its direct children
   * only, as the CVO reads it; subdirectories are skipped, any other kind of entry in it is
   * `INVALID_CONTENT`. They are keyed by normalised archive path.
   */
  readonly wantedDirectory?: string;
  /** More directories kept the same way (their files keyed by normalised path). */
  readonly wantedDirectories?: readonly string[];
  readonly limits?: ExtractLimits;
  readonly signal?: AbortSignal;
  /** Names the layer in messages (its digest); default `layer`. */
  readonly layer?: string;
}

export interface ExtractResult {
  /**
   * Wanted path (as given in `wanted`) → content, for the wanted files found in this layer, and
   * normalised path → content for the files of `wantedDirectory`.
   */
  readonly files: Map<string, Buffer>;
  /**
   * Wanted paths this layer deletes from the layers below it: a `.wh.<name>` whiteout of the path
   * or of a directory above it, or an opaque `.wh..wh..opq` in a directory above it. Also the
   * files of `wantedDirectory` it deletes, and `wantedDirectory` itself (as given) when it deletes
   * the whole directory (an opaque whiteout in it, or a whiteout of it or a directory above it).
   * As in the OCI image spec, a whiteout does not hide a file of the same layer: to build the
   * merged view, apply a layer's whiteouts to what the layers below it gave, then add its files.
   */
  readonly whiteouts: Set<string>;
  /** Archive entries read (extended headers excluded). */
  readonly entries: number;
  /** Bytes after decompression, up to the end of the compressed stream. */
  readonly uncompressedBytes: number;
}

interface ResolvedLimits {
  readonly maxCompressedBytes: number;
  readonly maxUncompressedBytes: number;
  readonly maxEntries: number;
  readonly maxFileBytes: number;
  readonly maxHeaderBytes: number;
  readonly maxDirectoryBytes: number;
}

/**
 * The compression of a layer media type; `layer` names the layer in the message.
 *
 * @throws VerifyError `LAYER_FORMAT` for any other media type (foreign and non-distributable
 *   layers included).
 */
export function compressionOf(mediaType: string, layer?: string): LayerCompression {
  const compression = LAYER_MEDIA_TYPES.get(mediaType);
  if (compression === undefined) {
    const prefix = layer === undefined ? '' : `${layer}: `;
    throw new VerifyError(
      'LAYER_FORMAT',
      `${prefix}unsupported layer media type ${quoteName(mediaType)}`,
    );
  }
  return compression;
}

/**
 * Reads one image layer as a stream and returns the wanted files it holds, in memory. The whole
 * layer is read, so a later duplicate of a wanted file wins (as extraction would) and every
 * entry is checked; only wanted bodies are kept. Nothing is written to disk.
 *
 * Fails closed with a {@link VerifyError}: `LAYER_FORMAT` (media type, magic bytes, sparse
 * files), `LAYER_CORRUPT` (compressed stream or archive truncated or corrupt), `LAYER_OVERSIZE`
 * (a limit of {@link ExtractLimits}), `UNSAFE_PATH` (any entry whose path or link target is
 * absolute or escapes the root), `INVALID_CONTENT` (a wanted path, or a directory above one, that
 * is not what it must be). Aborting `signal` rejects with a `VerifyError` `ABORTED`. An error
 * thrown by `source` itself is rethrown as is.
 */
export async function extractFromLayer(
  source: AsyncIterable<Uint8Array> | Uint8Array,
  options: ExtractOptions,
): Promise<ExtractResult> {
  const layer = options.layer ?? 'layer';
  const { signal } = options;
  const compression = compressionOf(options.mediaType, layer);
  const limits = resolveLimits(options.limits);
  if (signal?.aborted) throw aborted(layer, signal.reason);

  const wanted = new WantedFiles(options, limits, layer);
  const reader = new TarReader({
    archive: layer,
    maxEntries: limits.maxEntries,
    maxHeaderBytes: limits.maxHeaderBytes,
    onEntry: (entry) => wanted.onEntry(entry),
  });
  const input = new LayerInput(compression, limits.maxCompressedBytes, layer);
  let inputEnded = false;
  let sourceError: unknown;
  let uncompressedBytes = 0;

  const readable = readSource(
    source,
    (chunk) => input.accept(chunk),
    () => {
      const rest = input.finish();
      inputEnded = true;
      return rest;
    },
    (err: unknown) => {
      sourceError = err;
    },
  );
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      settle(callback, () => {
        uncompressedBytes += chunk.length;
        if (uncompressedBytes > limits.maxUncompressedBytes) {
          throw new VerifyError(
            'LAYER_OVERSIZE',
            `${layer}: over the limit of ${String(limits.maxUncompressedBytes)} bytes after ` +
              'decompression',
          );
        }
        reader.push(chunk);
      });
    },
    final(callback) {
      settle(callback, () => {
        if (!inputEnded) {
          // The decompressor stopped before the end of its input: trailing data it ignored.
          throw new VerifyError(
            'LAYER_CORRUPT',
            `${layer}: data after the end of the ${compression} stream`,
          );
        }
        reader.finish();
      });
    },
  });

  const streams =
    compression === 'none' ? [readable, sink] : [readable, createDecompressor(compression), sink];
  try {
    await pipeline(streams, signal === undefined ? {} : { signal });
  } catch (err) {
    if (signal?.aborted) throw aborted(layer, signal.reason);
    if (err instanceof VerifyError) throw err;
    if (sourceError !== undefined && err === sourceError) throw err;
    // Anything else came from the decompressor: zlib's Z_DATA_ERROR, Z_BUF_ERROR (truncated),
    // zstd's corruption errors.
    const detail = err instanceof Error ? err.message : String(err);
    throw new VerifyError('LAYER_CORRUPT', `${layer}: corrupt ${compression} stream: ${detail}`, {
      cause: err,
    });
  }
  return {
    files: wanted.files,
    whiteouts: wanted.whiteouts,
    entries: reader.entries,
    uncompressedBytes,
  };
}

function resolveLimits(limits: ExtractLimits = {}): ResolvedLimits {
  const resolved: ResolvedLimits = {
    maxCompressedBytes: limits.maxCompressedBytes ?? DEFAULT_MAX_COMPRESSED_BYTES,
    maxUncompressedBytes: limits.maxUncompressedBytes ?? DEFAULT_MAX_UNCOMPRESSED_BYTES,
    maxEntries: limits.maxEntries ?? DEFAULT_MAX_ENTRIES,
    maxFileBytes: limits.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES,
    maxHeaderBytes: limits.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES,
    maxDirectoryBytes: limits.maxDirectoryBytes ?? DEFAULT_MAX_DIRECTORY_BYTES,
  };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`${name} must be a non-negative integer, not ${String(value)}`);
    }
  }
  return resolved;
}

function createDecompressor(compression: 'gzip' | 'zstd'): NodeJS.ReadWriteStream {
  // zstd keeps libzstd's default window limit (2^27 bytes): frames asking for more are refused.
  return compression === 'gzip' ? createGunzip() : createZstdDecompress();
}

function aborted(layer: string, reason: unknown): VerifyError {
  return new VerifyError('ABORTED', `reading ${layer} was aborted`, { cause: reason });
}

/** Runs a stream callback's work, passing what it throws to the callback. */
function settle(callback: (error?: Error | null) => void, work: () => void): void {
  try {
    work();
  } catch (err) {
    callback(err instanceof Error ? err : new Error(String(err)));
    return;
  }
  callback();
}

/**
 * A Readable over `source`, one pushed chunk per piece `accept` returns (object mode keeps the
 * pieces apart: the zstd decompressor needs frame-aligned writes). On destroy the source iterator
 * is closed without waiting, so an abort does not hang on a stalled source.
 */
function readSource(
  source: AsyncIterable<Uint8Array> | Uint8Array,
  accept: (chunk: Buffer) => Buffer[],
  finish: () => Buffer[],
  onSourceError: (err: unknown) => void,
): Readable {
  const iterator =
    source instanceof Uint8Array ? singleChunk(source) : source[Symbol.asyncIterator]();
  let pulling = false;
  let done = false;

  const pull = async (readable: Readable): Promise<void> => {
    for (;;) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await iterator.next();
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        onSourceError(error);
        throw error;
      }
      if (readable.destroyed) return;
      const pieces = next.done === true ? finish() : accept(toBuffer(next.value));
      if (next.done !== true && pieces.length === 0) continue;
      // Cleared before pushing: a push may call read() again at once, which must pull.
      pulling = false;
      done = next.done === true;
      for (const piece of pieces) readable.push(piece);
      if (done) readable.push(null);
      return;
    }
  };

  return new Readable({
    objectMode: true,
    highWaterMark: 1,
    read() {
      if (pulling || done) return;
      pulling = true;
      pull(this).catch((err: unknown) => {
        this.destroy(err instanceof Error ? err : new Error(String(err)));
      });
    },
    destroy(err, callback) {
      if (!done) {
        iterator.return?.().catch(() => undefined);
      }
      callback(err);
    },
  });
}

// eslint-disable-next-line @typescript-eslint/require-await -- an async iterator over one chunk
async function* singleChunk(chunk: Uint8Array): AsyncGenerator<Uint8Array> {
  yield chunk;
}

function toBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
}

/**
 * The compressed side of a layer: counts its bytes, checks its magic bytes before anything reaches
 * the decompressor and, for zstd, splits it into whole frames.
 */
class LayerInput {
  private readonly compression: LayerCompression;
  private readonly maxBytes: number;
  private readonly layer: string;
  private readonly frames: ZstdFrameSplitter | undefined;
  private bytes = 0;
  /** The first bytes, held until the magic bytes can be checked. */
  private head: Buffer[] | undefined = [];

  constructor(compression: LayerCompression, maxBytes: number, layer: string) {
    this.compression = compression;
    this.maxBytes = maxBytes;
    this.layer = layer;
    this.frames = compression === 'zstd' ? new ZstdFrameSplitter(layer) : undefined;
  }

  accept(chunk: Buffer): Buffer[] {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      throw new VerifyError(
        'LAYER_OVERSIZE',
        `${this.layer}: over the limit of ${String(this.maxBytes)} compressed bytes`,
      );
    }
    let data = chunk;
    if (this.head !== undefined) {
      this.head.push(chunk);
      if (this.bytes < MAGIC_CHECK_BYTES) return [];
      data = Buffer.concat(this.head);
      this.head = undefined;
      this.checkMagic(data);
    }
    if (data.length === 0) return [];
    return this.frames === undefined ? [data] : this.frames.accept(data);
  }

  finish(): Buffer[] {
    let pieces: Buffer[] = [];
    if (this.head !== undefined) {
      const data = Buffer.concat(this.head);
      this.head = undefined;
      this.checkMagic(data);
      if (data.length > 0) pieces = this.frames === undefined ? [data] : this.frames.accept(data);
    }
    this.frames?.finish();
    return pieces;
  }

  /** Checks the first bytes (all of them when the stream is shorter than the magic). */
  private checkMagic(data: Buffer): void {
    const { compression, layer } = this;
    if (compression === 'none') {
      for (const [name, magic] of [
        ['gzip', GZIP_MAGIC],
        ['zstd', ZSTD_MAGIC],
      ] as const) {
        if (data.length >= magic.length && startsWith(data, magic)) {
          throw new VerifyError(
            'LAYER_FORMAT',
            `${layer}: declared an uncompressed tar but starts with the ${name} magic bytes`,
          );
        }
      }
      return;
    }
    const magic = compression === 'gzip' ? GZIP_MAGIC : ZSTD_MAGIC;
    const head = data.subarray(0, magic.length);
    if (!magic.subarray(0, head.length).equals(head)) {
      throw new VerifyError(
        'LAYER_FORMAT',
        `${layer}: declared ${compression} but does not start with its magic bytes ` +
          `${magic.toString('hex')} (starts with ${head.toString('hex') || 'nothing'})`,
      );
    }
    if (head.length < magic.length) {
      throw new VerifyError(
        'LAYER_CORRUPT',
        `${layer}: the ${compression} stream ends within its magic bytes`,
      );
    }
  }
}

/** Bytes held before the magic bytes are checked: the longest magic, zstd's. */
const MAGIC_CHECK_BYTES = ZSTD_MAGIC.length;

function startsWith(data: Buffer, prefix: Buffer): boolean {
  return data.subarray(0, prefix.length).equals(prefix);
}

const ZSTD_FRAME_MAGIC = 0xfd2fb528;
/** Skippable frames: magic 0x184D2A50–0x184D2A5F, a 4-byte size, then data for other readers. */
const ZSTD_SKIPPABLE_MAGIC = 0x184d2a50;
const ZSTD_SKIPPABLE_MASK = 0xfffffff0;
/** Block_Maximum_Size in RFC 8878. */
const ZSTD_MAX_BLOCK_BYTES = 128 * 1024;

type FrameState =
  | { readonly kind: 'magic' }
  | { readonly kind: 'skippable-size' }
  | { readonly kind: 'skip'; remaining: number }
  | { readonly kind: 'frame-header' }
  | { readonly kind: 'block-header' }
  | { readonly kind: 'pass'; remaining: number; readonly then: 'block-header' | 'frame-end' };

/**
 * Splits a zstd stream (RFC 8878) at frame boundaries, from frame and block headers, without
 * decompressing. Node's zstd decompressor stops at the end of a frame and silently ignores the
 * rest of the same write, so each frame must reach it in writes of its own; skippable frames
 * (zstd:chunked metadata) are dropped here for the same reason. Data that is not a frame, and a
 * stream that ends inside one, are `LAYER_CORRUPT`.
 */
class ZstdFrameSplitter {
  private readonly layer: string;
  private state: FrameState = { kind: 'magic' };
  /** Bytes of the field being read: magic, skippable size, frame header (up to 14), block header. */
  private readonly field = Buffer.alloc(14);
  private fieldFilled = 0;
  private fieldNeeded = 4;
  /** Whether the current frame ends with a 4-byte content checksum. */
  private checksumBytes = 0;
  /** Bytes accepted before the current chunk, for messages. */
  private offset = 0;

  constructor(layer: string) {
    this.layer = layer;
  }

  accept(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let i = 0;
    /** Start in `chunk` of the frame bytes not yet emitted, or -1. */
    let start = -1;
    const emit = (): void => {
      if (start !== -1 && i > start) out.push(chunk.subarray(start, i));
      start = -1;
    };
    while (i < chunk.length) {
      const state = this.state;
      switch (state.kind) {
        case 'skip': {
          const n = Math.min(state.remaining, chunk.length - i);
          state.remaining -= n;
          i += n;
          if (state.remaining === 0) this.expect({ kind: 'magic' }, 4);
          break;
        }
        case 'pass': {
          if (start === -1) start = i;
          const n = Math.min(state.remaining, chunk.length - i);
          state.remaining -= n;
          i += n;
          if (state.remaining > 0) break;
          if (state.then === 'frame-end') {
            emit();
            this.expect({ kind: 'magic' }, 4);
          } else {
            this.expect({ kind: 'block-header' }, 3);
          }
          break;
        }
        default: {
          // Frame and block headers go to the decompressor; magics and skippable sizes are held.
          if (state.kind !== 'magic' && state.kind !== 'skippable-size' && start === -1) start = i;
          const n = Math.min(this.fieldNeeded - this.fieldFilled, chunk.length - i);
          chunk.copy(this.field, this.fieldFilled, i, i + n);
          this.fieldFilled += n;
          i += n;
          if (this.fieldFilled < this.fieldNeeded) break;
          const event = this.onField(state.kind, this.offset + i);
          if (event === 'frame-start') out.push(Buffer.from(this.field.subarray(0, 4)));
          else if (event === 'frame-end') emit();
        }
      }
    }
    emit();
    this.offset += chunk.length;
    return out;
  }

  finish(): void {
    if (this.state.kind !== 'magic' || this.fieldFilled !== 0) {
      throw new VerifyError('LAYER_CORRUPT', `${this.layer}: the zstd stream ends inside a frame`);
    }
  }

  private expect(state: FrameState, bytes: number): void {
    this.state = state;
    this.fieldFilled = 0;
    this.fieldNeeded = bytes;
  }

  /** Handles a completed field ending at stream offset `end`. */
  private onField(
    kind: 'magic' | 'skippable-size' | 'frame-header' | 'block-header',
    end: number,
  ): 'frame-start' | 'frame-end' | undefined {
    const field = this.field;
    switch (kind) {
      case 'magic': {
        const magic = field.readUInt32LE(0);
        if (magic === ZSTD_FRAME_MAGIC) {
          this.expect({ kind: 'frame-header' }, 1);
          return 'frame-start';
        }
        if ((magic & ZSTD_SKIPPABLE_MASK) >>> 0 === ZSTD_SKIPPABLE_MAGIC) {
          this.expect({ kind: 'skippable-size' }, 4);
          return undefined;
        }
        throw new VerifyError(
          'LAYER_CORRUPT',
          `${this.layer}: data that is not a zstd frame at byte ${String(end - 4)}`,
        );
      }
      case 'skippable-size': {
        const size = field.readUInt32LE(0);
        if (size === 0) this.expect({ kind: 'magic' }, 4);
        else this.expect({ kind: 'skip', remaining: size }, 0);
        return undefined;
      }
      case 'frame-header': {
        if (this.fieldNeeded > 1) {
          this.expect({ kind: 'block-header' }, 3);
          return undefined;
        }
        // Frame_Header_Descriptor: content size flag (2 bits), single segment, unused,
        // reserved, checksum flag, dictionary ID flag (2 bits).
        const descriptor = field[0] ?? 0;
        if (descriptor & 0x08) {
          throw new VerifyError(
            'LAYER_CORRUPT',
            `${this.layer}: zstd frame header with its reserved bit set at byte ${String(end - 1)}`,
          );
        }
        const singleSegment = (descriptor & 0x20) !== 0;
        const windowBytes = singleSegment ? 0 : 1;
        const dictionaryBytes = [0, 1, 2, 4][descriptor & 0x03] ?? 0;
        const contentSizeBytes = [singleSegment ? 1 : 0, 2, 4, 8][descriptor >> 6] ?? 0;
        this.checksumBytes = descriptor & 0x04 ? 4 : 0;
        // Never zero: without a single segment there is a window byte, with one a content size.
        this.fieldNeeded = 1 + windowBytes + dictionaryBytes + contentSizeBytes;
        return undefined;
      }
      case 'block-header': {
        const header = field.readUIntLE(0, 3);
        const last = (header & 1) === 1;
        const type = (header >> 1) & 3;
        const size = header >>> 3;
        if (type === 3 || size > ZSTD_MAX_BLOCK_BYTES) {
          throw new VerifyError(
            'LAYER_CORRUPT',
            `${this.layer}: malformed zstd block header at byte ${String(end - 3)}`,
          );
        }
        const content = type === 1 ? 1 : size; // an RLE block holds one byte
        const remaining = content + (last ? this.checksumBytes : 0);
        if (remaining > 0) {
          this.expect({ kind: 'pass', remaining, then: last ? 'frame-end' : 'block-header' }, 0);
          return undefined;
        }
        if (!last) {
          this.expect({ kind: 'block-header' }, 3);
          return undefined;
        }
        this.expect({ kind: 'magic' }, 4);
        return 'frame-end';
      }
    }
  }
}

/**
 * Decides what to keep from a layer's entries: the bodies of wanted files and of the regular files
 * directly in the wanted directory, and which of those paths its whiteouts delete. Wanted paths
 * must be regular files, the wanted directory a directory, and both lie under real directories.
 */
class WantedFiles {
  readonly files = new Map<string, Buffer>();
  readonly whiteouts = new Set<string>();
  private readonly tree: LayerTree;
  private readonly limits: ResolvedLimits;
  private readonly layer: string;
  /** Normalised wanted file or directory → the path as the caller gave it. */
  private readonly watched = new Map<string, string>();
  /** Normalised wanted directories. */
  private readonly directories = new Set<string>();
  /** Directory (`` for the root) → the watched paths strictly below it. */
  private readonly below = new Map<string, string[]>();
  /** Bytes of the directory files kept, duplicates replaced. */
  private directoryBytes = 0;

  constructor(options: ExtractOptions, limits: ResolvedLimits, layer: string) {
    this.limits = limits;
    this.layer = layer;
    this.tree = new LayerTree(layer);
    for (const given of options.wanted) this.watch(given);
    for (const directory of [
      ...(options.wantedDirectory !== undefined ? [options.wantedDirectory] : []),
      ...(options.wantedDirectories ?? []),
    ])
      this.directories.add(this.watch(directory));
  }

  onEntry(entry: TarEntry): TarBodySink | undefined {
    this.tree.onEntry(entry);
    const { dir, base } = splitPath(entry.path);
    if (base.startsWith('.wh.')) {
      this.onWhiteout(dir, base, entry.name);
      return undefined;
    }

    if (entry.kind === 'other' && !EXTRACTED_OTHER_TYPEFLAGS.has(entry.typeflag)) {
      // containers/storage fails the whole layer (`unhandled tar header type`); a whiteout is
      // acted on by its name whatever its typeflag, so it is handled above.
      throw new VerifyError(
        'LAYER_FORMAT',
        `${this.layer}: entry ${quoteName(entry.name)} has typeflag ` +
          `${JSON.stringify(entry.typeflag)}, which containers/storage does not extract`,
      );
    }
    const given = this.watched.get(entry.path);
    if (given !== undefined && this.directories.has(entry.path)) {
      if (entry.kind !== 'directory') {
        throw new VerifyError(
          'INVALID_CONTENT',
          `${this.layer}: ${quoteName(given)} is a ${describeKind(entry)}, not a directory ` +
            `(entry ${quoteName(entry.name)})`,
        );
      }
      return undefined;
    }
    if (given !== undefined) {
      if (entry.kind !== 'file') {
        throw new VerifyError(
          'INVALID_CONTENT',
          `${this.layer}: ${quoteName(given)} is a ${describeKind(entry)}, not a regular file ` +
            `(entry ${quoteName(entry.name)})`,
        );
      }
      return this.keep(given, entry, false);
    }
    if (this.directories.has(dir) && entry.kind !== 'directory') {
      // The CVO reads every file of the directory (subdirectories are skipped): a link or device
      // there would be read by it and not by us.
      if (entry.kind !== 'file') {
        throw new VerifyError(
          'INVALID_CONTENT',
          `${this.layer}: ${describeKind(entry)} ${quoteName(entry.name)} in the wanted directory`,
        );
      }
      return this.keep(entry.path, entry, true);
    }
    const under = this.below.get(entry.path);
    if (under !== undefined && entry.kind !== 'directory') {
      throw new VerifyError(
        'INVALID_CONTENT',
        `${this.layer}: ${describeKind(entry)} ${quoteName(entry.name)} stands where the ` +
          `directory of ${quoteName(under[0] ?? '')} must be`,
      );
    }
    return undefined;
  }

  /** Registers a wanted path; returns it normalised. */
  private watch(given: string): string {
    const path = normaliseArchivePath(given);
    if (path === undefined || path === '') {
      throw new RangeError(`wanted path ${quoteName(given)} is not a relative archive path`);
    }
    this.watched.set(path, given);
    const parts = path.split('/');
    for (let depth = 0; depth < parts.length; depth++) {
      const dir = parts.slice(0, depth).join('/');
      const list = this.below.get(dir) ?? [];
      list.push(given);
      this.below.set(dir, list);
    }
    return path;
  }

  private keep(key: string, entry: TarEntry & { kind: 'file' }, inDirectory: boolean): TarBodySink {
    const { maxFileBytes, maxDirectoryBytes } = this.limits;
    if (entry.size > maxFileBytes) {
      throw new VerifyError(
        'LAYER_OVERSIZE',
        `${this.layer}: ${quoteName(key)} is ${String(entry.size)} bytes, over the limit of ` +
          `${String(maxFileBytes)} bytes`,
      );
    }
    if (inDirectory) {
      this.directoryBytes += entry.size - (this.files.get(key)?.length ?? 0);
      if (this.directoryBytes > maxDirectoryBytes) {
        throw new VerifyError(
          'LAYER_OVERSIZE',
          `${this.layer}: the files of the wanted directory are over the limit of ` +
            `${String(maxDirectoryBytes)} bytes (at ${quoteName(key)})`,
        );
      }
    }
    const body = Buffer.alloc(entry.size);
    let filled = 0;
    return {
      write: (chunk) => {
        chunk.copy(body, filled);
        filled += chunk.length;
      },
      end: () => {
        // Last one wins, as when the archive is extracted.
        this.files.set(key, body);
      },
    };
  }

  private onWhiteout(dir: string, base: string, entryName: string): void {
    if (base === '.wh..wh..opq') {
      // containers/storage empties the directory of what it did not unpack from this layer, and
      // a directory below it that this layer did not name goes with its files: refused when it
      // would take a file kept from this layer (the OCI spec says it must not).
      for (const key of this.files.keys()) {
        const inside = dir === '' || key.startsWith(`${dir}/`);
        if (inside && splitPath(key).dir !== dir) this.refuseSameLayer(entryName, key);
      }
      for (const given of this.below.get(dir) ?? []) this.whiteouts.add(given);
      if (this.directories.has(dir)) this.whiteouts.add(this.watched.get(dir) ?? dir);
      return;
    }
    if (base.startsWith('.wh..wh.')) return; // other AUFS metadata, no deletion
    const name = base.slice('.wh.'.length);
    if (name === '') return;
    const target = dir === '' ? name : `${dir}/${name}`;
    // containers/storage deletes what stands at the target now, this layer's own files included;
    // the OCI spec says a whiteout hides only the layers below. Refused when they differ.
    for (const key of this.files.keys()) {
      if (key === target || key.startsWith(`${target}/`)) this.refuseSameLayer(entryName, key);
    }
    const given = this.watched.get(target);
    if (given !== undefined) this.whiteouts.add(given);
    else if (this.directories.has(dir)) this.whiteouts.add(target);
    for (const under of this.below.get(target) ?? []) this.whiteouts.add(under);
  }

  private refuseSameLayer(whiteout: string, key: string): never {
    throw new VerifyError(
      'INVALID_CONTENT',
      `${this.layer}: whiteout ${quoteName(whiteout)} follows ${quoteName(key)} in the same ` +
        'layer (extractors disagree on whether it deletes it)',
    );
  }
}

/**
 * Typeflags of `other` entries containers/storage extracts (`extractTarFileEntry`): character
 * and block devices, FIFOs, and global PAX headers (ignored, after removing what stands at their
 * name). Anything else, `7` (contiguous file) included, fails the layer there.
 */
const EXTRACTED_OTHER_TYPEFLAGS: ReadonlySet<string> = new Set(['3', '4', '6', 'g']);

/**
 * The non-directories a layer has created so far, to refuse entries that containers/storage
 * would put somewhere else than their name says, or fail on. It extracts each layer into a
 * directory (overlay: the layer's own) resolving the entry's parent through symbolic links
 * (`securejoin`): an entry below a symbolic link of the same layer lands wherever the link points
 * (`opt/x -> /release-manifests`, then `opt/x/image-references`), which a reader that only
 * matches names never sees. An entry below a regular file, device or hard link fails the layer
 * (`not a directory`). Both are refused. A later directory entry or whiteout at the path
 * replaces or removes the non-directory.
 */
class LayerTree {
  private readonly layer: string;
  /** Path → kind of the non-directory entries of this layer still standing. */
  private readonly nonDirectories = new Map<string, TarEntry['kind']>();

  constructor(layer: string) {
    this.layer = layer;
  }

  onEntry(entry: TarEntry): void {
    const parts = entry.path.split('/');
    for (let depth = 1; depth < parts.length; depth++) {
      const ancestor = parts.slice(0, depth).join('/');
      const kind = this.nonDirectories.get(ancestor);
      if (kind === undefined) continue;
      throw new VerifyError(
        kind === 'symlink' ? 'UNSAFE_PATH' : 'LAYER_FORMAT',
        `${this.layer}: entry ${quoteName(entry.name)} lies below ${quoteName(ancestor)}, a ` +
          `${kind === 'symlink' ? 'symbolic link' : 'non-directory'} of the same layer`,
      );
    }
    const { dir, base } = splitPath(entry.path);
    if (base.startsWith('.wh.')) {
      if (base.startsWith('.wh..wh.')) return;
      this.remove(dir === '' ? base.slice(4) : `${dir}/${base.slice(4)}`);
      return;
    }
    if (entry.kind === 'directory' || (entry.kind === 'other' && entry.typeflag === 'g')) {
      // Replaces a non-directory at the path (storage removes what stands at a global header's
      // name); nothing can stand below a non-directory, so no scan is needed.
      this.nonDirectories.delete(entry.path);
    } else {
      this.nonDirectories.set(entry.path, entry.kind);
    }
  }

  /** A whiteout removes the path and everything below it (whiteouts are few: a scan is fine). */
  private remove(path: string): void {
    this.nonDirectories.delete(path);
    if (this.nonDirectories.size === 0) return;
    const prefix = `${path}/`;
    for (const key of this.nonDirectories.keys()) {
      if (key.startsWith(prefix)) this.nonDirectories.delete(key);
    }
  }
}

function splitPath(path: string): { dir: string; base: string } {
  const slash = path.lastIndexOf('/');
  return { dir: slash === -1 ? '' : path.slice(0, slash), base: path.slice(slash + 1) };
}

function describeKind(entry: TarEntry): string {
  switch (entry.kind) {
    case 'file':
      return 'regular file';
    case 'directory':
      return 'directory';
    case 'symlink':
      return 'symbolic link';
    case 'hardlink':
      return 'hard link';
    case 'other':
      return `entry of typeflag ${JSON.stringify(entry.typeflag)}`;
  }
}
