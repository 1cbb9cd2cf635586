import { VerifyError } from '../errors.js';
import { BodyReader } from './packets.js';

/** A parsed signature packet, version 3 or 4. Versions 5 and 6 are rejected. */
export interface SignaturePacket {
  readonly version: 3 | 4;
  readonly signatureType: number;
  readonly publicKeyAlgorithm: number;
  readonly hashAlgorithm: number;
  /** Seconds since the epoch. */
  readonly created: number;
  /** Seconds after `created`; 0 = never expires. */
  readonly expiresAfter: number;
  /** 16 hex digits, lowercase. */
  readonly issuerKeyId: string;
  /** Issuer fingerprint subpacket (V4), lowercase hex, when present. */
  readonly issuerFingerprint?: string;
  /** The bytes hashed after the message data: V3's 5 bytes, V4's hashed area and trailer. */
  readonly hashSuffix: Uint8Array;
  readonly left16: Uint8Array;
  /** Algorithm-specific signature values (MPIs, or raw bytes for Ed25519). */
  readonly values: readonly Uint8Array[];
}

export const SignatureType = { Binary: 0x00, Text: 0x01 } as const;

export const PublicKeyAlgorithm = {
  RSA: 1,
  RSASignOnly: 3,
  DSA: 17,
  ECDSA: 19,
  EdDSALegacy: 22,
  Ed25519: 27,
} as const;

/** OpenPGP hash algorithm IDs we accept for data signatures, with node:crypto names. */
export const ACCEPTED_HASHES: ReadonlyMap<number, string> = new Map([
  [8, 'sha256'],
  [9, 'sha384'],
  [10, 'sha512'],
  [11, 'sha224'],
]);

const HASH_NAMES: Readonly<Record<number, string>> = { 1: 'MD5', 2: 'SHA-1', 3: 'RIPEMD-160' };

const SubpacketType = {
  CreationTime: 2,
  ExpirationTime: 3,
  Issuer: 16,
  IssuerFingerprint: 33,
} as const;

/** Subpacket types that may be marked critical without us rejecting the signature. */
const UNDERSTOOD_SUBPACKETS = new Set<number>([
  SubpacketType.CreationTime,
  SubpacketType.ExpirationTime,
  SubpacketType.Issuer,
  SubpacketType.IssuerFingerprint,
  28, // signer's user ID: informational
]);

export function parseSignaturePacket(body: Uint8Array): SignaturePacket {
  const r = new BodyReader(body, 'signature packet');
  const version = r.u8();
  if (version === 3) return parseV3(r, body);
  if (version === 4) return parseV4(r, body);
  throw new VerifyError(
    'UNSUPPORTED_ALGORITHM',
    `signature packet version ${version} is not supported`,
  );
}

function parseV3(r: BodyReader, body: Uint8Array): SignaturePacket {
  const hashedLength = r.u8();
  if (hashedLength !== 5) {
    throw new VerifyError(
      'MALFORMED_MESSAGE',
      `V3 signature hashed length must be 5, got ${hashedLength}`,
    );
  }
  // V3 hashes exactly these five bytes after the data: signature type and creation time.
  const hashSuffix = body.subarray(r.pos, r.pos + 5);
  const signatureType = r.u8();
  const created = r.uint(4);
  const issuerKeyId = Buffer.from(r.bytes(8)).toString('hex');
  const publicKeyAlgorithm = r.u8();
  const hashAlgorithm = r.u8();
  const left16 = r.bytes(2);
  const values = readSignatureValues(r, publicKeyAlgorithm);
  return {
    version: 3,
    signatureType,
    publicKeyAlgorithm,
    hashAlgorithm,
    created,
    expiresAfter: 0,
    issuerKeyId,
    hashSuffix: new Uint8Array(hashSuffix),
    left16,
    values,
  };
}

