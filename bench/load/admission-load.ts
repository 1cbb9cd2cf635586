/**
 * Open-loop load generator for the admission webhook, run in its own process by
 * bench/webhook-latency.bench.ts as
 *   node --import tsx bench/load/admission-load.ts '<LoadConfig JSON>'
 * so that generating load does not share an event loop with the server it measures.
 *
 * It POSTs admission.k8s.io/v1 AdmissionReviews of a ClusterVersion UPDATE to
 * `<url>/validate-clusterversion` over HTTPS (127.0.0.1 only), in rate steps. Within a step,
 * request i is *scheduled* at t0 + i/rate by the wall clock and sent when that time comes whether
 * or not earlier requests have been answered (open loop; sends due within the next millisecond go
 * out together, per timer wake-up). Its latency runs from the scheduled time (or the actual send,
 * when that was earlier) to the last byte of the response, so time spent queued behind slow
 * responses — in this process, in the connection pool or in the server — is counted (no
 * coordinated omission). How late the generator itself sent each request ("send lag") is
 * reported apart, to tell a slow generator from a slow server.
 *
 * Requests go over one undici Pool: HTTP/1.1 keep-alive, no pipelining, at most `connections`
 * sockets; a request that finds every socket busy waits in the pool (and that wait is latency).
 * Three kinds, in turn: by-tag without force (must be denied with oc's refusal), by-digest
 * (must be allowed, no warning), by-tag with force (must be allowed with oc's warning). Every
 * response is checked: HTTP 200, same uid, the right decision and text; a wrong one is a
 * mismatch.
 *
 * Bounded: each step sends rate × duration requests (a step that would take the total past
 * maxRequests is not run), then waits at most drainTimeoutMs for the answers and aborts the rest
 * (counted as errors). It stops after the last step; after a judged step that had errors or
 * mismatches, or whose p99 reached stopAtP99Ms (a second time at that rate, when retrySlowStep
 * allows a second try); at maxRequests; or when the next step would end past deadlineMs. A
 * watchdog exits the process should all that fail.
 *
 * stdout carries one JSON object per line (LoadMessage), nothing else; diagnostics go to stderr.
 */
import { createHash } from 'node:crypto';

import { Pool } from 'undici';

import { BY_TAG_FORCED_WARNING, BY_TAG_REFUSED } from '../../src/image/oc-messages.js';
import { percentile } from '../stats.js';

export interface LoadStep {
  readonly label: string;
  /** Requests per second, scheduled evenly. */
  readonly rate: number;
  readonly durationMs: number;
  /** Whether this step's outcome may stop the run (false for a warm-up). */
  readonly judged: boolean;
}

export interface LoadConfig {
  /** https://127.0.0.1:PORT */
  readonly url: string;
  /** PEM of the CA that signed the server's certificate. */
  readonly ca: string;
  readonly connections: number;
  readonly steps: readonly LoadStep[];
  readonly stopAtP99Ms: number;
  readonly drainTimeoutMs: number;
  /** Quiet time between steps. */
  readonly pauseMs: number;
  readonly maxRequests: number;
  /** No step starts that would end (sending + drain) later than this after start-up. */
  readonly deadlineMs: number;
  /**
   * A judged step whose p99 alone reached stopAtP99Ms while its median stayed under a fifth of it
   * (a burst, not saturation) is run once more at the same rate (label "… again") before the run
   * stops; errors and wrong answers stop it at once.
   */
  readonly retrySlowStep: boolean;
}

export const KINDS = ['by-tag', 'by-digest', 'by-tag-forced'] as const;
export type RequestKind = (typeof KINDS)[number];

