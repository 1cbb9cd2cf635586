/**
 * CLI start-up: how long `cvo-verifier verify` takes to refuse a by-tag pullspec (no I/O: the
 * answer needs nothing but the pullspec), beside a bare `node -e 0` and the Go peers' start-up,
 * in one run, with the ratios.
 *
 * Ours is the production build (`tsc -p tsconfig.build.json`, compiled by this bench into a
 * temporary directory so a stale or missing dist/ cannot skew it) run as a user runs it, through
 * the launcher bin/cvo-verifier (a POSIX shell that checks the Node version, then starts Node);
 * also Node on dist/cli/main.js without the launcher, and both with Node's module compile cache
 * off (the first start on a machine, or NODE_DISABLE_COMPILE_CACHE=1).
 *
 * The Go peers are the differential-test harnesses of interop/ (`-version`: the process starts,
 * runs every package's init of containers/image or library-go, prints and exits), as built by
 * test/tooling/build-go-tools.ts into .cache/go-tools; one that is not built is skipped, saying
 * how to build it.
 *
 * BENCH_CLI_BASELINE=DIR adds a row for another checkout of this project (say `git worktree add
 * DIR <commit>`), built and run the same way, to compare before and after a change in one run.
 *
 * Every command runs ROUNDS times, the commands taking turns within a round, so a busy moment of
 * the machine falls on all of them alike; wall time of the whole process (spawn to exit) as this
 * process sees it. Figures only: the bench checks each answer (our exit code 1 and refusal text,
 * the peers' exit code 0) but nothing about timing.
 */
import { execFile, spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { repoRoot } from '../test/helpers/fixtures.js';
import { goToolPath } from '../test/tooling/go-tools.js';
import type { GoToolName } from '../test/tooling/go-tools.js';
import { summarize } from './stats.js';
import type { Summary } from './stats.js';

const ROUNDS = 40;
const BY_TAG = 'quay.io/openshift-release-dev/ocp-release:4.17.0-x86_64';
const REFUSAL = 'Reason:  release images that are not accessed via digest cannot be verified\n';

interface Command {
  readonly label: string;
  readonly file: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly check: (status: number | null, stdout: string) => string | undefined;
}

/** The production build of this checkout in a temporary root laid out as the package is. */
async function buildInto(root: string, checkout = repoRoot): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    execFile(
      process.execPath,
      [
        join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'),
        '-p',
        join(checkout, 'tsconfig.build.json'),
        '--outDir',
        join(root, 'dist'),
      ],
      (err, stdout, stderr) => {
        if (err) reject(new Error(`tsc failed: ${stdout}${stderr}`));
        else resolve();
      },
    );
  });
  await mkdir(join(root, 'bin'));
  await copyFile(join(checkout, 'bin', 'cvo-verifier'), join(root, 'bin', 'cvo-verifier'));
  await copyFile(join(checkout, 'package.json'), join(root, 'package.json'));
  await symlink(join(repoRoot, 'node_modules'), join(root, 'node_modules'));
}

const ours = (status: number | null, stdout: string): string | undefined =>
  status === 1 && stdout.endsWith(REFUSAL)
    ? undefined
    : `expected exit 1 and the by-tag refusal, got ${String(status)}: ${stdout}`;

async function goPeer(name: GoToolName, label: string): Promise<Command | string> {
  try {
    return {
      label,
      file: await goToolPath(name),
      args: ['-version'],
      env: process.env,
      check: (status) => (status === 0 ? undefined : `exit ${String(status)}`),
    };
  } catch (err) {
    return `${label}: skipped (${err instanceof Error ? err.message : String(err)})`;
  }
}

