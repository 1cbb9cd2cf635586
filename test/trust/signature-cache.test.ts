/**
 * SignatureCache: verified signatures merged into the labelled ConfigMap the CVO reads; with the
 * digests the ClusterVersion still names, the entries of other digests are dropped (issue 14: the
 * cache no longer grows to its cap and is rewritten whole for every release verified).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { digestsNamedBy } from '../../src/controller/controller.js';
import { SIGNATURE_CONFIGMAP_LABEL } from '../../src/stores/configmap-store.js';
import { SignatureCache } from '../../src/trust/signature-cache.js';
import { installedClusterVersion, release } from '../helpers/controller-fixture.js';
import { MemoryKube } from '../helpers/memory-kube.js';

const NS = 'openshift-config-managed';
const NAME = 'signatures-managed';
const digest = (c: string): string => `sha256:${c.repeat(64)}`;
const key = (d: string, i = 1): string => `${d.replace(':', '-')}-${String(i)}`;
const sig = (text: string): Uint8Array => new TextEncoder().encode(text);

async function cached(kube: MemoryKube): Promise<string[]> {
  return Object.keys((await kube.getConfigMap(NS, NAME))?.binaryData ?? {}).sort();
}

describe('SignatureCache', () => {
  it('merges signatures per digest, labelled for the ConfigMap store, and keeps everything without `keep`', async () => {
    const kube = new MemoryKube();
    const cache = new SignatureCache(kube, NS, NAME);
    assert.equal(await cache.persist(digest('a'), [sig('a1')]), 1);
    assert.equal(await cache.persist(digest('b'), [sig('b1'), sig('b2')]), 2);
    assert.equal(
      await cache.persist(digest('b'), [sig('b1')]),
      0,
      'a known signature is not added',
    );
    assert.deepEqual(await cached(kube), [key(digest('a')), key(digest('b')), key(digest('b'), 2)]);
    const cm = await kube.getConfigMap(NS, NAME);
    assert.equal(cm?.metadata.labels?.[SIGNATURE_CONFIGMAP_LABEL], '');
  });

  it('with `keep`, drops the signatures of digests the cluster no longer names, never its own or keys it does not understand', async () => {
    const kube = new MemoryKube();
    await kube.createConfigMap(NS, {
      metadata: { name: NAME, labels: { [SIGNATURE_CONFIGMAP_LABEL]: '' } },
      binaryData: {
        [key(digest('a'))]: 'YQ==',
        [key(digest('b'))]: 'Yg==',
        'not-a-signature-key': 'eA==',
        [`${key(digest('c'))}x`]: 'eQ==',
      },
    });
    const cache = new SignatureCache(kube, NS, NAME);
    assert.equal(await cache.persist(digest('d'), [sig('d1')], new Set([digest('b')])), 1);
    assert.deepEqual(await cached(kube), [
      'not-a-signature-key',
      key(digest('b')),
      key(digest('c')) + 'x',
      key(digest('d')),
    ]);
  });

  it("reads library-go's 0-based keys (the CVO's persister) as signatures of their digest", async () => {
    const kube = new MemoryKube();
    await kube.createConfigMap(NS, {
      metadata: { name: NAME, labels: { [SIGNATURE_CONFIGMAP_LABEL]: '' } },
      binaryData: {
        [key(digest('a'), 0)]: 'YQ==',
        [key(digest('a'), 1)]: 'Yg==',
        [key(digest('b'), 0)]: 'Yw==',
      },
    });
    const cache = new SignatureCache(kube, NS, NAME);
    await cache.persist(digest('c'), [sig('c1')], new Set([digest('b')]));
    assert.deepEqual(await cached(kube), [key(digest('b'), 0), key(digest('c'))]);
  });

  it('writes when only removals are due, and not at all when nothing changes', async () => {
    const kube = new MemoryKube();
    const cache = new SignatureCache(kube, NS, NAME);
    await cache.persist(digest('a'), [sig('a1')]);
    await cache.persist(digest('b'), [sig('b1')]);
    const writes = (): number => kube.actionsOf('update', 'configmaps').length;
    const before = writes();
    assert.equal(
      await cache.persist(digest('b'), [sig('b1')], new Set([digest('a'), digest('b')])),
      0,
    );
    assert.equal(writes(), before, 'nothing to add or drop: no write');
    assert.equal(await cache.persist(digest('b'), [sig('b1')], new Set([digest('b')])), 0);
    assert.equal(writes(), before + 1);
    assert.deepEqual(await cached(kube), [key(digest('b'))]);
  });
});

describe('digestsNamedBy', () => {
  it('names the digests of history, status.desired and the requested update', () => {
    const current = release(1);
    const target = release(2);
    const base = installedClusterVersion();
    const cv = {
      ...base,
      spec: { ...base.spec, desiredUpdate: { version: '4.17.0', image: target } },
      status: base.status
        ? {
            ...base.status,
            history: [
              ...(base.status.history ?? []),
              {
                ...(base.status.history?.[0] ?? {
                  state: 'Completed',
                  version: '',
                  verified: true,
                  startedTime: '2026-01-01T00:00:00Z',
                  completionTime: null,
                }),
                image: 'quay.io/x/y:tag',
              },
            ],
          }
        : undefined,
    };
    const named = digestsNamedBy(cv);
    assert.ok(named.has(current.slice(current.indexOf('@') + 1)), 'the installed release');
    assert.ok(named.has(target.slice(target.indexOf('@') + 1)), 'the requested update');
    assert.equal(
      [...named].some((d) => d.includes('tag')),
      false,
      'a by-tag image names no digest',
    );
  });

  it('names the available update a version-only request resolves to', () => {
    const target = release(3);
    const other = release(4);
    const base = installedClusterVersion([
      { version: '4.17.0', image: target },
      { version: '4.17.1', image: other },
    ]);
    const named = digestsNamedBy({
      ...base,
      spec: { ...base.spec, desiredUpdate: { version: '4.17.0', image: '' } },
    });
    assert.ok(named.has(target.slice(target.indexOf('@') + 1)));
    assert.equal(named.has(other.slice(other.indexOf('@') + 1)), false);
  });
});
