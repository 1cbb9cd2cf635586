/**
 * A test signer in cosign's exact formats (simple-signing payloads, legacy `.sig` manifests,
 * Rekor SETs minted with a local key): what the walkthrough, tests and benchmarks sign with.
 * Keys are made at run time; nothing here talks to Sigstore's services.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

import { pushBlob, pushManifest } from './local-registry.js';
import type { PushedDescriptor, PushedManifest, PushTarget } from './local-registry.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
export const BUNDLE_ANNOTATION = 'dev.sigstore.cosign/bundle';

export type TestKeyKind = 'p256' | 'p384' | 'p521' | 'rsa' | 'ed25519';

export interface TestKey {
  readonly kind: TestKeyKind;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly publicKeyPem: string;
}

/** A fresh key pair of the kinds cosign signs with. */
export function createTestKey(kind: TestKeyKind = 'p256'): TestKey {
  const pair =
    kind === 'p256'
      ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      : kind === 'p384'
        ? generateKeyPairSync('ec', { namedCurve: 'secp384r1' })
        : kind === 'p521'
          ? generateKeyPairSync('ec', { namedCurve: 'secp521r1' })
          : kind === 'rsa'
            ? generateKeyPairSync('rsa', { modulusLength: 2048 })
            : generateKeyPairSync('ed25519');
  return {
    kind,
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
    publicKeyPem: pair.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}

/** Go's encoding/json escapes HTML characters and the JS line separators in strings. */
function goJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** Go marshals map keys sorted; struct fields in declaration order (callers keep that order). */
function sortedKeys(map: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(map).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/**
 * The simple signing payload bytes exactly as cosign writes them (`payload.Cosign` marshalled
 * by encoding/json): `optional` is `null` without annotations.
 */
export function makeCosignPayload(
  dockerReference: string,
  digest: string,
  optional: Record<string, unknown> | null = null,
): Buffer {
  return Buffer.from(
    goJson({
      critical: {
        identity: { 'docker-reference': dockerReference },
        image: { 'docker-manifest-digest': digest },
        type: 'cosign container image signature',
      },
      optional: optional === null ? null : sortedKeys(optional),
    }),
    'utf8',
  );
}

/** The curve's own digest (what Sigstore bundles sign with): SHA-384 for P-384, SHA-512 for P-521. */
export function curveHash(kind: TestKeyKind): string | null {
  return kind === 'ed25519'
    ? null
    : kind === 'p384'
      ? 'sha384'
      : kind === 'p521'
        ? 'sha512'
        : 'sha256';
}

/**
 * cosign's signature over the raw payload: ECDSA ASN.1 DER, RSA PKCS#1 v1.5, or Ed25519. Legacy
 * signatures hash with SHA-256 whatever the curve (as cosign loads keys and containers/image
 * verifies); `hash` overrides it (bundles use {@link curveHash}).
 */
export function signPayload(
  key: TestKey,
  payload: Uint8Array,
  hash: string | null = key.kind === 'ed25519' ? null : 'sha256',
): Buffer {
  return sign(hash, payload, { key: key.privateKey, dsaEncoding: 'der' });
}

export interface RekorBundleOptions {
  readonly rekorKey: TestKey;
  /** The key or certificate PEM the entry binds (normally the signer's public key). */
  readonly signerPem: string;
  readonly signature: Uint8Array;
  readonly payload: Uint8Array;
  readonly integratedTime?: number;
  readonly logIndex?: number;
  /** Overrides the log ID (default: sha256 of the Rekor key's DER). */
  readonly logID?: string;
}

export function rekorLogId(key: TestKey): string {
  return createHash('sha256')
    .update(key.publicKey.export({ format: 'der', type: 'spki' }))
    .digest('hex');
}

/** A hashedrekord 0.0.1 entry body as Rekor canonicalises it. */
export function makeHashedRekordBody(
  signerPem: string,
  signature: Uint8Array,
  payload: Uint8Array,
): string {
  return JSON.stringify({
    apiVersion: '0.0.1',
    kind: 'hashedrekord',
    spec: {
      data: {
        hash: { algorithm: 'sha256', value: createHash('sha256').update(payload).digest('hex') },
      },
      signature: {
        content: Buffer.from(signature).toString('base64'),
        publicKey: { content: Buffer.from(signerPem, 'utf8').toString('base64') },
      },
    },
  });
}

/**
 * cosign's `dev.sigstore.cosign/bundle` annotation: the SET is the Rekor key's signature over
 * the canonical JSON of the payload fields (sorted keys), the body a hashedrekord entry.
 */
export function makeRekorBundle(options: RekorBundleOptions, body?: string): string {
  const payload = {
    body: Buffer.from(
      body ?? makeHashedRekordBody(options.signerPem, options.signature, options.payload),
      'utf8',
    ).toString('base64'),
    integratedTime: options.integratedTime ?? 1_760_000_000,
    logIndex: options.logIndex ?? 4242,
    logID: options.logID ?? rekorLogId(options.rekorKey),
  };
  const canonical = JSON.stringify(sortedKeys(payload));
  const set = sign(options.rekorKey.kind === 'ed25519' ? null : 'sha256', Buffer.from(canonical), {
    key: options.rekorKey.privateKey,
    dsaEncoding: 'der',
  });
  return goJson({ SignedEntryTimestamp: set.toString('base64'), Payload: payload });
}

export interface SignatureLayer {
  readonly payload: Uint8Array;
  readonly annotations: Record<string, string>;
  readonly mediaType?: string;
}

/** A signed layer as `cosign sign --key` makes it, optionally with a Rekor bundle. */
export function makeSignatureLayer(
  key: TestKey,
  payload: Uint8Array,
  rekor?: { readonly rekorKey: TestKey; readonly integratedTime?: number },
): SignatureLayer {
  const signature = signPayload(key, payload);
  const annotations: Record<string, string> = {
    [SIGNATURE_ANNOTATION]: signature.toString('base64'),
  };
  if (rekor !== undefined) {
    annotations[BUNDLE_ANNOTATION] = makeRekorBundle({
      rekorKey: rekor.rekorKey,
      signerPem: key.publicKeyPem,
      signature,
      payload,
      ...(rekor.integratedTime !== undefined ? { integratedTime: rekor.integratedTime } : {}),
    });
  }
  return { payload, annotations };
}

/**
 * Pushes a legacy cosign signature manifest under `sha256-<hex>.sig` for `image` with the given
 * layers (cosign's layout: an OCI manifest, a config listing the layers, one layer per
 * signature with its annotations). `repeat` repeats the layer list (same blobs) that many times.
 */
export async function pushCosignSignatures(
  target: PushTarget,
  repo: string,
  image: Pick<PushedDescriptor, 'digest'>,
  layers: readonly SignatureLayer[],
  options: { readonly repeat?: number } = {},
): Promise<PushedManifest> {
  const descriptors: PushedDescriptor[] = [];
  for (const layer of layers) {
    const blob = await pushBlob(target, repo, layer.payload, layer.mediaType ?? SIMPLE_SIGNING);
    descriptors.push({ ...blob, annotations: layer.annotations });
  }
  const all = Array.from({ length: options.repeat ?? 1 }, () => descriptors).flat();
  const config = await pushBlob(
    target,
    repo,
    Buffer.from(
      goJson({
        architecture: '',
        created: '0001-01-01T00:00:00Z',
        history: [{ created: '0001-01-01T00:00:00Z' }],
        os: '',
        rootfs: { type: 'layers', diff_ids: all.map((d) => d.digest) },
        config: {},
      }),
    ),
    OCI_CONFIG,
  );
  return pushManifest(target, repo, `${image.digest.replace(':', '-')}.sig`, {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config,
    layers: all,
  });
}
