import { X509Certificate } from 'node:crypto';

import { VerifyError } from '../errors.js';
import type { VerifyErrorCode } from '../errors.js';
import { toVerificationKey } from './public-key.js';
import type { VerificationKey } from './public-key.js';

/** The annotation on a simplesigning layer holding the signing certificate (PEM). */
export const CERTIFICATE_ANNOTATION = 'dev.sigstore.cosign/certificate';
/**
 * The annotation holding the signer's claimed chain. Deliberately never read: intermediates
 * come from the configured roots of trust only.
 */
export const CHAIN_ANNOTATION = 'dev.sigstore.cosign/chain';
/** A Fulcio leaf is ~1 KiB of PEM; leave room for long SANs, nothing more. */
export const MAX_CERTIFICATE_PEM_LENGTH = 16 * 1024;
/** A configured CA bundle: a handful of certificates. */
export const MAX_BUNDLE_PEM_LENGTH = 256 * 1024;
export const MAX_BUNDLE_CERTIFICATES = 32;
/** Certificates in a path, leaf and anchor included. */
export const MAX_CHAIN_LENGTH = 6;
/** Candidate paths examined before giving up. */
export const MAX_CANDIDATE_PATHS = 16;
/** Extensions in one certificate; SAN entries in one extension. */
const MAX_EXTENSIONS = 64;
const MAX_SAN_ENTRIES = 256;

export const CODE_SIGNING_EKU_OID = '1.3.6.1.5.5.7.3.3';
const ANY_EKU_OID = '2.5.29.37.0';
export const FULCIO_ISSUER_V1_OID = '1.3.6.1.4.1.57264.1.1';
export const FULCIO_ISSUER_V2_OID = '1.3.6.1.4.1.57264.1.8';
const BASIC_CONSTRAINTS_OID = '2.5.29.19';
const KEY_USAGE_OID = '2.5.29.15';
const EKU_OID = '2.5.29.37';
const SAN_OID = '2.5.29.17';
/** Critical extensions we understand and enforce; any other critical one is refused. */
const KNOWN_CRITICAL = new Set([BASIC_CONSTRAINTS_OID, KEY_USAGE_OID, EKU_OID, SAN_OID]);

/** Why a signing certificate (or a configured CA bundle) was not accepted. */
export type CertificateErrorCode =
  /** A layer with a signature but no certificate annotation. */
  | 'CERTIFICATE_MISSING'
  /** A certificate that is not exactly one readable PEM block of well-formed DER. */
  | 'CERTIFICATE_INVALID'
  /** No path from the certificate to a configured anchor through configured intermediates. */
  | 'CERTIFICATE_UNTRUSTED'
  /** A certificate in the path had expired at the verification time. */
  | 'CERTIFICATE_EXPIRED'
  /** A certificate in the path was not yet valid at the verification time. */
  | 'CERTIFICATE_NOT_YET_VALID'
  /** The leaf (or a CA constraining EKUs) does not allow code signing. */
  | 'CERTIFICATE_NOT_CODE_SIGNING'
  /** A critical extension we do not enforce. */
  | 'CERTIFICATE_UNSUPPORTED_EXTENSION'
  /** The Fulcio issuer extensions are absent or name another OIDC issuer. */
  | 'CERTIFICATE_ISSUER_MISMATCH'
  /** The v1 and v2 Fulcio issuer extensions disagree. */
  | 'CERTIFICATE_ISSUER_CONFLICT'
  /** No SAN equals the configured email or hostname. */
  | 'CERTIFICATE_SUBJECT_MISMATCH'
  /** A configured CA bundle or subject that cannot be used (a configuration error). */
  | 'CERTIFICATE_ROOTS_INVALID';

