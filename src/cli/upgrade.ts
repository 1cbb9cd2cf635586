import { VerifyError } from '../errors.js';
import { BY_TAG_FORCED_WARNING, BY_TAG_REFUSED } from '../image/oc-messages.js';
import { parsePullspec } from '../image/pullspec.js';
import type { KubePort } from '../kube/client.js';
import type { ClusterVersion, Condition, Release, Update } from '../kube/types.js';
import {
  CLUSTER_OPTIONS,
  CLUSTER_VERSION_NAME,
  CommandRefusal,
  connectCluster,
  errorText,
  parseCommandArgs,
  readClusterVersion,
  runClusterCommand,
} from './history.js';
import { ExitCode, UsageError } from './usage-error.js';
import type { CommandIo } from './verify.js';

export const UPGRADE_HELP = `Usage: cvo-verifier upgrade [options]

Shows or requests a cluster update the way 'oc adm upgrade' does, with the same rules and texts.
Without flags it prints the current version, the requested update, the ReleaseAccepted and
ReleaseVerified conditions and the recommended updates. With --to or --to-image it sends a JSON
merge patch of spec.desiredUpdate {version, image, force}; the verifier service then decides
whether the release may be trusted (see cvo-verifier status).

Options:
  --to VERSION                 update to VERSION, looked up in status.availableUpdates (and
                               status.conditionalUpdates); both version and image are set
  --to-image PULLSPEC          update to a release image; it must be by digest unless --force
  --allow-explicit-upgrade     allow a --to-image target that is not a recommended update
  --allow-not-recommended      allow a conditional update that is not recommended
  --force                      sets spec.desiredUpdate.force: the cluster accepts a release it
                               cannot verify (recorded as verified: false with the accepted risk).
                               Only for unsigned test releases or images you verified yourself
  --clear                      remove spec.desiredUpdate (cancel an update not yet rolled out)
  --include-not-recommended    also list conditional updates that are not recommended
  --kubeconfig PATH            kubeconfig file
  --context NAME               kubeconfig context
  -h, --help                   show this help

The cluster comes from --kubeconfig, else KUBECONFIG, else the in-cluster service account, else
~/.kube/config.

Exit codes: 0 done (or nothing to do: already at that release); 1 refused: a by-tag
--to-image without --force, a target that is not a recommended update without
--allow-explicit-upgrade, an unknown --to version, --clear with no update requested, a missing
ClusterVersion or a failed API call; 2 usage or configuration error (unknown or conflicting
flags, a malformed version or pullspec, no cluster configured).
`;

// oc's other texts (openshift/oc pkg/cli/admin/upgrade/upgrade.go).
const FORCE_WARNING =
  '--force overrides cluster verification of your supplied release image and waives any update precondition failures. Only use this if you are testing unsigned release images or you are working around a known bug in the cluster-version operator and you have verified the authenticity of the provided image yourself.';
const EXPLICIT_WARNING =
  'The requested upgrade image is not one of the available updates. You have used --allow-explicit-upgrade for the update to proceed anyway';

// Semantic Versioning 2.0.0, as blang/semver (which oc uses) parses it.
const SEMVER_RE =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

