import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

import { repoRoot } from '../helpers/fixtures.js';

const run = promisify(execFile);
const src = join(repoRoot, 'src');
const dist = join(repoRoot, 'dist');

/** Folders of walkthrough and test material, which the runtime build and the image leave out. */
const NOT_RUNTIME = ['walkthrough', 'testbed', 'test', 'bench', 'demo', 'local-cluster'];

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String);
}

describe('the runtime build (src/ → dist/) holds no walkthrough or test material', () => {
  it('no file under src/ imports anything outside src/ by a relative path', async () => {
    const outside: string[] = [];
    for (const file of (await filesUnder(src)).filter((f) => f.endsWith('.ts'))) {
      const text = await readFile(join(src, file), 'utf8');
      // Static imports and re-exports (`from '…'`), side-effect and dynamic imports.
      for (const m of text.matchAll(/(?:\bfrom|\bimport\s*\(?)\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
        const target = resolve(dirname(join(src, file)), m[1]!);
        if (relative(src, target).startsWith('..'))
          outside.push(`src/${file}: ${m[1]!} (${relative(repoRoot, target)})`);
      }
    }
    assert.deepEqual(outside, []);
  });

  it('tsconfig.build.json compiles only files under src/', async () => {
    const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
    const { stdout } = await run(
      process.execPath,
      [tsc, '-p', join(repoRoot, 'tsconfig.build.json'), '--listFilesOnly'],
      { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024 },
    );
    const files = stdout
      .split('\n')
      .filter((f) => f !== '' && !f.includes(`${sep}node_modules${sep}`))
      .map((f) => relative(repoRoot, f));
    assert.ok(files.includes(join('src', 'cli', 'main.ts')), stdout.slice(0, 2000));
    assert.deepEqual(
      files.filter((f) => !f.startsWith(`src${sep}`)),
      [],
    );
  });

  it('dist/ (after npm run build) has a source under src/ for every file, and no demo or local-cluster', async () => {
    assert.ok(
      existsSync(join(dist, 'cli', 'main.js')),
      'dist/ is missing: the test command runs `npm run build` before the tests',
    );
    const files = await filesUnder(dist);
    assert.deepEqual(
      files.filter((f) => f.split(sep).some((part) => NOT_RUNTIME.includes(part))),
      [],
    );
    const orphans = files
      .filter((f) => /\.js(\.map)?$/.test(f))
      .filter((f) => !existsSync(join(src, f.replace(/\.js(\.map)?$/, '.ts'))));
    assert.deepEqual(orphans, [], 'compiled files with no source under src/ (a stale dist/?)');
  });
});
