import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { RegistryClient } from '../../src/registry/client.js';
import type { CertificateTrust, PublicKeyTrust } from '../../src/sigstore/signature-trust.js';
import type {
  BundleVerdict,
  ImageToVerify,
  SignatureRejectionCode,
} from '../../src/sigstore/verify-signatures.js';
import {
  BUNDLE_MEDIA_TYPE,
  makeCosignV3Statement,
  makeStatement,
  makeTestBundle,
} from '../helpers/bundle.js';
import { createTestKey } from '../helpers/cosign.js';
import { LEAF_INTEGRATED_TIME } from '../helpers/fulcio.js';
import type { FulcioTestPki, TestCa } from '../helpers/fulcio.js';
import {
  findRegistryBinary,
  pushImage,
  pushManifest,
  pushReferrer,
  TestRegistry,
} from '../helpers/registry.js';
import type { PushedDescriptor, PushTarget } from '../helpers/registry.js';
import { createFulcioFixture, EMAIL, ISSUER, keylessBundle, rekor } from './fulcio-fixture.js';
import type { FulcioFixture } from './fulcio-fixture.js';
import { verifyBundlesFromRegistry } from './verify-from-registry.js';

const binary = await findRegistryBinary();

describe(
  'cosign v3 bundles (fetchBundleReferrers + verifyBundles) against a real docker-registry',
  { skip: 'skip' in binary ? binary.skip : false },
  () => {
    let registry: TestRegistry;
    let target: PushTarget;
    let client: RegistryClient;
    let fixture: FulcioFixture;
    let pki: FulcioTestPki;
    let intermediate: TestCa;
    let fulcio: CertificateTrust;
    let repoCounter = 0;

    before(async () => {
      assert.ok('path' in binary);
      registry = await TestRegistry.start(binary.path);
      target = { url: registry.url };
      client = new RegistryClient({ retries: 0 });
      fixture = await createFulcioFixture();
      ({ pki, intermediate, fulcio } = fixture);
    });

    after(async () => {
      await client.close();
      await registry.stop();
      await pki.cleanup();
    });

    async function freshImage(): Promise<
      ImageToVerify & { name: string; descriptor: PushedDescriptor }
    > {
      const path = `cvo-test/bundle${++repoCounter}`;
      const image = await pushImage(target, path, 'v1');
      return {
        host: registry.host,
        path,
        digest: image.manifest.digest,
        name: `${registry.host}/${path}`,
        descriptor: image.manifest,
      };
    }

    function leaf(options: { emails?: readonly string[]; issuer?: TestCa } = {}) {
      return fixture.leaf(options);
    }

    function u16(n: number): Buffer {
      const b = Buffer.alloc(2);
      b.writeUInt16BE(n);
      return b;
    }

    function verify(
      image: ImageToVerify,
      trust: CertificateTrust | PublicKeyTrust = fulcio,
    ): Promise<BundleVerdict> {
      return verifyBundlesFromRegistry(client, image, {
        trust,
        signedIdentity: { type: 'matchRepoDigestOrExact' },
        signal: AbortSignal.timeout(20_000),
      });
    }

    function assertRejected(verdict: BundleVerdict, code: SignatureRejectionCode): void {
      assert.equal(verdict.status, 'rejected', JSON.stringify(verdict));
      assert.equal(verdict.code, code, JSON.stringify(verdict));
    }

    it('verifies a DSSE bundle referrer from a Fulcio certificate (tag fallback)', async () => {
      const image = await freshImage();
      const signer = await leaf();
      const bundle = keylessBundle(
        signer,
        makeStatement(`${image.name}@${image.digest}`, image.digest),
      );
      await pushReferrer(target, image.path, image.descriptor, BUNDLE_MEDIA_TYPE, bundle);
      const verdict = await verify(image);
      assert.equal(verdict.status, 'verified', JSON.stringify(verdict));
      assert.equal(verdict.signatures.length, 1);
      const [outcome] = verdict.signatures;
      assert.equal(outcome?.status, 'verified');
      assert.deepEqual(outcome.emails, [EMAIL]);
      assert.equal(outcome.integratedTime, LEAF_INTEGRATED_TIME);
      assert.equal(outcome.dockerReference, `${image.name}@${image.digest}`);
    });

    it('reports an image without bundle referrers as unsigned', async () => {
      const image = await freshImage();
      const verdict = await verify(image);
      assert.deepEqual(verdict, {
        status: 'unsigned',
        image: `${image.name}@${image.digest}`,
        location: { source: 'tag' },
        detail: `no application/vnd.dev.sigstore.bundle.v0.3+json referrers of ${image.digest}`,
      });
    });

    it('rejects a bundle whose statement signs another digest', async () => {
      const image = await freshImage();
      const other = await freshImage();
      const signer = await leaf();
      const bundle = keylessBundle(
        signer,
        makeStatement(`${image.name}@${image.digest}`, other.digest),
      );
      await pushReferrer(target, image.path, image.descriptor, BUNDLE_MEDIA_TYPE, bundle);
      assertRejected(await verify(image), 'BUNDLE_SUBJECT_MISMATCH');
    });

    it('rejects a referrer whose manifest subject is another digest', async () => {
      const image = await freshImage();
      const signer = await leaf();
      const bundle = keylessBundle(
        signer,
        makeStatement(`${image.name}@${image.digest}`, image.digest),
      );
      // The referrer manifest refers to an other image, but is listed under this image's tag.
      const other = await pushImage(target, image.path, 'other');
      const pushed = await pushReferrer(
        target,
        image.path,
        other.manifest,
        BUNDLE_MEDIA_TYPE,
        bundle,
      );
      await pushManifest(
        target,
        image.path,
        image.digest.replace(':', '-'),
        {
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: [
            {
              mediaType: 'application/vnd.oci.image.manifest.v1+json',
              digest: pushed.digest,
              size: pushed.size,
              artifactType: BUNDLE_MEDIA_TYPE,
            },
          ],
        },
        'application/vnd.oci.image.index.v1+json',
      );
      assertRejected(await verify(image), 'BUNDLE_SUBJECT_MISMATCH');
    });

    it('refuses a bundle chain carrying a forged intermediate', async () => {
      const image = await freshImage();
      const forgedRoot = await pki.makeCa({ subject: '/O=sigstore.dev/CN=sigstore' });
      const forged = await pki.makeCa({
        subject: '/O=sigstore.dev/CN=sigstore-intermediate',
        issuer: forgedRoot,
        codeSigningEku: true,
      });
      const signer = await leaf({ issuer: forged });
      const bundle = keylessBundle(
        signer,
        makeStatement(`${image.name}@${image.digest}`, image.digest),
        {
          chainPems: [signer.certPem, forged.certPem, forgedRoot.certPem],
        },
      );
      await pushReferrer(target, image.path, image.descriptor, BUNDLE_MEDIA_TYPE, bundle);
      assertRejected(await verify(image), 'BUNDLE_INVALID');
    });

    it('rejects a v0.3 bundle carrying x509CertificateChain, even a genuine one', async () => {
      const image = await freshImage();
      const signer = await leaf();
      const bundle = keylessBundle(
        signer,
        makeStatement(`${image.name}@${image.digest}`, image.digest),
        {
          chainPems: [signer.certPem, intermediate.certPem],
        },
      );
      await pushReferrer(target, image.path, image.descriptor, BUNDLE_MEDIA_TYPE, bundle);
      const verdict = await verify(image);
      assertRejected(verdict, 'BUNDLE_INVALID');
      assert.match(verdict.status === 'rejected' ? verdict.message : '', /x509CertificateChain/);
    });

    it('verifies a Fulcio certificate carrying SCTs although no CT log key is configured', async () => {
      // One SCT from an unknown log: @sigstore/verify rejects it when it sees the certificate
      // ("SCT verification failed"); containers/image does not read SCTs, and neither do we.
      const sct = Buffer.concat([
        Buffer.from([0]),
        Buffer.alloc(32, 0xaa),
        Buffer.from('0000019400000000', 'hex'),
        Buffer.from([0, 0, 4, 3, 0, 8]),
        Buffer.alloc(8, 0x55),
      ]);
      const list = Buffer.concat([u16(sct.length + 2), u16(sct.length), sct]);
      const value = Buffer.concat([Buffer.from([0x04, list.length]), list]);
      const image = await freshImage();
      const signer = await pki.issueLeaf({
        issuer: intermediate,
        emails: [EMAIL],
        issuerV1: ISSUER,
        issuerV2: ISSUER,
        extraExtensions: [`1.3.6.1.4.1.11129.2.4.2=DER:${value.toString('hex')}`],
      });
      await pushReferrer(
        target,
        image.path,
        image.descriptor,
        BUNDLE_MEDIA_TYPE,
        keylessBundle(signer, makeStatement(`${image.name}@${image.digest}`, image.digest)),
      );
      const verdict = await verify(image);
      assert.equal(verdict.status, 'verified', JSON.stringify(verdict));
    });

    for (const [proof, code] of [
      ['wrong-root', 'REKOR_SET_INVALID'],
      ['foreign-key', 'REKOR_SET_INVALID'],
      ['none', 'REKOR_BUNDLE_INVALID'],
    ] as const) {
      it(`rejects a log entry whose inclusion proof is ${proof} (the SET alone is valid)`, async () => {
        const image = await freshImage();
        const signer = await leaf();
        const bundle = keylessBundle(
          signer,
          makeStatement(`${image.name}@${image.digest}`, image.digest),
          { inclusionProof: proof, foreignKey: createTestKey('p256') },
        );
        await pushReferrer(target, image.path, image.descriptor, BUNDLE_MEDIA_TYPE, bundle);
        assertRejected(await verify(image), code);
      });
    }

    it('ignores log entries under a PublicKey policy without a Rekor key (as containers/image)', async () => {
      const key = createTestKey('p256');
      const image = await freshImage();
      const statement = makeStatement(`${image.name}@${image.digest}`, image.digest);
      // A log entry from a log we were not told to trust, whose proof does not even verify.
      const bundle = makeTestBundle({
        signer: key,
        statement,
        rekorKey: createTestKey('p256'),
        inclusionProof: 'wrong-root',
      });
      await pushReferrer(target, image.path, image.descriptor, BUNDLE_MEDIA_TYPE, bundle);
      const keyOnly: PublicKeyTrust = { type: 'publicKey', keyPem: key.publicKeyPem };
      assert.equal((await verify(image, keyOnly)).status, 'verified');
      // The same bundle once the policy names a Rekor key: the entry must then verify.
      assertRejected(
        await verify(image, { ...keyOnly, rekorKeyPem: rekor.publicKeyPem }),
        'REKOR_LOG_ID_MISMATCH',
      );
    });

    for (const email of ['other@example.com', `x${EMAIL}`, `${EMAIL}.evil.com`]) {
      it(`rejects a certificate for ${email}`, async () => {
        const image = await freshImage();
        const signer = await leaf({ emails: [email] });
        const bundle = keylessBundle(
          signer,
          makeStatement(`${image.name}@${image.digest}`, image.digest),
        );
        await pushReferrer(target, image.path, image.descriptor, BUNDLE_MEDIA_TYPE, bundle);
        assertRejected(await verify(image), 'CERTIFICATE_SUBJECT_MISMATCH');
      });
    }

    it('rejects a tampered DSSE signature', async () => {
      const image = await freshImage();
      const signer = await leaf();
      const bundle = keylessBundle(
        signer,
        makeStatement(`${image.name}@${image.digest}`, image.digest),
        {
          tamperSignature: true,
        },
      );
      await pushReferrer(target, image.path, image.descriptor, BUNDLE_MEDIA_TYPE, bundle);
      assertRejected(await verify(image), 'BAD_SIGNATURE');
    });

    it('rejects a Fulcio bundle without a log entry', async () => {
      const image = await freshImage();
      const signer = await leaf();
      const bundle = makeTestBundle({
        signer: signer.key,
        certPem: signer.certPem,
        statement: makeStatement(`${image.name}@${image.digest}`, image.digest),
      });
      await pushReferrer(target, image.path, image.descriptor, BUNDLE_MEDIA_TYPE, bundle);
      assertRejected(await verify(image), 'REKOR_BUNDLE_MISSING');
    });

    it('rejects a log entry signed by another Rekor key', async () => {
      const image = await freshImage();
      const signer = await leaf();
      const bundle = keylessBundle(
        signer,
        makeStatement(`${image.name}@${image.digest}`, image.digest),
        {
          rekorKey: createTestKey('p256'),
        },
      );
      await pushReferrer(target, image.path, image.descriptor, BUNDLE_MEDIA_TYPE, bundle);
      assertRejected(await verify(image), 'REKOR_LOG_ID_MISMATCH');
    });

    it('verifies a public-key bundle and rejects one from another key', async () => {
      const key = createTestKey('p256');
      const trust: PublicKeyTrust = { type: 'publicKey', keyPem: key.publicKeyPem };
      const image = await freshImage();
      const statement = makeStatement(`${image.name}@${image.digest}`, image.digest);
      await pushReferrer(
        target,
        image.path,
        image.descriptor,
        BUNDLE_MEDIA_TYPE,
        makeTestBundle({ signer: key, statement }),
      );
      assert.equal((await verify(image, trust)).status, 'verified');

      const other = await freshImage();
      await pushReferrer(
        target,
        other.path,
        other.descriptor,
        BUNDLE_MEDIA_TYPE,
        makeTestBundle({
          signer: createTestKey('p256'),
          statement: makeStatement(`${other.name}@${other.digest}`, other.digest),
        }),
      );
      assertRejected(await verify(other, trust), 'BAD_SIGNATURE');
    });

    // Attestations are signed claims about an image (a "do not ship" scan result among them):
    // made by the policy's own key and naming the image, they still never count as a signature.
    for (const type of [
      'https://slsa.dev/provenance/v1',
      'https://cyclonedx.org/bom',
      'https://cosign.sigstore.dev/attestation/vuln/v1',
      'https://example.com/custom',
      'https://sigstore.dev/cosign/sign/v2',
    ]) {
      it(`rejects an attestation with predicateType ${type} as not a signature`, async () => {
        const key = createTestKey('p256');
        const trust: PublicKeyTrust = { type: 'publicKey', keyPem: key.publicKeyPem };
        const image = await freshImage();
        const statement = makeStatement(`${image.name}@${image.digest}`, image.digest, {
          type,
          body: { verdict: 'do not ship' },
        });
        await pushReferrer(
          target,
          image.path,
          image.descriptor,
          BUNDLE_MEDIA_TYPE,
          makeTestBundle({ signer: key, statement }),
        );
        const verdict = await verify(image, trust);
        assertRejected(verdict, 'BUNDLE_NOT_A_SIGNATURE');
        assert.match(verdict.status === 'rejected' ? verdict.message : '', /attestation/);
      });
    }

    it('rejects a statement without predicateType, saying so', async () => {
      const key = createTestKey('p256');
      const trust: PublicKeyTrust = { type: 'publicKey', keyPem: key.publicKeyPem };
      const image = await freshImage();
      const statement = Buffer.from(
        JSON.stringify({
          _type: 'https://in-toto.io/Statement/v1',
          subject: [
            {
              name: `${image.name}@${image.digest}`,
              digest: { sha256: image.digest.slice('sha256:'.length) },
            },
          ],
          predicate: {},
        }),
      );
      await pushReferrer(
        target,
        image.path,
        image.descriptor,
        BUNDLE_MEDIA_TYPE,
        makeTestBundle({ signer: key, statement }),
      );
      const verdict = await verify(image, trust);
      assertRejected(verdict, 'BUNDLE_NOT_A_SIGNATURE');
      assert.match(verdict.status === 'rejected' ? verdict.message : '', /no predicateType/);
    });

    it('verifies the signature beside an attestation of the same image', async () => {
      const key = createTestKey('p256');
      const trust: PublicKeyTrust = { type: 'publicKey', keyPem: key.publicKeyPem };
      const image = await freshImage();
      const name = `${image.name}@${image.digest}`;
      for (const statement of [
        makeStatement(name, image.digest, { type: 'https://slsa.dev/provenance/v1' }),
        makeStatement(name, image.digest),
      ]) {
        await pushReferrer(
          target,
          image.path,
          image.descriptor,
          BUNDLE_MEDIA_TYPE,
          makeTestBundle({ signer: key, statement }),
        );
      }
      assert.equal((await verify(image, trust)).status, 'verified');
    });

    it('rejects a name-only statement subject (as for legacy identities)', async () => {
      const image = await freshImage();
      const signer = await leaf();
      const bundle = keylessBundle(signer, makeStatement(image.name, image.digest));
      await pushReferrer(target, image.path, image.descriptor, BUNDLE_MEDIA_TYPE, bundle);
      assertRejected(await verify(image), 'IDENTITY_MISMATCH');
    });

    it("rejects cosign v3's digest-only statement, saying why (no identity to match)", async () => {
      const image = await freshImage();
      const signer = await leaf();
      const bundle = keylessBundle(signer, makeCosignV3Statement(image.digest));
      await pushReferrer(target, image.path, image.descriptor, BUNDLE_MEDIA_TYPE, bundle);
      const verdict = await verify(image);
      assertRejected(verdict, 'IDENTITY_MISMATCH');
      assert.match(verdict.status === 'rejected' ? verdict.message : '', /names no image/);
    });

    it('rejects a statement naming another repository', async () => {
      const image = await freshImage();
      const signer = await leaf();
      const bundle = keylessBundle(
        signer,
        makeStatement(`${registry.host}/elsewhere/repo@${image.digest}`, image.digest),
      );
      await pushReferrer(target, image.path, image.descriptor, BUNDLE_MEDIA_TYPE, bundle);
      assertRejected(await verify(image), 'IDENTITY_MISMATCH');
    });
  },
);
