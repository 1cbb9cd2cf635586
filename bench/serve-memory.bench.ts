/**
 * The memory of `cvo-verifier serve` in its steady state, as the production build runs it: two
 * processes of `bin/cvo-verifier serve` (dist/, so `npm run build` first) against a local control
 * plane (etcd + kube-apiserver on 127.0.0.1) and a local HTTP signature store, with Lease leader
 * election on. The first takes the lease (the leader: informer, controller, verdict caches), the
 * second stays a standby (lease renewals only).
 *
 * The leader is then given RELEASES spec.desiredUpdate edits, each to a distinct digest signed by
 * the release key in the store, one after another (the next once ReleaseAccepted=True is written
 * for the previous one): RELEASES verified releases have passed through its verdict caches.
 *
 * Printed for each process, before the edits and after them once the leader is idle:
 *   RSS   VmRSS from /proc/<pid>/status (the median of SAMPLES readings SAMPLE_GAP_MS apart);
 *   HWM   VmHWM, the peak RSS so far;
 *   heap  V8's used and total heap, from a diagnostic report (`--report-on-signal`, SIGUSR2,
 *         given through NODE_OPTIONS), written after the RSS readings so it does not inflate them.
 * Nothing else is added to the processes. BENCH_SERVE_MEMORY_RELEASES sets the number of edits
 * (default 1000); BENCH_SERVE_MEMORY_SNAPSHOT=1 also writes a heap snapshot of both processes at
 * the end (`--heapsnapshot-signal=SIGUSR1`, into .cache/bench/serve-memory/) and prints the paths.
 * Figures only: nothing asserts on memory, but every edit must be accepted as verified.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Agent, request } from 'undici';

import type { ClusterVersion } from '../src/kube/types.js';
import {
  condition,
  digestOf,
  installRootOfTrust,
  REPO,
  ReleaseSigner,
  seed,
} from '../test/e2e/harness.js';
import { repoRoot } from '../test/helpers/fixtures.js';
import { startTestCluster } from '../test/helpers/local-cluster.js';
import type { TestCluster } from '../test/helpers/local-cluster.js';

const RELEASES = Number(process.env.BENCH_SERVE_MEMORY_RELEASES ?? '1000');
const SNAPSHOT = process.env.BENCH_SERVE_MEMORY_SNAPSHOT === '1';
/** RSS readings per figure, and the gap between them. */
const SAMPLES = 5;
const SAMPLE_GAP_MS = 1000;
/** Quiet time after the last edit before the readings (status writes, Events, signature cache). */
const SETTLE_MS = 5000;
/** One edit taking longer than this fails the bench. */
const DECISION_TIMEOUT_MS = 30_000;
/** Signatures made at once (gpg processes). */
const SIGN_CONCURRENCY = 4;
const LEASE_NAMESPACE = 'cvo-update-verifier';
const LEASE_NAME = 'cvo-update-verifier-leader';

const MIB = 1024 * 1024;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A `cvo-verifier serve` process and the tail of its output. */
class ServeProcess {
  readonly child: ChildProcess;
  readonly identity: string;
  private readonly output: string[] = [];
  private readonly exited: Promise<number | null>;

