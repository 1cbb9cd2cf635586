/**
 * How long the running service takes to decide a spec.desiredUpdate edit, end to end, on a real
 * control plane (etcd + kube-apiserver on 127.0.0.1) with a local HTTP signature store.
 *
 * What is measured, per edit:
 *   t0   just before this process sends a JSON merge patch of spec.desiredUpdate
 *        (PATCH …/clusterversions/version, application/merge-patch+json) over an already open
 *        keep-alive HTTPS connection with undici, as `oc adm upgrade` would send it, but without
 *        spawning kubectl, so process start-up is not measured;
 *   t_ack  the PATCH response has arrived (the edit is stored in etcd);
 *   t_spec the bench's own watch on the ClusterVersion delivers the edited spec (≈ when the
 *        service's informer gets it: same apiserver, same process);
 *   t_done the bench's watch delivers the first object whose ReleaseAccepted condition was
 *        written for this edit: True with the image in its message for a signed digest, False
 *        with the digest in its message for an unsigned one.
 * Latency = t_done − t0: apiserver write + watch fan-out to the service + the reconcile (GET the
 * ClusterVersion, root-of-trust / CA / signature ConfigMaps, HTTP fetch of signature-1 from the
 * store, GPG verification, PUT …/status) + watch delivery of that status write back to the bench.
 * (src/kube/transport.ts shares one keep-alive dispatcher per KubePort; @kubernetes/client-node
 * 2.0.1, which it replaced, built a new undici Agent, a new TCP + TLS connection, per request.)
 *
 * Where the service's share goes: every HTTP request undici makes in this process is recorded
 * through its diagnostics channels (start, completion). Per edit, the requests the service made
 * between the spec arriving on the watch and ReleaseAccepted arriving are counted, and the time
 * covered by at least one of them in flight is "waiting on requests"; the rest of the service's
 * share is its own work (and event-loop delays). The median signed and the median unsigned
 * edit's requests are listed as timelines.
 *
 * Detection is by a watch (GET …?watch=true from the ClusterVersion's resourceVersion, read with
 * undici as a newline-delimited JSON stream, each event timestamped when its bytes arrive), not by
 * polling: a watch reports the status write the moment the apiserver sends it, without a polling
 * interval's quantisation and without adding GET load that would compete with the service.
 *
 * Each edit names a digest never requested before (signatures are published for every signed one
 * first), so every edit runs a full verification: the service's verdict cache is per digest. The
 * next edit is sent once the controller is idle (status written, Event and signature-cache writes
 * done) and PAUSE_MS later, so each edit meets an idle controller and a quiet apiserver.
 *
 * Why the pause: the reconcile LISTs the signature ConfigMaps (a consistent list, served from the
 * apiserver's watch cache once that cache has caught up with etcd's current revision). After a
 * write to another resource (the edit itself) the configmaps cache can only catch up through an
 * etcd progress notification, which kube-apiserver requests at most every 100 ms
 * (progressRequestPeriod in k8s.io/apiserver's cacher). Edits closer together than that lock onto
 * this 100 ms grid and the LIST waits up to ~100 ms; the third series (back to back, no pause)
 * shows it, and each series reports the apiserver's own figure for that wait
 * (apiserver_watch_cache_read_wait_seconds{resource="configmaps"}, from /metrics).
 *
 * The service runs in this process (runService), like the e2e tests; background re-checks use the
 * production delay (30 s) so a refused target is not re-verified in the middle of a series.
 * Figures only: nothing asserts on timing, but every decision is checked (a refusal where
 * acceptance was expected fails the bench) and so is the number of reconciles.
 */
import { subscribe } from 'node:diagnostics_channel';

import { Agent, request } from 'undici';

import {
  DEFAULT_RECHECK_BASE_MS,
  DEFAULT_RECHECK_MAX_MS,
} from '../src/controller/recheck-scheduler.js';
import type { ClusterVersion } from '../src/kube/types.js';
import type { Service } from '../src/main.js';
import {
  condition,
  digestOf,
  installRootOfTrust,
  REPO,
  ReleaseSigner,
  runService,
  seed,
} from '../test/e2e/harness.js';
import { startTestCluster } from '../test/helpers/local-cluster.js';
import type { TestCluster } from '../test/helpers/local-cluster.js';
import { summarize } from './stats.js';
import type { Summary } from './stats.js';

