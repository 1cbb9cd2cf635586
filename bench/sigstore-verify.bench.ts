/**
 * What verifying the legacy cosign signatures of many images costs, against a real registry.
 *
 * Setup (not timed): Debian's docker-registry on 127.0.0.1, 200 distinct images (one repository
 * each), each with a valid legacy cosign signature (`sha256-<hex>.sig`) made with a P-256 key
 * generated at bench time, identity `host/path:v1`.
 *
 * Timed: fetchSignatureLayers + verifyLayers (public key, MatchRepoDigestOrExact, by tag and digest) of all
 * 200 images through one RegistryClient with its default options (so at most
 * DEFAULT_MAX_CONCURRENT_REQUESTS requests in flight and as many pooled connections):
 *   cold       a new client (new dispatcher, so new TCP connections), CONCURRENCY images in flight
 *   warm       the same client again (keep-alive connections established), WARM_RUNS times
 *   sequential the same client, one image at a time, WARM_RUNS times
 *
 * The client gets a dispatcher of ours, configured as the one it would make itself, that counts
 * the HTTP requests dispatched and the TCP connections opened. Figures only: nothing asserts on
 * timing; every run must verify all images or the bench fails loudly.
 */
import { Agent } from 'undici';
import type { Dispatcher } from 'undici';

import { DEFAULT_MAX_CONCURRENT_REQUESTS, RegistryClient } from '../src/registry/client.js';
import type { ImageToVerify, LayerVerdict } from '../src/sigstore/verify-signatures.js';
import {
  createTestKey,
  makeCosignPayload,
  makeSignatureLayer,
  pushCosignSignatures,
} from '../test/helpers/cosign.js';
import { findRegistryBinary, pushImage, TestRegistry } from '../test/helpers/registry.js';
import type { PushTarget } from '../test/helpers/registry.js';
import { verifyLayersFromRegistry } from '../test/sigstore/verify-from-registry.js';
import type { VerifyFromRegistryOptions } from '../test/sigstore/verify-from-registry.js';
import { summarize } from './stats.js';

const IMAGES = 200;
/** Images verified at once in the concurrent runs. */
const CONCURRENCY = 8;
const WARM_RUNS = 3;
/** Images pushed at once during setup. */
const PUSH_CONCURRENCY = 8;
const TAG = 'v1';
/** Same as the client's own agent (src/registry/client.ts). */
const KEEP_ALIVE_TIMEOUT_MS = 10_000;

/** An undici Agent that counts what it dispatches and the connections it opens. */
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

