import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ParseArgsOptionsConfig } from 'node:util';

import { parseDuration } from '../config/duration.js';
import { KubeConfigError } from '../kube/client.js';
import type { KubeConfigOptions } from '../kube/client.js';
import { startService } from '../main.js';
import {
  DEFAULT_HTTP,
  MAX_SHUTDOWN_DELAY_MS,
  defaultServiceConfig,
} from '../config/service-config.js';
import type { ServiceConfig } from '../config/service-config.js';
import { createPinoLogger } from '../observability/pino-logger.js';
import type { LogLevel } from '../observability/pino-logger.js';
import { ConfigError, ExitCode, UsageError } from './usage-error.js';
import type { CommandIo } from './verify.js';

export const SERVE_HELP = `Usage: cvo-verifier serve [options]

Runs the update verifier: watches ClusterVersion "version", verifies every release requested in
spec.desiredUpdate, and records the outcome in status (ReleaseAccepted, ReleaseVerified, history
with verified) and Events, re-checking unverified releases in the background.

The cluster comes from --kubeconfig, else KUBECONFIG, else the in-cluster service account, else
~/.kube/config; with none of them serve exits with code 2. The local walkthrough (a local control
plane, signature store, registry and release key) runs from a source checkout: ./scripts/run.sh.

Options:
  --mode gate|companion             gate: write the CVO's own status fields (ReleaseAccepted,
                                    history, desired), for a cluster whose CVO is scaled down;
                                    companion: beside a running CVO, write only this service's
                                    UpdateVerifier* conditions and its verdict record, and gate
                                    through the webhook (needs --webhook-verify-mode enforce)
                                    (default gate)
  --kubeconfig PATH                 kubeconfig file
  --context NAME                    kubeconfig context
  --root-of-trust-configmap NS/NAME root-of-trust ConfigMap (default openshift-config-managed/release-verification)
  --root-of-trust-from-payload      take the root of trust from the running release's payload
                                    (its annotated release-manifests ConfigMap), as the CVO does
  --event-namespace NS              where Events go (default openshift-cluster-version)
  --leader-elect true|false         Lease leader election (default true)
  --leader-election-namespace NS    namespace of the Lease (default cvo-update-verifier)
  --identity NAME                   leader election identity (default hostname-pid)
  --timeout DURATION                verification budget (default 30s)
  --reconcile-timeout DURATION      budget of one reconcile's verification, the whole-payload
                                    check included (default 5m)
  --recheck-base DURATION           first background re-check delay (default 30s)
  --recheck-max DURATION            longest re-check delay (default 1h)
  --bind-address ADDR               address the HTTP servers listen on (default 0.0.0.0)
  --health-port PORT                plain HTTP /healthz, /readyz, /metrics (default 8081)
  --webhook-port PORT               HTTPS admission webhook and verify API (default 8443)
  --tls-cert-file PATH              serving certificate for the HTTPS server (reloaded on change)
  --tls-key-file PATH               its key; without both files the HTTPS server does not start
  --webhook-client-ca-file PATH     require a client certificate chained to this PEM CA bundle on
                                    the HTTPS port (webhook and verify API; reloaded on change)
  --webhook-client-names NAME,...   with --webhook-client-ca-file: the client certificate's CN or
                                    a DNS SAN must be one of these, else 403 (default: any name)
  --webhook-verify-mode off|enforce enforce: deny by-digest targets that fail verification
                                    unless forced (default off: only by-tag is judged)
  --webhook-timeout DURATION        verification budget inside the webhook call (default 8s)
  --shutdown-delay DURATION         on SIGTERM the Lease is released and /readyz answers 503 at
                                    once; the HTTP servers keep answering this long (while the
                                    Pod leaves the Service's endpoints), then close; 0 for none,
                                    at most 20s (default 5s)
  --verify-api                      enable POST /v1/verify (TokenReview + SubjectAccessReview)
  --log-level LEVEL                 debug, info, warn or error (default info)
  --insecure-registry HOST          allow plain HTTP to HOST[:port] for Sigstore checks (repeatable)
  --payload-verification off|warn|enforce
                                    verify every component image of a requested release against
                                    the ClusterImagePolicies before accepting it: enforce refuses
                                    an unforced update that would fail (PayloadVerificationFailed),
                                    warn accepts it with a Warning Event (default warn)
  --release-metadata enforce|warn   an accepted update whose release-metadata cannot be read:
                                    enforce refuses it as the CVO does (RetrievePayload or
                                    LoadPayload), warn accepts it with a Warning Event
                                    ReleaseMetadataUnreadable (default enforce)
  -h, --help                        show this help

Registries and signature stores are reached through the cluster Proxy (Proxy/cluster status, its
trustedCA) with the pull secret openshift-config/pull-secret, both read for every verification;
without a Proxy object HTTPS_PROXY, HTTP_PROXY and NO_PROXY apply. KUBECONFIG.
`;