const WARMUP_EDITS = 3;
const SIGNED_EDITS = 60;
const UNSIGNED_EDITS = 50;
const BACK_TO_BACK_EDITS = 40;
/** Quiet time between the controller going idle and the next edit (> the 100 ms above). */
const PAUSE_MS = 250;
/** One decision taking longer than this fails the bench (it would not be a latency figure). */
const DECISION_TIMEOUT_MS = 15_000;

/** One HTTP request undici made in this process: performance.now() at creation and completion. */
interface RecordedRequest {
  readonly start: number;
  end: number | undefined;
  readonly method: string;
  readonly url: string;
}

/**
 * Records every undici request of this process (the service's, the bench's own) from undici's
 * diagnostics channels. The bench's own requests (its PATCH, its watch, /metrics) are told apart
 * by path when an edit is analysed.
 */
class RequestRecorder {
  readonly requests: RecordedRequest[] = [];
  private readonly open = new WeakMap<object, RecordedRequest>();

  constructor() {
    subscribe('undici:request:create', (message) => {
      const { request: req } = message as {
        request: { method: string; origin: string; path: string };
      };
      const entry: RecordedRequest = {
        start: performance.now(),
        end: undefined,
        method: req.method,
        url: `${req.origin}${req.path}`,
      };
      this.open.set(req, entry);
      this.requests.push(entry);
    });
    const finish = (message: unknown): void => {
      const entry = this.open.get((message as { request: object }).request);
      if (entry !== undefined && entry.end === undefined) entry.end = performance.now();
    };
    subscribe('undici:request:trailers', finish);
    subscribe('undici:request:error', finish);
  }

  /** The service's requests that started within [from, to]. */
  serviceRequests(from: number, to: number): RecordedRequest[] {
    return this.requests.filter(
      (r) =>
        r.start >= from &&
        r.start <= to &&
        !r.url.includes('watch=true') &&
        !r.url.endsWith('/metrics') &&
        !(r.method === 'PATCH' && r.url.endsWith('/clusterversions/version')),
    );
  }
}

/** How much of [from, to] at least one of the requests was in flight. */
function inFlightMs(requests: readonly RecordedRequest[], from: number, to: number): number {
  const spans = requests
    .map((r) => [Math.max(r.start, from), Math.min(r.end ?? to, to)] as const)
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0]);
  let total = 0;
  let until = -Infinity;
  for (const [a, b] of spans) {
    if (b <= until) continue;
    total += b - Math.max(a, until);
    until = b;
  }
  return total;
}

/** A plain-text table of millisecond summaries, one row per quantity. */
function printTable(title: string, rows: readonly { label: string; s: Summary }[]): void {
  const header = ['n', 'median ms', 'p90 ms', 'p99 ms', 'min ms', 'max ms'];
  const data = rows.map(({ s }) => [
    String(s.n),
    ...[s.median, s.p90, s.p99, s.min, s.max].map((v) => v.toFixed(1)),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...data.map((d) => (d[c] ?? '').length)));
  const labelWidth = Math.max(...rows.map((r) => r.label.length));
  const line = (label: string, cells: readonly string[]): void => {
    console.log(
      `  ${label.padEnd(labelWidth)}  ${cells.map((v, c) => v.padStart(widths[c] ?? 0)).join('  ')}`,
    );
  };
  console.log(`\n${title}`);
  line('', header);
  line(
    '-'.repeat(labelWidth),
    widths.map((w) => '-'.repeat(w)),
  );
  rows.forEach((r, i) => line(r.label, data[i] ?? []));
}

interface WatchEvent {
  readonly at: number;
  readonly type: string;
  readonly cv: ClusterVersion;
}

interface Waiter {
  readonly predicate: (cv: ClusterVersion) => boolean;
  readonly resolve: (e: WatchEvent) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * A raw watch on the ClusterVersion: every event is timestamped (performance.now()) when the chunk
 * holding it arrives, before parsing. Waiters registered before an edit see only later events.
 * Re-opens from the last resourceVersion should the apiserver end the stream.
 */
class ClusterVersionWatch {
  private readonly waiters = new Set<Waiter>();
  private readonly abort = new AbortController();
  private resourceVersion: string;
  private failure: Error | undefined;
  private loop: Promise<void> | undefined;
  latest: ClusterVersion | undefined;
  reconnects = 0;

