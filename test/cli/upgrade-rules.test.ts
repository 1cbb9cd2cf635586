import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { runUpgrade } from '../../src/cli/upgrade.js';
import type { UpgradeConnect } from '../../src/cli/upgrade.js';
import { UsageError, usageErrorText } from '../../src/cli/usage-error.js';
import type { ClusterVersion, Condition } from '../../src/kube/types.js';
import { repoRoot } from '../helpers/fixtures.js';
import { MemoryKube } from '../helpers/memory-kube.js';

// `cvo-verifier upgrade`'s rules as oc adm upgrade's (openshift/oc pkg/cli/admin/upgrade/
// upgrade.go at commit 6b8e30c5b39a): the exact stdout, stderr and exit code of each
// case and what reaches spec.desiredUpdate, on an in-memory API server with JSON merge patch.
// The texts themselves are checked against oc's source in oc-upgrade-texts.test.ts; the same
// flows run on a real kube-apiserver in test/e2e/cli-commands.test.ts.

const REPO = 'quay.io/openshift-release-dev/ocp-release';
const IMG = (n: number): string => `${REPO}@sha256:${String(n).repeat(64)}`;
const AT = '2026-01-01T00:00:00Z';

const FORCE_WARNING =
  'warning: --force overrides cluster verification of your supplied release image and waives any update precondition failures. Only use this if you are testing unsigned release images or you are working around a known bug in the cluster-version operator and you have verified the authenticity of the provided image yourself.\n';
const BY_TAG_REFUSED =
  'error: --to-image must be a by-digest pull spec, unless --force is also set, because release images that are not accessed via digest cannot be verified by the cluster.  Even when --force is set, using tags is not recommended, although we continue to allow it for backwards compatibility\n';
const BY_TAG_WARNING =
  'warning: Using by-tag pull specs is dangerous, and while we still allow it in combination with --force for backward compatibility, it would be much safer to pass a by-digest pull spec instead\n';

function condition(
  type: string,
  status: Condition['status'],
  reason = '',
  message = '',
): Condition {
  return { type, status, reason, message, lastTransitionTime: AT };
}

function notRecommended(version: string, image: string): Record<string, unknown> {
  return {
    release: { version, image },
    risks: [
      { name: 'Risky', message: 'It may break.', url: 'https://example.com', matchingRules: [] },
    ],
    conditions: [
      {
        ...condition('Recommended', 'False', 'Risky', 'It may break.\nReally.'),
        lastTransitionTime: AT,
      },
    ],
  };
}

/** A cluster at 4.17.0 offered 4.17.1 and 4.17.2 (listed in that order). */
function clusterVersion(): ClusterVersion {
  return {
    apiVersion: 'config.openshift.io/v1',
    kind: 'ClusterVersion',
    metadata: { name: 'version' },
    spec: { clusterID: '2a7b3c4d-1111-4222-8333-444455556666', channel: 'stable-4.17' },
    status: {
      desired: { version: '4.17.0', image: IMG(1) },
      observedGeneration: 1,
      versionHash: 'h',
      conditions: [
        condition('Failing', 'False'),
        condition('Progressing', 'False', '', 'Cluster version is 4.17.0'),
        condition('RetrievedUpdates', 'True'),
      ],
      availableUpdates: [
        { version: '4.17.1', image: IMG(2) },
        { version: '4.17.2', image: IMG(3) },
      ],
      history: [
        {
          state: 'Completed',
          startedTime: AT,
          completionTime: AT,
          version: '4.17.0',
          image: IMG(1),
          verified: true,
        },
      ],
    },
  };
}

type Edit = (cv: ClusterVersion) => void;

const setCondition =
  (c: Condition): Edit =>
  (cv) => {
    const status = cv.status;
    if (status === undefined) return;
    status.conditions = [...(status.conditions ?? []).filter((x) => x.type !== c.type), c];
  };

const noUpdates: Edit = (cv) => {
  if (cv.status) cv.status.availableUpdates = null;
};