function newCountingAgent(): CountingAgent {
  return new CountingAgent({
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    connections: DEFAULT_MAX_CONCURRENT_REQUESTS,
  });
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      await fn(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

interface RunResult {
  readonly label: string;
  readonly concurrency: number;
  readonly wallMs: number;
  /** Per-image latency, ms. */
  readonly latencies: number[];
  readonly requests: number;
  readonly connections: number;
  readonly verified: number;
  readonly failures: string[];
}

async function verifyAll(
  label: string,
  client: RegistryClient,
  agent: CountingAgent,
  images: readonly ImageToVerify[],
  concurrency: number,
  options: VerifyFromRegistryOptions,
): Promise<RunResult> {
  const requestsBefore = agent.requests;
  const connectionsBefore = agent.connections;
  const latencies: number[] = [];
  const failures: string[] = [];
  let verified = 0;
  const started = performance.now();
  await pool(images, concurrency, async (image) => {
    const start = performance.now();
    let verdict: LayerVerdict | undefined;
    let error: unknown;
    try {
      verdict = await verifyLayersFromRegistry(client, image, options);
    } catch (err) {
      error = err;
    }
    latencies.push(performance.now() - start);
    if (verdict?.status === 'verified') verified++;
    else {
      const why =
        verdict === undefined
          ? `threw ${error instanceof Error ? error.message : String(error)}`
          : verdict.status === 'rejected'
            ? `rejected ${verdict.code}: ${verdict.message}`
            : `unsigned: ${verdict.detail}`;
      failures.push(`${image.path}@${image.digest}: ${why}`);
    }
  });
  return {
    label,
    concurrency,
    wallMs: performance.now() - started,
    latencies,
    requests: agent.requests - requestsBefore,
    connections: agent.connections - connectionsBefore,
    verified,
    failures,
  };
}

function checkRun(result: RunResult, total: number): void {
  if (result.verified === total && result.failures.length === 0) return;
  console.error(
    `\n!!! ${result.label}: only ${result.verified}/${total} images verified; ${result.failures.length} failures:`,
  );
  for (const failure of result.failures.slice(0, 10)) console.error(`!!!   ${failure}`);
  throw new Error(`${result.label}: ${result.verified}/${total} images verified`);
}

/** The run with the median wall time (lower median for an even count). */
function medianRun(runs: readonly RunResult[]): RunResult {
  const sorted = [...runs].sort((a, b) => a.wallMs - b.wallMs);
  return sorted[Math.ceil(sorted.length / 2) - 1]!;
}

function bestRun(runs: readonly RunResult[]): RunResult {
  return [...runs].sort((a, b) => a.wallMs - b.wallMs)[0]!;
}

function printTable(title: string, rows: readonly RunResult[], total: number): void {
  const header = [
    'in flight',
    'wall ms',
    'images/s',
    'p50 ms',
    'p99 ms',
    'max ms',
    'HTTP reqs',
    'new conns',
    'verified',
  ];
  const data = rows.map((r) => {
    const s = summarize(r.latencies);
    return [
      String(r.concurrency),
      r.wallMs.toFixed(1),
      ((total / r.wallMs) * 1000).toFixed(0),
      s.median.toFixed(2),
      s.p99.toFixed(2),
      s.max.toFixed(2),
      String(r.requests),
      String(r.connections),
      `${r.verified}/${total}`,
    ];
  });
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

export async function run(): Promise<void> {
  const binary = await findRegistryBinary();
  if ('skip' in binary) {
    console.log(`skipped: ${binary.skip}`);
    return;
  }
  const setupStarted = performance.now();
  const registry = await TestRegistry.start(binary.path);
  let client: RegistryClient | undefined;
  let agent: CountingAgent | undefined;
  try {
    const target: PushTarget = { url: registry.url };
    const signer = createTestKey('p256');
    const images: ImageToVerify[] = Array.from({ length: IMAGES }, () => ({
      host: registry.host,
      path: '',
      digest: '',
    }));
    await pool(images, PUSH_CONCURRENCY, async (_, i) => {
      const path = `bench/sig${i}`;
      const pushed = await pushImage(target, path, TAG);
      const digest = pushed.manifest.digest;
      const payload = makeCosignPayload(`${registry.host}/${path}:${TAG}`, digest);
      await pushCosignSignatures(target, path, { digest }, [makeSignatureLayer(signer, payload)]);
      images[i] = { host: registry.host, path, digest, tag: TAG };
    });
    if (new Set(images.map((image) => image.digest)).size !== IMAGES) {
      throw new Error('setup: the pushed images are not all distinct');
    }
    console.log(
      `setup: docker-registry at ${registry.host}, ${IMAGES} images each with one P-256 cosign signature (${((performance.now() - setupStarted) / 1000).toFixed(1)} s)`,
    );

    const options = (): VerifyFromRegistryOptions => ({
      trust: { type: 'publicKey', keyPem: signer.publicKeyPem },
      signedIdentity: { type: 'matchRepoDigestOrExact' },
      signal: AbortSignal.timeout(60_000),
    });

    // (a) cold: a new client, so a new pool and new connections.
    agent = newCountingAgent();
    client = new RegistryClient({ dispatcher: agent });
    const cold = await verifyAll(
      'cold (new client)',
      client,
      agent,
      images,
      CONCURRENCY,
      options(),
    );
    checkRun(cold, IMAGES);

    // (b) warm: the same client and its keep-alive connections.
    const warm: RunResult[] = [];
    for (let i = 0; i < WARM_RUNS; i++) {
      const r = await verifyAll(`warm #${i + 1}`, client, agent, images, CONCURRENCY, options());
      checkRun(r, IMAGES);
      warm.push(r);
    }
    const sequential: RunResult[] = [];
    for (let i = 0; i < WARM_RUNS; i++) {
      const r = await verifyAll(`sequential #${i + 1}`, client, agent, images, 1, options());
      checkRun(r, IMAGES);
      sequential.push(r);
    }

    const rows: RunResult[] = [
      cold,
      { ...bestRun(warm), label: 'warm, best of 3' },
      { ...medianRun(warm), label: 'warm, median of 3' },
      { ...bestRun(sequential), label: 'warm sequential, best of 3' },
      { ...medianRun(sequential), label: 'warm sequential, median of 3' },
    ];
    printTable(
      `fetchSignatureLayers + verifyLayers of ${IMAGES} images (P-256 key, MatchRepoDigestOrExact), docker-registry on 127.0.0.1`,
      rows,
      IMAGES,
    );
    const all = [cold, ...warm, ...sequential];
    console.log(
      `\n  correctness: all ${IMAGES} images verified in each of ${all.length} runs ` +
        `(${all.reduce((n, r) => n + r.verified, 0)} verdicts 'verified', 0 failures)`,
    );
    console.log(
      `  in flight = images verified at once; the client itself keeps at most ${DEFAULT_MAX_CONCURRENT_REQUESTS} requests\n` +
        `  in flight (default maxConcurrentRequests) over at most ${DEFAULT_MAX_CONCURRENT_REQUESTS} connections. Per-image latency is\n` +
        '  one fetch + verify (waiting for a request permit included). HTTP reqs =\n' +
        '  requests dispatched (expected: 1 manifest + 1 blob per image); new conns = TCP connections\n' +
        '  opened during the run. warm rows: the runs with the best and median wall time.',
    );
  } finally {
    await client?.close();
    await agent?.close();
    await registry.stop();
  }
}