  private readonly server: string;
  private readonly token: string;
  private readonly dispatcher: Agent;

  private constructor(server: string, token: string, dispatcher: Agent, resourceVersion: string) {
    this.server = server;
    this.token = token;
    this.dispatcher = dispatcher;
    this.resourceVersion = resourceVersion;
  }

  static async open(
    server: string,
    token: string,
    dispatcher: Agent,
    resourceVersion: string,
  ): Promise<ClusterVersionWatch> {
    const watch = new ClusterVersionWatch(server, token, dispatcher, resourceVersion);
    const body = await watch.connect();
    watch.loop = watch.run(body);
    return watch;
  }

  private async connect(): Promise<AsyncIterable<Buffer>> {
    const query = new URLSearchParams({
      watch: 'true',
      fieldSelector: 'metadata.name=version',
      resourceVersion: this.resourceVersion,
    });
    const res = await request(
      `${this.server}/apis/config.openshift.io/v1/clusterversions?${query.toString()}`,
      {
        dispatcher: this.dispatcher,
        headers: { authorization: `Bearer ${this.token}`, accept: 'application/json' },
        signal: this.abort.signal,
      },
    );
    if (res.statusCode !== 200)
      throw new Error(`watch clusterversions: ${res.statusCode} ${await res.body.text()}`);
    return res.body as AsyncIterable<Buffer>;
  }

  private async run(first: AsyncIterable<Buffer>): Promise<void> {
    let body = first;
    try {
      for (;;) {
        let pending = '';
        for await (const chunk of body) {
          const at = performance.now();
          pending += chunk.toString('utf8');
          let nl: number;
          while ((nl = pending.indexOf('\n')) >= 0) {
            const line = pending.slice(0, nl).trim();
            pending = pending.slice(nl + 1);
            if (line !== '') this.dispatch(at, line);
          }
        }
        if (this.abort.signal.aborted) return;
        this.reconnects++;
        body = await this.connect();
      }
    } catch (err) {
      if (this.abort.signal.aborted) return;
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private dispatch(at: number, line: string): void {
    const event = JSON.parse(line) as { type: string; object: ClusterVersion };
    if (event.type === 'ERROR') {
      throw new Error(`watch error event: ${JSON.stringify(event.object)}`);
    }
    const cv = event.object;
    this.resourceVersion = cv.metadata.resourceVersion ?? this.resourceVersion;
    this.latest = cv;
    const e: WatchEvent = { at, type: event.type, cv };
    for (const w of [...this.waiters]) {
      if (!w.predicate(cv)) continue;
      this.waiters.delete(w);
      clearTimeout(w.timer);
      w.resolve(e);
    }
  }

  private fail(err: Error): void {
    this.failure = err;
    for (const w of [...this.waiters]) {
      this.waiters.delete(w);
      clearTimeout(w.timer);
      w.reject(err);
    }
  }

  /** The first event from now on whose object satisfies `predicate`. */
  next(predicate: (cv: ClusterVersion) => boolean, what: string): Promise<WatchEvent> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise<WatchEvent>((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(
            new Error(
              `no ${what} within ${DECISION_TIMEOUT_MS} ms; last status seen: ${JSON.stringify(this.latest?.status?.conditions)}`,
            ),
          );
        }, DECISION_TIMEOUT_MS),
      };
      this.waiters.add(waiter);
    });
  }

  async close(): Promise<void> {
    this.abort.abort();
    this.fail(new Error('watch closed'));
    await this.loop;
  }
}

interface Sample {
  /** t_done − t0: the figure this bench is about. */
  readonly total: number;
  /** t_ack − t0: the PATCH round trip. */
  readonly patch: number;
  /** t_spec − t0: until the edited spec is on the watch. */
  readonly spec: number;
  /** t_done − t_spec: the service's share, watch to watch. */
  readonly service: number;
  readonly cv: ClusterVersion;
  readonly image: string;
  /** Date.now() at t0, to place the service's log lines (millisecond timestamps) on the edit. */
  readonly t0Wall: number;
  /** performance.now() at t0, t_spec and t_done. */
  readonly at: { readonly t0: number; readonly spec: number; readonly done: number };
}

