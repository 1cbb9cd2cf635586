import { goQuote } from '../controller/target.js';
import type { ClusterVerification } from '../controller/verification-port.js';
import {
  parsePublishedUpdates,
  toUpdateVerdict,
  UPDATES_CONFIGMAP_NAME,
  withoutRequest,
} from '../controller/update-preverifier.js';
import type { PublishedUpdates, UpdateVerdict } from '../controller/update-preverifier.js';
import { KubeApiError } from '../kube/client.js';
import type { KubePort } from '../kube/client.js';
import type { ClusterVersion, Condition, Release } from '../kube/types.js';
import {
  CLUSTER_OPTIONS,
  CommandRefusal,
  connectCluster,
  errorText,
  formatData,
  parseCommandArgs,
  parseOutputFlag,
  readClusterVersion,
  runClusterCommand,
} from './history.js';
import { formatRelative } from './status.js';
import { compareVersions, semverError } from './upgrade.js';
import type { UpgradeConnect } from './upgrade.js';
import { ExitCode, UsageError } from './usage-error.js';
import { durationFlag, intFlag } from './verify.js';
import type { CommandIo } from './verify.js';

export const RECOMMEND_HELP = `Usage: cvo-verifier recommend [options]

Displays cluster update recommendations the way 'oc adm upgrade recommend' does (read-only; to
request an update use 'cvo-verifier upgrade'): the Failing and Progressing conditions, the
channel, and the available and conditional updates grouped by minor version, newest first,
with their risks. By default only recent targets are shown (two per minor version); use
'--version VERSION' for one target release, '--show-outdated-releases' for all of them.

Beyond oc, every update shown says whether the cluster would accept it right now, with the
cluster's own trust, as the verifier service would verify it when requested unforced (the
root-of-trust ConfigMap, signature ConfigMaps, spec.signatureStores, the cluster CA bundle, pull
secret, Proxy, mirrors and ClusterImagePolicies; GPG, Sigstore and, when ClusterImagePolicies
exist, the whole payload; a version that contradicts the release's own release-metadata is
refused). The verdict is the one the running service published (its leader verifies the offered
updates in the background and refreshes them every 10 minutes, in ConfigMap
cvo-update-verifier/cvo-update-verifier-updates), marked '(service, 3m ago)', when it is younger
than three refresh intervals; otherwise, or with --check, the update is verified here. The
VERIFY column says 'verified', 'refused (Reason)' with the message below the row, or 'unknown'
when the check could not be made (the trust could not be read, or the check did not finish in
time). Nothing the command line says is trusted.

Options:
  --version VERSION          display one target release by version; with --accept, exit 1
                             when an issue applies that was not accepted
  --show-outdated-releases   display all known targets, including older releases
  --accept NAME,...          issues you find acceptable (Failing, Progressing,
                             CannotRetrieveUpdates, ConditionalUpdateRisk, and beyond oc
                             ReleaseNotVerified: the target is not verified); repeatable
  --quiet                    with --version, print only the unaccepted issue names
  --check                    verify every update shown here, even when the service published
                             a recent verdict (implied by the root-of-trust flags below)
  --updates-configmap NS/NAME
                             where the service publishes its verdicts
                             (default cvo-update-verifier/cvo-update-verifier-updates)
  --timeout DURATION         budget for checking one update here (default 2m)
  --concurrency N            updates checked here at once (default 2, 1-8)
  --root-of-trust-configmap NS/NAME
                             the root-of-trust ConfigMap, as serve's flag
                             (default openshift-config-managed/release-verification)
  --root-of-trust-from-payload
                             take the GPG root of trust from the running release's payload,
                             as serve's flag
  --kubeconfig PATH          kubeconfig file
  --context NAME             kubeconfig context
  -o, --output FORMAT        text (default), json or yaml: one object {issues, updates}
  -h, --help                 show this help

Not like oc: no alert pre-checks (oc queries the cluster's Thanos querier; this command reads
only the API server).
The cluster comes from --kubeconfig, else KUBECONFIG, else the in-cluster service account, else
~/.kube/config.

Exit codes: 0 printed (whatever the verdicts); 1 with --version, no such update or an issue not
accepted, or the ClusterVersion is missing or an API call failed; 2 usage or configuration
error (unknown or conflicting flags, a --version that is not a semantic version, no cluster
configured).
`;

/**
 * oc's texts, as the Go format strings of openshift/oc pkg/cli/admin/upgrade/recommend/recommend.go
 * at 6b8e30c5b39a (test/cli/oc-recommend-texts.test.ts cites each by line).
 */
