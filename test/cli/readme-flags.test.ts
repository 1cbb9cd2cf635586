import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { runCli } from '../../src/cli/main.js';
import { repoRoot } from '../helpers/fixtures.js';

// The README documents every option a command's --help lists (a new flag must be documented).

const COMMANDS = [
  'verify',
  'verify-payload',
  'serve',
  'upgrade',
  'recommend',
  'history',
  'status',
  'policy',
];
const README = readFileSync(join(repoRoot, 'README.md'), 'utf8');

async function help(command: string): Promise<string> {
  let stdout = '';
  const code = await runCli(['help', command], {
    stdout: (t) => (stdout += t),
    stderr: () => undefined,
    env: {},
    cwd: repoRoot,
  });
  assert.equal(code, 0, `cvo-verifier help ${command}`);
  return stdout;
}

describe('README: every option of every command', () => {
  for (const command of COMMANDS) {
    it(`documents ${command}'s options`, async () => {
      const flags = new Set(
        [...(await help(command)).matchAll(/(?:^|[\s,[])(--[a-z][a-z0-9-]*)/gm)].map((m) => m[1]),
      );
      flags.delete('--help');
      assert.ok(flags.size > 0, `no options found in ${command}'s help`);
      const missing = [...flags].filter((flag) => !new RegExp(`${flag}(?![a-z0-9-])`).test(README));
      assert.deepEqual(missing, [], `README.md does not mention ${missing.join(', ')}`);
    });
  }
});
