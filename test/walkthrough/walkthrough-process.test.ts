/**
 * ./scripts/run.sh's walkthrough as a user meets it: a process with no terminal, run from source
 * (walkthrough/main.ts, what run.sh execs). One full run with --keep-running checks that every
 * `$ ` line it prints ran as printed (the API server's audit log is the witness) and names files
 * that exist, that the service's logs reach the file it names, and that SIGINT then SIGTERM 100 ms
 * later stop it within seconds with exit 130 and no process of its own left. A second run gets a
 * single SIGTERM in the middle of the walkthrough.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';

import { load } from 'js-yaml';

import { repoRoot, sharedFixturesDir } from '../helpers/fixtures.js';

/** A cold build of the control plane takes minutes; the test command builds it beforehand. */
const READY_TIMEOUT_MS = 240_000;
/** How long the walkthrough may take to stop after the signals. */
const EXIT_TIMEOUT_MS = 20_000;

interface Walkthrough {
  readonly child: ChildProcess;
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in stdout; rejects if it exits first or on timeout. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

let home = '';

function startWalkthrough(args: readonly string[]): Walkthrough {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
  delete env.KUBECONFIG;
  delete env.KUBERNETES_SERVICE_HOST;
  delete env.KUBERNETES_SERVICE_PORT;
  // No TTY anywhere: stdin ignored, stdout and stderr pipes.
  const child = spawn(process.execPath, ['--import', 'tsx', 'walkthrough/main.ts', ...args], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      resolve({ code, signal });
    });
  });
  assert.ok(child.pid !== undefined, 'the walkthrough did not start');
  return {
    child,
    pid: child.pid,
    stdout: () => out,
    stderr: () => err,
    exited,
    async waitFor(pattern, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = out.match(pattern);
        if (match) return match;
        if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
          throw new Error(
            `${child.exitCode === null ? `no ${String(pattern)} within ${String(timeoutMs)} ms` : `the walkthrough exited (${String(child.exitCode)}) before ${String(pattern)}`}\n--- stdout\n${out}\n--- stderr\n${err}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    },
  };
}

interface Proc {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: string;
  readonly state: string;
  /** Clock ticks after boot: tells a process from a later one that reuses its pid. */
  readonly startTime: string;
}

function readProc(pid: number): Proc | undefined {
  try {
    const text = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    const fields = text.slice(close + 2).split(' ');
    return {
      pid,
      comm: text.slice(text.indexOf('(') + 1, close),
      state: fields[0] ?? '',
      ppid: Number(fields[1]),
      startTime: fields[19] ?? '',
    };
  } catch {
    return undefined;
  }
}

function allProcs(): Proc[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map((e) => readProc(Number(e)))
    .filter((p): p is Proc => p !== undefined);
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${String(pid)}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/**
 * Every process the walkthrough started: those whose parent chain leads to `root`, and the
 * gpg-agent of its GnuPG home (a daemon, whose parent is init).
 */
function processesOf(root: number, gnupgHome: string | undefined): Proc[] {
  const procs = allProcs();
  const found = new Map<number, Proc>();
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of procs) {
      if (!found.has(p.pid) && (p.ppid === root || found.has(p.ppid))) {
        found.set(p.pid, p);
        grew = true;
      }
    }
  }
  if (gnupgHome !== undefined)
    for (const p of procs) if (cmdline(p.pid).includes(gnupgHome)) found.set(p.pid, p);
  return [...found.values()];
}

/** Still running: the same process (pid and start time) and not a zombie awaiting its reaper. */
function stillRunning(p: Proc): boolean {
  const now = readProc(p.pid);
  return now !== undefined && now.startTime === p.startTime && now.state !== 'Z';
}

async function waitExit(w: Walkthrough): Promise<{ code: number | null; ms: number }> {
  const started = Date.now();
  const timeout = new Promise<'timeout'>((resolve) =>
    setTimeout(() => {
      resolve('timeout');
    }, EXIT_TIMEOUT_MS).unref(),
  );
  const result = await Promise.race([w.exited, timeout]);
  assert.notEqual(
    result,
    'timeout',
    `the walkthrough did not exit within ${String(EXIT_TIMEOUT_MS)} ms of the signal\n--- stderr\n${w.stderr()}`,
  );
  return { code: (result as { code: number | null }).code, ms: Date.now() - started };
}

/** Ends by pid whatever a failed test left behind. */
function killLeftovers(procs: readonly Proc[], w: Walkthrough | undefined): void {
  for (const p of procs) {
    if (!stillRunning(p)) continue;
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
  if (w && w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
}

/** Splits a line the walkthrough quoted for a POSIX shell (plain words and '…' quoting). */
function splitShellWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] ?? '';
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      assert.ok(end > i, `unterminated quote in: ${line}`);
      word += line.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '\\') {
      word += line[i + 1] ?? '';
      inWord = true;
      i++;
    } else if (c === ' ') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** The API resource of a kind, as the OpenShift and Kubernetes APIs name the walkthrough's. */
function plural(kind: string): string {
  const lower = kind.toLowerCase();
  return lower.endsWith('y') ? `${lower.slice(0, -1)}ies` : `${lower}s`;
}

interface AuditEvent {
  readonly stage: string;
  readonly verb: string;
  readonly requestURI: string;
  readonly userAgent?: string;
  readonly objectRef?: { readonly resource?: string; readonly name?: string };
  readonly responseStatus?: { readonly code?: number };
  readonly requestObject?: unknown;
}

before(async () => {
  const crds = join(sharedFixturesDir, 'openshift-api');
  assert.ok(
    existsSync(crds),
    `the walkthrough needs the OpenShift CRDs at ${crds} (../shared/fixtures beside the project)`,
  );
  assert.ok(
    existsSync('/usr/bin/docker-registry') || existsSync('/usr/sbin/docker-registry'),
    'the walkthrough needs Debian docker-registry (scripts/test.sh installs it)',
  );
  assert.ok(existsSync('/proc/self/stat'), 'these tests read /proc (Linux)');
  home = await mkdtemp(join(tmpdir(), 'cvo-walkthrough-home-'));
});

after(async () => {
  await rm(home, { recursive: true, force: true });
});

describe('./scripts/run.sh --keep-running without a terminal', () => {
  let w: Walkthrough | undefined;
  let runDir = '';
  let recorded: Proc[] = [];

  before(async () => {
    w = startWalkthrough(['--keep-running']);
    await w.waitFor(/Press Ctrl-C to stop\./, READY_TIMEOUT_MS);
    runDir = w.stdout().match(/this run's files: (\S+) /)?.[1] ?? '';
    assert.ok(runDir !== '', `the walkthrough did not name its files' folder:\n${w.stdout()}`);
  });

  after(() => {
    killLeftovers(recorded, w);
  });

  it('finished every step as expected', () => {
    assert.match(w?.stdout() ?? '', /== Walkthrough finished: every step ended as expected\./);
  });

  it('runs every "$ " line exactly as printed, naming files that exist (the audit log as witness)', () => {
    const out = w?.stdout() ?? '';
    const env = out.match(/^ {3}export KUBECONFIG=(\S+) PATH=(\S+):\$PATH$/m);
    assert.ok(env, `no "export KUBECONFIG=… PATH=…" line for the commands:\n${out}`);
    const [, kubeconfig = '', binDir = ''] = env;
    assert.ok(existsSync(kubeconfig), `the KUBECONFIG it names does not exist: ${kubeconfig}`);
    accessSync(join(binDir, 'kubectl'), constants.X_OK);

    const commands = out
      .split('\n')
      .filter((line) => /^\s*\$ /.test(line))
      .map((line) => line.replace(/^\s*\$ /, ''));
    assert.ok(commands.length >= 5, `expected the commands of steps 1, 2, 3 and 5 (two):\n${out}`);

    const events = readFileSync(join(runDir, 'kube-apiserver-audit.log'), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as AuditEvent)
      .filter((e) => e.stage === 'ResponseComplete' && (e.userAgent ?? '').startsWith('kubectl/'));
    let next = 0;
    for (const command of commands) {
      const words = splitShellWords(command);
      const [program, verb, ...rest] = words;
      assert.equal(
        program,
        'kubectl',
        `"$ ${command}": this test has a witness only for kubectl; show other programs as "on OpenShift:" or teach the test how to see that they ran`,
      );
      for (const [i, word] of words.entries()) {
        if (word.startsWith('/') || words[i - 1] === '-f')
          assert.ok(existsSync(word), `"$ ${command}" names ${word}, which does not exist`);
      }
      let expected: { verb: string; resource: string; name: string; body: unknown; uri: RegExp };
      if (verb === 'patch') {
        const [kind = '', name = '', type, flag, patch = ''] = rest;
        assert.equal(type, '--type=merge', command);
        assert.equal(flag, '-p', command);
        expected = {
          verb: 'patch',
          resource: plural(kind),
          name,
          body: JSON.parse(patch),
          uri: /fieldManager=kubectl-patch/,
        };
      } else if (verb === 'apply') {
        assert.deepEqual(rest.slice(0, 2), ['--server-side', '-f'], command);
        const object = load(readFileSync(rest[2] ?? '', 'utf8')) as {
          kind: string;
          metadata: { name: string };
        };
        expected = {
          verb: 'patch',
          resource: plural(object.kind),
          name: object.metadata.name,
          body: object,
          uri: /fieldManager=kubectl(&|$)/,
        };
      } else {
        assert.fail(`"$ ${command}": no witness for kubectl ${String(verb)}; teach this test`);
      }
      const found = events.findIndex(
        (e, i) =>
          i >= next &&
          e.verb === expected.verb &&
          e.objectRef?.resource === expected.resource &&
          e.objectRef.name === expected.name &&
          expected.uri.test(e.requestURI) &&
          isDeepStrictEqual(e.requestObject, expected.body),
      );
      assert.ok(
        found >= 0,
        `"$ ${command}" has no matching kubectl request in the API server's audit log after the previous command's:\n${events
          .slice(next)
          .map((e) => `${e.verb} ${e.requestURI} ${JSON.stringify(e.requestObject)}`)
          .join('\n')}`,
      );
      assert.ok((events[found]?.responseStatus?.code ?? 0) < 300, `"$ ${command}" failed`);
      next = found + 1;
    }
    // The labelled equivalents are not commands it ran.
    assert.match(out, /^ {3}on OpenShift: oc adm upgrade --to=4\.17\.0$/m);
  });

  it("writes the service's logs to the file it names", () => {
    const out = w?.stdout() ?? '';
    const path = out.match(/its logs: (\S+)/)?.[1];
    assert.equal(path, join(runDir, 'service.log'), out);
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    const entries = lines.map((l) => JSON.parse(l) as { level: string; msg: string });
    const messages = entries.map((e) => e.msg);
    assert.ok(messages.includes('starting cvo-update-verifier'), messages.join('\n'));
    assert.ok(messages.includes('became leader'), messages.join('\n'));
    assert.ok(messages.includes('reconciled ClusterVersion'), messages.join('\n'));
  });

  it('stops within seconds on SIGINT then SIGTERM 100 ms later, exits 130 and leaves none of its processes', async () => {
    assert.ok(w !== undefined);
    const gnupgHome = w.stdout().match(/GnuPG home (\S+?)\)/)?.[1];
    recorded = processesOf(w.pid, gnupgHome);
    const names = new Set(recorded.map((p) => p.comm));
    for (const name of ['etcd', 'kube-apiserver', 'docker-registry'])
      assert.ok(names.has(name), `no ${name} among its processes: ${[...names].join(', ')}`);

    w.child.kill('SIGINT');
    await new Promise((resolve) => setTimeout(resolve, 100));
    w.child.kill('SIGTERM');
    const { code, ms } = await waitExit(w);
    const left = recorded.filter(stillRunning);
    assert.deepEqual(
      left.map((p) => `${String(p.pid)} ${p.comm}: ${cmdline(p.pid)}`),
      [],
      `left running ${String(ms)} ms after it exited`,
    );
    assert.equal(code, 130, `exit code after SIGINT\n--- stderr\n${w.stderr()}`);
    assert.match(w.stderr(), /SIGTERM received while stopping after SIGINT: the cleanup goes on/);
    assert.match(w.stdout(), /== Stopped\. The service's logs are in /);
    // The log got the service's last words: it was written through the shutdown.
    const log = readFileSync(join(runDir, 'service.log'), 'utf8').trimEnd().split('\n');
    assert.equal((JSON.parse(log.at(-1) ?? '{}') as { msg?: string }).msg, 'stopped');
  });
});

