import { createHash, X509Certificate } from 'node:crypto';

import { VerifyError } from '../errors.js';
import { isJsonObject, parseStrictJson } from '../json/strict-json.js';
import type { JsonValue } from '../json/strict-json.js';
import { verifyWithSigstoreJs } from './sigstore-js.js';
import { decodeCanonicalBase64, parsePublicKey, verifyWithKey } from './public-key.js';
import type { VerificationKey } from './public-key.js';
import { toRekorLogId } from './rekor-set.js';
import { formatDockerReference, matchesSignedIdentity } from './signed-identity.js';
import type { DockerReference, SignedIdentity } from './signed-identity.js';
import { verifySigningCertificate } from './signature-trust.js';
import type { SignatureTrust } from './signature-trust.js';

/** The artifactType (and layer media type) of a cosign v3 Sigstore bundle referrer. */
export const BUNDLE_ARTIFACT_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** The only DSSE payload type accepted: an in-toto statement. */
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
/**
 * The only predicate a cosign v3 *signature* carries. Every other predicateType (SLSA
 * provenance, SBOMs, vulnerability reports, custom) is an attestation: a signed claim about the
 * image, which may well say "do not ship", and never a signature of it, whoever made it.
 */
export const COSIGN_SIGN_PREDICATE_TYPE = 'https://sigstore.dev/cosign/sign/v1';
/** A bundle is a few KiB (certificate, one log entry, a small statement). */
export const MAX_BUNDLE_BYTES = 256 * 1024;
/** Log entries, DSSE signatures and statement subjects examined in one bundle. */
const MAX_BUNDLE_ITEMS = 8;
const MAX_BASE64_LENGTH = MAX_BUNDLE_BYTES;
const INTEGER_STRING_RE = /^(0|[1-9][0-9]{0,15})$/;
const HEX_SHA256_RE = /^[0-9a-f]{64}$/;

// ---- Strict shape readers -------------------------------------------------------------------

type JsonObject = { readonly [key: string]: JsonValue };

function invalid(message: string): VerifyError {
  return new VerifyError('BUNDLE_INVALID', message);
}

function object(
  value: JsonValue | undefined,
  allowed: readonly string[],
  what: string,
): JsonObject {
  if (!isJsonObject(value)) throw invalid(`${what} is not an object`);
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw invalid(`unknown field ${JSON.stringify(key)} in ${what}`);
  }
  return value;
}

function string(value: JsonValue | undefined, what: string): string {
  if (typeof value !== 'string') throw invalid(`${what} is not a string`);
  return value;
}

function array(value: JsonValue | undefined, what: string): readonly JsonValue[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_BUNDLE_ITEMS) {
    throw invalid(`${what} is not an array of 1 to ${MAX_BUNDLE_ITEMS} items`);
  }
  return value;
}

function base64(value: JsonValue | undefined, what: string): Buffer {
  const text = string(value, what);
  try {
    return decodeCanonicalBase64(text, MAX_BASE64_LENGTH, what);
  } catch (err) {
    throw new VerifyError('BUNDLE_INVALID', `${what} is not canonical base64`, { cause: err });
  }
}

/** protobuf JSON writes int64 as a decimal string. */
function int64(value: JsonValue | undefined, what: string): number {
  const text = string(value, what);
  if (!INTEGER_STRING_RE.test(text) || !Number.isSafeInteger(Number(text))) {
    throw invalid(`${what} is not a non-negative integer string`);
  }
  return Number(text);
}

/** DSSE pre-authentication encoding (PAE). */
function pae(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, 'utf8'),
    type,
    Buffer.from(` ${payload.length} `, 'utf8'),
    payload,
  ]);
}

function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

// ---- The bundle -----------------------------------------------------------------------------

/** What a signature must be about: the image's digest and name, under a signed-identity policy. */
export interface ImageExpectation {
  /** The digest the signature must sign. */
  readonly digest: string;
  /** The reference signed names are matched against. */
  readonly identityReference: DockerReference;
  readonly signedIdentity: SignedIdentity;
}

/** What a verified bundle proves. */
export interface BundleResult {
  readonly dockerReference: string;
  readonly emails: readonly string[];
  readonly dnsNames: readonly string[];
  readonly integratedTime?: number;
  readonly logIndex?: number;
}

interface TlogEvidence {
  readonly integratedTime: number;
  readonly logIndex: number;
}

