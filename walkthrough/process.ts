/**
 * Process concerns of ./scripts/run.sh's main job (walkthrough/main.ts): signals, the exit code
 * and the children left at exit. src/cli/process.ts does this for the CLI; the walkthrough needs
 * more, because it owns child processes (etcd, kube-apiserver, docker-registry, gpg-agent, a Go
 * build) that must not outlive it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';

import type { ServeIo } from '../src/cli/serve.js';

/** What the main job gets from the process: the CLI's I/O and a signal that says stop. */
export interface MainJobIo extends ServeIo {
  /**
   * Aborted on the first SIGINT, SIGTERM or SIGHUP, with that signal's name as `reason`. The
   * walkthrough stops where it is, cleans up and reports the signal's exit code.
   */
  readonly stop?: AbortSignal;
}

export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/**
 * How long the cleanup after the first signal may take before the process kills its children
 * and exits anyway. The cleanup gives each child 3 s between SIGTERM and SIGKILL and the service
 * 5 s to stop, so it ends well within this unless something hangs.
 */
export const CLEANUP_DEADLINE_MS = 15_000;

/** The shell's exit code for a process ended by `signal`: 128 + its number (SIGINT 130, SIGTERM 143). */
export function signalExitCode(signal: StopSignal): number {
  return 128 + constants.signals[signal];
}

/** The signal `stop` was aborted with, if it was aborted by one. */
export function stoppedBy(stop: AbortSignal | undefined): StopSignal | undefined {
  if (stop?.aborted !== true) return undefined;
  const reason: unknown = stop.reason;
  return STOP_SIGNALS.find((s) => s === reason);
}

/**
 * Runs the main job as this process. The first stop signal aborts `io.stop` and resolves
 * `io.shutdown`; later ones are reported and otherwise ignored, so that a second Ctrl-C or a
 * SIGTERM after a SIGINT never cuts the cleanup half-way (their default action would end this
 * process at once and leave its children running). If the cleanup has not finished
 * CLEANUP_DEADLINE_MS after the first signal, the process exits with that signal's code; on any
 * exit, the children still running are killed.
 */
export function runMainJobProcess(command: (io: MainJobIo) => Promise<number>): void {
  const stop = new AbortController();
  let resolveShutdown = (): void => undefined;
  const shutdown = new Promise<void>((resolve) => {
    resolveShutdown = resolve;
  });
  const onSignal = (signal: StopSignal): void => {
    const first = stoppedBy(stop.signal);
    if (first !== undefined) {
      process.stderr.write(
        `== ${signal} received while stopping after ${first}: the cleanup goes on (at most ${String(CLEANUP_DEADLINE_MS / 1000)} s in all)\n`,
      );
      return;
    }
    process.stderr.write(`\n== ${signal} received: stopping and cleaning up\n`);
    stop.abort(signal);
    resolveShutdown();
    setTimeout(() => {
      process.stderr.write(
        `== the cleanup did not finish within ${String(CLEANUP_DEADLINE_MS / 1000)} s: killing what is left and exiting\n`,
      );
      process.exit(signalExitCode(signal));
    }, CLEANUP_DEADLINE_MS);
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  process.on('exit', killChildren);

  command({
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    env: process.env,
    cwd: process.cwd(),
    stderrIsTTY: process.stderr.isTTY,
    shutdown,
    stop: stop.signal,
  }).then(
    (code) => {
      process.exit(code);
    },
    (err: unknown) => {
      process.stderr.write(
        `internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      process.exit(3);
    },
  );
}

/**
 * Kills, by pid, the children of this process still running (and the process group of each one
 * that leads its own, as a Go build does). Synchronous, for the `exit` event; Linux only (/proc).
 */
function killChildren(): void {
  for (const child of listChildren(process.pid)) {
    try {
      process.kill(child.pgid === child.pid ? -child.pid : child.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  readonly pgid: number;
  readonly state: string;
}

/** The live (not zombie) processes whose parent is `parent`, read from /proc. */
function listChildren(parent: number): ProcStat[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const children: ProcStat[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat?.ppid === parent && stat.state !== 'Z') children.push(stat);
  }
  return children;
}

/** Fields of /proc/<pid>/stat; the command name (field 2) may hold spaces and parentheses. */
function readStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return {
      pid,
      state: fields[0] ?? '',
      ppid: Number(fields[1]),
      pgid: Number(fields[2]),
    };
  } catch {
    return undefined;
  }
}