export interface StepResult {
  readonly label: string;
  readonly rate: number;
  readonly judged: boolean;
  /** Scheduled sending window. */
  readonly durationMs: number;
  readonly sent: number;
  /** Answered with HTTP 200 (right or wrong decision). */
  readonly completed: number;
  /** Transport errors, non-200 answers and requests aborted at the drain deadline. */
  readonly errors: number;
  readonly errorKinds: Record<string, number>;
  readonly firstError?: string;
  /** Completed, but with the wrong decision, uid or text. */
  readonly mismatches: number;
  readonly firstMismatch?: string;
  /** Latency from the scheduled send time to the end of the response, over completed requests. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** How late the generator sent requests, relative to their schedule. */
  readonly sendLagP99Ms: number;
  readonly sendLagMaxMs: number;
  /** Sockets the pool had open at the end of the step. */
  readonly sockets: number;
  /** Connections (TCP + TLS handshakes) the pool opened during the step. */
  readonly newConnections: number;
  /** This process's CPU time over the step (sending and drain) per wall time: 1 = one core. */
  readonly generatorCpu: number;
}

export interface KindTotals {
  readonly sent: number;
  /** Completed with the right decision. */
  readonly right: number;
}

export type LoadMessage =
  | { readonly type: 'ready'; readonly bodyBytes: Record<RequestKind, number> }
  | { readonly type: 'step-start'; readonly label: string; readonly rate: number }
  | { readonly type: 'step'; readonly result: StepResult }
  | {
      readonly type: 'done';
      readonly stopped: string;
      readonly totals: Record<RequestKind, KindTotals>;
    };

const REPO = 'quay.io/openshift-release-dev/ocp-release';
const UID_MARK = '@@UID@@';
/** How early a request may go out, to batch sends per timer wake-up. */
const EARLY_MS = 1;

function digest(seed: string): string {
  return `sha256:${createHash('sha256').update(seed).digest('hex')}`;
}

/** A ClusterVersion about as large as a real one a few updates in (history, available updates). */
function clusterVersion(desiredUpdate: Record<string, unknown>): Record<string, unknown> {
  const release = (version: string): Record<string, unknown> => ({
    version,
    image: `${REPO}@${digest(version)}`,
    url: `https://access.redhat.com/errata/RHSA-2024:${version.replaceAll('.', '')}`,
    channels: ['candidate-4.17', 'fast-4.17', 'stable-4.17', 'eus-4.18'],
  });
  const time = '2024-11-05T10:00:00Z';
  return {
    apiVersion: 'config.openshift.io/v1',
    kind: 'ClusterVersion',
    metadata: {
      name: 'version',
      uid: '8d5c6e0a-3b1f-4c2e-9a7d-1f2e3d4c5b6a',
      resourceVersion: '4242424',
      generation: 7,
      creationTimestamp: '2024-06-01T08:00:00Z',
      managedFields: ['cluster-version-operator', 'oc', 'cvo-update-verifier'].map((manager) => ({
        manager,
        operation: 'Update',
        apiVersion: 'config.openshift.io/v1',
        time,
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:spec': { 'f:desiredUpdate': { '.': {}, 'f:image': {}, 'f:version': {} } } },
      })),
    },
    spec: {
      clusterID: '0f8e6a4c-2d1b-4e3f-8a9b-7c6d5e4f3a2b',
      channel: 'stable-4.17',
      upstream: 'https://api.openshift.com/api/upgrades_info/v1/graph',
      desiredUpdate,
    },
    status: {
      observedGeneration: 7,
      versionHash: 'wXyZ0123456=',
      desired: release('4.17.0'),
      history: ['4.17.0', '4.16.20', '4.16.15', '4.16.8', '4.15.30'].map((version, i) => ({
        state: 'Completed',
        startedTime: time,
        completionTime: time,
        version,
        image: `${REPO}@${digest(version)}`,
        verified: i !== 4,
        acceptedRisks: '',
      })),
      conditions: [
        'Available',
        'Failing',
        'Progressing',
        'RetrievedUpdates',
        'ReleaseAccepted',
        'Upgradeable',
      ].map((type) => ({
        type,
        status: type === 'Failing' ? 'False' : 'True',
        lastTransitionTime: time,
        reason: 'AsExpected',
        message: `Cluster version is 4.17.0 (${type})`,
      })),
      availableUpdates: ['4.17.1', '4.17.2', '4.17.3', '4.17.4', '4.17.5', '4.17.6'].map(release),
      capabilities: {
        enabledCapabilities: ['Build', 'Console', 'DeploymentConfig', 'ImageRegistry', 'Ingress'],
        knownCapabilities: ['Build', 'Console', 'DeploymentConfig', 'ImageRegistry', 'Ingress'],
      },
    },
  };
}

