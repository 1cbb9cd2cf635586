import { gzipSync, zstdCompressSync } from 'node:zlib';

/**
 * A small tar writer for the walkthrough and tests: ustar headers, GNU long names (`L`/`K`) and PAX (`x`) extended
 * headers, with knobs to write what real archivers would not (a wrong size, a raw typeflag, a
 * base-256 size). Deterministic: every header has the same owner and mtime.
 */

const BLOCK = 512;
const NAME_FIELD = 100;
/** Largest size an 11-digit octal field holds; larger sizes need base-256 or PAX. */
const MAX_OCTAL_SIZE = 8 ** 11 - 1;
/** 2024-01-01T00:00:00Z, so archives are byte-for-byte reproducible. */
const MTIME = 1_704_067_200;

export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink';

export interface TarEntryInput {
  /** The member name as stored (`./a/b`, `a/b/`, anything: it is not checked). */
  readonly name: string;
  readonly body?: Buffer | string;
  /** Default `file`. */
  readonly type?: TarEntryType;
  /** A raw typeflag character written instead of `type`'s (`S`, `g`, `V`, `3`, …). */
  readonly typeflag?: string;
  /** Link target of a symlink or hard link. */
  readonly linkname?: string;
  /** Default 0o644, 0o755 for directories. */
  readonly mode?: number;
  /** The size written in the header; the body is written as given (padded to a block). */
  readonly size?: number;
  /** How a name or link name over 100 bytes is written (default `pax`). */
  readonly longName?: 'gnu' | 'pax';
  /** Extra PAX records, written in an `x` header before the entry. */
  readonly pax?: Readonly<Record<string, string>>;
  /** Write the size field in GNU base-256 even when octal would do. */
  readonly base256Size?: boolean;
  /**
   * A raw prefix field (POSIX headers only): up to 155 bytes at offset 345 for ustar, 131 for
   * STAR. Not checked: it may disagree with what a reader of the other format would see.
   */
  readonly prefix?: string;
  /** `star` writes Schily tar's trailer (`tar\0` in the header's last 4 bytes). Default ustar. */
  readonly headerFormat?: 'ustar' | 'star';
}

export interface MakeTarOptions {
  /** Write the two zero blocks that end an archive (default true). */
  readonly endMarker?: boolean;
}

/** Builds a tar archive in memory (for release layers, including deliberately hostile ones). */
export function makeTar(entries: readonly TarEntryInput[], options: MakeTarOptions = {}): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) blocks.push(...entryBlocks(entry));
  if (options.endMarker ?? true) blocks.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(blocks);
}

/** PAX records (`<length> <key>=<value>\n`), e.g. for the body of a `g` entry. */
export function paxRecords(records: Readonly<Record<string, string>>): Buffer {
  return Buffer.concat(Object.entries(records).map(([key, value]) => paxRecord(key, value)));
}

export function gzip(data: Buffer): Buffer {
  return gzipSync(data);
}

export function zstd(data: Buffer): Buffer {
  return zstdCompressSync(data);
}

/** Splits `data` into chunks of `size` bytes, as an async iterable (a slow network body). */
export async function* chunked(data: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < data.length; offset += size) {
    await Promise.resolve();
    yield new Uint8Array(data.subarray(offset, offset + size));
  }
}

function entryBlocks(entry: TarEntryInput): Buffer[] {
  const type = entry.type ?? 'file';
  const body = typeof entry.body === 'string' ? Buffer.from(entry.body) : (entry.body ?? EMPTY);
  const typeflag = entry.typeflag ?? TYPEFLAGS[type];
  const linkname = entry.linkname ?? '';
  const longName = entry.longName ?? 'pax';
  const nameTooLong = Buffer.byteLength(entry.name) > NAME_FIELD;
  const linkTooLong = Buffer.byteLength(linkname) > NAME_FIELD;
  const gnu = longName === 'gnu' && (nameTooLong || linkTooLong);

  const blocks: Buffer[] = [];
  const pax: Record<string, string> = { ...entry.pax };
  if (longName === 'pax' && nameTooLong && !('path' in pax)) pax.path = entry.name;
  if (longName === 'pax' && linkTooLong && !('linkpath' in pax)) pax.linkpath = linkname;
  if (Object.keys(pax).length > 0) {
    const records = paxRecords(pax);
    blocks.push(
      header({ name: paxHeaderName(entry.name), typeflag: 'x', size: records.length }),
      padded(records),
    );
  }
  if (gnu && nameTooLong) blocks.push(...gnuLongHeader('L', entry.name));
  if (gnu && linkTooLong) blocks.push(...gnuLongHeader('K', linkname));
  blocks.push(
    header({
      name: entry.name,
      typeflag,
      size: entry.size ?? body.length,
      linkname,
      mode: entry.mode ?? (type === 'dir' ? 0o755 : 0o644),
      gnu,
      base256Size: entry.base256Size ?? false,
      ...(entry.prefix !== undefined ? { prefix: entry.prefix } : {}),
      star: entry.headerFormat === 'star',
    }),
    padded(body),
  );
  return blocks;
}

