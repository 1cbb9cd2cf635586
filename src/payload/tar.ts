import { VerifyError } from '../errors.js';

/** Tar's unit: headers are one block, bodies are padded to a whole number of blocks. */
export const TAR_BLOCK_SIZE = 512;

/** Longest entry name or link target quoted in an error message. */
const MAX_QUOTED_NAME = 200;

/** An archive entry, path and link target already normalised and checked. */
export type TarEntry =
  | { readonly kind: 'file'; readonly path: string; readonly name: string; readonly size: number }
  | { readonly kind: 'directory'; readonly path: string; readonly name: string }
  | {
      readonly kind: 'symlink' | 'hardlink';
      readonly path: string;
      readonly name: string;
      readonly target: string;
    }
  | {
      /**
       * Devices and FIFOs (always size 0: header-only), global PAX headers (`g`, under their own
       * name, as Go's archive/tar returns them) and typeflags this reader does not interpret
       * (their bodies are skipped, as Go reads them).
       */
      readonly kind: 'other';
      readonly path: string;
      readonly name: string;
      readonly typeflag: string;
      readonly size: number;
    };

/** Receives the body of one regular file, in order; `end` once it is complete. */
export interface TarBodySink {
  write(chunk: Buffer): void;
  end(): void;
}

export interface TarReaderOptions {
  /** Names the archive in messages (`layer sha256:…`). */
  readonly archive: string;
  /** Entries (extended headers excluded) this archive may hold. */
  readonly maxEntries: number;
  /** Size of one PAX record set or GNU long name/link body. */
  readonly maxHeaderBytes: number;
  /**
   * Called for every entry in archive order. A sink returned for a `file` entry receives its body;
   * anything thrown aborts the read.
   */
  readonly onEntry: (entry: TarEntry) => TarBodySink | undefined;
}

/** Extended headers waiting for the entry they apply to. */
interface PendingExtensions {
  pax?: ReadonlyMap<string, string>;
  longName?: string;
  longLink?: string;
}

type ExtensionFlag = 'x' | 'g' | 'L' | 'K';

type ReaderState =
  | { readonly kind: 'header' }
  /** A lone zero block was read: the next block must be zero too (end of archive) or absent. */
  | { readonly kind: 'zero' }
  | {
      readonly kind: 'body';
      readonly name: string;
      remaining: number;
      padding: number;
      readonly sink: TarBodySink | undefined;
    }
  | {
      readonly kind: 'extension';
      readonly flag: ExtensionFlag;
      readonly data: Buffer;
      filled: number;
      padding: number;
    }
  /** Two zero blocks were read: anything after them is not part of the archive. */
  | { readonly kind: 'end' };

const POSIX_MAGIC = Buffer.from('ustar\x00', 'latin1');
/** The last four bytes of a STAR header (Schily tar), which Go's archive/tar reads as STAR. */
const STAR_TRAILER = Buffer.from('tar\x00', 'latin1');

/**
 * Typeflags Go's archive/tar reads without a body whatever the size field says (its
 * `isHeaderOnlyType`): the next header starts right after them.
 */
const HEADER_ONLY_TYPEFLAGS: ReadonlySet<string> = new Set(['1', '2', '3', '4', '5', '6']);

/**
 * Overlay file-system xattrs, carried as PAX `SCHILY.xattr.<name>` records. containers/storage
 * writes them onto the extracted files; under an overlay mount they change what a path shows
 * (`redirect` makes a directory show another's files, `opaque` hides the layers below,
 * `metacopy`, `origin` …). We do not emulate overlayfs, so a layer carrying any is refused.
 */
const OVERLAY_XATTR_PREFIXES = ['SCHILY.xattr.trusted.overlay.', 'SCHILY.xattr.user.overlay.'];

/**
 * An incremental, fail-closed tar reader (ustar, GNU and PAX): `push` blocks of the archive as
 * they arrive, then `finish`. It keeps no body unless `onEntry` asks for it and never touches
 * the file system.
 *
 * Rejected, as hostile or ambiguous between extractors: entry paths that are absolute, contain a
 * `..` component or a NUL (`UNSAFE_PATH`); link targets that are absolute or, lexically, leave the
 * archive root (`UNSAFE_PATH`); sparse files (`LAYER_FORMAT`); global PAX headers that set a path,
 * link or size, and a PAX path that disagrees with a GNU long name (`LAYER_FORMAT`); bad
 * checksums, malformed numbers or records, bodies on header-only entries and archives that end
 * inside an entry (`LAYER_CORRUPT`).
 */