export const OC_RECOMMEND_TEXTS = {
  quietWithoutVersion: '--quiet can only be set when --version is set',
  versionWithOutdated: 'when --version is set, --show-outdated-releases is unnecessary',
  versionNotSemver: 'cannot parse SemVer target %q: %v',
  noFailingInfo:
    '%swarning: No current %s info, see `oc describe clusterversion` for more details.\n',
  conditionBlock: '%s%s=%s:\n\n  Reason: %s\n  Message: %s\n\n',
  progressing:
    '%sinfo: An update is in progress.  You may wish to let this update complete before requesting a new update.\n  %s\n\n',
  cannotRefresh: 'warning: Cannot refresh available updates:\n  Reason: %s\n  Message: %s\n\n',
  upstreamUnset:
    'Upstream update service is unset, so the cluster will use an appropriate default.\n',
  upstream: 'Upstream update service: %s\n',
  channelWithAvailable: 'Channel: %s (available channels: %s)\n',
  channel: 'Channel: %s\n',
  // oc prints this one without a newline; here it ends the line (a deliberate difference).
  cannotParseUpdate: 'warning: Cannot parse SemVer available update %q: %v\n',
  cannotInject:
    'warning: Cannot inject %s=%s as a conditional update risk: %s\n\nReason: %s\n  Message: %s\n\n',
  noUpdatesForVersion:
    'no updates available, so cannot display context for the requested release %s',
  noMajor: 'no updates to %d available, so cannot display context for the requested release %s',
  noMinor: 'no updates to %d.%d available, so cannot display context for the requested release %s',
  noVersion: 'no update to %s available, so cannot display context for the requested release',
  versionNoIssues:
    'Update to %s has no known issues relevant to this cluster.\nImage: %s\nRelease URL: %s\n',
  versionRisk: 'Update to %s %s=%s:\nImage: %s\nRelease URL: %s\nReason: %s\nMessage: %s\n',
  acceptedRisk: 'accepted %s via ConditionalUpdateRisk',
  notAccepted: 'issues that apply to this cluster but which were not included in --accept: %s',
  onlyAccepted:
    'Update to %s has no known issues relevant to this cluster other than the accepted %s.\n',
  noUpdates:
    'No updates available. You may still upgrade to a specific release image with --to-image or wait for new updates to be available.\n',
  updatesTo: 'Updates to %d.%d:\n',
  older:
    "And %d older %d.%d updates you can see with '--show-outdated-releases' or '--version VERSION'.\n",
  noKnownIssues: 'no known issues relevant to this cluster',
  noConditions: 'Conditional update to %s has risks (%s), but no conditions.',
  cannotParseCurrent: 'cannot parse SemVer version %q: %v',
  longVersion: '  Version: %s\n  Image: %s\n',
  longRisk: '  Reason: %s\n  Message: %s\n',
} as const;

/** Go's fmt verbs as these texts use them: %s, %v and %d of strings, %q quoted. */
export function ocText(
  name: keyof typeof OC_RECOMMEND_TEXTS,
  ...args: readonly (string | number)[]
): string {
  let next = 0;
  return OC_RECOMMEND_TEXTS[name].replace(/%[sqvd]/g, (verb) => {
    const arg = args[next++];
    if (arg === undefined) throw new Error(`ocText ${name}: too few arguments`);
    return verb === '%q' ? goQuote(String(arg)) : String(arg);
  });
}

/** The issue name this command adds to oc's: the target would not be accepted, or is unknown. */
export const NOT_VERIFIED_ISSUE = 'ReleaseNotVerified';

/** Updates checked at once by default, and at most: each may read a whole release payload. */
const DEFAULT_CONCURRENCY = 2;
const MAX_CONCURRENCY = 8;
/** Budget for checking one update: signatures, the whole payload, release-metadata. */
const DEFAULT_UPDATE_BUDGET_MS = 120_000;

/** One listed update, as oc buckets it (a conditional update, or an available one wrapped). */
export interface ListedUpdate {
  readonly release: Release;
  readonly risks: readonly { readonly name?: string; readonly message?: string }[];
  readonly conditions: readonly Condition[];
}

export interface RecommendOptions {
  readonly version?: string;
  readonly showOutdatedReleases: boolean;
  readonly quiet: boolean;
  readonly accept: readonly string[];
}

/** Verifies one release image with the cluster's trust; `cv` is the live ClusterVersion. */
export type UpdateChecker = (
  image: string,
  cv: ClusterVersion,
  signal: AbortSignal,
) => Promise<ClusterVerification>;

export interface RecommendDeps {
  readonly connect?: UpgradeConnect;
  /** The checker for a cluster; by default the service's ClusterTrust over `kube`. */
  readonly checker?: (
    kube: KubePort,
    trust: TrustFlags,
    io: CommandIo,
  ) => { readonly check: UpdateChecker; readonly close: () => Promise<void> };
  readonly now?: () => Date;
}