describe('a single SIGTERM in the middle of the walkthrough', () => {
  let w: Walkthrough | undefined;
  let recorded: Proc[] = [];

  after(() => {
    killLeftovers(recorded, w);
  });

  it('stops where it is within seconds, exits 143 and leaves none of its processes', async () => {
    w = startWalkthrough(['--keep-running']);
    await w.waitFor(/^== 2\. /m, READY_TIMEOUT_MS);
    const gnupgHome = w.stdout().match(/GnuPG home (\S+?)\)/)?.[1];
    recorded = processesOf(w.pid, gnupgHome);
    const names = new Set(recorded.map((p) => p.comm));
    for (const name of ['etcd', 'kube-apiserver', 'docker-registry'])
      assert.ok(names.has(name), `no ${name} among its processes: ${[...names].join(', ')}`);

    w.child.kill('SIGTERM');
    const { code, ms } = await waitExit(w);
    const left = recorded.filter(stillRunning);
    assert.deepEqual(
      left.map((p) => `${String(p.pid)} ${p.comm}: ${cmdline(p.pid)}`),
      [],
      `left running ${String(ms)} ms after it exited`,
    );
    assert.equal(code, 143, `exit code after SIGTERM\n--- stderr\n${w.stderr()}`);
    assert.match(w.stdout(), /== Stopped before the walkthrough finished\./);
    assert.doesNotMatch(w.stdout(), /== 6\. /);
  });
});