export async function runUpgrade(argv: readonly string[], io: CommandIo): Promise<number> {
  const values = parseCommandArgs('upgrade', argv, {
    ...CLUSTER_OPTIONS,
    to: { type: 'string' },
    'to-image': { type: 'string' },
    force: { type: 'boolean' },
    'allow-explicit-upgrade': { type: 'boolean' },
    'allow-not-recommended': { type: 'boolean' },
    'include-not-recommended': { type: 'boolean' },
    clear: { type: 'boolean' },
  });
  if (values.help === true) {
    io.stdout(UPGRADE_HELP);
    return ExitCode.Verified;
  }
  const to = values.to;
  const toImage = values['to-image'];
  const force = values.force === true;
  if (values.clear === true && (to !== undefined || toImage !== undefined))
    throw new UsageError('--clear may not be specified with any other flags');
  if (to !== undefined && toImage !== undefined)
    throw new UsageError('only one of --to or --to-image may be provided');
  if (to !== undefined) checkVersion(to);
  // oc refuses a by-tag image before it talks to the cluster, so nothing can be patched.
  if (toImage !== undefined && !checkToImage(toImage)) {
    if (!force) {
      io.stderr(`error: ${BY_TAG_REFUSED}\n`);
      return ExitCode.NotVerified;
    }
    io.stderr(`warning: ${BY_TAG_FORCED_WARNING}\n`);
  }
  const kube = connectCluster(values.kubeconfig, values.context, io.env);
  return runClusterCommand(io, async () => {
    const cv = await readClusterVersion(kube);
    if (values.clear === true) return clear(kube, cv, io);
    if (to !== undefined || toImage !== undefined) {
      return requestUpdate(kube, cv, io, {
        ...(to !== undefined ? { to } : {}),
        ...(toImage !== undefined ? { toImage } : {}),
        force,
        allowExplicit: values['allow-explicit-upgrade'] === true,
        allowNotRecommended: values['allow-not-recommended'] === true,
      });
    }
    io.stdout(formatUpgradeSummary(cv, values['include-not-recommended'] === true));
    return ExitCode.Verified;
  });
}

function checkVersion(to: string): void {
  if (!SEMVER_RE.test(to)) {
    throw new UsageError(
      `--to must be a semantic version (e.g. 4.0.1 or 4.1.0-nightly-20181104): ${JSON.stringify(to)} is not one`,
    );
  }
}

/** oc's pullspec checks (usage errors); returns whether the image is by digest. */
function checkToImage(image: string): boolean {
  let parsed;
  try {
    parsed = parsePullspec(image);
  } catch (err) {
    if (err instanceof VerifyError)
      throw new UsageError(`--to-image must be a valid image pull spec: ${err.message}`);
    throw err;
  }
  // `4.0.1` parses as docker.io/library/4.0.1; oc catches that simple mistake.
  if (!(image.split('@')[0] ?? '').includes('/'))
    throw new UsageError(
      '--to-image must be a valid image pull spec: no registry or repository specified',
    );
  if (parsed.digest === undefined && parsed.tag === undefined)
    throw new UsageError('--to-image must be a valid image pull spec: no tag or digest specified');
  // By digest is what the cluster can verify; a tag beside the digest does not change that.
  return parsed.digest !== undefined;
}

interface UpdateRequest {
  readonly to?: string;
  readonly toImage?: string;
  readonly force: boolean;
  readonly allowExplicit: boolean;
  readonly allowNotRecommended: boolean;
}

/** A conditional update's `Recommended` condition (metav1.Condition), when present. */
function recommended(update: { [key: string]: unknown }): Condition | undefined {
  const conditions = update.conditions;
  if (!Array.isArray(conditions)) return undefined;
  return (conditions as Condition[]).find((c) => c.type === 'Recommended');
}

function digestOf(image: string): string | undefined {
  const at = image.indexOf('@');
  return at === -1 ? undefined : image.slice(at + 1);
}

/** oc's targetMatch: same version, same image, or the same digest (what verification checks). */
function targetMatches(release: Release, to?: string, toImage?: string): boolean {
  if (to !== undefined && release.version === to) return true;
  if (toImage === undefined || release.image === undefined) return false;
  if (release.image === toImage) return true;
  const digest = digestOf(toImage);
  return digest !== undefined && digestOf(release.image) === digest;
}