interface TrustFlags {
  readonly rootOfTrust?: { readonly namespace: string; readonly name: string };
  readonly rootOfTrustFromPayload: boolean;
}

export async function runRecommend(
  argv: readonly string[],
  io: CommandIo,
  deps: RecommendDeps = {},
): Promise<number> {
  const values = parseCommandArgs('recommend', argv, {
    ...CLUSTER_OPTIONS,
    version: { type: 'string' },
    'show-outdated-releases': { type: 'boolean' },
    quiet: { type: 'boolean' },
    accept: { type: 'string', multiple: true },
    timeout: { type: 'string' },
    concurrency: { type: 'string' },
    'root-of-trust-configmap': { type: 'string' },
    'root-of-trust-from-payload': { type: 'boolean' },
    check: { type: 'boolean' },
    'updates-configmap': { type: 'string' },
    output: { type: 'string', short: 'o' },
  });
  if (values.help === true) {
    io.stdout(RECOMMEND_HELP);
    return ExitCode.Verified;
  }
  const output = parseOutputFlag(values.output, 'text');
  const options: RecommendOptions = {
    ...(values.version !== undefined && values.version !== '' ? { version: values.version } : {}),
    showOutdatedReleases: values['show-outdated-releases'] === true,
    quiet: values.quiet === true,
    // pflag's StringSlice: comma-separated, repeatable.
    accept: (values.accept ?? []).flatMap((a) => a.split(',')).filter((a) => a !== ''),
  };
  // oc's Complete.
  if (options.version === undefined) {
    if (options.quiet) throw new UsageError(OC_RECOMMEND_TEXTS.quietWithoutVersion);
  } else {
    if (options.showOutdatedReleases) throw new UsageError(OC_RECOMMEND_TEXTS.versionWithOutdated);
    const bad = semverError(options.version);
    if (bad !== undefined) throw new UsageError(ocText('versionNotSemver', options.version, bad));
  }
  const budgetMs = durationFlag('--timeout', values.timeout, DEFAULT_UPDATE_BUDGET_MS);
  const concurrency = intFlag(
    '--concurrency',
    values.concurrency,
    DEFAULT_CONCURRENCY,
    1,
    MAX_CONCURRENCY,
  );
  // The service's verdicts were made with its own root of trust: one named here is checked here.
  const ownTrust =
    values['root-of-trust-configmap'] !== undefined ||
    values['root-of-trust-from-payload'] === true;
  const published =
    values.check === true || ownTrust
      ? undefined
      : values['updates-configmap'] !== undefined
        ? parseConfigMapRef('--updates-configmap', values['updates-configmap'])
        : DEFAULT_UPDATES_CONFIGMAP;
  const trustFlags: TrustFlags = {
    ...(values['root-of-trust-configmap'] !== undefined
      ? {
          rootOfTrust: parseConfigMapRef(
            '--root-of-trust-configmap',
            values['root-of-trust-configmap'],
          ),
        }
      : {}),
    rootOfTrustFromPayload: values['root-of-trust-from-payload'] === true,
  };
  const connect =
    deps.connect ?? ((kubeconfig, context) => connectCluster(kubeconfig, context, io.env));
  const kube = connect(values.kubeconfig, values.context);
  const now = deps.now ?? (() => new Date());
  return runClusterCommand(io, async () => {
    const cv = await readClusterVersion(kube);
    const plan = planRecommend(cv, options);
    // The updates the output shows are the ones checked: a first rendering collects them.
    const shown = new Map<string, Release>();
    renderRecommend(plan, options, (release) => {
      shown.set(release.image ?? '', release);
      return undefined;
    });
    const verdicts = new Map<string, ShownVerdict>();
    // The service's verdicts where it published a recent one; the others are checked here.
    const fromService =
      published !== undefined && shown.size > 0
        ? await readPublishedUpdates(kube, published)
        : undefined;
    const toCheck: Release[] = [];
    for (const [image, release] of shown) {
      const p = fromService?.verdicts.find((v) => v.image === image);
      if (p !== undefined && fromService !== undefined && isFresh(p.verdict, fromService, now()))
        verdicts.set(image, { ...p.verdict, source: 'service' });
      else toCheck.push(release);
    }
    if (toCheck.length > 0) {
      const checker = (deps.checker ?? createClusterChecker)(kube, trustFlags, io);
      try {
        await checkUpdates(toCheck, cv, checker.check, {
          budgetMs,
          concurrency,
          now,
          onVerdict: (image, verdict) => verdicts.set(image, { ...verdict, source: 'check' }),
        });
      } finally {
        await checker.close();
      }
    }
    const rendered = renderRecommend(
      plan,
      options,
      (release) => verdicts.get(release.image ?? ''),
      now(),
    );
    if (output !== 'text') {
      io.stderr(rendered.stderr);
      io.stdout(formatData(output, toReport(plan, rendered, verdicts)));
    } else {
      io.stderr(rendered.stderr);
      io.stdout(rendered.stdout);
    }
    if (rendered.error !== undefined) throw new CommandRefusal(rendered.error);
    return ExitCode.Verified;
  });
}