const requested =
  (update: Record<string, unknown>): Edit =>
  (cv) => {
    cv.spec.desiredUpdate = update;
  };

const conditional =
  (...updates: Record<string, unknown>[]): Edit =>
  (cv) => {
    if (cv.status) cv.status.conditionalUpdates = updates as never;
  };

interface Case {
  readonly name: string;
  readonly args: readonly string[];
  readonly edits?: readonly Edit[];
  readonly code: number;
  readonly stdout?: string;
  readonly stderr: string;
  /** spec.desiredUpdate afterwards; undefined: no patch was sent at all. */
  readonly desiredUpdate?: Record<string, unknown> | null;
  /** Whether the cluster may be contacted (oc's Complete refuses before it is). */
  readonly connects?: boolean;
}

const update = (fields: Record<string, unknown>): Record<string, unknown> => ({
  architecture: '',
  version: '',
  image: '',
  force: false,
  ...fields,
});

const GUARD_PROGRESSING =
  'the cluster is already upgrading:\n\n  Reason: Upgrading\n  Message: Working towards 4.17.1:\n  10 of 800 done';

const CASES: readonly Case[] = [
  // --clear
  {
    name: '--clear with nothing requested: info, exit 0, no patch',
    args: ['--clear'],
    code: 0,
    stdout: 'info: No update in progress\n',
    stderr: '',
  },
  {
    name: '--clear cancels a requested update',
    args: ['--clear'],
    edits: [requested({ version: '4.17.1', image: IMG(2), force: false })],
    code: 0,
    stdout: `Cancelled requested upgrade to 4.17.1\ninfo: removed spec.desiredUpdate version="4.17.1" image="${IMG(2)}" force=false\n`,
    stderr: '',
    desiredUpdate: null,
  },
  {
    name: '--clear of the release the cluster is at says it is still there',
    args: ['--clear', '--force'],
    edits: [requested({ version: '', image: IMG(1), force: true })],
    code: 0,
    stdout: `Cleared the update field, still at 4.17.0\ninfo: removed spec.desiredUpdate version="" image="${IMG(1)}" force=true\n`,
    stderr: '',
    desiredUpdate: null,
  },
  {
    name: '--clear keeps acceptRisks and blanks the rest',
    args: ['--clear'],
    edits: [
      requested({
        version: '4.17.1',
        image: IMG(2),
        force: true,
        acceptRisks: [{ name: 'Risky' }, { name: 'Other' }],
      }),
    ],
    code: 0,
    stdout: `Cancelled requested upgrade to 4.17.1\ninfo: removed spec.desiredUpdate version="4.17.1" image="${IMG(2)}" force=true; kept acceptRisks=Risky,Other\n`,
    stderr: '',
    desiredUpdate: update({ acceptRisks: [{ name: 'Risky' }, { name: 'Other' }] }),
  },
  {
    name: '--clear with a target flag is a usage error before the cluster is read',
    args: ['--clear', '--to-latest'],
    code: 2,
    stderr:
      "error: --clear may not be specified with any other flags\nRun 'cvo-verifier help upgrade' for usage.\n",
    connects: false,
  },
  // flag conflicts and values
  {
    name: '--to-multi-arch with --to is a usage error',
    args: ['--to-multi-arch', '--to', '4.17.1'],
    code: 2,
    stderr:
      "error: --to-multi-arch may not be used with --to, --to-image, or --to-latest\nRun 'cvo-verifier help upgrade' for usage.\n",
    connects: false,
  },
  {
    name: '--to-latest with --to is refused (oc would patch neither)',
    args: ['--to-latest', '--to', '4.17.1'],
    code: 2,
    stderr:
      "error: --to-latest may not be used with --to or --to-image\nRun 'cvo-verifier help upgrade' for usage.\n",
    connects: false,
  },
  {
    name: 'a boolean flag with a value that strconv.ParseBool refuses',
    args: ['--to-latest=yes'],
    code: 2,
    stderr:
      'error: invalid argument "yes" for "--to-latest" flag: strconv.ParseBool: parsing "yes": invalid syntax\nRun \'cvo-verifier help upgrade\' for usage.\n',
    connects: false,
  },
  {
    name: '--to-latest=false is no request: the summary',
    args: ['--to-latest=false', '--force=T', '--force=0'],
    code: 0,
    stderr: '',
  },
  // by-tag pullspecs
  {
    name: 'a tag beside a digest is refused without --force, before the cluster is read',
    args: ['--to-image', `${REPO}:4.17.1-x86_64@sha256:${'2'.repeat(64)}`],
    code: 1,
    stdout: '',
    stderr: BY_TAG_REFUSED,
    connects: false,
  },
  {
    name: 'a tag alone is refused without --force',
    args: ['--to-image', `${REPO}:4.17.1-x86_64`],
    code: 1,
    stdout: '',
    stderr: BY_TAG_REFUSED,
    connects: false,
  },
  {
    name: 'with --force a tag@digest warns and matches the listed release by digest',
    args: ['--to-image', `${REPO}:4.17.1-x86_64@sha256:${'2'.repeat(64)}`, '--force'],
    code: 0,
    stdout: `Requested update to 4.17.1\ninfo: spec.desiredUpdate is now version="4.17.1" image="${REPO}:4.17.1-x86_64@sha256:${'2'.repeat(64)}" force=true\n`,
    stderr: BY_TAG_WARNING + FORCE_WARNING,
    desiredUpdate: update({
      version: '4.17.1',
      image: `${REPO}:4.17.1-x86_64@sha256:${'2'.repeat(64)}`,
      force: true,
    }),
  },
  {
    name: 'a name without a slash is no repository, unless it looks like a registry (4.17.1)',
    args: ['--to-image', 'ocp-release:4.17.1'],
    code: 2,
    stderr:
      "error: --to-image must be a valid image pull spec: no registry or repository specified\nRun 'cvo-verifier help upgrade' for usage.\n",
    connects: false,
  },
  {
    name: "4.17.1 reads as a registry without tag or digest (library-go's reference.Parse)",
    args: ['--to-image', '4.17.1'],
    code: 2,
    stderr:
      "error: --to-image must be a valid image pull spec: no tag or digest specified\nRun 'cvo-verifier help upgrade' for usage.\n",
    connects: false,
  },
  {
    name: "--to that is not a semantic version: blang/semver's words",
    args: ['--to', '4.17.01'],
    code: 2,
    stderr:
      'error: --to must be a semantic version (e.g. 4.0.1 or 4.1.0-nightly-20181104): Patch number must not contain leading zeroes "01"\nRun \'cvo-verifier help upgrade\' for usage.\n',
    connects: false,
  },
  // --to-latest
  {
    name: '--to-latest requests the highest available update',
    args: ['--to-latest=true'],
    code: 0,
    stdout: `Requested update to 4.17.2\ninfo: spec.desiredUpdate is now version="4.17.2" image="${IMG(3)}" force=false\n`,
    stderr: '',
    desiredUpdate: update({ version: '4.17.2', image: IMG(3) }),
  },
  {
    name: '--to-latest with no update: already at the latest, exit 0',
    args: ['--to-latest'],
    edits: [noUpdates, conditional(notRecommended('4.17.5', IMG(5)))],
    code: 0,
    stdout: 'info: Cluster is already at the latest available version 4.17.0\n',
    stderr: '',
  },
  {
    name: '--to-latest when updates cannot be retrieved',
    args: ['--to-latest'],
    edits: [
      noUpdates,
      setCondition(
        condition('RetrievedUpdates', 'False', 'RemoteFailed', 'Unable to retrieve.\nTry later.'),
      ),
    ],
    code: 1,
    stdout: '',
    stderr:
      'error: cannot refresh available updates:\n  Reason: RemoteFailed\n  Message: Unable to retrieve.\n  Try later.\n\nspecify --to-image to continue with an update.\n',
  },
  {
    name: '--to-latest --allow-not-recommended may pick a not-recommended update, with the warning',
    args: ['--to-latest', '--allow-not-recommended'],
    edits: [conditional(notRecommended('4.17.5', IMG(5)))],
    code: 0,
    stdout: `Requested update to 4.17.5\ninfo: spec.desiredUpdate is now version="4.17.5" image="${IMG(5)}" force=false\n`,
    stderr:
      'warning: with --allow-not-recommended you have accepted the risks with 4.17.5 and bypassed Recommended=False Risky: It may break.\nReally.\n',
    desiredUpdate: update({ version: '4.17.5', image: IMG(5) }),
  },
  {
    name: '--to-latest --allow-not-recommended with nothing at all is an error',
    args: ['--to-latest', '--allow-not-recommended'],
    edits: [noUpdates],
    code: 1,
    stdout: '',
    stderr:
      'error: no recommended or conditional updates, specify --to-image to continue with an update or wait for new updates to be available.\n',
  },
  // --to, --to-image
  {
    name: 'a not-recommended conditional update: one newline after the message, as oc prints it',
    args: ['--to', '4.17.5'],
    edits: [conditional(notRecommended('4.17.5', IMG(5)))],
    code: 1,
    stdout: '',
    stderr:
      'error: the update 4.17.5 is not one of the recommended updates, but is available as a conditional update. To accept the Recommended=False risk and to proceed with update use --allow-not-recommended.\n  Reason: Risky\n  Message: It may break.\n  Really.\n',
  },
  {
    name: 'an unknown --to lists the possible targets newest first',
    args: ['--to', '4.18.0'],
    code: 1,
    stdout: '',
    stderr:
      'error: the update is not one of the possible targets: 4.17.2, 4.17.1. specify --to-image to continue with the update.\n',
  },
  {
    name: 'acceptRisks already requested are sent again with the new target',
    args: ['--to', '4.17.1'],
    edits: [requested({ version: '', image: IMG(1), acceptRisks: [{ name: 'Risky' }] })],
    code: 0,
    stdout: `Requested update to 4.17.1\ninfo: spec.desiredUpdate is now version="4.17.1" image="${IMG(2)}" force=false acceptRisks=Risky\n`,
    stderr: '',
    desiredUpdate: update({ version: '4.17.1', image: IMG(2), acceptRisks: [{ name: 'Risky' }] }),
  },
  {
    name: 'a requested Multi architecture is blanked by a --to request, as oc sends it',
    args: ['--to', '4.17.2'],
    edits: [requested({ architecture: 'Multi', version: '4.17.0', image: '', force: false })],
    code: 0,
    stdout: `Requested update to 4.17.2\ninfo: spec.desiredUpdate is now version="4.17.2" image="${IMG(3)}" force=false\n`,
    stderr: '',
    desiredUpdate: update({ version: '4.17.2', image: IMG(3) }),
  },
  // client-side guards
  {
    name: 'Progressing=True refuses an update',
    args: ['--to', '4.17.1'],
    edits: [
      setCondition(
        condition('Progressing', 'True', 'Upgrading', 'Working towards 4.17.1:\n10 of 800 done'),
      ),
    ],
    code: 1,
    stdout: '',
    stderr: `error: ${GUARD_PROGRESSING}\n\nIf you want to upgrade anyway, use --allow-upgrade-with-warnings.\n`,
  },
  {
    name: 'Invalid, Failing and Progressing are all named, in that order',
    args: ['--to-latest'],
    edits: [
      setCondition(condition('Invalid', 'True', 'InvalidClusterVersion', 'bad spec')),
      setCondition(condition('Failing', 'True', 'ClusterOperatorDegraded', 'etcd is degraded')),
      setCondition(
        condition('Progressing', 'True', 'Upgrading', 'Working towards 4.17.1:\n10 of 800 done'),
      ),
    ],
    code: 1,
    stdout: '',
    stderr:
      'error: the cluster version object is invalid, you must correct the invalid state first:\n\n  Reason: InvalidClusterVersion\n  Message: bad spec\n\n' +
      'the cluster is experiencing an error reconciling "4.17.0":\n\n  Reason: ClusterOperatorDegraded\n  Message: etcd is degraded\n\n' +
      `${GUARD_PROGRESSING}\n\nIf you want to upgrade anyway, use --allow-upgrade-with-warnings.\n`,
  },
  {
    name: 'Failing names the desired image when status.desired has no version',
    args: ['--to', '4.17.1'],
    edits: [
      setCondition(condition('Failing', 'True', 'R', 'M')),
      (cv) => {
        if (cv.status) cv.status.desired = { version: '', image: IMG(1) };
      },
    ],
    code: 1,
    stdout: '',
    stderr: `error: the cluster is experiencing an error reconciling "${IMG(1)}":\n\n  Reason: R\n  Message: M\n\nIf you want to upgrade anyway, use --allow-upgrade-with-warnings.\n`,
  },
  {
    name: 'Failing with neither version nor image in status.desired',
    args: ['--to-latest'],
    edits: [
      setCondition(condition('Failing', 'True', 'R', 'M')),
      (cv) => {
        if (cv.status) cv.status.desired = {};
      },
    ],
    code: 1,
    stdout: '',
    stderr:
      'error: the cluster is experiencing an error reconciling "ClusterVersion status.desired has neither a version nor image; please open a bug":\n\n  Reason: R\n  Message: M\n\nIf you want to upgrade anyway, use --allow-upgrade-with-warnings.\n',
  },
  {
    name: 'Invalid=False, Failing=Unknown and Progressing=False do not refuse',
    args: ['--to', '4.17.1'],
    edits: [
      setCondition(condition('Invalid', 'False')),
      setCondition(condition('Failing', 'Unknown')),
    ],
    code: 0,
    stdout: `Requested update to 4.17.1\ninfo: spec.desiredUpdate is now version="4.17.1" image="${IMG(2)}" force=false\n`,
    stderr: '',
    desiredUpdate: update({ version: '4.17.1', image: IMG(2) }),
  },
  {
    name: '--allow-upgrade-with-warnings bypasses the guards with a warning (after --force)',
    args: ['--to', '4.17.1', '--allow-upgrade-with-warnings', '--force'],
    edits: [
      setCondition(
        condition('Progressing', 'True', 'Upgrading', 'Working towards 4.17.1:\n10 of 800 done'),
      ),
    ],
    code: 0,
    stdout: `Requested update to 4.17.1\ninfo: spec.desiredUpdate is now version="4.17.1" image="${IMG(2)}" force=true\n`,
    stderr: `${FORCE_WARNING}warning: --allow-upgrade-with-warnings is bypassing: ${GUARD_PROGRESSING}\n`,
    desiredUpdate: update({ version: '4.17.1', image: IMG(2), force: true }),
  },
  {
    name: 'the guards come after the target: a target error wins',
    args: ['--to', '4.18.0'],
    edits: [setCondition(condition('Progressing', 'True', 'Upgrading', 'x'))],
    code: 1,
    stdout: '',
    stderr:
      'error: the update is not one of the possible targets: 4.17.2, 4.17.1. specify --to-image to continue with the update.\n',
  },
  // --to-multi-arch
  {
    name: '--to-multi-arch requests the current version as Multi',
    args: ['--to-multi-arch'],
    code: 0,
    stdout:
      'Requested update to multi cluster architecture\ninfo: spec.desiredUpdate is now version="4.17.0" image="" force=false architecture=Multi\n',
    stderr: '',
    desiredUpdate: update({ architecture: 'Multi', version: '4.17.0' }),
  },
  {
    name: '--to-multi-arch keeps acceptRisks and clears a requested image',
    args: ['--to-multi-arch', '--force'],
    edits: [requested({ version: '', image: IMG(9), force: false, acceptRisks: [{ name: 'A' }] })],
    code: 0,
    stdout:
      'Requested update to multi cluster architecture\ninfo: spec.desiredUpdate is now version="4.17.0" image="" force=true architecture=Multi acceptRisks=A\n',
    stderr: FORCE_WARNING,
    desiredUpdate: update({
      architecture: 'Multi',
      version: '4.17.0',
      force: true,
      acceptRisks: [{ name: 'A' }],
    }),
  },
  {
    name: '--to-multi-arch when Multi was already requested: oc\'s "error: info: …", exit 1',
    args: ['--to-multi-arch'],
    edits: [requested({ architecture: 'Multi', version: '4.17.0', image: '', force: false })],
    code: 1,
    stdout: '',
    stderr: 'error: info: Update to multi cluster architecture has already been requested\n',
  },
  {
    name: "--to-multi-arch is guarded too; the bypass warning comes before --force's",
    args: ['--to-multi-arch', '--force', '--allow-upgrade-with-warnings'],
    edits: [setCondition(condition('Invalid', 'True', 'R', 'M'))],
    code: 0,
    stdout:
      'Requested update to multi cluster architecture\ninfo: spec.desiredUpdate is now version="4.17.0" image="" force=true architecture=Multi\n',
    stderr:
      'warning: --allow-upgrade-with-warnings is bypassing: the cluster version object is invalid, you must correct the invalid state first:\n\n  Reason: R\n  Message: M\n' +
      FORCE_WARNING,
    desiredUpdate: update({ architecture: 'Multi', version: '4.17.0', force: true }),
  },
  {
    name: '--to-multi-arch refused by a guard',
    args: ['--to-multi-arch'],
    edits: [setCondition(condition('Failing', 'True', 'R', 'M'))],
    code: 1,
    stdout: '',
    stderr:
      'error: the cluster is experiencing an error reconciling "4.17.0":\n\n  Reason: R\n  Message: M\n\nIf you want to upgrade anyway, use --allow-upgrade-with-warnings.\n',
  },
];