/**
 * Verifies the bytes of one cosign v3 Sigstore bundle (v0.3) for an image; pure, no I/O.
 *
 * Supported: bundles holding a DSSE envelope with an in-toto Statement v1 whose subject carries
 * the image's sha256 digest and a name satisfying the signed identity. messageSignature bundles
 * are rejected as unsupported (their payload is not in the bundle).
 *
 * Verified twice, and both must pass. First by the project's own strict reading: the signing
 * certificate is the bundle's leaf only (a chain is refused) and must chain to the configured
 * CAs; the email/hostname must equal the configured one exactly; SCTs are neither required nor
 * read; a Rekor SET (required for Fulcio, and whenever a Rekor key is configured) must verify
 * with the configured key and bind the same payload, signature and key. Then by @sigstore/verify
 * (see sigstore-js.ts): the v0.3 schema, the DSSE signature, the log body, the SET and the
 * inclusion proof against a checkpoint signed by the Rekor key.
 *
 * Throws VerifyError (a bundle, sigstore or certificate code) when the bundle is not accepted.
 */
export function verifyBundle(
  bytes: Uint8Array,
  trust: SignatureTrust,
  expected: ImageExpectation,
): BundleResult {
  let text: string;
  let document: JsonValue;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    document = parseStrictJson(text, { maxLength: MAX_BUNDLE_BYTES });
  } catch (err) {
    throw new VerifyError('BUNDLE_INVALID', 'the bundle is not strict UTF-8 JSON', { cause: err });
  }
  const bundle = object(
    document,
    ['mediaType', 'verificationMaterial', 'dsseEnvelope', 'messageSignature'],
    'the bundle',
  );
  if (bundle.mediaType !== BUNDLE_ARTIFACT_TYPE) {
    throw new VerifyError(
      'BUNDLE_UNSUPPORTED',
      `bundle mediaType ${JSON.stringify(bundle.mediaType ?? null).slice(0, 80)} is not ${BUNDLE_ARTIFACT_TYPE}`,
    );
  }
  if (bundle.messageSignature !== undefined || bundle.dsseEnvelope === undefined) {
    throw new VerifyError('BUNDLE_UNSUPPORTED', 'only DSSE bundles are verified');
  }
  const material = object(
    bundle.verificationMaterial,
    [
      'certificate',
      'x509CertificateChain',
      'publicKey',
      'tlogEntries',
      'timestampVerificationData',
    ],
    'verificationMaterial',
  );

  // The signer: the leaf certificate only, or the configured public key.
  const leafDer = readLeafCertificate(material);
  let signingKey: VerificationKey;
  let leafPem: string | undefined;
  let validity: { notBefore: Date; notAfter: Date } | undefined;
  if (trust.kind === 'key') {
    signingKey = trust.key;
  } else {
    if (leafDer === undefined) {
      throw new VerifyError('BUNDLE_INVALID', 'the bundle has no signing certificate');
    }
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(leafDer);
    } catch (err) {
      throw new VerifyError('BUNDLE_INVALID', 'the signing certificate cannot be read', {
        cause: err,
      });
    }
    leafPem = certificate.toString();
    validity = { notBefore: certificate.validFromDate, notAfter: certificate.validToDate };
    signingKey = parsePublicKeyFromCertificate(certificate);
  }

  // Signature first, over the PAE of the exact payload bytes.
  const envelope = object(
    bundle.dsseEnvelope,
    ['payload', 'payloadType', 'signatures'],
    'dsseEnvelope',
  );
  const payloadType = string(envelope.payloadType, 'dsseEnvelope.payloadType');
  const payload = base64(envelope.payload, 'dsseEnvelope.payload');
  const signatures = array(envelope.signatures, 'dsseEnvelope.signatures');
  if (signatures.length !== 1) {
    throw new VerifyError(
      'BUNDLE_UNSUPPORTED',
      'a bundle envelope must have exactly one signature',
    );
  }
  const signatureEntry = object(signatures[0], ['sig', 'keyid'], 'dsseEnvelope.signatures[0]');
  const signature = base64(signatureEntry.sig, 'dsseEnvelope.signatures[0].sig');
  if (!verifyWithKey(signingKey, pae(payloadType, payload), signature)) {
    throw new VerifyError(
      'BAD_SIGNATURE',
      `the DSSE signature does not verify with the ${signingKey.algorithm} key`,
    );
  }

  // The log entry: required for Fulcio and whenever a Rekor key is configured.
  let tlog: TlogEvidence | undefined;
  if (trust.rekorKey !== undefined) {
    tlog = verifyTlogEntries(trust.rekorKey, material.tlogEntries, {
      payload,
      signature,
      signingKey,
    });
  }

  // The certificate, against the configured CAs only, at the log's time.
  let emails: readonly string[] = [];
  let dnsNames: readonly string[] = [];
  if (trust.kind !== 'key' && leafPem !== undefined) {
    const verified = verifySigningCertificate(trust, leafPem, undefined, tlog?.integratedTime);
    emails = verified.emails;
    dnsNames = verified.dnsNames;
  }

  if (payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    throw new VerifyError(
      'BUNDLE_UNSUPPORTED',
      `payloadType ${JSON.stringify(payloadType.slice(0, 80))} is not ${IN_TOTO_PAYLOAD_TYPE}`,
    );
  }
  const dockerReference = checkStatement(expected, payload);
  // Everything above held by our own reading; the same bundle must also satisfy @sigstore/verify
  // (schema, DSSE, log body, SET, inclusion proof), with the gaps listed in sigstore-js.ts closed.
  verifyWithSigstoreJs(document, {
    signingKey: signingKey.key,
    ...(validity !== undefined ? { validity } : {}),
    ...(trust.rekorKey !== undefined ? { rekorKey: trust.rekorKey.key } : {}),
  });
  return {
    dockerReference,
    emails,
    dnsNames,
    ...(tlog !== undefined ? { integratedTime: tlog.integratedTime, logIndex: tlog.logIndex } : {}),
  };
}

