import { constants, verify, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

import { isVerifyError, VerifyError } from '../errors.js';
import type { CertificateErrorCode } from '../errors.js';
import { toVerificationKey } from './public-key.js';
import type { VerificationKey } from './public-key.js';

/** The annotation on a simplesigning layer holding the signing certificate (PEM). */
export const CERTIFICATE_ANNOTATION = 'dev.sigstore.cosign/certificate';
/**
 * The annotation holding the signer's claimed chain (PEM): intermediates first, its root last.
 * As in containers/image, every certificate but the last is an *untrusted intermediate*: it may
 * fill a gap in a path, and the path must still end at a configured CA. The last one is ignored.
 */
export const CHAIN_ANNOTATION = 'dev.sigstore.cosign/chain';
/** A Fulcio leaf is ~1 KiB of PEM; leave room for long SANs, nothing more. */
export const MAX_CERTIFICATE_PEM_LENGTH = 16 * 1024;
/** A configured CA bundle: a handful of certificates. */
export const MAX_BUNDLE_PEM_LENGTH = 256 * 1024;
export const MAX_BUNDLE_CERTIFICATES = 32;
/**
 * The chain annotation is signer-controlled: public-good Fulcio writes two certificates
 * (intermediate, root), enterprise chains a few more. Beyond this it is refused, not read.
 */
export const MAX_CHAIN_PEM_LENGTH = 64 * 1024;
export const MAX_CHAIN_CERTIFICATES = 10;
/**
 * Signature checks while searching for paths (Go's maxChainSignatureChecks): bounds the work a
 * crafted set of same-named intermediates can cause. Paths found before the limit still count.
 */
export const MAX_SIGNATURE_CHECKS = 100;
/** Extensions in one certificate; SAN entries in one extension; subtrees in name constraints. */
const MAX_EXTENSIONS = 64;
const MAX_SAN_ENTRIES = 256;
const MAX_NAME_CONSTRAINT_SUBTREES = 256;
/** EKUs and certificate policies in one extension. */
const MAX_OID_LIST = 64;

export const CODE_SIGNING_EKU_OID = '1.3.6.1.5.5.7.3.3';
const ANY_EKU_OID = '2.5.29.37.0';
const ANY_POLICY_OID = '2.5.29.32.0';
export const FULCIO_ISSUER_V1_OID = '1.3.6.1.4.1.57264.1.1';
export const FULCIO_ISSUER_V2_OID = '1.3.6.1.4.1.57264.1.8';
const SUBJECT_KEY_ID_OID = '2.5.29.14';
const KEY_USAGE_OID = '2.5.29.15';
const SAN_OID = '2.5.29.17';
const BASIC_CONSTRAINTS_OID = '2.5.29.19';
const NAME_CONSTRAINTS_OID = '2.5.29.30';
const CRL_DISTRIBUTION_POINTS_OID = '2.5.29.31';
const CERTIFICATE_POLICIES_OID = '2.5.29.32';
const POLICY_MAPPINGS_OID = '2.5.29.33';
const AUTHORITY_KEY_ID_OID = '2.5.29.35';
const POLICY_CONSTRAINTS_OID = '2.5.29.36';
const EKU_OID = '2.5.29.37';
const INHIBIT_ANY_POLICY_OID = '2.5.29.54';
const AUTHORITY_INFO_ACCESS_OID = '1.3.6.1.5.5.7.1.1';
/**
 * Go's parser refuses these when critical. Of the rest, Go handles keyUsage, SAN (when it holds
 * a name Go reads), basicConstraints, nameConstraints (when every subtree is of a type Go reads),
 * CRL distribution points, certificate policies, policy mappings, policy constraints, EKU and
 * inhibitAnyPolicy (see readExtension); any other critical extension refuses the certificate.
 */
const NEVER_CRITICAL = new Set([
  SUBJECT_KEY_ID_OID,
  AUTHORITY_KEY_ID_OID,
  AUTHORITY_INFO_ACCESS_OID,
]);
/** keyUsage keyCertSign, as a bit of the 9-bit mask Go reads (bit 0 = digitalSignature). */
const KEY_USAGE_CERT_SIGN = 1 << 5;

// ---- A tiny, bounded DER reader -------------------------------------------------------------

interface Tlv {
  readonly tag: number;
  /** Start of the whole element (its tag octet). */
  readonly offset: number;
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
  return { tag, offset, start, end: start + length };
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

function whole(value: Uint8Array): Tlv {
  const tlv = readTlv(value, 0, value.length);
  if (tlv.end !== value.length) throw new DerError('trailing bytes');
  return tlv;
}

function contents(der: Uint8Array, tlv: Tlv): Uint8Array {
  return der.subarray(tlv.start, tlv.end);
}

/** The whole element, header included. */
function element(der: Uint8Array, tlv: Tlv): Uint8Array {
  return der.subarray(tlv.offset, tlv.end);
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

/**
 * A DER INTEGER (any tag: implicit tags are used in policyConstraints), minimally encoded.
 * Values past 2^53 saturate: they only ever bound counts that small chains never reach.
 */
function decodeInteger(der: Uint8Array, tlv: Tlv): number {
  const bytes = contents(der, tlv);
  const first = bytes[0];
  if (first === undefined) throw new DerError('empty INTEGER');
  const second = bytes[1];
  if (
    second !== undefined &&
    ((first === 0 && second < 0x80) || (first === 0xff && second >= 0x80))
  ) {
    throw new DerError('non-minimal INTEGER');
  }
  let value = first >= 0x80 ? first - 256 : first;
  for (const byte of bytes.subarray(1)) {
    value = value * 256 + byte;
    if (Math.abs(value) > Number.MAX_SAFE_INTEGER) {
      return value < 0 ? -Number.MAX_SAFE_INTEGER : Number.MAX_SAFE_INTEGER;
    }
  }
  return value;
}

function decodeBoolean(der: Uint8Array, tlv: Tlv): boolean {
  const bytes = contents(der, tlv);
  if (bytes.length !== 1 || (bytes[0] !== 0 && bytes[0] !== 0xff)) {
    throw new DerError('BOOLEAN must be DER');
  }
  return bytes[0] === 0xff;
}

const TIME_RE = /^(\d{2}|\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;

function decodeTime(der: Uint8Array, tlv: Tlv): number {
  const text = Buffer.from(contents(der, tlv)).toString('latin1');
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
  return new TextDecoder('utf-8', { fatal: true }).decode(contents(der, tlv));
}

/** An IA5String as Go reads one (every byte below 0x80). */
function ia5(der: Uint8Array, tlv: Tlv, what: string): string {
  const bytes = contents(der, tlv);
  if (bytes.some((byte) => byte >= 0x80)) throw new DerError(`${what} is not IA5`);
  return Buffer.from(bytes).toString('latin1');
}

function equalBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return Buffer.compare(a, b) === 0;
}

// ---- Certificate fields ---------------------------------------------------------------------

interface Extension {
  readonly oid: string;
  readonly critical: boolean;
  /** The extnValue OCTET STRING's contents. */
  readonly value: Uint8Array;
}

/** An iPAddress name constraint: 4 or 16 bytes of address and as many of mask. */
export interface IpSubtree {
  readonly ip: Uint8Array;
  readonly mask: Uint8Array;
}

/** The subtrees of one side (permitted or excluded) of a nameConstraints extension. */
export interface NameSubtrees {
  readonly dnsNames: readonly string[];
  readonly emails: readonly string[];
  readonly uriDomains: readonly string[];
  readonly ipRanges: readonly IpSubtree[];
}

/** A basicConstraints extension (absent when the certificate has none). */
export interface BasicConstraints {
  readonly isCa: boolean;
  /** -1 when no pathLenConstraint is given. */
  readonly maxPathLen: number;
}

/** A policyMappings entry. */
export interface PolicyMapping {
  readonly issuerDomainPolicy: string;
  readonly subjectDomainPolicy: string;
}

/** The fields we check, read from the DER by hand (OpenSSL has already parsed it once). */
export interface CertificateFields {
  /** 1, 2 or 3. */
  readonly version: number;
  /** Unix milliseconds. */
  readonly notBefore: number;
  readonly notAfter: number;
  /** The DER of the tbsCertificate, the signature algorithm identifier and the signature. */
  readonly tbs: Uint8Array;
  readonly signatureAlgorithm: AlgorithmIdentifier;
  readonly signature: Uint8Array;
  /** The DER of the issuer and subject Names, compared byte for byte as Go does. */
  readonly rawIssuer: Uint8Array;
  readonly rawSubject: Uint8Array;
  readonly rawSubjectPublicKeyInfo: Uint8Array;
  readonly subjectKeyId: Uint8Array | undefined;
  readonly authorityKeyId: Uint8Array | undefined;
  readonly basicConstraints: BasicConstraints | undefined;
  readonly isCa: boolean;
  /** Go's 9-bit keyUsage mask; 0 when absent (or no bit set), which Go treats alike. */
  readonly keyUsage: number;
  /** Absent when the certificate has no keyUsage extension. */
  readonly keyCertSign: boolean | undefined;
  /** Absent when the certificate has no EKU extension. */
  readonly extendedKeyUsages: readonly string[] | undefined;
  /** The SAN extension's contents, when there is one. */
  readonly rawSubjectAltName: Uint8Array | undefined;
  readonly emails: readonly string[];
  readonly dnsNames: readonly string[];
  readonly uris: readonly string[];
  /** 4 or 16 bytes each. */
  readonly ipAddresses: readonly Uint8Array[];
  readonly nameConstraints:
    { readonly permitted: NameSubtrees; readonly excluded: NameSubtrees } | undefined;
  readonly policies: readonly string[];
  readonly policyMappings: readonly PolicyMapping[];
  readonly requireExplicitPolicy: number | undefined;
  readonly inhibitPolicyMapping: number | undefined;
  readonly inhibitAnyPolicy: number | undefined;
  readonly issuerV1: string | undefined;
  readonly issuerV2: string | undefined;
  /** Critical extensions Go leaves unhandled (which refuse the certificate in a path). */
  readonly unsupportedCritical: readonly string[];
}

/** A signature AlgorithmIdentifier: its OID and the DER of its parameters, if any. */
export interface AlgorithmIdentifier {
  readonly oid: string;
  readonly parameters: Uint8Array | undefined;
}

function readAlgorithmIdentifier(der: Uint8Array, tlv: Tlv): AlgorithmIdentifier {
  const parts = children(der, expectTag(tlv, 0x30, 'AlgorithmIdentifier'), 2);
  const oid = decodeOid(der, expectTag(parts[0], 0x06, 'algorithm'));
  const parameters = parts[1] === undefined ? undefined : element(der, parts[1]);
  return { oid, parameters };
}

function parseExtensions(der: Uint8Array, wrapper: Tlv | undefined): Extension[] {
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
      if (!decodeBoolean(der, flag)) throw new DerError('critical must be DER TRUE when present');
      critical = true;
      valueTlv = parts[2];
    }
    const value = expectTag(valueTlv, 0x04, 'extnValue');
    if (extensions.some((ext) => ext.oid === oid)) throw new DerError(`duplicate extension ${oid}`);
    extensions.push({ oid, critical, value: contents(der, value) });
  }
  return extensions;
}

const EMPTY_SUBTREES: NameSubtrees = { dnsNames: [], emails: [], uriDomains: [], ipRanges: [] };

/** One side of nameConstraints, as Go's parser reads it; `unhandled` for other name types. */
function readSubtrees(
  der: Uint8Array,
  tlv: Tlv | undefined,
): { subtrees: NameSubtrees; unhandled: boolean } {
  if (tlv === undefined) return { subtrees: EMPTY_SUBTREES, unhandled: false };
  const dnsNames: string[] = [];
  const emails: string[] = [];
  const uriDomains: string[] = [];
  const ipRanges: IpSubtree[] = [];
  let unhandled = false;
  for (const subtree of children(der, tlv, MAX_NAME_CONSTRAINT_SUBTREES)) {
    // GeneralSubtree { base, minimum, maximum }: Go reads the base only.
    const [base] = children(der, expectTag(subtree, 0x30, 'GeneralSubtree'), 3);
    if (base === undefined) throw new DerError('empty GeneralSubtree');
    switch (base.tag) {
      case 0x82: {
        const domain = ia5(der, base, 'dNSName constraint');
        if (!domainNameValid(domain, true)) throw new DerError('bad dNSName constraint');
        dnsNames.push(domain);
        break;
      }
      case 0x81: {
        const constraint = ia5(der, base, 'rfc822Name constraint');
        const ok = constraint.includes('@')
          ? parseMailbox(constraint) !== undefined
          : domainNameValid(constraint, true);
        if (!ok) throw new DerError('bad rfc822Name constraint');
        emails.push(constraint);
        break;
      }
      case 0x87: {
        const bytes = contents(der, base);
        if (bytes.length !== 8 && bytes.length !== 32) throw new DerError('bad iPAddress length');
        const half = bytes.length / 2;
        const mask = bytes.subarray(half);
        if (!isContiguousMask(mask)) throw new DerError('bad iPAddress mask');
        ipRanges.push({ ip: bytes.subarray(0, half), mask });
        break;
      }
      case 0x86: {
        const domain = ia5(der, base, 'URI constraint');
        if (parseIpAddress(domain) !== undefined || !domainNameValid(domain, true)) {
          throw new DerError('bad URI constraint');
        }
        uriDomains.push(domain);
        break;
      }
      default:
        unhandled = true;
    }
  }
  return { subtrees: { dnsNames, emails, uriDomains, ipRanges }, unhandled };
}

function isContiguousMask(mask: Uint8Array): boolean {
  let seenZero = false;
  for (const byte of mask) {
    if (seenZero) {
      if (byte !== 0) return false;
    } else if (byte !== 0xff) {
      if (![0x00, 0x80, 0xc0, 0xe0, 0xf0, 0xf8, 0xfc, 0xfe].includes(byte)) return false;
      seenZero = true;
    }
  }
  return true;
}

type MutableFields = { -readonly [K in keyof CertificateFields]: CertificateFields[K] };

/** Reads one extension into `result`; returns whether Go would leave it unhandled. */
function readExtension(ext: Extension, result: MutableFields): boolean {
  const value = ext.value;
  if (NEVER_CRITICAL.has(ext.oid) && ext.critical) {
    throw new DerError(`extension ${ext.oid} must not be critical`);
  }
  switch (ext.oid) {
    case BASIC_CONSTRAINTS_OID: {
      const items = children(value, expectTag(whole(value), 0x30, 'basicConstraints'), 2);
      let index = 0;
      let isCa = false;
      let maxPathLen = -1;
      if (items[index]?.tag === 0x01) isCa = decodeBoolean(value, items[index++] as Tlv);
      const pathLen = items[index];
      if (pathLen !== undefined) {
        maxPathLen = decodeInteger(value, expectTag(pathLen, 0x02, 'pathLenConstraint'));
        if (maxPathLen < 0) throw new DerError('negative pathLenConstraint');
        index++;
      }
      if (index !== items.length) throw new DerError('basicConstraints');
      result.basicConstraints = { isCa, maxPathLen };
      result.isCa = isCa;
      return false;
    }
    case KEY_USAGE_OID: {
      const bits = contents(value, expectTag(whole(value), 0x03, 'keyUsage'));
      const unused = bits[0];
      if (unused === undefined || unused > 7 || (bits.length === 1 && unused !== 0)) {
        throw new DerError('keyUsage');
      }
      // Go reads bits 0..8 (digitalSignature … decipherOnly), most significant bit first.
      let mask = 0;
      for (let bit = 0; bit < 9; bit++) {
        const byte = bits[1 + (bit >> 3)] ?? 0;
        if ((byte & (0x80 >> (bit & 7))) !== 0) mask |= 1 << bit;
      }
      result.keyUsage = mask;
      result.keyCertSign = (mask & KEY_USAGE_CERT_SIGN) !== 0;
      return false;
    }
    case EKU_OID: {
      const list = children(value, expectTag(whole(value), 0x30, 'EKU'), MAX_OID_LIST);
      result.extendedKeyUsages = list.map((oid) => decodeOid(value, expectTag(oid, 0x06, 'EKU')));
      return false;
    }
    case SAN_OID: {
      result.rawSubjectAltName = value;
      const names = children(value, expectTag(whole(value), 0x30, 'SAN'), MAX_SAN_ENTRIES);
      const emails: string[] = [];
      const dnsNames: string[] = [];
      const uris: string[] = [];
      const ipAddresses: Uint8Array[] = [];
      for (const name of names) {
        switch (name.tag) {
          case 0x81:
            emails.push(ia5(value, name, 'SAN rfc822Name'));
            break;
          case 0x82:
            dnsNames.push(ia5(value, name, 'SAN dNSName'));
            break;
          case 0x86: {
            const uri = ia5(value, name, 'SAN uniformResourceIdentifier');
            const host = uriHost(uri);
            if (host === undefined || (host !== '' && !domainNameValid(host, false))) {
              throw new DerError('SAN uniformResourceIdentifier cannot be parsed');
            }
            uris.push(uri);
            break;
          }
          case 0x87: {
            const ip = contents(value, name);
            if (ip.length !== 4 && ip.length !== 16) throw new DerError('SAN iPAddress length');
            ipAddresses.push(ip);
            break;
          }
          default:
            // otherName, directoryName, …: not read, as in Go.
            break;
        }
      }
      Object.assign(result, { emails, dnsNames, uris, ipAddresses });
      // Go handles a SAN only when it yields a name it reads.
      return emails.length + dnsNames.length + uris.length + ipAddresses.length === 0;
    }
    case NAME_CONSTRAINTS_OID: {
      const top = expectTag(whole(value), 0x30, 'nameConstraints');
      const parts = children(value, top, 2);
      let index = 0;
      const permittedTlv = parts[index]?.tag === 0xa0 ? parts[index++] : undefined;
      const excludedTlv = parts[index]?.tag === 0xa1 ? parts[index++] : undefined;
      if (index !== parts.length) throw new DerError('nameConstraints');
      if ((permittedTlv?.end ?? 0) === (permittedTlv?.start ?? 0)) {
        if ((excludedTlv?.end ?? 0) === (excludedTlv?.start ?? 0)) {
          throw new DerError('empty nameConstraints');
        }
      }
      const permitted = readSubtrees(value, permittedTlv);
      const excluded = readSubtrees(value, excludedTlv);
      result.nameConstraints = { permitted: permitted.subtrees, excluded: excluded.subtrees };
      return permitted.unhandled || excluded.unhandled;
    }
    case CRL_DISTRIBUTION_POINTS_OID:
      expectTag(whole(value), 0x30, 'CRL distribution points');
      return false;
    case CERTIFICATE_POLICIES_OID: {
      const list = children(value, expectTag(whole(value), 0x30, 'policies'), MAX_OID_LIST);
      const policies: string[] = [];
      for (const info of list) {
        const [oid] = children(value, expectTag(info, 0x30, 'PolicyInformation'), 2);
        const policy = decodeOid(value, expectTag(oid, 0x06, 'policyIdentifier'));
        if (policies.includes(policy)) throw new DerError('duplicate certificate policy');
        policies.push(policy);
      }
      result.policies = policies;
      return false;
    }
    case POLICY_MAPPINGS_OID: {
      const list = children(value, expectTag(whole(value), 0x30, 'policyMappings'), MAX_OID_LIST);
      result.policyMappings = list.map((mapping) => {
        const [from, to] = children(value, expectTag(mapping, 0x30, 'policyMapping'), 2);
        return {
          issuerDomainPolicy: decodeOid(value, expectTag(from, 0x06, 'issuerDomainPolicy')),
          subjectDomainPolicy: decodeOid(value, expectTag(to, 0x06, 'subjectDomainPolicy')),
        };
      });
      return false;
    }
    case POLICY_CONSTRAINTS_OID: {
      const parts = children(value, expectTag(whole(value), 0x30, 'policyConstraints'), 2);
      const require = parts[0]?.tag === 0x80 ? parts[0] : undefined;
      const inhibit = parts.find((part) => part.tag === 0x81);
      if (require !== undefined) result.requireExplicitPolicy = decodeInteger(value, require);
      if (inhibit !== undefined) result.inhibitPolicyMapping = decodeInteger(value, inhibit);
      return false;
    }
    case INHIBIT_ANY_POLICY_OID:
      result.inhibitAnyPolicy = decodeInteger(value, expectTag(whole(value), 0x02, 'skipCerts'));
      return false;
    case SUBJECT_KEY_ID_OID:
      result.subjectKeyId = contents(value, expectTag(whole(value), 0x04, 'subjectKeyId'));
      return false;
    case AUTHORITY_KEY_ID_OID: {
      const parts = children(value, expectTag(whole(value), 0x30, 'authorityKeyId'), 3);
      const keyId = parts[0]?.tag === 0x80 ? parts[0] : undefined;
      result.authorityKeyId = keyId === undefined ? undefined : contents(value, keyId);
      return false;
    }
    case AUTHORITY_INFO_ACCESS_OID:
      expectTag(whole(value), 0x30, 'authorityInfoAccess');
      return false;
    case FULCIO_ISSUER_V1_OID:
      result.issuerV1 = new TextDecoder('utf-8', { fatal: true }).decode(value);
      return true;
    case FULCIO_ISSUER_V2_OID:
      result.issuerV2 = utf8(value, expectTag(whole(value), 0x0c, 'issuer (v2)'));
      return true;
    default:
      return true;
  }
}

/** Reads the certificate as Go's parser does for the fields path validation uses. */
export function readCertificateFields(certificate: X509Certificate): CertificateFields {
  const der = certificate.raw;
  try {
    const outer = whole(der);
    const [tbsTlv, sigAlgTlv, sigTlv, extra] = children(
      der,
      expectTag(outer, 0x30, 'certificate'),
      4,
    );
    if (extra !== undefined) throw new DerError('certificate');
    const tbs = expectTag(tbsTlv, 0x30, 'tbsCertificate');
    const signatureBits = contents(der, expectTag(sigTlv, 0x03, 'signatureValue'));
    if (signatureBits[0] !== 0) throw new DerError('signatureValue has unused bits');
    const fields = children(der, tbs, 10);
    let index = 0;
    let version = 1;
    if (fields[0]?.tag === 0xa0) {
      const [versionTlv] = children(der, fields[0], 1);
      version = decodeInteger(der, expectTag(versionTlv, 0x02, 'version')) + 1;
      if (version < 1 || version > 3) throw new DerError('invalid version');
      index = 1;
    }
    const serial = expectTag(fields[index], 0x02, 'serialNumber');
    // Go 1.23+ refuses negative serial numbers when parsing (x509negativeserial).
    if (serial.end > serial.start && ((der[serial.start] ?? 0) & 0x80) !== 0) {
      throw new DerError('negative serial number');
    }
    const innerSigAlg = expectTag(fields[index + 1], 0x30, 'signature');
    const outerSigAlg = expectTag(sigAlgTlv, 0x30, 'signatureAlgorithm');
    // Go refuses a certificate whose two algorithm identifiers differ.
    if (!equalBytes(element(der, innerSigAlg), element(der, outerSigAlg))) {
      throw new DerError('inner and outer signature algorithms differ');
    }
    const issuer = expectTag(fields[index + 2], 0x30, 'issuer');
    const validity = children(der, expectTag(fields[index + 3], 0x30, 'validity'), 2);
    const subject = expectTag(fields[index + 4], 0x30, 'subject');
    const spki = expectTag(fields[index + 5], 0x30, 'subjectPublicKeyInfo');
    const [notBeforeTlv, notAfterTlv] = validity;
    if (notBeforeTlv === undefined || notAfterTlv === undefined) throw new DerError('validity');
    const rest = fields.slice(index + 6);
    const extensionsTlv = rest.find((field) => field.tag === 0xa3);
    if (extensionsTlv !== undefined && version !== 3) {
      throw new DerError('extensions in a certificate that is not v3');
    }
    const result: MutableFields = {
      version,
      notBefore: decodeTime(der, notBeforeTlv),
      notAfter: decodeTime(der, notAfterTlv),
      tbs: element(der, tbs),
      signatureAlgorithm: readAlgorithmIdentifier(der, outerSigAlg),
      signature: signatureBits.subarray(1),
      rawIssuer: element(der, issuer),
      rawSubject: element(der, subject),
      rawSubjectPublicKeyInfo: element(der, spki),
      subjectKeyId: undefined,
      authorityKeyId: undefined,
      basicConstraints: undefined,
      isCa: false,
      keyUsage: 0,
      keyCertSign: undefined,
      extendedKeyUsages: undefined,
      rawSubjectAltName: undefined,
      emails: [],
      dnsNames: [],
      uris: [],
      ipAddresses: [],
      nameConstraints: undefined,
      policies: [],
      policyMappings: [],
      requireExplicitPolicy: undefined,
      inhibitPolicyMapping: undefined,
      inhibitAnyPolicy: undefined,
      issuerV1: undefined,
      issuerV2: undefined,
      unsupportedCritical: [],
    };
    const unsupported: string[] = [];
    for (const ext of parseExtensions(der, extensionsTlv)) {
      if (readExtension(ext, result) && ext.critical) unsupported.push(ext.oid);
    }
    result.unsupportedCritical = unsupported;
    return result;
  } catch (err) {
    if (err instanceof DerError || err instanceof TypeError) {
      throw new VerifyError('CERTIFICATE_INVALID', `malformed certificate: ${err.message}`, {
        cause: err,
      });
    }
    throw err;
  }
}

// ---- Names: mailboxes, domains, hosts, IP addresses (Go's rules) ----------------------------

interface Mailbox {
  readonly local: string;
  readonly domain: string;
}

const ATEXT_RE = /[0-9A-Za-z!#$%&'*+\-/=?^_`{|}~.]/;

/** An RFC 2821 mailbox as Go's parseRFC2821Mailbox reads it (the local part unquoted). */
function parseMailbox(text: string): Mailbox | undefined {
  if (text.length === 0) return undefined;
  let local = '';
  let i = 0;
  if (text[0] === '"') {
    i = 1;
    for (;;) {
      if (i >= text.length) return undefined;
      const c = text.charCodeAt(i++);
      if (c === 0x22) break;
      if (c === 0x5c) {
        if (i >= text.length) return undefined;
        const next = text.charCodeAt(i);
        if (next === 11 || next === 12 || (next >= 1 && next <= 9) || (next >= 14 && next <= 127)) {
          local += String.fromCharCode(next);
          i++;
          continue;
        }
        return undefined;
      }
      const qtext =
        c === 11 ||
        c === 12 ||
        c === 32 ||
        c === 33 ||
        c === 127 ||
        (c >= 1 && c <= 8) ||
        (c >= 14 && c <= 31) ||
        (c >= 35 && c <= 91) ||
        (c >= 93 && c <= 126);
      if (!qtext) return undefined;
      local += String.fromCharCode(c);
    }
  } else {
    while (i < text.length) {
      let c = text[i] ?? '';
      if (c === '\\') {
        // Escapes outside quotes: accepted, as Go does (RFC 3696 examples).
        i++;
        if (i >= text.length) return undefined;
        c = text[i] ?? '';
        local += c;
        i++;
        continue;
      }
      if (!ATEXT_RE.test(c)) break;
      local += c;
      i++;
    }
    if (
      local.length === 0 ||
      local.startsWith('.') ||
      local.endsWith('.') ||
      local.includes('..')
    ) {
      return undefined;
    }
  }
  if (text[i] !== '@') return undefined;
  const domain = text.slice(i + 1);
  if (!domainLabelsValid(domain)) return undefined;
  return { local, domain };
}

/** Go's domainToReverseLabels succeeding: non-empty labels of bytes 33..126, no final dot. */
function domainLabelsValid(domain: string): boolean {
  if (domain.length === 0) return true;
  return domain.split('.').every((label) => label.length > 0 && /^[\x21-\x7e]+$/.test(label));
}

/** Go's domainNameValid: as lenient as Go is (see golang/go#75835). */
function domainNameValid(name: string, constraint: boolean): boolean {
  if (name.length === 0) return true;
  if (name.endsWith('.')) return false;
  const body = constraint && name.startsWith('.') ? name.slice(1) : name;
  return body.split('.').every((label) => label.length > 0 && /^[\x21-\x7e]+$/.test(label));
}

/**
 * The host of a URI as Go's url.Parse finds it ('' when there is no authority); undefined
 * when Go would refuse to parse the URI at all (approximated: control characters, no scheme
 * before a colon).
 */
function uriHost(uri: string): string | undefined {
  for (let i = 0; i < uri.length; i++) {
    const code = uri.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return undefined;
  }
  if (uri.startsWith(':')) return undefined;
  let rest = uri.split('#', 1)[0] ?? '';
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:/.exec(rest);
  if (scheme !== null) rest = rest.slice(scheme[0].length);
  rest = rest.split('?', 1)[0] ?? '';
  if (!rest.startsWith('//')) return '';
  const authority = rest.slice(2).split('/', 1)[0] ?? '';
  return authority.slice(authority.lastIndexOf('@') + 1);
}

/** Lower-cases ASCII letters only, as Go's toLowerCaseASCII. */
function lowerAscii(text: string): string {
  return text.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/**
 * Go's dnsHasSuffix(constraint, name): `name` is `constraint` or ends with it on a label
 * boundary, ASCII case-insensitively; a constraint with a leading dot needs one more label.
 */
function dnsHasSuffix(constraint: string, name: string): boolean {
  if (constraint.length > name.length) return false;
  if (lowerAscii(name.slice(name.length - constraint.length)) !== lowerAscii(constraint)) {
    return false;
  }
  return (
    constraint.startsWith('.') ||
    name.length === constraint.length ||
    name[name.length - constraint.length - 1] === '.'
  );
}

function trimFirstLabel(name: string): string {
  const dot = name.indexOf('.');
  return dot < 0 ? '' : name.slice(dot);
}

/** Whether a DNS-style constraint list matches `name` (Go's dnsConstraints.query). */
function matchesDnsConstraints(
  constraints: readonly string[],
  name: string,
  excluded: boolean,
): string | undefined {
  for (const constraint of constraints) {
    if (constraint === '' || dnsHasSuffix(constraint, name)) return constraint;
  }
  // An excluded "foo.example.com" also excludes the wildcard "*.example.com".
  if (excluded && name.startsWith('*')) {
    const parent = trimFirstLabel(lowerAscii(name));
    for (const constraint of constraints) {
      const trimmed = trimFirstLabel(lowerAscii(constraint));
      if (trimmed !== '' && trimmed === parent) return constraint;
    }
  }
  return undefined;
}

function matchesEmailConstraints(
  constraints: readonly string[],
  mailbox: Mailbox,
  excluded: boolean,
): string | undefined {
  const domains: string[] = [];
  for (const constraint of constraints) {
    if (!constraint.includes('@')) {
      domains.push(constraint);
      continue;
    }
    const exact = parseMailbox(constraint);
    if (exact?.local === mailbox.local && lowerAscii(exact.domain) === mailbox.domain) {
      return constraint;
    }
  }
  return domains.length > 0 ? matchesDnsConstraints(domains, mailbox.domain, excluded) : undefined;
}

/** Go's net.IP.To4: the IPv4 form of a 4-byte or IPv4-mapped 16-byte address. */
function toIpv4(ip: Uint8Array): Uint8Array | undefined {
  if (ip.length === 4) return ip;
  if (ip.length === 16 && ip.subarray(0, 10).every((b) => b === 0)) {
    if (ip[10] === 0xff && ip[11] === 0xff) return ip.subarray(12);
  }
  return undefined;
}

/** Go's net.IPNet.Contains. */
function ipNetContains(subtree: IpSubtree, target: Uint8Array): boolean {
  let network = toIpv4(subtree.ip);
  if (network === undefined) {
    if (subtree.ip.length !== 16) return false;
    network = subtree.ip;
  }
  let mask = subtree.mask;
  if (mask.length === 4 && network.length !== 4) return false;
  if (mask.length === 16 && network.length === 4) mask = mask.subarray(12);
  const ip = toIpv4(target) ?? target;
  if (ip.length !== network.length) return false;
  return ip.every((byte, i) => (byte & (mask[i] ?? 0)) === ((network[i] ?? 0) & (mask[i] ?? 0)));
}

function matchesIpConstraints(
  constraints: readonly IpSubtree[],
  ip: Uint8Array,
): IpSubtree | undefined {
  // Go keeps IPv4 (8-byte) and IPv6 (32-byte) constraints apart and looks a 4-byte address up
  // in the first and a 16-byte one in the second.
  const family = constraints.filter((c) => (c.ip.length === 4) === (ip.length === 4));
  return family.find((c) => ipNetContains(c, ip));
}

function formatIp(ip: Uint8Array): string {
  const v4 = ip.length === 4 ? ip : undefined;
  if (v4 !== undefined) return [...v4].join('.');
  const groups: string[] = [];
  for (let i = 0; i < ip.length; i += 2) {
    groups.push((((ip[i] ?? 0) << 8) | (ip[i + 1] ?? 0)).toString(16));
  }
  return groups.join(':');
}

/** Go's net.ParseIP: dotted IPv4 (no leading zeros) or IPv6 (no zone), as 16 bytes. */
function parseIpAddress(text: string): Uint8Array | undefined {
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4]);
  if (!text.includes(':')) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const pieces = part.split(':');
    for (const [i, piece] of pieces.entries()) {
      if (i === pieces.length - 1 && piece.includes('.')) {
        const tail = parseIpv4(piece);
        if (tail === undefined) return undefined;
        out.push(((tail[0] ?? 0) << 8) | (tail[1] ?? 0), ((tail[2] ?? 0) << 8) | (tail[3] ?? 0));
      } else {
        if (!/^[0-9A-Fa-f]{1,4}$/.test(piece)) return undefined;
        out.push(parseInt(piece, 16));
      }
    }
    return out;
  };
  const head = parseGroups(halves[0] ?? '');
  const tail = halves.length === 2 ? parseGroups(halves[1] ?? '') : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [
    ...head,
    ...(new Array(halves.length === 2 ? missing : 0).fill(0) as number[]),
    ...tail,
  ];
  return Uint8Array.from(groups.flatMap((group) => [group >> 8, group & 0xff]));
}

