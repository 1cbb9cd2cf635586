import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { isVerifyError } from '../../src/errors.js';
import { RegistryClient } from '../../src/registry/client.js';
import { CERTIFICATE_ANNOTATION } from '../../src/sigstore/certificate.js';
import type { CertificateTrust } from '../../src/sigstore/signature-trust.js';
import type {
  ImageToVerify,
  LayerVerdict,
  SignatureRejectionCode,
} from '../../src/sigstore/verify-signatures.js';
import { createTestKey, makeCosignPayload, pushCosignSignatures } from '../helpers/cosign.js';
import type { SignatureLayer } from '../helpers/cosign.js';
import { LEAF_INTEGRATED_TIME, LEAF_NOT_AFTER } from '../helpers/fulcio.js';
import type { FulcioTestPki, TestCa, TestLeaf } from '../helpers/fulcio.js';
import { findRegistryBinary, pushImage, TestRegistry } from '../helpers/registry.js';
import type { PushTarget } from '../helpers/registry.js';
import { createFulcioFixture, EMAIL, ISSUER, keylessLayer, rekor } from './fulcio-fixture.js';
import type { FulcioFixture } from './fulcio-fixture.js';
import { verifyLayersFromRegistry } from './verify-from-registry.js';

const binary = await findRegistryBinary();

