// oc adm upgrade's texts, text for text. Every expected text below is oc's source text
// (github.com/openshift/oc at 6b8e30c5b39aa742147846341a203905e04834f3, 2026-04-22, read from its
// repository; k8s.io/kubectl v0.35.2 from its vendor/ tree), with the file and line it comes from
// and the call oc writes it with, which says the stream and whether a newline is added:
//
// - pkg/cli/cli.go:402, :420: o.Out is os.Stdout, o.ErrOut os.Stderr;
// - fmt.Fprintf writes the format as it is (these texts end with their own newline), fmt.Fprintln
//   adds one (OC_UPGRADE_TEXTS holds such a text without it);
// - pkg/cli/admin/upgrade/upgrade.go:108-109: an error of Complete or Run goes to kcmdutil.CheckErr:
//   vendor/k8s.io/kubectl/pkg/cmd/util/helpers.go:213-216 prepends `error: ` unless the message
//   starts with it, :103-106 adds a newline unless it ends with one and writes it to os.Stderr,
//   :218 and :54 exit 1;
// - fmt.Sprintf (or an assignment) makes part of another text.
//
// The differential run against oc's own code (`npm run interop:oc`, an oc checkout needed) also
// checks every literal of oc's requesting code paths is one of these or explained.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { OC_UPGRADE_TEXTS, formatOcText, ocErrorText } from '../../src/cli/upgrade.js';
import { BY_TAG_FORCED_WARNING, BY_TAG_REFUSED } from '../../src/image/oc-messages.js';

/** How oc writes a text: the call it is the format (or the value) of. */
type How =
  | 'fmt.Fprintf(o.Out, …)'
  | 'fmt.Fprintln(o.Out, …)'
  | 'fmt.Fprintf(o.ErrOut, …)'
  | 'fmt.Fprintln(o.ErrOut, …)'
  | 'fmt.Errorf(…)'
  | 'fmt.Sprintf(…)'
  | 'target = …';

interface OcText {
  readonly how: How;
  readonly text: string;
}

const stdout = (text: string): OcText => ({ how: 'fmt.Fprintf(o.Out, …)', text });
const stdoutLine = (text: string): OcText => ({ how: 'fmt.Fprintln(o.Out, …)', text });
const stderr = (text: string): OcText => ({ how: 'fmt.Fprintf(o.ErrOut, …)', text });
const stderrLine = (text: string): OcText => ({ how: 'fmt.Fprintln(o.ErrOut, …)', text });
const error = (text: string): OcText => ({ how: 'fmt.Errorf(…)', text });
const part = (text: string): OcText => ({ how: 'fmt.Sprintf(…)', text });