function parseIpv4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part) || Number(part) > 255) return undefined;
    out.push(Number(part));
  }
  return out;
}

/** Go's validHostname (RFC 6125 with Go's leniency: `_` allowed, `-` not first). */
function validHostname(host: string, isPattern: boolean): boolean {
  const name = isPattern ? host : host.replace(/\.$/, '');
  if (name.length === 0 || name === '*') return false;
  return name.split('.').every((label, i) => {
    if (label === '') return false;
    if (isPattern && i === 0 && label === '*') return true;
    return /^[A-Za-z0-9_][A-Za-z0-9_-]*$/.test(label);
  });
}

/**
 * Go's Certificate.VerifyHostname: an IP address (optionally in brackets) is compared with the
 * IP SANs only; a name with the DNS SANs, ASCII case-insensitively, a trailing dot ignored, and a
 * SAN `*.example.com` matching exactly one label in that place (valid hostnames only; anything
 * else must match exactly). The subject CN is never used.
 */
export function matchesHostname(
  fields: Pick<CertificateFields, 'dnsNames' | 'ipAddresses'>,
  host: string,
): boolean {
  const bracketed = host.length >= 3 && host.startsWith('[') && host.endsWith(']');
  const ip = parseIpAddress(bracketed ? host.slice(1, -1) : host);
  if (ip !== undefined) {
    return fields.ipAddresses.some((candidate) => {
      const full =
        candidate.length === 4
          ? Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...candidate])
          : candidate;
      return equalBytes(full, ip);
    });
  }
  const candidate = lowerAscii(host);
  const validCandidate = validHostname(candidate, false);
  const hostParts = candidate.replace(/\.$/, '').split('.');
  return fields.dnsNames.some((san) => {
    if (validCandidate && validHostname(san, true)) {
      const patternParts = lowerAscii(san).split('.');
      return (
        patternParts.length === hostParts.length &&
        patternParts.every((part, i) => (i === 0 && part === '*') || part === hostParts[i])
      );
    }
    return san !== '' && san !== '.' && candidate !== '.' && lowerAscii(san) === candidate;
  });
}

