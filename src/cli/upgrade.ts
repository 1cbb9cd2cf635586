import { goQuote } from '../controller/target.js';
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
ReleaseVerified conditions and the recommended updates. With --to, --to-image, --to-latest or
--to-multi-arch it sends a JSON merge patch of spec.desiredUpdate {architecture, version, image,
force} (keeping acceptRisks); the verifier service then decides whether the release may be
trusted (see cvo-verifier status).

Options:
  --to VERSION                 update to VERSION, looked up in status.availableUpdates (and
                               status.conditionalUpdates); both version and image are set
  --to-image PULLSPEC          update to a release image; it must be by digest without a tag
                               (name@sha256:...) unless --force
  --to-latest                  update to the highest (semantic version) available update; with
                               none, says the cluster is already at the latest and exits 0
  --to-multi-arch              migrate the current version to its multi-architecture release:
                               sets {architecture: Multi, version: <current version>}. The
                               verifier service resolves it as the CVO does, to the current
                               version's entry in status.availableUpdates, and verifies that
                               release image like any target (GPG and Sigstore on its digest,
                               the whole payload for each Node architecture); with no such
                               entry there is nothing to verify (it queries no update service)
  --allow-explicit-upgrade     allow a --to-image target that is not a recommended update
  --allow-not-recommended      allow a conditional update that is not recommended (--to-latest
                               then also considers them)
  --allow-upgrade-with-warnings
                               update although the cluster is Invalid, Failing or already
                               Progressing (oc's client-side guards; refused without it)
  --force                      sets spec.desiredUpdate.force: the cluster accepts a release it
                               cannot verify (recorded as verified: false with the accepted risk).
                               Only for unsigned test releases or images you verified yourself
  --clear                      cancel a requested update not yet rolled out: removes
                               spec.desiredUpdate, or keeps only its acceptRisks
  --include-not-recommended    also list conditional updates that are not recommended
  --kubeconfig PATH            kubeconfig file
  --context NAME               kubeconfig context
  -h, --help                   show this help

Boolean flags also take a value, as oc's do (--to-latest=true, --force=false).
The cluster comes from --kubeconfig, else KUBECONFIG, else the in-cluster service account, else
~/.kube/config.

Exit codes: 0 done, or nothing to do (already at that release or the latest one, --clear with
no update requested); 1 refused: a pullspec with a tag (also name:tag@digest) without --force,
a target that is not a recommended update without --allow-explicit-upgrade, an unknown --to
version, a cluster that is Invalid, Failing or Progressing without
--allow-upgrade-with-warnings, --to-multi-arch when it was already requested, a missing
ClusterVersion or a failed API call; 2 usage or configuration error (unknown or conflicting
flags, a malformed version or pullspec, no cluster configured).
`;

/**
 * oc's texts, as the Go format strings of openshift/oc pkg/cli/admin/upgrade/upgrade.go, byte for
 * byte (test/cli/oc-upgrade-texts.test.ts checks each against oc's source text, cited by line at a
 * named commit). `%s`/`%v` take a string, `%q` a string quoted as Go quotes it. A text oc writes
 * with Fprintln has no newline here.
 */
export const OC_UPGRADE_TEXTS = {
  clearWithOthers: '--clear may not be specified with any other flags',
  multiArchWithOthers: '--to-multi-arch may not be used with --to, --to-image, or --to-latest',
  toAndToImage: 'only one of --to or --to-image may be provided',
  toNotSemver: '--to must be a semantic version (e.g. 4.0.1 or 4.1.0-nightly-20181104): %v',
  invalidPullspec: '--to-image must be a valid image pull spec: %v',
  noRepository: '--to-image must be a valid image pull spec: no registry or repository specified',
  noTagOrDigest: '--to-image must be a valid image pull spec: no tag or digest specified',
  byTagForced: `warning: ${BY_TAG_FORCED_WARNING}`,
  byTagRefused: BY_TAG_REFUSED,
  noUpdateInProgress: 'info: No update in progress\n',
  cancelFailed: 'Unable to cancel current rollout: %v',
  cleared: 'Cleared the update field, still at %s\n',
  cancelled: 'Cancelled requested upgrade to %s\n',
  multiArchAlreadyRequested:
    'info: Update to multi cluster architecture has already been requested',
  guardsRefused: '%s\n\nIf you want to upgrade anyway, use --allow-upgrade-with-warnings.',
  guardsBypassed: 'warning: --allow-upgrade-with-warnings is bypassing: %s\n',
  force:
    'warning: --force overrides cluster verification of your supplied release image and waives any update precondition failures. Only use this if you are testing unsigned release images or you are working around a known bug in the cluster-version operator and you have verified the authenticity of the provided image yourself.',
  multiArchRequested: 'Requested update to multi cluster architecture',
  alreadyAtVersion: 'info: Cluster is already at version %s\n',
  alreadyAtImage: 'info: Cluster is already at %s\n',
  availableMatchFailed:
    'warning: unable to calculate match for the update target in available updates: %v\n',
  conditionalMatchFailed:
    'warning: unable to calculate match for the update target in available conditional updates: %v\n',
  conditionalRefused:
    'the update %s is not one of the recommended updates, but is available as a conditional update. To accept the %s=%s risk and to proceed with update use --allow-not-recommended.\n  Reason: %s\n  Message: %s\n',
  conditionalAccepted:
    'warning: with --allow-not-recommended you have accepted the risks with %s and bypassed %s=%s %s: %s\n',
  explicit:
    'warning: The requested upgrade image is not one of the available updates. You have used --allow-explicit-upgrade for the update to proceed anyway',
  nextStep: '%s to continue with %s update',
  cannotRefresh: 'cannot refresh available updates:\n  Reason: %s\n  Message: %s\n\nspecify %s.',
  noRecommendedOrConditional:
    'no recommended or conditional updates, specify %s or wait for new updates to be available.',
  alreadyLatest: 'info: Cluster is already at the latest available version %s\n',
  noRecommended: 'no recommended updates, specify %s or wait for new updates to be available.',
  notPossibleTarget: 'the update is not one of the possible targets: %s. specify %s.',
  requestedVersion: 'Requested update to %s\n',
  requestedImage: 'Requested update to release image %s\n',
  upgradeFailed: 'Unable to upgrade: %v',
  guardInvalid:
    'the cluster version object is invalid, you must correct the invalid state first:\n\n  Reason: %s\n  Message: %s',
  guardFailing:
    'the cluster is experiencing an error reconciling %q:\n\n  Reason: %s\n  Message: %s',
  guardFailingNoTarget:
    'ClusterVersion status.desired has neither a version nor image; please open a bug',
  guardProgressing: 'the cluster is already upgrading:\n\n  Reason: %s\n  Message: %s',
} as const;

type OcText = keyof typeof OC_UPGRADE_TEXTS;

/** Go's fmt verbs as oc uses them in these texts: %s and %v of strings, %q quoted. */
export function formatOcText(name: OcText, ...args: readonly string[]): string {
  let next = 0;
  return OC_UPGRADE_TEXTS[name].replace(/%[sqv]/g, (verb) => {
    const arg = args[next++];
    if (arg === undefined) throw new Error(`formatOcText ${name}: too few arguments`);
    return verb === '%q' ? goQuote(arg) : arg;
  });
}

/** Fprintln: the text and a newline. */
function line(text: string): string {
  return `${text}\n`;
}

/** What kcmdutil.CheckErr prints for an error: `error: ` unless already there, one newline. */
export function ocErrorText(message: string): string {
  const text = message.startsWith('error: ') ? message : `error: ${message}`;
  return text.endsWith('\n') ? text : `${text}\n`;
}

// Semantic Versioning 2.0.0, as blang/semver (which oc uses) parses it.
const SEMVER_RE =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

const STRING_FLAGS = ['to', 'to-image', 'kubeconfig', 'context'] as const;
const BOOLEAN_FLAGS = [
  'to-latest',
  'to-multi-arch',
  'force',
  'allow-explicit-upgrade',
  'allow-upgrade-with-warnings',
  'allow-not-recommended',
  'include-not-recommended',
  'clear',
] as const;
type BooleanFlag = (typeof BOOLEAN_FLAGS)[number];

/** What the command line asks for, after oc's Complete checks. */
export interface UpgradeRequest {
  readonly to: string;
  readonly toImage: string;
  readonly toLatest: boolean;
  readonly toMultiArch: boolean;
  readonly force: boolean;
  readonly clear: boolean;
  readonly allowExplicit: boolean;
  readonly allowNotRecommended: boolean;
  readonly allowUpgradeWithWarnings: boolean;
  readonly includeNotRecommended: boolean;
}

/** Opens the cluster from --kubeconfig and --context. */
export type UpgradeConnect = (
  kubeconfig: string | undefined,
  context: string | undefined,
) => KubePort;

/**
 * Runs `cvo-verifier upgrade`. `connect` opens the cluster (tests pass an in-memory one); it is
 * called only after the command line passed oc's checks, which need no cluster.
 */
export async function runUpgrade(
  argv: readonly string[],
  io: CommandIo,
  connect: UpgradeConnect = (kubeconfig, context) =>
    connectCluster(kubeconfig, context, io.env, io.stderr),
): Promise<number> {
  const { args, explicit } = takeBooleanValues(argv);
  const values = parseCommandArgs('upgrade', args, {
    ...CLUSTER_OPTIONS,
    to: { type: 'string' },
    'to-image': { type: 'string' },
  });
  if (values.help === true) {
    io.stdout(UPGRADE_HELP);
    return ExitCode.Verified;
  }
  const flag = (name: BooleanFlag): boolean => explicit.get(name) === true;
  const request: UpgradeRequest = {
    // oc tests len(o.To) > 0: an empty value is no value.
    to: values.to ?? '',
    toImage: values['to-image'] ?? '',
    toLatest: flag('to-latest'),
    toMultiArch: flag('to-multi-arch'),
    force: flag('force'),
    clear: flag('clear'),
    allowExplicit: flag('allow-explicit-upgrade'),
    allowNotRecommended: flag('allow-not-recommended'),
    allowUpgradeWithWarnings: flag('allow-upgrade-with-warnings'),
    includeNotRecommended: flag('include-not-recommended'),
  };
  // oc's Complete: checks that need no cluster, so a refusal here patches nothing.
  try {
    checkRequest(request, io);
  } catch (err) {
    if (!(err instanceof CommandRefusal)) throw err;
    io.stderr(ocErrorText(err.message));
    return ExitCode.NotVerified;
  }
  const kube = connect(values.kubeconfig, values.context);
  return runClusterCommand(io, async () => {
    try {
      return await upgradeCluster(kube, request, io);
    } catch (err) {
      // oc's own error printing (a message ending in a newline gets no second one).
      if (!(err instanceof CommandRefusal)) throw err;
      io.stderr(ocErrorText(err.message));
      return ExitCode.NotVerified;
    }
  });
}

/**
 * pflag lets a boolean flag take a value (`--to-latest=true`, oc's own example); node's parseArgs
 * does not. Such values (and bare occurrences, so the last one wins as in pflag) are taken out
 * of argv here, read as Go's strconv.ParseBool reads them.
 */
function takeBooleanValues(argv: readonly string[]): {
  args: string[];
  explicit: Map<BooleanFlag, boolean>;
} {
  const args: string[] = [];
  const explicit = new Map<BooleanFlag, boolean>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') {
      args.push(...argv.slice(i));
      break;
    }
    const match = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    const name = match?.[1] ?? '';
    if ((STRING_FLAGS as readonly string[]).includes(name) && match?.[2] === undefined) {
      // The next argument is this flag's value, whatever it looks like.
      args.push(arg, ...argv.slice(i + 1, i + 2));
      i++;
      continue;
    }
    if (!(BOOLEAN_FLAGS as readonly string[]).includes(name)) {
      args.push(arg);
      continue;
    }
    const value = match?.[2];
    explicit.set(name as BooleanFlag, value === undefined ? true : parseGoBool(name, value));
  }
  return { args, explicit };
}

function parseGoBool(flag: string, value: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  throw new UsageError(
    `invalid argument ${goQuote(value)} for ${goQuote(`--${flag}`)} flag: strconv.ParseBool: parsing ${goQuote(value)}: invalid syntax`,
  );
}

/**
 * oc's Complete, in its order. Conflicting flags and malformed values are usage errors (exit 2;
 * oc exits 1 for every error); a pullspec with a tag and no --force is a refusal (exit 1).
 */
function checkRequest(r: UpgradeRequest, io: CommandIo): void {
  if (r.clear && (r.toImage !== '' || r.to !== '' || r.toLatest || r.toMultiArch))
    throw new UsageError(OC_UPGRADE_TEXTS.clearWithOthers);
  if (r.toMultiArch && (r.to !== '' || r.toImage !== '' || r.toLatest))
    throw new UsageError(OC_UPGRADE_TEXTS.multiArchWithOthers);
  if (r.to !== '' && r.toImage !== '') throw new UsageError(OC_UPGRADE_TEXTS.toAndToImage);
  // oc accepts --to-latest beside --to or --to-image and then patches the highest update listed
  // before the named one, which is neither: refused here instead.
  if (r.toLatest && (r.to !== '' || r.toImage !== ''))
    throw new UsageError('--to-latest may not be used with --to or --to-image');
  const notSemver = r.to !== '' ? semverError(r.to) : undefined;
  if (notSemver !== undefined) throw new UsageError(formatOcText('toNotSemver', notSemver));
  if (r.toImage === '') return;
  let parsed;
  try {
    parsed = parsePullspec(r.toImage);
  } catch (err) {
    if (err instanceof VerifyError)
      throw new UsageError(formatOcText('invalidPullspec', err.message));
    throw err;
  }
  // oc splits the name as library-go's reference.Parse does: without a `/` a name with a dot or
  // starting with localhost is a registry alone (whose tag is not kept), any other is a name
  // without registry or repository: `foo` is refused, `4.0.1` has neither tag nor digest.
  const name = repositoryName(r.toImage);
  const registryOnly = !name.includes('/') && (name.includes('.') || name.startsWith('localhost'));
  if (!name.includes('/') && !registryOnly) throw new UsageError(OC_UPGRADE_TEXTS.noRepository);
  const tag = registryOnly ? undefined : parsed.tag;
  if (parsed.digest === undefined && tag === undefined)
    throw new UsageError(OC_UPGRADE_TEXTS.noTagOrDigest);
  // Any tag, even beside a digest (name:tag@sha256:…): oc tests len(ref.Tag) > 0.
  if (tag !== undefined) {
    if (!r.force) throw new CommandRefusal(OC_UPGRADE_TEXTS.byTagRefused);
    io.stderr(line(OC_UPGRADE_TEXTS.byTagForced));
  }
}

const MAX_UINT64 = 2n ** 64n - 1n;

/** strconv.ParseUint(s, 10, 64)'s error for digits `s`, if any. */
function parseUintError(s: string): string | undefined {
  if (s === '') return 'strconv.ParseUint: parsing "": invalid syntax';
  if (BigInt(s) > MAX_UINT64) return `strconv.ParseUint: parsing ${goQuote(s)}: value out of range`;
  return undefined;
}

const NUMBERS = /^[0-9]*$/;
const ALPHANUM = /^[0-9A-Za-z-]*$/;

/**
 * What github.com/blang/semver v3.5.1 (oc's) Parse says about `s`, in its words and order, or
 * undefined when it is a semantic version: oc prints it after --to's own text.
 */
export function semverError(s: string): string | undefined {
  if (s === '') return 'Version string empty';
  const first = s.indexOf('.');
  const second = first === -1 ? -1 : s.indexOf('.', first + 1);
  if (second === -1) return 'No Major.Minor.Patch elements found';
  const numbers: [string, string][] = [
    ['major', s.slice(0, first)],
    ['minor', s.slice(first + 1, second)],
  ];
  let patch = s.slice(second + 1);
  let build: string[] = [];
  let prerelease: string[] = [];
  const plus = patch.indexOf('+');
  if (plus !== -1) {
    build = patch.slice(plus + 1).split('.');
    patch = patch.slice(0, plus);
  }
  const dash = patch.indexOf('-');
  if (dash !== -1) {
    prerelease = patch.slice(dash + 1).split('.');
    patch = patch.slice(0, dash);
  }
  numbers.push(['patch', patch]);
  for (const [label, digits] of numbers) {
    if (!NUMBERS.test(digits))
      return `Invalid character(s) found in ${label} number ${goQuote(digits)}`;
    if (digits.length > 1 && digits.startsWith('0')) {
      const name = `${label.charAt(0).toUpperCase()}${label.slice(1)}`;
      return `${name} number must not contain leading zeroes ${goQuote(digits)}`;
    }
    const overflow = parseUintError(digits);
    if (overflow !== undefined) return overflow;
  }
  for (const identifier of prerelease) {
    if (identifier === '') return 'Prerelease is empty';
    if (NUMBERS.test(identifier)) {
      if (identifier.length > 1 && identifier.startsWith('0'))
        return `Numeric PreRelease version must not contain leading zeroes ${goQuote(identifier)}`;
      const overflow = parseUintError(identifier);
      if (overflow !== undefined) return overflow;
    } else if (!ALPHANUM.test(identifier)) {
      return `Invalid character(s) found in prerelease ${goQuote(identifier)}`;
    }
  }
  for (const identifier of build) {
    if (identifier === '') return 'Build meta data is empty';
    if (!ALPHANUM.test(identifier))
      return `Invalid character(s) found in build meta data ${goQuote(identifier)}`;
  }
  return undefined;
}

/** The repository part of a pullspec as written (no tag, no digest, not normalised). */
function repositoryName(pullspec: string): string {
  const named = pullspec.split('@')[0] ?? '';
  const colon = named.indexOf(':', named.lastIndexOf('/') + 1);
  return colon === -1 ? named : named.slice(0, colon);
}

/** oc's Run, once the ClusterVersion is read. */
async function upgradeCluster(kube: KubePort, r: UpgradeRequest, io: CommandIo): Promise<number> {
  const cv = await readClusterVersion(kube);
  if (r.clear) return clear(kube, cv, io);
  if (r.toMultiArch) return requestMultiArch(kube, cv, r, io);
  if (r.toLatest || r.to !== '' || r.toImage !== '') return requestUpdate(kube, cv, io, r);
  io.stdout(formatUpgradeSummary(cv, r.includeNotRecommended));
  return ExitCode.Verified;
}

/** A conditional update's `Recommended` condition (metav1.Condition), when present. */
function recommended(update: { [key: string]: unknown }): Condition | undefined {
  const conditions = update.conditions;
  if (!Array.isArray(conditions)) return undefined;
  return (conditions as Condition[]).find((c) => c.type === 'Recommended');
}

function findCondition(cv: ClusterVersion, type: string): Condition | undefined {
  return cv.status?.conditions?.find((c) => c.type === type);
}

function indent(message: string | undefined): string {
  return (message ?? '').replaceAll('\n', '\n  ');
}

/**
 * oc's targetMatch: the same version, the same image, or the same digest (what verification
 * checks). A pullspec that does not parse is an error, reported as a warning by the caller.
 */
function targetMatches(release: Release, to: string, toImage: string): boolean | Error {
  if (to !== '' && release.version === to) return true;
  if (toImage === '') return false;
  if (release.image === toImage) return true;
  let target;
  try {
    target = parsePullspec(release.image ?? '');
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
  // toImage passed checkRequest, so it parses.
  const digest = parsePullspec(toImage).digest;
  return digest !== undefined && target.digest === digest;
}

/**
 * oc's client-side guards (checkForUpgrade): Invalid, Failing or Progressing True. The reasons,
 * joined as oc joins them, or undefined when the cluster may be updated.
 */
function checkGuards(cv: ClusterVersion): string | undefined {
  const results: string[] = [];
  const invalid = findCondition(cv, 'Invalid');
  if (invalid?.status === 'True')
    results.push(formatOcText('guardInvalid', invalid.reason ?? '', indent(invalid.message)));
  const failing = findCondition(cv, 'Failing');
  if (failing?.status === 'True') {
    const desired = cv.status?.desired;
    const target = nonEmpty(desired?.version)
      ? desired.version
      : nonEmpty(desired?.image)
        ? desired.image
        : OC_UPGRADE_TEXTS.guardFailingNoTarget;
    results.push(
      formatOcText('guardFailing', target, failing.reason ?? '', indent(failing.message)),
    );
  }
  const progressing = findCondition(cv, 'Progressing');
  if (progressing?.status === 'True') {
    results.push(
      formatOcText('guardProgressing', progressing.reason ?? '', indent(progressing.message)),
    );
  }
  return results.length === 0 ? undefined : results.join('\n\n');
}

/** Refuses while a guard fails, unless --allow-upgrade-with-warnings (then warns). */
function enforceGuards(cv: ClusterVersion, r: UpgradeRequest, io: CommandIo): void {
  const failed = checkGuards(cv);
  if (failed === undefined) return;
  if (!r.allowUpgradeWithWarnings) throw new CommandRefusal(formatOcText('guardsRefused', failed));
  io.stderr(formatOcText('guardsBypassed', failed));
}

/** configv1.Update as oc marshals it (encoding/json, field order and omitempty as declared). */
interface OcUpdate extends Update {
  architecture: string;
  version: string;
  image: string;
  force: boolean;
  acceptRisks?: unknown[];
}

function toOcUpdate(
  fields: { architecture?: string; version?: string; image?: string; force?: boolean },
  acceptRisks: unknown,
): OcUpdate {
  return {
    architecture: fields.architecture ?? '',
    version: fields.version ?? '',
    image: fields.image ?? '',
    force: fields.force ?? false,
    // omitempty: an absent or empty list is not sent.
    ...(Array.isArray(acceptRisks) && acceptRisks.length > 0 ? { acceptRisks } : {}),
  };
}

/** oc's patchDesiredUpdate: a JSON merge patch of spec.desiredUpdate. */
async function patchDesiredUpdate(kube: KubePort, update: OcUpdate): Promise<void> {
  try {
    await kube.mergePatchClusterVersion(CLUSTER_VERSION_NAME, {
      spec: { desiredUpdate: update },
    });
  } catch (err) {
    throw new CommandRefusal(formatOcText('upgradeFailed', errorText(err)));
  }
}

async function requestMultiArch(
  kube: KubePort,
  cv: ClusterVersion,
  r: UpgradeRequest,
  io: CommandIo,
): Promise<number> {
  // oc returns this `info:` as an error: `error: info: …`, exit 1.
  if (cv.spec.desiredUpdate?.architecture === 'Multi')
    throw new CommandRefusal(OC_UPGRADE_TEXTS.multiArchAlreadyRequested);
  enforceGuards(cv, r, io);
  if (r.force) io.stderr(line(OC_UPGRADE_TEXTS.force));
  const update = toOcUpdate(
    { architecture: 'Multi', version: cv.status?.desired.version ?? '', force: r.force },
    cv.spec.desiredUpdate?.acceptRisks,
  );
  await patchDesiredUpdate(kube, update);
  io.stdout(line(OC_UPGRADE_TEXTS.multiArchRequested));
  io.stdout(`info: spec.desiredUpdate is now ${describeUpdate(update)}\n`);
  return ExitCode.Verified;
}

async function requestUpdate(
  kube: KubePort,
  cv: ClusterVersion,
  io: CommandIo,
  r: UpgradeRequest,
): Promise<number> {
  const { to, toImage } = r;
  const desired = cv.status?.desired;
  if (to !== '' && to === desired?.version) {
    io.stdout(formatOcText('alreadyAtVersion', to));
    return ExitCode.Verified;
  }
  if (toImage !== '' && toImage === desired?.image) {
    io.stdout(formatOcText('alreadyAtImage', toImage));
    return ExitCode.Verified;
  }

  let update: { version: string; image: string } | undefined;
  const possible: Release[] = [];
  // The Recommended condition of each not-recommended target --to-latest may pick, by image.
  const risks = new Map<string, Condition>();
  for (const available of cv.status?.availableUpdates ?? []) {
    const match = targetMatches(available, to, toImage);
    if (match === true) {
      // oc keeps the image exactly as requested; the version comes from the recommendation.
      update = {
        version: available.version ?? '',
        image: toImage !== '' ? toImage : (available.image ?? ''),
      };
      break;
    }
    if (match instanceof Error) io.stderr(formatOcText('availableMatchFailed', match.message));
    possible.push(available);
  }
  if (update === undefined) {
    for (const conditional of cv.status?.conditionalUpdates ?? []) {
      const c = recommended(conditional);
      if (c === undefined || c.status === 'True') continue;
      const { release } = conditional;
      const match = targetMatches(release, to, toImage);
      if (match === true) {
        const version = release.version ?? '';
        if (!r.allowNotRecommended) {
          throw new CommandRefusal(
            formatOcText(
              'conditionalRefused',
              version,
              c.type,
              c.status,
              c.reason ?? '',
              indent(c.message),
            ),
          );
        }
        update = { version, image: release.image ?? '' };
        io.stderr(
          formatOcText(
            'conditionalAccepted',
            version,
            c.type,
            c.status,
            c.reason ?? '',
            c.message ?? '',
          ),
        );
        break;
      }
      if (match instanceof Error) io.stderr(formatOcText('conditionalMatchFailed', match.message));
      if (r.allowNotRecommended) {
        possible.push(release);
        risks.set(release.image ?? '', c);
      }
    }
  }
  if (update === undefined && toImage !== '' && r.allowExplicit) {
    update = { version: '', image: toImage };
    io.stderr(line(OC_UPGRADE_TEXTS.explicit));
  }
  possible.sort(compareReleasesDescending);
  const [latest] = possible;
  if (r.toLatest && latest !== undefined) {
    update = { version: latest.version ?? '', image: latest.image ?? '' };
    const c = risks.get(update.image);
    if (c !== undefined) {
      io.stderr(
        formatOcText(
          'conditionalAccepted',
          update.version,
          c.type,
          c.status,
          c.reason ?? '',
          c.message ?? '',
        ),
      );
    }
  }
  if (update === undefined) {
    // The one outcome without a target that is not a refusal.
    if (possible.length === 0 && r.toLatest && !r.allowNotRecommended && !cannotRefresh(cv)) {
      io.stdout(formatOcText('alreadyLatest', desired?.version ?? ''));
      return ExitCode.Verified;
    }
    throw new CommandRefusal(noTargetMessage(cv, possible, r));
  }

  if (r.force) io.stderr(line(OC_UPGRADE_TEXTS.force));
  enforceGuards(cv, r, io);
  const patch = toOcUpdate({ ...update, force: r.force }, cv.spec.desiredUpdate?.acceptRisks);
  await patchDesiredUpdate(kube, patch);
  io.stdout(
    update.version !== ''
      ? formatOcText('requestedVersion', update.version)
      : formatOcText('requestedImage', update.image),
  );
  io.stdout(`info: spec.desiredUpdate is now ${describeUpdate(patch)}\n`);
  return ExitCode.Verified;
}

/** The RetrievedUpdates condition when it is not True (the update service could not be read). */
function cannotRefresh(cv: ClusterVersion): Condition | undefined {
  const c = findCondition(cv, 'RetrievedUpdates');
  return c !== undefined && c.status !== 'True' ? c : undefined;
}

/** oc's explanation when the requested target is not among the updates on offer. */
function noTargetMessage(
  cv: ClusterVersion,
  possible: readonly Release[],
  r: UpgradeRequest,
): string {
  const option = r.toImage !== '' ? '--allow-explicit-upgrade' : '--to-image';
  // --to and --to-image name a target; --to-latest does not.
  const nextStep = formatOcText('nextStep', option, r.toLatest ? 'an' : 'the');
  const retrieved = cannotRefresh(cv);
  if (retrieved !== undefined) {
    return formatOcText(
      'cannotRefresh',
      retrieved.reason ?? '',
      indent(retrieved.message),
      nextStep,
    );
  }
  if (possible.length === 0) {
    return r.allowNotRecommended
      ? formatOcText('noRecommendedOrConditional', nextStep)
      : formatOcText('noRecommended', nextStep);
  }
  const versions = possible.map((p) => p.version ?? '').join(', ');
  return formatOcText('notPossibleTarget', versions, nextStep);
}

async function clear(kube: KubePort, cv: ClusterVersion, io: CommandIo): Promise<number> {
  const original = cv.spec.desiredUpdate;
  if (original === undefined) {
    io.stdout(OC_UPGRADE_TEXTS.noUpdateInProgress);
    return ExitCode.Verified;
  }
  // oc keeps the accepted risks: they may apply to a later update.
  const keep = Array.isArray(original.acceptRisks);
  const desiredUpdate = keep ? toOcUpdate({}, original.acceptRisks) : null;
  let updated;
  try {
    updated = await kube.mergePatchClusterVersion(CLUSTER_VERSION_NAME, {
      spec: { desiredUpdate },
    });
  } catch (err) {
    throw new CommandRefusal(formatOcText('cancelFailed', errorText(err)));
  }
  const desired = updated.status?.desired ?? {};
  io.stdout(
    isEquivalent(original, desired)
      ? formatOcText('cleared', releaseName(desired))
      : formatOcText('cancelled', updateName(original)),
  );
  const { acceptRisks, ...removed } = original;
  io.stdout(
    keep
      ? `info: removed spec.desiredUpdate ${describeUpdate(removed)}; kept ${describeRisks(acceptRisks)}\n`
      : `info: removed spec.desiredUpdate ${describeUpdate(original)}\n`,
  );
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

/** `acceptRisks=A,B` from [{name: A}, {name: B}]. */
function describeRisks(acceptRisks: unknown): string {
  const names = Array.isArray(acceptRisks)
    ? acceptRisks.map((risk) => {
        const name = (risk as { name?: unknown } | null)?.name;
        return typeof name === 'string' ? name : JSON.stringify(risk);
      })
    : [];
  return `acceptRisks=${names.join(',')}`;
}

function describeUpdate(update: Update): string {
  const parts = [
    `version=${JSON.stringify(update.version ?? '')}`,
    `image=${JSON.stringify(update.image ?? '')}`,
    `force=${String(update.force === true)}`,
  ];
  if (nonEmpty(update.architecture)) parts.push(`architecture=${update.architecture}`);
  if (Array.isArray(update.acceptRisks) && update.acceptRisks.length > 0)
    parts.push(describeRisks(update.acceptRisks));
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