async function patchDesiredUpdate(
  tc: TestCluster,
  dispatcher: Agent,
  update: Record<string, unknown>,
): Promise<void> {
  const res = await request(
    `${tc.cluster.server}/apis/config.openshift.io/v1/clusterversions/version`,
    {
      method: 'PATCH',
      dispatcher,
      headers: {
        authorization: `Bearer ${tc.cluster.adminToken}`,
        'content-type': 'application/merge-patch+json',
        accept: 'application/json',
      },
      body: JSON.stringify({ spec: { desiredUpdate: update } }),
    },
  );
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`PATCH clusterversion: ${res.statusCode} ${text}`);
}

/** One edit to `image`, timed until `decided` holds on the watch. */
async function timeEdit(
  tc: TestCluster,
  dispatcher: Agent,
  watch: ClusterVersionWatch,
  image: string,
  decided: (cv: ClusterVersion) => boolean,
  what: string,
): Promise<Sample> {
  // Registered before the PATCH: the status write can reach the watch before the PATCH response.
  const both = Promise.all([
    watch.next((cv) => cv.spec.desiredUpdate?.image === image, `spec edit to ${image}`),
    watch.next(decided, `${what} for ${image}`),
  ]);
  both.catch(() => undefined);
  const t0Wall = Date.now();
  const t0 = performance.now();
  await patchDesiredUpdate(tc, dispatcher, { image, version: '4.17.0', force: false });
  const ack = performance.now();
  const [spec, done] = await both;
  return {
    total: done.at - t0,
    patch: ack - t0,
    spec: spec.at - t0,
    service: done.at - spec.at,
    cv: done.cv,
    image,
    t0Wall,
    at: { t0, spec: spec.at, done: done.at },
  };
}

function acceptedFor(image: string): (cv: ClusterVersion) => boolean {
  return (cv) => {
    const c = condition(cv, 'ReleaseAccepted');
    return c?.status === 'True' && (c.message ?? '').includes(`image="${image}"`);
  };
}

function refusedFor(digest: string): (cv: ClusterVersion) => boolean {
  return (cv) => {
    const c = condition(cv, 'ReleaseAccepted');
    return c?.status === 'False' && (c.message ?? '').includes(digest);
  };
}

function checkAccepted(cv: ClusterVersion, image: string): void {
  const head = cv.status?.history?.[0];
  if (
    condition(cv, 'ReleaseVerified')?.status !== 'True' ||
    cv.status?.desired.image !== image ||
    head?.image !== image ||
    !head.verified
  )
    throw new Error(`${image}: accepted but not as verified: ${JSON.stringify(cv.status)}`);
}

function checkRefused(cv: ClusterVersion, digest: string): void {
  const verified = condition(cv, 'ReleaseVerified');
  if (verified?.status !== 'False' || verified.reason !== 'NotSigned')
    throw new Error(`${digest}: refused for another reason: ${JSON.stringify(verified)}`);
}

interface Series {
  readonly samples: Sample[];
  readonly wallMs: number;
  /** The apiserver's wait for a fresh configmaps watch cache during the series, if it reports it. */
  readonly cacheWait: { readonly reads: number; readonly ms: number } | undefined;
}

/** apiserver_watch_cache_read_wait_seconds for configmaps: consistent reads and their total wait. */
async function configMapCacheWait(
  tc: TestCluster,
  dispatcher: Agent,
): Promise<{ reads: number; ms: number } | undefined> {
  const res = await request(`${tc.cluster.server}/metrics`, {
    dispatcher,
    headers: { authorization: `Bearer ${tc.cluster.adminToken}` },
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) return undefined;
  const metric = (suffix: string): number | undefined => {
    const m = new RegExp(
      `^apiserver_watch_cache_read_wait_seconds_${suffix}\\{[^}]*resource="configmaps"[^}]*\\} (\\S+)$`,
      'm',
    ).exec(text);
    return m?.[1] !== undefined ? Number(m[1]) : undefined;
  };
  const sum = metric('sum') ?? 0;
  const count = metric('count') ?? 0;
  return { reads: count, ms: sum * 1000 };
}

async function runSeries(
  tc: TestCluster,
  dispatcher: Agent,
  count: number,
  edit: (i: number) => Promise<Sample>,
  settle: () => Promise<void>,
): Promise<Series> {
  const samples: Sample[] = [];
  const before = await configMapCacheWait(tc, dispatcher);
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    samples.push(await edit(i));
    await settle();
  }
  const wallMs = performance.now() - started;
  const after = await configMapCacheWait(tc, dispatcher);
  const cacheWait =
    before !== undefined && after !== undefined
      ? { reads: after.reads - before.reads, ms: after.ms - before.ms }
      : undefined;
  return { samples, wallMs, cacheWait };
}

