import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { repoRoot } from '../helpers/fixtures.js';
import { startTestCluster } from '../helpers/local-cluster.js';
import type { TestCluster } from '../helpers/local-cluster.js';
import {
  condition,
  digestOf,
  installRootOfTrust,
  REPO,
  ReleaseSigner,
  requestUpdate,
  seed,
  waitFor,
} from './harness.js';

describe('the cvo-verifier serve process', () => {
  let tc: TestCluster | undefined;
  let skip: string | undefined;
  let signer: ReleaseSigner | undefined;

  before(async () => {
    const started = await startTestCluster();
    if ('skip' in started) {
      skip = started.skip;
      return;
    }
    tc = started;
    signer = await ReleaseSigner.create();
    await installRootOfTrust(tc.admin, signer);
    await seed(tc);
  });

  after(async () => {
    await signer?.close();
    await tc?.stop();
  });

  it('leads, accepts a signed release, and on SIGTERM exits 0 and releases its Lease', async (t) => {
    if (tc === undefined || signer === undefined) {
      t.skip(skip ?? 'no cluster');
      return;
    }
    const c = tc;
    const bin = join(repoRoot, 'bin', 'cvo-verifier');
    assert.ok(
      existsSync(join(repoRoot, 'dist', 'cli', 'main.js')),
      'dist/ is missing: the test command builds before testing',
    );
    const child = spawn(
      bin,
      [
        'serve',
        '--kubeconfig',
        c.cluster.kubeconfig,
        '--identity',
        'serve-e2e',
        '--recheck-base',
        '1s',
        // A made-up digest: no payload to read (the default, enforce, would refuse it).
        '--release-metadata',
        'warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => resolve(code)),
    );
    try {
      const deadline = Date.now() + 20_000;
      while (
        (await c.admin.getLease('cvo-update-verifier', 'cvo-update-verifier-leader'))?.spec
          ?.holderIdentity !== 'serve-e2e'
      ) {
        assert.ok(Date.now() < deadline, `serve did not take the lease:\n${out}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const digest = digestOf(77);
      await signer.publish(digest);
      await requestUpdate(c, { image: `${REPO}@${digest}`, version: '', force: false });
      const cv = await waitFor(
        c.admin,
        (x) => x.status?.desired.image === `${REPO}@${digest}`,
        'accepted by the serve process',
      );
      assert.equal(condition(cv, 'ReleaseAccepted')?.status, 'True');
      assert.match(out, /"msg":"became leader"/);
      // The launcher starts serve with the memory settings bench/serve-memory.bench.ts measured.
      const pid = child.pid ?? 0;
      const cmdline = (await readFile(`/proc/${String(pid)}/cmdline`, 'utf8')).split('\0');
      assert.ok(cmdline.includes('--max-semi-space-size=2'), cmdline.join(' '));
      const environ = (await readFile(`/proc/${String(pid)}/environ`, 'utf8')).split('\0');
      assert.ok(environ.includes('MALLOC_ARENA_MAX=2'), 'MALLOC_ARENA_MAX=2 not set');
    } finally {
      child.kill('SIGTERM');
    }
    const code = await Promise.race([
      exited,
      new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 15_000)),
    ]);
    assert.equal(code, 0, `serve did not exit cleanly on SIGTERM:\n${out}`);
    assert.match(out, /"msg":"shutting down"/);
    const lease = await c.admin.getLease('cvo-update-verifier', 'cvo-update-verifier-leader');
    assert.equal(lease?.spec?.holderIdentity ?? '', '', 'the lease was not released');
  });
});
