// oc adm upgrade recommend's texts as oc's source has them (github.com/openshift/oc at
// 6b8e30c5b39aa742147846341a203905e04834f3, pkg/cli/admin/upgrade/recommend/recommend.go): the
// line, the call oc writes each with, the text. Read by test/cli/oc-recommend-texts.test.ts and
// the optional test/interop/oc-recommend-source.optional.ts.
import type { OC_RECOMMEND_TEXTS } from '../../src/cli/recommend.js';
export type How = 'stdout' | 'stderr' | 'error' | 'part';

export interface OcText {
  readonly line: number;
  readonly how: How;
  /** The Go string literal's value. */
  readonly text: string;
}

const at = (line: number, how: How, text: string): OcText => ({ line, how, text });

export const OC: Readonly<Record<keyof typeof OC_RECOMMEND_TEXTS, OcText>> = {
  quietWithoutVersion: at(122, 'error', '--quiet can only be set when --version is set'),
  versionWithOutdated: at(
    126,
    'error',
    'when --version is set, --show-outdated-releases is unnecessary',
  ),
  versionNotSemver: at(130, 'error', 'cannot parse SemVer target %q: %v'),
  conditionBlock: at(162, 'stdout', '%s%s=%s:\n\n  Reason: %s\n  Message: %s\n\n'),
  noFailingInfo: at(
    172,
    'stderr',
    '%swarning: No current %s info, see `oc describe clusterversion` for more details.\n',
  ),
  progressing: at(
    183,
    'stdout',
    '%sinfo: An update is in progress.  You may wish to let this update complete before requesting a new update.\n  %s\n\n',
  ),
  cannotRefresh: at(
    234,
    'stderr',
    'warning: Cannot refresh available updates:\n  Reason: %s\n  Message: %s\n\n',
  ),
  upstreamUnset: at(
    242,
    'stdout',
    'Upstream update service is unset, so the cluster will use an appropriate default.\n',
  ),
  upstream: at(244, 'stdout', 'Upstream update service: %s\n'),
  channelWithAvailable: at(247, 'stdout', 'Channel: %s (available channels: %s)\n'),
  channel: at(249, 'stdout', 'Channel: %s\n'),
  // Deliberate difference: oc writes no newline after it (the next warning follows on the same
  // line); ours ends the line.
  cannotParseUpdate: at(260, 'stderr', 'warning: Cannot parse SemVer available update %q: %v'),
  cannotInject: at(
    304,
    'stderr',
    'warning: Cannot inject %s=%s as a conditional update risk: %s\n\nReason: %s\n  Message: %s\n\n',
  ),
  noUpdatesForVersion: at(
    311,
    'error',
    'no updates available, so cannot display context for the requested release %s',
  ),
  noMajor: at(
    315,
    'error',
    'no updates to %d available, so cannot display context for the requested release %s',
  ),
  noMinor: at(
    317,
    'error',
    'no updates to %d.%d available, so cannot display context for the requested release %s',
  ),
  versionNoIssues: at(
    326,
    'stdout',
    'Update to %s has no known issues relevant to this cluster.\nImage: %s\nRelease URL: %s\n',
  ),
  acceptedRisk: at(332, 'part', 'accepted %s via ConditionalUpdateRisk'),
  versionRisk: at(
    334,
    'stdout',
    'Update to %s %s=%s:\nImage: %s\nRelease URL: %s\nReason: %s\nMessage: %s\n',
  ),
  notAccepted: at(
    340,
    'error',
    'issues that apply to this cluster but which were not included in --accept: %s',
  ),
  onlyAccepted: at(
    342,
    'stdout',
    'Update to %s has no known issues relevant to this cluster other than the accepted %s.\n',
  ),
  noVersion: at(
    347,
    'error',
    'no update to %s available, so cannot display context for the requested release',
  ),
  noUpdates: at(
    352,
    'stdout',
    'No updates available. You may still upgrade to a specific release image with --to-image or wait for new updates to be available.\n',
  ),
  updatesTo: at(373, 'stdout', 'Updates to %d.%d:\n'),
  older: at(
    394,
    'stdout',
    "And %d older %d.%d updates you can see with '--show-outdated-releases' or '--version VERSION'.\n",
  ),
  noKnownIssues: at(399, 'part', 'no known issues relevant to this cluster'),
  longVersion: at(407, 'stdout', '  Version: %s\n  Image: %s\n'),
  longRisk: at(408, 'stdout', '  Reason: %s\n  Message: %s\n'),
  noConditions: at(441, 'part', 'Conditional update to %s has risks (%s), but no conditions.'),
  cannotParseCurrent: at(484, 'error', 'cannot parse SemVer version %q: %v'),
};
