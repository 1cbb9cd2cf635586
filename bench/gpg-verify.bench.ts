/**
 * What one GPG release verification costs.
 *
 * (a) verifySignedMessage (parse + verify) of an RSA-4096 / SHA-256 signature made by real GnuPG
 *     at bench time, against node:crypto's raw RSA PKCS#1 v1.5 verify of the very same signature
 *     over the very same hashed bytes (literal data + hashed part of the signature packet +
 *     trailer), both in this run; plus a cold-keyring variant (loadKeyring + verify each time).
 * (b) GpgReleaseVerifier.verify against a local HTTP store on 127.0.0.1: cold (fresh dispatcher,
 *     verifier and cache per run, so connection setup is included) and warm (one dispatcher, no
 *     cache); and one real CLI process end to end when dist/ is built.
 *
 * (c) Fully cold, beside library-go: what one verification costs when nothing is kept between
 *     verifications — the root-of-trust ConfigMap file read and parsed (YAML), its keyring parsed,
 *     the verifier and its store built, `sha256=<hex>/signature-1` read from a file:// store
 *     (`store-local` in the ConfigMap) and verified — ours and library-go's on the very same
 *     ConfigMap file, key, signature and store directory. See coldSection() for exactly what each
 *     side includes and how per-verification figures are taken inside a long-running process.
 *     BENCH_GPG_ONLY=cold runs (c) alone; BENCH_GPG_ROUNDS=N (default 7) rounds of
 *     BENCH_GPG_BATCH=N (default 200) verifications per side; BENCH_GPG_BASELINE=DIR adds, in
 *     the same turns, another checkout of this project (e.g. `git archive <commit> src | tar -x
 *     -C DIR` and a node_modules link) verifying through its own src/; BENCH_LIBRARYGO_HARNESS=PATH
 *     runs that harness binary instead of the one built for the current interop/ sources.
 *     BENCH_GPG_CPU_PROFILE=FILE writes a V8 CPU profile of one more batch of ours alone.
 *
 * Figures only: nothing here asserts on timing. Correctness of the setup is checked (a bench
 * that times a failing verification would print meaningless numbers).
 */
import { execFile, spawn } from 'node:child_process';
import { verify as cryptoVerify } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { loadavg, tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { loadKeyring } from '../src/gpg/keyring.js';
import { parseSignedMessage } from '../src/gpg/signed-message.js';
import { verifySignedMessage } from '../src/gpg/verify-message.js';
import { createHttpDispatcher, HttpSignatureStore } from '../src/stores/http-store.js';
import { GpgReleaseVerifier } from '../src/verify/gpg-verifier.js';
import type { GpgResult } from '../src/verify/gpg-verifier.js';
import { LruCache } from '../src/verify/verdict-cache.js';
import { atomicPayload, GnuPG, randomDigest } from '../test/helpers/gnupg.js';
import type { LibraryGoResult } from '../test/helpers/interop.js';
import { StoreServer } from '../test/helpers/store-server.js';
import { goToolPath } from '../test/tooling/go-tools.js';
import { summarize } from './stats.js';
import type { Summary } from './stats.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

const VERIFY_WARMUP = 200;
const VERIFY_ITERATIONS = 2000;
const COLD_KEYRING_ITERATIONS = 300;
const E2E_WARMUP = 5;
const E2E_COLD_RUNS = 50;
const E2E_WARM_RUNS = 200;
const CLI_RUNS = 5;
const COLD_DEFAULT_ROUNDS = 7;
const COLD_DEFAULT_BATCH = 200;
/** Verifications at the start of each batch left out: JIT and Go's first-use costs settle. */
const COLD_WARMUP = 20;
/** A batch of a few hundred fully cold verifications takes well under a second per side. */
const COLD_BATCH_TIMEOUT_MS = 120_000;

function micros(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1000;
}

async function timeAsync(
  iterations: number,
  warmup: number,
  fn: () => Promise<unknown>,
): Promise<Summary> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const start = process.hrtime.bigint();
    await fn();
    samples.push(micros(start));
  }
  return summarize(samples);
}