function parsePublicKeyFromCertificate(certificate: X509Certificate): VerificationKey {
  const pem = certificate.publicKey.export({ format: 'pem', type: 'spki' }).toString();
  return parsePublicKey(pem);
}

/**
 * `certificate.rawBytes`. The v0.3 bundle format carries the leaf alone; a chain
 * (`x509CertificateChain`, v0.1/v0.2) is refused rather than read, so intermediates can only
 * ever come from the policy.
 */
function readLeafCertificate(material: JsonObject): Buffer | undefined {
  if (material.x509CertificateChain !== undefined) {
    throw invalid(
      'a v0.3 bundle carries its signing certificate in certificate, not x509CertificateChain',
    );
  }
  if (material.certificate !== undefined) {
    return base64(object(material.certificate, ['rawBytes'], 'certificate').rawBytes, 'rawBytes');
  }
  return undefined;
}

interface TlogBinding {
  readonly payload: Buffer;
  readonly signature: Buffer;
  readonly signingKey: VerificationKey;
}

/** The first entry must carry a SET from the configured Rekor key binding this signature. */
function verifyTlogEntries(
  rekorKey: VerificationKey,
  value: JsonValue | undefined,
  binding: TlogBinding,
): TlogEvidence {
  if (value === undefined) {
    throw new VerifyError(
      'REKOR_BUNDLE_MISSING',
      'a Rekor key is configured but the bundle has no tlogEntries',
    );
  }
  const [first] = array(value, 'tlogEntries');
  const entry = object(
    first,
    [
      'logIndex',
      'logId',
      'kindVersion',
      'integratedTime',
      'inclusionPromise',
      'inclusionProof',
      'canonicalizedBody',
    ],
    'tlogEntries[0]',
  );
  const logIndex = int64(entry.logIndex, 'logIndex');
  const integratedTime = int64(entry.integratedTime, 'integratedTime');
  const logId = base64(object(entry.logId, ['keyId'], 'logId').keyId, 'logId.keyId').toString(
    'hex',
  );
  const body = string(entry.canonicalizedBody, 'canonicalizedBody');
  if (entry.inclusionPromise === undefined) {
    throw new VerifyError('REKOR_BUNDLE_MISSING', 'the log entry has no inclusionPromise (SET)');
  }
  const set = base64(
    object(entry.inclusionPromise, ['signedEntryTimestamp'], 'inclusionPromise')
      .signedEntryTimestamp,
    'signedEntryTimestamp',
  );
  if (logId !== toRekorLogId(rekorKey)) {
    throw new VerifyError('REKOR_LOG_ID_MISMATCH', 'the log entry is from another log');
  }
  const canonical = `{"body":${JSON.stringify(body)},"integratedTime":${integratedTime},"logID":${JSON.stringify(logId)},"logIndex":${logIndex}}`;
  const hash = rekorKey.algorithm === 'ed25519' ? null : 'sha256';
  if (!verifyWithKey(rekorKey, Buffer.from(canonical, 'utf8'), set, hash)) {
    throw new VerifyError(
      'REKOR_SET_INVALID',
      'the SignedEntryTimestamp does not verify with the Rekor key',
    );
  }
  checkDsseEntry(base64(body, 'canonicalizedBody'), binding);
  return { integratedTime, logIndex };
}

