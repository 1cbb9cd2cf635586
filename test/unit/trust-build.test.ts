import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { generateKey } from 'openpgp';
import { Agent } from 'undici';
import type { Dispatcher } from 'undici';

import { isVerifyError } from '../../src/errors.js';
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
  it('keeps valid policies and skips an invalid one with a note naming it', async () => {
    const client = new RegistryClient({});
    try {
      const notes: string[] = [];
      const config = buildSigstoreConfig(
        [
          {
            apiVersion: 'config.openshift.io/v1',
            kind: 'ClusterImagePolicy',
            metadata: { name: 'broken', uid: 'x' },
            spec: { scopes: [] },
          },
        ],
        client,
        notes,
      );
      assert.equal(config.policies.length, 0);
      assert.equal(notes.length, 1);
      assert.match(notes[0] ?? '', /^ClusterImagePolicy broken is ignored: /);
    } finally {
      await client.close();
    }
  });
});
