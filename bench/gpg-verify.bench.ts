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
 * Figures only: nothing here asserts on timing. Correctness of the setup is checked (a bench
 * that times a failing verification would print meaningless numbers).
 */
import { execFile } from 'node:child_process';
import { constants, verify as cryptoVerify } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { loadKeyring } from '../src/gpg/keyring.js';
import { parseSignedMessage } from '../src/gpg/signed-message.js';
import { verifySignedMessage } from '../src/gpg/verify-message.js';
import { createHttpDispatcher, HttpSignatureStore } from '../src/stores/http-store.js';
import { GpgReleaseVerifier } from '../src/verify/gpg-verifier.js';
import type { GpgResult } from '../src/verify/gpg-verifier.js';
import { LruCache } from '../src/verify/verdict-cache.js';
import { atomicPayload, GnuPG, randomDigest } from '../test/helpers/gnupg.js';
import { StoreServer } from '../test/helpers/store-server.js';
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

export async function run(): Promise<void> {
  const setupStarted = performance.now();
  const gpg = await GnuPG.create();
  let server: StoreServer | undefined;
  let tmp: string | undefined;
  try {
    server = await StoreServer.start();
    tmp = await mkdtemp(join(tmpdir(), 'cvo-bench-'));
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
    const rsaKey = { key: nodeKey, padding: constants.RSA_PKCS1_PADDING };
    const raw = (): boolean => cryptoVerify('sha256', hashedBytes, rsaKey, rsaSignature);
    if (!raw()) throw new Error('raw crypto.verify rejected the GnuPG signature');
    const verified = await verifySignedMessage(signature, keyring);
    if (!Buffer.from(verified.data).equals(payload)) throw new Error('verified data differs');
    console.log(
      `setup: ${version}, RSA-${modulusBytes * 8} key ${key.keyId}, ${signature.length}-byte signed message (${((performance.now() - setupStarted) / 1000).toFixed(1)} s)`,
    );

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
    server.publish(digest, [signature], '/sigs');
    const storeUrl = `${server.url}/sigs`;
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
      const emptyStore = join(tmp, 'empty-store');
      await mkdir(emptyStore);
      const configMap = join(tmp, 'verification-configmap.yaml');
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
  } finally {
    await server?.close();
    await gpg.cleanup();
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  }
}
