import type { ServeIo } from './serve.js';

/**
 * Runs a command as this process: its I/O is the process's, SIGTERM and SIGINT resolve its
 * `shutdown`, its result is the exit code (3 and the stack for an internal error). Open handles
 * (keep-alive sockets, timers) do not keep a finished command alive.
 */
export function runAsProcess(command: (io: ServeIo) => Promise<number>): void {
  const shutdown = new Promise<void>((resolve) => {
    process.once('SIGTERM', () => {
      resolve();
    });
    process.once('SIGINT', () => {
      resolve();
    });
  });
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
