import { constants, createHash, createPublicKey, verify as cryptoVerify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

import { enums, readKeys } from 'openpgp';
import type { Key, Subkey } from 'openpgp';

import { VerifyError } from '../errors.js';
import { decodeArmor, looksArmored } from './armor.js';

/** Largest keyring we load: Red Hat's production ConfigMap holds six keys in ~12 KiB. */
export const MAX_KEYRING_BYTES = 1024 * 1024;

/** One key (primary or subkey) that a signature's issuer ID can select. */
export interface KeyringEntry {
  readonly key: Key;
  /** The key or subkey the ID belongs to. */
  readonly signer: Key | Subkey;
  readonly keyId: string;
  readonly fingerprint: string;
}

/**
 * A named set of OpenPGP public keys (`verifier-public-key-<name>` in the root of trust).
 * Keys are parsed once; lookup by the 16-hex-digit key ID is a map access.
 */
export class Keyring {
  private readonly byKeyId = new Map<string, KeyringEntry[]>();
  private readonly nodeKeys = new WeakMap<object, KeyObject>();
  private digest: string | undefined;

  readonly name: string;
  readonly keys: readonly Key[];

  /**
   * @param contentDigest what {@link contentDigest} returns, when the caller already hashed the
   *   exact input the keys were parsed from (with the name): the same bytes always parse to the
   *   same keys, so that digest separates every keyring the serialized one does (and more).
   */
  constructor(name: string, keys: readonly Key[], contentDigest?: string) {
    this.name = name;
    this.keys = keys;
    this.digest = contentDigest;
    for (const key of keys) {
      for (const signer of key.getKeys()) {
        const keyId = signer.getKeyID().toHex();
        const entry: KeyringEntry = { key, signer, keyId, fingerprint: signer.getFingerprint() };
        const list = this.byKeyId.get(keyId) ?? [];
        list.push(entry);
        this.byKeyId.set(keyId, list);
      }
    }
  }

  /** Keys (or subkeys) whose key ID is `keyId`; several in the rare case of an ID collision. */
  lookup(keyId: string): readonly KeyringEntry[] {
    return this.byKeyId.get(keyId.toLowerCase()) ?? [];
  }

  /** Primary key fingerprints, for evidence and cache keys. */
  fingerprints(): string[] {
    return this.keys.map((k) => k.getFingerprint());
  }

  /**
   * A digest of the whole keyring — keys, subkeys, self-signatures, expiry and revocation
   * signatures — so a verdict cached for one keyring is never reused for an edited one (a
   * revocation added to the ConfigMap changes it): of the exact input bytes and the name when
   * loaded by {@link loadKeyring}, else of the name and the keys as serialized.
   */
  contentDigest(): string {
    this.digest ??= createHash('sha256')
      .update(this.name)
      .update(Buffer.concat(this.keys.map((k) => k.write())))
      .digest('hex');
    return this.digest;
  }

  /**
   * Checks the crypto of `key`'s RSA self-certifications and subkey bindings with node:crypto,
   * synchronously and with the key converted once, and records each that verifies the way
   * openpgp.js records its own successful checks, so that its validity checks (expiry, flags,
   * revocation, dates: all still its own) do not verify them again through WebCrypto (an import
   * and a thread-pool job per signature). A signature that does not verify here is left as it
   * was: openpgp.js then checks it itself and decides. Once per key.
   */
  preverifySelfSignatures(key: Key): void {
    if (this.preverified.has(key)) return;
    this.preverified.add(key);
    const primary = key.keyPacket;
    const algorithm: number = primary.algorithm;
    const rsa: readonly number[] = [enums.publicKey.rsaEncryptSign, enums.publicKey.rsaSign];
    if (!rsa.includes(algorithm)) return;
    let nodeKey: KeyObject;
    try {
      nodeKey = this.toNodeKey(key);
    } catch {
      return;
    }
    for (const user of key.users) {
      if (user.userID === null) continue;
      for (const sig of user.selfCertifications) {
        preverify(sig, nodeKey, algorithm, { key: primary, userID: user.userID });
      }
    }
    for (const subkey of key.subkeys) {
      for (const sig of subkey.bindingSignatures) {
        preverify(sig, nodeKey, algorithm, { key: primary, bind: subkey.keyPacket });
      }
    }
  }
  private readonly preverified = new WeakSet<Key>();

  /** A node:crypto key for `signer`, converted once. */
  toNodeKey(signer: Key | Subkey): KeyObject {
    const cached = this.nodeKeys.get(signer);
    if (cached) return cached;
    const converted = toNodeKey(signer);
    this.nodeKeys.set(signer, converted);
    return converted;
  }
}

/** Keyrings the default cache keeps: a cluster has one root of trust of a few keyrings. */
export const DEFAULT_KEYRING_CACHE_ENTRIES = 32;
/** Input bytes the default cache keeps in all (Red Hat's production ConfigMap is ~12 KiB). */
export const DEFAULT_KEYRING_CACHE_BYTES = 4 * 1024 * 1024;

export interface KeyringCacheOptions {
  /** 0 turns the cache off: every load parses. */
  readonly maxEntries?: number;
  /** A keyring larger than this is parsed every time; older entries go to stay under it. */
  readonly maxBytes?: number;
}

/**
 * Parsed keyrings by content: the name and the exact bytes given to {@link loadKeyring}. The same
 * bytes parse to the same keys, so a root of trust read again (a ConfigMap's new resourceVersion,
 * the same ConfigMap in the next payload, the next CLI verification in one process) reuses the
 * parse, the node:crypto keys and openpgp.js's record of the self-signatures it has verified
 * (which it keeps on each signature packet: the crypto of a self-signature is checked once).
 * Validity at a given time (expiry, revocation) is judged on every verification, never cached:
 * openpgp.js records "revoked" on the shared packets while judging, so verify-message.ts clears
 * those records before each check and checks one key at a time.
 * Failed loads are not kept. Least recently used entries go first.
 */
export class KeyringCache {
  private readonly entries = new Map<string, { keyring: Promise<Keyring>; bytes: number }>();
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private bytes = 0;

  constructor(options: KeyringCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? DEFAULT_KEYRING_CACHE_ENTRIES;
    this.maxBytes = options.maxBytes ?? DEFAULT_KEYRING_CACHE_BYTES;
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 0)
      throw new RangeError('maxEntries must be a non-negative integer');
    if (!Number.isInteger(this.maxBytes) || this.maxBytes < 0)
      throw new RangeError('maxBytes must be a non-negative integer');
  }

  get size(): number {
    return this.entries.size;
  }

  /** The keyring for `digest` (of `bytes` input bytes), parsed by `parse` on a miss. */
  load(digest: string, bytes: number, parse: () => Promise<Keyring>): Promise<Keyring> {
    const hit = this.entries.get(digest);
    if (hit !== undefined) {
      this.entries.delete(digest);
      this.entries.set(digest, hit);
      return hit.keyring;
    }
    const keyring = parse();
    if (this.maxEntries === 0 || bytes > this.maxBytes) return keyring;
    const entry = { keyring, bytes };
    this.entries.set(digest, entry);
    this.bytes += bytes;
    keyring.catch(() => {
      if (this.entries.get(digest) === entry) this.remove(digest, entry);
    });
    for (const [oldest, old] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) break;
      this.remove(oldest, old);
    }
    return keyring;
  }

  private remove(digest: string, entry: { bytes: number }): void {
    this.entries.delete(digest);
    this.bytes -= entry.bytes;
  }
}