/** Reconciles the service logged, as (time, image, verified), for cross-checking the count. */
function reconciles(logs: readonly string[]): { image: string; verified: unknown; time: number }[] {
  return logs
    .map(
      (l) => JSON.parse(l) as { msg?: string; image?: string; verified?: unknown; time?: string },
    )
    .filter((l) => l.msg === 'reconciled ClusterVersion' && typeof l.image === 'string')
    .map((l) => ({ image: l.image ?? '', verified: l.verified, time: Date.parse(l.time ?? '') }));
}

export async function run(): Promise<void> {
  const wallStarted = performance.now();
  const started = await startTestCluster();
  if ('skip' in started) {
    console.log(`skipped: no local control plane: ${started.skip}`);
    return;
  }
  const tc = started;
  let signer: ReleaseSigner | undefined;
  let service: Service | undefined;
  let watch: ClusterVersionWatch | undefined;
  const dispatcher = new Agent({ connect: { ca: tc.cluster.caCert } });
  const logs: string[] = [];
  const recorder = new RequestRecorder();
  try {
    const clusterReady = performance.now();
    signer = await ReleaseSigner.create();
    await installRootOfTrust(tc.admin, signer);
    // Digest number ranges: signed (warm-up + series), unsigned (warm-up + series), back to back;
    // every digest is requested once.
    const signedDigests = Array.from({ length: WARMUP_EDITS + SIGNED_EDITS }, (_, i) =>
      digestOf(0x10000 + i),
    );
    const unsignedDigests = Array.from({ length: WARMUP_EDITS + UNSIGNED_EDITS }, (_, i) =>
      digestOf(0x20000 + i),
    );
    const backToBackDigests = Array.from({ length: BACK_TO_BACK_EDITS }, (_, i) =>
      digestOf(0x30000 + i),
    );
    for (const d of [...signedDigests, ...backToBackDigests]) await signer.publish(d);
    const seeded = await seed(tc);
    service = await runService(
      tc.cluster.kubeconfig,
      { recheckBaseMs: DEFAULT_RECHECK_BASE_MS, recheckMaxMs: DEFAULT_RECHECK_MAX_MS },
      logs,
    );
    const svc = service;
    watch = await ClusterVersionWatch.open(
      tc.cluster.server,
      tc.cluster.adminToken,
      dispatcher,
      seeded.metadata.resourceVersion ?? '0',
    );
    const w = watch;
    await svc.controller.idle();
    console.log(
      `setup: control plane ${((clusterReady - wallStarted) / 1000).toFixed(1)} s, ` +
        `${signedDigests.length + backToBackDigests.length} signatures published + service started ` +
        `${((performance.now() - clusterReady) / 1000).toFixed(1)} s`,
    );

    const signedEdit = (digest: string): Promise<Sample> => {
      const image = `${REPO}@${digest}`;
      return timeEdit(tc, dispatcher, w, image, acceptedFor(image), 'ReleaseAccepted=True').then(
        (s) => {
          checkAccepted(s.cv, image);
          return s;
        },
      );
    };
    const unsignedEdit = (digest: string): Promise<Sample> => {
      const image = `${REPO}@${digest}`;
      return timeEdit(tc, dispatcher, w, image, refusedFor(digest), 'ReleaseAccepted=False').then(
        (s) => {
          checkRefused(s.cv, digest);
          return s;
        },
      );
    };
    const idle = (): Promise<void> => svc.controller.idle();
    const settle = async (): Promise<void> => {
      await svc.controller.idle();
      await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
    };

    // Warm-up (not counted): connections to the apiserver and the store, JIT.
    for (let i = 0; i < WARMUP_EDITS; i++) {
      await signedEdit(signedDigests[i]!);
      await settle();
      await unsignedEdit(unsignedDigests[i]!);
      await settle();
    }
    const logsBefore = logs.length;
    const signed = await runSeries(
      tc,
      dispatcher,
      SIGNED_EDITS,
      (i) => signedEdit(signedDigests[WARMUP_EDITS + i]!),
      settle,
    );
    const unsigned = await runSeries(
      tc,
      dispatcher,
      UNSIGNED_EDITS,
      (i) => unsignedEdit(unsignedDigests[WARMUP_EDITS + i]!),
      settle,
    );
    const backToBack = await runSeries(
      tc,
      dispatcher,
      BACK_TO_BACK_EDITS,
      (i) => signedEdit(backToBackDigests[i]!),
      idle,
    );

    // Every counted edit must have been one reconcile with one verdict for its own image.
    const done = reconciles(logs.slice(logsBefore));
    const verifiedCount = done.filter((r) => r.verified === true).length;
    const refusedCount = done.filter((r) => r.verified === false).length;
    const expectVerified = SIGNED_EDITS + BACK_TO_BACK_EDITS;
    if (verifiedCount !== expectVerified || refusedCount !== UNSIGNED_EDITS)
      throw new Error(
        `expected ${expectVerified} verified + ${UNSIGNED_EDITS} refused reconciles, the service logged ${verifiedCount} + ${refusedCount}`,
      );

    const rows = (label: string, s: Series): { label: string; s: Summary }[] => [
      { label: `${label}: edit → ReleaseAccepted`, s: summarize(s.samples.map((x) => x.total)) },
      { label: `  PATCH round trip`, s: summarize(s.samples.map((x) => x.patch)) },
      { label: `  edit → spec on watch`, s: summarize(s.samples.map((x) => x.spec)) },
      {
        label: `  spec on watch → ReleaseAccepted`,
        s: summarize(s.samples.map((x) => x.service)),
      },
    ];
    printTable(
      'spec.desiredUpdate merge patch → ReleaseAccepted written for it (seen on a watch), local control plane',
      [
        ...rows(`signed (ReleaseAccepted=True)`, signed),
        ...rows(`unsigned (ReleaseAccepted=False)`, unsigned),
        ...rows(`signed, back to back (no pause)`, backToBack),
      ],
    );
    const wait = (x: Series): string =>
      x.cacheWait === undefined || x.cacheWait.reads === 0
        ? 'not reported'
        : `${x.cacheWait.reads} consistent reads, mean wait ${(x.cacheWait.ms / x.cacheWait.reads).toFixed(1)} ms`;
    console.log(
      `\n  signed: ${SIGNED_EDITS} edits, each to a distinct digest with a signature in the HTTP store,\n` +
        `    all verified (ReleaseVerified=True, history head verified); series wall ${(signed.wallMs / 1000).toFixed(2)} s\n` +
        `  unsigned: ${UNSIGNED_EDITS} edits, each to a distinct digest without one, all refused\n` +
        `    (ReleaseVerified=False NotSigned, digest in ReleaseAccepted's message); series wall ${(unsigned.wallMs / 1000).toFixed(2)} s\n` +
        `  back to back: ${BACK_TO_BACK_EDITS} more signed edits (distinct digests), each sent as soon as the\n` +
        `    controller is idle; series wall ${(backToBack.wallMs / 1000).toFixed(2)} s\n` +
        `  ${WARMUP_EDITS} + ${WARMUP_EDITS} warm-up edits not counted; signed and unsigned edits are sent ${PAUSE_MS} ms after the\n` +
        `  controller is idle. edit = t0 just before the PATCH (keep-alive HTTPS, undici, no kubectl\n` +
        `  process); done = the watch event carrying ReleaseAccepted for that edit. "spec on watch →\n` +
        `  ReleaseAccepted" ≈ the service's share (informer delivery, reconcile, verification, status\n` +
        `  PUT, delivery back).\n` +
        `  apiserver wait for a fresh configmaps watch cache (the reconcile's signature ConfigMap LIST):\n` +
        `    signed ${wait(signed)}; unsigned ${wait(unsigned)};\n` +
        `    back to back ${wait(backToBack)}` +
        (w.reconnects > 0 ? `\n  the watch was re-opened ${w.reconnects} time(s)` : ''),
    );
    // The service logs "reconciled ClusterVersion" right after its status PUT returns (ms clock).
    const loggedAt = (sample: Sample): string => {
      const at = done.find((r) => r.image === sample.image)?.time;
      return at === undefined || Number.isNaN(at) ? '?' : `~${at - sample.t0Wall}`;
    };
    const slowest = (label: string, x: Series): void => {
      const top = x.samples
        .map((sample, i) => ({ sample, i }))
        .sort((a, b) => b.sample.total - a.sample.total)
        .slice(0, 3)
        .map(
          ({ sample, i }) =>
            `#${i + 1} ${sample.total.toFixed(1)} (PATCH ${sample.patch.toFixed(1)}, spec ${sample.spec.toFixed(1)}, ` +
            `status PUT done ${loggedAt(sample)}, service ${sample.service.toFixed(1)})`,
        );
      console.log(`    ${label}: ${top.join('; ')}`);
    };
    console.log(
      '  slowest edits, ms after t0 (# = position in the series; status PUT done from the service log):',
    );
    slowest('signed', signed);
    slowest('unsigned', unsigned);
    slowest('back to back', backToBack);

    // The service's share, split: waiting on its HTTP requests (API server, signature store) vs
    // its own work in between.
    const server = tc.cluster.server;
    const split = (label: string, x: Series): void => {
      const per = x.samples.map((sample) => {
        const reqs = recorder.serviceRequests(sample.at.spec, sample.at.done);
        const waiting = inFlightMs(reqs, sample.at.spec, sample.at.done);
        return {
          count: reqs.length,
          api: reqs.filter((r) => r.url.startsWith(server)).length,
          waiting,
          own: sample.service - waiting,
        };
      });
      const med = (f: (p: (typeof per)[number]) => number): string =>
        summarize(per.map(f)).median.toFixed(1);
      console.log(
        `    ${label}: ${med((p) => p.count)} requests (${med((p) => p.api)} to the API server), ` +
          `waiting on them ${med((p) => p.waiting)} ms, own work and event-loop delay ${med((p) => p.own)} ms`,
      );
    };
    console.log(
      '  the service\'s share, split (medians; "waiting" = time with at least one of its requests in flight):',
    );
    split('signed', signed);
    split('unsigned', unsigned);
    split('back to back', backToBack);
    // The median edit's requests, as a timeline: what a reconcile waits on, one after another or
    // together.
    const timeline = (label: string, x: Series): void => {
      const median = [...x.samples].sort((a, b) => a.total - b.total)[
        Math.floor(x.samples.length / 2)
      ];
      if (median === undefined) return;
      console.log(
        `  the median ${label} edit (${median.total.toFixed(1)} ms), its requests after the spec reached the watch ` +
          '(start and duration, ms):',
      );
      for (const r of recorder.serviceRequests(median.at.spec, median.at.done)) {
        const where = r.url.startsWith(server)
          ? r.url.slice(server.length)
          : `store ${new URL(r.url).pathname}`;
        console.log(
          `    +${(r.start - median.at.spec).toFixed(1).padStart(5)}  ${(r.end === undefined ? NaN : r.end - r.start).toFixed(1).padStart(5)}  ${r.method} ${where}`,
        );
      }
      console.log(
        `    ReleaseAccepted on the watch at +${(median.at.done - median.at.spec).toFixed(1)} (PATCH took ${median.patch.toFixed(1)}, spec on the watch at ${median.spec.toFixed(1)} after t0)`,
      );
    };
    timeline('signed', signed);
    timeline('unsigned', unsigned);
    if (process.env.BENCH_LOGS === '1') process.stderr.write(logs.join(''));
  } finally {
    await watch?.close();
    await service?.stop();
    await dispatcher.close();
    await signer?.close();
    await tc.stop();
    console.log(`wall time: ${((performance.now() - wallStarted) / 1000).toFixed(1)} s`);
  }
}
