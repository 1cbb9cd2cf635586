import { VerifyError } from '../errors.js';

/**
 * ASCII armor decoding, tolerant where Go's armor reader is (anything after the END marker on
 * its line or after it is ignored; header lines are skipped) and strict where it matters (the
 * base64 must decode cleanly and a present CRC-24 must match).
 */
export interface ArmorBlock {
  readonly type: string;
  readonly data: Uint8Array;
}

const BEGIN_RE = /^-----BEGIN PGP ([A-Z0-9 ,/]+)-----\s*$/;
const END_PREFIX = '-----END PGP ';
const HEADER_RE = /^[A-Za-z0-9-]+: /;
const BASE64_LINE_RE = /^[A-Za-z0-9+/]*={0,2}$/;

export function looksArmored(data: Uint8Array): boolean {
  const head = Buffer.from(data.subarray(0, 4096)).toString('latin1');
  return head.includes('-----BEGIN PGP ');
}

/**
 * Decodes the armored blocks in `text`, in order (only the first with `firstOnly`: what follows
 * it is not even read, as Go's armor.Decode reads one block). Throws when none is found.
 */
export function decodeArmor(text: string, options: { firstOnly?: boolean } = {}): ArmorBlock[] {
  const lines = text.split(/\r?\n/);
  const blocks: ArmorBlock[] = [];
  let i = 0;
  while (i < lines.length) {
    const begin = BEGIN_RE.exec((lines[i] ?? '').trim());
    i++;
    if (!begin) continue;
    const type = begin[1] ?? '';
    // Armor headers run until the first blank line; some writers omit the blank line, so a line
    // shaped like a header is skipped too.
    while (i < lines.length && HEADER_RE.test(lines[i] ?? '')) i++;
    if (i < lines.length && (lines[i] ?? '').trim() === '') i++;
    const body: string[] = [];
    let crc: string | undefined;
    let ended = false;
    for (; i < lines.length; i++) {
      const line = (lines[i] ?? '').trim();
      if (line.startsWith(END_PREFIX)) {
        ended = true;
        i++;
        break;
      }
      if (line === '') continue;
      if (line.startsWith('=') && line.length === 5) {
        crc = line.slice(1);
        continue;
      }
      if (!BASE64_LINE_RE.test(line)) {
        throw new VerifyError(
          'MALFORMED_MESSAGE',
          `armored ${type}: invalid base64 line ${JSON.stringify(line.slice(0, 40))}`,
        );
      }
      body.push(line);
    }
    if (!ended) throw new VerifyError('MALFORMED_MESSAGE', `armored ${type}: missing END line`);
    const joined = body.join('');
    const data = Buffer.from(joined, 'base64');
    if (data.toString('base64').replace(/=+$/, '') !== joined.replace(/=+$/, '')) {
      throw new VerifyError(
        'MALFORMED_MESSAGE',
        `armored ${type}: base64 body does not decode cleanly`,
      );
    }
    if (crc !== undefined) {
      const expected = Buffer.from(crc, 'base64');
      const actual = crc24(data);
      if (expected.length !== 3 || expected.readUIntBE(0, 3) !== actual) {
        throw new VerifyError('MALFORMED_MESSAGE', `armored ${type}: CRC-24 checksum mismatch`);
      }
    }
    blocks.push({ type, data: new Uint8Array(data) });
    if (options.firstOnly === true) break;
  }
  if (blocks.length === 0)
    throw new VerifyError('MALFORMED_MESSAGE', 'no armored OpenPGP block found');
  return blocks;
}

/** CRC-24 of each byte value as the top byte of the register (RFC 4880 §6.1's polynomial). */
const CRC24_TABLE = ((): Uint32Array => {
  const table = new Uint32Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 16;
    for (let j = 0; j < 8; j++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1864cfb;
    }
    table[byte] = crc & 0xffffff;
  }
  return table;
})();

/** The armor checksum (RFC 4880 §6.1), a byte at a time from a table. */
export function crc24(data: Uint8Array): number {
  let crc = 0xb704ce;
  for (const byte of data) {
    crc = ((crc << 8) & 0xffffff) ^ (CRC24_TABLE[((crc >>> 16) ^ byte) & 0xff] ?? 0);
  }
  return crc;
}
