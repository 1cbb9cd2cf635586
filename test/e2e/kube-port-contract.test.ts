import { after, before, describe } from 'node:test';

import { kubePortContract } from '../helpers/kube-port-contract.js';
import { startTestCluster } from '../helpers/local-cluster.js';
import type { TestCluster } from '../helpers/local-cluster.js';
import { seed } from './harness.js';

// The same contract test/unit/memory-kube.test.ts runs against the in-memory fake: what the real
// client returns and throws here is what controller unit tests get from MemoryKube.
describe('the KubePort client against a real kube-apiserver', () => {
  let tc: TestCluster | undefined;
  let skip = 'no cluster';

  before(async () => {
    const started = await startTestCluster();
    if ('skip' in started) {
      skip = started.skip;
      return;
    }
    tc = started;
    await seed(tc);
  });

  after(async () => {
    await tc?.stop();
  });

  kubePortContract(() => (tc !== undefined ? { kube: tc.admin, namespace: 'default' } : { skip }));
});
