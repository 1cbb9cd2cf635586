// The pure verification core on in-memory data: no registry, no network. What the registry
// tests reach only through fetchSignatureLayers / fetchBundleReferrers is checked here directly.
import assert from 'node:assert/strict';
import { createHash, createPublicKey } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { isVerifyError, VerifyError } from '../../src/errors.js';
import { CERTIFICATE_ANNOTATION } from '../../src/sigstore/certificate.js';
import { SIMPLE_SIGNING_MEDIA_TYPE } from '../../src/sigstore/payload.js';
import { MAX_PARSED_TRUSTS, parseSignatureTrust } from '../../src/sigstore/signature-trust.js';
import type { SignatureTrust, TrustConfig } from '../../src/sigstore/signature-trust.js';
import type { SignedIdentity } from '../../src/sigstore/signed-identity.js';
import { createSignatureVerifier, resolveImage } from '../../src/sigstore/verify-signatures.js';
import type {
  FetchedBlob,
  FetchedBundles,
  FetchedLayer,
  FetchedLayers,
  LayerVerdict,
  SignatureVerifier,
} from '../../src/sigstore/verify-signatures.js';
import { makeStatement, makeTestBundle } from '../helpers/bundle.js';
import {
  BUNDLE_ANNOTATION,
  createTestKey,
  makeCosignPayload,
  makeSignatureLayer,
  SIGNATURE_ANNOTATION,
  signPayload,
} from '../helpers/cosign.js';
import type { SignatureLayer } from '../helpers/cosign.js';
import { LEAF_INTEGRATED_TIME } from '../helpers/fulcio.js';
import type { TestLeaf } from '../helpers/fulcio.js';
import {
  createFulcioFixture,
  EMAIL,
  ISSUER,
  keylessBundle,
  keylessLayer,
  rekor,
} from './fulcio-fixture.js';
import type { FulcioFixture } from './fulcio-fixture.js';

const NAME = 'registry.example.com/ocp/release';
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const MANIFEST_DIGEST = `sha256:${'cd'.repeat(32)}`;
const image = resolveImage({ host: 'registry.example.com', path: 'ocp/release', digest: DIGEST });
const TAG = `${DIGEST.replace(':', '-')}.sig`;
const BY_TAG: SignedIdentity = { type: 'matchRepoDigestOrExact' };

const signer = createTestKey('p256');
const payload = makeCosignPayload(`${NAME}:v1`, DIGEST);

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/**
 * A fetched layer, as the adapter records it: the payload fetched unless `payload` says
 * otherwise (`null`: not fetched).
 */
function fetched(
  layer: SignatureLayer,
  payload: FetchedBlob | null = { status: 'fetched', bytes: layer.payload },
): FetchedLayer {
  return {
    digest: sha256(layer.payload),
    mediaType: layer.mediaType ?? SIMPLE_SIGNING_MEDIA_TYPE,
    annotations: layer.annotations,
    ...(payload !== null ? { payload } : {}),
  };
}

function found(...layers: FetchedLayer[]): FetchedLayers {
  return {
    kind: 'found',
    image,
    location: { tag: TAG, digest: MANIFEST_DIGEST },
    signatures: layers,
  };
}

function verifier(trust: TrustConfig, identity: SignedIdentity = BY_TAG): SignatureVerifier {
  return createSignatureVerifier(parseSignatureTrust(trust), identity);
}

const byKey = verifier({ type: 'publicKey', keyPem: signer.publicKeyPem });

function assertRejected(
  verdict: { readonly status: string; readonly code?: string; readonly message?: string },
  code: string,
): void {
  assert.equal(verdict.status, 'rejected', JSON.stringify(verdict));
  assert.equal(verdict.code, code, verdict.message);
}

function codes(verdict: LayerVerdict): (string | undefined)[] {
  return verdict.status === 'unsigned'
    ? []
    : verdict.signatures.map((s) => (s.status === 'rejected' ? s.code : s.status));
}

