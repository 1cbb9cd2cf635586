/**
 * The main job of ./scripts/run.sh, run from the source checkout through tsx (the walkthroughs
 * use test material from testbed/, which the runtime build and the image leave out):
 *
 *   [serve] [serve options] [--keep-running]
 *       with a cluster configured (--kubeconfig, KUBECONFIG, in-cluster, ~/.kube/config, chosen
 *       exactly as `cvo-verifier serve` chooses), runs `serve` on it; with none, the local
 *       walkthrough: a real etcd + kube-apiserver, a signature store, a registry and a release key,
 *       and six updates through the service (--keep-running leaves it up until Ctrl-C);
 *   demo
 *       the GPG-only walkthrough, without a cluster.
 *
 * A walkthrough stopped by SIGINT, SIGTERM or SIGHUP (also during --keep-running) stops where it
 * is, stops everything it started and exits 128 + the signal's number (130, 143, 129).
 */
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

import { ExitCode, UsageError, usageErrorText } from '../src/cli/usage-error.js';
import { runMainJobProcess, signalExitCode, stoppedBy } from './process.js';
import type { MainJobIo } from './process.js';

export const MAIN_JOB_HELP = `Usage: ./scripts/run.sh [serve] [serve options] [--keep-running]
       ./scripts/run.sh demo

With a cluster configured (--kubeconfig, KUBECONFIG, the in-cluster service account or
~/.kube/config) this is 'cvo-verifier serve' on it. With none, it starts a local control plane
(etcd + kube-apiserver built from Go modules on first run), a signature store, a docker-registry
and a release key, and walks through by-tag, signed, forced-unsigned, late-signed and
payload-checked updates.

  --keep-running    local walkthrough only: keep the cluster up afterwards until Ctrl-C
                    (or SIGTERM); stopped by a signal, it exits 130 (SIGINT) or 143 (SIGTERM)
  demo              the GPG-only walkthrough: a release key, a local signature store, and by-tag,
                    signed and unsigned releases (no cluster)

`;

/** Runs the main job (see this file's comment) and returns its exit code. */
export async function runMainJob(argv: readonly string[], io: MainJobIo): Promise<number> {
  const [first, ...rest] = argv;
  try {
    // Loaded on demand, as the CLI loads its commands: the service's modules take seconds to load
    // on a busy machine, and a signal that arrives meanwhile must find the handlers installed.
    if (first === 'demo') {
      if (rest.length > 0) throw new UsageError('demo takes no arguments');
      const { runGpgDemo } = await import('./gpg-demo.js');
      const ok = await runGpgDemo({ stdout: io.stdout, ...(io.stop ? { signal: io.stop } : {}) });
      const signal = stoppedBy(io.stop);
      if (signal !== undefined) return signalExitCode(signal);
      return ok ? ExitCode.Verified : ExitCode.NotVerified;
    }
    const { runServe, selectCluster, SERVE_HELP, SERVE_OPTIONS } =
      await import('../src/cli/serve.js');
    const serveArgs = first === 'serve' ? rest : argv;
    let values;
    try {
      ({ values } = parseArgs({
        args: [...serveArgs],
        strict: true,
        allowPositionals: false,
        options: { ...SERVE_OPTIONS, 'keep-running': { type: 'boolean' } },
      }));
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    if (values.help === true) {
      io.stdout(MAIN_JOB_HELP + SERVE_HELP);
      return ExitCode.Verified;
    }
    if (selectCluster(values.kubeconfig, values.context, io.env) !== undefined)
      return await runServe(
        serveArgs.filter((a) => a !== '--keep-running'),
        io,
      );
    const { runClusterDemo } = await import('./cluster-demo.js');
    const ok = await runClusterDemo({
      stdout: io.stdout,
      env: io.env,
      ...(io.stop ? { signal: io.stop } : {}),
      keepRunning: values['keep-running'] === true,
    });
    const signal = stoppedBy(io.stop);
    if (signal !== undefined) return signalExitCode(signal);
    return ok ? ExitCode.Verified : ExitCode.NotVerified;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(usageErrorText(err, './scripts/run.sh serve --help'));
      return ExitCode.Usage;
    }
    throw err;
  }
}

// Process concerns (signals, exit code, children left at exit): walkthrough/process.ts.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runMainJobProcess((io) => runMainJob(process.argv.slice(2), io));
}