const VERIFY_CODE: Readonly<Record<CertificateErrorCode, VerifyErrorCode>> = {
  CERTIFICATE_MISSING: 'UNSIGNED',
  CERTIFICATE_INVALID: 'MALFORMED_MESSAGE',
  CERTIFICATE_UNTRUSTED: 'UNKNOWN_KEY',
  CERTIFICATE_EXPIRED: 'KEY_NOT_VALID',
  CERTIFICATE_NOT_YET_VALID: 'KEY_NOT_VALID',
  CERTIFICATE_NOT_CODE_SIGNING: 'KEY_NOT_VALID',
  CERTIFICATE_UNSUPPORTED_EXTENSION: 'UNSUPPORTED_MESSAGE',
  CERTIFICATE_ISSUER_MISMATCH: 'UNKNOWN_KEY',
  CERTIFICATE_ISSUER_CONFLICT: 'MALFORMED_MESSAGE',
  CERTIFICATE_SUBJECT_MISMATCH: 'UNKNOWN_KEY',
  CERTIFICATE_ROOTS_INVALID: 'ROOT_OF_TRUST_INVALID',
};

/** A certificate verification failure, carrying the project-wide code and the detail. */
export class CertificateError extends VerifyError {
  readonly certificateCode: CertificateErrorCode;

  constructor(code: CertificateErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(VERIFY_CODE[code], message, 'cause' in options ? { cause: options.cause } : {});
    this.certificateCode = code;
  }
}

export function isCertificateError(
  err: unknown,
  code?: CertificateErrorCode,
): err is CertificateError {
  return err instanceof CertificateError && (code === undefined || err.certificateCode === code);
}

// ---- A tiny, bounded DER reader -------------------------------------------------------------

interface Tlv {
  readonly tag: number;
  /** Start of the contents. */
  readonly start: number;
  /** End of the contents (exclusive). */
  readonly end: number;
}

class DerError extends Error {}

function readTlv(der: Uint8Array, offset: number, limit: number): Tlv {
  if (offset + 2 > limit) throw new DerError('truncated header');
  const tag = der[offset] ?? 0;
  if ((tag & 0x1f) === 0x1f) throw new DerError('high tag numbers are not used in X.509');
  const first = der[offset + 1] ?? 0;
  let length: number;
  let start: number;
  if (first < 0x80) {
    length = first;
    start = offset + 2;
  } else {
    const octets = first & 0x7f;
    if (octets === 0 || octets > 4) throw new DerError('indefinite or oversized length');
    if (offset + 2 + octets > limit) throw new DerError('truncated length');
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + (der[offset + 2 + i] ?? 0);
    if (length < 0x80 || (der[offset + 2] ?? 0) === 0) throw new DerError('non-minimal length');
    start = offset + 2 + octets;
  }
  if (start + length > limit) throw new DerError('contents overrun');
  return { tag, start, end: start + length };
}

function children(der: Uint8Array, parent: Tlv, max: number): Tlv[] {
  const out: Tlv[] = [];
  let offset = parent.start;
  while (offset < parent.end) {
    if (out.length >= max) throw new DerError('too many elements');
    const tlv = readTlv(der, offset, parent.end);
    out.push(tlv);
    offset = tlv.end;
  }
  return out;
}

function expectTag(tlv: Tlv | undefined, tag: number, what: string): Tlv {
  if (tlv?.tag !== tag) throw new DerError(`${what}: unexpected tag`);
  return tlv;
}

function decodeOid(der: Uint8Array, tlv: Tlv): string {
  if (tlv.end <= tlv.start || tlv.end - tlv.start > 64) throw new DerError('bad OID length');
  const arcs: number[] = [];
  let value = 0;
  for (let i = tlv.start; i < tlv.end; i++) {
    const byte = der[i] ?? 0;
    if (value === 0 && byte === 0x80) throw new DerError('non-minimal OID arc');
    value = value * 128 + (byte & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) throw new DerError('OID arc too large');
    if ((byte & 0x80) === 0) {
      arcs.push(value);
      value = 0;
    } else if (i === tlv.end - 1) {
      throw new DerError('truncated OID');
    }
  }
  const first = arcs[0] ?? 0;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...arcs.slice(1)].join('.');
}