export interface ServeIo extends CommandIo {
  /** Resolves when the process is asked to stop (SIGTERM, SIGINT). */
  readonly shutdown: Promise<void>;
}

/** serve's flags, for parseArgs; the walkthrough (./scripts/run.sh) parses the same ones. */
export const SERVE_OPTIONS = {
  mode: { type: 'string' },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  'root-of-trust-configmap': { type: 'string' },
  'event-namespace': { type: 'string' },
  'leader-elect': { type: 'string' },
  'leader-election-namespace': { type: 'string' },
  identity: { type: 'string' },
  timeout: { type: 'string' },
  'reconcile-timeout': { type: 'string' },
  'recheck-base': { type: 'string' },
  'recheck-max': { type: 'string' },
  'health-port': { type: 'string' },
  'webhook-port': { type: 'string' },
  'tls-cert-file': { type: 'string' },
  'tls-key-file': { type: 'string' },
  'webhook-client-ca-file': { type: 'string' },
  'webhook-client-names': { type: 'string' },
  'verify-api': { type: 'boolean' },
  'webhook-verify-mode': { type: 'string' },
  'webhook-timeout': { type: 'string' },
  'shutdown-delay': { type: 'string' },
  'log-level': { type: 'string' },
  'bind-address': { type: 'string' },
  'insecure-registry': { type: 'string', multiple: true },
  'payload-verification': { type: 'string' },
  'release-metadata': { type: 'string' },
  'root-of-trust-from-payload': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsOptionsConfig;

/** Printed, with exit code 2, when serve finds no cluster to serve. */
export const NO_CLUSTER_MESSAGE =
  'no cluster configured (--kubeconfig, KUBECONFIG, the in-cluster service account or ~/.kube/config).\n' +
  'The local walkthrough (a local control plane, signature store and registry) runs from a source checkout: ./scripts/run.sh';

export async function runServe(argv: readonly string[], io: ServeIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: SERVE_OPTIONS,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help === true) {
    io.stdout(SERVE_HELP);
    return ExitCode.Verified;
  }
  const kube = selectCluster(values.kubeconfig, values.context, io.env);
  if (kube === undefined) throw new ConfigError(NO_CLUSTER_MESSAGE);
  const config = toServiceConfig(kube, values, io.env);
  const level = typeof values['log-level'] === 'string' ? values['log-level'] : 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(level))
    throw new UsageError('--log-level must be debug, info, warn or error');
  const logger = createPinoLogger(level as LogLevel, {
    write: (line: string) => {
      io.stdout(line);
    },
  });
  let service;
  try {
    service = await startService(config, logger);
  } catch (err) {
    // A kubeconfig that cannot be used is the user's to fix, said as the other commands say it.
    if (err instanceof KubeConfigError)
      throw new ConfigError(`cannot load the cluster configuration: ${err.message}`);
    throw err;
  }
  await io.shutdown;
  logger.info('shutting down');
  await service.stop({ drainMs: config.http?.shutdownDelayMs ?? 0 });
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
  if (env.KUBECONFIG !== undefined && env.KUBECONFIG !== '') {
    // One file must exist, as --kubeconfig's; a list is merged as kubectl merges it (missing
    // files skipped).
    const files = [...new Set(env.KUBECONFIG.split(':').filter((f) => f !== ''))];
    return files.length === 1
      ? { kubeconfig: files[0] ?? '', ...ctx }
      : { kubeconfigFiles: files, ...ctx };
  }
  if (env.KUBERNETES_SERVICE_HOST !== undefined && env.KUBERNETES_SERVICE_HOST !== '') {
    const port = env.KUBERNETES_SERVICE_PORT;
    return {
      inCluster: {
        host: env.KUBERNETES_SERVICE_HOST,
        ...(port !== undefined && port !== '' ? { port } : {}),
      },
      ...ctx,
    };
  }
  const home = env.HOME ?? homedir();
  if (existsSync(join(home, '.kube', 'config')))
    return { kubeconfig: join(home, '.kube', 'config'), ...ctx };
  return undefined;
}

