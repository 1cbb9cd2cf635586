/**
 * A forced update whose trust cannot be read (no root-of-trust ConfigMap) is still loaded as the
 * CVO loads it: its release-metadata is read, so a version it contradicts is refused, forced or
 * not (found by the issue-13 review: the early return skipped the read).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { defaultServiceConfig } from '../../src/config/service-config.js';
import { applyVerdict, planReconcile } from '../../src/controller/reconcile.js';
import { silentLogger } from '../../src/observability/logger.js';
import { ClusterTrust } from '../../src/trust/cluster-trust.js';
import { gzip, makeTar } from '../../testbed/tar-writer.js';
import { installedClusterVersion } from '../helpers/controller-fixture.js';
import { memoryReleaseClient } from '../helpers/memory-release.js';
import { MemoryKube } from '../helpers/memory-kube.js';

const CONFIG = defaultServiceConfig({});
const RELEASE = `quay.io/openshift-release-dev/ocp-release@sha256:${'a'.repeat(64)}`;
const COMPONENT = `quay.io/ocp/art@sha256:${'b'.repeat(64)}`;

/** A release image whose own metadata says 4.15.0 (an older, signed release, say). */
function oldRelease() {
  const layer = gzip(
    makeTar([
      { name: 'release-manifests/', type: 'dir' },
      {
        name: 'release-manifests/image-references',
        body: JSON.stringify({
          kind: 'ImageStream',
          apiVersion: 'image.openshift.io/v1',
          metadata: { name: '4.15.0' },
          spec: { tags: [{ name: 'etcd', from: { kind: 'DockerImage', name: COMPONENT } }] },
        }),
      },
      {
        name: 'release-manifests/release-metadata',
        body: JSON.stringify({ kind: 'cincinnati-metadata-v0', version: '4.15.0' }),
      },
    ]),
  );
  return memoryReleaseClient([layer]).client;
}

describe('ClusterTrust: a forced update whose trust cannot be read', () => {
  it('still reads the release-metadata, so a contradicting version is refused (forced or not)', async () => {
    // No root-of-trust ConfigMap at all: the trust cannot be built.
    const kube = new MemoryKube();
    const trust = new ClusterTrust({
      rootOfTrust: CONFIG.rootOfTrust,
      signatureNamespace: CONFIG.signatureNamespace,
      caNamespace: CONFIG.caNamespace,
      trustedCaBundle: CONFIG.trustedCaBundle,
      source: kube,
      logger: silentLogger,
      registry: oldRelease(),
      http: {},
      budgetMs: 5_000,
    });
    const base = installedClusterVersion([{ version: '4.17.0', image: RELEASE }]);
    const cv = {
      ...base,
      spec: { ...base.spec, desiredUpdate: { version: '4.17.0', image: RELEASE, force: true } },
    };
    const verification = await trust.verify(RELEASE, cv, AbortSignal.timeout(10_000), {
      payload: true,
    });
    assert.equal(verification.outcome.verified, false);
    const plan = planReconcile(cv);
    assert.equal(plan.kind, 'verify');
    if (plan.kind !== 'verify') return;
    const { status, events } = applyVerdict(cv, plan, verification.outcome, {
      now: '2026-01-01T00:00:00Z',
      architecture: 'amd64',
      payload: verification.payload,
      release: verification.release,
    });
    const accepted = status.conditions?.find((c) => c.type === 'ReleaseAccepted');
    assert.ok(
      verification.release !== undefined,
      `release-metadata never read (outcome code ${String(verification.outcome.code)}); ` +
        `ReleaseAccepted=${String(accepted?.status)} "${String(accepted?.message)}", ` +
        `history[0].version=${String(status.history?.[0]?.version)}, events: ${events.map((e) => e.reason).join(', ')}`,
    );
    assert.equal(accepted?.reason, 'VerifyPayloadVersion');
  });

  it('reads nothing of the release for a caller that does not use its metadata (the webhook), forced or not', async () => {
    const kube = new MemoryKube();
    let asked = 0;
    const inner = oldRelease();
    const counting = {
      getManifest: (...args: Parameters<typeof inner.getManifest>) => {
        asked++;
        return inner.getManifest(...args);
      },
      streamBlob: inner.streamBlob.bind(inner),
    } as unknown as typeof inner;
    const trust = new ClusterTrust({
      rootOfTrust: CONFIG.rootOfTrust,
      signatureNamespace: CONFIG.signatureNamespace,
      caNamespace: CONFIG.caNamespace,
      trustedCaBundle: CONFIG.trustedCaBundle,
      source: kube,
      logger: silentLogger,
      registry: counting,
      http: {},
      budgetMs: 5_000,
    });
    const base = installedClusterVersion([{ version: '4.17.0', image: RELEASE }]);
    const cv = {
      ...base,
      spec: { ...base.spec, desiredUpdate: { version: '4.17.0', image: RELEASE, force: true } },
    };
    const verification = await trust.verify(RELEASE, cv, AbortSignal.timeout(10_000), {
      payload: true,
      releaseMetadata: false,
    });
    assert.equal(verification.outcome.verified, false);
    assert.equal(verification.release, undefined);
    assert.equal(asked, 0, 'the registry was not asked for the release');
  });
});