export class TarReader {
  private readonly options: TarReaderOptions;
  private readonly header = Buffer.alloc(TAR_BLOCK_SIZE);
  private headerFilled = 0;
  private state: ReaderState = { kind: 'header' };
  private pending: PendingExtensions = {};
  private entryCount = 0;
  /** The header block of the global PAX header being read, reported once its records are. */
  private globalHeader: Buffer | undefined;

  constructor(options: TarReaderOptions) {
    this.options = options;
  }

  /** Entries read so far (extended headers excluded, global PAX headers included). */
  get entries(): number {
    return this.entryCount;
  }

  /** Whether the end-of-archive marker (two zero blocks) has been read. */
  get ended(): boolean {
    return this.state.kind === 'end';
  }

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      const state = this.state;
      switch (state.kind) {
        case 'end':
          return;
        case 'header':
        case 'zero': {
          if (this.headerFilled === 0 && chunk.length - offset >= TAR_BLOCK_SIZE) {
            this.readHeader(chunk.subarray(offset, offset + TAR_BLOCK_SIZE));
            offset += TAR_BLOCK_SIZE;
            break;
          }
          const n = Math.min(TAR_BLOCK_SIZE - this.headerFilled, chunk.length - offset);
          chunk.copy(this.header, this.headerFilled, offset, offset + n);
          this.headerFilled += n;
          offset += n;
          if (this.headerFilled === TAR_BLOCK_SIZE) {
            this.headerFilled = 0;
            this.readHeader(this.header);
          }
          break;
        }
        case 'body': {
          if (state.remaining > 0) {
            const n = Math.min(state.remaining, chunk.length - offset);
            state.sink?.write(chunk.subarray(offset, offset + n));
            state.remaining -= n;
            offset += n;
            if (state.remaining === 0) state.sink?.end();
          } else {
            const n = Math.min(state.padding, chunk.length - offset);
            state.padding -= n;
            offset += n;
          }
          if (state.remaining === 0 && state.padding === 0) this.state = { kind: 'header' };
          break;
        }
        case 'extension': {
          if (state.filled < state.data.length) {
            const n = Math.min(state.data.length - state.filled, chunk.length - offset);
            chunk.copy(state.data, state.filled, offset, offset + n);
            state.filled += n;
            offset += n;
          } else {
            const n = Math.min(state.padding, chunk.length - offset);
            state.padding -= n;
            offset += n;
          }
          if (state.filled === state.data.length && state.padding === 0) {
            this.state = { kind: 'header' };
            this.applyExtension(state.flag, state.data);
            if (state.flag === 'g') this.reportGlobal(state.data.length);
          }
          break;
        }
      }
    }
  }

  /**
   * Call at the end of the stream. An archive may end with its end-of-archive marker, with one
   * zero block or, as Go's archive/tar accepts, right after an entry; anywhere else is a
   * truncation.
   */
  finish(): void {
    const state = this.state;
    const { archive } = this.options;
    if (this.headerFilled !== 0) {
      throw new VerifyError('LAYER_CORRUPT', `${archive}: the archive ends inside a tar header`);
    }
    switch (state.kind) {
      case 'end':
      case 'zero':
        return;
      case 'header':
        if (hasPending(this.pending)) {
          throw new VerifyError(
            'LAYER_CORRUPT',
            `${archive}: the archive ends after an extended header, before its entry`,
          );
        }
        return;
      case 'body':
        // Go's archive/tar takes an end inside the padding after the last body as the end of
        // the archive (`tryReadFull` of the padding returns io.EOF).
        if (state.remaining === 0 && !hasPending(this.pending)) return;
        throw new VerifyError(
          'LAYER_CORRUPT',
          `${archive}: the archive ends inside the body of entry ${quoteName(state.name)}`,
        );
      case 'extension':
        throw new VerifyError(
          'LAYER_CORRUPT',
          `${archive}: the archive ends inside an extended header (typeflag ${state.flag})`,
        );
    }
  }

  private readHeader(block: Buffer): void {
    const { archive } = this.options;
    if (isZeroBlock(block)) {
      if (hasPending(this.pending)) {
        throw new VerifyError(
          'LAYER_CORRUPT',
          `${archive}: an extended header is followed by the end of the archive`,
        );
      }
      this.state = this.state.kind === 'zero' ? { kind: 'end' } : { kind: 'zero' };
      return;
    }
    if (this.state.kind === 'zero') {
      // Go's archive/tar and GNU tar (without --ignore-zeros) disagree past a lone zero block.
      throw new VerifyError(
        'LAYER_CORRUPT',
        `${archive}: a lone zero block inside the archive (entry ${String(this.entryCount + 1)})`,
      );
    }
    verifyChecksum(block, archive, this.entryCount + 1);

    const typeflag = String.fromCharCode(block[156] ?? 0);
    const size = parseSize(block, archive);
    switch (typeflag) {
      case 'x':
      case 'g':
      case 'L':
      case 'K':
        if (typeflag === 'g') this.globalHeader = Buffer.from(block);
        this.startExtension(typeflag, size);
        return;
      case 'S':
        throw new VerifyError(
          'LAYER_FORMAT',
          `${archive}: GNU sparse entry ${quoteName(headerName(block))} is not supported`,
        );
      default:
        this.startEntry(block, typeflag, size);
    }
  }

  private startExtension(flag: ExtensionFlag, size: number): void {
    const { archive, maxHeaderBytes } = this.options;
    if (size > maxHeaderBytes) {
      throw new VerifyError(
        'LAYER_OVERSIZE',
        `${archive}: an extended header (typeflag ${flag}) of ${String(size)} bytes is over the ` +
          `limit of ${String(maxHeaderBytes)} bytes`,
      );
    }
    const duplicate =
      (flag === 'x' && this.pending.pax !== undefined) ||
      (flag === 'L' && this.pending.longName !== undefined) ||
      (flag === 'K' && this.pending.longLink !== undefined);
    if (duplicate) {
      // Extractors disagree on whether the second replaces or merges with the first.
      throw new VerifyError(
        'LAYER_FORMAT',
        `${archive}: two extended headers of typeflag ${flag} for one entry`,
      );
    }
    if (flag === 'g') {
      if (hasPending(this.pending)) {
        // Go's archive/tar drops pending extended headers at a global header; GNU tar keeps them.
        throw new VerifyError(
          'LAYER_FORMAT',
          `${archive}: a global PAX header between an extended header and its entry`,
        );
      }
      this.countEntry();
    }
    const data = Buffer.alloc(size);
    this.state = { kind: 'extension', flag, data, filled: 0, padding: paddingOf(size) };
    if (size === 0) {
      this.state = { kind: 'header' };
      this.applyExtension(flag, data);
      if (flag === 'g') this.reportGlobal(size);
    }
  }

  /**
   * Go's archive/tar returns a global PAX header as an entry under its own name, and
   * containers/storage removes whatever stands at that name before ignoring the entry: it is
   * reported as an `other` entry, so a global header named like a wanted path is refused.
   */
  private reportGlobal(size: number): void {
    const block = this.globalHeader;
    this.globalHeader = undefined;
    if (block === undefined) return;
    const { archive } = this.options;
    const name = headerName(block);
    const path = normaliseArchivePath(name);
    if (path === undefined || path === '') {
      throw new VerifyError(
        'UNSAFE_PATH',
        `${archive}: global PAX header ${quoteName(name)} has an unsafe path`,
      );
    }
    this.options.onEntry({ kind: 'other', path, name, typeflag: 'g', size });
  }

  private applyExtension(flag: ExtensionFlag, data: Buffer): void {
    const { archive } = this.options;
    switch (flag) {
      case 'x':
        this.pending.pax = parsePaxRecords(data, archive);
        return;
      case 'g': {
        // Applied to later entries by GNU tar and ignored by Go's archive/tar: accepted only when
        // it changes nothing either would extract.
        const records = parsePaxRecords(data, archive);
        for (const key of ['path', 'linkpath', 'size']) {
          if (records.has(key)) {
            throw new VerifyError(
              'LAYER_FORMAT',
              `${archive}: a global PAX header sets "${key}", which extractors apply differently`,
            );
          }
        }
        return;
      }
      case 'L':
        this.pending.longName = parseLongName(data, archive);
        return;
      case 'K':
        this.pending.longLink = parseLongName(data, archive);
        return;
    }
  }

  private startEntry(block: Buffer, typeflag: string, headerSize: number): void {
    const { archive } = this.options;
    const { pax, longName, longLink } = this.pending;
    this.pending = {};
    this.countEntry();

    const name = pick('path', pax?.get('path'), longName, headerName(block), archive);
    const link = pick('linkpath', pax?.get('linkpath'), longLink, field(block, 157, 100), archive);
    const paxSize = pax?.get('size');
    const size = paxSize === undefined ? headerSize : parsePaxSize(paxSize, name, archive);
    const path = normaliseArchivePath(name);
    if (path === undefined) {
      throw new VerifyError(
        'UNSAFE_PATH',
        `${archive}: entry ${quoteName(name)} has an unsafe path`,
      );
    }

    for (const key of pax?.keys() ?? []) {
      if (OVERLAY_XATTR_PREFIXES.some((prefix) => key.startsWith(prefix))) {
        throw new VerifyError(
          'LAYER_FORMAT',
          `${archive}: entry ${quoteName(name)} carries the overlay xattr ` +
            `${quoteName(key.slice('SCHILY.xattr.'.length))}, which would change what an overlay ` +
            'mount shows; refused',
        );
      }
    }
    if (HEADER_ONLY_TYPEFLAGS.has(typeflag) && size !== 0) {
      // Go's archive/tar reads no body for these and takes the next block as the next header;
      // other readers skip the size as a body. Ambiguous, so refused.
      throw new VerifyError(
        'LAYER_CORRUPT',
        `${archive}: header-only entry ${quoteName(name)} (typeflag ${JSON.stringify(typeflag)}) ` +
          `has a size of ${String(size)} bytes`,
      );
    }
    const entry = toEntry(typeflag, name, path, link, size, archive);
    if (entry.kind !== 'directory' && path === '') {
      throw new VerifyError(
        'UNSAFE_PATH',
        `${archive}: entry ${quoteName(name)} names the archive root but is not a directory`,
      );
    }
    if (entry.kind === 'directory' && size !== 0) {
      // A pre-POSIX `\0` entry named `dir/`: Go reads it as a header-only directory.
      throw new VerifyError(
        'LAYER_CORRUPT',
        `${archive}: directory entry ${quoteName(name)} has a size of ${String(size)} bytes`,
      );
    }
    const sink = this.options.onEntry(entry);
    const bodySink = entry.kind === 'file' ? sink : undefined;
    this.state = { kind: 'body', name, remaining: size, padding: paddingOf(size), sink: bodySink };
    if (size === 0) {
      bodySink?.end();
      this.state = { kind: 'header' };
    }
  }

  private countEntry(): void {
    const { archive, maxEntries } = this.options;
    this.entryCount += 1;
    if (this.entryCount > maxEntries) {
      throw new VerifyError(
        'LAYER_OVERSIZE',
        `${archive}: more than the limit of ${String(maxEntries)} archive entries`,
      );
    }
  }
}