export function toServiceConfig(
  kube: KubeConfigOptions,
  values: Record<string, string | boolean | string[] | undefined>,
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
  const budgetMs = duration('timeout', base.budgetMs);
  const reconcileBudgetMs = duration('reconcile-timeout', base.reconcileBudgetMs);
  // One reconcile holds a whole signature verification (and more): a shorter budget would cut
  // every verification short and refuse every update.
  if (reconcileBudgetMs < budgetMs)
    throw new UsageError('--reconcile-timeout must be at least --timeout');
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
  const port = (name: string, fallback: number): number => {
    const v = str(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 65535)
      throw new UsageError(`--${name} must be a port number`);
    return n;
  };
  const certFile = str('tls-cert-file');
  const keyFile = str('tls-key-file');
  if ((certFile === undefined) !== (keyFile === undefined))
    throw new UsageError('--tls-cert-file and --tls-key-file go together');
  const clientCaFile = str('webhook-client-ca-file');
  const clientNamesFlag = str('webhook-client-names');
  const clientNames = clientNamesFlag?.split(',').map((n) => n.trim());
  if (clientNames !== undefined && (clientNames.length === 0 || clientNames.includes('')))
    throw new UsageError('--webhook-client-names must be a comma-separated list of names');
  if (clientNames !== undefined && clientCaFile === undefined)
    throw new UsageError('--webhook-client-names needs --webhook-client-ca-file');
  if (clientCaFile !== undefined && certFile === undefined)
    throw new UsageError('--webhook-client-ca-file needs --tls-cert-file and --tls-key-file');
  const shutdownDelayMs = shutdownDelay(str('shutdown-delay'));
  const mode = str('webhook-verify-mode') ?? DEFAULT_HTTP.webhookVerifyMode;
  if (mode !== 'off' && mode !== 'enforce')
    throw new UsageError('--webhook-verify-mode must be off or enforce');
  const insecure = values['insecure-registry'];
  const payloadVerification = str('payload-verification') ?? base.payloadVerification;
  if (
    payloadVerification !== 'off' &&
    payloadVerification !== 'warn' &&
    payloadVerification !== 'enforce'
  )
    throw new UsageError('--payload-verification must be off, warn or enforce');
  const serviceMode = str('mode') ?? base.mode;
  if (serviceMode !== 'gate' && serviceMode !== 'companion')
    throw new UsageError('--mode must be gate or companion');
  const releaseMetadata = str('release-metadata') ?? base.releaseMetadata;
  if (releaseMetadata !== 'enforce' && releaseMetadata !== 'warn')
    throw new UsageError('--release-metadata must be enforce or warn');
  return {
    ...base,
    mode: serviceMode,
    payloadVerification,
    releaseMetadata,
    rootOfTrustFromPayload: values['root-of-trust-from-payload'] === true,
    insecureRegistries: Array.isArray(insecure) ? insecure : [],
    http: {
      bindAddress: str('bind-address') ?? DEFAULT_HTTP.bindAddress,
      healthPort: port('health-port', DEFAULT_HTTP.healthPort),
      webhookPort: port('webhook-port', DEFAULT_HTTP.webhookPort),
      ...(certFile !== undefined && keyFile !== undefined ? { tls: { certFile, keyFile } } : {}),
      ...(clientCaFile !== undefined
        ? { clientAuth: { caFile: clientCaFile, ...(clientNames ? { names: clientNames } : {}) } }
        : {}),
      verifyApi: values['verify-api'] === true,
      webhookVerifyMode: mode,
      webhookBudgetMs: duration('webhook-timeout', DEFAULT_HTTP.webhookBudgetMs),
      shutdownDelayMs,
    },
    rootOfTrust,
    eventNamespace: str('event-namespace') ?? base.eventNamespace,
    leaderElection: {
      ...base.leaderElection,
      enabled: leaderElect === 'true',
      namespace: str('leader-election-namespace') ?? base.leaderElection.namespace,
      identity: str('identity') ?? base.leaderElection.identity,
    },
    budgetMs,
    reconcileBudgetMs,
    recheckBaseMs: duration('recheck-base', base.recheckBaseMs),
    recheckMaxMs: duration('recheck-max', base.recheckMaxMs),
    proxy: {
      ...(httpProxy !== undefined ? { httpProxy } : {}),
      ...(httpsProxy !== undefined ? { httpsProxy } : {}),
      ...(noProxy !== undefined ? { noProxy } : {}),
    },
  };
}

/** --shutdown-delay: a duration up to MAX_SHUTDOWN_DELAY_MS, or 0 (`0`, `0s`) for none. */
function shutdownDelay(text: string | undefined): number {
  if (text === undefined) return DEFAULT_HTTP.shutdownDelayMs;
  // parseDuration takes positive durations only; zero is how the drain is turned off.
  if (/^(?:0+(?:\.0*)?(?:ms|s|m|h)?)$/.test(text)) return 0;
  let ms;
  try {
    ms = parseDuration(text);
  } catch (err) {
    throw new UsageError(`--shutdown-delay: ${(err as Error).message}, or 0 for none`);
  }
  if (ms > MAX_SHUTDOWN_DELAY_MS)
    throw new UsageError(
      `--shutdown-delay must be at most ${String(MAX_SHUTDOWN_DELAY_MS / 1000)}s: the whole shutdown has 30 s`,
    );
  return ms;
}