  constructor(identity: string, kubeconfig: string, reportDir: string, snapshotDir: string) {
    this.identity = identity;
    const nodeOptions = [
      process.env.NODE_OPTIONS ?? '',
      '--report-on-signal',
      '--report-signal=SIGUSR2',
      `--report-directory=${reportDir}`,
      ...(SNAPSHOT ? ['--heapsnapshot-signal=SIGUSR1', `--diagnostic-dir=${snapshotDir}`] : []),
    ]
      .filter((o) => o !== '')
      .join(' ');
    this.child = spawn(
      join(repoRoot, 'bin', 'cvo-verifier'),
      [
        'serve',
        '--kubeconfig',
        kubeconfig,
        '--identity',
        identity,
        '--bind-address',
        '127.0.0.1',
        '--health-port',
        '0',
        // Made-up digests of quay.io's repository: there is no payload to read.
        '--release-metadata',
        'warn',
        // No background re-check during the bench (every target verifies).
        '--recheck-base',
        '1h',
        // Stopped at the end without waiting for the drain after SIGTERM.
        '--shutdown-delay',
        '0',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: nodeOptions } },
    );
    const keep = (d: Buffer): void => {
      this.output.push(d.toString());
      if (this.output.length > 200) this.output.splice(0, this.output.length - 200);
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.identity} did not start`);
    return this.child.pid;
  }

  tail(): string {
    return this.output.join('').split('\n').slice(-20).join('\n');
  }

  async status(): Promise<{ rss: number; hwm: number }> {
    const text = await readFile(`/proc/${this.pid}/status`, 'utf8');
    const kib = (field: string): number => {
      const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text);
      if (m?.[1] === undefined) throw new Error(`no ${field} in /proc/${this.pid}/status`);
      return Number(m[1]) * 1024;
    };
    return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
  }

  async stop(): Promise<number | null | 'timeout'> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    this.child.kill('SIGTERM');
    const code = await exitedWithin(this.exited, 15_000);
    if (code === 'timeout') this.child.kill('SIGKILL');
    return code;
  }
}

async function exitedWithin(
  exited: Promise<number | null>,
  ms: number,
): Promise<number | null | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface Reading {
  readonly rss: number;
  readonly hwm: number;
  readonly heapUsed: number | undefined;
  readonly heapTotal: number | undefined;
}

/** SAMPLES readings of VmRSS (median), then V8's heap from a diagnostic report. */
async function read(p: ServeProcess, reportDir: string): Promise<Reading> {
  const rss: number[] = [];
  let hwm = 0;
  for (let i = 0; i < SAMPLES; i++) {
    if (i > 0) await sleep(SAMPLE_GAP_MS);
    const s = await p.status();
    rss.push(s.rss);
    hwm = s.hwm;
  }
  rss.sort((a, b) => a - b);
  const heap = await heapOf(p, reportDir);
  return { rss: rss[Math.floor(rss.length / 2)] ?? NaN, hwm, ...heap };
}

/** V8's heap figures from a diagnostic report the process writes on SIGUSR2. */
async function heapOf(
  p: ServeProcess,
  reportDir: string,
): Promise<{ heapUsed: number | undefined; heapTotal: number | undefined }> {
  const before = new Set(await readdir(reportDir));
  p.child.kill('SIGUSR2');
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const name = (await readdir(reportDir)).find(
      (f) => !before.has(f) && f.includes(`.${p.pid}.`) && f.endsWith('.json'),
    );
    if (name !== undefined) {
      try {
        const report = JSON.parse(await readFile(join(reportDir, name), 'utf8')) as {
          javascriptHeap?: { usedMemory?: number; totalMemory?: number };
        };
        return {
          heapUsed: report.javascriptHeap?.usedMemory,
          heapTotal: report.javascriptHeap?.totalMemory,
        };
      } catch {
        // Still being written.
      }
    }
    await sleep(100);
  }
  return { heapUsed: undefined, heapTotal: undefined };
}

async function leaseHolder(tc: TestCluster): Promise<string> {
  return (await tc.admin.getLease(LEASE_NAMESPACE, LEASE_NAME))?.spec?.holderIdentity ?? '';
}

async function waitForLeader(tc: TestCluster, p: ServeProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while ((await leaseHolder(tc)) !== p.identity) {
    if (p.child.exitCode !== null || Date.now() > deadline)
      throw new Error(`${p.identity} did not take the lease:\n${p.tail()}`);
    await sleep(200);
  }
}

/** Waits until the process has printed a line matching `pattern`. */
async function waitForOutput(p: ServeProcess, pattern: RegExp, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!pattern.test(p.tail())) {
    if (p.child.exitCode !== null || Date.now() > deadline)
      throw new Error(`${p.identity}: no ${what}:\n${p.tail()}`);
    await sleep(100);
  }
}

async function getClusterVersion(tc: TestCluster, dispatcher: Agent): Promise<ClusterVersion> {
  const res = await request(
    `${tc.cluster.server}/apis/config.openshift.io/v1/clusterversions/version`,
    {
      dispatcher,
      headers: { authorization: `Bearer ${tc.cluster.adminToken}`, accept: 'application/json' },
    },
  );
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET clusterversion: ${res.statusCode} ${text}`);
  return JSON.parse(text) as ClusterVersion;
}