function parseConfigMapRef(flag: string, value: string): { namespace: string; name: string } {
  const [namespace = '', name = '', extra] = value.split('/');
  if (namespace === '' || name === '' || extra !== undefined)
    throw new UsageError(`${flag} must be NAMESPACE/NAME`);
  return { namespace, name };
}

/** Where `serve` publishes its verdicts on the offered updates (its namespace's default). */
const DEFAULT_UPDATES_CONFIGMAP = {
  namespace: 'cvo-update-verifier',
  name: UPDATES_CONFIGMAP_NAME,
} as const;

/**
 * A published verdict is used while it is younger than this many of the service's refresh
 * intervals: a leader that stopped refreshing is not believed for long.
 */
const FRESH_INTERVALS = 3;

/** An update's verdict as shown: made by the service in the background, or checked here now. */
export type ShownVerdict = UpdateVerdict & { readonly source: 'service' | 'check' };

function isFresh(verdict: UpdateVerdict, published: PublishedUpdates, now: Date): boolean {
  // An unknown verdict says nothing: checked here instead.
  if (verdict.result === 'unknown') return false;
  const age = now.getTime() - Date.parse(verdict.checkedAt);
  return age >= 0 && age <= FRESH_INTERVALS * published.intervalMs;
}

/** The service's published verdicts; undefined when there are none or they cannot be read. */
async function readPublishedUpdates(
  kube: KubePort,
  ref: { namespace: string; name: string },
): Promise<PublishedUpdates | undefined> {
  try {
    return parsePublishedUpdates(await kube.getConfigMap(ref.namespace, ref.name));
  } catch (err) {
    // Not readable with these credentials (403): every update is checked here instead.
    if (err instanceof KubeApiError) return undefined;
    throw err;
  }
}

/**
 * Checks each release with bounded concurrency, each within its own budget. A check that throws
 * or runs out of time is `unknown`, saying why; the others still run.
 */
export async function checkUpdates(
  releases: readonly Release[],
  cv: ClusterVersion,
  check: UpdateChecker,
  options: {
    readonly budgetMs: number;
    readonly concurrency: number;
    readonly now: () => Date;
    readonly onVerdict: (image: string, verdict: UpdateVerdict) => void;
  },
): Promise<void> {
  // Judged as an unforced request: the force flag of whatever is requested now must not let a
  // payload be checked for a release whose signatures failed.
  const unrequested = withoutRequest(cv);
  const queue = [...releases];
  const worker = async (): Promise<void> => {
    for (let release = queue.shift(); release !== undefined; release = queue.shift()) {
      const image = release.image ?? '';
      const signal = AbortSignal.timeout(options.budgetMs);
      let verdict: UpdateVerdict;
      try {
        const verification = await check(image, unrequested, signal);
        verdict = toUpdateVerdict(release, verification, options.now().toISOString());
      } catch (err) {
        verdict = {
          result: 'unknown',
          message: signal.aborted
            ? `the check did not finish within ${String(options.budgetMs / 1000)}s`
            : `the check failed: ${errorText(err)}`,
          checkedAt: options.now().toISOString(),
        };
      }
      options.onVerdict(image, verdict);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, releases.length) }, worker));
}

/** The service's ClusterTrust, built as `serve` builds it, over the user's own credentials. */
function createClusterChecker(
  kube: KubePort,
  flags: TrustFlags,
  io: CommandIo,
): { readonly check: UpdateChecker; readonly close: () => Promise<void> } {
  const loaded = (async () => {
    const [{ ClusterTrust }, { RegistryClientPool }, { defaultServiceConfig }] = await Promise.all([
      import('../trust/cluster-trust.js'),
      import('../registry/client-pool.js'),
      import('../config/service-config.js'),
    ]);
    const defaults = defaultServiceConfig({});
    const registry = new RegistryClientPool({ insecureRegistries: [] });
    const trust = new ClusterTrust({
      source: kube,
      registry,
      // Reported, not enforced: the verdict says whether the payload verified.
      payload: { mode: 'enforce' },
      rootOfTrust: flags.rootOfTrust ?? defaults.rootOfTrust,
      rootOfTrustFromPayload: flags.rootOfTrustFromPayload,
      signatureNamespace: defaults.signatureNamespace,
      caNamespace: defaults.caNamespace,
      trustedCaBundle: defaults.trustedCaBundle,
      http: proxyFromEnv(io.env),
      budgetMs: defaults.budgetMs,
      requestTimeoutMs: defaults.requestTimeoutMs,
    });
    return { trust, registry };
  })();
  return {
    check: async (image, cv, signal) =>
      (await loaded).trust.verify(image, cv, signal, { payload: true }),
    close: async () => {
      const { trust, registry } = await loaded;
      await trust.close();
      await registry.close();
    },
  };
}