/**
 * Normalises an archive member name: `./a//b/./c/` → `a/b/c`, `./` → `` (the root). Returns
 * `undefined` for a name that is absolute, has a `..` component or contains a NUL: hostile in a
 * release payload whatever it would resolve to.
 */
export function normaliseArchivePath(name: string): string | undefined {
  if (name.startsWith('/') || name.includes('\0')) return undefined;
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '..') return undefined;
    if (part !== '' && part !== '.') parts.push(part);
  }
  return parts.join('/');
}

/** Quotes an archive name for a message: JSON escapes, long names shortened. */
export function quoteName(name: string): string {
  const short = name.length > MAX_QUOTED_NAME ? `${name.slice(0, MAX_QUOTED_NAME)}…` : name;
  return JSON.stringify(short);
}

function toEntry(
  typeflag: string,
  name: string,
  path: string,
  link: string,
  size: number,
  archive: string,
): TarEntry {
  switch (typeflag) {
    case '0':
      if (name.endsWith('/')) {
        // Go's archive/tar extracts a file, GNU tar a directory.
        throw new VerifyError(
          'LAYER_CORRUPT',
          `${archive}: regular file entry ${quoteName(name)} has a directory name`,
        );
      }
      return { kind: 'file', path, name, size };
    case '\0':
      // Pre-POSIX archives mark directories with a trailing slash only.
      return name.endsWith('/')
        ? { kind: 'directory', path, name }
        : { kind: 'file', path, name, size };
    case '5':
      return { kind: 'directory', path, name };
    case '1':
      // Hard link targets are member names, relative to the archive root.
      if (link === '' || normaliseArchivePath(link) === undefined) {
        throw unsafeLink('hard link', name, link, archive);
      }
      return { kind: 'hardlink', path, name, target: link };
    case '2':
      // A whiteout is acted on by its name whatever its type (as containers/storage does), so
      // its link target does not matter.
      if (link === '' && !(name.split('/').pop() ?? '').startsWith('.wh.')) {
        // containers/storage fails the layer (symlink(2) refuses an empty target).
        throw new VerifyError(
          'LAYER_FORMAT',
          `${archive}: symbolic link entry ${quoteName(name)} has an empty target`,
        );
      }
      if (symlinkEscapes(path, link)) throw unsafeLink('symbolic link', name, link, archive);
      return { kind: 'symlink', path, name, target: link };
    default:
      return { kind: 'other', path, name, typeflag, size };
  }
}

