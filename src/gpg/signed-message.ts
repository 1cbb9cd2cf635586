import { inflateRawSync, inflateSync } from 'node:zlib';

import { VerifyError } from '../errors.js';
import { decodeArmor, looksArmored } from './armor.js';
import { BodyReader, readPackets, Tag } from './packets.js';
import type { Packet } from './packets.js';
import { parseSignaturePacket } from './signature-packet.js';
import type { SignaturePacket } from './signature-packet.js';

/** The content of an OpenPGP signed message: the literal data and its signatures. */
export interface SignedMessage {
  /** Literal data format octet: 'b', 't', 'u', … */
  readonly literalFormat: string;
  readonly data: Uint8Array;
  readonly signatures: readonly SignaturePacket[];
}

/** Largest signed message we accept, before or after decompression. Payloads are < 1 KiB. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
/** Compressed packets nested inside compressed packets: gpg writes one level. */
const MAX_NESTING = 2;

const CompressionAlgorithm = { Uncompressed: 0, ZIP: 1, ZLIB: 2, BZip2: 3 } as const;

/**
 * Parses `gpg --sign` output (binary or armored): optional compression, one-pass signatures,
 * one literal data packet, and the matching signature packets. The older "signature first"
 * layout is also accepted. Clear-signed, detached, unsigned-literal and encrypted messages are
 * rejected with a message naming what they are. Nothing here checks a signature; see
 * verify-message.ts.
 */
export function parseSignedMessage(input: Uint8Array): SignedMessage {
  if (input.length > MAX_MESSAGE_BYTES) {
    throw new VerifyError(
      'MALFORMED_MESSAGE',
      `signed message is larger than ${MAX_MESSAGE_BYTES} bytes`,
    );
  }
  if (looksArmored(input)) {
    const text = Buffer.from(input).toString('utf8');
    if (text.includes('-----BEGIN PGP SIGNED MESSAGE-----')) {
      throw new VerifyError(
        'UNSUPPORTED_MESSAGE',
        'clear-signed messages are not accepted: expected a signed message as written by gpg --sign',
      );
    }
    const blocks = decodeArmor(text);
    const block = blocks[0];
    if (blocks.length !== 1 || block === undefined) {
      throw new VerifyError('MALFORMED_MESSAGE', 'expected exactly one armored block');
    }
    if (block.type === 'SIGNATURE') {
      throw new VerifyError(
        'UNSUPPORTED_MESSAGE',
        'detached signatures are not accepted: expected a signed message as written by gpg --sign',
      );
    }
    if (block.type !== 'MESSAGE') {
      throw new VerifyError('UNSUPPORTED_MESSAGE', `armored ${block.type} is not a signed message`);
    }
    // library-go hands the bytes straight to openpgp.ReadMessage, which reads binary packets
    // only: an armored message never verifies on a cluster, so it does not verify here.
    throw new VerifyError(
      'UNSUPPORTED_MESSAGE',
      'armored signed messages are not accepted: the cluster-version operator reads binary OpenPGP messages (gpg --sign without --armor)',
    );
  }
  return parseMessage(readPackets(input), 0);
}

function parseMessage(all: Packet[], depth: number): SignedMessage {
  // Marker and padding packets carry nothing and are to be ignored (RFC 4880 §5.8, RFC 9580 §5.14).
  const packets = all.filter((p) => p.tag !== Tag.Marker && p.tag !== Tag.Padding);
  const first = packets[0];
  if (first === undefined) throw new VerifyError('MALFORMED_MESSAGE', 'empty OpenPGP message');
  rejectEncrypted(packets);

  if (first.tag === Tag.Compressed) {
    if (packets.length !== 1) {
      throw new VerifyError('MALFORMED_MESSAGE', 'unexpected packets after a compressed packet');
    }
    if (depth >= MAX_NESTING)
      throw new VerifyError('MALFORMED_MESSAGE', 'compressed packets nested too deeply');
    return parseMessage(readPackets(decompress(first.body)), depth + 1);
  }

  if (first.tag === Tag.OnePassSignature) {
    // OPS_1..OPS_n, literal, SIG_n..SIG_1 — the last one-pass packet pairs with the first signature.
    let n = 0;
    while (packets[n]?.tag === Tag.OnePassSignature) n++;
    const literal = packets[n];
    if (literal?.tag !== Tag.Literal) {
      throw new VerifyError(
        'MALFORMED_MESSAGE',
        'one-pass signature is not followed by literal data',
      );
    }
    const sigPackets = packets.slice(n + 1);
    if (sigPackets.length !== n || sigPackets.some((p) => p.tag !== Tag.Signature)) {
      throw new VerifyError(
        'MALFORMED_MESSAGE',
        `expected ${n} signature packet(s) after the literal data, got ${describeTags(sigPackets)}`,
      );
    }
    const signatures = sigPackets.map((p) => parseSignaturePacket(p.body));
    signatures.forEach((sig, i) => {
      const ops = parseOnePass((packets[n - 1 - i] as Packet).body);
      if (
        ops.keyId !== sig.issuerKeyId ||
        ops.hashAlgorithm !== sig.hashAlgorithm ||
        ops.publicKeyAlgorithm !== sig.publicKeyAlgorithm ||
        ops.signatureType !== sig.signatureType
      ) {
        throw new VerifyError(
          'MALFORMED_MESSAGE',
          'one-pass signature packet does not match its signature packet',
        );
      }
    });
    return { ...parseLiteral(literal.body), signatures };
  }

  if (first.tag === Tag.Signature) {
    // Older layout: signature packet(s), then the signed data.
    const literal = packets[packets.length - 1];
    const sigPackets = packets.slice(0, -1);
    if (literal?.tag !== Tag.Literal || sigPackets.some((p) => p.tag !== Tag.Signature)) {
      if (packets.length === 1) {
        throw new VerifyError(
          'UNSUPPORTED_MESSAGE',
          'detached signatures are not accepted: expected a signed message as written by gpg --sign',
        );
      }
      throw new VerifyError(
        'MALFORMED_MESSAGE',
        `unexpected packet layout: ${describeTags(packets)}`,
      );
    }
    return {
      ...parseLiteral(literal.body),
      signatures: sigPackets.map((p) => parseSignaturePacket(p.body)),
    };
  }

  if (first.tag === Tag.Literal) {
    throw new VerifyError('UNSIGNED', 'the message is literal data without any signature');
  }
  throw new VerifyError('MALFORMED_MESSAGE', `unexpected packet layout: ${describeTags(packets)}`);
}

