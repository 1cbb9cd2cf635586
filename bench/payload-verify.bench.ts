/**
 * What verifying a whole release payload costs, against a real registry.
 *
 * Setup (not timed): Debian's docker-registry on 127.0.0.1 and a synthetic release like a 4.17
 * one: 190 component images in one repository, each with a legacy cosign signature made with a
 * P-256 key generated at bench time, and a release image whose top layer (tar+gzip) holds
 * release-manifests/image-references and release-metadata. One ClusterImagePolicy (PublicKey)
 * covers the registry.
 *
 * Timed, each a full `verify-payload` minus argument parsing (read the release image, extract
 * the two files, verify every component):
 *   cold        a new client (new TCP connections) and an empty verdict cache, concurrency 16
 *   warm cache  the same client and cache again: only the release image is read
 *   warm conns  the same client, a fresh cache each time (WARM_RUNS runs)
 *   serial      the same client, a fresh cache, concurrency 1 (the baseline for the ratio)
 * Reported: wall time, registry requests dispatched, TCP connections opened, and the process's
 * peak RSS (ru_maxrss) before and after. Figures only; every run must verify all 190.
 */
import { Agent } from 'undici';
import type { Dispatcher } from 'undici';

import { parseReleasePullspec } from '../src/image/pullspec.js';
import {
  createComponentCache,
  payloadVerified,
  summarize as summarizeComponents,
  verifyComponents,
} from '../src/payload/payload-verifier.js';
import type { ComponentVerdictCache } from '../src/payload/payload-verifier.js';
import { readReleasePayload } from '../src/payload/release-image.js';
import { dedupeComponents } from '../src/payload/release-content.js';
import { parsePolicyText } from '../src/policy/parse.js';
import type { PolicyObject } from '../src/policy/types.js';
import { RegistryClient } from '../src/registry/client.js';
import { createTestKey } from '../test/helpers/cosign.js';
import { findRegistryBinary, TestRegistry } from '../test/helpers/registry.js';
import { pushSyntheticRelease } from '../test/helpers/release.js';
import { summarize } from './stats.js';

const COMPONENTS = 190;
const CONCURRENCY = 16;
const WARM_RUNS = 5;

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

interface Run {
  readonly wallMs: number;
  readonly requests: number;
  readonly connections: number;
}

async function verifyOnce(
  client: RegistryClient,
  agent: CountingAgent,
  pullspec: string,
  policies: readonly PolicyObject[],
  cache: ComponentVerdictCache,
  concurrency: number,
): Promise<Run> {
  const requests = agent.requests;
  const connections = agent.connections;
  const started = performance.now();
  const signal = AbortSignal.timeout(120_000);
  const [payload] = await readReleasePayload(client, parseReleasePullspec(pullspec), { signal });
  if (payload === undefined) throw new Error('no payload read');
  const results = await verifyComponents(dedupeComponents(payload.references.components), {
    client,
    policies,
    cache,
    concurrency,
    signal,
  });
  const wallMs = performance.now() - started;
  const summary = summarizeComponents(results);
  if (!payloadVerified(summary) || summary.verified !== COMPONENTS) {
    throw new Error(`payload not verified: ${JSON.stringify(summary)}`);
  }
  return {
    wallMs,
    requests: agent.requests - requests,
    connections: agent.connections - connections,
  };
}

function rssMiB(): string {
  return (process.resourceUsage().maxRSS / 1024).toFixed(1);
}

export async function run(): Promise<void> {
  const binary = await findRegistryBinary();
  if ('skip' in binary)
    throw new Error(`payload-verify bench needs docker-registry: ${binary.skip}`);
  const registry = await TestRegistry.start(binary.path);
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
      ).toFixed(1)} s`,
    );
    const parsed = parsePolicyText(
      JSON.stringify({
        apiVersion: 'config.openshift.io/v1',
        kind: 'ClusterImagePolicy',
        metadata: { name: 'openshift' },
        spec: {
          scopes: [registry.host],
          policy: {
            rootOfTrust: {
              policyType: 'PublicKey',
              publicKey: { keyData: Buffer.from(key.publicKeyPem).toString('base64') },
            },
          },
        },
      }),
      'bench-policy',
    );
    if (parsed.errors.length > 0) throw new Error(parsed.errors.map((e) => e.message).join('; '));
    const policies = parsed.objects;

    const agent = new CountingAgent({ keepAliveTimeout: 10_000, connections: CONCURRENCY });
    const client = new RegistryClient({ dispatcher: agent, maxConcurrentRequests: CONCURRENCY });
    const rssBefore = rssMiB();
    try {
      const cache = createComponentCache();
      const cold = await verifyOnce(client, agent, release.pullspec, policies, cache, CONCURRENCY);
      const rssAfterCold = rssMiB();
      const warmCache = await verifyOnce(
        client,
        agent,
        release.pullspec,
        policies,
        cache,
        CONCURRENCY,
      );
      const warm: Run[] = [];
      for (let i = 0; i < WARM_RUNS; i++) {
        warm.push(
          await verifyOnce(
            client,
            agent,
            release.pullspec,
            policies,
            createComponentCache(),
            CONCURRENCY,
          ),
        );
      }
      const serial = await verifyOnce(
        client,
        agent,
        release.pullspec,
        policies,
        createComponentCache(),
        1,
      );
      const warmStats = summarize(warm.map((r) => r.wallMs));
      const line = (label: string, r: Run): string =>
        `${label.padEnd(12)} ${r.wallMs.toFixed(1).padStart(8)} ms  ${String(r.requests).padStart(5)} requests  ${String(r.connections).padStart(3)} new connections  ${((COMPONENTS / r.wallMs) * 1000).toFixed(0)} components/s`;
      console.log(`${COMPONENTS} components, concurrency ${CONCURRENCY}, one PublicKey policy`);
      console.log(line('cold', cold));
      console.log(line('warm cache', warmCache));
      for (const [i, r] of warm.entries()) console.log(line(`warm conns ${i + 1}`, r));
      console.log(
        `warm conns   median ${warmStats.median.toFixed(1)} ms, p90 ${warmStats.p90.toFixed(1)} ms over ${WARM_RUNS} runs`,
      );
      console.log(line('serial', serial));
      console.log(
        `ratios: serial/warm-median ${(serial.wallMs / warmStats.median).toFixed(2)}x, cold/warm-cache ${(cold.wallMs / warmCache.wallMs).toFixed(1)}x`,
      );
      console.log(
        `peak RSS (process, ru_maxrss): ${rssBefore} MiB before the runs, ${rssAfterCold} MiB after the cold run, ${rssMiB()} MiB at the end`,
      );
    } finally {
      await client.close();
      await agent.close();
    }
  } finally {
    await registry.stop();
  }
}
