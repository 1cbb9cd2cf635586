import { createHash, verify as cryptoVerify } from 'node:crypto';

import { VerifyError } from '../errors.js';
import { config as openpgpConfig, enums } from 'openpgp';
import type { Key, Subkey } from 'openpgp';

import { rsaModulusBytes, verifyRsaPkcs1 } from './keyring.js';
import type { Keyring, KeyringEntry } from './keyring.js';
import { parseSignedMessage } from './signed-message.js';
import {
  ACCEPTED_HASHES,
  describeHash,
  PublicKeyAlgorithm,
  SignatureType,
} from './signature-packet.js';
import type { SignaturePacket } from './signature-packet.js';

/** A signature whose creation time is this far ahead of our clock is refused. */
export const MAX_CLOCK_SKEW_SECONDS = 10 * 60;

/** What a verified signed message proves: its content and who signed it, when. */
export interface VerifiedMessage {
  readonly data: Uint8Array;
  readonly keyring: string;
  /** Key ID of the key or subkey that made the signature. */
  readonly keyId: string;
  /** Fingerprint of the primary key. */
  readonly fingerprint: string;
  readonly userIds: readonly string[];
  readonly created: Date;
  readonly signatureVersion: 3 | 4;
}

export interface VerifyMessageOptions {
  /** The time revocation and signature expiry are judged at. */
  readonly now?: Date;
}

/**
 * Verifies an OpenPGP signed message against one keyring. Succeeds only when at least one
 * signature packet (V3 or V4) is cryptographically valid for a key in the keyring that was a
 * valid signing key when the signature was made and has not been revoked since. Zero valid
 * signatures is always a failure, whatever the message contains.
 */
export async function verifySignedMessage(
  input: Uint8Array,
  keyring: Keyring,
  options: VerifyMessageOptions = {},
): Promise<VerifiedMessage> {
  const now = options.now ?? new Date();
  const message = parseSignedMessage(input);
  if (message.signatures.length === 0)
    throw new VerifyError('UNSIGNED', 'the message has no signature');
  const data = message.signatures.some((s) => s.signatureType === SignatureType.Text)
    ? canonicalizeText(message.data)
    : message.data;
  const errors: VerifyError[] = [];
  for (const signature of message.signatures) {
    try {
      const signed = signature.signatureType === SignatureType.Text ? data : message.data;
      return { data: message.data, ...(await verifyOne(signature, signed, keyring, now)) };
    } catch (err) {
      if (!(err instanceof VerifyError)) throw err;
      errors.push(err);
    }
  }
  // Prefer a reason about a key we know over "unknown key": it says more about what went wrong.
  throw (
    errors.find((e) => e.code !== 'UNKNOWN_KEY') ??
    errors[0] ??
    new VerifyError('UNSIGNED', 'no signature')
  );
}

async function verifyOne(
  sig: SignaturePacket,
  data: Uint8Array,
  keyring: Keyring,
  now: Date,
): Promise<Omit<VerifiedMessage, 'data'>> {
  const hashName = ACCEPTED_HASHES.get(sig.hashAlgorithm);
  if (hashName === undefined) {
    throw new VerifyError(
      'UNSUPPORTED_ALGORITHM',
      `signature uses ${describeHash(sig.hashAlgorithm)}, which is not accepted for signatures`,
    );
  }
  if (sig.signatureType !== SignatureType.Binary && sig.signatureType !== SignatureType.Text) {
    throw new VerifyError(
      'UNSUPPORTED_MESSAGE',
      `signature type 0x${sig.signatureType.toString(16)} is not a document signature`,
    );
  }
  const nowSeconds = Math.floor(now.getTime() / 1000);
  if (sig.created > nowSeconds + MAX_CLOCK_SKEW_SECONDS) {
    throw new VerifyError(
      'SIGNATURE_FROM_FUTURE',
      `signature was created in the future (${new Date(sig.created * 1000).toISOString()})`,
    );
  }
  if (sig.expiresAfter > 0 && sig.created + sig.expiresAfter <= nowSeconds) {
    throw new VerifyError(
      'SIGNATURE_EXPIRED',
      `signature expired at ${new Date((sig.created + sig.expiresAfter) * 1000).toISOString()}`,
    );
  }
  let entries = keyring.lookup(sig.issuerKeyId);
  if (sig.issuerFingerprint !== undefined) {
    entries = entries.filter((e) => e.fingerprint === sig.issuerFingerprint);
  }
  if (entries.length === 0) {
    throw new VerifyError(
      'UNKNOWN_KEY',
      `signed by key ${sig.issuerKeyId.toUpperCase()}, which is not in keyring ${keyring.name}`,
    );
  }
  const digest = createHash(hashName).update(data).update(sig.hashSuffix).digest();
  let lastError: VerifyError | undefined;
  for (const entry of entries) {
    try {
      checkCrypto(sig, hashName, data, digest, keyring, entry);
      await checkKeyValidity(entry, keyring, new Date(sig.created * 1000), now);
      return {
        keyring: keyring.name,
        keyId: entry.keyId,
        fingerprint: entry.key.getFingerprint(),
        userIds: entry.key.getUserIDs(),
        created: new Date(sig.created * 1000),
        signatureVersion: sig.version,
      };
    } catch (err) {
      if (!(err instanceof VerifyError)) throw err;
      lastError = err;
    }
  }
  throw lastError ?? new VerifyError('BAD_SIGNATURE', 'signature does not verify');
}