// ---- PEM ------------------------------------------------------------------------------------

const PEM_BLOCK_RE = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

interface ParsedCertificate {
  readonly certificate: X509Certificate;
  readonly fields: CertificateFields;
}

function parseOne(
  pem: string | Buffer,
  code: CertificateErrorCode,
  what: string,
): ParsedCertificate {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(pem);
  } catch (err) {
    throw new VerifyError(code, `${what} cannot be read`, { cause: err });
  }
  try {
    return { certificate, fields: readCertificateFields(certificate) };
  } catch (err) {
    if (isVerifyError(err) && err.area === 'certificate') {
      throw new VerifyError(code, `${what}: ${err.message}`);
    }
    throw err;
  }
}

/**
 * The DER inside a PEM block, whatever its label: Go's UnmarshalCertificatesFromPEM parses every
 * block as a certificate without looking at the type (`X509 CERTIFICATE`, `TRUSTED CERTIFICATE`
 * …). Blocks with headers are refused (not what a certificate annotation carries).
 */
function pemBlockDer(block: string): Buffer | undefined {
  const lines = block.split(/\r?\n/).slice(1, -1);
  if (lines.some((line) => line.includes(':'))) return undefined;
  const body = lines.join('').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) return undefined;
  return Buffer.from(body, 'base64');
}