const TIME_RE = /^(\d{2}|\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;

function decodeTime(der: Uint8Array, tlv: Tlv): number {
  const text = Buffer.from(der.subarray(tlv.start, tlv.end)).toString('latin1');
  const match = TIME_RE.exec(text);
  const digits = tlv.tag === 0x17 ? 2 : tlv.tag === 0x18 ? 4 : 0;
  if (match === null || match[1]?.length !== digits) throw new DerError('bad time');
  const [, y = '', mo = '', d = '', h = '', mi = '', s = ''] = match;
  if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) throw new DerError('bad time');
  let year = Number(y);
  if (digits === 2) year += year < 50 ? 2000 : 1900;
  const ms = Date.UTC(year, Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  const check = new Date(ms);
  if (check.getUTCDate() !== Number(d) || check.getUTCMonth() !== Number(mo) - 1) {
    throw new DerError('impossible date');
  }
  return ms;
}

function utf8(der: Uint8Array, tlv: Tlv): string {
  return new TextDecoder('utf-8', { fatal: true }).decode(der.subarray(tlv.start, tlv.end));
}

// ---- Certificate fields ---------------------------------------------------------------------

interface Extension {
  readonly oid: string;
  readonly critical: boolean;
  /** The extnValue OCTET STRING's contents. */
  readonly value: Uint8Array;
}

/** The fields we check, read from the DER by hand (OpenSSL has already parsed it once). */
export interface CertificateFields {
  /** Unix milliseconds. */
  readonly notBefore: number;
  readonly notAfter: number;
  readonly isCa: boolean;
  /** Absent when the certificate has no keyUsage extension. */
  readonly keyCertSign: boolean | undefined;
  /** Absent when the certificate has no EKU extension. */
  readonly extendedKeyUsages: readonly string[] | undefined;
  readonly emails: readonly string[];
  readonly dnsNames: readonly string[];
  readonly issuerV1: string | undefined;
  readonly issuerV2: string | undefined;
  readonly unsupportedCritical: readonly string[];
}

function parseExtensions(der: Uint8Array, tbs: Tlv): Extension[] {
  const fields = children(der, tbs, 16);
  const wrapper = fields.find((field) => field.tag === 0xa3);
  if (wrapper === undefined) return [];
  const [list] = children(der, wrapper, 1);
  const extensions: Extension[] = [];
  for (const entry of children(der, expectTag(list, 0x30, 'extensions'), MAX_EXTENSIONS)) {
    const parts = children(der, expectTag(entry, 0x30, 'extension'), 3);
    const oid = decodeOid(der, expectTag(parts[0], 0x06, 'extnID'));
    let critical = false;
    let valueTlv = parts[1];
    if (parts.length === 3) {
      const flag = expectTag(parts[1], 0x01, 'critical');
      if (flag.end - flag.start !== 1 || der[flag.start] !== 0xff) {
        throw new DerError('critical must be DER TRUE when present');
      }
      critical = true;
      valueTlv = parts[2];
    }
    const value = expectTag(valueTlv, 0x04, 'extnValue');
    if (extensions.some((ext) => ext.oid === oid)) throw new DerError(`duplicate extension ${oid}`);
    extensions.push({ oid, critical, value: der.subarray(value.start, value.end) });
  }
  return extensions;
}

function whole(value: Uint8Array): Tlv {
  const tlv = readTlv(value, 0, value.length);
  if (tlv.end !== value.length) throw new DerError('trailing bytes');
  return tlv;
}

/** Reads validity and the extensions we enforce. Throws CERTIFICATE_INVALID on bad DER. */
export function readCertificateFields(certificate: X509Certificate): CertificateFields {
  const der = certificate.raw;
  try {
    const outer = whole(der);
    const [tbsTlv] = children(der, expectTag(outer, 0x30, 'certificate'), 3);
    const tbs = expectTag(tbsTlv, 0x30, 'tbsCertificate');
    const fields = children(der, tbs, 16);
    const offset = fields[0]?.tag === 0xa0 ? 1 : 0;
    const validity = children(der, expectTag(fields[offset + 3], 0x30, 'validity'), 2);
    const [notBeforeTlv, notAfterTlv] = validity;
    if (notBeforeTlv === undefined || notAfterTlv === undefined) throw new DerError('validity');
    const result = {
      notBefore: decodeTime(der, notBeforeTlv),
      notAfter: decodeTime(der, notAfterTlv),
      isCa: false,
      keyCertSign: undefined as boolean | undefined,
      extendedKeyUsages: undefined as string[] | undefined,
      emails: [] as string[],
      dnsNames: [] as string[],
      issuerV1: undefined as string | undefined,
      issuerV2: undefined as string | undefined,
      unsupportedCritical: [] as string[],
    };
    for (const ext of parseExtensions(der, tbs)) {
      if (ext.critical && !KNOWN_CRITICAL.has(ext.oid)) result.unsupportedCritical.push(ext.oid);
      const value = ext.value;
      switch (ext.oid) {
        case BASIC_CONSTRAINTS_OID: {
          const items = children(value, expectTag(whole(value), 0x30, 'basicConstraints'), 2);
          const flag = items[0];
          result.isCa =
            flag?.tag === 0x01 && flag.end - flag.start === 1 && value[flag.start] === 0xff;
          break;
        }
        case KEY_USAGE_OID: {
          const bits = expectTag(whole(value), 0x03, 'keyUsage');
          if (bits.end - bits.start < 2) throw new DerError('keyUsage');
          // keyCertSign is bit 5 of the first content octet after the unused-bits octet.
          result.keyCertSign = ((value[bits.start + 1] ?? 0) & 0x04) !== 0;
          break;
        }
        case EKU_OID: {
          const list = children(value, expectTag(whole(value), 0x30, 'EKU'), 64);
          result.extendedKeyUsages = list.map((oid) =>
            decodeOid(value, expectTag(oid, 0x06, 'EKU')),
          );
          break;
        }
        case SAN_OID: {
          const names = children(value, expectTag(whole(value), 0x30, 'SAN'), MAX_SAN_ENTRIES);
          for (const name of names) {
            const text = Buffer.from(value.subarray(name.start, name.end)).toString('latin1');
            // IA5String contents: ASCII only.
            if (name.tag === 0x81 || name.tag === 0x82) {
              if (!/^[\x20-\x7e]*$/.test(text)) throw new DerError('non-ASCII SAN');
              (name.tag === 0x81 ? result.emails : result.dnsNames).push(text);
            }
          }
          break;
        }
        case FULCIO_ISSUER_V1_OID:
          result.issuerV1 = new TextDecoder('utf-8', { fatal: true }).decode(value);
          break;
        case FULCIO_ISSUER_V2_OID:
          result.issuerV2 = utf8(value, expectTag(whole(value), 0x0c, 'issuer (v2)'));
          break;
        default:
          break;
      }
    }
    return result;
  } catch (err) {
    if (err instanceof DerError || err instanceof TypeError) {
      throw new CertificateError('CERTIFICATE_INVALID', `malformed certificate: ${err.message}`, {
        cause: err,
      });
    }
    throw err;
  }
}

// ---- PEM ------------------------------------------------------------------------------------

const PEM_BLOCK_RE = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

interface ParsedCertificate {
  readonly certificate: X509Certificate;
  readonly fields: CertificateFields;
}

function parseOne(pem: string, code: CertificateErrorCode, what: string): ParsedCertificate {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(pem);
  } catch (err) {
    throw new CertificateError(code, `${what} cannot be read`, { cause: err });
  }
  try {
    return { certificate, fields: readCertificateFields(certificate) };
  } catch (err) {
    if (isCertificateError(err)) throw new CertificateError(code, `${what}: ${err.message}`);
    throw err;
  }
}