function leftPad(value: Uint8Array, size: number): Buffer {
  const out = Buffer.alloc(size);
  out.set(value, size - value.length);
  return out;
}

/** A plain-text table: one row per case; a note row holds text instead of figures. */
class Table {
  private readonly rows: ({ label: string; cells: string[] } | { label: string; note: string })[] =
    [];
  private readonly unit: 'µs' | 'ms';

  constructor(unit: 'µs' | 'ms') {
    this.unit = unit;
  }

  add(label: string, s: Summary): void {
    const f = (us: number): string => (this.unit === 'µs' ? us.toFixed(1) : (us / 1000).toFixed(2));
    this.rows.push({
      label,
      cells: [String(s.n), f(s.median), f(s.p99), `${f(s.min)}–${f(s.max)}`],
    });
  }

  note(label: string, note: string): void {
    this.rows.push({ label, note });
  }

  print(title: string): void {
    const header = ['n', `median ${this.unit}`, `p99 ${this.unit}`, `min–max ${this.unit}`];
    const data = [header, ...this.rows.flatMap((r) => ('cells' in r ? [r.cells] : []))];
    const widths = header.map((_, c) => Math.max(...data.map((cells) => (cells[c] ?? '').length)));
    const labelWidth = Math.max(...this.rows.map((r) => r.label.length));
    const line = (label: string, rest: string): void => {
      console.log(`  ${label.padEnd(labelWidth)}  ${rest}`.trimEnd());
    };
    console.log(`\n${title}`);
    line('', header.map((h, c) => h.padStart(widths[c] ?? 0)).join('  '));
    line('-'.repeat(labelWidth), widths.map((w) => '-'.repeat(w)).join('  '));
    for (const r of this.rows) {
      if ('cells' in r) line(r.label, r.cells.map((v, c) => v.padStart(widths[c] ?? 0)).join('  '));
      else line(r.label, r.note);
    }
  }
}

function execCli(
  args: readonly string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      join(repoRoot, 'bin', 'cvo-verifier'),
      args,
      { encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function configMapYaml(keyring: string, storeUrl: string): string {
  const indented = keyring
    .trimEnd()
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
  return `apiVersion: v1
kind: ConfigMap
metadata:
  name: release-verification
  namespace: openshift-config-managed
  annotations:
    release.openshift.io/verification-config-map: ""
data:
  verifier-public-key-bench: |
${indented}
  store-empty: ${storeUrl}
`;
}

/**
 * One fully cold verification by a checkout of this project, loaded from its own src/ (so a
 * baseline checkout runs its own code): what `cvo-verifier verify --root-of-trust FILE` does
 * minus argument parsing and printing, and what the librarygo-harness does per case.
 */
async function loadColdVerify(
  root: string,
  configMap: string,
  digest: string,
  keyrings: 'parse' | 'cached',
): Promise<() => Promise<void>> {
  const load = async (path: string): Promise<Record<string, unknown>> =>
    (await import(pathToFileURL(join(root, 'src', path)).href)) as Record<string, unknown>;
  const [rootOfTrust, createStore, gpgVerifier, keyring] = await Promise.all([
    load('gpg/root-of-trust.ts'),
    load('stores/create-store.ts'),
    load('verify/gpg-verifier.ts'),
    load('gpg/keyring.ts'),
  ]);
  const loadRootOfTrust = rootOfTrust.loadRootOfTrust as (
    path: string,
    options?: { keyringCache?: unknown },
  ) => Promise<{ keyrings: unknown[]; source: string; stores: { url: string }[] }>;
  // 'parse': a cache that keeps nothing, so every verification parses the keyring (a checkout
  // from before the keyring cache has none and parses anyway); 'cached': the process's cache.
  const Cache = keyring.KeyringCache as
    (new (options: { maxEntries: number }) => unknown) | undefined;
  const options =
    keyrings === 'parse' && Cache !== undefined
      ? { keyringCache: new Cache({ maxEntries: 0 }) }
      : {};
  const createStoreFromUrl = createStore.createStoreFromUrl as (
    url: string,
    options: { baseDir: string },
  ) => unknown;
  const Verifier = gpgVerifier.GpgReleaseVerifier as new (options: {
    trust: unknown;
    stores: unknown[];
  }) => { verify: (digest: string) => Promise<GpgResult> };
  return async () => {
    const trust = await loadRootOfTrust(configMap, options);
    const stores = trust.stores.map((s) => createStoreFromUrl(s.url, { baseDir: root }));
    const result = await new Verifier({ trust, stores }).verify(digest);
    if (!result.verified) {
      throw new Error(`${root}: not verified: ${result.message}: ${result.details.join('; ')}`);
    }
  };
}

/** Per-verification means over the measured part of one batch. */
interface ColdBatch {
  /** Wall time per verification, µs. */
  readonly wallUs: number;
  /** CPU time per verification (user + system, all threads of the process), µs. */
  readonly cpuUs: number;
  /** Cases library-go refused (see libraryGoColdBatch); always 0 for ours. */
  readonly refused: number;
}

/** User + system CPU time of a process from /proc (clock ticks of 10 ms), µs; NaN without /proc. */
function procCpuUs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state ppid … utime(14) stime(15): comm may hold spaces, so split after ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return NaN;
  }
}

