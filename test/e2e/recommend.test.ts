import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { runCli } from '../../src/cli/main.js';
import type { UpdateVerdict } from '../../src/controller/update-preverifier.js';
import { repoRoot } from '../helpers/fixtures.js';
import { startTestCluster } from '../helpers/local-cluster.js';
import type { TestCluster } from '../helpers/local-cluster.js';
import {
  parsePublishedUpdates,
  UPDATES_CONFIGMAP_NAME,
} from '../../src/controller/update-preverifier.js';
import type { Service } from '../../src/main.js';
import { digestOf, installRootOfTrust, ReleaseSigner, runService, seed } from './harness.js';

// `cvo-verifier recommend` on a real kube-apiserver: the updates the ClusterVersion offers
// (available and conditional, with a risk) are verified with the cluster's own trust, the
// root-of-trust ConfigMap and a real GPG signature store, by the CLI itself (no service runs).

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(args: string[], env: Record<string, string>): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env,
    cwd: repoRoot,
  });
  return { code, stdout, stderr };
}

/** A loopback port nothing listens on: the release-metadata read fails at once, offline. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const AT = '2026-01-01T00:00:00Z';

describe('cvo-verifier recommend on a real control plane', () => {
  let tc: TestCluster | undefined;
  let skip: string | undefined;
  let signer: ReleaseSigner;
  let service: Service | undefined;
  const logs: string[] = [];
  let home: string;
  let env: Record<string, string>;
  let repo: string;
  const image = (n: number): string => `${repo}@${digestOf(n)}`;

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'cvo-recommend-home-'));
    const started = await startTestCluster();
    if ('skip' in started) {
      skip = started.skip;
      return;
    }
    tc = started;
    env = { KUBECONFIG: tc.cluster.kubeconfig, HOME: home };
    repo = `127.0.0.1:${String(await closedPort())}/openshift/release`;
    signer = await ReleaseSigner.create();
    await installRootOfTrust(tc.admin, signer);
    // 4.17.0 and the conditional 4.18.0 are signed; 4.17.1 is not (yet).
    await signer.publish(digestOf(1));
    await signer.publish(digestOf(3));
    const seeded = await seed(tc, [
      { version: '4.17.0', image: image(1) },
      { version: '4.17.1', image: image(2) },
    ]);
    const status = seeded.status;
    assert.ok(status);
    await tc.admin.replaceClusterVersionStatus({
      ...seeded,
      status: {
        ...status,
        conditions: [
          { type: 'Failing', status: 'False', lastTransitionTime: AT },
          { type: 'RetrievedUpdates', status: 'True', lastTransitionTime: AT },
        ],
        conditionalUpdates: [
          {
            release: { version: '4.18.0', image: image(3) },
            risks: [
              {
                name: 'EtcdQuorum',
                message: 'etcd may lose quorum during the update.',
                url: 'https://example.com/etcd',
                matchingRules: [{ type: 'Always' }],
              },
            ],
            conditions: [
              {
                type: 'Recommended',
                status: 'False',
                reason: 'EtcdQuorum',
                message: 'etcd may lose quorum during the update.',
                lastTransitionTime: AT,
              },
            ],
          },
        ],
      },
    });
  });

  after(async () => {
    if (process.env.E2E_LOGS === '1') process.stderr.write(logs.join(''));
    await service?.stop();
    await signer?.close();
    await tc?.stop();
    await rm(home, { recursive: true, force: true });
  });

  const cluster = (t: { skip: (m: string) => void }): TestCluster | undefined => {
    if (tc === undefined) t.skip(skip ?? 'no cluster');
    return tc;
  };

  const notSigned = (n: number): string =>
    `unable to verify ${digestOf(n)} against keyrings: verifier-public-key-e2e`;

  it('lists the updates as oc does: the signed ones verified, the unsigned one refused with its reason', async (t) => {
    if (!cluster(t)) return;
    const r = await cli(['recommend'], env);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.equal(
      r.stdout,
      [
        'Upstream update service is unset, so the cluster will use an appropriate default.',
        'Channel: stable-4.17',
        '',
        'Updates to 4.18:',
        '',
        '  Version: 4.18.0',
        `  Image: ${image(3)}`,
        '  Reason: EtcdQuorum',
        '  Message: etcd may lose quorum during the update.',
        '  Verify: verified',
        '',
        'Updates to 4.17:',
        '  VERSION     ISSUES                                   VERIFY',
        '  4.17.1      no known issues relevant to this cluster refused (NotSigned)',
        `      ${notSigned(2)}`,
        '  4.17.0      no known issues relevant to this cluster verified',
        '',
      ].join('\n'),
    );
  });

  it('--version: the risk and the verdict; an unverifiable target is an issue to accept', async (t) => {
    if (!cluster(t)) return;
    const risky = await cli(
      ['recommend', '--version', '4.18.0', '--accept', 'ConditionalUpdateRisk'],
      env,
    );
    assert.equal(risky.code, 0, risky.stderr);
    assert.match(risky.stdout, /\nVerify: verified\n/);
    const unsigned = await cli(['recommend', '--version', '4.17.1'], env);
    assert.equal(unsigned.code, 1);
    assert.match(
      unsigned.stdout,
      new RegExp(`\\nVerify: refused \\(NotSigned\\): ${notSigned(2)}\\n$`),
    );
    assert.equal(
      unsigned.stderr,
      'error: issues that apply to this cluster but which were not included in --accept: ReleaseNotVerified\n',
    );
  });

  it('checks again on every run: a signature published since makes the update verified', async (t) => {
    const c = cluster(t);
    if (!c) return;
    await signer.publish(digestOf(2));
    const r = await cli(['recommend', '-o', 'json'], env);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as {
      updates: { version: string; risks: string[]; verify: UpdateVerdict }[];
    };
    assert.deepEqual(
      report.updates.map((u) => [u.version, u.risks, u.verify.result]),
      [
        ['4.18.0', ['EtcdQuorum'], 'verified'],
        ['4.17.1', [], 'verified'],
        ['4.17.0', [], 'verified'],
      ],
    );
    const v = report.updates[1]?.verify;
    assert.ok(v?.result === 'verified');
    // Who signed it, as the service's ReleaseVerified message says.
    assert.match(v.summary, /verifier-public-key-e2e/);
    assert.ok(Math.abs(Date.parse(v.checkedAt) - Date.now()) < 60_000);
  });

  it("with the service running: the leader's published verdicts, marked as such; --check verifies here", async (t) => {
    const c = cluster(t);
    if (!c) return;
    // One more update, unsigned, in another minor version.
    const cv = await c.admin.getClusterVersion('version');
    const status = cv.status;
    assert.ok(status);
    await c.admin.replaceClusterVersionStatus({
      ...cv,
      status: {
        ...status,
        availableUpdates: [
          ...(status.availableUpdates ?? []),
          { version: '4.16.1', image: image(4) },
        ],
      },
    });
    service = await runService(c.cluster.kubeconfig, {}, logs);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const published = parsePublishedUpdates(
        await c.admin.getConfigMap('cvo-update-verifier', UPDATES_CONFIGMAP_NAME),
      );
      if (published?.verdicts.length === 4) break;
      if (Date.now() > deadline)
        throw new Error(`no verdicts published: ${JSON.stringify(published)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const r = await cli(['recommend'], env);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    const at = (prefix: string): string => lines.find((l) => l.startsWith(prefix)) ?? '';
    assert.match(at('  Verify: '), /^ {2}Verify: verified \(service, (now|\d+s ago)\)$/);
    assert.match(at('  4.17.1 '), / verified \(service, (now|\d+s ago)\)$/);
    assert.match(at('  4.17.0 '), / verified \(service, (now|\d+s ago)\)$/);
    assert.match(at('  4.16.1 '), / refused \(NotSigned\) \(service, (now|\d+s ago)\)$/);
    assert.equal(lines[lines.indexOf(at('  4.16.1 ')) + 1], `      ${notSigned(4)}`);
    const fresh = await cli(['recommend', '--check', '-o', 'json'], env);
    assert.equal(fresh.code, 0, fresh.stderr);
    const report = JSON.parse(fresh.stdout) as {
      updates: { version: string; verify: UpdateVerdict & { source: string } }[];
    };
    assert.deepEqual(
      report.updates.map((u) => [u.version, u.verify.result, u.verify.source]),
      [
        ['4.18.0', 'verified', 'check'],
        ['4.17.1', 'verified', 'check'],
        ['4.17.0', 'verified', 'check'],
        ['4.16.1', 'refused', 'check'],
      ],
    );
  });

  it('prints its help, listed in the top-level help', async () => {
    const r = await cli(['recommend', '--help'], {});
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: cvo-verifier recommend /);
    assert.match(r.stdout, /Exit codes: 0 /);
    const top = await cli(['--help'], {});
    assert.match(top.stdout, /\n {2}recommend {9}the available and conditional updates/);
  });
});