function proxyFromEnv(env: CommandIo['env']): {
  httpProxy?: string;
  httpsProxy?: string;
  noProxy?: string;
} {
  const pick = (...names: string[]): string | undefined =>
    names.map((n) => env[n]).find((v) => v !== undefined && v !== '');
  const httpProxy = pick('HTTP_PROXY', 'http_proxy');
  const httpsProxy = pick('HTTPS_PROXY', 'https_proxy');
  const noProxy = pick('NO_PROXY', 'no_proxy');
  return {
    ...(httpProxy !== undefined ? { httpProxy } : {}),
    ...(httpsProxy !== undefined ? { httpsProxy } : {}),
    ...(noProxy !== undefined ? { noProxy } : {}),
  };
}

/** What oc's Run decides before it lists: its preamble, issues and the buckets. */
export interface RecommendPlan {
  readonly stdout: string;
  readonly stderr: string;
  readonly issues: ReadonlySet<string>;
  /** Newest major first, then newest minor; each bucket newest first. */
  readonly buckets: readonly {
    readonly major: number;
    readonly minor: number;
    readonly updates: readonly ListedUpdate[];
  }[];
}

interface SemverParts {
  readonly major: number;
  readonly minor: number;
}

function semverParts(version: string): SemverParts | Error {
  const bad = semverError(version);
  if (bad !== undefined) return new Error(bad);
  const [major = '0', minor = '0'] = version.split('.');
  return { major: Number(major), minor: Number(minor) };
}

function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

function indent(message: string | undefined): string {
  return (message ?? '').replaceAll('\n', '\n  ');
}

/** oc's Run up to the listing: pure, over a copy of the ClusterVersion. */
export function planRecommend(cv: ClusterVersion, options: RecommendOptions): RecommendPlan {
  const accept = new Set(options.accept);
  const issues = new Set<string>();
  let stdout = '';
  let stderr = '';
  const quiet = options.quiet;
  const conditions = cv.status?.conditions ?? [];
  const accepted = (name: string): string => (accept.has(name) ? 'accepted ' : '');

  const failing = findCondition(conditions, 'Failing');
  if (failing !== undefined) {
    if (failing.status !== 'False') {
      if (!quiet)
        stdout += ocText(
          'conditionBlock',
          accepted('Failing'),
          failing.type,
          failing.status,
          failing.reason ?? '',
          indent(failing.message),
        );
      issues.add('Failing');
    }
  } else {
    if (!quiet) stderr += ocText('noFailingInfo', accepted('Failing'), 'Failing');
    issues.add('Failing');
  }
  const progressing = findCondition(conditions, 'Progressing');
  if (progressing?.status === 'True' && (progressing.message ?? '') !== '') {
    if (!quiet)
      stdout += ocText('progressing', accepted('Progressing'), indent(progressing.message));
    issues.add('Progressing');
  }
  const retrieved = findCondition(conditions, 'RetrievedUpdates');
  if (retrieved !== undefined && retrieved.status !== 'True') {
    if (!quiet)
      stderr += ocText('cannotRefresh', retrieved.reason ?? '', indent(retrieved.message));
    issues.add('CannotRetrieveUpdates');
  }
  // A ClusterVersion read from a file may lack spec; the API server's never does.
  const spec = cv.spec as ClusterVersion['spec'] | undefined;
  const channel = spec?.channel ?? '';
  if (!quiet && channel !== '') {
    const upstream = typeof spec?.upstream === 'string' ? spec.upstream : '';
    stdout += upstream === '' ? OC_RECOMMEND_TEXTS.upstreamUnset : ocText('upstream', upstream);
    const channels = cv.status?.desired.channels ?? [];
    stdout +=
      channels.length > 0
        ? ocText('channelWithAvailable', channel, channels.join(', '))
        : ocText('channel', channel);
  }

  const buckets = new Map<number, Map<number, ListedUpdate[]>>();
  const add = (parts: SemverParts, update: ListedUpdate): void => {
    let minors = buckets.get(parts.major);
    if (minors === undefined)
      buckets.set(parts.major, (minors = new Map<number, ListedUpdate[]>()));
    minors.set(parts.minor, [...(minors.get(parts.minor) ?? []), update]);
  };
  const conditionalUpdates = cv.status?.conditionalUpdates ?? [];
  for (const update of conditionalUpdates) {
    const version = update.release.version ?? '';
    const parts = semverParts(version);
    if (parts instanceof Error) {
      if (!quiet) stderr += ocText('cannotParseUpdate', version, parts.message);
      continue;
    }
    add(parts, {
      release: update.release,
      risks: Array.isArray(update.risks) ? (update.risks as ListedUpdate['risks']) : [],
      // Copied: the Upgradeable risk below edits them.
      conditions: Array.isArray(update.conditions)
        ? (update.conditions as Condition[]).map((c) => ({ ...c }))
        : [],
    });
  }
  for (const release of cv.status?.availableUpdates ?? []) {
    if (conditionalUpdates.some((c) => c.release.image === release.image)) continue;
    const version = release.version ?? '';
    const parts = semverParts(version);
    if (parts instanceof Error) {
      if (!quiet) stderr += ocText('cannotParseUpdate', version, parts.message);
      continue;
    }
    add(parts, { release, risks: [], conditions: [] });
  }

  const upgradeable = findCondition(conditions, 'Upgradeable');
  if (upgradeable?.status === 'False') {
    const current = cv.status?.desired.version ?? '';
    const parts = semverParts(current);
    if (parts instanceof Error) {
      if (!quiet)
        stderr += ocText(
          'cannotInject',
          upgradeable.type,
          upgradeable.status,
          ocText('cannotParseCurrent', current, parts.message),
          upgradeable.reason ?? '',
          indent(upgradeable.message),
        );
    } else {
      injectUpgradeableRisk(parts, upgradeable, buckets);
    }
  }

  const sorted = [...buckets.entries()]
    .sort(([a], [b]) => b - a)
    .flatMap(([major, minors]) =>
      [...minors.entries()]
        .sort(([a], [b]) => b - a)
        .map(([minor, updates]) => ({
          major,
          minor,
          updates: [...updates].sort((a, b) =>
            compareVersions(b.release.version ?? '', a.release.version ?? ''),
          ),
        })),
    );
  return { stdout, stderr, issues, buckets: sorted };
}