function ownCpuUs(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/** `batch` fully cold verifications in a row by ours; the first COLD_WARMUP are not measured. */
async function oursColdBatch(verify: () => Promise<void>, batch: number): Promise<ColdBatch> {
  for (let i = 0; i < COLD_WARMUP; i++) await verify();
  const cpu = ownCpuUs();
  const start = process.hrtime.bigint();
  for (let i = COLD_WARMUP; i < batch; i++) await verify();
  const wall = micros(start);
  const n = batch - COLD_WARMUP;
  return { wallUs: wall / n, cpuUs: (ownCpuUs() - cpu) / n, refused: 0 };
}

/**
 * `batch` identical cases given to one librarygo-harness process. It decodes the whole batch
 * first, then runs the cases one after another and writes (and flushes) one line per case, so
 * the time between the line of case COLD_WARMUP and that of the last case, divided by the cases
 * in between, is its per-verification cost inside a running process: process start-up, Go's
 * runtime init and the batch's JSON decoding all fall before the first line and are not counted.
 * CPU time is the harness's own (from /proc at those two lines; 10 ms ticks, so a measured span
 * of ~150 ms is good to a few per cent).
 */
function libraryGoColdBatch(
  binary: string,
  configMap: string,
  digest: string,
  batch: number,
): Promise<ColdBatch> {
  const cases = Array.from({ length: batch }, (_, i) => ({
    id: `g${i}`,
    manifests: configMap,
    digest,
  }));
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    const pid = child.pid ?? -1;
    let stderr = '';
    let seen = 0;
    let refused = 0;
    let lastRefusal = '';
    let startWall = 0n;
    let startCpu = NaN;
    let result: ColdBatch | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), COLD_BATCH_TIMEOUT_MS);
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const now = process.hrtime.bigint();
      seen++;
      if (seen === COLD_WARMUP) {
        startWall = now;
        startCpu = procCpuUs(pid);
      } else if (seen === batch) {
        const n = batch - COLD_WARMUP;
        result = {
          wallUs: Number(now - startWall) / 1000 / n,
          cpuUs: (procCpuUs(pid) - startCpu) / n,
          refused: 0,
        };
      }
      const parsed = JSON.parse(line) as LibraryGoResult;
      if (!parsed.verified) {
        refused++;
        lastRefusal = line;
      }
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      // library-go's parallel store (pkg/verify/store/parallel) drops a signature now and then:
      // when a store's only response and its end are both waiting, Go's select may take the end
      // first and leave the loop with the response unread ("no more signatures to check"). Seen
      // in about 0.1–1% of identical cases here; counted and printed, not a bench failure. Most
      // refusals mean the setup is wrong.
      if (refused * 2 > seen)
        reject(new Error(`library-go refused ${refused} of ${seen}: ${lastRefusal}`));
      else if (code !== 0 || result === undefined)
        reject(
          new Error(
            `librarygo-harness exited ${String(code)} after ${seen} lines: ${stderr.slice(-2000)}`,
          ),
        );
      else resolve({ ...result, refused });
    });
    child.stdin.end(JSON.stringify({ cases }));
  });
}

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(value) || value <= COLD_WARMUP) {
    if (name === 'BENCH_GPG_ROUNDS' && Number.isInteger(value) && value > 0) return value;
    throw new Error(`${name} must be an integer above ${COLD_WARMUP}`);
  }
  return value;
}

