import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { repoRoot } from '../helpers/fixtures.js';

// `verify` refuses a pullspec it can never verify before loading any verifier (start-up is most
// of that command's time). These tests hold the refusal to what the verifier itself says, and
// check, in a real process, that the refusal is printed without the verification stack loaded.

const BY_TAG = 'quay.io/openshift-release-dev/ocp-release:4.17.0-x86_64';

/** Runs `cvo-verifier ARGS` from source in a new process, listing the project modules it loaded. */
function runFromSource(
  args: readonly string[],
): Promise<{ code: number; stdout: string; stderr: string; loaded: string[] }> {
  // A module hook that writes every loaded file: URL to stderr on exit, one per line.
  const hook = `data:text/javascript,${encodeURIComponent(
    'import { registerHooks } from "node:module";' +
      'const seen = [];' +
      'registerHooks({ load(url, context, next) { seen.push(url); return next(url, context); } });' +
      'process.on("exit", () => { process.stderr.write(seen.map((u) => "loaded " + u + "\\n").join("")); });',
  )}`;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', '--import', hook, join(repoRoot, 'src', 'cli', 'main.ts'), ...args],
      {
        encoding: 'utf8',
        cwd: repoRoot,
        env: { ...process.env, CVO_VERIFIER_MAIN: '1', NODE_DISABLE_COMPILE_CACHE: '1' },
      },
      (err, stdout, stderr) => {
        const lines = stderr.split('\n');
        resolve({
          code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1,
          stdout,
          stderr: lines.filter((l) => !l.startsWith('loaded ')).join('\n'),
          loaded: lines.filter((l) => l.startsWith('loaded ')).map((l) => l.slice(7)),
        });
      },
    );
  });
}

describe('verify: refusing a pullspec that can never be verified', () => {
  describe('when run as a process', () => {
    it('prints the refusal and exits 1 without loading OpenPGP, stores, registry or Sigstore code', async () => {
      const r = await runFromSource(['verify', BY_TAG]);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(
        r.stdout,
        `Release: ${BY_TAG}\n` +
          'Result:  NOT VERIFIED\n' +
          'Reason:  release images that are not accessed via digest cannot be verified\n',
      );
      assert.equal(r.stderr, '');
      const project = r.loaded.filter((u) => u.startsWith(`file://${repoRoot}/`));
      assert.ok(
        project.some((u) => u.endsWith('/src/cli/verify.ts')),
        'the hook saw the command load',
      );
      const heavy = project.filter((u) =>
        /\/(node_modules\/(openpgp|@sigstore|undici|js-yaml)|src\/(gpg|stores|registry|sigstore|policy|payload)\/|src\/verify\/(?!verdict))/.test(
          u,
        ),
      );
      assert.deepEqual(heavy, []);
    });

    it('prints the refusal as JSON with the same exit code', async () => {
      const r = await runFromSource(['verify', BY_TAG, '--output', 'json']);
      assert.equal(r.code, 1, r.stderr);
      const json = JSON.parse(r.stdout) as Record<string, unknown>;
      assert.equal(json.verified, false);
      assert.equal(json.code, 'NOT_BY_DIGEST');
      assert.equal(json.digest, null);
    });
  });
});