const DESIRED: Record<RequestKind, Record<string, unknown>> = {
  'by-tag': { image: `${REPO}:4.17.3-x86_64`, version: '', force: false },
  'by-digest': { image: `${REPO}@${digest('4.17.3')}`, version: '4.17.3', force: false },
  'by-tag-forced': { image: `${REPO}:4.17.3-x86_64`, version: '', force: true },
};

/** The request body of one kind, split around the uid so that sending costs one concatenation. */
function template(kind: RequestKind): { head: string; tail: string } {
  const review = {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: UID_MARK,
      kind: { group: 'config.openshift.io', version: 'v1', kind: 'ClusterVersion' },
      resource: { group: 'config.openshift.io', version: 'v1', resource: 'clusterversions' },
      requestKind: { group: 'config.openshift.io', version: 'v1', kind: 'ClusterVersion' },
      requestResource: { group: 'config.openshift.io', version: 'v1', resource: 'clusterversions' },
      name: 'version',
      operation: 'UPDATE',
      userInfo: { username: 'system:admin', groups: ['system:masters', 'system:authenticated'] },
      object: clusterVersion(DESIRED[kind]),
      oldObject: clusterVersion({
        image: `${REPO}@${digest('4.17.0')}`,
        version: '4.17.0',
        force: false,
      }),
      dryRun: false,
      options: { kind: 'UpdateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  };
  const [head, tail] = JSON.stringify(review).split(UID_MARK);
  return { head: head ?? '', tail: tail ?? '' };
}

/** Why a 200 answer is wrong for its request, or undefined when it is right. */
function judge(kind: RequestKind, uid: string, text: string): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return `${kind}: the answer is not JSON: ${text.slice(0, 200)}`;
  }
  const review = body as {
    kind?: unknown;
    response?: {
      uid?: unknown;
      allowed?: unknown;
      status?: { code?: unknown; message?: unknown };
      warnings?: unknown;
    };
  };
  const r = review.response;
  if (review.kind !== 'AdmissionReview' || r === undefined)
    return `${kind}: not an AdmissionReview: ${text.slice(0, 200)}`;
  if (r.uid !== uid) return `${kind}: uid ${String(r.uid)} answered for ${uid}`;
  const warnings = Array.isArray(r.warnings) ? (r.warnings as unknown[]) : [];
  switch (kind) {
    case 'by-tag':
      if (r.allowed !== false) return `by-tag without force was allowed: ${text.slice(0, 300)}`;
      if (r.status?.code !== 403 || r.status.message !== BY_TAG_REFUSED)
        return `by-tag without force was denied without oc's refusal: ${JSON.stringify(r.status)}`;
      return undefined;
    case 'by-digest':
      if (r.allowed !== true) return `by-digest was denied: ${JSON.stringify(r.status)}`;
      if (warnings.length > 0) return `by-digest came with warnings: ${JSON.stringify(warnings)}`;
      return undefined;
    case 'by-tag-forced':
      if (r.allowed !== true) return `by-tag with force was denied: ${JSON.stringify(r.status)}`;
      if (warnings.length !== 1 || warnings[0] !== BY_TAG_FORCED_WARNING)
        return `by-tag with force came without oc's warning: ${JSON.stringify(warnings)}`;
      return undefined;
  }
}

