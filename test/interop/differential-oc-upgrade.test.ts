/**
 * `cvo-verifier upgrade` against `oc adm upgrade` itself: oc's own Complete and Run
 * (interop/oc-upgrade, generated from the pinned oc source by test/tooling/extract-oc-upgrade.ts)
 * run on a fake clientset, ours on the in-memory API server, for every pairing of a set of
 * ClusterVersion states with a set of command lines. stdout, stderr, the exit code, the number of
 * patches and spec.desiredUpdate afterwards must agree, with only these deliberate differences,
 * normalised before comparing:
 *
 * - a usage error (conflicting flags, a malformed pullspec) exits 2 with a pointer to the help;
 *   oc exits 1 for every error;
 * - after a request or --clear we print one more `info:` line naming the fields set or removed;
 * - `--to-latest` beside `--to`/`--to-image` is refused (oc patches the highest update listed
 *   before the named one): its own case below, with both outcomes stated.
 *
 * The summary without flags is ours (it adds the verifier's conditions) and is not compared.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { runUpgrade } from '../../src/cli/upgrade.js';
import { UsageError, usageErrorText } from '../../src/cli/usage-error.js';
import type { ClusterVersion, Condition } from '../../src/kube/types.js';
import { repoRoot } from '../helpers/fixtures.js';
import { MemoryKube } from '../helpers/memory-kube.js';
import {
  extractOcUpgrade,
  OC_UPGRADE_EXTRACT,
  OC_UPGRADE_SOURCE,
} from '../tooling/extract-oc-upgrade.js';
import { goToolPath } from '../tooling/go-tools.js';

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

/** Runs the oc harness on every case at once: one JSON line per case. */
async function runOc(
  cases: readonly { id: string; flags: OcFlags; clusterVersion: ClusterVersion | null }[],
): Promise<Map<string, OcResult>> {
  const binary = await goToolPath('ocUpgradeHarness');
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
  it('the harness builds the pinned oc source, changed only as extract-oc-upgrade.ts says', () => {
    assert.equal(
      readFileSync(OC_UPGRADE_EXTRACT, 'utf8'),
      extractOcUpgrade(readFileSync(OC_UPGRADE_SOURCE, 'utf8')),
      'run `node --import tsx test/tooling/extract-oc-upgrade.ts`',
    );
  });

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