/** A dsse 0.0.1 entry: same payload hash, same signature, same key. */
function checkDsseEntry(bodyBytes: Buffer, binding: TlogBinding): void {
  let document: JsonValue;
  try {
    document = parseStrictJson(new TextDecoder('utf-8', { fatal: true }).decode(bodyBytes), {
      maxLength: MAX_BUNDLE_BYTES,
    });
  } catch (err) {
    throw new VerifyError('REKOR_BUNDLE_INVALID', 'the entry body is not strict JSON', {
      cause: err,
    });
  }
  const body = object(document, ['apiVersion', 'kind', 'spec'], 'the entry body');
  if (body.kind !== 'dsse' || body.apiVersion !== '0.0.1') {
    throw new VerifyError('REKOR_UNSUPPORTED_ENTRY', 'only dsse 0.0.1 log entries are verified');
  }
  const spec = object(body.spec, ['envelopeHash', 'payloadHash', 'signatures'], 'spec');
  const payloadHash = object(spec.payloadHash, ['algorithm', 'value'], 'spec.payloadHash');
  const value = string(payloadHash.value, 'spec.payloadHash.value');
  if (
    payloadHash.algorithm !== 'sha256' ||
    !HEX_SHA256_RE.test(value) ||
    value !== sha256Hex(binding.payload)
  ) {
    throw new VerifyError('REKOR_ENTRY_MISMATCH', 'the log entry is for another payload');
  }
  const signatures = array(spec.signatures, 'spec.signatures');
  if (signatures.length !== 1) {
    throw new VerifyError('REKOR_ENTRY_MISMATCH', 'the log entry must have exactly one signature');
  }
  const entrySignature = object(signatures[0], ['signature', 'verifier'], 'spec.signatures[0]');
  if (!base64(entrySignature.signature, 'signature').equals(binding.signature)) {
    throw new VerifyError('REKOR_ENTRY_MISMATCH', 'the log entry is for another signature');
  }
  const verifierPem = base64(entrySignature.verifier, 'verifier').toString('utf8');
  let spki: Buffer;
  try {
    const key = verifierPem.includes('-----BEGIN CERTIFICATE-----')
      ? new X509Certificate(verifierPem).publicKey
      : parsePublicKey(verifierPem).key;
    spki = key.export({ format: 'der', type: 'spki' });
  } catch (err) {
    throw new VerifyError('REKOR_BUNDLE_INVALID', 'the log entry verifier cannot be read', {
      cause: err,
    });
  }
  if (!spki.equals(binding.signingKey.spki)) {
    throw new VerifyError('REKOR_ENTRY_MISMATCH', 'the log entry is for another key');
  }
}

/** The in-toto statement: a subject with this digest, whose name satisfies the policy. */
function checkStatement(expected: ImageExpectation, payload: Buffer): string {
  let document: JsonValue;
  try {
    document = parseStrictJson(new TextDecoder('utf-8', { fatal: true }).decode(payload), {
      maxLength: MAX_BUNDLE_BYTES,
    });
  } catch (err) {
    throw new VerifyError('PAYLOAD_INVALID', 'the statement is not strict JSON', { cause: err });
  }
  if (!isJsonObject(document) || document._type !== IN_TOTO_STATEMENT_V1) {
    throw new VerifyError('PAYLOAD_WRONG_TYPE', `the payload is not an ${IN_TOTO_STATEMENT_V1}`);
  }
  if (document.predicateType !== COSIGN_SIGN_PREDICATE_TYPE) {
    throw new VerifyError(
      'BUNDLE_NOT_A_SIGNATURE',
      typeof document.predicateType === 'string'
        ? `the bundle is an attestation (predicateType ${JSON.stringify(document.predicateType.slice(0, 200))}), not a signature: only predicateType ${COSIGN_SIGN_PREDICATE_TYPE} signs an image`
        : `the statement has no predicateType, so it is not a cosign signature (predicateType ${COSIGN_SIGN_PREDICATE_TYPE})`,
    );
  }
  const subjects = document.subject;
  if (!Array.isArray(subjects) || subjects.length === 0 || subjects.length > MAX_BUNDLE_ITEMS) {
    throw new VerifyError('PAYLOAD_INVALID', 'the statement has no usable subject list');
  }
  const hex = expected.digest.slice('sha256:'.length);
  const matching = subjects.filter((subject) => {
    const digest = isJsonObject(subject) ? subject.digest : undefined;
    return isJsonObject(digest) && digest.sha256 === hex;
  });
  if (matching.length === 0) {
    throw new VerifyError('BUNDLE_SUBJECT_MISMATCH', `no statement subject is ${expected.digest}`);
  }
  let named = false;
  for (const subject of matching) {
    const name = isJsonObject(subject) ? subject.name : undefined;
    if (typeof name !== 'string') continue;
    named = true;
    if (matchesSignedIdentity(expected.signedIdentity, expected.identityReference, name)) {
      return name;
    }
  }
  if (!named) {
    // cosign v3's `sign` writes exactly this: a subject with a digest and no name, so the
    // signature says nothing about which repository it was made for.
    throw new VerifyError(
      'IDENTITY_MISMATCH',
      `the statement's subject for ${expected.digest} names no image, so ${expected.signedIdentity.type} cannot be satisfied (cosign v3 writes digest-only subjects; sign with a legacy .sig signature or a statement naming the image)`,
    );
  }
  throw new VerifyError(
    'IDENTITY_MISMATCH',
    `no statement subject name matches ${formatDockerReference(expected.identityReference)} under ${expected.signedIdentity.type}`,
  );
}