async function requestUpdate(
  kube: KubePort,
  cv: ClusterVersion,
  io: CommandIo,
  request: UpdateRequest,
): Promise<number> {
  const { to, toImage } = request;
  const desired = cv.status?.desired;
  if (to !== undefined && to === desired?.version) {
    io.stdout(`info: Cluster is already at version ${to}\n`);
    return ExitCode.Verified;
  }
  if (toImage !== undefined && toImage === desired?.image) {
    io.stdout(`info: Cluster is already at ${toImage}\n`);
    return ExitCode.Verified;
  }

  let update: { version: string; image: string } | undefined;
  const possible: Release[] = [];
  for (const available of cv.status?.availableUpdates ?? []) {
    if (targetMatches(available, to, toImage)) {
      // oc keeps the image exactly as requested; the version comes from the recommendation.
      update = { version: available.version ?? '', image: toImage ?? available.image ?? '' };
      break;
    }
    possible.push(available);
  }
  if (update === undefined) {
    for (const conditional of cv.status?.conditionalUpdates ?? []) {
      const c = recommended(conditional);
      if (c === undefined || c.status === 'True') continue;
      const { release } = conditional;
      if (targetMatches(release, to, toImage)) {
        const summary = `${c.type}=${c.status}`;
        if (!request.allowNotRecommended) {
          throw new CommandRefusal(
            `the update ${release.version ?? ''} is not one of the recommended updates, but is available as a conditional update. To accept the ${summary} risk and to proceed with update use --allow-not-recommended.\n  Reason: ${c.reason ?? ''}\n  Message: ${(c.message ?? '').replaceAll('\n', '\n  ')}\n`,
          );
        }
        update = { version: release.version ?? '', image: release.image ?? '' };
        io.stderr(
          `warning: with --allow-not-recommended you have accepted the risks with ${release.version ?? ''} and bypassed ${summary} ${c.reason ?? ''}: ${c.message ?? ''}\n`,
        );
        break;
      }
      if (request.allowNotRecommended) possible.push(release);
    }
  }
  if (update === undefined && toImage !== undefined && request.allowExplicit) {
    update = { version: '', image: toImage };
    io.stderr(`warning: ${EXPLICIT_WARNING}\n`);
  }
  if (update === undefined) throw new CommandRefusal(noTargetMessage(cv, possible, request));

  if (request.force) io.stderr(`warning: ${FORCE_WARNING}\n`);
  const patch: Update = { version: update.version, image: update.image, force: request.force };
  try {
    await kube.mergePatchClusterVersion(CLUSTER_VERSION_NAME, { spec: { desiredUpdate: patch } });
  } catch (err) {
    throw new CommandRefusal(`Unable to upgrade: ${errorText(err)}`);
  }
  io.stdout(
    update.version !== ''
      ? `Requested update to ${update.version}\n`
      : `Requested update to release image ${update.image}\n`,
  );
  io.stdout(`info: spec.desiredUpdate is now ${describeUpdate(patch)}\n`);
  return ExitCode.Verified;
}

/** oc's explanation when the requested target is not among the updates on offer. */
function noTargetMessage(
  cv: ClusterVersion,
  possible: readonly Release[],
  request: UpdateRequest,
): string {
  const option = request.toImage !== undefined ? '--allow-explicit-upgrade' : '--to-image';
  const nextStep = `${option} to continue with the update`;
  const retrieved = cv.status?.conditions?.find((c) => c.type === 'RetrievedUpdates');
  if (retrieved !== undefined && retrieved.status !== 'True') {
    return `cannot refresh available updates:\n  Reason: ${retrieved.reason ?? ''}\n  Message: ${(retrieved.message ?? '').replaceAll('\n', '\n  ')}\n\nspecify ${nextStep}.`;
  }
  if (possible.length === 0) {
    return request.allowNotRecommended
      ? `no recommended or conditional updates, specify ${nextStep} or wait for new updates to be available.`
      : `no recommended updates, specify ${nextStep} or wait for new updates to be available.`;
  }
  const versions = [...possible].sort(compareReleasesDescending).map((r) => r.version ?? '');
  return `the update is not one of the possible targets: ${versions.join(', ')}. specify ${nextStep}.`;
}

async function clear(kube: KubePort, cv: ClusterVersion, io: CommandIo): Promise<number> {
  const original = cv.spec.desiredUpdate;
  if (original === undefined) {
    throw new CommandRefusal('No update in progress: spec.desiredUpdate is not set');
  }
  let updated;
  try {
    updated = await kube.mergePatchClusterVersion(CLUSTER_VERSION_NAME, {
      spec: { desiredUpdate: null },
    });
  } catch (err) {
    throw new CommandRefusal(`Unable to cancel current rollout: ${errorText(err)}`);
  }
  const desired = updated.status?.desired ?? {};
  io.stdout(
    isEquivalent(original, desired)
      ? `Cleared the update field, still at ${releaseName(desired)}\n`
      : `Cancelled requested upgrade to ${updateName(original)}\n`,
  );
  io.stdout(`info: removed spec.desiredUpdate ${describeUpdate(original)}\n`);
  return ExitCode.Verified;
}