function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/** (c): ours and library-go, fully cold, taking turns on the same files. */
async function coldSection(
  tmp: string,
  armoredKey: string,
  digest: string,
  signature: Uint8Array,
): Promise<void> {
  const rounds = positiveInt('BENCH_GPG_ROUNDS', COLD_DEFAULT_ROUNDS);
  const batch = positiveInt('BENCH_GPG_BATCH', COLD_DEFAULT_BATCH);
  const store = join(tmp, 'file-store');
  await mkdir(join(store, digest.replace(':', '=')), { recursive: true });
  await writeFile(join(store, digest.replace(':', '='), 'signature-1'), signature);
  const configMap = join(tmp, 'cold-root-of-trust.yaml');
  await writeFile(configMap, configMapYaml(armoredKey, `file://${store}`));

  const sides: { label: string; once: () => Promise<ColdBatch>; runs: ColdBatch[] }[] = [];
  const ours = await loadColdVerify(repoRoot, configMap, digest, 'parse');
  sides.push({ label: 'ours (this checkout)', once: () => oursColdBatch(ours, batch), runs: [] });
  const oursCached = await loadColdVerify(repoRoot, configMap, digest, 'cached');
  sides.push({
    label: 'ours, keyring parse cached',
    once: () => oursColdBatch(oursCached, batch),
    runs: [],
  });
  const baselineDir = process.env.BENCH_GPG_BASELINE;
  if (baselineDir !== undefined && baselineDir !== '') {
    const baseline = await loadColdVerify(baselineDir, configMap, digest, 'parse');
    sides.push({
      label: `baseline (${baselineDir})`,
      once: () => oursColdBatch(baseline, batch),
      runs: [],
    });
  }
  let goBinary: string | undefined;
  let goSkip: string | undefined;
  try {
    const given = process.env.BENCH_LIBRARYGO_HARNESS;
    goBinary = given !== undefined && given !== '' ? given : await goToolPath('libraryGoHarness');
  } catch (err) {
    goSkip = err instanceof Error ? err.message : String(err);
  }
  if (goBinary !== undefined) {
    const binary = goBinary;
    sides.push({
      label: 'library-go (librarygo-harness)',
      once: () => libraryGoColdBatch(binary, configMap, digest, batch),
      runs: [],
    });
  }
  const loadBefore = load();
  for (let r = 0; r < rounds; r++) {
    // Turns rotate, so neither side always runs right after the other.
    for (let k = 0; k < sides.length; k++) {
      const side = sides[(r + k) % sides.length]!;
      side.runs.push(await side.once());
    }
  }
  const loadAfter = load();

  const c = new Table('µs');
  const medians = new Map<string, { wall: number; cpu: number }>();
  for (const side of sides) {
    const wall = summarize(side.runs.map((x) => x.wallUs));
    const cpu = summarize(side.runs.map((x) => x.cpuUs));
    medians.set(side.label, { wall: wall.median, cpu: cpu.median });
    c.add(`${side.label}: wall per verification`, wall);
    c.add(`${side.label}: CPU per verification`, cpu);
  }
  if (goSkip !== undefined) c.note('library-go (librarygo-harness)', `skipped: ${goSkip}`);
  const goRuns = sides.find((x) => x.label.startsWith('library-go'))?.runs ?? [];
  const goRefused = goRuns.reduce((n, x) => n + x.refused, 0);
  c.print(
    `(c) fully cold GPG verification from a file store, ${rounds} rounds × ${batch - COLD_WARMUP} measured (of ${batch}) per side, in turns`,
  );
  console.log("  n = rounds; each figure is one round's mean per verification.");
  const go = medians.get('library-go (librarygo-harness)');
  for (const [label, m] of medians) {
    if (go === undefined || label.startsWith('library-go')) continue;
    console.log(
      `  ratio ${label} / library-go: ${(m.wall / go.wall).toFixed(2)}× wall, ${(m.cpu / go.cpu).toFixed(2)}× CPU (medians; < 1 is faster than library-go)`,
    );
  }
  if (goRefused > 0) {
    console.log(
      `  library-go refused ${goRefused} of ${goRuns.length * batch} identical cases (its parallel store's select race drops the signature; see libraryGoColdBatch)`,
    );
  }
  console.log(
    `  load average before: ${loadBefore}; after: ${loadAfter} (2 cores shared with others)`,
  );
  console.log(
    '\n  Both sides, per verification, on the same ConfigMap file, key, signature and store:\n' +
      '  read the ConfigMap file, parse its YAML, find the annotated ConfigMap, parse the armored\n' +
      '  keyring, build the verifier and its file:// store, read signature-1 (then nothing more:\n' +
      '  one keyring satisfied ends the search), decompress, verify RSA-4096/SHA-256, check the\n' +
      '  atomic payload. Ours: loadRootOfTrust + createStoreFromUrl + new GpgReleaseVerifier +\n' +
      '  verify, awaited one after another in this process. library-go: the harness per case:\n' +
      '  manifest.ManifestsFromFiles + verify.NewFromManifests + Verify (and writing its JSON\n' +
      '  line), timed between the lines it flushes, so process start and batch decoding are not\n' +
      '  counted. CPU includes every thread (GC, libuv pool). "ours (this checkout)" parses the\n' +
      '  keyring every time (a KeyringCache that keeps nothing): the row of the goal. "ours, keyring\n' +
      "  parse cached\" is the same with the process's keyring cache (keyed by the keyring's exact\n" +
      '  bytes): the file is still read and its YAML parsed, the verifier built and the signature\n' +
      '  read and verified every time, but the keys are parsed (and their self-signatures\n' +
      '  verified) once; library-go has no such cache.',
  );

  const profileFile = process.env.BENCH_GPG_CPU_PROFILE;
  if (profileFile !== undefined && profileFile !== '') {
    const session = new Session();
    session.connect();
    try {
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
      const profiled = await oursColdBatch(ours, batch);
      const { profile } = await session.post('Profiler.stop');
      await writeFile(profileFile, JSON.stringify(profile));
      console.log(
        `  CPU profile of one more batch of ours (${profiled.wallUs.toFixed(0)} µs per verification under the profiler) written to ${profileFile}`,
      );
    } finally {
      session.disconnect();
    }
  }
}