/**
 * Whether a relative symbolic link target, resolved lexically from the link's directory, leaves
 * the archive root. Absolute targets are allowed, as container runtimes resolve them inside the
 * image's root (base OS layers are full of them: `/lib/systemd/...`). Lexical only: links
 * through other links are not followed, which is enough because nothing is extracted to disk.
 */
function symlinkEscapes(path: string, target: string): boolean {
  if (target.includes('\0')) return true;
  if (target.startsWith('/')) return false;
  const stack = path.split('/').slice(0, -1);
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part !== '..') stack.push(part);
    else if (stack.pop() === undefined) return true;
  }
  return false;
}

function unsafeLink(what: string, name: string, link: string, archive: string): VerifyError {
  return new VerifyError(
    'UNSAFE_PATH',
    `${archive}: ${what} entry ${quoteName(name)} points outside the archive root (to ${quoteName(link)})`,
  );
}

/** A PAX record wins over a GNU long name, which wins over the header field; the two extended
 *  forms must agree when both are present, as readers disagree on which one wins. */
function pick(
  key: string,
  pax: string | undefined,
  gnu: string | undefined,
  header: string,
  archive: string,
): string {
  const fromPax = pax === '' ? undefined : pax; // an empty PAX value unsets the keyword
  // Go's archive/tar ignores an empty GNU long name or link, as it does an empty PAX value.
  const fromGnu = gnu === '' ? undefined : gnu;
  if (fromPax !== undefined && fromGnu !== undefined && fromPax !== fromGnu) {
    throw new VerifyError(
      'LAYER_FORMAT',
      `${archive}: entry ${quoteName(fromPax)} has a PAX ${key} and a different GNU long name ${quoteName(fromGnu)}`,
    );
  }
  return fromPax ?? fromGnu ?? header;
}

