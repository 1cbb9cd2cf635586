import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { it } from 'node:test';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';

import { isResourceNotServed, KubeApiError } from '../../src/kube/client.js';
import type { KubePort } from '../../src/kube/client.js';
import type {
  ClusterVersion,
  ClusterVersionStatus,
  ConfigMap,
  KubeEvent,
} from '../../src/kube/types.js';
import { kubeApiError } from './memory-kube.js';
import type { ApiStatus } from './memory-kube.js';

/** What the contract runs against: a port, with a ClusterVersion `version` that has a status. */
export interface KubePortSubject {
  readonly kube: KubePort;
  /** A namespace that exists, for ConfigMaps, Leases and Events. */
  readonly namespace: string;
}

const CONFLICT =
  'the object has been modified; please apply your changes to the latest version and try again';

function unique(): string {
  return randomBytes(4).toString('hex');
}

/**
 * Fails unless `promise` rejects with the KubeApiError the client makes of `status` for `what`
 * (its description of the call), message included; with a bare code, only the code is checked.
 */
async function rejectsWith(
  promise: Promise<unknown>,
  status: number | { readonly what: string; readonly status: ApiStatus },
): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof KubeApiError, `not a KubeApiError: ${String(err)}`);
    if (typeof status === 'number') {
      assert.equal(err.status, status, err.message);
    } else {
      assert.equal(err.status, status.status.code, err.message);
      assert.equal(err.message, kubeApiError(status.what, status.status).message);
    }
    return true;
  });
}

