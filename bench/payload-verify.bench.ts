/**
 * What verifying a whole release payload costs, against a real registry, beside the Go peer:
 * containers/image verifying the same components one after another.
 *
 * Setup (not timed): Debian's docker-registry on 127.0.0.1 and a synthetic release like a 4.17
 * one: 190 component images in one repository, each with a legacy cosign signature made with a
 * P-256 key generated at bench time, and a release image whose top layer (tar+gzip) holds
 * release-manifests/image-references and release-metadata. One ClusterImagePolicy (PublicKey)
 * covers the registry; our own renderer writes it as the policy.json and registries.d a node
 * would have, for the Go peer.
 *
 * Timed, ours, each a full `verify-payload` minus argument parsing (read the release image,
 * extract the two files, verify every component), in process:
 *   cold        a new client (new TCP connections) and an empty verdict cache
 *   warm cache  the same client and cache again: only the release image is read
 *   warm        the same client, a fresh cache each time (ROUNDS runs): the figure of the goal
 *   serial      the same client, a fresh cache, concurrency 1
 * The Go peer: interop/cmd/cimage-harness (containers/image v5.42.1, built into .cache/go-tools
 * by `node --import tsx test/tooling/build-go-tools.ts cimageHarness`) given the 190 components
 * as one batch: for each, in turn, NewPolicyFromFile, NewPolicyContext, NewImageSource and
 * IsRunningImageAllowed (what CRI-O does per pull), the process spawned and ended by the bench;
 * its `-version` start-up is timed too, to show how much of the batch is process start. Not built:
 * the bench says so and prints ours alone.
 *
 * Ours (warm) and the Go batch take turns within each of ROUNDS rounds, so a busy moment of this
 * shared machine falls on both; medians are compared. BENCH_PAYLOAD_BASELINE=DIR adds, in the
 * same turns, another checkout of this project (a `git worktree` of an older commit, with a
 * node_modules link) verifying the same release through its own src/: before and after in one
 * run. BENCH_PAYLOAD_ROUNDS=N changes the number of rounds (default 7), e.g. to weigh the warm
 * path in a `node --cpu-prof` profile. BENCH_PAYLOAD_CONCURRENCY=N verifies N components at once
 * over N connections (default 16, as `verify-payload`). BENCH_CIMAGE_HARNESS=PATH runs that harness binary instead
 * of the one built for the current interop/ sources (whose cache key changes with any edit there).
 * BENCH_PAYLOAD_CPU_PROFILE=FILE writes a V8 CPU profile (.cpuprofile, as `node --cpu-prof` does)
 * of PROFILED_RUNS more warm runs of this checkout alone, after the rounds: the warm path without
 * the setup's pushing and signing.
 *
 * Reported: wall time, CPU time of this process and of docker-registry (both share the 2 cores,
 * and CPU time is steadier than wall time when others use them), registry requests dispatched,
 * TCP connections opened, the load average, and the process's peak RSS (ru_maxrss). Figures only; every run must verify all 190, and the
 * Go peer must allow all 190.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

import { Agent } from 'undici';
import type { Dispatcher } from 'undici';

import type { DigestPullspec } from '../src/image/pullspec.js';
import type {
  ComponentInput,
  ComponentResult,
  ComponentVerdictCache,
  PayloadSummary,
  VerifyComponentsOptions,
} from '../src/payload/payload-verifier.js';
import type { ReleasePayload } from '../src/payload/release-image.js';
import type { ParsedPolicyFile } from '../src/policy/parse.js';
import { renderValidPolicies } from '../src/policy/render.js';
import type { PolicyObject } from '../src/policy/types.js';
import type { RegistryClient, RegistryClientOptions } from '../src/registry/client.js';
import { repoRoot } from '../test/helpers/fixtures.js';
import { createTestKey } from '../test/helpers/cosign.js';
import type { CimageCase, CimageResult } from '../test/helpers/interop.js';
import { findRegistryBinary, TestRegistry } from '../test/helpers/registry.js';
import { pushSyntheticRelease } from '../test/helpers/release.js';
import { goToolPath } from '../test/tooling/go-tools.js';
import { summarize } from './stats.js';

const COMPONENTS = 190;
/** Components verified at once, and requests (connections) in flight; the CLI's default. */
const DEFAULT_CONCURRENCY = 16;
const DEFAULT_ROUNDS = 7;
/** Warm runs under the profiler with BENCH_PAYLOAD_CPU_PROFILE. */
const PROFILED_RUNS = 20;
/** The Go batch of 190 took about a second; this bounds a hung harness. */
const GO_BATCH_TIMEOUT_MS = 120_000;

