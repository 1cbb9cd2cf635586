import { createHash, sign, X509Certificate } from 'node:crypto';

import { curveHash, rekorLogId, signPayload } from './cosign.js';
import type { TestKey } from './cosign.js';

export const BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const IN_TOTO = 'application/vnd.in-toto+json';

/**
 * An in-toto Statement v1 naming `name` with the sha256 of `digest`. (cosign v3's own `sign`
 * writes the subject without a name: see {@link makeCosignV3Statement}.)
 */
export function makeStatement(
  name: string,
  digest: string,
  predicate: { type?: string; body?: unknown } = {},
): Buffer {
  return Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name, digest: { sha256: digest.replace(/^sha256:/, '') } }],
      predicateType: predicate.type ?? 'https://sigstore.dev/cosign/sign/v1',
      predicate: predicate.body ?? {},
    }),
  );
}

/** The statement cosign v3's `sign` writes: a digest-only subject, an empty predicate. */
export function makeCosignV3Statement(digest: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ digest: { sha256: digest.replace(/^sha256:/, '') }, annotations: {} }],
      predicateType: 'https://sigstore.dev/cosign/sign/v1',
      predicate: {},
    }),
  );
}

function pae(payloadType: string, payload: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${Buffer.byteLength(payloadType)} ${payloadType} ${payload.length} `),
    payload,
  ]);
}

function derBase64(pem: string): string {
  return new X509Certificate(pem).raw.toString('base64');
}

export interface TestBundleOptions {
  readonly signer: TestKey;
  readonly statement: Buffer;
  /** The signing certificate (PEM); absent → a public-key bundle. */
  readonly certPem?: string;
  /** Written as x509CertificateChain (leaf first) instead of `certificate`. */
  readonly chainPems?: readonly string[];
  readonly rekorKey?: TestKey;
  readonly integratedTime?: number;
  /** Flips a bit of the DSSE signature after the log entry is made. */
  readonly tamperSignature?: boolean;
  /**
   * The log entry's inclusion proof (v0.3 requires one): `valid` (default) is a one-leaf tree
   * whose checkpoint the Rekor key signs; `wrong-root` and `foreign-key` spoil the root hash or
   * sign the checkpoint with another key; `none` leaves the proof out.
   */
  readonly inclusionProof?: 'valid' | 'wrong-root' | 'foreign-key' | 'none';
  /** Another key, for `inclusionProof: 'foreign-key'`. */
  readonly foreignKey?: TestKey;
}

/**
 * An inclusion proof for a log of one entry (the root is the leaf hash, no sibling hashes) and a
 * checkpoint in the signed-note format Rekor uses, signed by `key`.
 */
function makeInclusionProof(
  body: Buffer,
  logKey: TestKey,
  signingKey: TestKey,
  spoilRoot: boolean,
): Record<string, unknown> {
  const root = createHash('sha256')
    .update(Buffer.concat([Buffer.from([0]), body]))
    .digest();
  if (spoilRoot) root[0] = (root[0] ?? 0) ^ 1;
  const origin = 'rekor.test - 1193050959916656506';
  const note = `${origin}\n1\n${root.toString('base64')}\n`;
  const hint = Buffer.from(rekorLogId(logKey), 'hex').subarray(0, 4);
  const signature = sign(hashFor(signingKey), Buffer.from(note), {
    key: signingKey.privateKey,
    dsaEncoding: 'der',
  });
  const line = `\u2014 rekor.test ${Buffer.concat([hint, signature]).toString('base64')}\n`;
  return {
    logIndex: '0',
    rootHash: root.toString('base64'),
    treeSize: '1',
    hashes: [],
    checkpoint: { envelope: `${note}\n${line}` },
  };
}

function hashFor(key: TestKey): string | null {
  return key.kind === 'ed25519' ? null : 'sha256';
}

/**
 * A Sigstore bundle v0.3 as cosign v3 writes it for `cosign sign`: a DSSE envelope over an
 * in-toto statement, the signing certificate, and one dsse 0.0.1 Rekor entry with a SET.
 */
export function makeTestBundle(options: TestBundleOptions): Buffer {
  const { signer, statement } = options;
  const signature = signPayload(signer, pae(IN_TOTO, statement), curveHash(signer.kind));
  const verifierPem = options.certPem ?? signer.publicKeyPem;
  const material: Record<string, unknown> = {};
  if (options.chainPems !== undefined) {
    material.x509CertificateChain = {
      certificates: options.chainPems.map((pem) => ({ rawBytes: derBase64(pem) })),
    };
  } else if (options.certPem !== undefined) {
    material.certificate = { rawBytes: derBase64(options.certPem) };
  } else {
    material.publicKey = { hint: '' };
  }
  if (options.rekorKey !== undefined) {
    const body = Buffer.from(
      JSON.stringify({
        apiVersion: '0.0.1',
        kind: 'dsse',
        spec: {
          envelopeHash: { algorithm: 'sha256', value: '0'.repeat(64) },
          payloadHash: {
            algorithm: 'sha256',
            value: createHash('sha256').update(statement).digest('hex'),
          },
          signatures: [
            {
              signature: signature.toString('base64'),
              verifier: Buffer.from(verifierPem).toString('base64'),
            },
          ],
        },
      }),
    ).toString('base64');
    const integratedTime = options.integratedTime ?? 1_760_000_000;
    const logIndex = 4242;
    const logID = rekorLogId(options.rekorKey);
    const proof = options.inclusionProof ?? 'valid';
    const canonical = `{"body":${JSON.stringify(body)},"integratedTime":${integratedTime},"logID":"${logID}","logIndex":${logIndex}}`;
    const set = sign('sha256', Buffer.from(canonical), {
      key: options.rekorKey.privateKey,
      dsaEncoding: 'der',
    });
    material.tlogEntries = [
      {
        logIndex: String(logIndex),
        logId: { keyId: Buffer.from(logID, 'hex').toString('base64') },
        kindVersion: { kind: 'dsse', version: '0.0.1' },
        integratedTime: String(integratedTime),
        inclusionPromise: { signedEntryTimestamp: set.toString('base64') },
        ...(proof !== 'none'
          ? {
              inclusionProof: makeInclusionProof(
                Buffer.from(body, 'base64'),
                options.rekorKey,
                proof === 'foreign-key' ? (options.foreignKey ?? options.signer) : options.rekorKey,
                proof === 'wrong-root',
              ),
            }
          : {}),
        canonicalizedBody: body,
      },
    ];
  }
  if (options.tamperSignature === true) signature[10] = (signature[10] ?? 0) ^ 1;
  return Buffer.from(
    JSON.stringify({
      mediaType: BUNDLE_MEDIA_TYPE,
      verificationMaterial: material,
      dsseEnvelope: {
        payload: statement.toString('base64'),
        payloadType: IN_TOTO,
        signatures: [{ sig: signature.toString('base64'), keyid: '' }],
      },
    }),
  );
}
