import { ReleaseController } from '../../src/controller/controller.js';
import type { ControllerOptions } from '../../src/controller/controller.js';
import type { ClusterVersion, Condition } from '../../src/kube/types.js';
import { silentLogger } from '../../src/observability/logger.js';
import { FakeReleaseVerifier } from './fake-release-verifier.js';
import { ManualClock, settle } from './manual-clock.js';
import { MemoryKube } from './memory-kube.js';

export const RELEASE_REPO = 'quay.io/openshift-release-dev/ocp-release';

/** A by-digest release pullspec, distinct per `n`. */
export function release(n: number): string {
  return `${RELEASE_REPO}@sha256:${n.toString(16).padStart(64, 'a')}`;
}

export const CURRENT_RELEASE = { version: '4.16.0', image: release(1) };
export const EVENT_NAMESPACE = 'openshift-cluster-version';

/** An installed cluster's ClusterVersion: the current release Completed, updates on offer. */
export function installedClusterVersion(
  availableUpdates: { version: string; image: string }[] = [],
): ClusterVersion {
  const at = '2025-12-31T23:00:00Z';
  return {
    apiVersion: 'config.openshift.io/v1',
    kind: 'ClusterVersion',
    metadata: { name: 'version' },
    spec: { clusterID: '7d1f3a34-7d1f-4c1f-9c1f-7d1f3a347d1f', channel: 'stable-4.17' },
    status: {
      desired: CURRENT_RELEASE,
      history: [
        {
          state: 'Completed',
          startedTime: at,
          completionTime: at,
          version: CURRENT_RELEASE.version,
          image: CURRENT_RELEASE.image,
          verified: true,
        },
      ],
      observedGeneration: 1,
      versionHash: 'seeded',
      availableUpdates,
      conditions: [],
    },
  };
}

export interface ControllerFixture {
  readonly clock: ManualClock;
  readonly kube: MemoryKube;
  readonly verifier: FakeReleaseVerifier;
  readonly controller: ReleaseController;
  /**
   * Sets spec.desiredUpdate as `oc adm upgrade` does (a merge patch) and waits until the
   * controller is idle; with `{ idle: false }` only until the reconcile has started (a
   * verification that has not ended keeps the controller busy).
   */
  request(
    update: Record<string, unknown> | null,
    options?: { readonly idle?: boolean },
  ): Promise<void>;
  /** Lets queued work run: watch deliveries, reconciles, their writes and Events. */
  reconciled(): Promise<void>;
  clusterVersion(): Promise<ClusterVersion>;
  condition(type: string): Promise<Condition | undefined>;
}

/** The recheck delays the fixture uses unless told otherwise. */
export const FIXTURE_RECHECK_BASE_MS = 1_000;
export const FIXTURE_RECHECK_MAX_MS = 8_000;

/**
 * A started ReleaseController on an in-memory API, a scripted verifier and a manual clock: no
 * API server, no sleeps; time moves only with `clock.advance`.
 */
export async function startController(
  options: Partial<ControllerOptions> = {},
  availableUpdates: { version: string; image: string }[] = [],
): Promise<ControllerFixture> {
  const clock = new ManualClock();
  const kube = new MemoryKube({ clock });
  await kube.createClusterVersion(installedClusterVersion(availableUpdates));
  const verifier = new FakeReleaseVerifier();
  const controller = new ReleaseController({
    kube,
    verifier,
    logger: silentLogger,
    clock,
    recheckBaseMs: FIXTURE_RECHECK_BASE_MS,
    recheckMaxMs: FIXTURE_RECHECK_MAX_MS,
    ...options,
  });
  const reconciled = async (): Promise<void> => {
    await settle();
    await controller.idle();
    await settle();
  };
  await controller.start();
  await reconciled();
  return {
    clock,
    kube,
    verifier,
    controller,
    request: async (update, opts = {}) => {
      await kube.mergePatchClusterVersion('version', { spec: { desiredUpdate: update } });
      if (opts.idle === false) await settle();
      else await reconciled();
    },
    reconciled,
    clusterVersion: () => kube.getClusterVersion('version'),
    condition: async (type) =>
      (await kube.getClusterVersion('version')).status?.conditions?.find((c) => c.type === type),
  };
}