const OC: Readonly<Record<keyof typeof OC_UPGRADE_TEXTS, OcText>> = {
  // Complete.
  // pkg/cli/admin/upgrade/upgrade.go:160
  clearWithOthers: error('--clear may not be specified with any other flags'),
  // pkg/cli/admin/upgrade/upgrade.go:163
  multiArchWithOthers: error(
    '--to-multi-arch may not be used with --to, --to-image, or --to-latest',
  ),
  // pkg/cli/admin/upgrade/upgrade.go:166
  toAndToImage: error('only one of --to or --to-image may be provided'),
  // pkg/cli/admin/upgrade/upgrade.go:170
  toNotSemver: error('--to must be a semantic version (e.g. 4.0.1 or 4.1.0-nightly-20181104): %v'),
  // pkg/cli/admin/upgrade/upgrade.go:178
  invalidPullspec: error('--to-image must be a valid image pull spec: %v'),
  // pkg/cli/admin/upgrade/upgrade.go:181
  noRepository: error(
    '--to-image must be a valid image pull spec: no registry or repository specified',
  ),
  // pkg/cli/admin/upgrade/upgrade.go:184
  noTagOrDigest: error('--to-image must be a valid image pull spec: no tag or digest specified'),
  // pkg/cli/admin/upgrade/upgrade.go:188
  byTagForced: stderrLine(
    'warning: Using by-tag pull specs is dangerous, and while we still allow it in combination with --force for backward compatibility, it would be much safer to pass a by-digest pull spec instead',
  ),
  // pkg/cli/admin/upgrade/upgrade.go:190
  byTagRefused: error(
    '--to-image must be a by-digest pull spec, unless --force is also set, because release images that are not accessed via digest cannot be verified by the cluster.  Even when --force is set, using tags is not recommended, although we continue to allow it for backwards compatibility',
  ),

  // Run: --clear.
  // pkg/cli/admin/upgrade/upgrade.go:221
  noUpdateInProgress: stdout('info: No update in progress\n'),
  // pkg/cli/admin/upgrade/upgrade.go:238
  cancelFailed: error('Unable to cancel current rollout: %v'),
  // pkg/cli/admin/upgrade/upgrade.go:241
  cleared: stdout('Cleared the update field, still at %s\n'),
  // pkg/cli/admin/upgrade/upgrade.go:243
  cancelled: stdout('Cancelled requested upgrade to %s\n'),

  // Run: --to-multi-arch, and the guards and --force of both requesting branches.
  // pkg/cli/admin/upgrade/upgrade.go:249
  multiArchAlreadyRequested: error(
    'info: Update to multi cluster architecture has already been requested',
  ),
  // pkg/cli/admin/upgrade/upgrade.go:254 and :406
  guardsRefused: error('%s\n\nIf you want to upgrade anyway, use --allow-upgrade-with-warnings.'),
  // pkg/cli/admin/upgrade/upgrade.go:256 and :408
  guardsBypassed: stderr('warning: --allow-upgrade-with-warnings is bypassing: %s\n'),
  // pkg/cli/admin/upgrade/upgrade.go:266 and :401
  force: stderrLine(
    'warning: --force overrides cluster verification of your supplied release image and waives any update precondition failures. Only use this if you are testing unsigned release images or you are working around a known bug in the cluster-version operator and you have verified the authenticity of the provided image yourself.',
  ),
  // pkg/cli/admin/upgrade/upgrade.go:276
  multiArchRequested: stdoutLine('Requested update to multi cluster architecture'),

  // Run: --to, --to-image, --to-latest.
  // pkg/cli/admin/upgrade/upgrade.go:283
  alreadyAtVersion: stdout('info: Cluster is already at version %s\n'),
  // pkg/cli/admin/upgrade/upgrade.go:288
  alreadyAtImage: stdout('info: Cluster is already at %s\n'),
  // pkg/cli/admin/upgrade/upgrade.go:309
  availableMatchFailed: stderr(
    'warning: unable to calculate match for the update target in available updates: %v\n',
  ),
  // pkg/cli/admin/upgrade/upgrade.go:332
  conditionalMatchFailed: stderr(
    'warning: unable to calculate match for the update target in available conditional updates: %v\n',
  ),
  // pkg/cli/admin/upgrade/upgrade.go:320-321
  conditionalRefused: error(
    'the update %s is not one of the recommended updates, but is available as a conditional update. ' +
      'To accept the %s=%s risk and to proceed with update use --allow-not-recommended.\n  Reason: %s\n  Message: %s\n',
  ),
  // pkg/cli/admin/upgrade/upgrade.go:328 and :360
  conditionalAccepted: stderr(
    'warning: with --allow-not-recommended you have accepted the risks with %s and bypassed %s=%s %s: %s\n',
  ),
  // pkg/cli/admin/upgrade/upgrade.go:347-348
  explicit: stderrLine(
    'warning: The requested upgrade image is not one of the available updates. ' +
      'You have used --allow-explicit-upgrade for the update to proceed anyway',
  ),
  // pkg/cli/admin/upgrade/upgrade.go:376 (the arguments: :368, :370, :372, :374)
  nextStep: part('%s to continue with %s update'),
  // pkg/cli/admin/upgrade/upgrade.go:380
  cannotRefresh: error(
    'cannot refresh available updates:\n  Reason: %s\n  Message: %s\n\nspecify %s.',
  ),
  // pkg/cli/admin/upgrade/upgrade.go:382
  noRecommendedOrConditional: error(
    'no recommended or conditional updates, specify %s or wait for new updates to be available.',
  ),
  // pkg/cli/admin/upgrade/upgrade.go:384
  alreadyLatest: stdout('info: Cluster is already at the latest available version %s\n'),
  // pkg/cli/admin/upgrade/upgrade.go:387
  noRecommended: error(
    'no recommended updates, specify %s or wait for new updates to be available.',
  ),
  // pkg/cli/admin/upgrade/upgrade.go:393
  notPossibleTarget: error('the update is not one of the possible targets: %s. specify %s.'),
  // pkg/cli/admin/upgrade/upgrade.go:419
  requestedVersion: stdout('Requested update to %s\n'),
  // pkg/cli/admin/upgrade/upgrade.go:421
  requestedImage: stdout('Requested update to release image %s\n'),

  // patchDesiredUpdate, whose error Run returns (:272-274, :414-416).
  // pkg/cli/admin/upgrade/upgrade.go:715
  upgradeFailed: error('Unable to upgrade: %v'),

  // checkForUpgrade: the reasons, joined with "\n\n" (:671), are the %s of guardsRefused and
  // guardsBypassed.
  // pkg/cli/admin/upgrade/upgrade.go:651
  guardInvalid: part(
    'the cluster version object is invalid, you must correct the invalid state first:\n\n  Reason: %s\n  Message: %s',
  ),
  // pkg/cli/admin/upgrade/upgrade.go:661
  guardFailing: part(
    'the cluster is experiencing an error reconciling %q:\n\n  Reason: %s\n  Message: %s',
  ),
  // pkg/cli/admin/upgrade/upgrade.go:658 (target = …, the %q of guardFailing)
  guardFailingNoTarget: {
    how: 'target = …',
    text: 'ClusterVersion status.desired has neither a version nor image; please open a bug',
  },
  // pkg/cli/admin/upgrade/upgrade.go:664
  guardProgressing: part('the cluster is already upgrading:\n\n  Reason: %s\n  Message: %s'),
};

