import { KubeApiError } from '../../src/kube/client.js';
import type { KubePort, Watcher } from '../../src/kube/client.js';
import type { ClusterVersion, ClusterVersionStatus, Condition } from '../../src/kube/types.js';
import { recordTarget } from '../../src/controller/history.js';
import { forcedRiskMessage } from '../../src/controller/reconcile.js';
import { resolveTarget } from '../../src/controller/target.js';

/**
 * Plays the cluster-version operator's status writer (openshift/cluster-version-operator
 * 6e719331fb58) against a real API server, as companion mode must live beside it:
 *
 * - its sync reads the ClusterVersion from an informer cache (pkg/cvo/cvo.go:821, 935-942) and
 *   skips a copy older than its own last write (cvo.go:825-828, 906-931);
 * - it runs on every ClusterVersion event (cvo.go:686-700) and on a timer (the status notifier,
 *   cvo.go:571; here every `intervalMs`, far more often than the CVO's 15 s, to provoke races);
 * - it computes status from that copy: history merged for the desired release with its own
 *   `verified` verdict and accepted risks (status.go:64-155, 266), desired, observedGeneration,
 *   and its own conditions set by type, every other type carried over
 *   (resourcemerge.SetOperatorStatusCondition, lib/resourcemerge/os.go:11-29; status.go:248-438);
 *   the Progressing message moves on every tick, so it writes on every tick, as during an
 *   update;
 * - it writes only when status changed (status.go:836), a PUT of the status subresource with the
 *   cached copy's resourceVersion; on 409 it GETs the live object, takes its metadata and PUTs
 *   the status it computed again (status.go:839-852) — dropping whatever another writer put there
 *   in between.
 */
export class FakeCvo {
  private readonly kube: KubePort;
  private readonly intervalMs: number;
  /** The CVO's own verdict on a release (its GPG verification). */
  private readonly verifies: (image: string) => boolean;
  private watcher: Watcher | undefined;
  private cache: ClusterVersion | undefined;
  private lastResourceVersion = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private pending = false;
  private stopped = false;
  private step = 0;
  /** 409s its first PUT met (each followed by the overwriting retry). */
  conflicts = 0;
  /** Status writes that succeeded. */
  writes = 0;
  /**
   * Syncs that returned an error (the overwriting retry met another 409); the CVO's work queue
   * requeues them, here the next tick runs again.
   */
  failures = 0;
  /** Every history it wrote, newest last: what "no lost history" is checked against. */
  readonly written: ClusterVersionStatus[] = [];

  constructor(
    kube: KubePort,
    options: { intervalMs: number; verifies: (image: string) => boolean },
  ) {
    this.kube = kube;
    this.intervalMs = options.intervalMs;
    this.verifies = options.verifies;
  }

  async start(): Promise<void> {
    this.watcher = this.kube.watchClusterVersions({
      onChange: (cv) => {
        if (cv.metadata.name !== 'version') return;
        this.cache = cv;
        this.kick();
      },
      onDelete: () => {
        this.cache = undefined;
      },
      onError: () => undefined,
    });
    await this.watcher.start();
    const tick = (): void => {
      if (this.stopped) return;
      this.step++;
      this.kick();
      this.timer = setTimeout(tick, this.intervalMs);
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.watcher?.stop();
    await this.running;
  }

  /** One sync at a time, coalesced, as the CVO's work queue runs its single key. */
  private kick(): void {
    if (this.pending || this.stopped) return;
    this.pending = true;
    this.running = this.running.then(async () => {
      this.pending = false;
      try {
        await this.sync();
      } catch {
        this.failures++;
      }
    });
  }

  private async sync(): Promise<void> {
    const original = this.cache;
    if (original?.status === undefined) return;
    // cvo.go:825-828: a cache older than our last write waits for the newer event.
    if (Number(original.metadata.resourceVersion) < this.lastResourceVersion) return;
    const required: ClusterVersion = structuredClone(original);
    const status = required.status as ClusterVersionStatus;
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    status.observedGeneration = original.metadata.generation ?? status.observedGeneration;
    const target = resolveTarget(original, { acceptRisks: true });
    if (target.kind === 'target') {
      const verified = this.verifies(target.image);
      const risk =
        target.force && !verified
          ? forcedRiskMessage(target.version, target.image, 'the CVO could not verify it')
          : '';
      if (target.force || verified) {
        status.history = recordTarget(
          status.history,
          { version: target.version, image: target.image },
          verified,
          now,
          risk,
        );
        status.desired = { version: target.version, image: target.image };
        setOperatorStatusCondition(status, {
          type: 'ReleaseAccepted',
          status: 'True',
          reason: 'PayloadLoaded',
          message: `Payload loaded version="${target.version}" image="${target.image}" architecture="amd64"`,
        });
      } else {
        setOperatorStatusCondition(status, {
          type: 'ReleaseAccepted',
          status: 'False',
          reason: 'RetrievePayload',
          message: `Retrieving payload failed version="${target.version}" image="${target.image}" failure=The update cannot be verified`,
        });
      }
    }
    const version = status.desired.version ?? status.desired.image ?? '';
    setOperatorStatusCondition(status, {
      type: 'Available',
      status: 'True',
      reason: '',
      message: `Done applying ${status.history?.at(-1)?.version ?? ''}`,
    });
    setOperatorStatusCondition(status, {
      type: 'Failing',
      status: 'False',
      reason: '',
      message: '',
    });
    // False, as the CVO says between updates (oc's guard refuses while it is True); its message
    // moves on every tick so that every tick writes, the worst case for races.
    setOperatorStatusCondition(status, {
      type: 'Progressing',
      status: 'False',
      reason: '',
      message: `Cluster version is ${version} (sync ${String(this.step)})`,
    });
    if (!status.conditions?.some((c) => c.type === 'RetrievedUpdates'))
      setOperatorStatusCondition(status, {
        type: 'RetrievedUpdates',
        status: 'False',
        reason: '',
        message: '',
      });
    // status.go:836: nothing changed, nothing written.
    if (JSON.stringify(original.status) === JSON.stringify(status)) return;
    let actual: ClusterVersion;
    try {
      actual = await this.kube.replaceClusterVersionStatus(required);
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 409)) throw err;
      this.conflicts++;
      // status.go:840-852: the live object's metadata, our status, again.
      const existing = await this.kube.getClusterVersion('version');
      if (JSON.stringify(existing.status) === JSON.stringify(status)) return;
      actual = await this.kube.replaceClusterVersionStatus({
        ...required,
        metadata: existing.metadata,
      });
    }
    this.writes++;
    this.written.push(structuredClone(status));
    this.lastResourceVersion = Number(actual.metadata.resourceVersion);
  }
}

/** lib/resourcemerge/os.go:11-29: by type; the transition time moves only with the status. */
function setOperatorStatusCondition(
  status: ClusterVersionStatus,
  next: Omit<Condition, 'lastTransitionTime'>,
): void {
  const conditions = status.conditions ?? [];
  status.conditions = conditions;
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const existing = conditions.find((c) => c.type === next.type);
  if (existing === undefined) {
    conditions.push({ ...next, lastTransitionTime: now });
    return;
  }
  if (existing.status !== next.status) {
    existing.status = next.status;
    existing.lastTransitionTime = now;
  }
  existing.reason = next.reason ?? '';
  existing.message = next.message ?? '';
}