class CountingAgent extends Agent {
  requests = 0;
  connections = 0;

  constructor(options: Agent.Options) {
    super(options);
    this.on('connect', () => {
      this.connections++;
    });
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler) {
    this.requests++;
    return super.dispatch(options, handler);
  }
}

/**
 * What the bench calls of a checkout of this project, loaded from its own src/ (so a baseline
 * checkout runs its own code, not ours).
 */
interface Implementation {
  readonly label: string;
  readonly parseReleasePullspec: (text: string) => DigestPullspec;
  readonly readReleasePayload: (
    client: RegistryClient,
    release: DigestPullspec,
    options: { readonly signal: AbortSignal },
  ) => Promise<ReleasePayload[]>;
  readonly dedupeComponents: (components: ReleasePayload['references']['components']) => unknown;
  readonly verifyComponents: (
    components: readonly ComponentInput[],
    options: VerifyComponentsOptions,
  ) => Promise<ComponentResult[]>;
  readonly summarize: (results: readonly ComponentResult[]) => PayloadSummary;
  readonly payloadVerified: (summary: PayloadSummary) => boolean;
  readonly createComponentCache: () => ComponentVerdictCache;
  readonly parsePolicyText: (text: string, source: string) => ParsedPolicyFile;
  readonly RegistryClient: new (options: RegistryClientOptions) => RegistryClient;
}

async function loadImplementation(root: string, label: string): Promise<Implementation> {
  const load = async (path: string): Promise<Record<string, unknown>> =>
    (await import(pathToFileURL(join(root, 'src', path)).href)) as Record<string, unknown>;
  const [pullspec, verifier, image, content, parse, client] = await Promise.all([
    load('image/pullspec.ts'),
    load('payload/payload-verifier.ts'),
    load('payload/release-image.ts'),
    load('payload/release-content.ts'),
    load('policy/parse.ts'),
    load('registry/client.ts'),
  ]);
  return {
    label,
    parseReleasePullspec: pullspec.parseReleasePullspec as Implementation['parseReleasePullspec'],
    readReleasePayload: image.readReleasePayload as Implementation['readReleasePayload'],
    dedupeComponents: content.dedupeComponents as Implementation['dedupeComponents'],
    verifyComponents: verifier.verifyComponents as Implementation['verifyComponents'],
    summarize: verifier.summarize as Implementation['summarize'],
    payloadVerified: verifier.payloadVerified as Implementation['payloadVerified'],
    createComponentCache: verifier.createComponentCache as Implementation['createComponentCache'],
    parsePolicyText: parse.parsePolicyText as Implementation['parsePolicyText'],
    RegistryClient: client.RegistryClient as Implementation['RegistryClient'],
  };
}

interface Run {
  readonly wallMs: number;
  /** This process's CPU time (user + system) during the run. */
  readonly cpuMs: number;
  /** The docker-registry process's CPU time during the run (10 ms resolution). */
  readonly registryCpuMs: number;
  readonly requests: number;
  readonly connections: number;
}

/**
 * CPU time (user + system, ms) of this process's docker-registry child, read from /proc (clock
 * ticks of 10 ms); NaN where there is no /proc.
 */
function registryCpuMs(): number {
  registryPids ??= findRegistryPids();
  let total = 0;
  for (const pid of registryPids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // pid (comm) state ppid … utime(14) stime(15): comm may hold spaces, so split after ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) * 10;
    } catch {
      return NaN;
    }
  }
  return registryPids.length > 0 ? total : NaN;
}

/** Found once (scanning /proc for every run would show in the profile of the warm path). */
let registryPids: number[] | undefined;

function findRegistryPids(): number[] {
  const pids: number[] = [];
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let stat: string;
      try {
        stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      } catch {
        continue;
      }
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const fields = stat.slice(close + 2).split(' ');
      if (Number(fields[1]) !== process.pid || !comm.includes('registry')) continue;
      pids.push(Number(entry));
    }
  } catch {
    return [];
  }
  return pids;
}

function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** One implementation's client, agent and policies over the bench's registry. */
interface Subject {
  readonly impl: Implementation;
  readonly agent: CountingAgent;
  readonly client: RegistryClient;
  readonly policies: readonly PolicyObject[];
}

