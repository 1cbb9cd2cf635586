import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { parseDuration } from '../config/duration.js';
import { runClusterDemo } from '../demo/cluster-demo.js';
import type { KubeConfigOptions } from '../kube/client.js';
import { defaultServiceConfig, startService } from '../main.js';
import type { ServiceConfig } from '../main.js';
import { createJsonLogger } from '../observability/logger.js';
import { ExitCode, UsageError } from './usage-error.js';
import type { CommandIo } from './verify.js';

export const SERVE_HELP = `Usage: cvo-verifier serve [options]

Runs the update verifier: watches ClusterVersion "version", verifies every release requested in
spec.desiredUpdate, and records the outcome in status (ReleaseAccepted, ReleaseVerified, history
with verified) and Events, re-checking unverified releases in the background.

The cluster comes from --kubeconfig, else KUBECONFIG, else the in-cluster service account, else
~/.kube/config. With none of them, serve starts a local control plane (etcd + kube-apiserver
built from Go modules on first run), a signature store and a release key, and walks through
by-tag, signed, forced-unsigned and late-signed updates.

Options:
  --kubeconfig PATH                 kubeconfig file
  --context NAME                    kubeconfig context
  --root-of-trust-configmap NS/NAME root-of-trust ConfigMap (default openshift-config-managed/release-verification)
  --event-namespace NS              where Events go (default openshift-cluster-version)
  --leader-elect true|false         Lease leader election (default true)
  --leader-election-namespace NS    namespace of the Lease (default cvo-update-verifier)
  --identity NAME                   leader election identity (default hostname-pid)
  --timeout DURATION                verification budget (default 30s)
  --recheck-base DURATION           first background re-check delay (default 30s)
  --recheck-max DURATION            longest re-check delay (default 1h)
  --keep-running                    local walkthrough only: keep the cluster up until Ctrl-C
  -h, --help                        show this help

Environment: HTTPS_PROXY, HTTP_PROXY, NO_PROXY for signature stores; KUBECONFIG.
`;

export interface ServeIo extends CommandIo {
  /** Resolves when the process is asked to stop (SIGTERM, SIGINT). */
  readonly shutdown: Promise<void>;
}

export async function runServe(argv: readonly string[], io: ServeIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        kubeconfig: { type: 'string' },
        context: { type: 'string' },
        'root-of-trust-configmap': { type: 'string' },
        'event-namespace': { type: 'string' },
        'leader-elect': { type: 'string' },
        'leader-election-namespace': { type: 'string' },
        identity: { type: 'string' },
        timeout: { type: 'string' },
        'recheck-base': { type: 'string' },
        'recheck-max': { type: 'string' },
        'keep-running': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help === true) {
    io.stdout(SERVE_HELP);
    return ExitCode.Verified;
  }
  const kube = selectCluster(values.kubeconfig, values.context, io.env);
  if (kube === undefined) {
    const ok = await runClusterDemo({
      stdout: io.stdout,
      env: io.env,
      ...(values['keep-running'] === true ? { keepRunning: io.shutdown } : {}),
    });
    return ok ? ExitCode.Verified : ExitCode.NotVerified;
  }
  const config = toServiceConfig(kube, values, io.env);
  const logger = createJsonLogger(io.stdout);
  const service = await startService(config, logger);
  await io.shutdown;
  logger.info('shutting down');
  await service.stop();
  return ExitCode.Verified;
}

/** kubectl's order: --kubeconfig, KUBECONFIG, in-cluster, ~/.kube/config; undefined when none. */
export function selectCluster(
  kubeconfig: string | undefined,
  context: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): KubeConfigOptions | undefined {
  const ctx = context !== undefined ? { context } : {};
  if (kubeconfig !== undefined) return { kubeconfig, ...ctx };
  if (env.KUBECONFIG !== undefined && env.KUBECONFIG !== '') return { ...ctx };
  if (env.KUBERNETES_SERVICE_HOST !== undefined && env.KUBERNETES_SERVICE_HOST !== '')
    return { inCluster: true, ...ctx };
  const home = env.HOME ?? homedir();
  if (existsSync(join(home, '.kube', 'config')))
    return { kubeconfig: join(home, '.kube', 'config'), ...ctx };
  return undefined;
}

function toServiceConfig(
  kube: KubeConfigOptions,
  values: Record<string, string | boolean | undefined>,
  env: Readonly<Record<string, string | undefined>>,
): ServiceConfig {
  const base = defaultServiceConfig(kube);
  const str = (name: string): string | undefined =>
    typeof values[name] === 'string' ? values[name] : undefined;
  const duration = (name: string, fallback: number): number => {
    const v = str(name);
    if (v === undefined) return fallback;
    try {
      return parseDuration(v);
    } catch (err) {
      throw new UsageError(`--${name}: ${(err as Error).message}`);
    }
  };
  let rootOfTrust = base.rootOfTrust;
  const rot = str('root-of-trust-configmap');
  if (rot !== undefined) {
    const [namespace, name, extra] = rot.split('/');
    if (
      namespace === undefined ||
      name === undefined ||
      extra !== undefined ||
      namespace === '' ||
      name === ''
    ) {
      throw new UsageError('--root-of-trust-configmap must be NAMESPACE/NAME');
    }
    rootOfTrust = { namespace, name };
  }
  const leaderElect = str('leader-elect') ?? 'true';
  if (leaderElect !== 'true' && leaderElect !== 'false')
    throw new UsageError('--leader-elect must be true or false');
  const pick = (...names: string[]): string | undefined =>
    names.map((n) => env[n]).find((v) => v !== undefined && v !== '');
  const httpProxy = pick('HTTP_PROXY', 'http_proxy');
  const httpsProxy = pick('HTTPS_PROXY', 'https_proxy');
  const noProxy = pick('NO_PROXY', 'no_proxy');
  return {
    ...base,
    rootOfTrust,
    eventNamespace: str('event-namespace') ?? base.eventNamespace,
    leaderElection: {
      ...base.leaderElection,
      enabled: leaderElect === 'true',
      namespace: str('leader-election-namespace') ?? base.leaderElection.namespace,
      identity: str('identity') ?? base.leaderElection.identity,
    },
    budgetMs: duration('timeout', base.budgetMs),
    recheckBaseMs: duration('recheck-base', base.recheckBaseMs),
    recheckMaxMs: duration('recheck-max', base.recheckMaxMs),
    proxy: {
      ...(httpProxy !== undefined ? { httpProxy } : {}),
      ...(httpsProxy !== undefined ? { httpsProxy } : {}),
      ...(noProxy !== undefined ? { noProxy } : {}),
    },
  };
}