export async function run(): Promise<void> {
  const setupStarted = performance.now();
  const gpg = await GnuPG.create();
  let server: StoreServer | undefined;
  let tmp: string | undefined;
  try {
    const storeServer = (server = await StoreServer.start());
    const dir = (tmp = await mkdtemp(join(tmpdir(), 'cvo-bench-')));
    const version = (await gpg.run(['--version'])).toString().split('\n')[0] ?? 'gpg';
    const key = await gpg.generateKey('Bench Release Key <bench@example.com>', 'rsa4096');
    const armoredKey = (await gpg.exportPublicKey(key)).toString('utf8');
    const digest = randomDigest();
    const payload = Buffer.from(atomicPayload(digest));
    // As release signatures are: `gpg --sign` output (compressed, binary), SHA-256.
    const signature = new Uint8Array(
      await gpg.sign(payload, { key: `${key.fingerprint}!`, digestAlgo: 'SHA256' }),
    );
    const keyring = await loadKeyring('verifier-public-key-bench', Buffer.from(armoredKey));

    // The raw check: the same RSA value over the same bytes our verifier hashes.
    const message = parseSignedMessage(signature);
    const sig = message.signatures[0]!;
    if (sig.hashAlgorithm !== 8)
      throw new Error(`expected a SHA-256 signature, got hash ${sig.hashAlgorithm}`);
    const entry = keyring.lookup(sig.issuerKeyId)[0]!;
    const nodeKey = keyring.toNodeKey(entry.signer);
    const modulusBytes = Math.ceil((nodeKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
    const hashedBytes = Buffer.concat([message.data, sig.hashSuffix]);
    const rsaSignature = leftPad(sig.values[0]!, modulusBytes);
    // The bare KeyObject, as our verifier passes it (PKCS#1 v1.5 is an `rsa` key's padding; an
    // options object costs two failed brand checks per call), so the ratio compares like with like.
    if (nodeKey.asymmetricKeyType !== 'rsa') throw new Error('expected an rsa KeyObject');
    const raw = (): boolean => cryptoVerify('sha256', hashedBytes, nodeKey, rsaSignature);
    if (!raw()) throw new Error('raw crypto.verify rejected the GnuPG signature');
    const verified = await verifySignedMessage(signature, keyring);
    if (!Buffer.from(verified.data).equals(payload)) throw new Error('verified data differs');
    console.log(
      `setup: ${version}, RSA-${modulusBytes * 8} key ${key.keyId}, ${signature.length}-byte signed message (${((performance.now() - setupStarted) / 1000).toFixed(1)} s)`,
    );

    const only = process.env.BENCH_GPG_ONLY;
    if (only !== undefined && only !== '' && only !== 'cold') {
      throw new Error(`BENCH_GPG_ONLY must be 'cold' or unset, not ${JSON.stringify(only)}`);
    }
    if (only !== 'cold') await sectionsAB();
    await coldSection(dir, armoredKey, digest, signature);

    async function sectionsAB(): Promise<void> {
      // (a) one verification
      // Interleaved, so that the three see the same machine state (turbo, other load, GC).
      const samples = { raw: [] as number[], parse: [] as number[], ours: [] as number[] };
      for (let i = 0; i < VERIFY_WARMUP + VERIFY_ITERATIONS; i++) {
        const keep = i >= VERIFY_WARMUP;
        let start = process.hrtime.bigint();
        raw();
        if (keep) samples.raw.push(micros(start));
        start = process.hrtime.bigint();
        parseSignedMessage(signature);
        if (keep) samples.parse.push(micros(start));
        start = process.hrtime.bigint();
        await verifySignedMessage(signature, keyring);
        if (keep) samples.ours.push(micros(start));
      }
      const rawStats = summarize(samples.raw);
      const parseStats = summarize(samples.parse);
      const oursStats = summarize(samples.ours);
      const coldStats = await timeAsync(COLD_KEYRING_ITERATIONS, 20, async () =>
        verifySignedMessage(
          signature,
          await loadKeyring('verifier-public-key-bench', Buffer.from(armoredKey)),
        ),
      );
      const a = new Table('µs');
      a.add('raw crypto.verify (RSA PKCS#1 v1.5, SHA-256)', rawStats);
      a.add('parseSignedMessage only', parseStats);
      a.add('verifySignedMessage (parse + verify)', oursStats);
      a.add('cold keyring: loadKeyring + verifySignedMessage', coldStats);
      a.print(`(a) one GPG verification of an RSA-${modulusBytes * 8} signature`);
      console.log(
        `  ratio ours/raw: ${(oursStats.median / rawStats.median).toFixed(2)}× at the median, ${(oursStats.p99 / rawStats.p99).toFixed(2)}× at p99`,
      );

      // (b) end to end against a local HTTP store
      storeServer.publish(digest, [signature], '/sigs');
      const storeUrl = `${storeServer.url}/sigs`;
      const trust = { source: 'the bench', keyrings: [keyring] };
      const check = (result: GpgResult): void => {
        if (!result.verified)
          throw new Error(`not verified: ${result.message}: ${result.details.join('; ')}`);
      };
      const coldSamples: number[] = [];
      for (let i = 0; i < E2E_WARMUP + E2E_COLD_RUNS; i++) {
        const dispatcher = createHttpDispatcher();
        const verifier = new GpgReleaseVerifier({
          trust,
          stores: [new HttpSignatureStore(storeUrl, { dispatcher })],
        });
        const start = process.hrtime.bigint();
        const result = await verifier.verify(digest);
        const elapsed = micros(start);
        check(result);
        if (i >= E2E_WARMUP) coldSamples.push(elapsed);
        await dispatcher.close();
      }
      const dispatcher = createHttpDispatcher();
      const warmVerifier = new GpgReleaseVerifier({
        trust,
        stores: [new HttpSignatureStore(storeUrl, { dispatcher })],
        cache: new LruCache<GpgResult>(0),
      });
      const warmStats = await timeAsync(E2E_WARM_RUNS, E2E_WARMUP, async () => {
        check(await warmVerifier.verify(digest));
      });
      await dispatcher.close();

      const b = new Table('ms');
      b.add('cold: new dispatcher + verifier + cache per run', summarize(coldSamples));
      b.add('warm: one dispatcher (keep-alive), no verdict cache', warmStats);

      const cliLabel = `CLI: bin/cvo-verifier verify (one process)`;
      if (!existsSync(join(repoRoot, 'dist', 'cli', 'main.js'))) {
        b.note(cliLabel, "skipped: dist/cli/main.js is missing (run 'npm run build')");
      } else {
        // The ConfigMap needs a store of its own: an empty file store, so the HTTP one decides.
        const emptyStore = join(dir, 'empty-store');
        await mkdir(emptyStore);
        const configMap = join(dir, 'verification-configmap.yaml');
        await writeFile(configMap, configMapYaml(armoredKey, `file://${emptyStore}`));
        const args = [
          'verify',
          `quay.io/openshift-release-dev/ocp-release@${digest}`,
          '--root-of-trust',
          configMap,
          '--signature-store',
          storeUrl,
        ];
        const cliSamples: number[] = [];
        let failure: string | undefined;
        for (let i = 0; i < CLI_RUNS && failure === undefined; i++) {
          const start = process.hrtime.bigint();
          const result = await execCli(args);
          cliSamples.push(micros(start));
          if (result.code !== 0) {
            failure = `exit ${result.code}: ${(result.stderr || result.stdout).trim().split('\n')[0] ?? ''}`;
          }
        }
        if (failure !== undefined)
          b.note(cliLabel, `not measured: the CLI did not verify (${failure})`);
        else b.add(cliLabel, summarize(cliSamples));
      }
      b.print('(b) GpgReleaseVerifier.verify end to end, local HTTP store on 127.0.0.1');
      console.log(
        '\n  cold = fresh undici dispatcher (new TCP connection), verifier and verdict cache each run;\n' +
          '  keyring parsed once. warm = same dispatcher and verifier, LruCache(0) so every run\n' +
          '  fetches and verifies. CLI = process start to exit, including Node startup.',
      );
    }
  } finally {
    await server?.close();
    await gpg.cleanup();
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  }
}
