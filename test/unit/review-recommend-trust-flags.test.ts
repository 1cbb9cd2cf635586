import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { runRecommend } from '../../src/cli/recommend.js';
import type { ClusterVerification } from '../../src/controller/verification-port.js';
import type { PublishedUpdates } from '../../src/controller/update-preverifier.js';
import type { ClusterVersion } from '../../src/kube/types.js';
import { MemoryKube } from '../helpers/memory-kube.js';

// The service publishes verdicts made with its own root of trust. A user who names another one
// (--root-of-trust-configmap, --root-of-trust-from-payload) asks for a verdict under that trust:
// the service's must not answer for it.

const IMG = `quay.io/openshift-release-dev/ocp-release@sha256:${'3'.repeat(64)}`;
const NOW = new Date('2026-12-06T12:00:00Z');

function clusterVersion(): ClusterVersion {
  return {
    apiVersion: 'config.openshift.io/v1',
    kind: 'ClusterVersion',
    metadata: { name: 'version' },
    spec: { clusterID: '2a7b3c4d-1111-4222-8333-444455556666', channel: 'stable-4.17' },
    status: {
      desired: { version: '4.17.0', image: 'x', channels: ['stable-4.17'] },
      observedGeneration: 1,
      versionHash: 'h',
      conditions: [],
      availableUpdates: [{ version: '4.17.2', image: IMG }],
      history: [],
    },
  };
}

const published: PublishedUpdates = {
  updatedAt: NOW.toISOString(),
  identity: 'leader-1',
  intervalMs: 600_000,
  verdicts: [
    {
      image: IMG,
      version: '4.17.2',
      verdict: {
        result: 'verified',
        summary: 's',
        checkedAt: new Date(NOW.getTime() - 60_000).toISOString(),
      },
    },
  ],
};

const notSigned: ClusterVerification = {
  outcome: {
    verified: false,
    code: 'NOT_SIGNED',
    message: 'no signature by the named root of trust',
    summary: 'no signature by the named root of trust',
    details: [],
  },
  signatures: [],
  digest: null,
};

async function run(args: string[]): Promise<{ stdout: string; checked: string[] }> {
  const kube = new MemoryKube();
  await kube.createClusterVersion(clusterVersion());
  await kube.createConfigMap('cvo-update-verifier', {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'cvo-update-verifier-updates', namespace: 'cvo-update-verifier' },
    data: { 'updates.json': JSON.stringify(published) },
  });
  let stdout = '';
  const checked: string[] = [];
  await runRecommend(
    args,
    { stdout: (t) => (stdout += t), stderr: () => undefined, env: {}, cwd: process.cwd() },
    {
      connect: () => kube,
      now: () => NOW,
      checker: () => ({
        check: (image) => {
          checked.push(image);
          return Promise.resolve(notSigned);
        },
        close: () => Promise.resolve(),
      }),
    },
  );
  return { stdout, checked };
}

describe('review: recommend with a root of trust of its own', () => {
  for (const flags of [
    ['--root-of-trust-configmap', 'openshift-config/my-keys'],
    ['--root-of-trust-from-payload'],
  ])
    it(`${flags[0] ?? ''} verifies here instead of showing the service's verdict`, async () => {
      const r = await run(flags);
      assert.deepEqual(r.checked, [IMG]);
      assert.doesNotMatch(r.stdout, /\(service, /);
      assert.match(r.stdout, /refused \(NotSigned\)/);
    });
});
