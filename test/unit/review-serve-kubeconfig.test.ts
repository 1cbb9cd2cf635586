import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { runCli } from '../../src/cli/main.js';
import { ExitCode } from '../../src/cli/usage-error.js';

// A kubeconfig serve cannot use (missing, or one the new client refuses by name: auth-provider,
// SOCKS proxy, exec interactiveMode Always, insecure with a CA) is the user's configuration
// problem: said as the other commands say it (exit 2), not an internal error with a stack trace.

async function serve(args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const code = await runCli(['serve', ...args], {
    stdout: () => undefined,
    stderr: (t) => (stderr += t),
    env: { HOME: '/nonexistent-home' },
    cwd: process.cwd(),
    shutdown: Promise.resolve(),
  });
  return { code, stderr };
}

describe('review: serve with a kubeconfig it cannot use', () => {
  it('a missing kubeconfig is a usage error naming it', async () => {
    const r = await serve(['--kubeconfig', '/nonexistent/kubeconfig', '--leader-elect', 'false']);
    assert.equal(r.code, ExitCode.Usage);
    assert.match(r.stderr, /kubeconfig \/nonexistent\/kubeconfig does not exist/);
  });

  it('an auth-provider user is refused by name, as a usage error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'review-kubeconfig-'));
    try {
      const file = join(dir, 'config');
      writeFileSync(
        file,
        [
          'apiVersion: v1',
          'kind: Config',
          'current-context: c',
          'clusters: [{name: k, cluster: {server: "https://127.0.0.1:1"}}]',
          'users: [{name: u, user: {auth-provider: {name: oidc, config: {id-token: SECRET-TOKEN}}}}]',
          'contexts: [{name: c, context: {cluster: k, user: u}}]',
          '',
        ].join('\n'),
      );
      const r = await serve(['--kubeconfig', file, '--leader-elect', 'false']);
      assert.equal(r.code, ExitCode.Usage);
      assert.match(r.stderr, /auth-provider/);
      assert.doesNotMatch(r.stderr, /SECRET-TOKEN|internal error|\n\s+at /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