/** Polls `check` (a watch is asynchronous on a real API server); a fake passes at once. */
async function eventually(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  await nextTurn();
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function withStatus(cv: ClusterVersion, change: Partial<ClusterVersionStatus>): ClusterVersion {
  assert.ok(cv.status, 'the subject ClusterVersion has no status');
  return { ...cv, status: { ...cv.status, ...change } };
}

/**
 * What src/kube/client.ts returns and throws against a real kube-apiserver, written once: run
 * against the API server in test/e2e/kube-port-contract.test.ts and against MemoryKube in
 * test/unit/memory-kube.test.ts, so the fake controller unit tests use cannot drift from the
 * client they stand in for. Call inside a describe whose before() provides the subject.
 */
export function kubePortContract(subject: () => KubePortSubject | { readonly skip: string }): void {
  const contract = (name: string, fn: (s: KubePortSubject) => Promise<void>): void => {
    it(name, async (t) => {
      const s = subject();
      if ('skip' in s) {
        t.skip(s.skip);
        return;
      }
      await fn(s);
    });
  };

  contract(
    'reports a missing ClusterVersion as KubeApiError 404, as the client words it',
    async ({ kube }) => {
      await rejectsWith(kube.getClusterVersion('absent'), {
        what: 'get clusterversion absent',
        status: {
          code: 404,
          reason: 'NotFound',
          message: 'clusterversions.config.openshift.io "absent" not found',
          details: { name: 'absent', group: 'config.openshift.io', kind: 'clusterversions' },
        },
      });
    },
  );

  contract(
    'bumps resourceVersion on a status write and refuses a stale one with 409',
    async ({ kube }) => {
      const cv = await kube.getClusterVersion('version');
      const written = await kube.replaceClusterVersionStatus(
        withStatus(cv, { versionHash: `contract-${unique()}` }),
      );
      assert.notEqual(written.metadata.resourceVersion, cv.metadata.resourceVersion);
      await rejectsWith(
        kube.replaceClusterVersionStatus(withStatus(cv, { versionHash: `stale-${unique()}` })),
        {
          what: 'update clusterversion version status',
          status: {
            code: 409,
            reason: 'Conflict',
            message: `Operation cannot be fulfilled on clusterversions.config.openshift.io "version": ${CONFLICT}`,
            details: { name: 'version', group: 'config.openshift.io', kind: 'clusterversions' },
          },
        },
      );
      const after = await kube.getClusterVersion('version');
      assert.equal(after.metadata.resourceVersion, written.metadata.resourceVersion);
      assert.equal(after.status?.versionHash, written.status?.versionHash);
    },
  );

  contract(
    'reads a Secret or a cluster Proxy that does not exist (nor its API) as undefined, not as an error',
    async ({ kube, namespace }) => {
      assert.equal(await kube.getSecret(namespace, `absent-${unique()}`), undefined);
      assert.equal(await kube.getClusterProxy(`absent-${unique()}`), undefined);
    },
  );

  contract('keeps the resourceVersion when a write changes nothing', async ({ kube }) => {
    const cv = await kube.getClusterVersion('version');
    const again = await kube.replaceClusterVersionStatus(cv);
    assert.equal(again.metadata.resourceVersion, cv.metadata.resourceVersion);
  });

  contract(
    'writes status only through the status subresource, and spec (bumping generation) only through a patch',
    async ({ kube }) => {
      const cv = await kube.getClusterVersion('version');
      const hash = `hash-${unique()}`;
      const status = await kube.replaceClusterVersionStatus({
        ...withStatus(cv, { versionHash: hash }),
        spec: { ...cv.spec, channel: `ignored-${unique()}` },
      });
      assert.equal(status.spec.channel, cv.spec.channel, 'a status write changed the spec');
      assert.equal(status.status?.versionHash, hash);
      assert.equal(status.metadata.generation, cv.metadata.generation);
      const channel = `channel-${unique()}`;
      const patched = await kube.mergePatchClusterVersion('version', {
        spec: { channel },
        status: { versionHash: 'ignored' },
      });
      assert.equal(patched.spec.channel, channel);
      assert.equal(patched.status?.versionHash, hash, 'a spec patch changed the status');
      assert.equal(patched.metadata.generation, (cv.metadata.generation ?? 0) + 1);
      assert.equal(patched.spec.clusterID, cv.spec.clusterID, 'a merge patch replaced the spec');
      const cleared = await kube.mergePatchClusterVersion('version', { spec: { channel: null } });
      assert.equal('channel' in cleared.spec, false, 'null in a merge patch did not delete');
    },
  );

  contract(
    'serves ConfigMaps: undefined when missing, 409 on a taken name or a stale resourceVersion, 404 when replacing a missing one',
    async ({ kube, namespace }) => {
      const name = `contract-${unique()}`;
      const label = unique();
      assert.equal(await kube.getConfigMap(namespace, name), undefined);
      await rejectsWith(
        kube.replaceConfigMap(namespace, { metadata: { name }, data: { a: '1' } }),
        {
          what: `update configmap ${namespace}/${name}`,
          status: {
            code: 404,
            reason: 'NotFound',
            message: `configmaps "${name}" not found`,
            details: { name, kind: 'configmaps' },
          },
        },
      );
      const created = await kube.createConfigMap(namespace, {
        metadata: { name, labels: { contract: label } },
        data: { a: '1' },
      });
      assert.equal(created.metadata.name, name);
      assert.equal(typeof created.metadata.resourceVersion, 'string');
      assert.equal(typeof created.metadata.uid, 'string');
      await rejectsWith(kube.createConfigMap(namespace, { metadata: { name }, data: {} }), {
        what: `create configmap ${namespace}/${name}`,
        status: {
          code: 409,
          reason: 'AlreadyExists',
          message: `configmaps "${name}" already exists`,
          details: { name, kind: 'configmaps' },
        },
      });
      const replaced = await kube.replaceConfigMap(namespace, { ...created, data: { a: '2' } });
      assert.notEqual(replaced.metadata.resourceVersion, created.metadata.resourceVersion);
      assert.deepEqual(replaced.data, { a: '2' });
      await rejectsWith(kube.replaceConfigMap(namespace, { ...created, data: { a: '3' } }), {
        what: `update configmap ${namespace}/${name}`,
        status: {
          code: 409,
          reason: 'Conflict',
          message: `Operation cannot be fulfilled on configmaps "${name}": ${CONFLICT}`,
          details: { name, kind: 'configmaps' },
        },
      });
      // Core objects take unconditional updates (no resourceVersion).
      const unconditional = { ...replaced.metadata };
      delete unconditional.resourceVersion;
      const forced = await kube.replaceConfigMap(namespace, {
        ...replaced,
        metadata: unconditional,
        data: { a: '4' },
      });
      assert.deepEqual((await kube.getConfigMap(namespace, name))?.data, { a: '4' });
      assert.notEqual(forced.metadata.resourceVersion, replaced.metadata.resourceVersion);
      const other = `contract-${unique()}`;
      await kube.createConfigMap(namespace, { metadata: { name: other }, data: {} });
      const listed = await kube.listConfigMaps(namespace, `contract=${label}`);
      assert.deepEqual(
        listed.map((c) => c.metadata.name),
        [name],
      );
      const all = (await kube.listConfigMaps(namespace)).map((c) => c.metadata.name);
      assert.ok(all.includes(name) && all.includes(other));
    },
  );

  contract(
    'watches the ConfigMaps a label selects: the initial list, changes, and one relabelled out as deleted',
    async ({ kube, namespace }) => {
      const label = unique();
      const selector = `contract-watch=${label}`;
      const first = `contract-${unique()}`;
      const later = `contract-${unique()}`;
      const unlabelled = `contract-${unique()}`;
      await kube.createConfigMap(namespace, {
        metadata: { name: first, labels: { 'contract-watch': label } },
        binaryData: { a: 'AA==' },
      });
      const seen = new Map<string, ConfigMap>();
      const deleted: string[] = [];
      let connected = 0;
      const watcher = kube.watchConfigMaps(namespace, selector, {
        onChange: (cm) => seen.set(cm.metadata.name ?? '', cm),
        onDelete: (cm) => deleted.push(cm.metadata.name ?? ''),
        onConnect: () => connected++,
      });
      try {
        await watcher.start();
        await until(() => connected > 0, 'the watch connected');
        assert.deepEqual([...seen.keys()], [first], 'the initial list');
        await kube.createConfigMap(namespace, { metadata: { name: unlabelled }, data: {} });
        const created = await kube.createConfigMap(namespace, {
          metadata: { name: later, labels: { 'contract-watch': label } },
          binaryData: { b: 'AQ==' },
        });
        await until(() => seen.has(later), 'the new ConfigMap arrived');
        assert.deepEqual(seen.get(later)?.binaryData, { b: 'AQ==' });
        await kube.replaceConfigMap(namespace, {
          ...created,
          metadata: { ...created.metadata, labels: { other: 'x' } },
        });
        await until(() => deleted.includes(later), 'the relabelled ConfigMap was deleted');
        assert.equal(seen.has(unlabelled), false, 'an unselected ConfigMap is never reported');
      } finally {
        await watcher.stop();
      }
    },
  );

  contract(
    'serves Leases with the same conflict rules and MicroTime round trips',
    async ({ kube, namespace }) => {
      const name = `contract-${unique()}`;
      assert.equal(await kube.getLease(namespace, name), undefined);
      const renewTime = '2026-01-01T00:00:00.123Z';
      const created = await kube.createLease(namespace, {
        metadata: { name, namespace },
        spec: { holderIdentity: 'a', leaseDurationSeconds: 15, renewTime, acquireTime: renewTime },
      });
      // MicroTime, as the API server stores it.
      assert.equal(created.spec?.renewTime, '2026-01-01T00:00:00.123000Z');
      assert.equal((await kube.getLease(namespace, name))?.spec?.holderIdentity, 'a');
      await rejectsWith(kube.createLease(namespace, { metadata: { name, namespace }, spec: {} }), {
        what: `create lease ${namespace}`,
        status: {
          code: 409,
          reason: 'AlreadyExists',
          message: `leases.coordination.k8s.io "${name}" already exists`,
          details: { name, group: 'coordination.k8s.io', kind: 'leases' },
        },
      });
      const renewed = await kube.replaceLease(namespace, {
        ...created,
        spec: { ...created.spec, holderIdentity: 'b' },
      });
      assert.equal(renewed.spec?.holderIdentity, 'b');
      await rejectsWith(
        kube.replaceLease(namespace, {
          ...created,
          spec: { ...created.spec, holderIdentity: 'c' },
        }),
        {
          what: `update lease ${namespace}`,
          status: {
            code: 409,
            reason: 'Conflict',
            message: `Operation cannot be fulfilled on leases.coordination.k8s.io "${name}": ${CONFLICT}`,
            details: { name, group: 'coordination.k8s.io', kind: 'leases' },
          },
        },
      );
    },
  );

  contract(
    'creates Events by generateName and refuses one about an object in another namespace',
    async ({ kube, namespace }) => {
      const event = (involvedNamespace: string): KubeEvent => ({
        metadata: { generateName: 'version.', namespace },
        involvedObject: {
          apiVersion: 'config.openshift.io/v1',
          kind: 'ClusterVersion',
          name: 'version',
          namespace: involvedNamespace,
        },
        type: 'Normal',
        reason: 'Contract',
        message: 'contract',
        source: { component: 'cvo-update-verifier' },
        firstTimestamp: new Date().toISOString(),
        lastTimestamp: new Date().toISOString(),
        count: 1,
      });
      await kube.createEvent(namespace, event(namespace));
      await rejectsWith(kube.createEvent(namespace, event(`not-${namespace}`)), 422);
    },
  );

  contract(
    'watches ClusterVersions: the existing object on start, then every change',
    async ({ kube }) => {
      const seen: ClusterVersion[] = [];
      let connected = false;
      const watcher = kube.watchClusterVersions({
        onChange: (cv) => seen.push(cv),
        onConnect: () => (connected = true),
      });
      try {
        await watcher.start();
        await eventually(
          () => seen.some((cv) => cv.metadata.name === 'version'),
          'the initial list',
        );
        await eventually(() => connected, 'the watch to connect');
        const channel = `watched-${unique()}`;
        const patched = await kube.mergePatchClusterVersion('version', { spec: { channel } });
        await eventually(
          () => seen.some((cv) => cv.spec.channel === channel),
          'the change to be delivered',
        );
        const last = seen.at(-1);
        assert.equal(last?.metadata.resourceVersion, patched.metadata.resourceVersion);
      } finally {
        await watcher.stop();
      }
    },
  );
}

/** A cluster without the ClusterImagePolicy CRD, for {@link optionalApiContract}. */
export interface OptionalApiSubject {
  readonly kube: KubePort;
  /**
   * Installs ClusterImagePolicies served only as `version` (not the v1 the client lists), as a
   * cluster of a release whose TechPreviewNoUpgrade CRD had v1alpha1 alone. Runs last: the subject
   * is not restored.
   */
  serveClusterImagePoliciesOnlyAs(version: string): Promise<void>;
  /**
   * Removes the ImageContentSourcePolicy CRD (a cluster where that kind is not served). The
   * subject is not restored.
   */
  stopServingImageContentSourcePolicies(): Promise<void>;
}

/**
 * What the client reports for optional APIs a cluster does not serve, run against a real
 * kube-apiserver without the ClusterImagePolicy CRD (test/e2e/feature-sets.test.ts) and against
 * MemoryKube (test/unit/optional-apis.test.ts). Registers its tests in the caller's describe; the
 * last one changes the subject.
 */
export function optionalApiContract(
  subject: () => OptionalApiSubject | { readonly skip: string },
): void {
  const contract = (name: string, fn: (s: OptionalApiSubject) => Promise<void>): void => {
    it(name, async (t) => {
      const s = subject();
      if ('skip' in s) {
        t.skip(s.skip);
        return;
      }
      await fn(s);
    });
  };

  contract(
    'reports ClusterImagePolicies without their CRD as ResourceNotServedError, not as an empty list',
    async ({ kube }) => {
      await assert.rejects(kube.listClusterImagePolicies(), (err: unknown) => {
        assert.ok(isResourceNotServed(err), `not ResourceNotServedError: ${String(err)}`);
        assert.equal(err.status, 404);
        assert.equal(err.resource, 'clusterimagepolicies.config.openshift.io');
        assert.equal(
          err.message,
          'list clusterimagepolicies: 404 the API server does not serve clusterimagepolicies.config.openshift.io in any version',
        );
        return true;
      });
    },
  );

  contract(
    'names a mirror-set kind without its CRD in notServed and lists the other kind',
    async (s) => {
      const before = await s.kube.listMirrorSets();
      assert.deepEqual(before.notServed, []);
      await s.stopServingImageContentSourcePolicies();
      // Discovery drops a deleted CRD's resource shortly after the CRD is gone.
      const deadline = Date.now() + 15_000;
      let last: unknown;
      for (;;) {
        last = await s.kube.listMirrorSets().then(
          (list) => list,
          (err: unknown) => err,
        );
        const done =
          typeof last === 'object' &&
          last !== null &&
          'notServed' in last &&
          (last as { notServed: readonly string[] }).notServed.length > 0;
        if (done || Date.now() > deadline) break;
        await sleep(100);
      }
      assert.deepEqual(
        (last as { notServed?: unknown }).notServed,
        ['imagecontentsourcepolicies.operator.openshift.io'],
        String(last),
      );
    },
  );

  contract(
    'lists ClusterImagePolicies served only as v1alpha1 (the version before v1) through it',
    async (s) => {
      await s.serveClusterImagePoliciesOnlyAs('v1alpha1');
      // The API server's discovery serves a CRD shortly after it is Established.
      const deadline = Date.now() + 10_000;
      let last: unknown;
      for (;;) {
        last = await s.kube.listClusterImagePolicies().then(
          (items) => items,
          (err: unknown) => err,
        );
        if (!isResourceNotServed(last) || Date.now() > deadline) break;
        await sleep(100);
      }
      // Listed (none exist yet), not the v1 list's 404 and not "not served".
      assert.deepEqual(last, []);
    },
  );
}

/** Waits (up to 10 s, polling) until `done()`; fails naming `what`. */
async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
    await sleep(10);
  }
}
