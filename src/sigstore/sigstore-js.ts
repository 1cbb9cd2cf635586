import { createHash } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

import { bundleFromJSON, ValidationError } from '@sigstore/bundle';
import type { Bundle } from '@sigstore/bundle';
import { PolicyError, toSignedEntity, VerificationError, Verifier } from '@sigstore/verify';
import type { SignedEntity, TrustMaterial } from '@sigstore/verify';

import { VerifyError } from '../errors.js';
import type { SigstoreErrorCode } from '../errors.js';
import type { JsonValue } from '../json/strict-json.js';

/**
 * What @sigstore/verify is asked to check once our own reading of a bundle has settled who the
 * signer is: the signer's key (the policy's key, or the leaf certificate's key after that
 * certificate was verified against the policy's CAs only) and, when the policy has one, the
 * Rekor key.
 */
export interface SigstoreJsCheck {
  readonly signingKey: KeyObject;
  /** The leaf certificate's validity, which every log timestamp must fall within. */
  readonly validity?: { readonly notBefore: Date; readonly notAfter: Date };
  /** When set, every log entry must verify against it and at least one must be present. */
  readonly rekorKey?: KeyObject;
}

/**
 * Verifies a cosign v3 bundle (already strict-parsed JSON) with @sigstore/verify, as a second,
 * independent implementation of the parts whose semantics match ours: the v0.3 bundle schema
 * (one DSSE signature, an inclusion proof for every log entry, a single certificate rather than
 * a chain), the DSSE signature over its PAE, each log entry's body binding (same signature and
 * payload hash), the SET, and the inclusion proof against a checkpoint signed by the Rekor key.
 *
 * Where its semantics differ from containers/image's, the gap is closed here rather than
 * inherited:
 * - It would verify a certificate's embedded SCTs and fail without a CT log key, which no
 *   OpenShift policy carries (containers/image does not read SCTs). It would also trust any
 *   CA we list in full. So it never sees the certificate: it gets the leaf's key, valid for the
 *   leaf's lifetime, after our own chain check against the policy's CAs.
 * - Its SAN policy is an unanchored regular expression; identities are matched exactly by our
 *   own code, so no policy is passed.
 * - A PublicKey policy without a Rekor key ignores log entries (as containers/image does);
 *   @sigstore/verify would fail them for want of a log key, so they are not handed over.
 * - RFC 3161 timestamps are never counted: no OpenShift policy configures a TSA.
 * - A checkpoint is bound to the log by the Rekor key alone (the policy names no log URL),
 *   so the log authority's name is taken from the checkpoint it verifies.
 *
 * Throws VerifyError (a sigstore code); never returns on failure.
 */
export function verifyWithSigstoreJs(document: JsonValue, check: SigstoreJsCheck): void {
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(document);
  } catch (err) {
    const detail =
      err instanceof ValidationError
        ? `${err.message}: ${err.fields.join(', ')}`
        : err instanceof Error
          ? err.message
          : String(err);
    throw new VerifyError(
      'REKOR_BUNDLE_INVALID',
      `the bundle is not a valid v0.3 Sigstore bundle (${detail})`,
      {
        cause: err,
      },
    );
  }
  let entity: SignedEntity;
  try {
    entity = toSignedEntity(bundle);
  } catch (err) {
    throw new VerifyError('REKOR_BUNDLE_INVALID', 'the bundle cannot be read as a signed entity', {
      cause: err,
    });
  }
  const { rekorKey } = check;
  const withLog = rekorKey !== undefined;
  const adjusted: SignedEntity = {
    signature: entity.signature,
    key: { $case: 'public-key', hint: 'policy' },
    tlogEntries: withLog ? entity.tlogEntries : [],
    timestamps: withLog
      ? entity.timestamps.filter((timestamp) => timestamp.$case === 'transparency-log')
      : [],
  };
  const trust: TrustMaterial = {
    certificateAuthorities: [],
    timestampAuthorities: [],
    ctlogs: [],
    tlogs: withLog ? logAuthorities(rekorKey, entity) : [],
    publicKey: () => ({
      publicKey: check.signingKey,
      validFor: (date: Date) =>
        check.validity === undefined ||
        (date >= check.validity.notBefore && date <= check.validity.notAfter),
    }),
  };
  const threshold = withLog ? 1 : 0;
  const verifier = new Verifier(trust, {
    tlogThreshold: threshold,
    ctlogThreshold: 0,
    timestampThreshold: threshold,
  });
  try {
    verifier.verify(adjusted);
  } catch (err) {
    if (err instanceof VerificationError || err instanceof PolicyError) {
      throw new VerifyError(CODE[err.code] ?? 'BAD_SIGNATURE', `@sigstore/verify: ${err.message}`, {
        cause: err,
      });
    }
    throw new VerifyError('REKOR_BUNDLE_INVALID', 'the bundle could not be verified', {
      cause: err,
    });
  }
}

const CODE: Readonly<Partial<Record<string, SigstoreErrorCode>>> = {
  SIGNATURE_ERROR: 'BAD_SIGNATURE',
  PUBLIC_KEY_ERROR: 'BAD_SIGNATURE',
  TLOG_ERROR: 'REKOR_BUNDLE_MISSING',
  TLOG_MISSING_INCLUSION_ERROR: 'REKOR_BUNDLE_MISSING',
  TIMESTAMP_ERROR: 'REKOR_BUNDLE_MISSING',
  TLOG_INCLUSION_PROMISE_ERROR: 'REKOR_SET_INVALID',
  TLOG_INCLUSION_PROOF_ERROR: 'REKOR_SET_INVALID',
  TLOG_BODY_ERROR: 'REKOR_ENTRY_MISMATCH',
};

/** The policy's Rekor key, once per checkpoint signer name the bundle uses. */
function logAuthorities(rekorKey: KeyObject, entity: SignedEntity): TrustMaterial['tlogs'] {
  const logID = createHash('sha256')
    .update(rekorKey.export({ format: 'der', type: 'spki' }))
    .digest();
  const names = new Set<string>(['']);
  for (const entry of entity.tlogEntries) {
    const envelope = entry.inclusionProof?.checkpoint?.envelope ?? '';
    for (const match of envelope.matchAll(/\u2014 (\S{1,256}) \S+\n/g)) {
      if (match[1] !== undefined) names.add(match[1]);
    }
  }
  return [...names].map((name) => ({
    logID,
    baseURL: name,
    publicKey: rekorKey,
    validFor: { start: new Date(0), end: new Date(8_640_000_000_000_000) },
  }));
}