/**
 * PEM blocks as sigstore's UnmarshalCertificatesFromPEM (containers/image) finds them: the text
 * is trimmed, then blocks are decoded one after another, text before a block being skipped (Go's
 * pem.Decode); text after the last block fails the whole annotation. Undefined on failure.
 */
function goPemBlocks(text: string): RegExpExecArray[] | undefined {
  const trimmed = text.trim();
  const re = new RegExp(PEM_BLOCK_RE.source, 'g');
  const blocks: RegExpExecArray[] = [];
  let position = 0;
  while (position < trimmed.length) {
    re.lastIndex = position;
    const match = re.exec(trimmed);
    if (match === null) return undefined;
    blocks.push(match);
    position = match.index + match[0].length;
  }
  return blocks;
}

/** The certificate annotation: exactly one PEM CERTIFICATE block, nothing after it. */
function parseLeafPem(pem: string): ParsedCertificate {
  if (pem.length > MAX_CERTIFICATE_PEM_LENGTH) {
    throw new VerifyError(
      'CERTIFICATE_INVALID',
      `the certificate is over ${MAX_CERTIFICATE_PEM_LENGTH} characters`,
    );
  }
  const blocks = goPemBlocks(pem);
  if (blocks === undefined) {
    throw new VerifyError(
      'CERTIFICATE_INVALID',
      'the certificate annotation has text after its PEM block (Go refuses it too)',
    );
  }
  const der =
    blocks.length === 1 && blocks[0] !== undefined ? pemBlockDer(blocks[0][0]) : undefined;
  if (der === undefined) {
    throw new VerifyError('CERTIFICATE_INVALID', 'expected exactly one PEM certificate');
  }
  return parseOne(der, 'CERTIFICATE_INVALID', 'the certificate');
}