/** runUpgrade as runCli runs it: a UsageError is exit code 2 with the pointer to the help. */
async function upgrade(
  args: readonly string[],
  connect: UpgradeConnect,
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io = { stdout: (t: string) => (stdout += t), stderr: (t: string) => (stderr += t) };
  try {
    const code = await runUpgrade(args, { ...io, env: {}, cwd: repoRoot }, connect);
    return { code, stdout, stderr };
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    return { code: 2, stdout, stderr: stderr + usageErrorText(err, 'cvo-verifier help upgrade') };
  }
}

describe('cvo-verifier upgrade follows oc adm upgrade', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const kube = new MemoryKube();
      const cv = clusterVersion();
      for (const edit of c.edits ?? []) edit(cv);
      await kube.createClusterVersion(cv);
      let connected = false;
      const { code, stdout, stderr } = await upgrade(c.args, () => {
        connected = true;
        return kube;
      });
      assert.equal(stderr, c.stderr);
      if (c.stdout !== undefined) assert.equal(stdout, c.stdout);
      assert.equal(code, c.code);
      if (c.connects === false) assert.equal(connected, false, 'the cluster was contacted');
      const patches = kube.actionsOf('patch', 'clusterversions');
      const after = await kube.getClusterVersion('version');
      if (c.desiredUpdate === undefined) {
        assert.equal(patches.length, 0, 'nothing may be patched');
        return;
      }
      assert.equal(patches.length, 1);
      assert.deepEqual(after.spec.desiredUpdate ?? null, c.desiredUpdate);
    });
  }

  it('a failed patch is "Unable to upgrade: …", exit 1', async () => {
    const kube = new MemoryKube();
    await kube.createClusterVersion(clusterVersion());
    kube.before('patch', 'clusterversions', () => {
      throw new Error('the server is on fire');
    });
    const { code, stderr } = await upgrade(['--to', '4.17.1'], () => kube);
    assert.equal(code, 1);
    assert.equal(stderr, 'error: Unable to upgrade: the server is on fire\n');
  });
});