const EMPTY = Buffer.alloc(0);

const TYPEFLAGS: Readonly<Record<TarEntryType, string>> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  dir: '5',
};

interface HeaderFields {
  readonly name: string;
  readonly typeflag: string;
  readonly size: number;
  readonly linkname?: string;
  readonly mode?: number;
  /** GNU magic (`ustar  \0`) instead of POSIX (`ustar\000`). */
  readonly gnu?: boolean;
  readonly base256Size?: boolean;
  readonly prefix?: string;
  readonly star?: boolean;
}

function header(fields: HeaderFields): Buffer {
  const block = Buffer.alloc(BLOCK);
  writeString(block, 0, NAME_FIELD, fields.name);
  writeOctal(block, 100, 8, fields.mode ?? 0o644);
  writeOctal(block, 108, 8, 0); // uid
  writeOctal(block, 116, 8, 0); // gid
  writeSize(block, fields.size, fields.base256Size ?? false);
  writeOctal(block, 136, 12, MTIME);
  block.write(fields.typeflag.slice(0, 1), 156, 'latin1');
  writeString(block, 157, NAME_FIELD, fields.linkname ?? '');
  block.write(fields.gnu === true ? 'ustar  \0' : 'ustar\x0000', 257, 'latin1');
  writeString(block, 265, 32, 'root');
  writeString(block, 297, 32, 'root');
  if (fields.gnu !== true) {
    writeOctal(block, 329, 8, 0); // devmajor
    writeOctal(block, 337, 8, 0); // devminor
    if (fields.prefix !== undefined) {
      writeString(block, 345, fields.star === true ? 131 : 155, fields.prefix);
    }
    if (fields.star === true) {
      // STAR keeps access and change times after its 131-byte prefix.
      writeOctal(block, 476, 12, MTIME);
      writeOctal(block, 488, 12, MTIME);
      block.write('tar\0', 508, 'latin1');
    }
  }
  // The checksum is computed with its own field as eight spaces, then written as six octal
  // digits, a NUL and a space.
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

function gnuLongHeader(typeflag: 'L' | 'K', name: string): Buffer[] {
  const data = Buffer.concat([Buffer.from(name), Buffer.alloc(1)]);
  return [header({ name: '././@LongLink', typeflag, size: data.length, gnu: true }), padded(data)];
}

/** Where GNU tar puts PAX headers: `<dir>/PaxHeaders/<base>`, cut to fit. */
function paxHeaderName(name: string): string {
  const base = name.replace(/\/+$/, '').split('/').pop() ?? '';
  return `PaxHeaders/${base}`.slice(0, NAME_FIELD);
}

function paxRecord(key: string, value: string): Buffer {
  const text = ` ${key}=${value}\n`;
  const bytes = Buffer.byteLength(text);
  // The length counts its own digits.
  let digits = String(bytes).length;
  while (String(bytes + digits).length !== digits) digits += 1;
  return Buffer.from(`${String(bytes + digits)}${text}`);
}

function writeString(block: Buffer, offset: number, length: number, value: string): void {
  Buffer.from(value).copy(block, offset, 0, length);
}

/** `length - 1` octal digits and a NUL. */
function writeOctal(block: Buffer, offset: number, length: number, value: number): void {
  block.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, 'latin1');
}

function writeSize(block: Buffer, size: number, base256: boolean): void {
  if (!base256 && size <= MAX_OCTAL_SIZE) {
    writeOctal(block, 124, 12, size);
    return;
  }
  block[124] = 0x80;
  let rest = size;
  for (let i = 135; i > 124; i--) {
    block[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
}

function padded(data: Buffer): Buffer {
  const padding = (BLOCK - (data.length % BLOCK)) % BLOCK;
  return padding === 0 ? data : Buffer.concat([data, Buffer.alloc(padding)]);
}