function isEquivalent(update: Update, release: Release): boolean {
  if (nonEmpty(update.image) && nonEmpty(release.image)) return update.image === release.image;
  if (nonEmpty(update.version) && nonEmpty(release.version))
    return update.version === release.version;
  return false;
}

function nonEmpty(s: string | undefined): s is string {
  return s !== undefined && s !== '';
}

function updateName(update: Update): string {
  return nonEmpty(update.version)
    ? update.version
    : nonEmpty(update.image)
      ? update.image
      : '<unknown>';
}

function releaseName(release: Release): string {
  return nonEmpty(release.version)
    ? release.version
    : nonEmpty(release.image)
      ? release.image
      : '<unknown>';
}

function describeUpdate(update: Update): string {
  const parts = [
    `version=${JSON.stringify(update.version ?? '')}`,
    `image=${JSON.stringify(update.image ?? '')}`,
    `force=${String(update.force === true)}`,
  ];
  if (nonEmpty(update.architecture)) parts.push(`architecture=${update.architecture}`);
  return parts.join(' ');
}

/**
 * Orders releases newest first by semantic version, as oc lists them; versions that are not
 * semantic versions come after, in reverse string order.
 */
export function compareReleasesDescending(a: Release, b: Release): number {
  return compareVersions(b.version ?? '', a.version ?? '');
}