export async function run(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'cvo-cli-start-'));
  try {
    const built = performance.now();
    await buildInto(root);
    console.log(
      `setup: production build into a temporary root in ${((performance.now() - built) / 1000).toFixed(1)} s`,
    );
    const cache = join(root, 'compile-cache');
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => name !== 'NODE_DISABLE_COMPILE_CACHE'),
    );
    const warm = { ...inherited, NODE_COMPILE_CACHE: cache, CVO_VERIFIER_NODE: process.execPath };
    const cold = { ...warm, NODE_DISABLE_COMPILE_CACHE: '1' };
    const launcher = join(root, 'bin', 'cvo-verifier');
    const main = join(root, 'dist', 'cli', 'main.js');
    const commands: Command[] = [
      {
        label: 'node -e 0 (bare Node)',
        file: process.execPath,
        args: ['-e', '0'],
        env: process.env,
        check: (status) => (status === 0 ? undefined : `exit ${String(status)}`),
      },
      {
        label: 'cvo-verifier verify BY-TAG (launcher)',
        file: launcher,
        args: ['verify', BY_TAG],
        env: warm,
        check: ours,
      },
      {
        label: 'node dist/cli/main.js verify BY-TAG',
        file: process.execPath,
        args: [main, 'verify', BY_TAG],
        env: { ...warm, CVO_VERIFIER_MAIN: '1' },
        check: ours,
      },
      {
        label: '  the same, compile cache off',
        file: process.execPath,
        args: [main, 'verify', BY_TAG],
        env: { ...cold, CVO_VERIFIER_MAIN: '1' },
        check: ours,
      },
      {
        label: 'cvo-verifier verify --help (launcher)',
        file: launcher,
        args: ['verify', '--help'],
        env: warm,
        check: (status, stdout) =>
          status === 0 && stdout.startsWith('Usage: cvo-verifier verify')
            ? undefined
            : `exit ${String(status)}`,
      },
    ];
    const baseline = process.env.BENCH_CLI_BASELINE;
    if (baseline !== undefined && baseline !== '') {
      const baseRoot = join(root, 'baseline');
      await mkdir(baseRoot);
      await buildInto(baseRoot, baseline);
      commands.splice(2, 0, {
        label: 'baseline: cvo-verifier verify BY-TAG',
        file: join(baseRoot, 'bin', 'cvo-verifier'),
        args: ['verify', BY_TAG],
        env: warm,
        check: ours,
      });
    }
    const skipped: string[] = [];
    for (const peer of [
      await goPeer('cimageHarness', 'Go: containers/image harness -version'),
      await goPeer('libraryGoHarness', 'Go: library-go harness -version'),
    ]) {
      if (typeof peer === 'string') skipped.push(peer);
      else commands.push(peer);
    }

    // One untimed run each: fills the compile cache and the page cache.
    const times = commands.map(() => [] as number[]);
    for (let round = -1; round < ROUNDS; round++) {
      commands.forEach((c, i) => {
        const started = performance.now();
        const r = spawnSync(c.file, c.args, { env: c.env, encoding: 'utf8' });
        const ms = performance.now() - started;
        const problem = r.error?.message ?? c.check(r.status, r.stdout);
        if (problem !== undefined) throw new Error(`${c.label}: ${problem}\n${r.stderr}`);
        if (round >= 0) times[i]?.push(ms);
      });
    }

    const summaries = times.map((t) => summarize(t));
    const bare = summaries[0]?.median ?? NaN;
    const goMedians = commands
      .map((c, i) => (c.label.startsWith('Go:') ? summaries[i]?.median : undefined))
      .filter((m): m is number => m !== undefined);
    const goFastest = goMedians.length > 0 ? Math.min(...goMedians) : NaN;
    printTable(
      commands.map((c, i) => ({ label: c.label, s: summaries[i] as Summary })),
      bare,
      goFastest,
    );
    for (const line of skipped) console.log(`  ${line}`);
    console.log(
      `  ${String(ROUNDS)} rounds, commands taking turns; wall time spawn → exit; "× node" is the median over bare Node's, "× Go" over the faster Go peer's.`,
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

function printTable(
  rows: readonly { label: string; s: Summary }[],
  bare: number,
  go: number,
): void {
  const header = ['median ms', 'p90 ms', 'min ms', '× node', '× Go'];
  const data = rows.map(({ s }) => [
    s.median.toFixed(1),
    s.p90.toFixed(1),
    s.min.toFixed(1),
    (s.median / bare).toFixed(2),
    Number.isNaN(go) ? '—' : (s.median / go).toFixed(2),
  ]);
  const labelWidth = Math.max(...rows.map((r) => r.label.length));
  const widths = header.map((h, i) => Math.max(h.length, ...data.map((d) => (d[i] ?? '').length)));
  const line = (label: string, cells: readonly string[]): string =>
    `  ${label.padEnd(labelWidth)}  ${cells.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ')}`;
  console.log(
    '\nCLI start-up: `verify` refusing a by-tag pullspec (no I/O), beside bare Node and the Go peers',
  );
  console.log(line('', header));
  console.log(
    line(
      '-'.repeat(labelWidth),
      widths.map((w) => '-'.repeat(w)),
    ),
  );
  rows.forEach((r, i) => {
    console.log(line(r.label, data[i] ?? []));
  });
}
