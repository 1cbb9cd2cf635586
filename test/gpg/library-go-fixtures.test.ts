import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { VerifyError } from '../../src/errors.js';
import { loadKeyring } from '../../src/gpg/keyring.js';
import { loadRootOfTrust } from '../../src/gpg/root-of-trust.js';
import { verifySignedMessage } from '../../src/gpg/verify-message.js';
import { FileSignatureStore } from '../../src/stores/file-store.js';
import { GpgReleaseVerifier } from '../../src/verify/gpg-verifier.js';
import { withSharedFixture } from '../helpers/fixtures.js';

// Known verdicts from the cluster-version operator's own verifier tests (DOMAIN.md §2).
const REDHAT_V3 = 'sha256:e3f12513a4b22a2d7c0e7c9207f52128113758d9d68c7d06b11a0ac7672966f7';
const OPENSHIFT_CI = 'sha256:edd9824f0404f1a139688017e7001370e2f3fbc088b94da84506653b473fe140';

const verdicts: [keyring: string, digest: string, verified: boolean][] = [
  ['redhat', REDHAT_V3, true],
  ['combined', REDHAT_V3, true],
  ['simple', REDHAT_V3, false],
  ['simple', OPENSHIFT_CI, true],
  ['combined', OPENSHIFT_CI, true],
  ['redhat', OPENSHIFT_CI, false],
];

describe('library-go fixtures (../shared/fixtures/library-go)', () => {
  for (const [ring, digest, verified] of verdicts) {
    it(`${ring}.txt ${verified ? 'verifies' : 'does not verify'} ${digest.slice(0, 15)}…`, async (t) => {
      await withSharedFixture(t, 'library-go', async (dir) => {
        const keyring = await loadKeyring(
          `verifier-public-key-${ring}`,
          await readFile(join(dir, 'keyrings', `${ring}.txt`)),
        );
        const store = new FileSignatureStore(join(dir, 'signatures'));
        const verifier = new GpgReleaseVerifier({
          trust: { source: 'test', keyrings: [keyring] },
          stores: [store],
        });
        const result = await verifier.verify(digest);
        assert.equal(result.verified, verified, result.details.join('\n'));
        if (!verified)
          assert.equal(
            result.message,
            `unable to verify ${digest} against keyrings: verifier-public-key-${ring}`,
          );
      });
    });
  }

  it('verifies the Red Hat V3 signature packet that openpgp.js cannot parse', async (t) => {
    await withSharedFixture(t, 'library-go', async (dir) => {
      const keyring = await loadKeyring(
        'redhat',
        await readFile(join(dir, 'keyrings', 'redhat.txt')),
      );
      const signature = await readFile(
        join(dir, 'signatures', REDHAT_V3.replace(':', '='), 'signature-1'),
      );
      const result = await verifySignedMessage(signature, keyring);
      assert.equal(result.signatureVersion, 3);
      assert.equal(result.keyId, '199e2f91fd431d51');
      assert.match(Buffer.from(result.data).toString(), /atomic container signature/);
      // Flip one bit of the RSA value: a V3 verifier that skipped the check would still pass.
      const tampered = Buffer.from(signature);
      tampered[tampered.length - 10] = (tampered[tampered.length - 10] ?? 0) ^ 0x01;
      await assert.rejects(verifySignedMessage(tampered, keyring), VerifyError);
    });
  });

  it('reports any other digest as not found', async (t) => {
    await withSharedFixture(t, 'library-go', async (dir) => {
      const keyring = await loadKeyring(
        'verifier-public-key-combined',
        await readFile(join(dir, 'keyrings', 'combined.txt')),
      );
      const verifier = new GpgReleaseVerifier({
        trust: { source: 'test', keyrings: [keyring] },
        stores: [new FileSignatureStore(join(dir, 'signatures'))],
      });
      const result = await verifier.verify(`sha256:${'0'.repeat(64)}`);
      assert.equal(result.verified, false);
      assert.equal(result.code, 'NOT_SIGNED');
      assert.equal(result.stores[0]?.end?.reason, 'not-found');
    });
  });

  it('loads loads-valid.yaml despite the stray quote after the armor', async (t) => {
    await withSharedFixture(t, 'library-go/manifests/loads-valid.yaml', async (path) => {
      const trust = await loadRootOfTrust(path);
      assert.deepEqual(
        trust.keyrings.map((k) => k.name),
        ['verifier-public-key-redhat'],
      );
      assert.equal(
        trust.keyrings[0]?.keys[0]?.getFingerprint(),
        '567e347ad0044ade55ba8a5f199e2f91fd431d51',
      );
      assert.deepEqual(trust.stores, [
        { name: 'store-local', url: 'file://../verify/testdata/signatures' },
      ]);
    });
  });

  it('uses only the first annotated ConfigMap (only-first-used.yaml)', async (t) => {
    await withSharedFixture(t, 'library-go/manifests/only-first-used.yaml', async (path) => {
      const trust = await loadRootOfTrust(path);
      assert.equal(trust.source, 'the config map openshift-config-managed/release-verification');
    });
  });

  for (const name of ['requires-data', 'requires-stores', 'requires-verifiers']) {
    it(`${name}.yaml fails as in library-go (data misplaced under metadata)`, async (t) => {
      await withSharedFixture(t, `library-go/manifests/${name}.yaml`, async (path) => {
        await assert.rejects(loadRootOfTrust(path), (err: unknown) => {
          assert.ok(err instanceof VerifyError);
          assert.equal(err.code, 'NO_STORES');
          assert.equal(
            err.message,
            'the config map openshift-config-managed/release-verification did not provide any signature stores to read from and cannot be used',
          );
          return true;
        });
      });
    });
  }
});