/**
 * The name field, with the prefix field when the header has one, decided as Go's archive/tar
 * does: POSIX magic with the STAR trailer (`tar\0` in the last 4 bytes) is a STAR header, whose
 * prefix is 131 bytes (access and change times follow it); POSIX magic otherwise is ustar, with a
 * 155-byte prefix; GNU and v7 headers have none (GNU keeps other data in those bytes).
 */
function headerName(block: Buffer): string {
  const name = field(block, 0, 100);
  if (!block.subarray(257, 263).equals(POSIX_MAGIC)) return name;
  const star = block.subarray(508, 512).equals(STAR_TRAILER);
  const prefix = field(block, 345, star ? 131 : 155);
  return prefix === '' ? name : `${prefix}/${name}`;
}

/** A NUL-terminated (or full-width) string field. */
function field(block: Buffer, offset: number, length: number): string {
  const bytes = block.subarray(offset, offset + length);
  const nul = bytes.indexOf(0);
  return bytes.toString('utf8', 0, nul === -1 ? length : nul);
}

function isZeroBlock(block: Buffer): boolean {
  for (const byte of block) if (byte !== 0) return false;
  return true;
}

/** Accepts the unsigned sum (POSIX) and the signed one (some historic writers), as Go does. */
function verifyChecksum(block: Buffer, archive: string, entry: number): void {
  const recorded = parseOctal(block.subarray(148, 156));
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < TAR_BLOCK_SIZE; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
    unsigned += byte;
    signed += byte < 0x80 ? byte : byte - 0x100;
  }
  if (recorded === undefined || (recorded !== unsigned && recorded !== signed)) {
    throw new VerifyError(
      'LAYER_CORRUPT',
      `${archive}: bad tar header checksum at entry ${String(entry)} (${quoteName(field(block, 0, 100))})`,
    );
  }
}

