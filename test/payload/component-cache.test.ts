import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { parseReleasePullspec } from '../../src/image/pullspec.js';
import {
  COMPONENT_VERDICT_TTL_MS,
  createComponentCache,
  verifyComponents,
} from '../../src/payload/payload-verifier.js';
import { validatePolicyObject } from '../../src/policy/validate.js';
import { RegistryClient } from '../../src/registry/client.js';
import {
  createTestKey,
  makeCosignPayload,
  makeSignatureLayer,
  pushCosignSignatures,
} from '../helpers/cosign.js';
import { findRegistryBinary, pushImage, TestRegistry } from '../helpers/registry.js';

const binary = await findRegistryBinary();

describe('the component verdict cache', { skip: 'skip' in binary ? binary.skip : false }, () => {
  let registry: TestRegistry;
  let client: RegistryClient;

  before(async () => {
    assert.ok('path' in binary);
    registry = await TestRegistry.start(binary.path);
    client = new RegistryClient({ retries: 0 });
  });

  after(async () => {
    await client.close();
    await registry.stop();
  });

  it('reuses a verified component only for a while, then judges it again', async () => {
    const key = createTestKey('p256');
    const path = 'cache/etcd';
    const image = await pushImage({ url: registry.url }, path, 'v1');
    const name = `${registry.host}/${path}`;
    await pushCosignSignatures({ url: registry.url }, path, image.manifest, [
      makeSignatureLayer(key, makeCosignPayload(`${name}:v1`, image.manifest.digest)),
    ]);
    const policy = validatePolicyObject(
      {
        apiVersion: 'config.openshift.io/v1',
        kind: 'ClusterImagePolicy',
        metadata: { name: 'components' },
        spec: {
          scopes: [name],
          policy: {
            rootOfTrust: {
              policyType: 'PublicKey',
              publicKey: { keyData: Buffer.from(key.publicKeyPem).toString('base64') },
            },
          },
        },
      },
      'test',
    );
    const cache = createComponentCache();
    let now = 1_000_000;
    const check = async () => {
      const [result] = await verifyComponents(
        [{ pullspec: parseReleasePullspec(`${name}@${image.manifest.digest}`), tags: ['etcd'] }],
        { client, policies: [policy], cache, now: () => now, signal: AbortSignal.timeout(20_000) },
      );
      assert.ok(result);
      return result;
    };
    const first = await check();
    assert.equal(first.status, 'verified');
    assert.equal(first.cached, false);
    now += COMPONENT_VERDICT_TTL_MS - 1;
    assert.equal((await check()).cached, true);
    now += 2;
    const again = await check();
    assert.equal(again.status, 'verified');
    assert.equal(again.cached, false, 'judged again once the verdict is older than the TTL');
  });
});