/** A configured bundle: one or more PEM CERTIFICATE blocks and nothing else. */
function parseBundle(pem: string, what: string): ParsedCertificate[] {
  if (pem.length > MAX_BUNDLE_PEM_LENGTH) {
    throw new VerifyError(
      'CERTIFICATE_ROOTS_INVALID',
      `${what} is over ${MAX_BUNDLE_PEM_LENGTH} characters`,
    );
  }
  const blocks = [...pem.matchAll(PEM_BLOCK_RE)];
  if (blocks.length === 0 || blocks.length > MAX_BUNDLE_CERTIFICATES) {
    throw new VerifyError(
      'CERTIFICATE_ROOTS_INVALID',
      `${what} must hold 1 to ${MAX_BUNDLE_CERTIFICATES} PEM certificates`,
    );
  }
  if (pem.replace(PEM_BLOCK_RE, '').trim() !== '') {
    throw new VerifyError('CERTIFICATE_ROOTS_INVALID', `${what} has text outside PEM blocks`);
  }
  return blocks.map((block, index) => {
    if (block[1] !== 'CERTIFICATE') {
      throw new VerifyError('CERTIFICATE_ROOTS_INVALID', `${what} holds a ${block[1]}`);
    }
    return parseOne(block[0], 'CERTIFICATE_ROOTS_INVALID', `${what} certificate ${index + 1}`);
  });
}

/**
 * The chain annotation's untrusted intermediates: every certificate but the last (the signer's
 * claimed root, never used), as containers/image reads them. Read as Go's pem.Decode loop does:
 * text before a block is skipped, text after the last one fails; every block must be a readable
 * certificate, the unused last one included. An empty annotation holds none.
 */
function parseUntrustedChain(pem: string | undefined): ParsedCertificate[] {
  if (pem === undefined || pem === '') return [];
  if (pem.length > MAX_CHAIN_PEM_LENGTH) {
    throw new VerifyError(
      'CERTIFICATE_CHAIN_INVALID',
      `the ${CHAIN_ANNOTATION} annotation is over ${MAX_CHAIN_PEM_LENGTH} characters`,
    );
  }
  const blocks = goPemBlocks(pem);
  if (blocks === undefined || blocks.length === 0) {
    throw new VerifyError(
      'CERTIFICATE_CHAIN_INVALID',
      `the ${CHAIN_ANNOTATION} annotation is not a sequence of PEM certificates`,
    );
  }
  if (blocks.length > MAX_CHAIN_CERTIFICATES) {
    throw new VerifyError(
      'CERTIFICATE_CHAIN_INVALID',
      `the ${CHAIN_ANNOTATION} annotation holds over ${MAX_CHAIN_CERTIFICATES} certificates`,
    );
  }
  const parsed = blocks.map((block, index) => {
    const what = `the ${CHAIN_ANNOTATION} annotation's certificate ${index + 1}`;
    const der = pemBlockDer(block[0]);
    if (der === undefined) {
      throw new VerifyError('CERTIFICATE_CHAIN_INVALID', `${what} is not a PEM block`);
    }
    return parseOne(der, 'CERTIFICATE_CHAIN_INVALID', what);
  });
  return parsed.slice(0, -1);
}

// ---- Signatures (Go's CheckSignatureFrom) ---------------------------------------------------

type HashName = 'md5' | 'sha1' | 'sha256' | 'sha384' | 'sha512';

interface SignatureScheme {
  readonly name: string;
  /** null: Ed25519 signs the message itself. */
  readonly hash: HashName | null;
  readonly key: 'rsa' | 'dsa' | 'ecdsa' | 'ed25519';
  /** RSASSA-PSS with this salt length (MGF1 with the same hash). */
  readonly pssSaltLength?: number;
}

const SIGNATURE_SCHEMES: ReadonlyMap<string, SignatureScheme> = new Map([
  ['1.2.840.113549.1.1.4', { name: 'md5WithRSAEncryption', hash: 'md5', key: 'rsa' }],
  ['1.2.840.113549.1.1.5', { name: 'sha1WithRSAEncryption', hash: 'sha1', key: 'rsa' }],
  ['1.3.14.3.2.29', { name: 'sha1WithRSASignature', hash: 'sha1', key: 'rsa' }],
  ['1.2.840.113549.1.1.11', { name: 'sha256WithRSAEncryption', hash: 'sha256', key: 'rsa' }],
  ['1.2.840.113549.1.1.12', { name: 'sha384WithRSAEncryption', hash: 'sha384', key: 'rsa' }],
  ['1.2.840.113549.1.1.13', { name: 'sha512WithRSAEncryption', hash: 'sha512', key: 'rsa' }],
  ['1.2.840.10040.4.3', { name: 'dsa-with-SHA1', hash: 'sha1', key: 'dsa' }],
  ['2.16.840.1.101.3.4.3.2', { name: 'dsa-with-SHA256', hash: 'sha256', key: 'dsa' }],
  ['1.2.840.10045.4.1', { name: 'ecdsa-with-SHA1', hash: 'sha1', key: 'ecdsa' }],
  ['1.2.840.10045.4.3.2', { name: 'ecdsa-with-SHA256', hash: 'sha256', key: 'ecdsa' }],
  ['1.2.840.10045.4.3.3', { name: 'ecdsa-with-SHA384', hash: 'sha384', key: 'ecdsa' }],
  ['1.2.840.10045.4.3.4', { name: 'ecdsa-with-SHA512', hash: 'sha512', key: 'ecdsa' }],
  ['1.3.101.112', { name: 'Ed25519', hash: null, key: 'ed25519' }],
]);
const RSA_PSS_OID = '1.2.840.113549.1.1.10';
const MGF1_OID = '1.2.840.113549.1.1.8';
/** The RSA-PSS parameter sets Go accepts: MGF1 with the same hash, salt as long as the hash. */
const PSS_HASHES: ReadonlyMap<string, { hash: HashName; saltLength: number }> = new Map([
  ['2.16.840.1.101.3.4.2.1', { hash: 'sha256', saltLength: 32 }],
  ['2.16.840.1.101.3.4.2.2', { hash: 'sha384', saltLength: 48 }],
  ['2.16.840.1.101.3.4.2.3', { hash: 'sha512', saltLength: 64 }],
]);
/** The curves Go's x509 parses. */
const GO_CURVES = new Set(['secp224r1', 'prime256v1', 'secp384r1', 'secp521r1']);
/** Go 1.24+ refuses RSA keys below this (crypto/rsa, GODEBUG rsa1024min). */
const MIN_CA_RSA_BITS = 1024;
const NULL_DER = Uint8Array.from([0x05, 0x00]);