/**
 * oc's injectUpgradeableAsCondition: Upgradeable=False is a risk of every update to a later
 * minor (or major) version than the current one.
 */
function injectUpgradeableRisk(
  current: SemverParts,
  condition: Condition,
  buckets: Map<number, Map<number, ListedUpdate[]>>,
): void {
  const uri =
    current.minor <= 13
      ? `https://docs.openshift.com/container-platform/${String(current.major)}.${String(current.minor)}/updating/index.html#understanding_clusteroperator_conditiontypes_updating-clusters-overview`
      : `https://docs.openshift.com/container-platform/${String(current.major)}.${String(current.minor)}/updating/preparing_for_updates/updating-cluster-prepare.html#cluster-upgradeable_updating-cluster-prepare`;
  const message = condition.message ?? '';
  for (const [major, minors] of buckets) {
    if (major < current.major) continue;
    for (const [minor, targets] of minors) {
      if (major === current.major && minor <= current.minor) continue;
      minors.set(
        minor,
        targets.map((target) => {
          if (target.risks.some((r) => (r.message ?? '').includes(message))) return target;
          const risks = [...target.risks, { name: 'UpgradeableFalse', message, url: uri }];
          const conditions = target.conditions.map((c) => ({ ...c }));
          const recommended = conditions.find((c) => c.type === 'Recommended');
          if (recommended === undefined) {
            conditions.push({
              type: 'Recommended',
              status: 'False',
              reason: condition.reason ?? '',
              message,
              lastTransitionTime: condition.lastTransitionTime,
            });
          } else if (recommended.status === 'True') {
            Object.assign(recommended, {
              status: 'False',
              reason: condition.reason ?? '',
              message,
            });
          } else {
            Object.assign(recommended, {
              status: 'False',
              reason: 'MultipleReasons',
              message: `${message}\n\n${recommended.message ?? ''}`,
            });
          }
          return { ...target, risks, conditions };
        }),
      );
    }
  }
}

/** oc's notRecommendedCondition: undefined when the update has no risk or is recommended. */
export function notRecommendedCondition(update: ListedUpdate): Condition | undefined {
  if (update.risks.length === 0) return undefined;
  const c = findCondition(update.conditions, 'Recommended');
  if (c !== undefined) return c.status === 'True' ? undefined : c;
  // oc makes the list with make([]string, len(risks)) and then appends to it: as many empty
  // names as risks come first. Its message is reproduced as printed.
  const names = [...update.risks.map(() => ''), ...update.risks.map((r) => r.name ?? '')].sort();
  return {
    type: 'Recommended',
    status: 'Unknown',
    reason: 'NoConditions',
    message: ocText('noConditions', update.release.version ?? '', names.join(', ')),
    lastTransitionTime: '',
  };
}

