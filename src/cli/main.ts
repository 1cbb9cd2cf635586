import { enableCompileCache } from 'node:module';

import type { ServeIo } from './serve.js';
import type { CommandIo } from './verify.js';
import { ConfigError, ExitCode, UsageError, usageErrorText } from './usage-error.js';
import { runAsProcess } from './process.js';

const HELP = `Usage: cvo-verifier COMMAND [options]

Decides whether an OpenShift cluster may move to a new release image.

Commands:
  serve             run the service against a cluster (see cvo-verifier serve --help)
  verify PULLSPEC   verify a release image's signatures (see cvo-verifier verify --help)
  verify-payload PULLSPEC
                    verify every component image of a release against ClusterImagePolicies
                    before updating (see cvo-verifier verify-payload --help)
  upgrade           show or request a cluster update like 'oc adm upgrade': --to VERSION,
                    --to-image PULLSPEC [--force] [--allow-explicit-upgrade], --clear
  recommend         the available and conditional updates with their risks like
                    'oc adm upgrade recommend', and whether each would verify now with the
                    cluster's trust (GPG, Sigstore, whole payload) and why not
  history           the update history with VERIFIED and accepted risks (-o json|yaml)
  status            the verifier's verdict for the requested update: conditions, evidence and
                    pending background re-checks (-o json|yaml)
  policy render     print the containers policy.json and registries.d YAML the Machine Config
                    Operator would write for ClusterImagePolicy/ImagePolicy files

Walkthroughs run from a source checkout: ./scripts/run.sh without a cluster configured (a local
control plane, registry and signature store), ./scripts/run.sh demo (GPG only, no cluster).

Exit codes: 0 success/verified; 1 not verified, or a request refused (upgrade) or an object not
found; 2 usage or configuration error (including no cluster configured).
Every command takes --help.
`;

interface Command {
  readonly run: (argv: readonly string[], io: CommandIo | ServeIo) => Promise<number>;
  readonly help: string;
}

// Commands are loaded on demand: `verify` must not pay for the Kubernetes client, express and
// prom-client that `serve` needs (hundreds of milliseconds of start-up).
const COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  verify: async () => {
    const m = await import('./verify.js');
    return { run: m.runVerify, help: m.VERIFY_HELP };
  },
  'verify-payload': async () => {
    const m = await import('./verify-payload.js');
    return { run: m.runVerifyPayload, help: m.VERIFY_PAYLOAD_HELP };
  },
  serve: async () => {
    const m = await import('./serve.js');
    return {
      run: (argv, io) => m.runServe(argv, { shutdown: new Promise<void>(() => undefined), ...io }),
      help: m.SERVE_HELP,
    };
  },
  upgrade: async () => {
    const m = await import('./upgrade.js');
    return { run: m.runUpgrade, help: m.UPGRADE_HELP };
  },
  recommend: async () => {
    const m = await import('./recommend.js');
    return { run: (argv, io) => m.runRecommend(argv, io), help: m.RECOMMEND_HELP };
  },
  history: async () => {
    const m = await import('./history.js');
    return { run: m.runHistory, help: m.HISTORY_HELP };
  },
  status: async () => {
    const m = await import('./status.js');
    return { run: m.runStatus, help: m.STATUS_HELP };
  },
  policy: async () => {
    const m = await import('./policy-render.js');
    return { run: m.runPolicyRender, help: m.POLICY_RENDER_HELP };
  },
  // The walkthroughs are not part of the build; say where they are rather than 'unknown command'.
  demo: () =>
    Promise.resolve({
      run: () => {
        throw new ConfigError(
          'the GPG walkthrough runs from a source checkout: ./scripts/run.sh demo',
        );
      },
      help: 'The GPG walkthrough runs from a source checkout: ./scripts/run.sh demo\n',
    }),
};

/** Runs one CLI invocation and returns its exit code. All process access arrives through `io`. */
export async function runCli(argv: readonly string[], io: CommandIo | ServeIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
      const load = COMMANDS[rest[0] ?? ''];
      io.stdout(command !== undefined && load !== undefined ? (await load()).help : HELP);
      return command === undefined ? ExitCode.Usage : ExitCode.Verified;
    }
    const load = COMMANDS[command];
    if (load === undefined) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    return await (await load()).run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      // A subcommand's mistake points to that subcommand's help, not the list of commands.
      const known = command !== undefined && Object.hasOwn(COMMANDS, command);
      io.stderr(
        usageErrorText(err, known ? `cvo-verifier help ${command}` : 'cvo-verifier --help'),
      );
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
  // V8's compiled code for every module imported from here on is kept on disk (the OS temporary
  // directory, or NODE_COMPILE_CACHE; NODE_DISABLE_COMPILE_CACHE=1 turns it off), so the next
  // start skips compiling them. Where the directory cannot be written, start-up is as before.
  enableCompileCache();
  runAsProcess((io) => runCli(process.argv.slice(2), io));
}
