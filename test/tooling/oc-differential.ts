/**
 * `npm run interop:oc`: the optional differential run of `cvo-verifier upgrade` against
 * `oc adm upgrade`'s own code. oc is not in this repository and the Go module proxy does not serve
 * it, so the run needs an openshift/oc checkout named by OC_SOURCE_DIR; without one it fails
 * saying so. It builds oc-upgrade-harness from that checkout (test/tooling/extract-oc-upgrade.ts,
 * cached in `.cache/oc-upgrade/`), then runs test/interop/differential-oc-upgrade.optional.ts and
 * test/interop/oc-recommend-source.optional.ts (recommend's texts and example outputs against the
 * checkout), which `./scripts/test.sh` does not (their names do not end in `.test.ts`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';

import { repoRoot } from '../helpers/fixtures.js';
import { buildOcUpgradeHarness, ocUpgradeSource } from './extract-oc-upgrade.js';

const TEST_FILES = [
  join(repoRoot, 'test', 'interop', 'differential-oc-upgrade.optional.ts'),
  join(repoRoot, 'test', 'interop', 'oc-recommend-source.optional.ts'),
];

const progress = (line: string): void => {
  process.stdout.write(`[interop:oc] ${line}\n`);
};

let oc;
try {
  oc = await ocUpgradeSource(process.env);
} catch (err) {
  process.stderr.write(`interop:oc: ${(err as Error).message}\n`);
  process.exit(2);
}
// The commit, when OC_SOURCE_DIR is the top of a git work tree (not a folder inside another).
const git = (...args: string[]): string | undefined => {
  const r = spawnSync('git', ['-C', oc.dir, ...args], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
};
const top = git('rev-parse', '--show-toplevel');
const commit =
  top !== undefined && top === realpathSync(oc.dir) ? git('rev-parse', 'HEAD') : undefined;
progress(
  `oc source: ${oc.file} (${commit !== undefined ? `commit ${commit}` : 'not a git checkout'})`,
);
const harness = await buildOcUpgradeHarness(oc.source, progress);

const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-timeout=300000', '--test-reporter=spec', ...TEST_FILES],
  {
    cwd: repoRoot,
    stdio: 'inherit',
    env: { ...process.env, OC_UPGRADE_HARNESS: harness },
  },
);
child.on('close', (code, signal) => {
  process.exit(code ?? (signal !== null ? 1 : 0));
});