function parseV4(r: BodyReader, body: Uint8Array): SignaturePacket {
  const signatureType = r.u8();
  const publicKeyAlgorithm = r.u8();
  const hashAlgorithm = r.u8();
  const hashedLength = r.uint(2);
  const hashed = r.bytes(hashedLength);
  const unhashedLength = r.uint(2);
  const unhashed = r.bytes(unhashedLength);
  const left16 = r.bytes(2);
  const values = readSignatureValues(r, publicKeyAlgorithm);

  let created: number | undefined;
  let expiresAfter = 0;
  let issuerKeyId: string | undefined;
  let issuerFingerprint: string | undefined;
  for (const sp of readSubpackets(hashed)) {
    if (sp.critical && !UNDERSTOOD_SUBPACKETS.has(sp.type)) {
      throw new VerifyError(
        'UNSUPPORTED_MESSAGE',
        `signature has an unknown critical subpacket ${sp.type}`,
      );
    }
    if (sp.type === SubpacketType.CreationTime && sp.data.length === 4)
      created = Buffer.from(sp.data).readUInt32BE(0);
    if (sp.type === SubpacketType.ExpirationTime && sp.data.length === 4)
      expiresAfter = Buffer.from(sp.data).readUInt32BE(0);
    if (sp.type === SubpacketType.Issuer && sp.data.length === 8)
      issuerKeyId = Buffer.from(sp.data).toString('hex');
    if (sp.type === SubpacketType.IssuerFingerprint)
      issuerFingerprint = fingerprintFromSubpacket(sp.data);
  }
  // Issuer IDs may sit in the unhashed area (they only select a key; the signature then proves
  // it); creation and expiry times there are ignored because nothing protects them.
  for (const sp of readSubpackets(unhashed)) {
    if (sp.type === SubpacketType.Issuer && sp.data.length === 8 && issuerKeyId === undefined) {
      issuerKeyId = Buffer.from(sp.data).toString('hex');
    }
    if (sp.type === SubpacketType.IssuerFingerprint && issuerFingerprint === undefined) {
      issuerFingerprint = fingerprintFromSubpacket(sp.data);
    }
  }
  if (created === undefined) {
    throw new VerifyError('MALFORMED_MESSAGE', 'V4 signature has no hashed creation time');
  }
  if (issuerKeyId === undefined && issuerFingerprint !== undefined) {
    issuerKeyId = issuerFingerprint.slice(-16);
  }
  if (issuerKeyId === undefined) {
    throw new VerifyError('MALFORMED_MESSAGE', 'signature names no issuer key');
  }
  // Hashed after the data: version..hashed subpackets, then the trailer 0x04 0xFF len32.
  const hashedPortion = body.subarray(0, 6 + hashedLength);
  const trailer = Buffer.alloc(6);
  trailer[0] = 0x04;
  trailer[1] = 0xff;
  trailer.writeUInt32BE(hashedPortion.length, 2);
  return {
    version: 4,
    signatureType,
    publicKeyAlgorithm,
    hashAlgorithm,
    created,
    expiresAfter,
    issuerKeyId,
    ...(issuerFingerprint !== undefined ? { issuerFingerprint } : {}),
    hashSuffix: new Uint8Array(Buffer.concat([hashedPortion, trailer])),
    left16,
    values,
  };
}

function fingerprintFromSubpacket(data: Uint8Array): string | undefined {
  // One version byte, then the fingerprint (20 bytes for V4 keys).
  if (data.length < 2) return undefined;
  return Buffer.from(data.subarray(1)).toString('hex');
}

function readSignatureValues(r: BodyReader, algorithm: number): Uint8Array[] {
  let values: Uint8Array[];
  switch (algorithm) {
    case PublicKeyAlgorithm.RSA:
    case PublicKeyAlgorithm.RSASignOnly:
      values = [r.mpi()];
      break;
    case PublicKeyAlgorithm.ECDSA:
    case PublicKeyAlgorithm.EdDSALegacy:
    case PublicKeyAlgorithm.DSA:
      values = [r.mpi(), r.mpi()];
      break;
    case PublicKeyAlgorithm.Ed25519:
      values = [r.bytes(64)];
      break;
    default:
      throw new VerifyError(
        'UNSUPPORTED_ALGORITHM',
        `signature public-key algorithm ${algorithm} is not supported`,
      );
  }
  if (r.remaining !== 0) {
    throw new VerifyError(
      'MALFORMED_MESSAGE',
      `signature packet has ${r.remaining} trailing bytes`,
    );
  }
  return values;
}

interface Subpacket {
  readonly type: number;
  readonly critical: boolean;
  readonly data: Uint8Array;
}

function readSubpackets(area: Uint8Array): Subpacket[] {
  const r = new BodyReader(area, 'signature subpacket area');
  const out: Subpacket[] = [];
  while (r.remaining > 0) {
    const first = r.u8();
    let length: number;
    if (first < 192) length = first;
    else if (first < 255) length = ((first - 192) << 8) + r.u8() + 192;
    else length = r.uint(4);
    if (length === 0) throw new VerifyError('MALFORMED_MESSAGE', 'empty signature subpacket');
    const content = r.bytes(length);
    const typeByte = content[0] ?? 0;
    out.push({
      type: typeByte & 0x7f,
      critical: (typeByte & 0x80) !== 0,
      data: content.subarray(1),
    });
  }
  return out;
}

/** Names a hash algorithm for an error message. */
export function describeHash(id: number): string {
  return HASH_NAMES[id] ?? ACCEPTED_HASHES.get(id) ?? `hash algorithm ${id}`;
}
