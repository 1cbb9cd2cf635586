import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { Service } from '../../src/main.js';
import {
  createTestKey,
  makeCosignPayload,
  makeSignatureLayer,
  pushCosignSignatures,
} from '../helpers/cosign.js';
import { startTestCluster } from '../helpers/local-cluster.js';
import type { TestCluster } from '../helpers/local-cluster.js';
import { findRegistryBinary, pushImage, TestRegistry } from '../helpers/registry.js';
import type { PushTarget } from '../helpers/registry.js';
import {
  condition,
  installRootOfTrust,
  ReleaseSigner,
  requestUpdate,
  runService,
  seed,
  waitFor,
} from './harness.js';

const binary = await findRegistryBinary();

describe(
  'the service applies the cluster’s ClusterImagePolicies on top of GPG',
  { skip: 'skip' in binary ? binary.skip : false },
  () => {
    let tc: TestCluster | undefined;
    let skip: string | undefined;
    let signer: ReleaseSigner;
    let registry: TestRegistry;
    let target: PushTarget;
    let service: Service | undefined;
    const cosignKey = createTestKey('p256');

    /** Pushes an image to the local registry; GPG- and/or cosign-signs it; returns its pullspec. */
    const release = async (
      repo: string,
      sign: { gpg: boolean; cosign: boolean },
    ): Promise<string> => {
      const image = await pushImage(target, repo, 'v1');
      const digest = image.manifest.digest;
      if (sign.gpg) await signer.publish(digest);
      if (sign.cosign) {
        await pushCosignSignatures(target, repo, image.manifest, [
          makeSignatureLayer(
            cosignKey,
            makeCosignPayload(`${registry.host}/${repo}:4.17.0`, digest),
          ),
        ]);
      }
      return `${registry.host}/${repo}@${digest}`;
    };

    before(async () => {
      assert.ok('path' in binary);
      const started = await startTestCluster();
      if ('skip' in started) {
        skip = started.skip;
        return;
      }
      tc = started;
      signer = await ReleaseSigner.create();
      registry = await TestRegistry.start(binary.path);
      target = { url: registry.url };
      await installRootOfTrust(tc.admin, signer);
      await seed(tc);
      const policy = {
        apiVersion: 'config.openshift.io/v1',
        kind: 'ClusterImagePolicy',
        metadata: { name: 'release' },
        spec: {
          scopes: [`${registry.host}/ocp/release`],
          policy: {
            rootOfTrust: {
              policyType: 'PublicKey',
              publicKey: { keyData: Buffer.from(cosignKey.publicKeyPem).toString('base64') },
            },
          },
        },
      };
      await tc.kubectl(['apply', '--server-side', '-f', '-'], JSON.stringify(policy));
      service = await runService(tc.cluster.kubeconfig);
    });

    after(async () => {
      await service?.stop();
      await registry.stop();
      await signer.close();
      await tc?.stop();
    });

    it('accepts a release signed with GPG and with the policy’s cosign key', async (t) => {
      if (tc === undefined) return t.skip(skip ?? 'no cluster');
      const image = await release('ocp/release', { gpg: true, cosign: true });
      await requestUpdate(tc, { image, version: '', force: false });
      const cv = await waitFor(tc.admin, (x) => x.status?.desired.image === image, 'acceptance');
      assert.equal(cv.status?.history?.[0]?.verified, true);
      assert.match(
        condition(cv, 'ReleaseVerified')?.message ?? '',
        /policy release: cosign signature .* verified with the policy's key/,
      );
    });

    it('refuses a GPG-signed release without a cosign signature when a policy covers it', async (t) => {
      if (tc === undefined) return t.skip(skip ?? 'no cluster');
      const image = await release('ocp/release', { gpg: true, cosign: false });
      await requestUpdate(tc, { image, version: '', force: false });
      const cv = await waitFor(
        tc.admin,
        (x) => (condition(x, 'ReleaseAccepted')?.message ?? '').includes(image),
        'refusal',
      );
      assert.equal(condition(cv, 'ReleaseAccepted')?.status, 'False');
      assert.match(
        condition(cv, 'ReleaseAccepted')?.message ?? '',
        /unable to verify sha256:[0-9a-f]{64} against image policy release \(scope .*\/ocp\/release\): no cosign signature/,
      );
      assert.notEqual(cv.status?.desired.image, image);
    });

    it('needs only GPG for a release no policy scope covers', async (t) => {
      if (tc === undefined) return t.skip(skip ?? 'no cluster');
      const image = await release('elsewhere/release', { gpg: true, cosign: false });
      await requestUpdate(tc, { image, version: '', force: false });
      const cv = await waitFor(
        tc.admin,
        (x) => x.status?.desired.image === image,
        'acceptance outside every scope',
      );
      assert.equal(cv.status?.history?.[0]?.verified, true);
    });
  },
);