/** The certificate annotation: exactly one PEM CERTIFICATE block. */
function parseLeafPem(pem: string): ParsedCertificate {
  if (pem.length > MAX_CERTIFICATE_PEM_LENGTH) {
    throw new CertificateError(
      'CERTIFICATE_INVALID',
      `the certificate is over ${MAX_CERTIFICATE_PEM_LENGTH} characters`,
    );
  }
  const blocks = [...pem.matchAll(PEM_BLOCK_RE)];
  if (blocks.length !== 1 || blocks[0]?.[1] !== 'CERTIFICATE') {
    throw new CertificateError('CERTIFICATE_INVALID', 'expected exactly one PEM CERTIFICATE');
  }
  return parseOne(blocks[0][0], 'CERTIFICATE_INVALID', 'the certificate');
}

/** A configured bundle: one or more PEM CERTIFICATE blocks and nothing else. */
function parseBundle(pem: string, what: string): ParsedCertificate[] {
  if (pem.length > MAX_BUNDLE_PEM_LENGTH) {
    throw new CertificateError(
      'CERTIFICATE_ROOTS_INVALID',
      `${what} is over ${MAX_BUNDLE_PEM_LENGTH} characters`,
    );
  }
  const blocks = [...pem.matchAll(PEM_BLOCK_RE)];
  if (blocks.length === 0 || blocks.length > MAX_BUNDLE_CERTIFICATES) {
    throw new CertificateError(
      'CERTIFICATE_ROOTS_INVALID',
      `${what} must hold 1 to ${MAX_BUNDLE_CERTIFICATES} PEM certificates`,
    );
  }
  if (pem.replace(PEM_BLOCK_RE, '').trim() !== '') {
    throw new CertificateError('CERTIFICATE_ROOTS_INVALID', `${what} has text outside PEM blocks`);
  }
  return blocks.map((block, index) => {
    if (block[1] !== 'CERTIFICATE') {
      throw new CertificateError('CERTIFICATE_ROOTS_INVALID', `${what} holds a ${block[1]}`);
    }
    return parseOne(block[0], 'CERTIFICATE_ROOTS_INVALID', `${what} certificate ${index + 1}`);
  });
}