function rejectEncrypted(packets: Packet[]): void {
  const encrypted = new Set<number>([
    Tag.PKESK,
    Tag.SKESK,
    Tag.SymEncrypted,
    Tag.SymEncryptedIntegrity,
    Tag.AEADEncrypted,
  ]);
  if (packets.some((p) => encrypted.has(p.tag))) {
    throw new VerifyError('UNSUPPORTED_MESSAGE', 'encrypted messages are not accepted');
  }
}

function describeTags(packets: Packet[]): string {
  return packets.length === 0 ? 'none' : `packet tags [${packets.map((p) => p.tag).join(', ')}]`;
}

interface OnePass {
  readonly signatureType: number;
  readonly hashAlgorithm: number;
  readonly publicKeyAlgorithm: number;
  readonly keyId: string;
}

function parseOnePass(body: Uint8Array): OnePass {
  const r = new BodyReader(body, 'one-pass signature packet');
  const version = r.u8();
  if (version !== 3)
    throw new VerifyError(
      'UNSUPPORTED_ALGORITHM',
      `one-pass signature version ${version} is not supported`,
    );
  const signatureType = r.u8();
  const hashAlgorithm = r.u8();
  const publicKeyAlgorithm = r.u8();
  const keyId = Buffer.from(r.bytes(8)).toString('hex');
  // x/crypto/openpgp (the CVO) refuses a one-pass packet not marked last ("nested signatures"):
  // the flag is outside what the signature covers, so without this check a flipped bit would
  // verify here and not there.
  if (r.u8() === 0) {
    throw new VerifyError(
      'UNSUPPORTED_MESSAGE',
      'nested one-pass signatures (a one-pass packet not marked last) are not supported, as in the cluster-version operator',
    );
  }
  if (r.remaining !== 0)
    throw new VerifyError('MALFORMED_MESSAGE', 'one-pass signature packet has trailing bytes');
  return { signatureType, hashAlgorithm, publicKeyAlgorithm, keyId };
}

function parseLiteral(body: Uint8Array): { literalFormat: string; data: Uint8Array } {
  const r = new BodyReader(body, 'literal data packet');
  const literalFormat = String.fromCharCode(r.u8());
  const nameLength = r.u8();
  r.bytes(nameLength);
  r.bytes(4); // date: not covered by the signature, so not used
  return { literalFormat, data: r.rest() };
}

function decompress(body: Uint8Array): Uint8Array {
  const r = new BodyReader(body, 'compressed packet');
  const algorithm = r.u8();
  const compressed = r.rest();
  // maxOutputLength makes zlib stop instead of inflating a decompression bomb.
  const options = { maxOutputLength: MAX_MESSAGE_BYTES };
  try {
    switch (algorithm) {
      case CompressionAlgorithm.Uncompressed:
        return compressed;
      case CompressionAlgorithm.ZIP:
        return new Uint8Array(inflateRawSync(compressed, options));
      case CompressionAlgorithm.ZLIB:
        return new Uint8Array(inflateSync(compressed, options));
      case CompressionAlgorithm.BZip2:
        throw new VerifyError('UNSUPPORTED_MESSAGE', 'BZip2-compressed messages are not supported');
      default:
        throw new VerifyError('MALFORMED_MESSAGE', `unknown compression algorithm ${algorithm}`);
    }
  } catch (err) {
    if (err instanceof VerifyError) throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw new VerifyError(
      'MALFORMED_MESSAGE',
      `compressed packet does not decompress: ${message}`,
      { cause: err },
    );
  }
}
