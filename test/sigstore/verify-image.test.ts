import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { isVerifyError } from '../../src/errors.js';
import type { SigstoreErrorCode } from '../../src/errors.js';
import { RegistryClient } from '../../src/registry/client.js';
import { MAX_PAYLOAD_BYTES } from '../../src/sigstore/payload.js';
import type { TrustConfig } from '../../src/sigstore/signature-trust.js';
import type { SignedIdentity } from '../../src/sigstore/signed-identity.js';
import type { ImageToVerify, LayerVerdict } from '../../src/sigstore/verify-signatures.js';
import {
  BUNDLE_ANNOTATION,
  createTestKey,
  makeCosignPayload,
  makeRekorBundle,
  makeSignatureLayer,
  pushCosignSignatures,
  rekorLogId,
  SIGNATURE_ANNOTATION,
  signPayload,
} from '../helpers/cosign.js';
import type { SignatureLayer } from '../helpers/cosign.js';
import { findRegistryBinary, pushImage, TestRegistry } from '../helpers/registry.js';
import type { PushTarget } from '../helpers/registry.js';
import { verifyLayersFromRegistry } from './verify-from-registry.js';

const binary = await findRegistryBinary();
const signer = createTestKey('p256');
const rekor = createTestKey('p256');

describe(
  'legacy key signatures (fetchSignatureLayers + verifyLayers) against a real docker-registry',
  { skip: 'skip' in binary ? binary.skip : false },
  () => {
    let registry: TestRegistry;
    let target: PushTarget;
    let client: RegistryClient;
    let repoCounter = 0;

    before(async () => {
      assert.ok('path' in binary);
      registry = await TestRegistry.start(binary.path);
      target = { url: registry.url };
      client = new RegistryClient({ retries: 0 });
    });

    after(async () => {
      await client.close();
      await registry.stop();
    });

    /** A fresh repository with one image; returns it by digest. */
    async function freshImage(tag = 'v1'): Promise<ImageToVerify & { name: string }> {
      const path = `cvo-test/sig${++repoCounter}`;
      const image = await pushImage(target, path, tag);
      return {
        host: registry.host,
        path,
        digest: image.manifest.digest,
        name: `${registry.host}/${path}`,
      };
    }

    interface VerifyOptions {
      readonly publicKeyPem: string;
      readonly rekorKeyPem?: string;
      readonly signedIdentity: SignedIdentity;
      readonly signal: AbortSignal;
    }

    function options(extra: Partial<VerifyOptions> = {}): VerifyOptions {
      return {
        publicKeyPem: signer.publicKeyPem,
        signedIdentity: { type: 'matchRepoDigestOrExact' },
        signal: AbortSignal.timeout(20_000),
        ...extra,
      };
    }

    /** Fetches the image's `.sig` layers, then verifies them with the policy's key. */
    function verifyImageSignatures(
      registry: RegistryClient,
      image: ImageToVerify,
      { publicKeyPem, rekorKeyPem, ...rest }: VerifyOptions,
    ): Promise<LayerVerdict> {
      const trust: TrustConfig = {
        type: 'publicKey',
        keyPem: publicKeyPem,
        ...(rekorKeyPem !== undefined ? { rekorKeyPem } : {}),
      };
      return verifyLayersFromRegistry(registry, image, { trust, ...rest });
    }

    async function verify(
      image: ImageToVerify,
      layers: readonly SignatureLayer[],
      extra: Partial<VerifyOptions> = {},
    ): Promise<LayerVerdict> {
      await pushCosignSignatures(target, image.path, image, layers);
      return verifyImageSignatures(client, image, options(extra));
    }

    function assertRejected(
      verdict: LayerVerdict,
      code: SigstoreErrorCode,
    ): asserts verdict is Extract<LayerVerdict, { status: 'rejected' }> {
      assert.equal(verdict.status, 'rejected', JSON.stringify(verdict));
      assert.equal(verdict.code, code, verdict.message);
    }

    it('verifies a cosign signature, with evidence per layer', async () => {
      const image = await freshImage();
      const payload = makeCosignPayload(`${image.name}:v1`, image.digest);
      const verdict = await verify(image, [makeSignatureLayer(signer, payload)]);
      assert.equal(verdict.status, 'verified', JSON.stringify(verdict));
      assert.equal(verdict.signatures.length, 1);
      assert.equal(verdict.signatures[0]?.status, 'verified');
    });

    // A P-521 key said "not verified" where containers/image verifies (SHA-256 over any curve).
    for (const kind of ['p384', 'p521', 'rsa', 'ed25519'] as const) {
      it(`verifies a signature by a ${kind} PublicKey, as containers/image does`, async () => {
        const image = await freshImage();
        const key = createTestKey(kind);
        const payload = makeCosignPayload(`${image.name}:v1`, image.digest);
        const verdict = await verify(image, [makeSignatureLayer(key, payload)], {
          publicKeyPem: key.publicKeyPem,
        });
        assert.equal(verdict.status, 'verified', JSON.stringify(verdict));
      });
    }

    it('verifies with a Rekor SET when a Rekor key is configured', async () => {
      const image = await freshImage();
      const payload = makeCosignPayload(`${image.name}:v1`, image.digest);
      const verdict = await verify(
        image,
        [makeSignatureLayer(signer, payload, { rekorKey: rekor, integratedTime: 1_700_000_123 })],
        { rekorKeyPem: rekor.publicKeyPem },
      );
      assert.equal(verdict.status, 'verified', JSON.stringify(verdict));
      const layer = verdict.signatures[0];
      assert.ok(layer?.status === 'verified');
      assert.equal(layer.rekor?.integratedTime, 1_700_000_123);
    });

    it('passes when one of several layers verifies, listing each outcome', async () => {
      const image = await freshImage();
      const stranger = createTestKey('p256');
      const payload = makeCosignPayload(`${image.name}:v1`, image.digest);
      const verdict = await verify(image, [
        makeSignatureLayer(stranger, payload),
        { payload: Buffer.from('{}'), annotations: {}, mediaType: 'application/octet-stream' },
        makeSignatureLayer(signer, payload),
      ]);
      assert.equal(verdict.status, 'verified');
      assert.deepEqual(
        verdict.signatures.map((l) => [l.status, l.status === 'rejected' ? l.code : undefined]),
        [
          ['rejected', 'BAD_SIGNATURE'],
          ['skipped', undefined],
          ['verified', undefined],
        ],
      );
    });

    it('reports an image without a .sig tag as unsigned, not as an error', async () => {
      const image = await freshImage();
      const verdict = await verifyImageSignatures(client, image, options());
      assert.equal(verdict.status, 'unsigned');
      assert.equal(verdict.location.tag, `${image.digest.replace(':', '-')}.sig`);
    });

    it('reports an image in a repository that does not exist as unsigned', async () => {
      const image = await freshImage();
      const verdict = await verifyImageSignatures(
        client,
        { ...image, path: 'cvo-test/nothing-here' },
        options(),
      );
      assert.equal(verdict.status, 'unsigned');
    });

    it('rejects a signature made for another digest, copied to this image', async () => {
      const image = await freshImage();
      const other = await freshImage();
      const payload = makeCosignPayload(`${image.name}:v1`, other.digest);
      assertRejected(
        await verify(image, [makeSignatureLayer(signer, payload)]),
        'PAYLOAD_DIGEST_MISMATCH',
      );
    });

    it('rejects a signature copied from another repository (identity mismatch)', async () => {
      const image = await freshImage();
      // The same image content pushed elsewhere, signed there: digest equal, identity not.
      const payload = makeCosignPayload(`${registry.host}/cvo-test/elsewhere:v1`, image.digest);
      assertRejected(
        await verify(image, [makeSignatureLayer(signer, payload)]),
        'IDENTITY_MISMATCH',
      );
    });

    it('rejects a name-only identity (what plain cosign writes) under MatchRepoDigestOrExact', async () => {
      const image = await freshImage();
      const payload = makeCosignPayload(image.name, image.digest);
      assertRejected(
        await verify(image, [makeSignatureLayer(signer, payload)]),
        'IDENTITY_MISMATCH',
      );
      const verdict = await verifyImageSignatures(
        client,
        image,
        options({ signedIdentity: { type: 'matchRepository' } }),
      );
      assert.equal(verdict.status, 'verified');
    });

    it('rejects tag substitution when the image is asked for by tag and digest', async () => {
      const image = await freshImage('4.18.1');
      const payload = makeCosignPayload(`${image.name}:4.18.0`, image.digest);
      await pushCosignSignatures(target, image.path, image, [makeSignatureLayer(signer, payload)]);
      assertRejected(
        await verifyImageSignatures(client, { ...image, tag: '4.18.1' }, options()),
        'IDENTITY_MISMATCH',
      );
      const exact = await verifyImageSignatures(client, { ...image, tag: '4.18.0' }, options());
      assert.equal(exact.status, 'verified');
    });

    it('rejects a signature by another key', async () => {
      const image = await freshImage();
      const payload = makeCosignPayload(`${image.name}:v1`, image.digest);
      assertRejected(
        await verify(image, [makeSignatureLayer(createTestKey('p256'), payload)]),
        'BAD_SIGNATURE',
      );
    });

    it('requires a Rekor bundle when a Rekor key is configured', async () => {
      const image = await freshImage();
      const payload = makeCosignPayload(`${image.name}:v1`, image.digest);
      assertRejected(
        await verify(image, [makeSignatureLayer(signer, payload)], {
          rekorKeyPem: rekor.publicKeyPem,
        }),
        'REKOR_BUNDLE_MISSING',
      );
    });

    it('rejects a Rekor SET for another key or another payload', async () => {
      const image = await freshImage();
      const payload = makeCosignPayload(`${image.name}:v1`, image.digest);
      const signature = signPayload(signer, payload);
      const otherPayload = makeCosignPayload(`${image.name}:v2`, image.digest);
      const layer = (bundle: string): SignatureLayer => ({
        payload,
        annotations: {
          [SIGNATURE_ANNOTATION]: signature.toString('base64'),
          [BUNDLE_ANNOTATION]: bundle,
        },
      });
      const verdict = await verify(
        image,
        [
          layer(
            makeRekorBundle({
              rekorKey: rekor,
              signerPem: createTestKey('p256').publicKeyPem,
              signature,
              payload,
            }),
          ),
          layer(
            makeRekorBundle({
              rekorKey: rekor,
              signerPem: signer.publicKeyPem,
              signature,
              payload: otherPayload,
            }),
          ),
        ],
        { rekorKeyPem: rekor.publicKeyPem },
      );
      assertRejected(verdict, 'REKOR_ENTRY_MISMATCH');
      assert.deepEqual(
        verdict.signatures.map((l) => (l.status === 'rejected' ? l.code : l.status)),
        ['REKOR_ENTRY_MISMATCH', 'REKOR_ENTRY_MISMATCH'],
      );
    });

    it('rejects a Rekor SET signed by another Rekor key', async () => {
      const image = await freshImage();
      const payload = makeCosignPayload(`${image.name}:v1`, image.digest);
      const rogue = createTestKey('p256');
      assertRejected(
        await verify(image, [makeSignatureLayer(signer, payload, { rekorKey: rogue })], {
          rekorKeyPem: rekor.publicKeyPem,
        }),
        'REKOR_LOG_ID_MISMATCH',
      );
      const signature = signPayload(signer, payload);
      const forged = makeRekorBundle({
        rekorKey: rogue,
        logID: rekorLogId(rekor),
        signerPem: signer.publicKeyPem,
        signature,
        payload,
      });
      assertRejected(
        await verify(
          image,
          [
            {
              payload,
              annotations: {
                [SIGNATURE_ANNOTATION]: signature.toString('base64'),
                [BUNDLE_ANNOTATION]: forged,
              },
            },
          ],
          { rekorKeyPem: rekor.publicKeyPem },
        ),
        'REKOR_SET_INVALID',
      );
    });

    it('rejects a signed payload with duplicate JSON keys', async () => {
      const image = await freshImage();
      const text = makeCosignPayload(`${image.name}:v1`, image.digest)
        .toString()
        .replace(
          '"docker-reference":',
          `"docker-reference":"${registry.host}/cvo-test/elsewhere:v1","docker-reference":`,
        );
      assertRejected(
        await verify(image, [makeSignatureLayer(signer, Buffer.from(text))]),
        'PAYLOAD_INVALID',
      );
    });

    it('reads a base64 signature with line breaks as Go does, and refuses other stray text', async () => {
      const image = await freshImage();
      const payload = makeCosignPayload(`${image.name}:v1`, image.digest);
      const layer = makeSignatureLayer(signer, payload);
      const b64 = layer.annotations[SIGNATURE_ANNOTATION]!;
      const withText = (text: string) => [
        { payload, annotations: { [SIGNATURE_ANNOTATION]: text } },
      ];
      // Real cosign PKI signatures end with a newline; Go's StdEncoding ignores CR/LF anywhere.
      assert.equal((await verify(image, withText(`${b64}\n`))).status, 'verified');
      assert.equal(
        (await verify(image, withText(`${b64.slice(0, 8)}\r\n${b64.slice(8)}`))).status,
        'verified',
      );
      assertRejected(
        await verify(image, withText(`${b64.slice(0, 8)} ${b64.slice(8)}`)),
        'SIGNATURE_ENCODING',
      );
    });

    it('rejects an oversized payload blob without parsing it', async () => {
      const image = await freshImage();
      const payload = makeCosignPayload(`${image.name}:v1`, image.digest, {
        padding: 'x'.repeat(MAX_PAYLOAD_BYTES),
      });
      assertRejected(
        await verify(image, [makeSignatureLayer(signer, payload)]),
        'PAYLOAD_OVERSIZE',
      );
    });

    it('rejects a signature manifest with thousands of layers quickly, fetching no blob', async () => {
      const image = await freshImage();
      const payload = makeCosignPayload(`${image.name}:v1`, image.digest);
      await pushCosignSignatures(target, image.path, image, [makeSignatureLayer(signer, payload)], {
        repeat: 5000,
      });
      const started = performance.now();
      const verdict = await verifyImageSignatures(client, image, options());
      assertRejected(verdict, 'TOO_MANY_SIGNATURES');
      assert.ok(performance.now() - started < 2_000, 'the layer cap applies before any blob fetch');
    });

    it('stops with ABORTED when the signal fires', async () => {
      const image = await freshImage();
      const controller = new AbortController();
      controller.abort();
      await assert.rejects(
        verifyImageSignatures(client, image, options({ signal: controller.signal })),
        (err) => isVerifyError(err, 'ABORTED'),
      );
    });

    it('throws configuration errors before any request', async () => {
      const image = await freshImage();
      await assert.rejects(
        verifyImageSignatures(client, image, options({ publicKeyPem: 'nope' })),
        (err) => isVerifyError(err, 'INVALID_PUBLIC_KEY'),
      );
      await assert.rejects(
        verifyImageSignatures(
          client,
          image,
          options({
            signedIdentity: { type: 'remapIdentity', prefix: 'a:b/c', signedPrefix: 'x' },
          }),
        ),
        (err) => isVerifyError(err, 'INVALID_POLICY'),
      );
    });
  },
);