describe("oc adm upgrade's texts, from oc's source", () => {
  it('every text of OC_UPGRADE_TEXTS has its source text here', () => {
    assert.deepEqual(Object.keys(OC_UPGRADE_TEXTS).sort(), Object.keys(OC).sort());
  });

  for (const [name, oc] of Object.entries(OC)) {
    it(`${name} is oc's text, written with ${oc.how}`, () => {
      assert.equal(OC_UPGRADE_TEXTS[name as keyof typeof OC_UPGRADE_TEXTS], oc.text);
    });
  }

  it("src/image/oc-messages.ts's by-tag texts are oc's", () => {
    assert.equal(BY_TAG_REFUSED, OC.byTagRefused.text);
    assert.equal(`warning: ${BY_TAG_FORCED_WARNING}`, OC.byTagForced.text);
  });

  it('a text oc writes with Fprintf ends with its newline; with Fprintln it has none here', () => {
    for (const [name, oc] of Object.entries(OC)) {
      if (oc.how.startsWith('fmt.Fprintf(')) assert.ok(oc.text.endsWith('\n'), name);
      if (oc.how.startsWith('fmt.Fprintln(')) assert.ok(!oc.text.endsWith('\n'), name);
    }
  });

  it('an error is printed as kcmdutil.CheckErr prints it', () => {
    // helpers.go:213-216: `error: ` unless already there; :103-106: one newline unless present.
    assert.equal(
      ocErrorText(OC_UPGRADE_TEXTS.toAndToImage),
      'error: only one of --to or --to-image may be provided\n',
    );
    assert.equal(
      ocErrorText(OC_UPGRADE_TEXTS.multiArchAlreadyRequested),
      'error: info: Update to multi cluster architecture has already been requested\n',
    );
    assert.equal(ocErrorText('error: already prefixed'), 'error: already prefixed\n');
    const refused = formatOcText('conditionalRefused', '4.17.20', 'Recommended', 'False', 'R', 'M');
    assert.ok(refused.endsWith('Message: M\n'));
    assert.equal(ocErrorText(refused), `error: ${refused}`);
  });

  it('formats the parts as oc does: the next step and the guards', () => {
    // upgrade.go:368-376: --to-image (or --allow-explicit-upgrade with --to-image), "the" (or
    // "an" with --to-latest).
    assert.equal(
      formatOcText(
        'notPossibleTarget',
        '4.17.1, 4.17.2',
        formatOcText('nextStep', '--to-image', 'the'),
      ),
      'the update is not one of the possible targets: 4.17.1, 4.17.2. specify --to-image to continue with the update.',
    );
    // upgrade.go:661: %q quotes the target as Go does.
    assert.equal(
      formatOcText('guardFailing', OC_UPGRADE_TEXTS.guardFailingNoTarget, 'R', 'M'),
      'the cluster is experiencing an error reconciling "ClusterVersion status.desired has neither a version nor image; please open a bug":\n\n  Reason: R\n  Message: M',
    );
  });
});
