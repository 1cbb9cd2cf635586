/**
 * WatchedSignatureConfigMaps (issue 14): the signature ConfigMaps are listed until a watch has
 * its own copy, then read from that copy; a failed watch falls back to listing until it is back.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { WatchHandlers } from '../../src/kube/client.js';
import type { ConfigMap } from '../../src/kube/types.js';
import { SIGNATURE_CONFIGMAP_LABEL } from '../../src/stores/configmap-store.js';
import { WatchedSignatureConfigMaps } from '../../src/trust/signature-configmaps.js';
import { settle } from '../helpers/manual-clock.js';
import { MemoryKube } from '../helpers/memory-kube.js';

const NS = 'openshift-config-managed';

function signatures(name: string, key: string): ConfigMap {
  return {
    metadata: { name, labels: { [SIGNATURE_CONFIGMAP_LABEL]: '' } },
    binaryData: { [key]: 'AQID' },
  };
}

describe('WatchedSignatureConfigMaps', () => {
  it('lists until the watch has its copy, then reads the copy (new ConfigMaps included) without listing', async () => {
    const kube = new MemoryKube();
    await kube.createConfigMap(NS, signatures('release-a', 'sha256-aa-1'));
    await kube.createConfigMap(NS, { metadata: { name: 'unrelated' }, data: { x: 'y' } });
    const watched = new WatchedSignatureConfigMaps(kube, NS, SIGNATURE_CONFIGMAP_LABEL);
    const first = await watched.list();
    assert.deepEqual(
      first.map((c) => c.metadata.name),
      ['release-a'],
    );
    assert.equal(kube.actionsOf('list', 'configmaps').length, 1, 'the first read lists');
    await settle();
    assert.equal(kube.actionsOf('watch', 'configmaps').length, 1, 'and starts the watch');
    await kube.createConfigMap(NS, signatures('release-b', 'sha256-bb-1'));
    await settle();
    const second = await watched.list();
    assert.deepEqual(second.map((c) => c.metadata.name).sort(), ['release-a', 'release-b']);
    assert.deepEqual(second.find((c) => c.metadata.name === 'release-b')?.binaryData, {
      'sha256-bb-1': 'AQID',
    });
    assert.equal(
      kube.actionsOf('list', 'configmaps').length,
      1,
      'no list once the watch is current',
    );
    await watched.stop();
    // Stopped: nothing kept, every read lists again.
    await watched.list();
    assert.equal(kube.actionsOf('list', 'configmaps').length, 2);
  });

  it('lists again while the watch has failed, and reads the copy once it is back', async () => {
    let handlers: WatchHandlers<ConfigMap> | undefined;
    let lists = 0;
    const source = {
      listConfigMaps: () => {
        lists++;
        return Promise.resolve([signatures('listed', 'sha256-cc-1')]);
      },
      watchConfigMaps: (_ns: string, _selector: string, h: WatchHandlers<ConfigMap>) => {
        handlers = h;
        return { start: () => Promise.resolve(), stop: () => Promise.resolve() };
      },
    };
    const watched = new WatchedSignatureConfigMaps(source, NS, SIGNATURE_CONFIGMAP_LABEL);
    await watched.list();
    assert.ok(handlers, 'the watch was started');
    handlers.onChange(signatures('watched', 'sha256-dd-1'));
    // Listed but not yet connected: the copy may be partial, so it is not used.
    assert.deepEqual(
      (await watched.list()).map((c) => c.metadata.name),
      ['listed'],
    );
    handlers.onConnect?.();
    assert.deepEqual(
      (await watched.list()).map((c) => c.metadata.name),
      ['watched'],
    );
    assert.equal(lists, 2);
    handlers.onError?.(new Error('watch closed: 500'), 500);
    assert.deepEqual(
      (await watched.list()).map((c) => c.metadata.name),
      ['listed'],
      'a failed watch is not trusted to be whole',
    );
    assert.equal(lists, 3);
    handlers.onDelete?.(signatures('watched', 'sha256-dd-1'));
    handlers.onConnect?.();
    assert.deepEqual(await watched.list(), [], 'back: the relisted copy, with the deletion');
    assert.equal(lists, 3);
  });
});
