import { createHash } from 'node:crypto';

import {
  parseFulcioRoots,
  parsePkiRoots,
  verifyFulcioCertificate,
  verifyPkiCertificate,
} from './certificate.js';
import type { CertificateRoots, VerifiedCertificate } from './certificate.js';
import { VerifyError } from '../errors.js';
import { parsePublicKey } from './public-key.js';
import type { VerificationKey } from './public-key.js';

/** A public-key root of trust (PEM texts, already base64-decoded from the policy). */
export interface PublicKeyTrust {
  readonly type: 'publicKey';
  readonly keyPem: string;
  /** When set, every accepted signature needs a valid SET from this Rekor key. */
  readonly rekorKeyPem?: string;
}

/** Certificate-based roots of trust, with PEM texts (already base64-decoded from the policy). */
export type CertificateTrust =
  | {
      /** FulcioCAWithRekor: a Rekor SET is required and fixes the time certificates are checked at. */
      readonly type: 'fulcio';
      readonly fulcioCaPem: string;
      readonly rekorKeyPem: string;
      readonly oidcIssuer: string;
      readonly signedEmail: string;
    }
  | {
      /** PKI: certificates are checked now, or at the SET's time when a Rekor key is configured. */
      readonly type: 'pki';
      readonly caRootsPem: string;
      readonly caIntermediatesPem?: string;
      readonly email?: string;
      readonly hostname?: string;
      readonly rekorKeyPem?: string;
    };

/** A root of trust as a policy states it (PEM texts). */
export type TrustConfig = PublicKeyTrust | CertificateTrust;

/**
 * A root of trust read once, ready to verify with: what differs between the kinds is only how
 * the signing key is obtained (the configured key, or a certificate chaining to the configured
 * CAs with the configured subject) and whether a Rekor SET is required.
 */
export type SignatureTrust =
  | {
      readonly kind: 'key';
      readonly key: VerificationKey;
      readonly rekorKey?: VerificationKey;
    }
  | {
      readonly kind: 'fulcio';
      readonly roots: CertificateRoots;
      readonly rekorKey: VerificationKey;
      readonly oidcIssuer: string;
      readonly signedEmail: string;
    }
  | {
      readonly kind: 'pki';
      readonly roots: CertificateRoots;
      readonly rekorKey?: VerificationKey;
      readonly email?: string;
      readonly hostname?: string;
    };

/** The certificate-based kinds of {@link SignatureTrust}. */
export type CertificateTrustMaterial = Exclude<SignatureTrust, { kind: 'key' }>;

/**
 * Roots of trust kept parsed, by the SHA-256 of their content (a CA bundle can be large; its
 * text is not kept twice). A payload verification asks for the same policy's root once per
 * component (190 in a release): parsing a key costs more than verifying a signature with it. A
 * cluster has a handful of policies; beyond this the oldest is dropped.
 */
export const MAX_PARSED_TRUSTS = 32;

const parsedTrusts = new Map<string, SignatureTrust>();

/**
 * Reads a root of trust: its key or CAs first, then its Rekor key. Throws the configuration
 * errors (INVALID_PUBLIC_KEY, UNSUPPORTED_KEY, CERTIFICATE_ROOTS_INVALID), every time they are
 * asked for: only what parsed is kept (by the exact content, so an edited policy is read
 * afresh). The result is immutable and may be shared.
 */
export function parseSignatureTrust(config: TrustConfig): SignatureTrust {
  const key = trustKey(config);
  const cached = parsedTrusts.get(key);
  if (cached !== undefined) return cached;
  const parsed = readSignatureTrust(config);
  if (parsedTrusts.size >= MAX_PARSED_TRUSTS) {
    const oldest = parsedTrusts.keys().next();
    if (oldest.done !== true) parsedTrusts.delete(oldest.value);
  }
  parsedTrusts.set(key, parsed);
  return parsed;
}

/** A digest of every field of the config, in a fixed order (JSON keeps absent and empty apart). */
function trustKey(config: TrustConfig): string {
  return createHash('sha256').update(trustFields(config)).digest('base64');
}

function trustFields(config: TrustConfig): string {
  switch (config.type) {
    case 'publicKey':
      return JSON.stringify([config.type, config.keyPem, config.rekorKeyPem ?? null]);
    case 'fulcio':
      return JSON.stringify([
        config.type,
        config.fulcioCaPem,
        config.rekorKeyPem,
        config.oidcIssuer,
        config.signedEmail,
      ]);
    case 'pki':
      return JSON.stringify([
        config.type,
        config.caRootsPem,
        config.caIntermediatesPem ?? null,
        config.email ?? null,
        config.hostname ?? null,
        config.rekorKeyPem ?? null,
      ]);
    default: {
      const never: never = config;
      throw new Error(`unknown root of trust ${JSON.stringify(never)}`);
    }
  }
}

function readSignatureTrust(config: TrustConfig): SignatureTrust {
  switch (config.type) {
    case 'publicKey': {
      const key = parsePublicKey(config.keyPem);
      return { kind: 'key', key, ...rekorKeyOf(config) };
    }
    case 'fulcio': {
      const roots = parseFulcioRoots(config.fulcioCaPem);
      return {
        kind: 'fulcio',
        roots,
        rekorKey: parsePublicKey(config.rekorKeyPem),
        oidcIssuer: config.oidcIssuer,
        signedEmail: config.signedEmail,
      };
    }
    case 'pki': {
      const roots = parsePkiRoots(config.caRootsPem, config.caIntermediatesPem);
      return {
        kind: 'pki',
        roots,
        ...rekorKeyOf(config),
        ...(config.email !== undefined ? { email: config.email } : {}),
        ...(config.hostname !== undefined ? { hostname: config.hostname } : {}),
      };
    }
    default: {
      const never: never = config;
      throw new Error(`unknown root of trust ${JSON.stringify(never)}`);
    }
  }
}

function rekorKeyOf(config: { readonly rekorKeyPem?: string }): { rekorKey?: VerificationKey } {
  return config.rekorKeyPem !== undefined ? { rekorKey: parsePublicKey(config.rekorKeyPem) } : {};
}

/**
 * Verifies a signing certificate against the configured CAs and subject only: for Fulcio at the
 * Rekor SET's `integratedTime` (required), for PKI at that time or now. `untrustedChainPem`
 * (a chain annotation) may only fill a gap up to a configured CA.
 */
export function verifySigningCertificate(
  trust: CertificateTrustMaterial,
  certificatePem: string,
  untrustedChainPem: string | undefined,
  integratedTime: number | undefined,
): VerifiedCertificate {
  const chain = untrustedChainPem !== undefined ? { untrustedChainPem } : {};
  if (trust.kind === 'fulcio') {
    if (integratedTime === undefined) {
      throw new VerifyError('REKOR_BUNDLE_MISSING', 'a Fulcio certificate needs a Rekor SET');
    }
    return verifyFulcioCertificate({
      certificatePem,
      roots: trust.roots,
      ...chain,
      oidcIssuer: trust.oidcIssuer,
      signedEmail: trust.signedEmail,
      integratedTime,
    });
  }
  return verifyPkiCertificate({
    certificatePem,
    roots: trust.roots,
    ...chain,
    ...(trust.email !== undefined ? { email: trust.email } : {}),
    ...(trust.hostname !== undefined ? { hostname: trust.hostname } : {}),
    ...(integratedTime !== undefined ? { at: integratedTime } : {}),
  });
}