/** An RSA-PSS AlgorithmIdentifier's parameters, when they are one of Go's three sets. */
function readPssScheme(parameters: Uint8Array | undefined): SignatureScheme | undefined {
  if (parameters === undefined) return undefined;
  try {
    const [hashTlv, mgfTlv, saltTlv, trailerTlv] = children(
      parameters,
      expectTag(whole(parameters), 0x30, 'RSASSA-PSS-params'),
      4,
    );
    const explicit = (tlv: Tlv | undefined, tag: number): Tlv => {
      const [inner, more] = children(parameters, expectTag(tlv, tag, 'PSS field'), 2);
      if (inner === undefined || more !== undefined) throw new DerError('PSS field');
      return inner;
    };
    const nullOrAbsent = (p: Uint8Array | undefined): boolean =>
      p === undefined || equalBytes(p, NULL_DER);
    const hash = readAlgorithmIdentifier(parameters, explicit(hashTlv, 0xa0));
    const mgf = readAlgorithmIdentifier(parameters, explicit(mgfTlv, 0xa1));
    const salt = decodeInteger(parameters, expectTag(explicit(saltTlv, 0xa2), 0x02, 'salt'));
    const trailer =
      trailerTlv === undefined
        ? 1
        : decodeInteger(parameters, expectTag(explicit(trailerTlv, 0xa3), 0x02, 'trailer'));
    if (mgf.oid !== MGF1_OID || mgf.parameters === undefined) return undefined;
    const mgfHash = readAlgorithmIdentifier(mgf.parameters, whole(mgf.parameters));
    const known = PSS_HASHES.get(hash.oid);
    if (
      known === undefined ||
      !nullOrAbsent(hash.parameters) ||
      mgfHash.oid !== hash.oid ||
      !nullOrAbsent(mgfHash.parameters) ||
      salt !== known.saltLength ||
      trailer !== 1
    ) {
      return undefined;
    }
    return {
      name: `RSASSA-PSS-${known.hash}`,
      hash: known.hash,
      key: 'rsa',
      pssSaltLength: known.saltLength,
    };
  } catch (err) {
    if (err instanceof DerError) return undefined;
    throw err;
  }
}

function signatureScheme(algorithm: AlgorithmIdentifier): SignatureScheme | undefined {
  if (algorithm.oid === RSA_PSS_OID) return readPssScheme(algorithm.parameters);
  const scheme = SIGNATURE_SCHEMES.get(algorithm.oid);
  // RFC 8410: Ed25519 identifiers have no parameters (Go refuses any).
  if (scheme?.key === 'ed25519' && algorithm.parameters !== undefined) return undefined;
  return scheme;
}

function keyKind(key: KeyObject): SignatureScheme['key'] | undefined {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return 'rsa';
    case 'dsa':
      return 'dsa';
    case 'ec':
      return 'ecdsa';
    case 'ed25519':
      return 'ed25519';
    default:
      return undefined;
  }
}

/**
 * Go's `child.CheckSignatureFrom(parent)`: the parent may sign certificates (a v3 parent needs
 * basicConstraints CA:TRUE; a keyUsage, when it sets any bit, needs keyCertSign), and the
 * child's signature verifies with the parent's key by an algorithm Go accepts: MD5 and SHA-1
 * are refused whatever the key, DSA is never verified.
 */
function checkSignatureFrom(child: ParsedCertificate, parent: ParsedCertificate): void {
  const { fields } = parent;
  if (
    (fields.version === 3 && fields.basicConstraints === undefined) ||
    (fields.basicConstraints !== undefined && !fields.basicConstraints.isCa)
  ) {
    throw new VerifyError(
      'CERTIFICATE_NOT_CA',
      'the issuing certificate is not a CA (basicConstraints CA:TRUE)',
    );
  }
  if (fields.keyUsage !== 0 && (fields.keyUsage & KEY_USAGE_CERT_SIGN) === 0) {
    throw new VerifyError(
      'CERTIFICATE_NOT_CA',
      "the issuing certificate's keyUsage does not allow keyCertSign",
    );
  }
  const key = parent.certificate.publicKey;
  const kind = keyKind(key);
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (kind === undefined || (kind === 'ecdsa' && (curve === undefined || !GO_CURVES.has(curve)))) {
    throw new VerifyError(
      'CERTIFICATE_UNSUPPORTED_ALGORITHM',
      `the issuing certificate's ${String(key.asymmetricKeyType)} key is not supported`,
    );
  }
  const scheme = signatureScheme(child.fields.signatureAlgorithm);
  if (scheme === undefined) {
    throw new VerifyError(
      'CERTIFICATE_UNSUPPORTED_ALGORITHM',
      `signature algorithm ${child.fields.signatureAlgorithm.oid} is not supported`,
    );
  }
  if (scheme.hash === 'md5' || scheme.hash === 'sha1') {
    throw new VerifyError(
      'CERTIFICATE_INSECURE_ALGORITHM',
      `a certificate in the path is signed with ${scheme.name}, which is insecure`,
    );
  }
  if (scheme.key !== kind || kind === 'dsa') {
    throw new VerifyError(
      kind === 'dsa' ? 'CERTIFICATE_UNSUPPORTED_ALGORITHM' : 'CERTIFICATE_UNTRUSTED',
      `a ${scheme.name} signature cannot be verified with a ${kind} key`,
    );
  }
  if (kind === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_CA_RSA_BITS) {
    throw new VerifyError(
      'CERTIFICATE_INSECURE_ALGORITHM',
      `the issuing certificate's RSA key is under ${MIN_CA_RSA_BITS} bits`,
    );
  }
  let valid: boolean;
  try {
    valid = verify(
      scheme.hash,
      child.fields.tbs,
      kind === 'rsa'
        ? scheme.pssSaltLength !== undefined
          ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: scheme.pssSaltLength }
          : { key, padding: constants.RSA_PKCS1_PADDING }
        : { key, dsaEncoding: 'der' },
      child.fields.signature,
    );
  } catch {
    valid = false;
  }
  if (!valid) {
    throw new VerifyError(
      'CERTIFICATE_UNTRUSTED',
      'a certificate signature does not verify with its issuer key',
    );
  }
}

// ---- Path building (Go's Verify / buildChains / isValid) ------------------------------------

/** Configured trust: anchors, and intermediates usable to reach them. */
export interface CertificateRoots {
  readonly anchors: readonly ParsedCertificate[];
  readonly intermediates: readonly ParsedCertificate[];
}

type CertificateRole = 'leaf' | 'intermediate' | 'root';

interface PathOptions {
  /** Unix milliseconds. */
  readonly at: number;
  /** Critical extensions of the leaf to overlook (Fulcio: an otherName-only SAN). */
  readonly leafHandled: ReadonlySet<string>;
}

function describePosition(index: number): string {
  return index === 0 ? 'the certificate' : `CA certificate ${index}`;
}

/** Go's isValid for `candidate` appended to `chain` (leaf first). */
function checkCandidate(
  candidate: ParsedCertificate,
  role: CertificateRole,
  chain: readonly ParsedCertificate[],
  options: PathOptions,
): void {
  const { fields } = candidate;
  const what = describePosition(chain.length);
  const unsupported = fields.unsupportedCritical.filter(
    (oid) => role !== 'leaf' || !options.leafHandled.has(oid),
  );
  if (unsupported.length > 0) {
    throw new VerifyError(
      'CERTIFICATE_UNSUPPORTED_EXTENSION',
      `${what} has unsupported critical extensions ${unsupported.join(', ')}`,
    );
  }
  const { at } = options;
  if (at < fields.notBefore) {
    throw new VerifyError(
      'CERTIFICATE_NOT_YET_VALID',
      `${what} is not valid before ${new Date(fields.notBefore).toISOString()} (checked at ${new Date(at).toISOString()})`,
    );
  }
  if (at > fields.notAfter) {
    throw new VerifyError(
      'CERTIFICATE_EXPIRED',
      `${what} expired at ${new Date(fields.notAfter).toISOString()} (checked at ${new Date(at).toISOString()})`,
    );
  }
  const constraints = fields.basicConstraints;
  if (role === 'intermediate' && constraints?.isCa !== true) {
    throw new VerifyError('CERTIFICATE_NOT_CA', `${what} is not a CA (basicConstraints)`);
  }
  if (constraints !== undefined && constraints.maxPathLen >= 0) {
    const below = chain.length - 1;
    if (below > constraints.maxPathLen) {
      throw new VerifyError(
        'CERTIFICATE_PATH_LENGTH',
        `${what} allows ${constraints.maxPathLen} intermediate certificates below it, the path has ${below}`,
      );
    }
  }
}

/** Candidates whose subject is the child's issuer, best key-identifier match first (as Go). */
function potentialParents(
  child: ParsedCertificate,
  pool: readonly ParsedCertificate[],
): ParsedCertificate[] {
  const matching: ParsedCertificate[] = [];
  const oneMissing: ParsedCertificate[] = [];
  const mismatched: ParsedCertificate[] = [];
  const akid = child.fields.authorityKeyId;
  for (const candidate of pool) {
    if (!equalBytes(candidate.fields.rawSubject, child.fields.rawIssuer)) continue;
    const skid = candidate.fields.subjectKeyId;
    if (equalBytes(skid, akid)) matching.push(candidate);
    else if (skid === undefined || akid === undefined) oneMissing.push(candidate);
    else mismatched.push(candidate);
  }
  return [...matching, ...oneMissing, ...mismatched];
}

/** Go's alreadyInChain: same subject, key and SAN (so cross-signed loops end). */
function alreadyInChain(
  candidate: ParsedCertificate,
  chain: readonly ParsedCertificate[],
): boolean {
  const c = candidate.fields;
  return chain.some(
    ({ fields }) =>
      equalBytes(fields.rawSubject, c.rawSubject) &&
      equalBytes(fields.rawSubjectPublicKeyInfo, c.rawSubjectPublicKeyInfo) &&
      equalBytes(fields.rawSubjectAltName, c.rawSubjectAltName),
  );
}