function emit(message: LoadMessage): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function parseConfig(arg: string | undefined): LoadConfig {
  if (arg === undefined) throw new Error('usage: admission-load.ts <LoadConfig JSON>');
  const config = JSON.parse(arg) as LoadConfig;
  const url = new URL(config.url);
  if (url.protocol !== 'https:' || url.hostname !== '127.0.0.1')
    throw new Error(`refusing to load ${config.url}: only https://127.0.0.1 is allowed`);
  return config;
}

async function main(): Promise<void> {
  const config = parseConfig(process.argv[2]);
  const started = performance.now();
  // Last resort: whatever happens, this process ends shortly after its deadline.
  setTimeout(() => {
    process.stderr.write('admission-load: watchdog: still running past the deadline, exiting\n');
    process.exit(3);
  }, config.deadlineMs + 15_000).unref();

  const templates = Object.fromEntries(KINDS.map((k) => [k, template(k)])) as Record<
    RequestKind,
    { head: string; tail: string }
  >;
  emit({
    type: 'ready',
    bodyBytes: Object.fromEntries(
      KINDS.map((k) => [
        k,
        Buffer.byteLength(templates[k].head) + 36 + Buffer.byteLength(templates[k].tail),
      ]),
    ) as Record<RequestKind, number>,
  });

  const pool = new Pool(config.url, {
    connections: config.connections,
    pipelining: 1,
    connect: { ca: config.ca },
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
  });
  let connects = 0;
  pool.on('connect', () => {
    connects++;
  });
  const sentByKind = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<RequestKind, number>;
  const rightByKind = { ...sentByKind };
  let total = 0;
  let stopped = 'all steps run';

  try {
    const plan: (LoadStep & { again?: boolean })[] = [...config.steps];
    for (let j = 0; j < plan.length; j++) {
      const step = plan[j]!;
      const elapsed = performance.now() - started;
      if (elapsed + step.durationMs + config.drainTimeoutMs > config.deadlineMs) {
        stopped = `time limit: step ${step.label} would end past ${config.deadlineMs} ms`;
        break;
      }
      const count = Math.round((step.rate * step.durationMs) / 1000);
      if (total + count > config.maxRequests) {
        stopped = `request cap: step ${step.label} at ${step.rate} req/s would pass ${config.maxRequests} requests`;
        break;
      }
      emit({ type: 'step-start', label: step.label, rate: step.rate });

      const connectsAtStart = connects;
      const cpuAtStart = process.cpuUsage();
      const wallAtStart = performance.now();
      const latencies: number[] = [];
      const lags: number[] = [];
      const errorKinds: Record<string, number> = {};
      let firstError: string | undefined;
      let mismatches = 0;
      let firstMismatch: string | undefined;
      let completed = 0;
      const abort = new AbortController();
      const pending: Promise<void>[] = [];

      const fire = (i: number, scheduled: number): void => {
        const sentAt = performance.now();
        // Late: timed from the schedule (the delay counts). Early (≤ EARLY_MS): from the send.
        const origin = Math.min(scheduled, sentAt);
        const seq = total + i;
        const kind = KINDS[seq % KINDS.length] ?? 'by-tag';
        const uid = `00000000-0000-4000-8000-${seq.toString(16).padStart(12, '0')}`;
        const t = templates[kind];
        sentByKind[kind]++;
        lags.push(Math.max(0, sentAt - scheduled));
        pending.push(
          pool
            .request({
              path: '/validate-clusterversion',
              method: 'POST',
              headers: { 'content-type': 'application/json', accept: 'application/json' },
              body: t.head + uid + t.tail,
              signal: abort.signal,
            })
            .then(async (res) => {
              const text = await res.body.text();
              const end = performance.now();
              if (res.statusCode !== 200) {
                const key = `HTTP ${res.statusCode}`;
                errorKinds[key] = (errorKinds[key] ?? 0) + 1;
                firstError ??= `${key}: ${text.slice(0, 200)}`;
                return;
              }
              completed++;
              latencies.push(end - origin);
              const wrong = judge(kind, uid, text);
              if (wrong === undefined) rightByKind[kind]++;
              else {
                mismatches++;
                firstMismatch ??= wrong;
              }
            })
            .catch((err: unknown) => {
              const key = abort.signal.aborted
                ? 'not answered by the drain deadline'
                : ((err as { code?: string }).code ?? 'error');
              errorKinds[key] = (errorKinds[key] ?? 0) + 1;
              firstError ??= err instanceof Error ? `${key}: ${err.message}` : String(err);
            }),
        );
      };

      // Open loop: send on the schedule, never waiting for answers. Timers are ≥ 1 ms coarse and
      // spinning would take CPU from the server on a small machine, so each wake-up sends what is
      // due within the next EARLY_MS (timed from its actual send) and sleeps until then.
      const interval = 1000 / step.rate;
      const t0 = performance.now() + 1;
      let i = 0;
      while (i < count) {
        const now = performance.now();
        while (i < count && t0 + i * interval <= now + EARLY_MS) {
          fire(i, t0 + i * interval);
          i++;
        }
        if (i >= count) break;
        await sleep(Math.max(0, t0 + i * interval - EARLY_MS - performance.now()));
      }
      total += count;

      const drainTimer = setTimeout(() => {
        abort.abort();
      }, config.drainTimeoutMs);
      await Promise.all(pending);
      clearTimeout(drainTimer);

      const sorted = latencies.sort((a, b) => a - b);
      const lagSorted = lags.sort((a, b) => a - b);
      const errors = Object.values(errorKinds).reduce((a, b) => a + b, 0);
      const cpu = process.cpuUsage(cpuAtStart);
      const result: StepResult = {
        label: step.label,
        rate: step.rate,
        judged: step.judged,
        durationMs: step.durationMs,
        sent: count,
        completed,
        errors,
        errorKinds,
        ...(firstError !== undefined ? { firstError } : {}),
        mismatches,
        ...(firstMismatch !== undefined ? { firstMismatch } : {}),
        p50Ms: percentile(sorted, 0.5),
        p99Ms: percentile(sorted, 0.99),
        maxMs: sorted[sorted.length - 1] ?? NaN,
        sendLagP99Ms: percentile(lagSorted, 0.99),
        sendLagMaxMs: lagSorted[lagSorted.length - 1] ?? NaN,
        sockets: pool.stats.connected,
        newConnections: connects - connectsAtStart,
        generatorCpu: (cpu.user + cpu.system) / 1000 / (performance.now() - wallAtStart),
      };
      emit({ type: 'step', result });

      if (step.judged) {
        if (mismatches > 0) {
          stopped = `wrong decisions at ${step.rate} req/s`;
          break;
        }
        if (errors > 0) {
          stopped = `errors at ${step.rate} req/s`;
          break;
        }
        if (!(result.p99Ms < config.stopAtP99Ms)) {
          // A median this far below the limit means a burst, not saturation: worth a second look.
          const burst = result.p50Ms < config.stopAtP99Ms / 5;
          if (!config.retrySlowStep || step.again === true || !burst) {
            stopped = `p99 ≥ ${config.stopAtP99Ms} ms at ${step.rate} req/s`;
            break;
          }
          // Once more at the same rate: on a shared machine one step can catch someone else's load.
          plan.splice(j + 1, 0, { ...step, label: `${step.label} again`, again: true });
        }
      }
      if (total >= config.maxRequests) {
        stopped = `request cap of ${config.maxRequests} reached`;
        break;
      }
      await sleep(config.pauseMs);
    }
  } finally {
    await pool.close().catch(() => pool.destroy());
  }
  emit({
    type: 'done',
    stopped,
    totals: Object.fromEntries(
      KINDS.map((k) => [k, { sent: sentByKind[k], right: rightByKind[k] }]),
    ) as Record<RequestKind, KindTotals>,
  });
}

main().catch((err: unknown) => {
  process.stderr.write(
    `admission-load: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exitCode = 1;
});
