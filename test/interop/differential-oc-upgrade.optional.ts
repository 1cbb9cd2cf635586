/**
 * `cvo-verifier upgrade` against `oc adm upgrade` itself: oc's own Complete and Run
 * (oc-upgrade-harness, built from the oc checkout OC_SOURCE_DIR names by
 * test/tooling/extract-oc-upgrade.ts) run on a fake clientset, ours on the in-memory API server,
 * for every pairing of a set of ClusterVersion states with a set of command lines. stdout, stderr,
 * the exit code, the number of patches and spec.desiredUpdate afterwards must agree, with only
 * these deliberate differences, normalised before comparing:
 *
 * - a usage error (conflicting flags, a malformed pullspec) exits 2 with a pointer to the help;
 *   oc exits 1 for every error;
 * - after a request or --clear we print one more `info:` line naming the fields set or removed;
 * - `--to-latest` beside `--to`/`--to-image` is refused (oc patches the highest update listed
 *   before the named one): its own case below, with both outcomes stated.
 *
 * The summary without flags is ours (it adds the verifier's conditions) and is not compared.
 *
 * Optional: oc's source is not in this repository. Run it with
 * `OC_SOURCE_DIR=/path/to/oc npm run interop:oc` (test/tooling/oc-differential.ts), which builds
 * the harness and sets OC_UPGRADE_HARNESS; `./scripts/test.sh` does not pick this file up.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';

import { OC_UPGRADE_TEXTS, runUpgrade } from '../../src/cli/upgrade.js';
import { UsageError, usageErrorText } from '../../src/cli/usage-error.js';
import type { ClusterVersion, Condition } from '../../src/kube/types.js';
import { repoRoot } from '../helpers/fixtures.js';
import { MemoryKube } from '../helpers/memory-kube.js';
import { ocUpgradeSource } from '../tooling/extract-oc-upgrade.js';
import { goStringLiterals } from '../tooling/go-literals.js';

const REPO = 'quay.io/openshift-release-dev/ocp-release';
const IMG = (n: number): string => `${REPO}@sha256:${String(n).repeat(64)}`;
const AT = '2026-01-01T00:00:00Z';

/** oc's Options fields the command line sets. */
interface OcFlags {
  To?: string;
  ToImage?: string;
  ToLatestAvailable?: boolean;
  ToMultiArch?: boolean;
  AllowExplicitUpgrade?: boolean;
  AllowUpgradeWithWarnings?: boolean;
  Force?: boolean;
  Clear?: boolean;
  IncludeNotRecommended?: boolean;
  AllowNotRecommended?: boolean;
}

const BOOLEAN_FLAGS: Readonly<Record<string, keyof OcFlags>> = {
  '--to-latest': 'ToLatestAvailable',
  '--to-multi-arch': 'ToMultiArch',
  '--allow-explicit-upgrade': 'AllowExplicitUpgrade',
  '--allow-upgrade-with-warnings': 'AllowUpgradeWithWarnings',
  '--force': 'Force',
  '--clear': 'Clear',
  '--include-not-recommended': 'IncludeNotRecommended',
  '--allow-not-recommended': 'AllowNotRecommended',
};

/** What cobra would set from the same argv. */
function ocFlags(args: readonly string[]): OcFlags {
  const flags: Record<string, string | boolean> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--to') flags.To = args[++i] ?? '';
    else if (arg === '--to-image') flags.ToImage = args[++i] ?? '';
    else {
      const field = BOOLEAN_FLAGS[arg];
      if (field === undefined) throw new Error(`no oc flag for ${arg}`);
      flags[field] = true;
    }
  }
  return flags;
}

interface Outcome {
  stdout: string;
  stderr: string;
  exitCode: number;
  patches: number;
  desiredUpdate: Record<string, unknown> | null;
}

interface OcResult extends Outcome {
  id: string;
  error?: string;
}

/** The harness `npm run interop:oc` built; without it this file cannot run and says so. */
function ocHarness(): string {
  const binary = process.env.OC_UPGRADE_HARNESS;
  if (binary === undefined || binary === '') {
    throw new Error(
      'OC_UPGRADE_HARNESS is not set: run this file with `OC_SOURCE_DIR=/path/to/oc npm run interop:oc`, ' +
        'which builds oc-upgrade-harness from that oc checkout',
    );
  }
  return binary;
}