// ---- Path building --------------------------------------------------------------------------

/** Configured trust: anchors, and intermediates usable to reach them. Never from a signature. */
export interface CertificateRoots {
  readonly anchors: readonly ParsedCertificate[];
  readonly intermediates: readonly ParsedCertificate[];
}

function issues(issuer: ParsedCertificate, child: ParsedCertificate): boolean {
  if (!issuer.fields.isCa || issuer.fields.keyCertSign === false) return false;
  // checkIssued compares names (and key identifiers); verify checks the signature itself.
  return (
    child.certificate.checkIssued(issuer.certificate) &&
    child.certificate.verify(issuer.certificate.publicKey)
  );
}

/** Every path leaf → … → anchor, by signature and name only; bounded in length and count. */
function candidatePaths(leaf: ParsedCertificate, roots: CertificateRoots): ParsedCertificate[][] {
  const paths: ParsedCertificate[][] = [];
  const walk = (path: ParsedCertificate[]): void => {
    const current = path[path.length - 1];
    if (current === undefined || paths.length >= MAX_CANDIDATE_PATHS) return;
    for (const anchor of roots.anchors) {
      if (paths.length < MAX_CANDIDATE_PATHS && issues(anchor, current)) {
        paths.push([...path, anchor]);
      }
    }
    if (path.length + 1 >= MAX_CHAIN_LENGTH) return;
    for (const next of roots.intermediates) {
      if (!path.includes(next) && issues(next, current)) walk([...path, next]);
    }
  };
  walk([leaf]);
  return paths;
}

