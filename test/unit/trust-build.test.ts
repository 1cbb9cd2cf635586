import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';

import { generateKey } from 'openpgp';
import { Agent } from 'undici';
import type { Dispatcher } from 'undici';

import { isVerifyError } from '../../src/errors.js';
import { parseReleasePullspec } from '../../src/image/pullspec.js';
import { checkSigstore } from '../../src/verify/sigstore-checks.js';
import { rootOfTrustFromData } from '../../src/gpg/root-of-trust.js';
import type { RootOfTrust } from '../../src/gpg/root-of-trust.js';
import { RegistryClient } from '../../src/registry/client.js';
import { buildGpgVerifier, buildSigstoreConfig } from '../../src/trust/build-verifier.js';
import type { GpgTrustInputs } from '../../src/trust/cluster-inputs.js';
import { LruCache } from '../../src/verify/verdict-cache.js';
import type { GpgResult } from '../../src/verify/gpg-verifier.js';

const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

const { publicKey } = await generateKey({
  type: 'ecc',
  curve: 'nistP256',
  userIDs: [{ name: 'release key' }],
  format: 'armored',
});
const trust: RootOfTrust = await rootOfTrustFromData(
  'the config map openshift-config-managed/release-verification',
  { 'verifier-public-key-release': publicKey, 'store-1': 'https://store.example/sigs' },
);

function inputs(over: Partial<GpgTrustInputs> = {}): GpgTrustInputs {
  return {
    rootOfTrust: trust,
    signatureStores: undefined,
    clusterCa: undefined,
    listSignatureConfigMaps: () => Promise.resolve([]),
    signatureConfigMapsName: 'signature ConfigMaps',
    ...over,
  };
}

/** Records which CA each store's dispatcher was asked for. */
function resources(): {
  asked: (string | undefined)[];
  dispatcherFor: (ca?: string) => Dispatcher;
  cache: LruCache<GpgResult>;
  budgetMs: number;
} {
  const asked: (string | undefined)[] = [];
  const agent = new Agent();
  return {
    asked,
    dispatcherFor: (ca) => {
      asked.push(ca);
      return agent;
    },
    cache: new LruCache<GpgResult>(),
    budgetMs: 1000,
  };
}

describe('buildGpgVerifier (pure: trust inputs → verifier)', () => {
  it('refuses an empty spec.signatureStores with the CVO words', () => {
    assert.throws(
      () => buildGpgVerifier(inputs({ signatureStores: [] }), resources(), []),
      (err: unknown) =>
        isVerifyError(err, 'NO_STORES') &&
        err.message.startsWith('ClusterVersion spec.signatureStores is an empty array.'),
    );
  });

  it('does not honor a store whose CA ConfigMap has no certificate, and says so', () => {
    const notes: string[] = [];
    const res = resources();
    buildGpgVerifier(
      inputs({
        signatureStores: [
          {
            url: 'https://user:secret@a.example/s',
            ca: { configMap: 'openshift-config/a', pem: 'junk' },
          },
          { url: 'https://b.example/s', ca: { configMap: 'openshift-config/b', pem: CA } },
          { url: 'https://c.example/s' },
        ],
      }),
      res,
      notes,
    );
    assert.deepEqual(notes, [
      'signature store https://***@a.example/s is not honored: config map openshift-config/a has no valid ca.crt',
    ]);
    // The shared dispatcher (cluster CA) first, then b's own CA; a's is never built.
    assert.deepEqual(res.asked, [undefined, CA]);
  });

  it('gives every store the cluster-wide CA bundle', () => {
    const res = resources();
    buildGpgVerifier(inputs({ clusterCa: CA }), res, []);
    assert.deepEqual(res.asked, [CA]);
  });
});

describe('buildSigstoreConfig (pure: ClusterImagePolicy objects → policies)', () => {
  const ref = parseReleasePullspec(`quay.example/ocp/release@sha256:${'ab'.repeat(32)}`);
  const keyPem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    .publicKey.export({ type: 'spki', format: 'pem' })
    .toString();
  const certificateLike = Buffer.from(
    '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  ).toString('base64');
  const policy = (name: string, keyData: string, apiVersion = 'config.openshift.io/v1alpha1') => ({
    apiVersion,
    kind: 'ClusterImagePolicy',
    metadata: { name, uid: 'x' },
    spec: {
      scopes: ['quay.example/ocp/release'],
      policy: { rootOfTrust: { policyType: 'PublicKey', publicKey: { keyData } } },
    },
  });

  it('keeps a policy that does not validate for its scopes: images there are refused, never verified by its absence', async () => {
    // The v1alpha1 CRD has no rule on keyData: the API server stores this object, CRI-O cannot
    // use it and refuses pulls in its scope; dropping it would let the release pass on GPG alone.
    const client = new RegistryClient({});
    try {
      const notes: string[] = [];
      const config = buildSigstoreConfig([policy('release', certificateLike)], client, notes);
      assert.equal(config.policies.length, 1);
      assert.match(
        notes[0] ?? '',
        /^ClusterImagePolicy release cannot be used, so images in its scopes are refused: /,
      );
      const checks = await checkSigstore(ref, config, AbortSignal.timeout(5_000));
      assert.equal(checks.length, 1);
      assert.equal(checks[0]?.verified, false);
      assert.equal(checks[0]?.code, 'INVALID_POLICY');
      assert.equal(checks[0]?.scope, 'quay.example/ocp/release');
      // Outside its scopes it guards nothing.
      const other = parseReleasePullspec(`quay.example/other/release@sha256:${'ab'.repeat(32)}`);
      assert.deepEqual(await checkSigstore(other, config, AbortSignal.timeout(5_000)), []);
    } finally {
      await client.close();
    }
  });

  it('with a valid policy in the same scope, both apply (all required): still refused', async () => {
    const client = new RegistryClient({});
    try {
      const config = buildSigstoreConfig(
        [
          policy('broken', certificateLike),
          policy('good', Buffer.from(keyPem).toString('base64'), 'config.openshift.io/v1'),
        ],
        client,
        [],
      );
      assert.deepEqual(
        config.policies.map((p) => [p.name, p.unusable !== undefined]),
        [
          ['broken', true],
          ['good', false],
        ],
      );
    } finally {
      await client.close();
    }
  });

  it("fails the verification when such a policy's scopes cannot be read", async () => {
    const client = new RegistryClient({});
    try {
      assert.throws(
        () =>
          buildSigstoreConfig(
            [
              {
                apiVersion: 'config.openshift.io/v1',
                kind: 'ClusterImagePolicy',
                metadata: { name: 'broken', uid: 'x' },
                spec: { scopes: [] },
              },
            ],
            client,
            [],
          ),
        (err: unknown) =>
          isVerifyError(err, 'INVALID_POLICY') && err.message.includes('scopes cannot be read'),
      );
    } finally {
      await client.close();
    }
  });
});
