import { createHash } from 'node:crypto';

import { isJsonObject, parseStrictJson } from '../json/strict-json.js';
import type { JsonValue } from '../json/strict-json.js';
import { VerifyError } from '../errors.js';
import { decodeCanonicalBase64, readPublicKeyOrCertificate, verifyWithKey } from './public-key.js';
import type { VerificationKey } from './public-key.js';

/** The annotation on a simplesigning layer holding cosign's Rekor bundle (SET + entry). */
export const BUNDLE_ANNOTATION = 'dev.sigstore.cosign/bundle';
/** A hashedrekord entry with an RSA-4096 key is ~3 KiB; a certificate chain a few more. */
export const MAX_BUNDLE_LENGTH = 64 * 1024;
/** Base64 of an entry body (its JSON is bounded by MAX_BUNDLE_LENGTH as well). */
const MAX_BODY_BASE64_LENGTH = MAX_BUNDLE_LENGTH;
/** Base64 of a signature (SET or entry). */
const MAX_SIGNATURE_BASE64_LENGTH = 4 * 1024;
const HEX_SHA256_RE = /^[0-9a-f]{64}$/;

/** What a verified SET proves: the entry was integrated into the log at `integratedTime`. */
export interface RekorEvidence {
  /** Unix seconds. */
  readonly integratedTime: number;
  readonly logIndex: number;
  readonly logID: string;
}

export interface VerifyRekorBundleInput {
  /** The bundle annotation's text. */
  readonly bundle: string;
  /** The Rekor log's public key. */
  readonly rekorKey: VerificationKey;
  /** The key that verified the image signature. */
  readonly signingKey: VerificationKey;
  /** The decoded image signature. */
  readonly signature: Uint8Array;
  /** The raw payload bytes the signature is over. */
  readonly payload: Uint8Array;
}

type JsonObject = { readonly [key: string]: JsonValue };

/** Lowercase hex sha256 of the key's SubjectPublicKeyInfo DER: Rekor's log ID. */
export function toRekorLogId(key: VerificationKey): string {
  return createHash('sha256').update(key.spki).digest('hex');
}

function parseObject(
  text: string,
  fields: readonly string[],
  what: string,
): { readonly get: (field: string) => JsonValue; readonly value: JsonObject } {
  let document: JsonValue;
  try {
    document = parseStrictJson(text, { maxLength: MAX_BUNDLE_LENGTH });
  } catch (err) {
    throw new VerifyError('REKOR_BUNDLE_INVALID', `${what} is not valid JSON`, { cause: err });
  }
  return exactObject(document, fields, what);
}

function exactObject(
  value: JsonValue | undefined,
  fields: readonly string[],
  what: string,
): { readonly get: (field: string) => JsonValue; readonly value: JsonObject } {
  if (!isJsonObject(value)) {
    throw new VerifyError('REKOR_BUNDLE_INVALID', `${what} is not an object`);
  }
  for (const key of Object.keys(value)) {
    if (!fields.includes(key)) {
      throw new VerifyError(
        'REKOR_BUNDLE_INVALID',
        `unknown field ${JSON.stringify(key)} in ${what}`,
      );
    }
  }
  const get = (field: string): JsonValue => {
    const entry = value[field];
    if (entry === undefined) {
      throw new VerifyError('REKOR_BUNDLE_INVALID', `${what}.${field} is missing`);
    }
    return entry;
  };
  return { get, value };
}

function stringField(value: JsonValue, what: string): string {
  if (typeof value !== 'string')
    throw new VerifyError('REKOR_BUNDLE_INVALID', `${what} is not a string`);
  return value;
}

function integerField(value: JsonValue, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new VerifyError('REKOR_BUNDLE_INVALID', `${what} is not a non-negative integer`);
  }
  return value;
}

function base64Field(value: JsonValue, maxLength: number, what: string): Buffer {
  const text = stringField(value, what);
  try {
    return decodeCanonicalBase64(text, maxLength, what);
  } catch (err) {
    throw new VerifyError('REKOR_BUNDLE_INVALID', `${what} is not canonical base64`, {
      cause: err,
    });
  }
}

/**
 * Verifies cosign's Rekor bundle for one signature, offline:
 * 1. the SignedEntryTimestamp is the Rekor key's signature (ECDSA DER or Ed25519, SHA-256) over
 *    the RFC 8785 canonical JSON of `{body, integratedTime, logID, logIndex}`;
 * 2. `logID` is the Rekor key's ID;
 * 3. the entry body is a hashedrekord 0.0.1 binding the same public key (or a certificate for
 *    it), the same signature bytes and the sha256 of the same payload.
 * Anything else is rejected. Returns the integration time for the evidence.
 */