function checkPath(path: readonly ParsedCertificate[], at: number): void {
  for (const [index, { fields }] of path.entries()) {
    const what = index === 0 ? 'the certificate' : `CA certificate ${index}`;
    if (at < fields.notBefore) {
      throw new CertificateError(
        'CERTIFICATE_NOT_YET_VALID',
        `${what} is not valid before ${new Date(fields.notBefore).toISOString()} (checked at ${new Date(at).toISOString()})`,
      );
    }
    if (at > fields.notAfter) {
      throw new CertificateError(
        'CERTIFICATE_EXPIRED',
        `${what} expired at ${new Date(fields.notAfter).toISOString()} (checked at ${new Date(at).toISOString()})`,
      );
    }
    if (fields.unsupportedCritical.length > 0) {
      throw new CertificateError(
        'CERTIFICATE_UNSUPPORTED_EXTENSION',
        `${what} has unsupported critical extensions ${fields.unsupportedCritical.join(', ')}`,
      );
    }
    // The leaf must allow code signing; a CA that constrains EKUs must allow it too (as Go does).
    const ekus = fields.extendedKeyUsages;
    const allowed =
      ekus === undefined
        ? index !== 0
        : ekus.includes(CODE_SIGNING_EKU_OID) || (index !== 0 && ekus.includes(ANY_EKU_OID));
    if (!allowed) {
      throw new CertificateError(
        'CERTIFICATE_NOT_CODE_SIGNING',
        `${what} does not allow code signing (EKU ${CODE_SIGNING_EKU_OID})`,
      );
    }
  }
}

/** Chains the leaf to the configured roots at `at` (unix ms); the first failure is reported. */
function verifyChain(leaf: ParsedCertificate, roots: CertificateRoots, at: number): void {
  const paths = candidatePaths(leaf, roots);
  if (paths.length === 0) {
    throw new CertificateError(
      'CERTIFICATE_UNTRUSTED',
      'the certificate does not chain to the configured CA certificates',
    );
  }
  let first: unknown;
  for (const path of paths) {
    try {
      checkPath(path, at);
      return;
    } catch (err) {
      first ??= err;
    }
  }
  throw first;
}

/** What a verified certificate proves, and the key that signatures must verify with. */
export interface VerifiedCertificate {
  readonly certificate: X509Certificate;
  readonly key: VerificationKey;
  readonly emails: readonly string[];
  readonly dnsNames: readonly string[];
  /** The Fulcio OIDC issuer, when the certificate names one. */
  readonly oidcIssuer?: string;
}

function leafKey(leaf: ParsedCertificate): VerificationKey {
  return toVerificationKey(leaf.certificate.publicKey);
}

/** Parses a Fulcio CA bundle (PEM, root and intermediates); every certificate is an anchor. */
export function parseFulcioRoots(fulcioCaPem: string): CertificateRoots {
  const all = parseBundle(fulcioCaPem, 'the Fulcio CA bundle');
  // As containers/image's root pool: each configured certificate is trusted as an anchor;
  // intermediates listed alongside may also be passed through to reach a root.
  return { anchors: all, intermediates: all };
}

/** Parses PKI roots and (optional) intermediates, PEM. */
export function parsePkiRoots(caRootsPem: string, caIntermediatesPem?: string): CertificateRoots {
  return {
    anchors: parseBundle(caRootsPem, 'caRootsData'),
    intermediates:
      caIntermediatesPem === undefined
        ? []
        : parseBundle(caIntermediatesPem, 'caIntermediatesData'),
  };
}

export interface VerifyFulcioCertificateInput {
  /** The certificate annotation's PEM. */
  readonly certificatePem: string;
  readonly roots: CertificateRoots;
  readonly oidcIssuer: string;
  readonly signedEmail: string;
  /** The Rekor SET's integratedTime (unix seconds): the time the certificate is checked at. */
  readonly integratedTime: number;
}

/**
 * Verifies a Fulcio (keyless) signing certificate: it chains through configured certificates
 * only to a configured anchor, every certificate in the path is valid at `integratedTime`, the
 * leaf has the CodeSigning EKU, its OIDC issuer (v1 raw / v2 UTF8String extension; both must
 * agree when both are present) equals `oidcIssuer`, and an email SAN equals `signedEmail`
 * exactly. Returns the leaf's key for the signature check.
 */
