import { constants } from 'node:os';

import type { ServeIo } from './serve.js';

/** How long a shutdown may take after the first signal before the process exits anyway. */
export const SHUTDOWN_DEADLINE_MS = 30_000;

/**
 * Runs a command as this process: its I/O is the process's, the first SIGTERM or SIGINT resolves
 * its `shutdown`, its result is the exit code (3 and the stack for an internal error). Later
 * signals are said and otherwise ignored, so a second Ctrl-C or a SIGTERM after a SIGINT never
 * cuts the shutdown (the Lease release) half-way; if the shutdown has not finished
 * SHUTDOWN_DEADLINE_MS after the first signal, the process exits with 128 + that signal's number.
 * Open handles (keep-alive sockets, timers) do not keep a finished command alive.
 */
export function runAsProcess(command: (io: ServeIo) => Promise<number>): void {
  let first: NodeJS.Signals | undefined;
  let resolveShutdown = (): void => undefined;
  const shutdown = new Promise<void>((resolve) => {
    resolveShutdown = resolve;
  });
  const onSignal = (signal: NodeJS.Signals): void => {
    if (first !== undefined) {
      process.stderr.write(
        `${signal} received while shutting down after ${first}: the shutdown goes on (at most ${String(SHUTDOWN_DEADLINE_MS / 1000)} s in all)\n`,
      );
      return;
    }
    first = signal;
    resolveShutdown();
    setTimeout(() => {
      process.stderr.write(
        `the shutdown did not finish within ${String(SHUTDOWN_DEADLINE_MS / 1000)} s: exiting\n`,
      );
      process.exit(128 + constants.signals[signal]);
    }, SHUTDOWN_DEADLINE_MS).unref();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  command({
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    env: process.env,
    cwd: process.cwd(),
    stderrIsTTY: process.stderr.isTTY,
    shutdown,
  }).then(
    (code) => {
      process.exitCode = code;
      setTimeout(() => process.exit(code), 200).unref();
    },
    (err: unknown) => {
      process.stderr.write(
        `internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      process.exitCode = 3;
    },
  );
}