describe("Red Hat's production root of trust (../shared/fixtures/cluster-update-keys)", () => {
  it('loads despite its duplicated namespace key', async (t) => {
    await withSharedFixture(
      t,
      'cluster-update-keys/0000_90_cluster-update-keys_configmap.yaml',
      async (path) => {
        const trust = await loadRootOfTrust(path);
        assert.equal(trust.source, 'the config map openshift-config-managed/release-verification');
        assert.deepEqual(
          trust.keyrings.map((k) => k.name),
          ['verifier-public-key-redhat'],
        );
        assert.equal(trust.keyrings[0]?.keys.length, 2);
        assert.deepEqual(
          trust.stores.map((s) => s.name),
          ['store-openshift-official-release', 'store-openshift-official-release-mirror'],
        );
      },
    );
  });

  it('verifies the Red Hat V3 signature with the production keyring', async (t) => {
    await withSharedFixture(
      t,
      'cluster-update-keys/0000_90_cluster-update-keys_configmap.yaml',
      async (path) => {
        await withSharedFixture(t, 'library-go/signatures', async (sigs) => {
          const trust = await loadRootOfTrust(path);
          const verifier = new GpgReleaseVerifier({
            trust,
            stores: [new FileSignatureStore(sigs)],
          });
          assert.equal((await verifier.verify(REDHAT_V3)).verified, true);
        });
      },
    );
  });

  it('loads every public key file of cluster-update-keys', async (t) => {
    await withSharedFixture(t, 'cluster-update-keys/keys', async (dir) => {
      for (const name of [
        'verifier-public-key-openshift-ci',
        'verifier-public-key-openshift-ci-2',
        'verifier-public-key-openshift-ci-3',
        'verifier-public-key-openshift-ci-4',
        'verifier-public-key-redhat-beta-2',
        'verifier-public-key-redhat-release',
      ]) {
        const ring = await loadKeyring(name, await readFile(join(dir, name)));
        assert.ok(ring.keys.length >= 1, name);
      }
    });
  });
});