export function verifyFulcioCertificate(input: VerifyFulcioCertificateInput): VerifiedCertificate {
  if (input.oidcIssuer === '' || input.signedEmail === '') {
    throw new CertificateError(
      'CERTIFICATE_ROOTS_INVALID',
      'oidcIssuer and signedEmail are required',
    );
  }
  const leaf = parseLeafPem(input.certificatePem);
  verifyChain(leaf, input.roots, input.integratedTime * 1000);
  const { issuerV1, issuerV2, emails, dnsNames } = leaf.fields;
  if (issuerV1 !== undefined && issuerV2 !== undefined && issuerV1 !== issuerV2) {
    throw new CertificateError(
      'CERTIFICATE_ISSUER_CONFLICT',
      'the certificate names two different OIDC issuers',
    );
  }
  const issuer = issuerV2 ?? issuerV1;
  if (issuer === undefined) {
    throw new CertificateError(
      'CERTIFICATE_ISSUER_MISMATCH',
      'the certificate names no OIDC issuer',
    );
  }
  if (issuer !== input.oidcIssuer) {
    throw new CertificateError(
      'CERTIFICATE_ISSUER_MISMATCH',
      `the certificate's OIDC issuer ${JSON.stringify(issuer.slice(0, 200))} is not ${JSON.stringify(input.oidcIssuer)}`,
    );
  }
  if (!emails.includes(input.signedEmail)) {
    throw new CertificateError(
      'CERTIFICATE_SUBJECT_MISMATCH',
      `no email SAN of the certificate is ${JSON.stringify(input.signedEmail)}`,
    );
  }
  return {
    certificate: leaf.certificate,
    key: leafKey(leaf),
    emails,
    dnsNames,
    oidcIssuer: issuer,
  };
}

export interface VerifyPkiCertificateInput {
  readonly certificatePem: string;
  readonly roots: CertificateRoots;
  readonly email?: string;
  readonly hostname?: string;
  /** Unix seconds to check validity at: a Rekor SET's integratedTime, or now when absent. */
  readonly at?: number;
}

/**
 * Verifies a PKI signing certificate: chains through configured intermediates to a configured
 * root, valid at `at` (default now), CodeSigning EKU, and every configured subject matched
 * exactly (email SAN byte for byte; hostname against DNS SANs, ASCII case-insensitive, no
 * wildcards). At least one of email and hostname must be configured.
 */
export function verifyPkiCertificate(input: VerifyPkiCertificateInput): VerifiedCertificate {
  if (input.email === undefined && input.hostname === undefined) {
    throw new CertificateError(
      'CERTIFICATE_ROOTS_INVALID',
      'pkiCertificateSubject needs an email or a hostname',
    );
  }
  const leaf = parseLeafPem(input.certificatePem);
  verifyChain(leaf, input.roots, input.at !== undefined ? input.at * 1000 : Date.now());
  const { emails, dnsNames } = leaf.fields;
  if (input.email !== undefined && !emails.includes(input.email)) {
    throw new CertificateError(
      'CERTIFICATE_SUBJECT_MISMATCH',
      `no email SAN of the certificate is ${JSON.stringify(input.email)}`,
    );
  }
  const hostname = input.hostname?.toLowerCase();
  if (hostname !== undefined && !dnsNames.some((name) => name.toLowerCase() === hostname)) {
    throw new CertificateError(
      'CERTIFICATE_SUBJECT_MISMATCH',
      `no DNS SAN of the certificate is ${JSON.stringify(input.hostname)}`,
    );
  }
  return { certificate: leaf.certificate, key: leafKey(leaf), emails, dnsNames };
}

/**
 * The public key and DER of a certificate annotation, before any trust decision: for binding
 * the Rekor entry, which tells the time the certificate is then checked at.
 */
export function readCertificateKey(certificatePem: string): {
  readonly key: VerificationKey;
  readonly der: Buffer;
} {
  const leaf = parseLeafPem(certificatePem);
  return { key: leafKey(leaf), der: leaf.certificate.raw };
}