/** The 12-byte size field: octal, or GNU base-256 (first byte 0x80) for sizes of 8 GiB and more. */
function parseSize(block: Buffer, archive: string): number {
  const bytes = block.subarray(124, 136);
  const first = bytes[0] ?? 0;
  let size: number | undefined;
  if (first & 0x80) {
    if (first !== 0x80) {
      throw new VerifyError(
        'LAYER_CORRUPT',
        `${archive}: entry ${quoteName(field(block, 0, 100))} has a negative base-256 size`,
      );
    }
    size = 0;
    for (const byte of bytes.subarray(1)) size = size * 256 + byte;
  } else {
    size = parseOctal(bytes);
  }
  if (size === undefined) {
    throw new VerifyError(
      'LAYER_CORRUPT',
      `${archive}: entry ${quoteName(field(block, 0, 100))} has a malformed size field`,
    );
  }
  if (!Number.isSafeInteger(size)) {
    throw new VerifyError(
      'LAYER_OVERSIZE',
      `${archive}: entry ${quoteName(field(block, 0, 100))} has a size over 2^53 bytes`,
    );
  }
  return size;
}

/** An octal field: digits, optionally padded with spaces and NULs on either side (empty is 0). */
function parseOctal(bytes: Buffer): number | undefined {
  const text = bytes.toString('latin1').replace(/^[ \0]+|[ \0]+$/g, '');
  if (!/^[0-7]*$/.test(text)) return undefined;
  return text === '' ? 0 : parseInt(text, 8);
}

function parsePaxSize(value: string, name: string, archive: string): number {
  const size = /^[0-9]{1,16}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(size)) {
    throw new VerifyError(
      'LAYER_CORRUPT',
      `${archive}: entry ${quoteName(name)} has a malformed PAX size ${quoteName(value)}`,
    );
  }
  return size;
}

/**
 * PAX records: `<length> <key>=<value>\n`, length in decimal counting the whole record. Later
 * records win. GNU sparse keywords are refused, as sparse files are.
 */
function parsePaxRecords(data: Buffer, archive: string): Map<string, string> {
  const records = new Map<string, string>();
  const malformed = (): VerifyError =>
    new VerifyError('LAYER_CORRUPT', `${archive}: malformed PAX extended header`);
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    const lengthText = space === -1 ? '' : data.toString('latin1', pos, space);
    if (!/^[1-9][0-9]{0,15}$/.test(lengthText)) throw malformed();
    const end = pos + Number(lengthText);
    const equals = data.indexOf(0x3d, space + 1);
    if (end > data.length || data[end - 1] !== 0x0a || equals <= space + 1 || equals >= end) {
      throw malformed();
    }
    const key = data.toString('utf8', space + 1, equals);
    if (key.startsWith('GNU.sparse.')) {
      throw new VerifyError('LAYER_FORMAT', `${archive}: GNU sparse PAX records are not supported`);
    }
    records.set(key, data.toString('utf8', equals + 1, end - 1));
    pos = end;
  }
  return records;
}

/** A GNU long name or link body: the name and its NUL terminator (padding NULs tolerated). */
function parseLongName(data: Buffer, archive: string): string {
  let end = data.length;
  while (end > 0 && data[end - 1] === 0) end--;
  const name = data.toString('utf8', 0, end);
  if (name.includes('\0')) {
    throw new VerifyError(
      'UNSAFE_PATH',
      `${archive}: GNU long name ${quoteName(name)} contains a NUL byte`,
    );
  }
  return name;
}

function paddingOf(size: number): number {
  return (TAR_BLOCK_SIZE - (size % TAR_BLOCK_SIZE)) % TAR_BLOCK_SIZE;
}

function hasPending(pending: PendingExtensions): boolean {
  return (
    pending.pax !== undefined || pending.longName !== undefined || pending.longLink !== undefined
  );
}
