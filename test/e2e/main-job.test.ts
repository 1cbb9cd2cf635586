import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { selectCluster } from '../../src/cli/serve.js';
import { runClusterDemo } from '../../walkthrough/cluster-demo.js';
import { withSharedFixture } from '../helpers/fixtures.js';

describe('the main job (cvo-verifier serve) without a cluster', () => {
  it('starts a local control plane and walks through by-tag, signed, forced-unsigned, late-signed and payload-checked updates', async (t) => {
    await withSharedFixture(t, 'openshift-api', async (crdDir) => {
      let out = '';
      const ok = await runClusterDemo({
        stdout: (text) => (out += text),
        env: process.env,
        crdDir,
      });
      assert.equal(ok, true, out);
      assert.match(
        out,
        /ReleaseAccepted=False \(RetrievePayload\): Retrieving payload failed .*release images that are not accessed via digest cannot be verified/,
      );
      assert.match(
        out,
        /ReleaseAccepted=True \(PayloadLoaded\): Payload loaded version="4\.17\.0"/,
      );
      assert.match(
        out,
        /accepted risk: Target release version="" image=".*" cannot be verified, but continuing anyway because the update was forced/,
      );
      // The history table after step 4 shows the forced release flipped to verified.
      const step4 = out.slice(out.indexOf('== 4.'), out.indexOf('== 5.'));
      const lastTable = step4.slice(step4.lastIndexOf('STATE'));
      const head = lastTable.split('\n')[1] ?? '';
      assert.match(
        head,
        /^\s*Partial\s+\S+\s+-\s+-\s+true\s+quay\.io\/openshift-release-dev\/ocp-release@sha256:/,
      );
      assert.match(out, /ReleaseVerified=True \(Verified\)/);
      // Step 5: the payload's unsigned etcd image refuses the update; step 6: its signature
      // appears and the background re-check accepts it.
      const step5 = out.slice(out.indexOf('== 5.'), out.indexOf('== 6.'));
      assert.match(
        step5,
        /ReleaseAccepted=False \(PayloadVerificationFailed\): Payload verification failed version="4\.18\.0" image="127\.0\.0\.1:\d+\/ocp\/release@sha256:[0-9a-f]{64}": 1 of 12 component images of 4\.18\.0 would fail signature verification when nodes pull them: etcd \(unsigned\)/,
      );
      assert.match(step5, /PayloadVerified=False \(PayloadVerificationFailed\)/);
      const step6 = out.slice(out.indexOf('== 6.'));
      assert.match(step6, /ReleaseAccepted=True \(PayloadLoaded\)/);
      assert.match(
        step6,
        /PayloadVerified=True \(PayloadVerified\): .*all 12 component images of 4\.18\.0/,
      );
      assert.match(out, /Walkthrough finished: every step ended as expected/);
    });
  });
});

describe('selectCluster (kubectl order)', () => {
  const none = { HOME: '/nonexistent-home' };
  it('prefers --kubeconfig, then KUBECONFIG, then in-cluster, and returns undefined with none', () => {
    assert.deepEqual(selectCluster('/k', 'ctx', { ...none, KUBECONFIG: '/env' }), {
      kubeconfig: '/k',
      context: 'ctx',
    });
    assert.deepEqual(selectCluster(undefined, undefined, { ...none, KUBECONFIG: '/env' }), {
      kubeconfig: '/env',
    });
    assert.deepEqual(selectCluster(undefined, undefined, { ...none, KUBECONFIG: '/a:/b:/a' }), {
      kubeconfigFiles: ['/a', '/b'],
    });
    assert.deepEqual(
      selectCluster(undefined, undefined, {
        ...none,
        KUBERNETES_SERVICE_HOST: '10.0.0.1',
        KUBERNETES_SERVICE_PORT: '443',
      }),
      { inCluster: { host: '10.0.0.1', port: '443' } },
    );
    assert.equal(selectCluster(undefined, undefined, none), undefined);
  });
});