/** Runs the oc harness on every case at once: one JSON line per case. */
async function runOc(
  cases: readonly { id: string; flags: OcFlags; clusterVersion: ClusterVersion | null }[],
): Promise<Map<string, OcResult>> {
  const binary = ocHarness();
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`oc-upgrade-harness exited ${String(code)}: ${err.slice(-2000)}`));
        return;
      }
      const results = new Map<string, OcResult>();
      for (const line of out.split('\n')) {
        if (line.trim() === '') continue;
        const result = JSON.parse(line) as OcResult;
        results.set(result.id, result);
      }
      resolve(results);
    });
    child.stdin.end(JSON.stringify({ cases }));
  });
}

/** What an Update holds as configv1.Update types it (every field, acceptRisks when any). */
function typed(update: unknown): Record<string, unknown> | null {
  if (update === undefined || update === null) return null;
  const u = update as Record<string, unknown>;
  const risks = Array.isArray(u.acceptRisks) && u.acceptRisks.length > 0 ? u.acceptRisks : null;
  return {
    architecture: u.architecture ?? '',
    version: u.version ?? '',
    image: u.image ?? '',
    force: u.force ?? false,
    ...(risks !== null ? { acceptRisks: risks } : {}),
  };
}

const OUR_INFO = /^info: (spec\.desiredUpdate is now|removed spec\.desiredUpdate) .*\n/gm;
const HELP_POINTER = "Run 'cvo-verifier help upgrade' for usage.\n";

async function runOurs(args: readonly string[], cv: ClusterVersion | null): Promise<Outcome> {
  const kube = new MemoryKube();
  if (cv !== null) await kube.createClusterVersion(cv);
  let stdout = '';
  let stderr = '';
  let exitCode;
  try {
    exitCode = await runUpgrade(
      args,
      {
        stdout: (t) => (stdout += t),
        stderr: (t) => (stderr += t),
        env: {},
        cwd: repoRoot,
      },
      () => kube,
    );
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    stderr += usageErrorText(err, 'cvo-verifier help upgrade');
    exitCode = 2;
  }
  const after = cv === null ? null : await kube.getClusterVersion('version');
  return {
    stdout,
    stderr,
    exitCode,
    patches: kube.actionsOf('patch', 'clusterversions').length,
    desiredUpdate: typed(after?.spec.desiredUpdate),
  };
}

/** Our outcome with the deliberate differences taken out (see the top of this file). */
function normalised(ours: Outcome): Outcome {
  const usage = ours.exitCode === 2;
  return {
    ...ours,
    stdout: ours.stdout.replace(OUR_INFO, ''),
    stderr: usage ? ours.stderr.replace(HELP_POINTER, '') : ours.stderr,
    exitCode: usage ? 1 : ours.exitCode,
  };
}

// ClusterVersion states.

function condition(
  type: string,
  status: Condition['status'],
  reason = '',
  message = '',
): Condition {
  return { type, status, reason, message, lastTransitionTime: AT };
}

function notRecommended(
  version: string,
  image: string,
  status: Condition['status'] = 'False',
): Record<string, unknown> {
  return {
    release: { version, image },
    risks: [
      { name: 'Risky', message: 'It may break.', url: 'https://example.com', matchingRules: [] },
    ],
    conditions: [condition('Recommended', status, 'Risky', 'It may break.\nReally.')],
  };
}

