import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join, posix } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { repoRoot } from '../helpers/fixtures.js';
import { startTestCluster } from '../helpers/local-cluster.js';
import type { TestCluster } from '../helpers/local-cluster.js';
import { runProgram } from '../helpers/run.js';

/**
 * There is no Docker engine here, so this test checks what it can of the image: the Dockerfile's
 * shape (multi-stage, Node 24, production dependencies, non-root), and the file set its runtime
 * stage produces, made by replaying that stage's instructions into a temporary directory, which
 * then has to run the service.
 */

interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly line: number;
}

interface Stage {
  readonly image: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

/** Splits a Dockerfile into stages of instructions (continuations joined, comments dropped). */
function parseDockerfile(text: string): Stage[] {
  const logical: { text: string; line: number }[] = [];
  let current = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    if (line.trimStart().startsWith('#') || (current === '' && line.trim() === '')) return;
    if (current === '') start = i + 1;
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      return;
    }
    logical.push({ text: (current + line).trim(), line: start });
    current = '';
  });
  const stages: Stage[] = [];
  for (const { text: l, line } of logical) {
    const match = /^(\S+)\s*(.*)$/.exec(l);
    assert.ok(match, `Dockerfile line ${String(line)}`);
    const keyword = match[1]!.toUpperCase();
    const args = match[2]!;
    if (keyword === 'FROM') {
      const words = args.split(/\s+/).filter((w) => !w.startsWith('--'));
      const as = words.findIndex((w) => w.toUpperCase() === 'AS');
      stages.push({
        image: words[0]!,
        name: as >= 0 ? words[as + 1] : undefined,
        instructions: [],
      });
      continue;
    }
    const stage = stages.at(-1);
    assert.ok(stage, `Dockerfile line ${String(line)}: ${keyword} before FROM`);
    stage.instructions.push({ keyword, args, line });
  }
  return stages;
}

const all = (stage: Stage, keyword: string): Instruction[] =>
  stage.instructions.filter((i) => i.keyword === keyword);

/** `ENV A=1 B=2` (the form the Dockerfile uses). */
function parseEnv(args: string): Record<string, string> {
  return Object.fromEntries(
    args.split(/\s+/).map((pair) => {
      const eq = pair.indexOf('=');
      assert.ok(eq > 0, `ENV ${args}: only the KEY=VALUE form is replayed`);
      return [pair.slice(0, eq), pair.slice(eq + 1).replace(/^"(.*)"$/, '$1')];
    }),
  );
}

interface Copy {
  readonly from: string | undefined;
  readonly sources: string[];
  readonly dest: string;
}

function parseCopy(args: string): Copy {
  const words = args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith('--'));
  const paths = words.filter((w) => !w.startsWith('--'));
  const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
  assert.ok(paths.length >= 2, `COPY ${args}`);
  return { from, sources: paths.slice(0, -1), dest: paths.at(-1)! };
}

function workdirOf(stage: Stage): string {
  const dirs = all(stage, 'WORKDIR');
  assert.equal(dirs.length, 1, 'one WORKDIR per stage (what this replay supports)');
  return dirs[0]!.args;
}

/**
 * Replays the last stage into `dir` (its WORKDIR): COPY from the build context (the repository)
 * or from the build stage (whose WORKDIR maps to the repository, where `npm run build` already
 * made dist/), and RUN's `npm ci` steps, made offline-friendly with --prefer-offline. Other RUN
 * steps are refused so that a change to the Dockerfile is noticed here. Returns its ENV.
 */
