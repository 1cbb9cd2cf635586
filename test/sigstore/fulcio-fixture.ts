// A Fulcio-like PKI (openssl-minted at test time) and keyless cosign layers, shared by the
// keyless layer, bundle and pure-verifier tests.
import { CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION } from '../../src/sigstore/certificate.js';
import type { CertificateTrust } from '../../src/sigstore/signature-trust.js';
import { makeTestBundle } from '../helpers/bundle.js';
import type { TestBundleOptions } from '../helpers/bundle.js';
import {
  BUNDLE_ANNOTATION,
  createTestKey,
  makeRekorBundle,
  SIGNATURE_ANNOTATION,
  signPayload,
} from '../helpers/cosign.js';
import type { SignatureLayer, TestKey } from '../helpers/cosign.js';
import { FulcioTestPki, LEAF_INTEGRATED_TIME } from '../helpers/fulcio.js';
import type { TestCa, TestLeaf } from '../helpers/fulcio.js';

export const ISSUER = 'https://accounts.example.com';
export const EMAIL = 'release@example.com';
/** The Rekor log key the fixture's trust names and its log entries are signed with. */
export const rekor = createTestKey('p256');

export interface FulcioFixture {
  readonly pki: FulcioTestPki;
  readonly root: TestCa;
  /** Issued by `root`, with the CodeSigning EKU. */
  readonly intermediate: TestCa;
  /** FulcioCAWithRekor over both CAs, `rekor`, ISSUER and EMAIL. */
  readonly fulcio: Extract<CertificateTrust, { type: 'fulcio' }>;
  /** A leaf for ISSUER (both issuer extensions) and EMAIL or `emails`, from `intermediate`. */
  leaf(options?: { emails?: readonly string[]; issuer?: TestCa }): Promise<TestLeaf>;
}

/** Mints the root and intermediate; call `pki.cleanup()` when done. */
export async function createFulcioFixture(): Promise<FulcioFixture> {
  const pki = await FulcioTestPki.create();
  const root = await pki.makeCa({ subject: '/O=sigstore.dev/CN=sigstore' });
  const intermediate = await pki.makeCa({
    subject: '/O=sigstore.dev/CN=sigstore-intermediate',
    issuer: root,
    codeSigningEku: true,
  });
  return {
    pki,
    root,
    intermediate,
    fulcio: {
      type: 'fulcio',
      fulcioCaPem: root.certPem + intermediate.certPem,
      rekorKeyPem: rekor.publicKeyPem,
      oidcIssuer: ISSUER,
      signedEmail: EMAIL,
    },
    leaf: (options = {}) =>
      pki.issueLeaf({
        issuer: options.issuer ?? intermediate,
        emails: options.emails ?? [EMAIL],
        issuerV1: ISSUER,
        issuerV2: ISSUER,
      }),
  };
}

export interface KeylessLayerOptions {
  /** The certificate the Rekor entry binds (default: the signing leaf). */
  readonly entryCertPem?: string;
  readonly integratedTime?: number;
  readonly chainPem?: string;
  readonly withBundle?: boolean;
  /** Default `rekor`. */
  readonly rekorKey?: TestKey;
}

/** A layer as `cosign sign` (keyless) makes it: signature, certificate, chain and bundle. */
export function keylessLayer(
  leaf: TestLeaf,
  payload: Buffer,
  options: KeylessLayerOptions = {},
): SignatureLayer {
  const signature = signPayload(leaf.key, payload);
  const annotations: Record<string, string> = {
    [SIGNATURE_ANNOTATION]: signature.toString('base64'),
    [CERTIFICATE_ANNOTATION]: leaf.certPem,
  };
  if (options.chainPem !== undefined) annotations[CHAIN_ANNOTATION] = options.chainPem;
  if (options.withBundle ?? true) {
    annotations[BUNDLE_ANNOTATION] = makeRekorBundle({
      rekorKey: options.rekorKey ?? rekor,
      signerPem: options.entryCertPem ?? leaf.certPem,
      signature,
      payload,
      integratedTime: options.integratedTime ?? LEAF_INTEGRATED_TIME,
    });
  }
  return { payload, annotations };
}

/** A DSSE bundle by `signer`'s certificate, with a log entry from `rekor` at the leaf's time. */
export function keylessBundle(
  signer: TestLeaf,
  statement: Buffer,
  extra: Partial<TestBundleOptions> = {},
): Buffer {
  return makeTestBundle({
    signer: signer.key,
    certPem: signer.certPem,
    statement,
    rekorKey: rekor,
    integratedTime: LEAF_INTEGRATED_TIME,
    ...extra,
  });
}