interface SearchState {
  signatureChecks: number;
  limitReached: boolean;
  /** Why the first rejected candidate issuer was rejected, as a hint for the error. */
  hint: VerifyError | undefined;
}

function buildPaths(
  chain: readonly ParsedCertificate[],
  roots: CertificateRoots,
  state: SearchState,
  options: PathOptions,
): ParsedCertificate[][] {
  const child = chain[chain.length - 1];
  if (child === undefined) return [];
  const paths: ParsedCertificate[][] = [];
  const pools: [CertificateRole, readonly ParsedCertificate[]][] = [
    ['root', roots.anchors],
    ['intermediate', roots.intermediates],
  ];
  for (const [role, pool] of pools) {
    for (const candidate of potentialParents(child, pool)) {
      if (++state.signatureChecks > MAX_SIGNATURE_CHECKS) {
        state.limitReached = true;
        return paths;
      }
      if (alreadyInChain(candidate, chain)) continue;
      try {
        checkSignatureFrom(child, candidate);
        checkCandidate(candidate, role, chain, options);
      } catch (err) {
        if (!isVerifyError(err) || err.area !== 'certificate') throw err;
        state.hint ??= err;
        continue;
      }
      if (role === 'root') {
        paths.push([...chain, candidate]);
      } else {
        paths.push(...buildPaths([...chain, candidate], roots, state, options));
        if (state.limitReached) return paths;
      }
    }
  }
  return paths;
}

/**
 * Go's policiesValid with the options containers/image passes (any policy acceptable, nothing
 * inhibited): RFC 5280 §6.1 as updated by RFC 9618. Only the policy graph's current leaves
 * matter here, so they are tracked as policy → expected policies.
 */
function policiesValid(path: readonly ParsedCertificate[]): boolean {
  if (path.length === 1) return true;
  const n = path.length - 1;
  let leaves: Map<string, readonly string[]> | undefined = new Map([
    [ANY_POLICY_OID, [ANY_POLICY_OID]],
  ]);
  let explicitPolicy = n + 1;
  let policyMapping = n + 1;
  let inhibitAnyPolicy = n + 1;
  for (let i = n - 1; i >= 0; i--) {
    const { fields } = path[i] as ParsedCertificate;
    const selfIssued = equalBytes(fields.rawIssuer, fields.rawSubject);
    if (fields.policies.length === 0) leaves = undefined;
    if (explicitPolicy === 0 && leaves === undefined) return false;
    if (leaves !== undefined) {
      const parents: ReadonlyMap<string, readonly string[]> = leaves;
      const next = new Map<string, readonly string[]>();
      for (const policy of fields.policies) {
        if (policy === ANY_POLICY_OID) continue;
        const expected = [...parents.values()].some((set) => set.includes(policy));
        if (expected || parents.has(ANY_POLICY_OID)) next.set(policy, [policy]);
      }
      if (
        fields.policies.includes(ANY_POLICY_OID) &&
        (inhibitAnyPolicy > 0 || (i > 0 && selfIssued))
      ) {
        for (const expected of parents.values()) {
          for (const policy of expected) if (!next.has(policy)) next.set(policy, [policy]);
        }
      }
      if (i !== 0 && fields.policyMappings.length > 0) {
        const mapped = new Map<string, string[]>();
        for (const { issuerDomainPolicy, subjectDomainPolicy } of fields.policyMappings) {
          if (policyMapping > 0) {
            if (issuerDomainPolicy === ANY_POLICY_OID || subjectDomainPolicy === ANY_POLICY_OID) {
              return false;
            }
            mapped.set(issuerDomainPolicy, [
              ...(mapped.get(issuerDomainPolicy) ?? []),
              subjectDomainPolicy,
            ]);
          } else {
            next.delete(issuerDomainPolicy);
          }
        }
        for (const [issuerPolicy, subjectPolicies] of mapped) {
          if (next.has(issuerPolicy) || next.has(ANY_POLICY_OID)) {
            next.set(issuerPolicy, subjectPolicies);
          }
        }
      }
      leaves = next;
    }
    if (i !== 0) {
      if (!selfIssued) {
        if (explicitPolicy > 0) explicitPolicy--;
        if (policyMapping > 0) policyMapping--;
        if (inhibitAnyPolicy > 0) inhibitAnyPolicy--;
      }
      const { requireExplicitPolicy, inhibitPolicyMapping } = fields;
      if (requireExplicitPolicy !== undefined && requireExplicitPolicy >= 0) {
        explicitPolicy = Math.min(explicitPolicy, requireExplicitPolicy);
      }
      if (inhibitPolicyMapping !== undefined && inhibitPolicyMapping >= 0) {
        policyMapping = Math.min(policyMapping, inhibitPolicyMapping);
      }
      if (fields.inhibitAnyPolicy !== undefined && fields.inhibitAnyPolicy >= 0) {
        inhibitAnyPolicy = Math.min(inhibitAnyPolicy, fields.inhibitAnyPolicy);
      }
    }
  }
  if (explicitPolicy > 0) explicitPolicy--;
  if (path[0]?.fields.requireExplicitPolicy === 0) explicitPolicy = 0;
  return explicitPolicy > 0 || (leaves !== undefined && leaves.size > 0);
}

/**
 * Go's checkChainForKeyUsage for CodeSigning: every certificate, leaf to anchor, that lists EKUs
 * (known or not) must list CodeSigning or anyExtendedKeyUsage. One without EKUs allows any.
 */
function allowsCodeSigning(path: readonly ParsedCertificate[]): boolean {
  return path.every(({ fields }) => {
    const ekus = fields.extendedKeyUsages ?? [];
    return ekus.length === 0 || ekus.includes(ANY_EKU_OID) || ekus.includes(CODE_SIGNING_EKU_OID);
  });
}

/**
 * Go's checkChainConstraints: the names in every certificate's SAN (the leaf's, and any
 * intermediate's) must satisfy the nameConstraints of every CA above it, whether or not the
 * extension is critical. Per name type: with permitted subtrees of that type, the name must be
 * in one; it must be in no excluded subtree. Names of other types (otherName, directoryName)
 * and the subject CN are not checked; a certificate without a SAN is not checked at all.
 */
function checkNameConstraints(path: readonly ParsedCertificate[]): void {
  for (const [i, { fields }] of path.entries()) {
    if (fields.rawSubjectAltName === undefined) continue;
    const above = path.slice(i + 1).filter((ca) => ca.fields.nameConstraints !== undefined);
    if (above.length === 0) continue;
    const what = describePosition(i);
    const fail = (detail: string): never => {
      throw new VerifyError('CERTIFICATE_NAME_CONSTRAINTS', `${what}: ${detail}`);
    };
    const uriDomains = fields.uris.map((uri) => {
      let host = lowerAscii(uriHost(uri) ?? '');
      if (host === '') fail(`URI ${JSON.stringify(uri)} has no host to match constraints`);
      if (host.includes(':') && !host.endsWith(']')) {
        const colon = host.lastIndexOf(':');
        host = host.slice(0, colon);
        if (host.includes(':') || host.includes('[') || host.includes(']')) {
          fail(`URI ${JSON.stringify(uri)} has an unreadable host`);
        }
      }
      if (parseIpAddress(host) !== undefined || (host.startsWith('[') && host.endsWith(']'))) {
        fail(`URI ${JSON.stringify(uri)} names an IP address, which constraints cannot match`);
      }
      return { uri, host };
    });
    const mailboxes = fields.emails.map((email) => {
      const mailbox = parseMailbox(email);
      if (mailbox === undefined) return fail(`cannot parse rfc822Name ${JSON.stringify(email)}`);
      return { email, mailbox: { local: mailbox.local, domain: lowerAscii(mailbox.domain) } };
    });
    for (const ca of above) {
      const constraints = ca.fields.nameConstraints;
      if (constraints === undefined) continue;
      const check = (
        kind: string,
        shown: string,
        permittedCount: number,
        match: (list: 'permitted' | 'excluded') => string | undefined,
      ): void => {
        if (permittedCount > 0 && match('permitted') === undefined) {
          fail(`${kind} ${shown} is not permitted by any constraint`);
        }
        const hit = match('excluded');
        if (hit !== undefined) {
          fail(`${kind} ${shown} is excluded by constraint ${JSON.stringify(hit)}`);
        }
      };
      const { permitted } = constraints;
      for (const ip of fields.ipAddresses) {
        check('IP address', formatIp(ip), permitted.ipRanges.length, (list) => {
          const found = matchesIpConstraints(constraints[list].ipRanges, ip);
          return found === undefined ? undefined : `${formatIp(found.ip)}/${formatIp(found.mask)}`;
        });
      }
      for (const name of fields.dnsNames) {
        if (!domainNameValid(name, false)) fail(`cannot parse dNSName ${JSON.stringify(name)}`);
        check('DNS name', JSON.stringify(name), permitted.dnsNames.length, (list) =>
          matchesDnsConstraints(constraints[list].dnsNames, name, list === 'excluded'),
        );
      }
      for (const { uri, host } of uriDomains) {
        if (!domainNameValid(host, false)) fail(`URI ${JSON.stringify(uri)} has an invalid host`);
        check('URI', JSON.stringify(uri), permitted.uriDomains.length, (list) =>
          matchesDnsConstraints(constraints[list].uriDomains, host, list === 'excluded'),
        );
      }
      for (const { email, mailbox } of mailboxes) {
        if (!domainNameValid(mailbox.domain, false)) {
          fail(`cannot parse rfc822Name ${JSON.stringify(email)}`);
        }
        check('email address', JSON.stringify(email), permitted.emails.length, (list) =>
          matchesEmailConstraints(constraints[list].emails, mailbox, list === 'excluded'),
        );
      }
    }
  }
}