describe('createSignatureVerifier', () => {
  const roots = { anchors: [], intermediates: [] };
  const key = parseSignatureTrust({ type: 'publicKey', keyPem: signer.publicKeyPem });
  const rekorKey = key.kind === 'key' ? key.key : undefined;
  assert.ok(rekorKey !== undefined);
  for (const [kind, trust, annotations] of [
    ['key', key, [SIGNATURE_ANNOTATION]],
    ['key with a Rekor key', { ...key, rekorKey }, [SIGNATURE_ANNOTATION]],
    ['pki', { kind: 'pki', roots, email: EMAIL }, [SIGNATURE_ANNOTATION, CERTIFICATE_ANNOTATION]],
    [
      'fulcio',
      { kind: 'fulcio', roots, rekorKey, oidcIssuer: ISSUER, signedEmail: EMAIL },
      [SIGNATURE_ANNOTATION, CERTIFICATE_ANNOTATION, BUNDLE_ANNOTATION],
    ],
  ] as const satisfies readonly (readonly [string, SignatureTrust, readonly string[]])[]) {
    it(`asks for the annotations a layer needs under ${kind} trust`, () => {
      assert.deepEqual(createSignatureVerifier(trust, BY_TAG).layerAnnotations, annotations);
    });
  }

  it('refuses a malformed signedIdentity before anything is verified', () => {
    assert.throws(
      () =>
        verifier(
          { type: 'publicKey', keyPem: signer.publicKeyPem },
          {
            type: 'remapIdentity',
            prefix: 'a:b/c',
            signedPrefix: 'x',
          },
        ),
      (err) => isVerifyError(err, 'INVALID_POLICY'),
    );
  });

  it('refuses an unreadable key as a configuration error', () => {
    assert.throws(
      () => parseSignatureTrust({ type: 'publicKey', keyPem: 'nope' }),
      (err) => isVerifyError(err, 'INVALID_PUBLIC_KEY'),
    );
  });
});

describe('parseSignatureTrust', () => {
  describe('when the same root of trust is read again', () => {
    it('returns what it parsed the first time (a payload reads one policy per component)', () => {
      const first = parseSignatureTrust({ type: 'publicKey', keyPem: signer.publicKeyPem });
      const again = parseSignatureTrust({ type: 'publicKey', keyPem: signer.publicKeyPem });
      assert.equal(again, first);
    });

    it('reads another content afresh, a field added included', () => {
      const plain = parseSignatureTrust({ type: 'publicKey', keyPem: signer.publicKeyPem });
      const other = createTestKey('p256');
      const another = parseSignatureTrust({ type: 'publicKey', keyPem: other.publicKeyPem });
      assert.notEqual(another, plain);
      assert.ok(another.kind === 'key' && plain.kind === 'key');
      assert.ok(!another.key.spki.equals(plain.key.spki));
      const withRekor = parseSignatureTrust({
        type: 'publicKey',
        keyPem: signer.publicKeyPem,
        rekorKeyPem: other.publicKeyPem,
      });
      assert.notEqual(withRekor, plain);
      assert.ok(withRekor.kind === 'key' && withRekor.rekorKey !== undefined);
    });

    it('refuses an unreadable key every time it is asked', () => {
      for (let i = 0; i < 3; i++) {
        assert.throws(
          () => parseSignatureTrust({ type: 'publicKey', keyPem: 'still not a key' }),
          (err) => isVerifyError(err, 'INVALID_PUBLIC_KEY'),
        );
      }
    });
  });

  describe('when more roots of trust are read than it keeps', () => {
    it('still returns each one parsed from its own content', () => {
      const keys = Array.from({ length: MAX_PARSED_TRUSTS + 3 }, () => createTestKey('p256'));
      for (const round of [0, 1]) {
        for (const key of keys) {
          const trust = parseSignatureTrust({ type: 'publicKey', keyPem: key.publicKeyPem });
          assert.ok(trust.kind === 'key', `round ${round}`);
          assert.ok(
            trust.key.spki.equals(
              createPublicKey(key.publicKeyPem).export({ format: 'der', type: 'spki' }),
            ),
          );
        }
      }
    });
  });
});