describe(
  'legacy keyless signatures (fetchSignatureLayers + verifyLayers) against a real docker-registry',
  { skip: 'skip' in binary ? binary.skip : false },
  () => {
    let registry: TestRegistry;
    let target: PushTarget;
    let client: RegistryClient;
    let fixture: FulcioFixture;
    let pki: FulcioTestPki;
    let root: TestCa;
    let intermediate: TestCa;
    let fulcio: CertificateTrust;
    let repoCounter = 0;

    before(async () => {
      assert.ok('path' in binary);
      registry = await TestRegistry.start(binary.path);
      target = { url: registry.url };
      client = new RegistryClient({ retries: 0 });
      fixture = await createFulcioFixture();
      ({ pki, root, intermediate, fulcio } = fixture);
    });

    after(async () => {
      await client.close();
      await registry.stop();
      await pki.cleanup();
    });

    async function freshImage(): Promise<ImageToVerify & { name: string }> {
      const path = `cvo-test/keyless${++repoCounter}`;
      const image = await pushImage(target, path, 'v1');
      return {
        host: registry.host,
        path,
        digest: image.manifest.digest,
        name: `${registry.host}/${path}`,
      };
    }

    function fulcioLeaf(options: { emails?: readonly string[]; issuer?: TestCa } = {}) {
      return fixture.leaf(options);
    }

    async function verify(
      image: ImageToVerify,
      layers: readonly SignatureLayer[],
      trust: CertificateTrust = fulcio,
    ): Promise<LayerVerdict> {
      await pushCosignSignatures(target, image.path, image, layers);
      return verifyLayersFromRegistry(client, image, {
        trust,
        signedIdentity: { type: 'matchRepoDigestOrExact' },
        signal: AbortSignal.timeout(20_000),
      });
    }

    function assertRejected(verdict: LayerVerdict, code: SignatureRejectionCode): void {
      assert.equal(verdict.status, 'rejected', JSON.stringify(verdict));
      assert.ok(verdict.status === 'rejected');
      assert.equal(verdict.code, code, verdict.message);
    }

    it('verifies a keyless signature whose certificate is expired now', async () => {
      assert.ok(Date.now() > LEAF_NOT_AFTER.getTime());
      const image = await freshImage();
      const leaf = await fulcioLeaf();
      const payload = makeCosignPayload(`${image.name}:v1`, image.digest);
      const verdict = await verify(image, [
        keylessLayer(leaf, payload, { chainPem: intermediate.certPem + root.certPem }),
      ]);
      assert.equal(verdict.status, 'verified', JSON.stringify(verdict));
      const layer = verdict.signatures[0];
      assert.ok(layer?.status === 'verified');
      assert.equal(layer.oidcIssuer, ISSUER);
      assert.deepEqual(layer.emails, [EMAIL]);
      assert.equal(layer.rekor?.integratedTime, LEAF_INTEGRATED_TIME);
    });

    it('verifies a public-good-shaped signature: the intermediate only in the chain annotation', async () => {
      // Policies hold the Fulcio root alone; cosign's chain annotation carries the intermediate
      // and then the root, which containers/image leaves out.
      const rootOnly: CertificateTrust = {
        type: 'fulcio',
        fulcioCaPem: root.certPem,
        rekorKeyPem: rekor.publicKeyPem,
        oidcIssuer: ISSUER,
        signedEmail: EMAIL,
      };
      const image = await freshImage();
      const leaf = await fulcioLeaf();
      const payload = makeCosignPayload(`${image.name}:v1`, image.digest);
      const verdict = await verify(
        image,
        [keylessLayer(leaf, payload, { chainPem: intermediate.certPem + root.certPem })],
        rootOnly,
      );
      assert.equal(verdict.status, 'verified', JSON.stringify(verdict));
      // Without the annotation, or with the intermediate as its (unused) last certificate, no path.
      assertRejected(
        await verify(image, [keylessLayer(leaf, payload)], rootOnly),
        'CERTIFICATE_UNTRUSTED',
      );
      assertRejected(
        await verify(
          image,
          [keylessLayer(leaf, payload, { chainPem: intermediate.certPem })],
          rootOnly,
        ),
        'CERTIFICATE_UNTRUSTED',
      );
      assertRejected(
        await verify(
          image,
          [keylessLayer(leaf, payload, { chainPem: `${intermediate.certPem}not PEM` })],
          rootOnly,
        ),
        'CERTIFICATE_CHAIN_INVALID',
      );
    });

    it('ignores a forged intermediate placed in the chain annotation', async () => {
      const image = await freshImage();
      const forged = await pki.makeCa({
        subject: '/O=sigstore.dev/CN=sigstore-intermediate',
        codeSigningEku: true,
      });
      const leaf = await fulcioLeaf({ issuer: forged });
      const payload = makeCosignPayload(`${image.name}:v1`, image.digest);
      const verdict = await verify(image, [
        keylessLayer(leaf, payload, { chainPem: forged.certPem + root.certPem }),
      ]);
      assertRejected(verdict, 'CERTIFICATE_UNTRUSTED');
    });

    it('checks the certificate at the SET time', async () => {
      const image = await freshImage();
      const leaf = await fulcioLeaf();
      const payload = makeCosignPayload(`${image.name}:v1`, image.digest);
      const late = Math.floor(LEAF_NOT_AFTER.getTime() / 1000) + 1;
      assertRejected(
        await verify(image, [keylessLayer(leaf, payload, { integratedTime: late })]),
        'CERTIFICATE_EXPIRED',
      );
    });

    it('requires a Rekor SET, from the configured log, for this certificate', async () => {
      const image = await freshImage();
      const leaf = await fulcioLeaf();
      const payload = makeCosignPayload(`${image.name}:v1`, image.digest);
      assertRejected(
        await verify(image, [keylessLayer(leaf, payload, { withBundle: false })]),
        'REKOR_BUNDLE_MISSING',
      );
      assertRejected(
        await verify(image, [keylessLayer(leaf, payload, { rekorKey: createTestKey('p256') })]),
        'REKOR_LOG_ID_MISMATCH',
      );
      // An entry for another certificate: with another key, and with the very same key.
      const other = await fulcioLeaf();
      assertRejected(
        await verify(image, [keylessLayer(leaf, payload, { entryCertPem: other.certPem })]),
        'REKOR_ENTRY_MISMATCH',
      );
      const sameKey = await pki.issueLeaf({
        issuer: intermediate,
        emails: [EMAIL],
        issuerV1: ISSUER,
        key: leaf.key,
      });
      const rejected = await verify(image, [
        keylessLayer(leaf, payload, { entryCertPem: sameKey.certPem }),
      ]);
      assertRejected(rejected, 'REKOR_ENTRY_MISMATCH');
      assert.ok(rejected.status === 'rejected');
      assert.match(rejected.message, /another certificate/);
    });

    it('rejects a wrong email and a certificate-less layer', async () => {
      const image = await freshImage();
      const leaf = await fulcioLeaf({ emails: [`${EMAIL}.evil`] });
      const payload = makeCosignPayload(`${image.name}:v1`, image.digest);
      assertRejected(
        await verify(image, [keylessLayer(leaf, payload)]),
        'CERTIFICATE_SUBJECT_MISMATCH',
      );
      const good = await fulcioLeaf();
      const layer = keylessLayer(good, payload);
      const annotations = Object.fromEntries(
        Object.entries(layer.annotations).filter(([name]) => name !== CERTIFICATE_ANNOTATION),
      );
      assertRejected(await verify(image, [{ payload, annotations }]), 'CERTIFICATE_MISSING');
    });

    it('rejects a signature not made by the certificate key', async () => {
      const image = await freshImage();
      const leaf = await fulcioLeaf();
      const payload = makeCosignPayload(`${image.name}:v1`, image.digest);
      const impostor: TestLeaf = { certPem: leaf.certPem, key: createTestKey('p256') };
      assertRejected(await verify(image, [keylessLayer(impostor, payload)]), 'BAD_SIGNATURE');
    });

    it('verifies a PKI signature with a hostname subject, at the current time', async () => {
      const image = await freshImage();
      const pkiRoot = await pki.makeCa({ subject: '/O=Example/CN=Example Root' });
      const pkiIntermediate = await pki.makeCa({
        subject: '/O=Example/CN=Example Signing',
        issuer: pkiRoot,
      });
      const now = Date.now();
      const leaf = await pki.issueLeaf({
        issuer: pkiIntermediate,
        dnsNames: ['signer.example.com'],
        notBefore: new Date(now - 3600_000),
        notAfter: new Date(now + 86_400_000),
      });
      const payload = makeCosignPayload(`${image.name}:v1`, image.digest);
      const trust: CertificateTrust = {
        type: 'pki',
        caRootsPem: pkiRoot.certPem,
        caIntermediatesPem: pkiIntermediate.certPem,
        hostname: 'signer.example.com',
      };
      const layer = keylessLayer(leaf, payload, {
        withBundle: false,
        chainPem: pkiIntermediate.certPem,
      });
      const verdict = await verify(image, [layer], trust);
      assert.equal(verdict.status, 'verified', JSON.stringify(verdict));
      assertRejected(
        await verify(image, [layer], { ...trust, hostname: 'other.example.com' }),
        'CERTIFICATE_SUBJECT_MISMATCH',
      );
      // A chain annotation holding the intermediate alone does not stand in for configured
      // intermediates: its last certificate (the signer's claimed root) is never used.
      const withoutIntermediates: CertificateTrust = {
        type: 'pki',
        caRootsPem: pkiRoot.certPem,
        hostname: 'signer.example.com',
      };
      assertRejected(await verify(image, [layer], withoutIntermediates), 'CERTIFICATE_UNTRUSTED');
    });

    it('throws on an unusable root of trust', async () => {
      const image = await freshImage();
      await assert.rejects(
        verify(image, [], {
          type: 'fulcio',
          fulcioCaPem: 'nothing',
          rekorKeyPem: rekor.publicKeyPem,
          oidcIssuer: ISSUER,
          signedEmail: EMAIL,
        }),
        (err: unknown) => isVerifyError(err, 'CERTIFICATE_ROOTS_INVALID'),
      );
    });
  },
);