/** Semantic Versioning precedence; non-semver strings sort below every semver. */
export function compareVersions(a: string, b: string): number {
  const pa = SEMVER_RE.exec(a);
  const pb = SEMVER_RE.exec(b);
  if (pa === null || pb === null) {
    if (pa !== null) return 1;
    if (pb !== null) return -1;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  for (let i = 1; i <= 3; i++) {
    const d = Number(pa[i]) - Number(pb[i]);
    if (d !== 0) return Math.sign(d);
  }
  const preA = pa[4];
  const preB = pb[4];
  if (preA === undefined || preB === undefined) {
    // A release sorts above its pre-releases.
    return preA === preB ? 0 : preA === undefined ? 1 : -1;
  }
  const ia = preA.split('.');
  const ib = preB.split('.');
  for (let i = 0; i < Math.max(ia.length, ib.length); i++) {
    const x = ia[i];
    const y = ib[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d+$/.test(x);
    const ny = /^\d+$/.test(y);
    if (nx && ny) {
      const d = Number(x) - Number(y);
      if (d !== 0) return Math.sign(d);
    } else if (nx !== ny) {
      return nx ? -1 : 1;
    } else if (x !== y) {
      return x < y ? -1 : 1;
    }
  }
  return 0;
}

function conditionBlock(c: Condition): string {
  return `${c.type}=${c.status}\n\n  Reason: ${c.reason ?? ''}\n  Message: ${(c.message ?? '').replaceAll('\n', '\n  ')}\n\n`;
}

/** oc's aligned two-column table (tabwriter with a minimum cell width of 14). */
function releaseTable(releases: readonly Release[]): string {
  const rows = [
    ['  VERSION', 'IMAGE'],
    ...releases.map((r) => [`  ${r.version ?? ''}`, r.image ?? '']),
  ];
  const width = Math.max(14, ...rows.map(([v = '']) => v.length + 1));
  return rows.map(([v = '', image = '']) => `${v.padEnd(width)}${image}\n`).join('');
}

/**
 * What `cvo-verifier upgrade` prints without flags: `oc adm upgrade`'s summary, plus the
 * requested update and this service's verdict conditions, which oc leaves to `oc describe`.
 */
export function formatUpgradeSummary(cv: ClusterVersion, includeNotRecommended: boolean): string {
  const status = cv.status;
  const find = (type: string): Condition | undefined =>
    status?.conditions?.find((c) => c.type === type);
  let out = '';
  const failing = find('Failing');
  if (failing !== undefined && failing.status !== 'False') out += conditionBlock(failing);
  const progressing = find('Progressing');
  const history = status?.history ?? [];
  const current = history.find((h) => h.state === 'Completed');
  if (progressing?.message !== undefined && progressing.message !== '') {
    out +=
      progressing.status === 'True'
        ? `info: An upgrade is in progress. ${progressing.message}\n`
        : `${progressing.message}\n`;
  } else if (current !== undefined) {
    // This service never writes Progressing; the newest completed release is the current one.
    out += `Cluster version is ${releaseName({ version: current.version ?? '', image: current.image })}\n`;
  }
  const desired = status?.desired;
  if (desired !== undefined && nonEmpty(desired.image) && desired.image !== current?.image) {
    const entry = history.find((h) => h.image === desired.image);
    // Without a version the image is the name: not printed twice.
    const name = nonEmpty(desired.version)
      ? `${desired.version} (${desired.image})`
      : desired.image;
    out += `Desired release: ${name}${entry !== undefined ? `, verified: ${String(entry.verified)}` : ''}\n`;
  }
  const requested = cv.spec.desiredUpdate;
  if (requested !== undefined) out += `Requested update: ${describeUpdate(requested)}\n`;
  out += '\n';

  const upgradeable = find('Upgradeable');
  if (upgradeable?.status === 'False') out += conditionBlock(upgradeable);
  for (const type of ['Invalid', 'ReleaseAccepted', 'ReleaseVerified']) {
    const c = find(type);
    // The CVO removes Invalid when the spec is valid; Invalid=False (earlier versions of this
    // service wrote it) says nothing more and is only noise here.
    if (c !== undefined && (type !== 'Invalid' || c.status !== 'False')) out += conditionBlock(c);
  }

  const channel = cv.spec.channel;
  if (channel !== undefined && channel !== '') {
    const upstream = cv.spec.upstream;
    out +=
      typeof upstream === 'string' && upstream !== ''
        ? `Upstream: ${upstream}\n`
        : 'Upstream is unset, so the cluster will use an appropriate default.\n';
    const channels = desired?.channels ?? [];
    out +=
      channels.length > 0
        ? `Channel: ${channel} (available channels: ${channels.join(', ')})\n`
        : `Channel: ${channel}\n`;
  }

  const available = [...(status?.availableUpdates ?? [])].sort(compareReleasesDescending);
  if (available.length > 0) {
    out += `\nRecommended updates:\n\n${releaseTable(available)}`;
  } else {
    out +=
      'No updates available. You may still upgrade to a specific release image with --to-image or wait for new updates to be available.\n';
  }
  const notRecommended = (status?.conditionalUpdates ?? [])
    .map((u) => ({ release: u.release, condition: recommended(u) }))
    .filter((u) => u.condition !== undefined && u.condition.status !== 'True')
    .sort((a, b) => compareReleasesDescending(a.release, b.release));
  if (includeNotRecommended) {
    if (notRecommended.length === 0) {
      out +=
        '\nNo updates which are not recommended based on your cluster configuration are available.\n';
    } else {
      out += '\nUpdates with known issues:\n';
      for (const { release, condition } of notRecommended) {
        out += `\n  Version: ${release.version ?? ''}\n  Image: ${release.image ?? ''}\n`;
        out += `  Reason: ${condition?.reason ?? ''}\n  Message: ${(condition?.message ?? '').trim().replaceAll('\n', '\n  ')}\n`;
      }
    }
  } else if (notRecommended.length > 0) {
    const unknown = notRecommended.find((u) => u.condition?.status !== 'False');
    const qualifier =
      unknown?.condition !== undefined
        ? `, or where the recommended status is ${JSON.stringify(unknown.condition.status)},`
        : '';
    out += `\nAdditional updates which are not recommended${qualifier} for your cluster configuration are available, to view those re-run the command with --include-not-recommended.\n`;
  }
  return out;
}
