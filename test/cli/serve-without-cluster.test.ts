import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { ExitCode } from '../../src/cli/usage-error.js';
import { runMainJob } from '../../walkthrough/main.js';
import { repoRoot } from '../helpers/fixtures.js';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

describe('without a cluster configured', () => {
  let home = '';
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'cvo-no-cluster-home-'));
  });
  after(async () => {
    await rm(home, { recursive: true, force: true });
  });

  /** bin/cvo-verifier with an empty HOME and no KUBECONFIG or in-cluster environment. */
  async function binary(args: string[]): Promise<Run> {
    assert.ok(
      existsSync(join(repoRoot, 'dist', 'cli', 'main.js')),
      'dist/ is missing: the test command runs `npm run build` before the tests',
    );
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
    delete env.KUBECONFIG;
    delete env.KUBERNETES_SERVICE_HOST;
    delete env.KUBERNETES_SERVICE_PORT;
    return new Promise((resolve) => {
      execFile(
        join(repoRoot, 'bin', 'cvo-verifier'),
        args,
        { encoding: 'utf8', env, timeout: 30_000 },
        (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
          resolve({ code, stdout, stderr });
        },
      );
    });
  }

  it('cvo-verifier serve exits 2 saying no cluster is configured and where the walkthrough is', async () => {
    const r = await binary(['serve']);
    assert.equal(r.code, ExitCode.Usage, r.stdout + r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^error: no cluster configured \(--kubeconfig, KUBECONFIG, /);
    assert.match(
      r.stderr,
      /local walkthrough .* runs from a source checkout: \.\/scripts\/run\.sh/,
    );
  });

  it('cvo-verifier demo points to ./scripts/run.sh demo', async () => {
    const r = await binary(['demo']);
    assert.equal(r.code, ExitCode.Usage, r.stdout + r.stderr);
    assert.match(r.stderr, /\.\/scripts\/run\.sh demo/);
  });
});

describe("./scripts/run.sh's main job (walkthrough/main.ts)", () => {
  async function mainJob(args: string[], env: Record<string, string> = {}): Promise<Run> {
    let stdout = '';
    let stderr = '';
    const code = await runMainJob(args, {
      stdout: (t) => (stdout += t),
      stderr: (t) => (stderr += t),
      env: { HOME: '/nonexistent-home', ...env },
      cwd: repoRoot,
      shutdown: Promise.resolve(),
    });
    return { code, stdout, stderr };
  }

  it('hands a configured cluster to serve, without the walkthrough-only --keep-running', async () => {
    // serve itself refuses the bad --leader-elect value: the walkthrough did not start.
    for (const cluster of [['--kubeconfig', '/nonexistent/kubeconfig'], []]) {
      const r = await mainJob(
        ['serve', ...cluster, '--keep-running', '--leader-elect', 'maybe'],
        cluster.length === 0 ? { KUBECONFIG: '/nonexistent/kubeconfig' } : {},
      );
      assert.equal(r.code, ExitCode.Usage, r.stdout + r.stderr);
      assert.match(r.stderr, /--leader-elect must be true or false/);
      assert.equal(r.stdout, '');
    }
  });

  it("refuses an unknown flag as serve does, and prints the walkthrough's and serve's help", async () => {
    const bad = await mainJob(['--nope']);
    assert.equal(bad.code, ExitCode.Usage);
    assert.match(bad.stderr, /Unknown option '--nope'/);
    const help = await mainJob(['serve', '--help']);
    assert.equal(help.code, ExitCode.Verified);
    assert.match(help.stdout, /--keep-running/);
    assert.match(help.stdout, /Usage: cvo-verifier serve/);
    const demo = await mainJob(['demo', 'extra']);
    assert.equal(demo.code, ExitCode.Usage);
  });
});
