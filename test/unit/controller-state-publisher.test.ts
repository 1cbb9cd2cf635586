import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  parsePublishedState,
  STATE_KEY,
  StatePublisher,
} from '../../src/controller/state-publisher.js';
import { KubeApiError } from '../../src/kube/client.js';
import { MemoryKube } from '../helpers/memory-kube.js';

const NAMESPACE = 'cvo-update-verifier';
const NAME = 'cvo-update-verifier-state';
const AT = new Date('2026-01-01T00:00:00.000Z');

function verdict(image: string): Parameters<StatePublisher['record']>[0] {
  return {
    image,
    verified: false,
    code: 'NOT_SIGNED',
    message: 'no signature found',
    summary: 'no signature found',
    details: Array.from({ length: 30 }, (_, i) => `store ${String(i)}: 404`),
    checkedAt: AT.toISOString(),
  };
}

describe('StatePublisher (in-memory API)', () => {
  it('creates its ConfigMap, then replaces it, newest verdict first and evidence capped', async () => {
    const kube = new MemoryKube();
    const publisher = new StatePublisher(kube, NAMESPACE, NAME, 'replica-a');
    publisher.record(verdict('a'));
    await publisher.publish([], AT);
    const created = await kube.getConfigMap(NAMESPACE, NAME);
    assert.equal(created?.metadata.labels?.['app.kubernetes.io/name'], 'cvo-update-verifier');

    publisher.record(verdict('b'));
    publisher.record(verdict('a'));
    await publisher.publish(
      [{ kind: 'history', image: 'a', attempts: 2, nextAt: AT.toISOString() }],
      AT,
    );
    const state = parsePublishedState(await kube.getConfigMap(NAMESPACE, NAME));
    assert.deepEqual(
      state?.verdicts.map((v) => v.image),
      ['a', 'b'],
    );
    assert.equal(state?.verdicts[0]?.details.length, 20);
    assert.equal(state?.identity, 'replica-a');
    assert.equal(state?.rechecks.length, 1);
    assert.deepEqual(
      kube.actions.filter((a) => a.verb !== 'get').map((a) => a.verb),
      ['create', 'update'],
    );
  });

  describe('when another writer gets in between its read and its write', () => {
    it('reads again and writes over the fresh copy', async () => {
      const kube = new MemoryKube();
      const publisher = new StatePublisher(kube, NAMESPACE, NAME, 'replica-a');
      await publisher.publish([], AT);
      kube.before('update', 'configmaps', async () => {
        const cm = await kube.getConfigMap(NAMESPACE, NAME);
        assert.ok(cm);
        await kube.replaceConfigMap(NAMESPACE, { ...cm, data: { [STATE_KEY]: '{}' } });
      });
      publisher.record(verdict('a'));
      await publisher.publish([], AT);
      assert.deepEqual(
        parsePublishedState(await kube.getConfigMap(NAMESPACE, NAME))?.verdicts.map((v) => v.image),
        ['a'],
      );
    });

    it('gives up after three conflicts, with the API error', async () => {
      const kube = new MemoryKube();
      const publisher = new StatePublisher(kube, NAMESPACE, NAME, 'replica-a');
      await publisher.publish([], AT);
      kube.before(
        'update',
        'configmaps',
        async () => {
          const cm = await kube.getConfigMap(NAMESPACE, NAME);
          assert.ok(cm);
          await kube.replaceConfigMap(NAMESPACE, {
            ...cm,
            data: { [STATE_KEY]: String(Math.random()) },
          });
        },
        Infinity,
      );
      await assert.rejects(
        publisher.publish([], AT),
        (err: unknown) => err instanceof KubeApiError && err.status === 409,
      );
    });
  });
});