export interface Rendered {
  readonly stdout: string;
  readonly stderr: string;
  /** oc's error (exit 1) after what was printed. */
  readonly error?: string;
  /** The updates shown, in order. */
  readonly shown: readonly ListedUpdate[];
  readonly issues: readonly string[];
}

type VerdictLookup = (release: Release) => ShownVerdict | undefined;

/** `(service, 3m ago)` after a verdict the service published; nothing after one made now. */
function publishedAge(verdict: ShownVerdict | undefined, now: Date): string {
  if (verdict?.source !== 'service' || verdict.checkedAt === undefined) return '';
  return ` (service, ${formatRelative(new Date(verdict.checkedAt), now)})`;
}

/** The VERIFY column's cell. */
function verifyCell(verdict: ShownVerdict | undefined, now: Date): string {
  if (verdict === undefined) return 'unknown';
  switch (verdict.result) {
    case 'verified':
      return `verified${publishedAge(verdict, now)}`;
    case 'refused':
      return `refused (${verdict.reason})${publishedAge(verdict, now)}`;
    case 'unknown':
      return 'unknown';
    default: {
      const never: never = verdict;
      throw new Error(`unknown verdict ${JSON.stringify(never)}`);
    }
  }
}

/** One line: `verified`, `refused (Reason): message`, `unknown: why`. */
export function describeVerdict(verdict: ShownVerdict | undefined, now: Date): string {
  if (verdict === undefined) return 'unknown: not checked';
  switch (verdict.result) {
    case 'verified':
      return `verified${publishedAge(verdict, now)}`;
    case 'refused':
      return `refused (${verdict.reason})${publishedAge(verdict, now)}: ${verdict.message}`;
    case 'unknown':
      return `unknown: ${verdict.message}`;
    default: {
      const never: never = verdict;
      throw new Error(`unknown verdict ${JSON.stringify(never)}`);
    }
  }
}

/** What follows a table row whose update is not verified: why, indented under it. */
function verdictDetail(verdict: UpdateVerdict | undefined): string {
  if (verdict?.result === 'verified') return '';
  const why = verdict === undefined ? 'not checked' : verdict.message;
  return `      ${why.replaceAll('\n', '\n      ')}\n`;
}

/**
 * Go's text/tabwriter as oc configures it (minimum cell width 14, padding 1, spaces): cells end
 * with a tab, the last text of a line is not aligned. Lines without cells pass through.
 */
class TabWriter {
  private pending: (readonly string[] | string)[] = [];
  private readonly write: (text: string) => void;

  constructor(write: (text: string) => void) {
    this.write = write;
  }

  row(cells: readonly string[]): void {
    this.pending.push(cells);
  }

  text(line: string): void {
    this.pending.push(line);
  }

  flush(): void {
    const rows = this.pending.filter((r): r is readonly string[] => typeof r !== 'string');
    const widths: number[] = [];
    for (const cells of rows)
      cells.slice(0, -1).forEach((cell, i) => {
        widths[i] = Math.max(widths[i] ?? 14, cell.length + 1);
      });
    for (const r of this.pending) {
      if (typeof r === 'string') {
        this.write(r);
        continue;
      }
      const last = r.length - 1;
      this.write(
        `${r.map((cell, i) => (i < last ? cell.padEnd(widths[i] ?? 14) : cell)).join('')}\n`,
      );
    }
    this.pending = [];
  }
}

/**
 * oc's listing (or its --version view) with the VERIFY column and lines. `verdictFor` gives each
 * shown update's verdict (undefined: not checked).
 */
