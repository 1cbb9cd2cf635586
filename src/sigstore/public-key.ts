import { createPublicKey, verify, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

import { VerifyError } from '../errors.js';

/** The annotation on a simplesigning layer holding its base64 signature. */
export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
/** A PEM key is a few hundred bytes; bound the text we hand to OpenSSL. */
export const MAX_PUBLIC_KEY_PEM_LENGTH = 16 * 1024;
/** A signature annotation: RSA-4096 is 684 base64 characters; leave room, nothing more. */
export const MAX_SIGNATURE_BASE64_LENGTH = 4 * 1024;
/** RSA keys smaller than this are refused. */
export const MIN_RSA_MODULUS_BITS = 2048;

export type KeyAlgorithm =
  'ecdsa-p256-sha256' | 'ecdsa-p384-sha384' | 'ecdsa-p521-sha512' | 'rsa-pkcs1-sha256' | 'ed25519';

/** A public key accepted for verification, with the digest algorithm it signs with. */
export interface VerificationKey {
  readonly algorithm: KeyAlgorithm;
  readonly key: KeyObject;
  /** The SubjectPublicKeyInfo DER, for comparing keys and computing Rekor log IDs. */
  readonly spki: Buffer;
}

const PEM_BLOCK_RE = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/** Reads a PEM `PUBLIC KEY` (exactly one block) and checks it is a kind cosign signs with. */
export function parsePublicKey(pem: string): VerificationKey {
  if (pem.length > MAX_PUBLIC_KEY_PEM_LENGTH) {
    throw new VerifyError(
      'INVALID_PUBLIC_KEY',
      `public key PEM is over ${MAX_PUBLIC_KEY_PEM_LENGTH} characters`,
    );
  }
  const blocks = [...pem.matchAll(PEM_BLOCK_RE)];
  if (blocks.length !== 1 || blocks[0]?.[1] !== 'PUBLIC KEY') {
    throw new VerifyError('INVALID_PUBLIC_KEY', 'expected exactly one PEM "PUBLIC KEY" block');
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: blocks[0][0], format: 'pem' });
  } catch (err) {
    throw new VerifyError('INVALID_PUBLIC_KEY', 'the public key PEM cannot be read', {
      cause: err,
    });
  }
  return toVerificationKey(key);
}

/** Classifies a public KeyObject; refuses curves, sizes and types we do not verify with. */
export function toVerificationKey(key: KeyObject): VerificationKey {
  if (key.type !== 'public') {
    throw new VerifyError('INVALID_PUBLIC_KEY', 'expected a public key');
  }
  const spki = key.export({ format: 'der', type: 'spki' });
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'ec':
      if (details.namedCurve === 'prime256v1') return { algorithm: 'ecdsa-p256-sha256', key, spki };
      if (details.namedCurve === 'secp384r1') return { algorithm: 'ecdsa-p384-sha384', key, spki };
      if (details.namedCurve === 'secp521r1') return { algorithm: 'ecdsa-p521-sha512', key, spki };
      // P-224 and others: containers/image would take P-224 (Go's ecdsa knows it); refused as
      // below 128-bit security (allow-listed difference).
      throw new VerifyError(
        'UNSUPPORTED_KEY',
        `unsupported ECDSA curve ${String(details.namedCurve)} (P-256, P-384 and P-521 are supported)`,
      );
    case 'rsa':
      if ((details.modulusLength ?? 0) < MIN_RSA_MODULUS_BITS) {
        throw new VerifyError(
          'UNSUPPORTED_KEY',
          `RSA keys need at least ${MIN_RSA_MODULUS_BITS} bits`,
        );
      }
      return { algorithm: 'rsa-pkcs1-sha256', key, spki };
    case 'ed25519':
      return { algorithm: 'ed25519', key, spki };
    default:
      throw new VerifyError(
        'UNSUPPORTED_KEY',
        `unsupported key type ${String(key.asymmetricKeyType)}`,
      );
  }
}