function base(): ClusterVersion {
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
        { version: '4.17.10', image: IMG(4) },
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
const status = (cv: ClusterVersion): NonNullable<ClusterVersion['status']> => {
  if (cv.status === undefined) throw new Error('no status');
  return cv.status;
};
const withCondition =
  (c: Condition): Edit =>
  (cv) => {
    const s = status(cv);
    s.conditions = [...(s.conditions ?? []).filter((x) => x.type !== c.type), c];
  };

const STATES: Readonly<Record<string, readonly Edit[]>> = {
  healthy: [],
  'no updates': [(cv) => (status(cv).availableUpdates = null)],
  'no updates, retrieval failing': [
    (cv) => (status(cv).availableUpdates = null),
    withCondition(condition('RetrievedUpdates', 'False', 'RemoteFailed', 'Cannot reach.\nAgain.')),
  ],
  'updates, retrieval failing': [
    withCondition(condition('RetrievedUpdates', 'False', 'RemoteFailed', 'Cannot reach.')),
  ],
  'conditional updates': [
    (cv) =>
      (status(cv).conditionalUpdates = [
        notRecommended('4.17.20', IMG(5)),
        notRecommended('4.17.3', IMG(6), 'Unknown'),
        { ...notRecommended('4.17.4', IMG(7), 'True') },
      ] as never),
  ],
  'only conditional updates': [
    (cv) => (status(cv).availableUpdates = null),
    (cv) => (status(cv).conditionalUpdates = [notRecommended('4.17.20', IMG(5))] as never),
  ],
  progressing: [
    withCondition(condition('Progressing', 'True', 'Upgrading', 'Working towards 4.17.1:\n3 of 8')),
  ],
  failing: [withCondition(condition('Failing', 'True', 'Degraded', 'etcd\nis degraded'))],
  'failing, desired by image only': [
    withCondition(condition('Failing', 'True', 'Degraded', 'etcd')),
    (cv) => (status(cv).desired = { version: '', image: IMG(1) }),
  ],
  'failing, desired empty': [
    withCondition(condition('Failing', 'True', 'Degraded', 'etcd')),
    (cv) => (status(cv).desired = {}),
  ],
  'invalid, failing and progressing': [
    withCondition(condition('Invalid', 'True', 'InvalidClusterVersion', 'bad')),
    withCondition(condition('Failing', 'True', 'Degraded', 'etcd')),
    withCondition(condition('Progressing', 'True', 'Upgrading', 'busy')),
  ],
  'update requested': [
    (cv) => (cv.spec.desiredUpdate = { version: '4.17.1', image: IMG(2), force: false }),
  ],
  'current release requested': [
    (cv) => (cv.spec.desiredUpdate = { version: '', image: IMG(1), force: true }),
  ],
  'Multi requested': [
    (cv) =>
      (cv.spec.desiredUpdate = {
        architecture: 'Multi',
        version: '4.17.0',
        image: '',
        force: false,
      }),
  ],
  'risks accepted': [
    (cv) =>
      (cv.spec.desiredUpdate = {
        version: '4.17.1',
        image: IMG(2),
        force: true,
        acceptRisks: [{ name: 'Risky' }, { name: 'Other' }],
      }),
  ],
  'only risks accepted': [(cv) => (cv.spec.desiredUpdate = { acceptRisks: [{ name: 'Risky' }] })],
};

const TAGGED = `${REPO}:4.17.1-x86_64@sha256:${'2'.repeat(64)}`;

const COMMAND_LINES: readonly (readonly string[])[] = [
  ['--clear'],
  ['--clear', '--force'],
  ['--clear', '--to-latest'],
  ['--clear', '--to-multi-arch'],
  ['--to', '4.17.1'],
  ['--to', '4.17.0'],
  ['--to', '4.17.20'],
  ['--to', '4.17.20', '--allow-not-recommended'],
  ['--to', '4.17.3', '--allow-not-recommended'],
  ['--to', '9.9.9'],
  ['--to', '9.9.9', '--allow-not-recommended'],
  ['--to', '4.17.1', '--force', '--allow-upgrade-with-warnings'],
  ['--to', '4.17.1', '--to-image', IMG(2)],
  ...[
    '4.17',
    'v4.17.1',
    '4.x.1',
    '04.17.1',
    '4.017.1',
    '4.17.01',
    '4.17.1.2',
    '..1',
    '4.17.1-',
    '4.17.1-rc.01',
    '4.17.1-rc_1',
    '4.17.1+',
    '4.17.1+b..c',
    '4.17.1+ü',
    '18446744073709551616.0.0',
    '4.17.1-18446744073709551616',
    '4.17.1-rc.1+build.5',
  ].map((version) => ['--to', version]),
  ['--to-image', IMG(2)],
  ['--to-image', IMG(1)],
  ['--to-image', IMG(9)],
  ['--to-image', IMG(9), '--allow-explicit-upgrade'],
  ['--to-image', IMG(9), '--allow-explicit-upgrade', '--allow-upgrade-with-warnings'],
  ['--to-image', `${REPO}@sha256:${'5'.repeat(64)}`, '--allow-not-recommended'],
  ['--to-image', TAGGED],
  ['--to-image', TAGGED, '--force'],
  ['--to-image', `${REPO}:4.17.1-x86_64`, '--force', '--allow-explicit-upgrade'],
  ['--to-image', '4.17.1'],
  ['--to-image', '4.17.1@sha256:' + '2'.repeat(64)],
  ['--to-image', 'ocp-release'],
  ['--to-image', 'ocp-release:4.17.1'],
  ['--to-image', 'openshift/ocp-release:4.17.1@sha256:' + '2'.repeat(64)],
  ['--to-image', 'openshift/ocp-release@sha256:' + '2'.repeat(64)],
  ['--to-image', 'quay.io@sha256:' + '2'.repeat(64)],
  ['--to-image', 'quay.io:5000'],
  ['--to-image', 'localhost:5000/ocp/release:x', '--force', '--allow-explicit-upgrade'],
  ['--to-image', 'localhost@sha256:' + '9'.repeat(64), '--allow-explicit-upgrade'],
  ['--to-image', REPO],
  ['--to-image', `${REPO}:4.17.1-x86_64`],
  ['--to-latest'],
  ['--to-latest', '--allow-not-recommended'],
  ['--to-latest', '--allow-upgrade-with-warnings', '--force'],
  ['--to-latest', '--to-multi-arch'],
  ['--to-multi-arch'],
  ['--to-multi-arch', '--force'],
  ['--to-multi-arch', '--allow-upgrade-with-warnings'],
  ['--to-multi-arch', '--to', '4.17.1'],
];

describe('cvo-verifier upgrade against oc adm upgrade (oc-upgrade-harness)', () => {
  const cases = Object.entries(STATES).flatMap(([state, edits]) =>
    COMMAND_LINES.map((args) => {
      const cv = base();
      for (const edit of edits) edit(cv);
      return { id: `${state}: ${args.join(' ')}`, args, cv };
    }),
  );

  it(`agrees on ${String(cases.length)} command lines × cluster states`, async () => {
    const oc = await runOc(
      cases.map((c) => ({ id: c.id, flags: ocFlags(c.args), clusterVersion: c.cv })),
    );
    const disagreements: string[] = [];
    for (const c of cases) {
      const theirs = oc.get(c.id);
      assert.ok(
        theirs !== undefined && theirs.error === undefined,
        `${c.id}: ${theirs?.error ?? 'no result'}`,
      );
      const ours = normalised(await runOurs(c.args, structuredClone(c.cv)));
      const expected: Outcome = {
        stdout: theirs.stdout,
        stderr: theirs.stderr,
        exitCode: theirs.exitCode,
        patches: theirs.patches,
        desiredUpdate: typed(theirs.desiredUpdate),
      };
      try {
        assert.deepEqual(ours, expected);
      } catch (err) {
        disagreements.push(`${c.id}\n${(err as Error).message}`);
      }
    }
    assert.deepEqual(disagreements, [], disagreements.join('\n\n'));
  });

  it('no ClusterVersion: the same words and exit code', async () => {
    const args = ['--to-latest'];
    const theirs = (await runOc([{ id: 'none', flags: ocFlags(args), clusterVersion: null }])).get(
      'none',
    );
    const ours = normalised(await runOurs(args, null));
    assert.equal(ours.stderr, theirs?.stderr);
    assert.equal(ours.exitCode, theirs?.exitCode);
  });

  it('deliberate difference: --to-latest beside --to is refused, where oc patches another update', async () => {
    const args = ['--to-latest', '--to', '4.17.2'];
    const theirs = (
      await runOc([{ id: 'both', flags: ocFlags(args), clusterVersion: base() }])
    ).get('both');
    // oc takes the highest of the updates listed before 4.17.2 (4.17.10, then 4.17.1): 4.17.10.
    assert.equal(theirs?.stdout, 'Requested update to 4.17.10\n');
    const ours = await runOurs(args, base());
    assert.equal(ours.exitCode, 2);
    assert.equal(
      ours.stderr,
      `error: --to-latest may not be used with --to or --to-image\n${HELP_POINTER}`,
    );
    assert.equal(ours.patches, 0);
  });
});

/**
 * Literals of oc's Complete and of Run's requesting branches that cvo-verifier does not print,
 * and why. Anything else there must be one of OC_UPGRADE_TEXTS: a new oc text fails the check
 * below (and then needs a place in OC_UPGRADE_TEXTS and test/cli/oc-upgrade-texts.test.ts).
 */
const NOT_OURS: Readonly<Record<string, string>> = {
  version: "the ClusterVersion's name (CLUSTER_VERSION_NAME)",
  'No cluster version information available - you must be connected to an OpenShift version 4 server to fetch the current version':
    'printed by readClusterVersion in src/cli/history.ts for every cluster command',
  'failed to marshal update: %v':
    'encoding/json cannot fail on this struct; JSON.stringify neither',
  '{"spec":{"desiredUpdate":%s}}': 'the merge patch document, built as an object',
  '{"spec":{"desiredUpdate": %s}}': 'the merge patch document, built as an object',
  'marshal ClusterVersion patch: %v':
    'encoding/json cannot fail on this struct; JSON.stringify neither',
  '': 'comparisons with the empty string',
  'unable to calculate a target update': "unreachable: the switch's other cases cover every case",
  '--to-image': 'an argument of nextStep',
  '--allow-explicit-upgrade': 'an argument of nextStep',
  the: 'an argument of nextStep',
  an: 'an argument of nextStep',
  ', ': 'the separator of notPossibleTarget',
  '\n': 'the separator of the failed guards (checkForUpgrade)',
  '\n\n': 'the separator of the failed guards (checkForUpgrade)',
  '\n  ': 'the indentation of multi-line messages',
  Recommended: "the conditional update's condition type",
  Failing: 'the condition type (clusterStatusFailing)',
  Invalid: 'the condition type',
  Multi: 'configv1.ClusterVersionArchitectureMulti',
};

describe("oc adm upgrade's texts in the oc source OC_SOURCE_DIR names", () => {
  it("every text of OC_UPGRADE_TEXTS is one of oc's string literals", async () => {
    const { source } = await ocUpgradeSource(process.env);
    const values = new Set(goStringLiterals(source).map((l) => l.value));
    const missing = Object.entries(OC_UPGRADE_TEXTS).filter(([, text]) => !values.has(text));
    assert.deepEqual(missing, []);
  });

  it("every literal of oc's Complete and requesting Run branches is ours or explained", async () => {
    const { source } = await ocUpgradeSource(process.env);
    const from = source.indexOf('func (o *Options) Complete(');
    // Run's last case prints the summary, which cvo-verifier extends (formatUpgradeSummary).
    const summary = source.indexOf('\n\tdefault:\n', from);
    const patchFrom = source.indexOf('func patchDesiredUpdate(');
    const guardsFrom = source.indexOf('func checkForUpgrade(');
    const guardsTo = source.indexOf('\n}\n', guardsFrom);
    assert.ok(from > 0 && summary > from && patchFrom > 0 && guardsFrom > 0);
    const ranges: [number, number][] = [
      [from, summary],
      [guardsFrom, guardsTo],
      [patchFrom, source.length],
    ];
    const ours = new Set<string>(Object.values(OC_UPGRADE_TEXTS));
    const unexplained = goStringLiterals(source)
      .filter((l) => ranges.some(([a, b]) => l.start > a && l.end < b))
      .map((l) => l.value)
      .filter((v) => !ours.has(v) && NOT_OURS[v] === undefined);
    assert.deepEqual(unexplained, []);
  });

  it("reads Go's literals as the compiler does", () => {
    const src = [
      'x := "a\\n\\"b\\x41\\u00e9" + // joined',
      '\t"c" // "not a literal"',
      "r := '\"'",
      'y := `raw\\n`',
    ].join('\n');
    assert.deepEqual(
      goStringLiterals(src).map((l) => l.value),
      ['a\n"bAéc', 'raw\\n'],
    );
  });
});