describe('verifyLayers', () => {
  describe('when nothing was found', () => {
    const shown = { image: `${NAME}@${DIGEST}`, location: { tag: TAG } };
    const refusal = `the signature manifest ${TAG} has more than 32 layers`;
    for (const [what, input, expected] of [
      [
        'is unsigned, with the registry detail',
        { kind: 'unsigned', image, location: { tag: TAG }, detail: 'manifest unknown' },
        { status: 'unsigned', ...shown, detail: 'manifest unknown' },
      ],
      [
        'is rejected with the fetch refusal and no layer outcome',
        {
          kind: 'refused',
          image,
          location: { tag: TAG },
          code: 'TOO_MANY_SIGNATURES',
          message: refusal,
        },
        {
          status: 'rejected',
          ...shown,
          code: 'TOO_MANY_SIGNATURES',
          message: refusal,
          signatures: [],
        },
      ],
    ] as const satisfies readonly (readonly [string, FetchedLayers, LayerVerdict])[]) {
      it(what, () => {
        assert.deepEqual(byKey.verifyLayers(input), expected);
      });
    }
  });

  describe('when the trust is a public key', () => {
    it('verifies, with exactly the evidence a key signature gives (no certificate fields)', () => {
      const layer = makeSignatureLayer(signer, payload);
      const verdict = byKey.verifyLayers(found(fetched(layer)));
      assert.deepEqual(verdict, {
        status: 'verified',
        image: `${NAME}@${DIGEST}`,
        location: { tag: TAG, digest: MANIFEST_DIGEST },
        signatures: [
          { index: 0, digest: sha256(payload), status: 'verified', dockerReference: `${NAME}:v1` },
        ],
      });
    });

    it('adds the Rekor evidence when a Rekor key is configured', () => {
      const withRekor = verifier({
        type: 'publicKey',
        keyPem: signer.publicKeyPem,
        rekorKeyPem: rekor.publicKeyPem,
      });
      const layer = makeSignatureLayer(signer, payload, {
        rekorKey: rekor,
        integratedTime: 1_700_000_123,
      });
      const verdict = withRekor.verifyLayers(found(fetched(layer)));
      assert.equal(verdict.status, 'verified', JSON.stringify(verdict));
      const [outcome] = verdict.signatures;
      assert.ok(outcome?.status === 'verified');
      assert.equal(outcome.rekor?.integratedTime, 1_700_000_123);
      assertRejected(
        withRekor.verifyLayers(found(fetched(makeSignatureLayer(signer, payload)))),
        'REKOR_BUNDLE_MISSING',
      );
    });

    it('skips other media types, and says so when no signature layer is left', () => {
      const other = { payload: Buffer.from('{}'), annotations: {}, mediaType: 'text/plain' };
      const verdict = byKey.verifyLayers(found(fetched(other, null), fetched(other, null)));
      assertRejected(verdict, 'SIGNATURE_MISSING');
      assert.ok(verdict.status === 'rejected');
      assert.equal(verdict.message, `${TAG} has no ${SIMPLE_SIGNING_MEDIA_TYPE} layer`);
      assert.deepEqual(codes(verdict), ['skipped', 'skipped']);
      assertRejected(byKey.verifyLayers(found()), 'SIGNATURE_MISSING');
    });

    it('reports the first rejection, and passes when any layer verifies', () => {
      const stranger = makeSignatureLayer(createTestKey('p256'), payload);
      const otherDigest = makeSignatureLayer(
        signer,
        makeCosignPayload(`${NAME}:v1`, MANIFEST_DIGEST),
      );
      const rejected = byKey.verifyLayers(found(fetched(stranger), fetched(otherDigest)));
      assertRejected(rejected, 'BAD_SIGNATURE');
      assert.deepEqual(codes(rejected), ['BAD_SIGNATURE', 'PAYLOAD_DIGEST_MISMATCH']);
      const passed = byKey.verifyLayers(
        found(fetched(stranger), fetched(makeSignatureLayer(signer, payload))),
      );
      assert.equal(passed.status, 'verified');
      assert.deepEqual(codes(passed), ['BAD_SIGNATURE', 'verified']);
    });

    for (const [claim, code] of [
      [`${NAME}:v2`, 'IDENTITY_MISMATCH'],
      [NAME, 'IDENTITY_MISMATCH'],
      ['registry.example.com/elsewhere:v1', 'IDENTITY_MISMATCH'],
    ] as const) {
      it(`rejects the claimed identity ${claim} for ${NAME}:v1`, () => {
        const byTag = resolveImage({
          host: 'registry.example.com',
          path: 'ocp/release',
          digest: DIGEST,
          tag: 'v1',
        });
        const layer = makeSignatureLayer(signer, makeCosignPayload(claim, DIGEST));
        const verdict = byKey.verifyLayers({ ...found(fetched(layer)), image: byTag });
        assertRejected(verdict, code);
      });
    }

    it('rejects a layer whose payload could not be fetched, with the fetch code', () => {
      const layer = makeSignatureLayer(signer, payload);
      const failure = new VerifyError('PAYLOAD_OVERSIZE', 'blob over the limit of 65536 bytes');
      const verdict = byKey.verifyLayers(
        found(fetched(layer, { status: 'failed', error: failure })),
      );
      assertRejected(verdict, 'PAYLOAD_OVERSIZE');
      assert.ok(verdict.status === 'rejected');
      assert.equal(verdict.message, 'blob over the limit of 65536 bytes');
    });

    it('rejects a layer without a signature without needing its payload', () => {
      const layer = { payload, annotations: {} };
      assertRejected(byKey.verifyLayers(found(fetched(layer, null))), 'SIGNATURE_MISSING');
    });

    it('fails closed on a signed layer whose payload was never fetched', () => {
      const layer = makeSignatureLayer(signer, payload);
      assertRejected(byKey.verifyLayers(found(fetched(layer, null))), 'PAYLOAD_UNAVAILABLE');
    });

    it('looks at nothing in the payload before its signature verifies', () => {
      const garbage = Buffer.from('not json');
      const unsigned = {
        payload: garbage,
        annotations: {
          [SIGNATURE_ANNOTATION]: signPayload(createTestKey('p256'), garbage).toString('base64'),
        },
      };
      assertRejected(byKey.verifyLayers(found(fetched(unsigned))), 'BAD_SIGNATURE');
      assertRejected(
        byKey.verifyLayers(found(fetched(makeSignatureLayer(signer, garbage)))),
        'PAYLOAD_INVALID',
      );
    });
  });

  describe('when the trust is a certificate root', () => {
    let fixture: FulcioFixture;
    let leaf: TestLeaf;

    before(async () => {
      fixture = await createFulcioFixture();
      leaf = await fixture.leaf();
    });

    after(async () => {
      await fixture.pki.cleanup();
    });

    /** A layer as `cosign sign` (keyless) makes it, but without the `omit` annotations. */
    function keylessLayerWithout(...omit: readonly string[]): SignatureLayer {
      const { annotations } = keylessLayer(leaf, payload);
      return {
        payload,
        annotations: Object.fromEntries(
          Object.entries(annotations).filter(([name]) => !omit.includes(name)),
        ),
      };
    }

    it('verifies a Fulcio layer, with the certificate and Rekor evidence', () => {
      const verdict = verifier(fixture.fulcio).verifyLayers(found(fetched(keylessLayerWithout())));
      assert.equal(verdict.status, 'verified', JSON.stringify(verdict));
      const [outcome] = verdict.signatures;
      assert.ok(outcome?.status === 'verified');
      assert.deepEqual(
        [outcome.emails, outcome.dnsNames, outcome.oidcIssuer, outcome.rekor?.integratedTime],
        [[EMAIL], [], ISSUER, LEAF_INTEGRATED_TIME],
      );
    });

    for (const [omitted, code] of [
      [CERTIFICATE_ANNOTATION, 'CERTIFICATE_MISSING'],
      [BUNDLE_ANNOTATION, 'REKOR_BUNDLE_MISSING'],
    ] as const) {
      it(`rejects a Fulcio layer without ${omitted} before its payload is needed`, () => {
        const verdict = verifier(fixture.fulcio).verifyLayers(
          found(fetched(keylessLayerWithout(omitted), null)),
        );
        assertRejected(verdict, code);
      });
    }

    it("checks a PKI certificate now without a Rekor key, at the SET's time with one", () => {
      const trust: TrustConfig = {
        type: 'pki',
        caRootsPem: fixture.root.certPem,
        caIntermediatesPem: fixture.intermediate.certPem,
        email: EMAIL,
      };
      // The leaf's validity is long past: PKI without a SET checks it now.
      const verdict = verifier(trust).verifyLayers(
        found(fetched(keylessLayerWithout(BUNDLE_ANNOTATION))),
      );
      assertRejected(verdict, 'CERTIFICATE_EXPIRED');
      const withRekor = verifier({ ...trust, rekorKeyPem: rekor.publicKeyPem }).verifyLayers(
        found(fetched(keylessLayerWithout())),
      );
      assert.equal(withRekor.status, 'verified', JSON.stringify(withRekor));
      const [outcome] = withRekor.signatures;
      assert.ok(outcome?.status === 'verified');
      assert.deepEqual(
        [outcome.emails, outcome.rekor?.integratedTime],
        [[EMAIL], LEAF_INTEGRATED_TIME],
      );
    });

    it('throws an unusable root of trust met while verifying, never a rejection', () => {
      assert.throws(
        () =>
          verifier({ ...fixture.fulcio, oidcIssuer: '' }).verifyLayers(
            found(fetched(keylessLayerWithout())),
          ),
        (err) => isVerifyError(err, 'CERTIFICATE_ROOTS_INVALID'),
      );
    });

    it('verifies a Fulcio bundle, with the certificate and log evidence', () => {
      const bundle = keylessBundle(leaf, makeStatement(`${NAME}@${DIGEST}`, DIGEST));
      const verdict = verifier(fixture.fulcio).verifyBundles(
        bundles({ status: 'fetched', bytes: bundle }),
      );
      assert.equal(verdict.status, 'verified', JSON.stringify(verdict));
      const [outcome] = verdict.signatures;
      assert.ok(outcome?.status === 'verified');
      assert.deepEqual([outcome.emails, outcome.integratedTime], [[EMAIL], LEAF_INTEGRATED_TIME]);
    });
  });
});