function policyText(keyPem: string, host: string): string {
  return JSON.stringify({
    apiVersion: 'config.openshift.io/v1',
    kind: 'ClusterImagePolicy',
    metadata: { name: 'openshift' },
    spec: {
      scopes: [host],
      policy: {
        rootOfTrust: {
          policyType: 'PublicKey',
          publicKey: { keyData: Buffer.from(keyPem).toString('base64') },
        },
      },
    },
  });
}

function createSubject(
  impl: Implementation,
  keyPem: string,
  host: string,
  concurrency: number,
): Subject {
  const parsed = impl.parsePolicyText(policyText(keyPem, host), 'bench-policy');
  if (parsed.errors.length > 0) throw new Error(parsed.errors.map((e) => e.message).join('; '));
  const agent = new CountingAgent({ keepAliveTimeout: 10_000, connections: concurrency });
  const client = new impl.RegistryClient({
    dispatcher: agent,
    maxConcurrentRequests: concurrency,
  });
  return { impl, agent, client, policies: parsed.objects };
}

async function closeSubject(subject: Subject): Promise<void> {
  await subject.client.close();
  await subject.agent.close();
}

async function verifyOnce(
  subject: Subject,
  pullspec: string,
  cache: ComponentVerdictCache,
  concurrency: number,
): Promise<Run> {
  const { impl, agent, client, policies } = subject;
  const requests = agent.requests;
  const connections = agent.connections;
  const registryCpu = registryCpuMs();
  const cpu = cpuMs();
  const started = performance.now();
  const signal = AbortSignal.timeout(120_000);
  const [payload] = await impl.readReleasePayload(client, impl.parseReleasePullspec(pullspec), {
    signal,
  });
  if (payload === undefined) throw new Error('no payload read');
  const results = await impl.verifyComponents(
    impl.dedupeComponents(payload.references.components) as ComponentInput[],
    { client, policies, cache, concurrency, signal },
  );
  const wallMs = performance.now() - started;
  const cpuUsed = cpuMs() - cpu;
  const registryCpuUsed = registryCpuMs() - registryCpu;
  const summary = impl.summarize(results);
  if (!impl.payloadVerified(summary) || summary.verified !== COMPONENTS) {
    throw new Error(`${impl.label}: payload not verified: ${JSON.stringify(summary)}`);
  }
  return {
    wallMs,
    cpuMs: cpuUsed,
    registryCpuMs: registryCpuUsed,
    requests: agent.requests - requests,
    connections: agent.connections - connections,
  };
}

/** The Go peer: the harness binary and the 190 cases, or why it is skipped. */
type GoPeer =
  { readonly binary: string; readonly cases: readonly CimageCase[] } | { readonly skip: string };

interface GoRun {
  readonly wallMs: number;
  /** The docker-registry process's CPU time during the batch. */
  readonly registryCpuMs: number;
}

/** Runs the whole batch in one harness process; wall time from spawn to exit. */
async function runGoBatch(binary: string, cases: readonly CimageCase[]): Promise<GoRun> {
  const registryCpu = registryCpuMs();
  const started = performance.now();
  const { code, out, err } = await new Promise<{ code: number | null; out: string; err: string }>(
    (done, fail) => {
      const child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), GO_BATCH_TIMEOUT_MS);
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', (e) => {
        clearTimeout(timer);
        fail(e);
      });
      child.on('close', (exit) => {
        clearTimeout(timer);
        done({ code: exit, out, err });
      });
      child.stdin.end(JSON.stringify({ cases }));
    },
  );
  const wallMs = performance.now() - started;
  const registryCpuUsed = registryCpuMs() - registryCpu;
  if (code !== 0) throw new Error(`cimage-harness exited ${String(code)}: ${err.slice(-2000)}`);
  const results = out
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as CimageResult);
  const refused = results.filter((r) => !r.allowed);
  if (results.length !== cases.length || refused.length > 0) {
    throw new Error(
      `cimage-harness allowed ${results.length - refused.length} of ${cases.length}: ${JSON.stringify(refused.slice(0, 3))}`,
    );
  }
  return { wallMs, registryCpuMs: registryCpuUsed };
}