function checkCrypto(
  sig: SignaturePacket,
  hashName: string,
  data: Uint8Array,
  digest: Buffer,
  keyring: Keyring,
  entry: KeyringEntry,
): void {
  // Made only when thrown: an error's stack trace costs more than the checks around it.
  const bad = (): VerifyError =>
    new VerifyError(
      'BAD_SIGNATURE',
      `signature by key ${entry.keyId.toUpperCase()} does not verify`,
    );
  // The two quick-check bytes are not a security check, but a mismatch proves corruption cheaply.
  if (digest[0] !== sig.left16[0] || digest[1] !== sig.left16[1]) throw bad();
  const key = keyring.toNodeKey(entry.signer);
  const algorithm = entry.signer.getAlgorithmInfo().algorithm;
  const signedData = Buffer.concat([data, sig.hashSuffix]);
  let ok: boolean;
  try {
    switch (sig.publicKeyAlgorithm) {
      case PublicKeyAlgorithm.RSA:
      case PublicKeyAlgorithm.RSASignOnly: {
        if (algorithm !== 'rsaEncryptSign' && algorithm !== 'rsaSign') throw bad();
        ok = verifyRsaPkcs1(
          hashName,
          signedData,
          key,
          leftPad(sig.values[0], rsaModulusBytes(key)),
        );
        break;
      }
      case PublicKeyAlgorithm.ECDSA: {
        if (algorithm !== 'ecdsa') throw bad();
        const size = ecdsaSize(key.asymmetricKeyDetails?.namedCurve);
        const raw = Buffer.concat([leftPad(sig.values[0], size), leftPad(sig.values[1], size)]);
        ok = cryptoVerify(hashName, signedData, { key, dsaEncoding: 'ieee-p1363' }, raw);
        break;
      }
      case PublicKeyAlgorithm.DSA: {
        if (algorithm !== 'dsa') throw bad();
        // r and s are each at most as long as q; OpenSSL truncates the digest to q's length, as
        // FIPS 186-3 and Go's dsa.Verify (through x/crypto/openpgp) do.
        const size = Math.ceil((key.asymmetricKeyDetails?.divisorLength ?? 0) / 8);
        const raw = Buffer.concat([leftPad(sig.values[0], size), leftPad(sig.values[1], size)]);
        ok = cryptoVerify(hashName, signedData, { key, dsaEncoding: 'ieee-p1363' }, raw);
        break;
      }
      case PublicKeyAlgorithm.EdDSALegacy: {
        if (algorithm !== 'eddsaLegacy') throw bad();
        // OpenPGP EdDSA signs the message digest, not the message.
        ok = cryptoVerify(
          null,
          digest,
          key,
          Buffer.concat([leftPad(sig.values[0], 32), leftPad(sig.values[1], 32)]),
        );
        break;
      }
      case PublicKeyAlgorithm.Ed25519: {
        if (algorithm !== 'ed25519') throw bad();
        ok = cryptoVerify(null, digest, key, sig.values[0] ?? new Uint8Array());
        break;
      }
      default:
        throw new VerifyError(
          'UNSUPPORTED_ALGORITHM',
          `signature public-key algorithm ${sig.publicKeyAlgorithm} is not supported`,
        );
    }
  } catch (err) {
    if (err instanceof VerifyError) throw err;
    throw new VerifyError(
      'BAD_SIGNATURE',
      `signature by key ${entry.keyId.toUpperCase()} does not verify`,
      { cause: err },
    );
  }
  if (!ok) throw bad();
}

function ecdsaSize(curve: string | undefined): number {
  switch (curve) {
    case 'prime256v1':
      return 32;
    case 'secp384r1':
      return 48;
    case 'secp521r1':
      return 66;
    default:
      throw new VerifyError(
        'UNSUPPORTED_ALGORITHM',
        `ECDSA curve ${curve ?? 'unknown'} is not supported`,
      );
  }
}