/** One edit of spec.desiredUpdate (a merge patch, as `oc adm upgrade`), until it is accepted. */
async function acceptEdit(
  tc: TestCluster,
  dispatcher: Agent,
  leader: ServeProcess,
  image: string,
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
      body: JSON.stringify({ spec: { desiredUpdate: { image, version: '', force: false } } }),
    },
  );
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`PATCH clusterversion: ${res.statusCode} ${text}`);
  const deadline = Date.now() + DECISION_TIMEOUT_MS;
  for (;;) {
    const cv = await getClusterVersion(tc, dispatcher);
    const accepted = condition(cv, 'ReleaseAccepted');
    if (accepted !== undefined && (accepted.message ?? '').includes(`image="${image}"`)) {
      if (accepted.status !== 'True' || condition(cv, 'ReleaseVerified')?.status !== 'True')
        throw new Error(`${image}: not accepted as verified: ${JSON.stringify(cv.status)}`);
      return;
    }
    if (leader.child.exitCode !== null || Date.now() > deadline)
      throw new Error(
        `${image}: no ReleaseAccepted within ${DECISION_TIMEOUT_MS} ms: ${JSON.stringify(cv.status?.conditions)}\n${leader.tail()}`,
      );
    await sleep(10);
  }
}

function mib(bytes: number | undefined): string {
  return bytes === undefined ? '?' : (bytes / MIB).toFixed(1);
}

function printReadings(rows: readonly { label: string; r: Reading }[]): void {
  const header = ['RSS MiB', 'HWM MiB', 'heap used MiB', 'heap total MiB'];
  const labelWidth = Math.max(...rows.map((x) => x.label.length));
  console.log(`  ${''.padEnd(labelWidth)}  ${header.join('  ')}`);
  for (const { label, r } of rows) {
    const cells = [r.rss, r.hwm, r.heapUsed, r.heapTotal].map((v, i) =>
      mib(v).padStart(header[i]?.length ?? 0),
    );
    console.log(`  ${label.padEnd(labelWidth)}  ${cells.join('  ')}`);
  }
}

