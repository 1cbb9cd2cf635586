import { VerifyError } from '../errors.js';

/** OpenPGP packet tags this project names (RFC 4880 §4.3, RFC 9580 §5). */
export const Tag = {
  PKESK: 1,
  Signature: 2,
  SKESK: 3,
  OnePassSignature: 4,
  Compressed: 8,
  SymEncrypted: 9,
  Marker: 10,
  Literal: 11,
  SymEncryptedIntegrity: 18,
  AEADEncrypted: 20,
  Padding: 21,
} as const;

export interface Packet {
  readonly tag: number;
  readonly body: Uint8Array;
  /** Offset of the packet header in its enclosing buffer, for error messages. */
  readonly offset: number;
}

/** Most packets a signed message may hold at one nesting level: ours hold three or four. */
export const MAX_PACKETS = 64;

// Partial body lengths are legal only for data-carrying packets (RFC 4880 §4.2.2.4).
const PARTIAL_ALLOWED = new Set<number>([
  Tag.Compressed,
  Tag.SymEncrypted,
  Tag.Literal,
  Tag.SymEncryptedIntegrity,
  Tag.AEADEncrypted,
]);

/** Splits `data` into packets. Every length is bounds-checked; anything odd is an error. */
export function readPackets(data: Uint8Array): Packet[] {
  const packets: Packet[] = [];
  let pos = 0;
  while (pos < data.length) {
    if (packets.length >= MAX_PACKETS) {
      throw new VerifyError('MALFORMED_MESSAGE', `more than ${MAX_PACKETS} OpenPGP packets`);
    }
    const offset = pos;
    const ctb = data[pos++] ?? 0;
    if ((ctb & 0x80) === 0) {
      throw new VerifyError(
        'MALFORMED_MESSAGE',
        `not an OpenPGP packet header (0x${ctb.toString(16)} at offset ${offset})`,
      );
    }
    let tag: number;
    let body: Uint8Array;
    if ((ctb & 0x40) === 0) {
      // Old format: tag in bits 5-2, length type in bits 1-0.
      tag = (ctb >> 2) & 0x0f;
      const lengthType = ctb & 0x03;
      let length: number;
      if (lengthType === 3) {
        length = data.length - pos; // indeterminate: to the end of the enclosing data
      } else {
        const size = 1 << lengthType;
        need(data, pos, size, offset);
        length = readUint(data, pos, size);
        pos += size;
      }
      need(data, pos, length, offset);
      body = data.subarray(pos, pos + length);
      pos += length;
    } else {
      tag = ctb & 0x3f;
      const chunks: Uint8Array[] = [];
      for (;;) {
        need(data, pos, 1, offset);
        const first = data[pos++] ?? 0;
        let length: number;
        let partial = false;
        if (first < 192) {
          length = first;
        } else if (first < 224) {
          need(data, pos, 1, offset);
          length = ((first - 192) << 8) + (data[pos++] ?? 0) + 192;
        } else if (first === 255) {
          need(data, pos, 4, offset);
          length = readUint(data, pos, 4);
          pos += 4;
        } else {
          length = 1 << (first & 0x1f);
          partial = true;
          if (!PARTIAL_ALLOWED.has(tag)) {
            throw new VerifyError(
              'MALFORMED_MESSAGE',
              `partial body length on packet tag ${tag} at offset ${offset}`,
            );
          }
        }
        need(data, pos, length, offset);
        chunks.push(data.subarray(pos, pos + length));
        pos += length;
        if (!partial) break;
      }
      body =
        chunks.length === 1
          ? (chunks[0] ?? new Uint8Array())
          : new Uint8Array(Buffer.concat(chunks));
    }
    if (tag === 0)
      throw new VerifyError('MALFORMED_MESSAGE', `reserved packet tag 0 at offset ${offset}`);
    packets.push({ tag, body, offset });
  }
  return packets;
}

function need(data: Uint8Array, pos: number, length: number, offset: number): void {
  if (length < 0 || pos + length > data.length) {
    throw new VerifyError('MALFORMED_MESSAGE', `OpenPGP packet at offset ${offset} is truncated`);
  }
}

export function readUint(data: Uint8Array, pos: number, size: number): number {
  let value = 0;
  for (let i = 0; i < size; i++) value = value * 256 + (data[pos + i] ?? 0);
  return value;
}

/** A reader over one packet body that throws a named error instead of reading past the end. */
export class BodyReader {
  pos = 0;
  private readonly data: Uint8Array;
  private readonly what: string;

  constructor(data: Uint8Array, what: string) {
    this.data = data;
    this.what = what;
  }

  get remaining(): number {
    return this.data.length - this.pos;
  }

  bytes(length: number): Uint8Array {
    if (length < 0 || this.pos + length > this.data.length) {
      throw new VerifyError('MALFORMED_MESSAGE', `${this.what} is truncated`);
    }
    const out = this.data.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  u8(): number {
    return this.bytes(1)[0] ?? 0;
  }

  uint(size: number): number {
    return readUint(this.bytes(size), 0, size);
  }

  /** An OpenPGP multiprecision integer: 2-byte bit count, then the big-endian value. */
  mpi(): Uint8Array {
    const bits = this.uint(2);
    return this.bytes((bits + 7) >> 3);
  }

  rest(): Uint8Array {
    return this.bytes(this.remaining);
  }
}