/** Median wall time of the harness's `-version` (process start-up, every package's init). */
function goStartupMs(binary: string, runs: number): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const r = spawnSync(binary, ['-version'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cimage-harness -version exited ${String(r.status)}`);
    times.push(performance.now() - started);
  }
  return summarize(times).median;
}

async function prepareGoPeer(
  dir: string,
  policies: readonly PolicyObject[],
  images: readonly string[],
): Promise<GoPeer> {
  let binary: string;
  const given = process.env.BENCH_CIMAGE_HARNESS;
  try {
    binary = given !== undefined && given !== '' ? given : await goToolPath('cimageHarness');
  } catch (err) {
    return { skip: err instanceof Error ? err.message : String(err) };
  }
  const rendered = renderValidPolicies(policies);
  const policy = join(dir, 'policy.json');
  const registriesDir = join(dir, 'registries.d');
  await mkdir(registriesDir, { recursive: true });
  await writeFile(policy, rendered.policyJson);
  await writeFile(join(registriesDir, 'sigstore-registries.yaml'), rendered.registriesD);
  return {
    binary,
    cases: images.map((image, i) => ({
      id: `c${i}`,
      policy,
      registriesDir,
      image,
      insecure: true,
    })),
  };
}

/** PROFILED_RUNS calls of `once` under the V8 CPU profiler, written to `file`. */
async function profileWarm(file: string, once: () => Promise<Run>): Promise<void> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
    const runs: Run[] = [];
    for (let i = 0; i < PROFILED_RUNS; i++) runs.push(await once());
    const { profile } = await session.post('Profiler.stop');
    await writeFile(file, JSON.stringify(profile));
    const wall = summarize(runs.map((r) => r.wallMs)).median;
    console.log(
      `CPU profile of ${PROFILED_RUNS} warm runs (median ${wall.toFixed(1)} ms under the profiler) written to ${file}`,
    );
  } finally {
    session.disconnect();
  }
}

function rssMiB(): string {
  return (process.resourceUsage().maxRSS / 1024).toFixed(1);
}

function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

const ms = (value: number): string => `${value.toFixed(1).padStart(8)} ms`;

function line(label: string, r: Run): string {
  return `${label.padEnd(22)} ${ms(r.wallMs)}  CPU ${r.cpuMs.toFixed(0)} ms (registry ${r.registryCpuMs.toFixed(0)} ms)  ${String(r.requests).padStart(5)} requests  ${String(r.connections).padStart(3)} new connections  ${((COMPONENTS / r.wallMs) * 1000).toFixed(0)} components/s`;
}

export async function run(): Promise<void> {
  const rounds = Number(process.env.BENCH_PAYLOAD_ROUNDS ?? DEFAULT_ROUNDS);
  if (!Number.isSafeInteger(rounds) || rounds < 1) {
    throw new Error(`BENCH_PAYLOAD_ROUNDS must be a positive integer`);
  }
  const concurrency = Number(process.env.BENCH_PAYLOAD_CONCURRENCY ?? DEFAULT_CONCURRENCY);
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new Error(`BENCH_PAYLOAD_CONCURRENCY must be a positive integer`);
  }
  const binary = await findRegistryBinary();
  if ('skip' in binary)
    throw new Error(`payload-verify bench needs docker-registry: ${binary.skip}`);
  const impls = [await loadImplementation(repoRoot, 'this checkout')];
  const baseline = process.env.BENCH_PAYLOAD_BASELINE;
  if (baseline !== undefined && baseline !== '') {
    impls.push(await loadImplementation(resolve(baseline), `baseline ${baseline}`));
  }
  const registry = await TestRegistry.start(binary.path);
  const dir = await mkdtemp(join(tmpdir(), 'cvo-payload-bench-'));
  const subjects: Subject[] = [];
  try {
    const key = createTestKey('p256');
    const setupStart = performance.now();
    const release = await pushSyntheticRelease({
      target: { url: registry.url },
      host: registry.host,
      key,
      components: COMPONENTS,
    });
    console.log(
      `setup: ${COMPONENTS} signed components and the release image pushed in ${(
        (performance.now() - setupStart) /
        1000
      ).toFixed(1)} s; load average ${load()} on this machine`,
    );
    for (const impl of impls)
      subjects.push(createSubject(impl, key.publicKeyPem, registry.host, concurrency));
    const [ours] = subjects;
    if (ours === undefined) throw new Error('unreachable: no subject');
    const go = await prepareGoPeer(
      dir,
      ours.policies,
      release.components.map((c) => c.pullspec),
    );

    const rssBefore = rssMiB();
    const cache = ours.impl.createComponentCache();
    const cold = await verifyOnce(ours, release.pullspec, cache, concurrency);
    const rssAfterCold = rssMiB();
    const warmCache = await verifyOnce(ours, release.pullspec, cache, concurrency);
    // One untimed run each warms what the rounds will use (the baseline's connections, the
    // harness binary in the page cache).
    for (const subject of subjects.slice(1)) {
      await verifyOnce(subject, release.pullspec, subject.impl.createComponentCache(), concurrency);
    }
    if ('binary' in go) await runGoBatch(go.binary, go.cases);

    const warm = subjects.map(() => [] as Run[]);
    const goRuns: GoRun[] = [];
    const loads: string[] = [];
    for (let round = 0; round < rounds; round++) {
      loads.push(loadavg()[0]?.toFixed(2) ?? '?');
      for (const [i, subject] of subjects.entries()) {
        warm[i]?.push(
          await verifyOnce(
            subject,
            release.pullspec,
            subject.impl.createComponentCache(),
            concurrency,
          ),
        );
      }
      if ('binary' in go) goRuns.push(await runGoBatch(go.binary, go.cases));
    }
    const serial = await verifyOnce(ours, release.pullspec, ours.impl.createComponentCache(), 1);
    const profileFile = process.env.BENCH_PAYLOAD_CPU_PROFILE;
    if (profileFile !== undefined && profileFile !== '') {
      await profileWarm(profileFile, () =>
        verifyOnce(ours, release.pullspec, ours.impl.createComponentCache(), concurrency),
      );
    }

    console.log(
      `${COMPONENTS} components, concurrency ${concurrency}, one PublicKey policy; ${rounds} rounds, each: ${subjects.map((s) => s.impl.label).join(', ')}${'binary' in go ? ', then the Go peer' : ''}`,
    );
    console.log(line('cold', cold));
    console.log(line('warm cache', warmCache));
    const medians = warm.map((runs) => summarize(runs.map((r) => r.wallMs)));
    for (const [i, subject] of subjects.entries()) {
      const runs = warm[i] ?? [];
      const stats = medians[i];
      if (stats === undefined) continue;
      const cpu = summarize(runs.map((r) => r.cpuMs)).median;
      const registryCpu = summarize(runs.map((r) => r.registryCpuMs)).median;
      console.log(
        `warm, ${subject.impl.label}: median ${stats.median.toFixed(1)} ms, min ${stats.min.toFixed(1)}, max ${stats.max.toFixed(1)} over ${runs.length} runs [${runs.map((r) => r.wallMs.toFixed(0)).join(' ')}]; CPU median ${cpu.toFixed(0)} ms here (${((cpu / COMPONENTS) * 1000).toFixed(0)} µs per component), ${registryCpu.toFixed(0)} ms in docker-registry; ${runs[0]?.requests ?? 0} requests per run, ${runs.reduce((n, r) => n + r.connections, 0)} new connections in all`,
      );
    }
    console.log(line('serial (concurrency 1)', serial));
    const ourMedian = medians[0]?.median ?? NaN;
    if ('binary' in go) {
      const goStats = summarize(goRuns.map((r) => r.wallMs));
      const goRegistryCpu = summarize(goRuns.map((r) => r.registryCpuMs)).median;
      const startup = goStartupMs(go.binary, 10);
      console.log(
        `Go peer, containers/image serial loop (cimage-harness, one process per batch): median ${goStats.median.toFixed(1)} ms, min ${goStats.min.toFixed(1)}, max ${goStats.max.toFixed(1)} over ${goRuns.length} batches [${goRuns.map((r) => r.wallMs.toFixed(0)).join(' ')}], ${goRegistryCpu.toFixed(0)} ms CPU in docker-registry; its start-up (-version) ${startup.toFixed(1)} ms`,
      );
      console.log(
        `ratio: Go serial loop / ours warm = ${(goStats.median / ourMedian).toFixed(2)}x (goal >= 5x); Go / ours cold = ${(goStats.median / cold.wallMs).toFixed(2)}x; ours warm median ${ourMedian.toFixed(1)} ms (goal <= 150 ms)`,
      );
    } else {
      console.log(`Go peer: skipped (${go.skip})`);
      console.log(`ours warm median ${ourMedian.toFixed(1)} ms (goal <= 150 ms)`);
    }
    const baselineMedian = medians[1]?.median;
    if (baselineMedian !== undefined) {
      console.log(
        `ratio: baseline warm / this checkout warm = ${(baselineMedian / ourMedian).toFixed(2)}x`,
      );
    }
    console.log(`load average (1 min) at each round: ${loads.join(' ')}; now ${load()}`);
    console.log(
      `peak RSS (process, ru_maxrss): ${rssBefore} MiB before the runs, ${rssAfterCold} MiB after the cold run, ${rssMiB()} MiB at the end`,
    );
  } finally {
    for (const subject of subjects) await closeSubject(subject);
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