function leftPad(value: Uint8Array | undefined, size: number): Buffer {
  if (value === undefined || value.length > size) {
    throw new VerifyError('BAD_SIGNATURE', 'signature value has the wrong size');
  }
  const out = Buffer.alloc(size);
  out.set(value, size - value.length);
  return out;
}

/**
 * openpgp.js refuses DSA keys by default ("considered too weak"); x/crypto/openpgp — and so the
 * CVO — verifies with them, so key validity is judged with DSA allowed (ElGamal cannot sign).
 */
const KEY_VALIDITY_CONFIG = {
  ...openpgpConfig,
  rejectPublicKeyAlgorithms: new Set([enums.publicKey.elgamal]),
};

/**
 * The key must have been a valid signing key (self-signatures, binding, key flags, not expired)
 * when the signature was made — so a key that expired later still verifies old signatures —
 * and must not be revoked now (stricter than the CVO, which ignores revocation).
 */
async function checkKeyValidity(
  entry: KeyringEntry,
  keyring: Keyring,
  signedAt: Date,
  now: Date,
): Promise<void> {
  // A parsed key is shared by every verification that loads the same keyring bytes (the
  // KeyringCache), and openpgp.js records "revoked" on a key's signature packets while it judges
  // them, at the date it is asked about, and never clears it: one verification's judgement would
  // steer the next (found by review: an old signature accepted after a newer one was checked).
  // So each check starts from clean packets, and checks of one key never interleave.
  await exclusively(entry.key, async () => {
    clearRevocationMarks(entry.key);
    await checkKeyValidityNow(entry, keyring, signedAt, now);
  });
}

/** Checks of one key, one after another (they share its packets' marks). */
const keyChecks = new WeakMap<object, Promise<void>>();

async function exclusively(key: object, check: () => Promise<void>): Promise<void> {
  const previous = keyChecks.get(key) ?? Promise.resolve();
  const run = previous.then(check);
  keyChecks.set(
    key,
    run.catch(() => undefined),
  );
  return run;
}

/** openpgp.js's per-packet "revoked" records (SignaturePacket.revoked), back to not judged. */
function clearRevocationMarks(key: Key): void {
  const reset = (signatures: readonly { revoked: boolean | null }[]): void => {
    for (const signature of signatures) signature.revoked = null;
  };
  // Present on openpgp.js 6 keys, absent from its type declarations.
  reset(
    (key as unknown as { directSignatures?: { revoked: boolean | null }[] }).directSignatures ?? [],
  );
  reset(key.revocationSignatures);
  for (const user of key.users) {
    reset(user.selfCertifications);
    reset(user.otherCertifications);
    reset(user.revocationSignatures);
  }
  for (const subkey of key.subkeys) {
    reset(subkey.bindingSignatures);
    reset(subkey.revocationSignatures);
  }
}

async function checkKeyValidityNow(
  entry: KeyringEntry,
  keyring: Keyring,
  signedAt: Date,
  now: Date,
): Promise<void> {
  // Revocation first: a revoked key is reported as revoked, whenever the revocation was made.
  const primaryRevoked = await entry.key.isRevoked(undefined, undefined, now);
  const subkeyRevoked =
    entry.signer !== entry.key &&
    (await (entry.signer as Subkey).isRevoked(undefined as never, undefined as never, now));
  if (primaryRevoked || subkeyRevoked) {
    throw new VerifyError(
      'KEY_REVOKED',
      `${subkeyRevoked ? 'subkey' : 'key'} ${entry.keyId.toUpperCase()} in keyring ${keyring.name} has been revoked`,
    );
  }
  keyring.preverifySelfSignatures(entry.key);
  try {
    const signing = await entry.key.getSigningKey(
      entry.signer.getKeyID(),
      signedAt,
      undefined,
      KEY_VALIDITY_CONFIG,
    );
    if (signing.getFingerprint() !== entry.fingerprint)
      throw new Error('the key is not a signing key');
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new VerifyError(
      'KEY_NOT_VALID',
      `key ${entry.keyId.toUpperCase()} was not a valid signing key when the signature was made (${signedAt.toISOString()}): ${message}`,
      { cause: err },
    );
  }
}

/** Text signatures hash the data with every line ending as CR LF (RFC 4880 §5.2.1). */
function canonicalizeText(data: Uint8Array): Uint8Array {
  const text = Buffer.from(data).toString('latin1').replace(/\r?\n/g, '\r\n');
  return new Uint8Array(Buffer.from(text, 'latin1'));
}