export function renderRecommend(
  plan: RecommendPlan,
  options: RecommendOptions,
  verdictFor: VerdictLookup,
  now: Date = new Date(),
): Rendered {
  const issues = new Set(plan.issues);
  const accept = new Set(options.accept);
  let stdout = plan.stdout;
  const stderr = plan.stderr;
  const shown: ListedUpdate[] = [];
  const out = (text: string): void => {
    stdout += text;
  };
  const done = (error?: string): Rendered => ({
    stdout,
    stderr,
    ...(error !== undefined ? { error } : {}),
    shown,
    issues: [...issues].sort(),
  });

  if (options.version !== undefined) {
    const wanted = options.version;
    const parts = semverParts(wanted);
    if (plan.buckets.length === 0) return done(ocText('noUpdatesForVersion', wanted));
    if (parts instanceof Error) return done(ocText('noVersion', wanted));
    if (!plan.buckets.some((b) => b.major === parts.major))
      return done(ocText('noMajor', parts.major, wanted));
    const bucket = plan.buckets.find((b) => b.major === parts.major && b.minor === parts.minor);
    if (bucket === undefined) return done(ocText('noMinor', parts.major, parts.minor, wanted));
    const update = bucket.updates.find((u) => u.release.version === wanted);
    if (update === undefined) return done(ocText('noVersion', wanted));
    shown.push(update);
    const { release } = update;
    const verdict = verdictFor(release);
    if (!options.quiet) out('\n');
    const c = notRecommendedCondition(update);
    if (c === undefined) {
      if (!options.quiet)
        out(ocText('versionNoIssues', wanted, release.image ?? '', release.url ?? ''));
    } else {
      if (!options.quiet) {
        const reason = accept.has('ConditionalUpdateRisk')
          ? ocText('acceptedRisk', c.reason ?? '')
          : (c.reason ?? '');
        out(
          ocText(
            'versionRisk',
            wanted,
            c.type,
            c.status,
            release.image ?? '',
            release.url ?? '',
            reason,
            indent(c.message),
          ),
        );
      }
      issues.add('ConditionalUpdateRisk');
    }
    if (!options.quiet) out(`Verify: ${describeVerdict(verdict, now)}\n`);
    if (verdict?.result !== 'verified') issues.add(NOT_VERIFIED_ISSUE);
    const unaccepted = [...issues].filter((i) => !accept.has(i)).sort();
    if (unaccepted.length > 0) return done(ocText('notAccepted', unaccepted.join(',')));
    if (issues.size > 0 && !options.quiet)
      out(ocText('onlyAccepted', wanted, [...issues].sort().join(',')));
    return done();
  }

  if (plan.buckets.length === 0) {
    out(OC_RECOMMEND_TEXTS.noUpdates);
    return done();
  }
  const outdated = options.showOutdatedReleases;
  const header = ['  VERSION', 'ISSUES', 'VERIFY'];
  for (const { major, minor, updates } of plan.buckets) {
    out('\n');
    out(ocText('updatesTo', major, minor));
    let lastWasLong = false;
    let headerQueued = true;
    const w = new TabWriter(out);
    w.row(header);
    for (const [i, update] of updates.entries()) {
      const c = notRecommendedCondition(update);
      if (lastWasLong || (c !== undefined && !outdated)) {
        out('\n');
        if (c === undefined && !headerQueued) {
          w.row(header);
          headerQueued = true;
        }
        lastWasLong = false;
      }
      if (i === 2 && !outdated) {
        out(ocText('older', updates.length - 2, major, minor));
        break;
      }
      shown.push(update);
      const { release } = update;
      const verdict = verdictFor(release);
      if (c === undefined) {
        w.row([
          `  ${release.version ?? ''}`,
          OC_RECOMMEND_TEXTS.noKnownIssues,
          verifyCell(verdict, now),
        ]);
        w.text(verdictDetail(verdict));
        if (!outdated) {
          headerQueued = false;
          w.flush();
        }
      } else if (outdated) {
        w.row([`  ${release.version ?? ''}`, c.reason ?? '', verifyCell(verdict, now)]);
        w.text(verdictDetail(verdict));
      } else {
        out(ocText('longVersion', release.version ?? '', release.image ?? ''));
        out(ocText('longRisk', c.reason ?? '', indent((c.message ?? '').trim())));
        out(`  Verify: ${describeVerdict(verdict, now)}\n`);
        lastWasLong = true;
      }
    }
    if (outdated) w.flush();
  }
  return done();
}

/** `--output json|yaml`: the issues and every update shown, with its risk and verdict. */
function toReport(
  plan: RecommendPlan,
  rendered: Rendered,
  verdicts: ReadonlyMap<string, ShownVerdict>,
): unknown {
  return {
    issues: rendered.issues,
    ...(rendered.error !== undefined ? { error: rendered.error } : {}),
    updates: rendered.shown.map((u) => {
      const c = notRecommendedCondition(u);
      return {
        version: u.release.version ?? '',
        image: u.release.image ?? '',
        ...(u.release.url !== undefined ? { url: u.release.url } : {}),
        recommended:
          c === undefined
            ? null
            : { status: c.status, reason: c.reason ?? '', message: c.message ?? '' },
        risks: u.risks.map((r) => r.name ?? ''),
        verify: verdicts.get(u.release.image ?? '') ?? {
          result: 'unknown',
          message: 'not checked',
        },
      };
    }),
    buckets: plan.buckets.map((b) => `${String(b.major)}.${String(b.minor)}`),
  };
}