export async function run(): Promise<void> {
  const wallStarted = performance.now();
  if (!existsSync(join(repoRoot, 'dist', 'cli', 'main.js')))
    throw new Error('dist/ is missing: run `npm run build` first');
  const started = await startTestCluster();
  if ('skip' in started) {
    console.log(`skipped: no local control plane: ${started.skip}`);
    return;
  }
  const tc = started;
  const reportDir = await mkdtemp(join(tmpdir(), 'cvo-serve-memory-'));
  const snapshotDir = join(repoRoot, '.cache', 'bench', 'serve-memory');
  if (SNAPSHOT) await mkdir(snapshotDir, { recursive: true });
  const dispatcher = new Agent({ connect: { ca: tc.cluster.caCert } });
  let signer: ReleaseSigner | undefined;
  const processes: ServeProcess[] = [];
  try {
    signer = await ReleaseSigner.create();
    const s = signer;
    await installRootOfTrust(tc.admin, s);
    await seed(tc);
    const digests = Array.from({ length: RELEASES }, (_, i) => digestOf(0x40000 + i));
    const signStarted = performance.now();
    for (let i = 0; i < digests.length; i += SIGN_CONCURRENCY)
      await Promise.all(digests.slice(i, i + SIGN_CONCURRENCY).map((d) => s.publish(d)));
    console.log(
      `setup: ${RELEASES} signatures published in ${((performance.now() - signStarted) / 1000).toFixed(1)} s`,
    );

    const leader = new ServeProcess('bench-leader', tc.cluster.kubeconfig, reportDir, snapshotDir);
    processes.push(leader);
    await waitForLeader(tc, leader);
    await waitForOutput(leader, /"msg":"serving HTTP"/, 'HTTP server');
    const standby = new ServeProcess(
      'bench-standby',
      tc.cluster.kubeconfig,
      reportDir,
      snapshotDir,
    );
    processes.push(standby);
    await waitForOutput(standby, /"msg":"serving HTTP"/, 'HTTP server');
    // Leader's first reconcile (the seeded ClusterVersion) and the standby's first lease attempts.
    await sleep(SETTLE_MS);
    const before = await Promise.all([read(leader, reportDir), read(standby, reportDir)]);

    const editsStarted = performance.now();
    for (const [i, d] of digests.entries()) {
      await acceptEdit(tc, dispatcher, leader, `${REPO}@${d}`);
      if ((i + 1) % 250 === 0 && i + 1 < digests.length)
        console.log(
          `  ${i + 1} releases accepted (${((performance.now() - editsStarted) / 1000).toFixed(0)} s)`,
        );
    }
    const editsSeconds = (performance.now() - editsStarted) / 1000;
    if ((await leaseHolder(tc)) !== leader.identity)
      throw new Error('the leader lost its lease during the bench');
    await sleep(SETTLE_MS);
    const after = await Promise.all([read(leader, reportDir), read(standby, reportDir)]);

    console.log(
      `\n${RELEASES} verified releases accepted one after another in ${editsSeconds.toFixed(1)} s ` +
        `(${((editsSeconds * 1000) / RELEASES).toFixed(0)} ms each)`,
    );
    printReadings([
      { label: 'leader, started (1 reconcile)', r: before[0] },
      { label: `leader, after ${RELEASES} releases`, r: after[0] },
      { label: 'standby, started', r: before[1] },
      { label: `standby, at the end`, r: after[1] },
    ]);
    console.log(
      `  RSS = median of ${SAMPLES} VmRSS readings ${SAMPLE_GAP_MS} ms apart, ${SETTLE_MS / 1000} s after the last\n` +
        '  edit; HWM = VmHWM (peak); heap = V8 used/total from a diagnostic report taken after the\n' +
        `  readings. Processes: bin/cvo-verifier serve (dist/), leader election on, pids ${leader.pid} (leader),\n` +
        `  ${standby.pid} (standby); load average now ${(await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')}`,
    );
    if (SNAPSHOT) {
      for (const p of processes) {
        const beforeFiles = new Set(await readdir(snapshotDir));
        p.child.kill('SIGUSR1');
        const deadline = Date.now() + 60_000;
        let written: string | undefined;
        while (written === undefined && Date.now() < deadline) {
          await sleep(500);
          written = (await readdir(snapshotDir)).find(
            (f) => !beforeFiles.has(f) && f.includes(`.${p.pid}.`),
          );
        }
        // The snapshot is complete once its size stops changing.
        await sleep(3000);
        console.log(`  heap snapshot of ${p.identity}: ${join(snapshotDir, written ?? '?')}`);
      }
    }
  } finally {
    for (const p of processes.reverse()) {
      const code = await p.stop();
      if (code !== 0) console.log(`${p.identity} exited ${String(code)}:\n${p.tail()}`);
    }
    await dispatcher.close();
    await signer?.close();
    await tc.stop();
    await rm(reportDir, { recursive: true, force: true });
    console.log(`wall time: ${((performance.now() - wallStarted) / 1000).toFixed(1)} s`);
  }
}