/** The process's keyring cache, used unless a caller passes its own. */
export const defaultKeyringCache = new KeyringCache();

export interface LoadKeyringOptions {
  /** Where parsed keyrings are kept (default: {@link defaultKeyringCache}). */
  readonly cache?: KeyringCache;
}

/**
 * Loads a keyring from armored text or binary packets. Armored text is read as Go's
 * openpgp.ReadArmoredKeyRing reads it (library-go, the CVO): the **first** armored block only —
 * keys in a later block of the same value are not trusted — and junk after its END line is
 * ignored. Private key material is refused: a root of trust holds public keys only. The same
 * name and bytes give the same (shared, immutable) keyring from the cache.
 */
export async function loadKeyring(
  name: string,
  data: Uint8Array,
  options: LoadKeyringOptions = {},
): Promise<Keyring> {
  if (data.length === 0) throw new VerifyError('INVALID_KEY', 'keyring is empty');
  if (data.length > MAX_KEYRING_BYTES) {
    throw new VerifyError('INVALID_KEY', `keyring is larger than ${MAX_KEYRING_BYTES} bytes`);
  }
  // Length-prefixed name, then the bytes: no two (name, data) pairs hash the same input.
  const nameBytes = Buffer.from(name, 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(nameBytes.length);
  const digest = createHash('sha256').update(length).update(nameBytes).update(data).digest('hex');
  return (options.cache ?? defaultKeyringCache).load(digest, data.length, () =>
    parseKeyring(name, data, digest),
  );
}

async function parseKeyring(name: string, data: Uint8Array, digest: string): Promise<Keyring> {
  let binary: Uint8Array;
  if (looksArmored(data)) {
    const [block] = decodeArmor(Buffer.from(data).toString('utf8'), { firstOnly: true });
    if (block?.type !== 'PUBLIC KEY BLOCK') {
      throw new VerifyError(
        'INVALID_KEY',
        `expected PGP PUBLIC KEY BLOCK, found PGP ${block?.type ?? 'nothing'}`,
      );
    }
    binary = block.data;
  } else {
    binary = data;
  }
  let keys: Key[];
  try {
    keys = await readKeys({ binaryKeys: binary });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new VerifyError('INVALID_KEY', `not an OpenPGP public keyring: ${message}`, {
      cause: err,
    });
  }
  if (keys.length === 0) throw new VerifyError('INVALID_KEY', 'keyring holds no keys');
  if (keys.some((k) => k.isPrivate()))
    throw new VerifyError('INVALID_KEY', 'keyring holds private key material');
  return new Keyring(name, keys, digest);
}

/** Hash algorithms a self-signature may be pre-verified with (openpgp.js's ids). */
const PREVERIFY_HASHES: ReadonlyMap<number, string> = new Map([
  [enums.hash.sha1, 'sha1'],
  [enums.hash.sha224, 'sha224'],
  [enums.hash.sha256, 'sha256'],
  [enums.hash.sha384, 'sha384'],
  [enums.hash.sha512, 'sha512'],
]);

/** What openpgp.js's SignaturePacket exposes that preverify uses (stable in 6.x). */
interface SelfSignature {
  readonly version: number;
  readonly signatureType: number | null;
  readonly publicKeyAlgorithm: number | null;
  readonly hashAlgorithm: number | null;
  /** The parsed values: `{ s }` for RSA (a promise for some other algorithms). */
  readonly params: unknown;
  readonly signedHashValue: Uint8Array | null;
  readonly issuerKeyID: { equals(other: unknown): boolean };
  toHash(signatureType: number, data: object): Uint8Array;
}

/** openpgp.js's private mark of a signature whose crypto it has verified, found on a packet. */
function verifiedMark(sig: object): symbol | undefined {
  return Object.getOwnPropertySymbols(sig).find((s) => s.description === 'verified');
}

/**
 * Marks `sig` verified for openpgp.js when, and only when, it is a V4 RSA signature issued by
 * `key` whose PKCS#1 v1.5 value verifies over the exact bytes openpgp.js would hash (its own
 * toHash) and whose quick-check bytes match. Anything else is left for openpgp.js.
 */
function preverify(
  sig: unknown,
  key: KeyObject,
  algorithm: number,
  data: { readonly key: unknown; readonly userID?: unknown; readonly bind?: unknown },
): void {
  const packet = sig as SelfSignature;
  const mark = verifiedMark(packet);
  if (mark === undefined || (packet as unknown as Record<symbol, unknown>)[mark] === true) return;
  if (packet.version !== 4 || packet.publicKeyAlgorithm !== algorithm) return;
  if (!packet.issuerKeyID.equals((data.key as { getKeyID(): unknown }).getKeyID())) return;
  const hashName = PREVERIFY_HASHES.get(packet.hashAlgorithm ?? -1);
  const params = packet.params as { s?: unknown } | null;
  const value = params?.s;
  if (hashName === undefined || packet.signatureType === null || !(value instanceof Uint8Array))
    return;
  try {
    const toHash = packet.toHash(packet.signatureType, data);
    const digest = createHash(hashName).update(toHash).digest();
    const left = packet.signedHashValue;
    if (left === null || left[0] !== digest[0] || left[1] !== digest[1]) return;
    const modulusBytes = rsaModulusBytes(key);
    if (value.length > modulusBytes) return;
    const padded = Buffer.alloc(modulusBytes);
    padded.set(value, modulusBytes - value.length);
    if (verifyRsaPkcs1(hashName, toHash, key, padded))
      (packet as unknown as Record<symbol, unknown>)[mark] = true;
  } catch {
    // Left for openpgp.js to judge.
  }
}

/** Modulus sizes in bytes, by node:crypto key: asymmetricKeyDetails asks OpenSSL every time. */
const modulusSizes = new WeakMap<KeyObject, number>();

/** The byte length of an RSA key's modulus (0 for another kind of key). */
export function rsaModulusBytes(key: KeyObject): number {
  let size = modulusSizes.get(key);
  if (size === undefined) {
    size = Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
    modulusSizes.set(key, size);
  }
  return size;
}

/** The length of a big-endian unsigned integer without its leading zero bytes (0 for zero). */
function significantBytes(value: Uint8Array): number {
  let start = 0;
  while (start < value.length && value[start] === 0) start++;
  return value.length - start;
}

/**
 * An RSASSA-PKCS1-v1_5 verification. A key of type `rsa` (every RSA key toNodeKey makes) is
 * passed bare: PKCS#1 v1.5 is node:crypto's padding for it, and a bare KeyObject skips the two
 * brand checks an options object fails (each a thrown and caught error, ~20 µs together).
 */
export function verifyRsaPkcs1(
  hashName: string,
  data: Uint8Array,
  key: KeyObject,
  signature: Uint8Array,
): boolean {
  if (key.asymmetricKeyType === 'rsa') return cryptoVerify(hashName, data, key, signature);
  return cryptoVerify(hashName, data, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
}

/** Public-key algorithms Go's x/crypto/openpgp (library-go, the CVO) can read. */
const GO_READABLE_ALGORITHMS = new Set([
  'rsaEncryptSign',
  'rsaEncrypt',
  'rsaSign',
  'elgamal',
  'dsa',
]);
/** ECDSA and ECDH are readable there on the NIST curves only. */
const GO_READABLE_CURVES = new Set(['nistP256', 'nistP384', 'nistP521']);

/**
 * Why the cluster-version operator could not read this keyring, or undefined when it can. Go's
 * x/crypto/openpgp fails the whole keyring on any key or subkey of an algorithm it does not know
 * (EdDSA, X25519, Ed448, …, "unsupported feature: public key type"), and library-go then refuses
 * the ConfigMap: a root of trust it cannot read verifies nothing on a cluster, so neither may ours.
 */
export function goUnreadableReason(keyring: Keyring): string | undefined {
  for (const key of keyring.keys) {
    for (const part of [key, ...key.getSubkeys()]) {
      const info = part.getAlgorithmInfo();
      const name: string = info.algorithm;
      const readable =
        GO_READABLE_ALGORITHMS.has(name) ||
        ((name === 'ecdsa' || name === 'ecdh') &&
          info.curve !== undefined &&
          GO_READABLE_CURVES.has(info.curve));
      if (!readable) {
        const what = info.curve !== undefined ? `${name} (${info.curve})` : name;
        return `key ${part.getKeyID().toHex().toUpperCase()} uses ${what}, which the cluster-version operator's OpenPGP reader (x/crypto/openpgp) cannot read, so it refuses the whole keyring`;
      }
    }
  }
  return undefined;
}

interface RsaParams {
  n: Uint8Array;
  e: Uint8Array;
}
interface EccParams {
  Q: Uint8Array;
}
interface Ed25519Params {
  A: Uint8Array;
}
interface DsaParams {
  p: Uint8Array;
  q: Uint8Array;
  g: Uint8Array;
  y: Uint8Array;
}

/** DSA keys smaller than this are refused (x/crypto/openpgp takes any size; 1024 is the floor). */
const MIN_DSA_P_BITS = 1024;

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function der(tag: number, ...contents: Uint8Array[]): Buffer {
  const body = Buffer.concat(contents);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

/** A non-negative DER INTEGER from an MPI's big-endian magnitude. */
function derInteger(value: Uint8Array): Buffer {
  let start = 0;
  while (start < value.length - 1 && value[start] === 0) start++;
  const trimmed = value.subarray(start);
  const padded = (trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
  return der(0x02, padded.length === 0 ? Buffer.from([0]) : padded);
}

/** id-dsa (1.2.840.10040.4.1). */
const DSA_OID = Buffer.from([0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01]);

/** A DSA SubjectPublicKeyInfo: JWK has no DSA form, so the DER is built here. */
function dsaPublicKey({ p, q, g, y }: DsaParams): KeyObject {
  const bits = p.length * 8 - Math.clz32(p[0] ?? 0) + 24;
  if (bits < MIN_DSA_P_BITS) {
    throw new VerifyError('UNSUPPORTED_ALGORITHM', `DSA keys need at least ${MIN_DSA_P_BITS} bits`);
  }
  const algorithm = der(0x30, DSA_OID, der(0x30, derInteger(p), derInteger(q), derInteger(g)));
  const publicKey = der(0x03, Buffer.from([0]), derInteger(y));
  return createPublicKey({ key: der(0x30, algorithm, publicKey), format: 'der', type: 'spki' });
}

const CURVES: Readonly<Record<string, { crv: string; size: number }>> = {
  nistP256: { crv: 'P-256', size: 32 },
  nistP384: { crv: 'P-384', size: 48 },
  nistP521: { crv: 'P-521', size: 66 },
};

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

function toNodeKey(signer: Key | Subkey): KeyObject {
  const info = signer.getAlgorithmInfo();
  const params = signer.keyPacket.publicParams;
  switch (info.algorithm) {
    case 'rsaEncryptSign':
    case 'rsaSign': {
      // A PKCS#1 RSAPublicKey in PEM: the same n and e as a JWK, but a string input skips the
      // two brand checks node:crypto makes (and fails, by a thrown and caught error) on an
      // options object, and PEM parsing is cheaper than JWK import: ~14 µs instead of ~37.
      const { n, e } = params as RsaParams;
      const body = der(0x30, derInteger(n), derInteger(e)).toString('base64');
      const key = createPublicKey(
        `-----BEGIN RSA PUBLIC KEY-----\n${body}\n-----END RSA PUBLIC KEY-----\n`,
      );
      // What rsaModulusBytes would get from OpenSSL's bit count (asymmetricKeyDetails asks
      // OpenSSL anew on every call): n's bytes without leading zeros.
      modulusSizes.set(key, significantBytes(n));
      return key;
    }
    case 'ecdsa': {
      const curve = CURVES[info.curve ?? ''];
      const { Q } = params as EccParams;
      if (curve === undefined || Q[0] !== 0x04 || Q.length !== 1 + 2 * curve.size) {
        throw new VerifyError(
          'UNSUPPORTED_ALGORITHM',
          `ECDSA curve ${info.curve ?? 'unknown'} is not supported`,
        );
      }
      const x = Q.subarray(1, 1 + curve.size);
      const y = Q.subarray(1 + curve.size);
      return createPublicKey({
        key: { kty: 'EC', crv: curve.crv, x: b64url(x), y: b64url(y) },
        format: 'jwk',
      });
    }
    case 'eddsaLegacy': {
      const { Q } = params as EccParams;
      // Legacy EdDSA points carry a 0x40 prefix before the 32-byte Ed25519 public key.
      if (Q[0] !== 0x40 || Q.length !== 33) {
        throw new VerifyError('UNSUPPORTED_ALGORITHM', 'EdDSA key is not an Ed25519 point');
      }
      return createPublicKey({
        key: { kty: 'OKP', crv: 'Ed25519', x: b64url(Q.subarray(1)) },
        format: 'jwk',
      });
    }
    case 'ed25519': {
      const { A } = params as Ed25519Params;
      return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(A) }, format: 'jwk' });
    }
    case 'dsa':
      return dsaPublicKey(params as DsaParams);
    default:
      throw new VerifyError(
        'UNSUPPORTED_ALGORITHM',
        `public-key algorithm ${info.algorithm} is not supported for signatures`,
      );
  }
}