/**
 * Go's Certificate.Verify with containers/image's options: the leaf is checked alone, then every
 * path to a configured anchor is built (configured and chain intermediates, ≤
 * MAX_SIGNATURE_CHECKS signature checks), and the first that passes the policy, CodeSigning EKU
 * and name-constraint checks is accepted. The first failure is reported, most specific first.
 */
function verifyChain(
  leaf: ParsedCertificate,
  roots: CertificateRoots,
  options: PathOptions,
): readonly ParsedCertificate[] {
  checkCandidate(leaf, 'leaf', [], options);
  const state: SearchState = { signatureChecks: 0, limitReached: false, hint: undefined };
  const paths = roots.anchors.some((anchor) =>
    equalBytes(anchor.certificate.raw, leaf.certificate.raw),
  )
    ? [[leaf]]
    : buildPaths([leaf], roots, state, options);
  if (paths.length === 0) {
    if (state.limitReached) {
      throw new VerifyError(
        'CERTIFICATE_UNTRUSTED',
        `no path to a configured CA within ${MAX_SIGNATURE_CHECKS} signature checks`,
      );
    }
    const hint = state.hint;
    if (hint !== undefined && hint.code !== 'CERTIFICATE_UNTRUSTED') throw hint;
    throw new VerifyError(
      'CERTIFICATE_UNTRUSTED',
      'the certificate does not chain to the configured CA certificates',
      hint !== undefined ? { cause: hint } : {},
    );
  }
  let constraintsError: VerifyError | undefined;
  let wrongUsage = 0;
  for (const path of paths) {
    if (!policiesValid(path)) continue;
    if (!allowsCodeSigning(path)) {
      wrongUsage++;
      continue;
    }
    try {
      checkNameConstraints(path);
    } catch (err) {
      if (!isVerifyError(err) || err.area !== 'certificate') throw err;
      constraintsError ??= err;
      continue;
    }
    return path;
  }
  if (constraintsError !== undefined) throw constraintsError;
  if (wrongUsage > 0) {
    throw new VerifyError(
      'CERTIFICATE_NOT_CODE_SIGNING',
      `the certificate, or a CA constraining EKUs, does not allow code signing (EKU ${CODE_SIGNING_EKU_OID})`,
    );
  }
  throw new VerifyError(
    'CERTIFICATE_POLICY_INVALID',
    'no path to a configured CA satisfies its certificate policy constraints',
  );
}

// ---- Public API -----------------------------------------------------------------------------

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

/**
 * Parses a Fulcio CA bundle (PEM). Every certificate in it is a trust anchor (containers/image
 * puts the whole bundle in its root pool); intermediates come from the chain annotation only.
 */
export function parseFulcioRoots(fulcioCaPem: string): CertificateRoots {
  return { anchors: parseBundle(fulcioCaPem, 'the Fulcio CA bundle'), intermediates: [] };
}

/** Parses PKI roots (anchors) and optional intermediates (PEM). */
export function parsePkiRoots(caRootsPem: string, caIntermediatesPem?: string): CertificateRoots {
  return {
    anchors: parseBundle(caRootsPem, 'caRootsData'),
    intermediates:
      caIntermediatesPem === undefined
        ? []
        : parseBundle(caIntermediatesPem, 'caIntermediatesData'),
  };
}

/** The roots with the chain annotation's intermediates added (never as anchors). */
function withUntrustedChain(
  roots: CertificateRoots,
  untrustedChainPem: string | undefined,
): CertificateRoots {
  const untrusted = parseUntrustedChain(untrustedChainPem);
  if (untrusted.length === 0) return roots;
  return { anchors: roots.anchors, intermediates: [...roots.intermediates, ...untrusted] };
}

/** The signing certificate, once a path from it to a configured anchor verified. */
function verifyLeafPath(
  input: {
    readonly certificatePem: string;
    readonly roots: CertificateRoots;
    readonly untrustedChainPem?: string;
  },
  options: PathOptions,
): ParsedCertificate {
  const roots = withUntrustedChain(input.roots, input.untrustedChainPem);
  const leaf = parseLeafPem(input.certificatePem);
  verifyChain(leaf, roots, options);
  return leaf;
}

export interface VerifyFulcioCertificateInput {
  /** The certificate annotation's PEM. */
  readonly certificatePem: string;
  readonly roots: CertificateRoots;
  /**
   * The chain annotation's PEM, when the layer has one: all but its last certificate may serve
   * as intermediates (public-good Fulcio leaves need the Fulcio intermediate from it).
   */
  readonly untrustedChainPem?: string;
  readonly oidcIssuer: string;
  readonly signedEmail: string;
  /** The Rekor SET's integratedTime (unix seconds): the time the certificate is checked at. */
  readonly integratedTime: number;
}

/**
 * Verifies a Fulcio (keyless) signing certificate as containers/image does: a path (Go's
 * crypto/x509 rules: signatures by MD5/SHA-1 refused, basicConstraints and pathLen,
 * nameConstraints, certificate policies, CodeSigning EKU along the path, critical extensions)
 * from the leaf through chain-annotation intermediates to a configured CA, every certificate
 * valid at `integratedTime`; a critical SAN holding no name Go reads is overlooked on the leaf.
 * Then its OIDC issuer (v1 raw / v2 UTF8String extension; both must agree when both are
 * present) must equal `oidcIssuer`, and an email SAN must equal `signedEmail` exactly. Returns
 * the leaf's key for the signature check.
 */
export function verifyFulcioCertificate(input: VerifyFulcioCertificateInput): VerifiedCertificate {
  if (input.oidcIssuer === '' || input.signedEmail === '') {
    throw new VerifyError('CERTIFICATE_ROOTS_INVALID', 'oidcIssuer and signedEmail are required');
  }
  const leaf = verifyLeafPath(input, {
    at: input.integratedTime * 1000,
    // containers/image matches the SAN itself and drops it from Go's unhandled list.
    leafHandled: new Set([SAN_OID]),
  });
  const { issuerV1, issuerV2, emails, dnsNames } = leaf.fields;
  if (issuerV1 !== undefined && issuerV2 !== undefined && issuerV1 !== issuerV2) {
    throw new VerifyError(
      'CERTIFICATE_ISSUER_CONFLICT',
      'the certificate names two different OIDC issuers',
    );
  }
  const issuer = issuerV2 ?? issuerV1;
  if (issuer === undefined) {
    throw new VerifyError('CERTIFICATE_ISSUER_MISMATCH', 'the certificate names no OIDC issuer');
  }
  if (issuer !== input.oidcIssuer) {
    throw new VerifyError(
      'CERTIFICATE_ISSUER_MISMATCH',
      `the certificate's OIDC issuer ${JSON.stringify(issuer.slice(0, 200))} is not ${JSON.stringify(input.oidcIssuer)}`,
    );
  }
  if (!emails.includes(input.signedEmail)) {
    throw new VerifyError(
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
  /** The chain annotation's PEM: all but its last certificate may serve as intermediates. */
  readonly untrustedChainPem?: string;
  readonly email?: string;
  readonly hostname?: string;
  /** Unix seconds to check validity at: a Rekor SET's integratedTime, or now when absent. */
  readonly at?: number;
}

/**
 * Verifies a PKI signing certificate as containers/image does: a path (Go's crypto/x509 rules,
 * see verifyFulcioCertificate) through configured and chain-annotation intermediates to a
 * configured root, valid at `at` (default now); then every configured subject: the email equal
 * to an email SAN byte for byte, the hostname matched as Go's VerifyHostname matches (DNS SANs
 * case-insensitively with `*.` wildcards for one label, IP addresses against IP SANs; never the
 * subject CN). At least one of email and hostname must be configured.
 */
export function verifyPkiCertificate(input: VerifyPkiCertificateInput): VerifiedCertificate {
  if (input.email === undefined && input.hostname === undefined) {
    throw new VerifyError(
      'CERTIFICATE_ROOTS_INVALID',
      'pkiCertificateSubject needs an email or a hostname',
    );
  }
  const leaf = verifyLeafPath(input, {
    at: input.at !== undefined ? input.at * 1000 : Date.now(),
    leafHandled: new Set(),
  });
  const { emails, dnsNames } = leaf.fields;
  if (input.email !== undefined && !emails.includes(input.email)) {
    throw new VerifyError(
      'CERTIFICATE_SUBJECT_MISMATCH',
      `no email SAN of the certificate is ${JSON.stringify(input.email)}`,
    );
  }
  if (input.hostname !== undefined && !matchesHostname(leaf.fields, input.hostname)) {
    throw new VerifyError(
      'CERTIFICATE_SUBJECT_MISMATCH',
      `no SAN of the certificate matches the hostname ${JSON.stringify(input.hostname)}`,
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
