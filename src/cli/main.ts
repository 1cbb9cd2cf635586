import { runGpgDemo } from '../demo/gpg-demo.js';
import { HISTORY_HELP, runHistory } from './history.js';
import { runServe, SERVE_HELP } from './serve.js';
import type { ServeIo } from './serve.js';
import { runStatus, STATUS_HELP } from './status.js';
import { runUpgrade, UPGRADE_HELP } from './upgrade.js';
import { runVerify, VERIFY_HELP } from './verify.js';
import type { CommandIo } from './verify.js';
import { ExitCode, UsageError } from './usage-error.js';

const HELP = `Usage: cvo-verifier COMMAND [options]

Decides whether an OpenShift cluster may move to a new release image.

Commands:
  serve             run the service against a cluster, or a local walkthrough without one
                    (see cvo-verifier serve --help)
  verify PULLSPEC   verify a release image's signatures (see cvo-verifier verify --help)
  upgrade           show or request a cluster update like 'oc adm upgrade': --to VERSION,
                    --to-image PULLSPEC [--force] [--allow-explicit-upgrade], --clear
  history           the update history with VERIFIED and accepted risks (-o json|yaml)
  status            the verifier's verdict for the requested update: conditions, evidence and
                    pending background re-checks (-o json|yaml)
  demo              show the verifier working on this machine: a GnuPG release key, a local
                    signature store, and by-tag, signed and unsigned releases

Exit codes: 0 success/verified; 1 not verified, or a request refused (upgrade) or an object not
found; 2 usage or configuration error (including no cluster configured).
Every command takes --help.
`;

const COMMAND_HELP: Readonly<Record<string, string>> = {
  verify: VERIFY_HELP,
  serve: SERVE_HELP,
  upgrade: UPGRADE_HELP,
  history: HISTORY_HELP,
  status: STATUS_HELP,
};

/** Runs one CLI invocation and returns its exit code. All process access arrives through `io`. */
export async function runCli(argv: readonly string[], io: CommandIo | ServeIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'verify':
        return await runVerify(rest, io);
      case 'serve':
        return await runServe(rest, { shutdown: new Promise<void>(() => undefined), ...io });
      case 'upgrade':
        return await runUpgrade(rest, io);
      case 'history':
        return await runHistory(rest, io);
      case 'status':
        return await runStatus(rest, io);
      case 'demo':
        if (rest.length > 0) throw new UsageError('demo takes no arguments');
        return (await runGpgDemo(io)) ? ExitCode.Verified : ExitCode.NotVerified;
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        io.stdout(command === undefined ? HELP : (COMMAND_HELP[rest[0] ?? ''] ?? HELP));
        return command === undefined ? ExitCode.Usage : ExitCode.Verified;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`error: ${err.message}\nRun 'cvo-verifier --help' for usage.\n`);
      return ExitCode.Usage;
    }
    throw err;
  }
}

// Composition root for the executable: process concerns stay here.
if (
  import.meta.url === `file://${process.argv[1] ?? ''}` ||
  process.env.CVO_VERIFIER_MAIN === '1'
) {
  const shutdown = new Promise<void>((resolve) => {
    process.once('SIGTERM', () => {
      resolve();
    });
    process.once('SIGINT', () => {
      resolve();
    });
  });
  const io: ServeIo = {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    env: process.env,
    cwd: process.cwd(),
    shutdown,
  };
  runCli(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
      // Open handles (keep-alive sockets, timers) must not keep a finished command alive.
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
