import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { runCli } from '../../src/cli/main.js';
import { repoRoot } from '../helpers/fixtures.js';

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env: {},
    cwd: repoRoot,
  });
  return { code, stdout, stderr };
}

describe('a usage error points to the help of the command it was made in', () => {
  for (const [args, pointer] of [
    [['verify', '--no-such-flag'], "Run 'cvo-verifier help verify' for usage."],
    [['verify-payload', '--no-such-flag'], "Run 'cvo-verifier help verify-payload' for usage."],
    [['history', '--no-such-flag'], "Run 'cvo-verifier help history' for usage."],
    [['policy', 'render', '--no-such-flag'], "Run 'cvo-verifier help policy' for usage."],
    [['no-such-command'], "Run 'cvo-verifier --help' for usage."],
  ] as const) {
    it(`cvo-verifier ${args.join(' ')}`, async () => {
      const run = await cli([...args]);
      assert.equal(run.code, 2);
      assert.ok(run.stderr.endsWith(`${pointer}\n`), run.stderr);
    });
  }

  it('and that pointer prints the help it names', async () => {
    const run = await cli(['help', 'verify']);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^Usage: cvo-verifier verify PULLSPEC/);
  });
});