export function verifyRekorBundle(input: VerifyRekorBundleInput): RekorEvidence {
  if (input.bundle.length > MAX_BUNDLE_LENGTH) {
    throw new VerifyError(
      'REKOR_BUNDLE_INVALID',
      `the bundle is over ${MAX_BUNDLE_LENGTH} characters`,
    );
  }
  const bundle = parseObject(input.bundle, ['SignedEntryTimestamp', 'Payload'], 'the bundle');
  const set = base64Field(
    bundle.get('SignedEntryTimestamp'),
    MAX_SIGNATURE_BASE64_LENGTH,
    'SignedEntryTimestamp',
  );
  const payload = exactObject(
    bundle.get('Payload'),
    ['body', 'integratedTime', 'logIndex', 'logID'],
    'Payload',
  );
  const bodyBase64 = stringField(payload.get('body'), 'Payload.body');
  const integratedTime = integerField(payload.get('integratedTime'), 'Payload.integratedTime');
  const logIndex = integerField(payload.get('logIndex'), 'Payload.logIndex');
  const logID = stringField(payload.get('logID'), 'Payload.logID');

  const expectedLogId = toRekorLogId(input.rekorKey);
  if (logID !== expectedLogId) {
    throw new VerifyError(
      'REKOR_LOG_ID_MISMATCH',
      `the bundle's logID ${JSON.stringify(logID.slice(0, 80))} is not the configured Rekor key's ${expectedLogId}`,
    );
  }
  // RFC 8785: keys sorted by UTF-16 code units; JSON.stringify writes strings and safe integers
  // exactly as the canonicaliser does.
  const canonical = `{"body":${JSON.stringify(bodyBase64)},"integratedTime":${integratedTime},"logID":${JSON.stringify(logID)},"logIndex":${logIndex}}`;
  const setHash = input.rekorKey.algorithm === 'ed25519' ? null : 'sha256';
  if (!verifyWithKey(input.rekorKey, Buffer.from(canonical, 'utf8'), set, setHash)) {
    throw new VerifyError(
      'REKOR_SET_INVALID',
      'the SignedEntryTimestamp does not verify with the Rekor key',
    );
  }

  // The SET is authentic; now the entry it covers must be about this very signature.
  const bodyBytes = base64Field(bodyBase64, MAX_BODY_BASE64_LENGTH, 'Payload.body');
  let bodyText: string;
  try {
    bodyText = new TextDecoder('utf-8', { fatal: true }).decode(bodyBytes);
  } catch (err) {
    throw new VerifyError('REKOR_BUNDLE_INVALID', 'the entry body is not UTF-8', { cause: err });
  }
  const body = parseObject(bodyText, ['apiVersion', 'kind', 'spec'], 'the entry body');
  const kind = stringField(body.get('kind'), 'kind');
  const apiVersion = stringField(body.get('apiVersion'), 'apiVersion');
  if (kind !== 'hashedrekord' || apiVersion !== '0.0.1') {
    throw new VerifyError(
      'REKOR_UNSUPPORTED_ENTRY',
      `unsupported Rekor entry ${JSON.stringify(kind.slice(0, 40))} ${JSON.stringify(apiVersion.slice(0, 20))}`,
    );
  }
  const spec = exactObject(body.get('spec'), ['data', 'signature'], 'spec');
  const data = exactObject(spec.get('data'), ['hash'], 'spec.data');
  const hash = exactObject(data.get('hash'), ['algorithm', 'value'], 'spec.data.hash');
  const signature = exactObject(spec.get('signature'), ['content', 'publicKey'], 'spec.signature');
  const publicKey = exactObject(
    signature.get('publicKey'),
    ['content'],
    'spec.signature.publicKey',
  );

  const algorithm = stringField(hash.get('algorithm'), 'spec.data.hash.algorithm');
  const value = stringField(hash.get('value'), 'spec.data.hash.value');
  const payloadHash = createHash('sha256').update(input.payload).digest('hex');
  if (algorithm !== 'sha256' || !HEX_SHA256_RE.test(value) || value !== payloadHash) {
    throw new VerifyError('REKOR_ENTRY_MISMATCH', 'the log entry is for another payload');
  }
  const entrySignature = base64Field(
    signature.get('content'),
    MAX_SIGNATURE_BASE64_LENGTH,
    'spec.signature.content',
  );
  if (!entrySignature.equals(input.signature)) {
    throw new VerifyError('REKOR_ENTRY_MISMATCH', 'the log entry is for another signature');
  }
  const pem = base64Field(
    publicKey.get('content'),
    MAX_BUNDLE_LENGTH,
    'spec.signature.publicKey.content',
  ).toString('utf8');
  const entryKey = readPublicKeyOrCertificate(pem);
  if (entryKey === undefined) {
    throw new VerifyError(
      'REKOR_BUNDLE_INVALID',
      'the log entry public key is neither a PEM key nor a certificate',
    );
  }
  if (!entryKey.export({ format: 'der', type: 'spki' }).equals(input.signingKey.spki)) {
    throw new VerifyError('REKOR_ENTRY_MISMATCH', 'the log entry is for another public key');
  }
  return { integratedTime, logIndex, logID };
}