/**
 * The public key in a PEM `PUBLIC KEY` or `CERTIFICATE` (as a Rekor entry may carry either);
 * undefined when it is neither.
 */
export function readPublicKeyOrCertificate(pem: string): KeyObject | undefined {
  const blocks = [...pem.matchAll(PEM_BLOCK_RE)];
  if (blocks.length !== 1) return undefined;
  const [block = '', label] = blocks[0] ?? [];
  try {
    if (label === 'PUBLIC KEY') return createPublicKey({ key: block, format: 'pem' });
    if (label === 'CERTIFICATE') return new X509Certificate(block).publicKey;
  } catch {
    return undefined;
  }
  return undefined;
}

/**
 * Decodes standard, padded base64 exactly as Go's `base64.StdEncoding` does (containers/image
 * decodes signature annotations with it): `\r` and `\n` anywhere are ignored — some signature
 * writers end with a newline — padding and the alphabet are strict, and non-zero trailing bits
 * are ignored (StdEncoding is not in Strict mode).
 */
export function decodeCanonicalBase64(text: string, maxLength: number, what: string): Buffer {
  if (text.length > maxLength) {
    throw new VerifyError('SIGNATURE_ENCODING', `${what} is over ${maxLength} characters`);
  }
  const joined = text.replace(/[\r\n]/g, '');
  if (!BASE64_RE.test(joined) || joined.length % 4 !== 0) {
    throw new VerifyError('SIGNATURE_ENCODING', `${what} is not padded standard base64`);
  }
  return Buffer.from(joined, 'base64');
}

function hashOf(algorithm: KeyAlgorithm): string | null {
  switch (algorithm) {
    case 'ecdsa-p256-sha256':
    case 'rsa-pkcs1-sha256':
      return 'sha256';
    case 'ecdsa-p384-sha384':
      return 'sha384';
    case 'ecdsa-p521-sha512':
      return 'sha512';
    case 'ed25519':
      return null;
  }
}

/**
 * The digest a legacy cosign signature is checked with. containers/image loads every key with
 * a hard-coded SHA-256 (sigstore's LoadVerifier: ECDSA of any curve and RSA PKCS#1 v1.5 over
 * SHA-256, Ed25519 pure), so a P-384 or P-521 signature over SHA-384/512 is one nodes refuse.
 */
function legacyHashOf(algorithm: KeyAlgorithm): string | null {
  return algorithm === 'ed25519' ? null : 'sha256';
}

/**
 * Verifies `signature` over `data` as cosign signs: ECDSA with an ASN.1 DER signature, RSA
 * PKCS#1 v1.5, or pure Ed25519. Returns false on a mismatch or a malformed signature.
 */
export function verifyWithKey(
  key: VerificationKey,
  data: Uint8Array,
  signature: Uint8Array,
  hash: string | null = hashOf(key.algorithm),
): boolean {
  try {
    // The KeyObject itself, not `{ key, dsaEncoding: 'der' }`: DER is verify's default for
    // ECDSA, and Node tells a wrapper object from a KeyObject by catching a thrown TypeError,
    // once per signature.
    return verify(hash, data, key.key, signature);
  } catch {
    return false;
  }
}

/**
 * Verifies a signature annotation (canonical base64) over the raw payload bytes. Returns the
 * decoded signature for the Rekor binding check; throws SIGNATURE_ENCODING or BAD_SIGNATURE.
 */
export function verifyPayloadSignature(
  key: VerificationKey,
  payload: Uint8Array,
  signatureBase64: string,
): Buffer {
  const signature = decodeCanonicalBase64(
    signatureBase64,
    MAX_SIGNATURE_BASE64_LENGTH,
    `the ${SIGNATURE_ANNOTATION} annotation`,
  );
  if (!verifyWithKey(key, payload, signature, legacyHashOf(key.algorithm))) {
    throw new VerifyError(
      'BAD_SIGNATURE',
      `the signature does not verify with the ${key.algorithm} key`,
    );
  }
  return signature;
}