const REFERRER = `sha256:${'ef'.repeat(32)}`;

function bundles(...blobs: FetchedBlob[]): FetchedBundles {
  return {
    kind: 'found',
    image,
    location: { source: 'api' },
    signatures: blobs.map((bundle) => ({ referrer: REFERRER, bundle })),
  };
}

describe('verifyBundles', () => {
  const statement = makeStatement(`${NAME}@${DIGEST}`, DIGEST);

  it('verifies a public-key bundle, with exactly the evidence bundles give', () => {
    const bytes = makeTestBundle({ signer, statement });
    const verdict = byKey.verifyBundles(bundles({ status: 'fetched', bytes }));
    assert.deepEqual(verdict, {
      status: 'verified',
      image: `${NAME}@${DIGEST}`,
      location: { source: 'api' },
      signatures: [
        {
          referrer: REFERRER,
          status: 'verified',
          dockerReference: `${NAME}@${DIGEST}`,
          emails: [],
          dnsNames: [],
        },
      ],
    });
  });

  it('rejects a referrer the registry could not serve, with the fetch code', () => {
    const error = new VerifyError('BUNDLE_SUBJECT_MISMATCH', `referrer refers to nothing`);
    const verdict = byKey.verifyBundles(
      bundles({ status: 'failed', error }, { status: 'fetched', bytes: Buffer.from('{}') }),
    );
    assertRejected(verdict, 'BUNDLE_SUBJECT_MISMATCH');
    assert.ok(verdict.status === 'rejected');
    assert.deepEqual(
      verdict.signatures.map((s) => (s.status === 'rejected' ? s.code : s.status)),
      ['BUNDLE_SUBJECT_MISMATCH', 'BUNDLE_UNSUPPORTED'],
    );
  });

  it('rejects a bundle by another key, and an attestation by the right one', () => {
    const stranger = makeTestBundle({ signer: createTestKey('p256'), statement });
    assertRejected(
      byKey.verifyBundles(bundles({ status: 'fetched', bytes: stranger })),
      'BAD_SIGNATURE',
    );
    const attestation = makeTestBundle({
      signer,
      statement: makeStatement(`${NAME}@${DIGEST}`, DIGEST, {
        type: 'https://slsa.dev/provenance/v1',
      }),
    });
    assertRejected(
      byKey.verifyBundles(bundles({ status: 'fetched', bytes: attestation })),
      'BUNDLE_NOT_A_SIGNATURE',
    );
  });

  it('is rejected with the fetch refusal when there are too many referrers', () => {
    const verdict = byKey.verifyBundles({
      kind: 'refused',
      image,
      location: { source: 'tag' },
      code: 'TOO_MANY_BUNDLES',
      message: '17 bundle referrers, over the limit of 16',
    });
    assertRejected(verdict, 'TOO_MANY_BUNDLES');
    assert.ok(verdict.status === 'rejected');
    assert.deepEqual(verdict.signatures, []);
  });
});