async function replayRuntimeStage(stages: readonly Stage[], dir: string) {
  const runtime = stages.at(-1)!;
  const workdir = workdirOf(runtime);
  const env: Record<string, string> = {};
  const log: string[] = [];
  const into = (dest: string): string => {
    const absolute = posix.resolve(workdir, dest);
    const relative = posix.relative(workdir, absolute);
    assert.ok(!relative.startsWith('..'), `COPY to ${dest}: outside WORKDIR ${workdir}`);
    return join(dir, relative);
  };
  for (const step of runtime.instructions) {
    if (step.keyword === 'ENV') Object.assign(env, parseEnv(step.args));
    else if (step.keyword === 'COPY') {
      const copy = parseCopy(step.args);
      let sourceRoot = '/';
      if (copy.from !== undefined) {
        const stage = stages.find((s) => s.name === copy.from);
        assert.ok(stage, `COPY --from=${copy.from}: no such stage`);
        sourceRoot = workdirOf(stage);
      }
      for (const source of copy.sources) {
        // The build context is the repository; the build stage's WORKDIR stands for it too.
        const relative = posix.relative(sourceRoot, posix.resolve(sourceRoot, source));
        assert.ok(!relative.startsWith('..'), `COPY ${source}: outside its stage's WORKDIR`);
        const from = join(repoRoot, relative);
        assert.ok(existsSync(from), `COPY ${source}: ${from} is missing (npm run build first?)`);
        const target =
          copy.sources.length > 1 || copy.dest.endsWith('/')
            ? join(into(copy.dest), basename(relative))
            : into(copy.dest);
        await cp(from, target, { recursive: true, verbatimSymlinks: true });
        log.push(`COPY ${source} -> ${target}`);
      }
    } else if (step.keyword === 'RUN') {
      for (const command of step.args.split('&&').map((c) => c.trim())) {
        const words = command.split(/\s+/);
        if (words[0] === 'npm' && words[1] === 'ci') {
          const result = await runProgram('npm', [...words.slice(1), '--prefer-offline'], {
            cwd: dir,
            env: { ...process.env, ...env },
            timeoutMs: 300_000,
          });
          assert.equal(result.code, 0, `${command} failed:\n${result.stdout}\n${result.stderr}`);
          log.push(`RUN ${command} --prefer-offline`);
        } else if (command === 'rm -rf /root/.npm') {
          // npm's cache and logs; replaying it would empty this machine's npm cache.
          log.push(`skipped RUN ${command}`);
        } else if (words[0] === 'groupadd' || words[0] === 'useradd') {
          // The image's user database; test/e2e/deploy.test.ts checks its effect on a real node.
          log.push(`skipped RUN ${command}`);
        } else if (words[0] === 'npm' && words[1] === 'cache' && words[2] === 'clean') {
          // Image-size hygiene; replaying it would empty this machine's npm cache.
          log.push(`skipped RUN ${command}`);
        } else {
          assert.fail(`Dockerfile line ${String(step.line)}: no replay for RUN ${command}`);
        }
      }
    }
  }
  return { env, workdir, log };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('the runtime image (Dockerfile), without a Docker engine', () => {
  let stages: Stage[] = [];
  let runtimeDir = '';
  let runtimeEnv: Record<string, string> = {};
  let workdir = '';
  let tc: TestCluster | undefined;
  let skip: string | undefined;

  before(async () => {
    stages = parseDockerfile(await readFile(join(repoRoot, 'Dockerfile'), 'utf8'));
    assert.ok(
      existsSync(join(repoRoot, 'dist', 'cli', 'main.js')),
      'dist/ is missing: the test command builds before testing',
    );
    runtimeDir = await mkdtemp(join(tmpdir(), 'cvo-runtime-image-'));
    ({ env: runtimeEnv, workdir } = await replayRuntimeStage(stages, runtimeDir));
    const started = await startTestCluster();
    if ('skip' in started) skip = started.skip;
    else tc = started;
  });

  after(async () => {
    await tc?.stop();
    if (runtimeDir !== '') await rm(runtimeDir, { recursive: true, force: true });
  });

  it('is multi-stage on Node 24, installs production dependencies only, runs as non-root', () => {
    assert.ok(stages.length >= 2, 'a build stage and a runtime stage');
    for (const stage of stages)
      assert.match(stage.image, /^node:24([.-]|$)/, `FROM ${stage.image}: Node 24`);
    const runtime = stages.at(-1)!;
    const build = stages.slice(0, -1);
    assert.ok(
      build.some((s) => all(s, 'RUN').some((r) => r.args.includes('npm run build'))),
      'dist/ is compiled in a build stage',
    );
    const installs = all(runtime, 'RUN').filter((r) => /\bnpm ci\b/.test(r.args));
    assert.equal(installs.length, 1, 'one npm ci in the runtime stage');
    assert.match(installs[0]!.args, /--omit=dev/);
    assert.doesNotMatch(runtime.instructions.map((i) => i.args).join('\n'), /npm (install|i) /);

    const user = all(runtime, 'USER').at(-1)?.args ?? '';
    const uid = user.split(':')[0] ?? '';
    assert.match(uid, /^\d+$/, `USER ${user}: numeric, so Kubernetes can check runAsNonRoot`);
    assert.notEqual(Number(uid), 0, 'not root');

    // Only runtime files reach the image.
    const copied = all(runtime, 'COPY').flatMap((c) => {
      const copy = parseCopy(c.args);
      return copy.sources.map((s) => posix.basename(s));
    });
    assert.deepEqual(copied.sort(), ['bin', 'dist', 'package-lock.json', 'package.json']);

    const entrypoint = JSON.parse(all(runtime, 'ENTRYPOINT').at(-1)?.args ?? '[]') as string[];
    assert.deepEqual(entrypoint, [posix.join(workdir, 'bin', 'cvo-verifier')]);
    assert.equal(runtimeEnv.NODE_ENV, 'production');
    assert.ok(runtimeEnv.CVO_VERIFIER_NODE, 'the launcher is told which node to run');
    const exposed = all(runtime, 'EXPOSE').flatMap((e) => e.args.split(/\s+/));
    assert.deepEqual(exposed.sort(), ['8081', '8443']);
  });

  it('holds only dist/, bin/, package files and production dependencies', async () => {
    assert.deepEqual((await readdir(runtimeDir)).sort(), [
      'bin',
      'dist',
      'node_modules',
      'package-lock.json',
      'package.json',
    ]);
    // The lockfile marks what only devDependencies need (`dev: true`): none of it may be
    // installed, and everything else (but optional platform packages) must be. Type packages that
    // a production dependency requires would not be dev either.
    const lock = JSON.parse(await readFile(join(runtimeDir, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean; optional?: boolean }>;
    };
    const entries = Object.entries(lock.packages).filter(([path]) => path !== '');
    const installed = (path: string): boolean => existsSync(join(runtimeDir, path));
    assert.deepEqual(
      entries.filter(([path, p]) => p.dev === true && installed(path)).map(([path]) => path),
      [],
      'devDependencies in the runtime file set',
    );
    assert.deepEqual(
      entries
        .filter(([path, p]) => p.dev !== true && p.optional !== true && !installed(path))
        .map(([path]) => path),
      [],
      'production dependencies missing',
    );
    for (const tool of ['typescript', 'eslint', 'tsx', 'prettier', 'typescript-eslint', 'esbuild'])
      assert.ok(!installed(join('node_modules', tool)), `${tool} in the runtime file set`);
    assert.ok(!installed(join('node_modules', '.bin', 'tsc')));

    // dist/ is compiled output only: no TypeScript sources or tests.
    const files = (await readdir(join(runtimeDir, 'dist'), { recursive: true })).map(String);
    assert.ok(files.includes(join('cli', 'main.js')));
    assert.deepEqual(
      files.filter((f) => /\.(c|m)?ts$/.test(f) || /(^|\/)test(\/|$)/.test(f)),
      [],
    );
    assert.deepEqual(await readdir(join(runtimeDir, 'bin')), ['cvo-verifier']);
  });

  it('serves /healthz and /metrics from that file set, and exits 0 on SIGTERM', async (t) => {
    if (tc === undefined) {
      t.skip(skip ?? 'no cluster');
      return;
    }
    const port = await freePort();
    const home = await mkdtemp(join(tmpdir(), 'cvo-runtime-home-'));
    // The image's ENV, with this test's Node in place of the image's /usr/local/bin/node, and
    // nothing of this machine's environment but PATH.
    const child = spawn(
      join(runtimeDir, 'bin', 'cvo-verifier'),
      [
        'serve',
        '--kubeconfig',
        tc.cluster.kubeconfig,
        '--health-port',
        String(port),
        '--bind-address',
        '127.0.0.1',
        '--leader-elect',
        'false',
        // No drain after SIGTERM (test/e2e/serve-process.test.ts checks it): exit at once.
        '--shutdown-delay',
        '0',
      ],
      {
        cwd: runtimeDir,
        env: {
          ...runtimeEnv,
          CVO_VERIFIER_NODE: process.execPath,
          PATH: process.env.PATH ?? '',
          HOME: home,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => resolve(code)),
    );
    try {
      const base = `http://127.0.0.1:${String(port)}`;
      const deadline = Date.now() + 30_000;
      for (;;) {
        const res = await fetch(`${base}/healthz`).catch(() => undefined);
        await res?.text();
        if (res?.status === 200) break;
        assert.equal(child.exitCode, null, `serve exited:\n${out}`);
        assert.ok(Date.now() < deadline, `/healthz never answered 200:\n${out}`);
        await sleep(200);
      }
      const metrics = await fetch(`${base}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const body = await metrics.text();
      assert.match(body, /^# HELP \S+ /m);
      assert.match(body, /^# TYPE \S+ (counter|gauge|histogram|summary)$/m);
      assert.match(body, /^cvo_verifier_\w+/m);
    } finally {
      child.kill('SIGTERM');
    }
    const code = await Promise.race([exited, sleep(15_000).then(() => 'timeout' as const)]);
    if (code === 'timeout') child.kill('SIGKILL');
    await rm(home, { recursive: true, force: true });
    assert.equal(code, 0, `serve did not exit cleanly on SIGTERM:\n${out}`);
    assert.doesNotMatch(out, /Cannot find (module|package)/, 'a missing runtime dependency');
  });
});
