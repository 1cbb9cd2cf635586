import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  checkUpdates,
  notRecommendedCondition,
  planRecommend,
  renderRecommend,
  runRecommend,
} from '../../src/cli/recommend.js';
import type { RecommendDeps, UpdateChecker } from '../../src/cli/recommend.js';
import { toUpdateVerdict } from '../../src/controller/update-preverifier.js';
import type { PublishedUpdates, UpdateVerdict } from '../../src/controller/update-preverifier.js';
import { UsageError, usageErrorText } from '../../src/cli/usage-error.js';
import type { ClusterVerification } from '../../src/controller/verification-port.js';
import type { ClusterVersion, Condition } from '../../src/kube/types.js';
import { MemoryKube } from '../helpers/memory-kube.js';

// `cvo-verifier recommend`: oc adm upgrade recommend's listing (openshift/oc
// pkg/cli/admin/upgrade/recommend/recommend.go at 6b8e30c5b39a) with a VERIFY column, on an
// in-memory API server and a scripted checker. The real trust (GPG signatures in a store) runs in
// test/e2e/cli-commands.test.ts.

const REPO = 'quay.io/openshift-release-dev/ocp-release';
const IMG = (n: number): string => `${REPO}@sha256:${String(n).repeat(64)}`;
const AT = '2026-01-01T00:00:00Z';
const NOW = new Date('2026-12-06T12:00:00Z');

function condition(
  type: string,
  status: Condition['status'],
  reason = '',
  message = '',
): Condition {
  return { type, status, reason, message, lastTransitionTime: AT };
}

function risky(version: string, image: string, reason = 'Risky', message = 'It may break.') {
  return {
    release: { version, image, url: `https://example.com/${version}` },
    risks: [{ name: reason, message, url: 'https://example.com', matchingRules: [] }],
    conditions: [condition('Recommended', 'False', reason, message)],
  };
}

/**
 * At 4.17.0: 4.17.1 (signed), 4.17.2 (unsigned), 4.17.3 (listed, older ones hidden), and a
 * conditional 4.18.0 that is not recommended.
 */
function clusterVersion(): ClusterVersion {
  return {
    apiVersion: 'config.openshift.io/v1',
    kind: 'ClusterVersion',
    metadata: { name: 'version' },
    spec: {
      clusterID: '2a7b3c4d-1111-4222-8333-444455556666',
      channel: 'stable-4.18',
      desiredUpdate: { version: '4.17.0', image: IMG(1), force: true },
    },
    status: {
      desired: { version: '4.17.0', image: IMG(1), channels: ['stable-4.17', 'stable-4.18'] },
      observedGeneration: 1,
      versionHash: 'h',
      conditions: [
        condition('Failing', 'False'),
        condition('Progressing', 'False', '', 'Cluster version is 4.17.0'),
        condition('RetrievedUpdates', 'True'),
      ],
      availableUpdates: [
        { version: '4.17.1', image: IMG(2) },
        { version: '4.17.3', image: IMG(4) },
        { version: '4.17.2', image: IMG(3) },
      ],
      conditionalUpdates: [risky('4.18.0', IMG(5), 'EtcdRisk', 'etcd may\nlose quorum.')],
      history: [],
    },
  };
}

const verified = (summary = 'e2e: signed by E2E Release'): ClusterVerification => ({
  outcome: { verified: true, message: 'verified', details: [], summary },
  signatures: [],
  digest: null,
});

const refused = (code: 'NOT_SIGNED' | 'CLUSTER_CONFIG_UNREADABLE', message: string) =>
  ({
    outcome: { verified: false, code, message, details: [], summary: message },
    signatures: [],
    digest: null,
  }) satisfies ClusterVerification;

/** 4.17.3 and 4.18.0 signed, 4.17.2 not; what the cluster's trust would say. */
const SCRIPT: Readonly<Record<string, ClusterVerification>> = {
  [IMG(2)]: verified(),
  [IMG(4)]: verified(),
  [IMG(3)]: refused(
    'NOT_SIGNED',
    `unable to verify sha256:${'3'.repeat(64)} against keyrings: e2e`,
  ),
  [IMG(5)]: verified(),
};

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  checked: { image: string; cv: ClusterVersion }[];
}

async function recommend(
  args: readonly string[],
  cv: ClusterVersion = clusterVersion(),
  script: Readonly<Record<string, ClusterVerification>> = SCRIPT,
  publishedUpdates?: PublishedUpdates,
): Promise<Run> {
  const kube = new MemoryKube();
  await kube.createClusterVersion(cv);
  if (publishedUpdates !== undefined) {
    await kube.createConfigMap('cvo-update-verifier', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cvo-update-verifier-updates', namespace: 'cvo-update-verifier' },
      data: { 'updates.json': JSON.stringify(publishedUpdates) },
    });
  }
  let stdout = '';
  let stderr = '';
  const checked: Run['checked'] = [];
  const deps: RecommendDeps = {
    connect: () => kube,
    now: () => NOW,
    checker: () => ({
      check: (image, live) => {
        checked.push({ image, cv: live });
        const v = script[image];
        return v === undefined ? Promise.reject(new Error('no such release')) : Promise.resolve(v);
      },
      close: () => Promise.resolve(),
    }),
  };
  const io = {
    stdout: (t: string) => (stdout += t),
    stderr: (t: string) => (stderr += t),
    env: {},
    cwd: '/',
  };
  try {
    const code = await runRecommend(args, io, deps);
    return { code, stdout, stderr, checked };
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    return {
      code: 2,
      stdout,
      stderr: stderr + usageErrorText(err, 'cvo-verifier help recommend'),
      checked,
    };
  }
}

const CHANNEL = [
  'Upstream update service is unset, so the cluster will use an appropriate default.',
  'Channel: stable-4.18 (available channels: stable-4.17, stable-4.18)',
];

describe('cvo-verifier recommend', () => {
  it('lists updates by minor version as oc does, with each one verified, refused or unknown', async () => {
    const r = await recommend([]);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.equal(
      r.stdout,
      [
        ...CHANNEL,
        '',
        'Updates to 4.18:',
        '',
        '  Version: 4.18.0',
        `  Image: ${IMG(5)}`,
        '  Reason: EtcdRisk',
        '  Message: etcd may',
        '  lose quorum.',
        '  Verify: verified',
        '',
        'Updates to 4.17:',
        '  VERSION     ISSUES                                   VERIFY',
        '  4.17.3      no known issues relevant to this cluster verified',
        '  4.17.2      no known issues relevant to this cluster refused (NotSigned)',
        `      unable to verify sha256:${'3'.repeat(64)} against keyrings: e2e`,
        "And 1 older 4.17 updates you can see with '--show-outdated-releases' or '--version VERSION'.",
        '',
      ].join('\n'),
    );
    // Only what is shown is checked, each once, as an unforced request: the force flag of the
    // update requested now is not carried over.
    assert.deepEqual(r.checked.map((c) => c.image).sort(), [IMG(3), IMG(4), IMG(5)].sort());
    for (const c of r.checked) assert.equal(c.cv.spec.desiredUpdate, undefined);
  });

  it('--show-outdated-releases lists every update in one table, conditional ones by reason', async () => {
    const r = await recommend(['--show-outdated-releases']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        ...CHANNEL,
        '',
        'Updates to 4.18:',
        '  VERSION     ISSUES        VERIFY',
        '  4.18.0      EtcdRisk      verified',
        '',
        'Updates to 4.17:',
        '  VERSION     ISSUES                                   VERIFY',
        '  4.17.3      no known issues relevant to this cluster verified',
        '  4.17.2      no known issues relevant to this cluster refused (NotSigned)',
        `      unable to verify sha256:${'3'.repeat(64)} against keyrings: e2e`,
        '  4.17.1      no known issues relevant to this cluster verified',
        '',
      ].join('\n'),
    );
    assert.equal(r.checked.length, 4);
  });

  describe('--version', () => {
    it('shows the risk and the verdict, and fails on issues not accepted', async () => {
      const r = await recommend(['--version', '4.18.0']);
      assert.equal(r.code, 1);
      assert.equal(
        r.stdout,
        [
          ...CHANNEL,
          '',
          'Update to 4.18.0 Recommended=False:',
          `Image: ${IMG(5)}`,
          'Release URL: https://example.com/4.18.0',
          'Reason: EtcdRisk',
          'Message: etcd may',
          '  lose quorum.',
          'Verify: verified',
          '',
        ].join('\n'),
      );
      assert.equal(
        r.stderr,
        'error: issues that apply to this cluster but which were not included in --accept: ConditionalUpdateRisk\n',
      );
      assert.deepEqual(
        r.checked.map((c) => c.image),
        [IMG(5)],
      );
    });

    it('an unverifiable target is an issue of its own, ReleaseNotVerified', async () => {
      const cv = clusterVersion();
      const r = await recommend(['--version', '4.17.2'], cv);
      assert.equal(r.code, 1);
      assert.match(
        r.stdout,
        /Update to 4\.17\.2 has no known issues relevant to this cluster\.\nImage: .*\nRelease URL: \nVerify: refused \(NotSigned\): unable to verify sha256:3{64} against keyrings: e2e\n$/,
      );
      assert.equal(
        r.stderr,
        'error: issues that apply to this cluster but which were not included in --accept: ReleaseNotVerified\n',
      );
      const accepted = await recommend(['--version', '4.17.2', '--accept', 'ReleaseNotVerified']);
      assert.equal(accepted.code, 0, accepted.stderr);
      assert.match(
        accepted.stdout,
        /Update to 4\.17\.2 has no known issues relevant to this cluster other than the accepted ReleaseNotVerified\.\n$/,
      );
    });

    it('a verified, recommended target has no issue: exit 0', async () => {
      const r = await recommend(['--version', '4.17.3']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /\nVerify: verified\n$/);
    });

    it('--quiet prints only the unaccepted issues', async () => {
      const r = await recommend(['--version', '4.18.0', '--quiet', '--accept=Failing']);
      assert.equal(r.stdout, '');
      assert.equal(r.code, 1);
      assert.match(r.stderr, /not included in --accept: ConditionalUpdateRisk\n$/);
    });

    it("names what is missing in oc's words", async () => {
      for (const [version, message] of [
        [
          '5.0.0',
          'no updates to 5 available, so cannot display context for the requested release 5.0.0',
        ],
        [
          '4.16.0',
          'no updates to 4.16 available, so cannot display context for the requested release 4.16.0',
        ],
        [
          '4.17.9',
          'no update to 4.17.9 available, so cannot display context for the requested release',
        ],
      ] as const) {
        const r = await recommend(['--version', version]);
        assert.equal(r.code, 1);
        assert.equal(r.stderr, `error: ${message}\n`);
        assert.equal(r.checked.length, 0);
      }
    });
  });

  it('refuses usage mistakes with exit 2 before reading the cluster', async () => {
    for (const [args, message] of [
      [['--quiet'], '--quiet can only be set when --version is set'],
      [
        ['--version', '4.17.1', '--show-outdated-releases'],
        'when --version is set, --show-outdated-releases is unnecessary',
      ],
      [
        ['--version', '4.17'],
        'cannot parse SemVer target "4.17": No Major.Minor.Patch elements found',
      ],
      [['--concurrency', '0'], '--concurrency must be an integer from 1 to 8'],
      [['-o', 'wide'], '--output must be text, json or yaml, not "wide"'],
    ] as const) {
      const r = await recommend(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.equal(r.stderr, `error: ${message}\nRun 'cvo-verifier help recommend' for usage.\n`);
      assert.equal(r.checked.length, 0);
    }
  });

  it('prints the Failing, Progressing and RetrievedUpdates problems as oc does', async () => {
    const cv = clusterVersion();
    const status = cv.status;
    assert.ok(status);
    status.conditions = [
      condition(
        'Failing',
        'True',
        'ClusterOperatorNotAvailable',
        'Cluster operator monitoring is not available',
      ),
      condition('Progressing', 'True', '', 'Working towards 4.17.1:\n10 of 800 done'),
      condition('RetrievedUpdates', 'False', 'RemoteFailed', 'Unable to reach the update service'),
    ];
    status.availableUpdates = null;
    status.conditionalUpdates = [];
    const r = await recommend([], cv);
    assert.equal(r.code, 0);
    assert.equal(
      r.stdout,
      [
        'Failing=True:',
        '',
        '  Reason: ClusterOperatorNotAvailable',
        '  Message: Cluster operator monitoring is not available',
        '',
        'info: An update is in progress.  You may wish to let this update complete before requesting a new update.',
        '  Working towards 4.17.1:',
        '  10 of 800 done',
        '',
        ...CHANNEL,
        'No updates available. You may still upgrade to a specific release image with --to-image or wait for new updates to be available.',
        '',
      ].join('\n'),
    );
    assert.equal(
      r.stderr,
      'warning: Cannot refresh available updates:\n  Reason: RemoteFailed\n  Message: Unable to reach the update service\n\n',
    );
    assert.equal(r.checked.length, 0);
  });

  it('Upgradeable=False is a risk of every update to a later minor version, as oc injects it', () => {
    const cv = clusterVersion();
    cv.status?.conditions?.push(
      condition('Upgradeable', 'False', 'AdminAckRequired', 'Kubernetes 1.31 removes APIs.'),
    );
    const plan = planRecommend(cv, { showOutdatedReleases: true, quiet: false, accept: [] });
    const [to418, to417] = plan.buckets;
    const c418 = to418?.updates[0] && notRecommendedCondition(to418.updates[0]);
    assert.deepEqual(c418 && { status: c418.status, reason: c418.reason, message: c418.message }, {
      status: 'False',
      reason: 'MultipleReasons',
      message: 'Kubernetes 1.31 removes APIs.\n\netcd may\nlose quorum.',
    });
    // The same minor is not affected, and the ClusterVersion itself is not edited.
    assert.ok(to417?.updates.every((u) => notRecommendedCondition(u) === undefined));
    assert.deepEqual(cv.status?.conditionalUpdates?.[0]?.conditions, [
      condition('Recommended', 'False', 'EtcdRisk', 'etcd may\nlose quorum.'),
    ]);
  });

  it("a risk without conditions is Recommended=Unknown with oc's message, as oc prints it", () => {
    const c = notRecommendedCondition({
      release: { version: '4.18.1', image: IMG(6) },
      risks: [{ name: 'B' }, { name: 'A' }],
      conditions: [],
    });
    assert.deepEqual(c && [c.status, c.reason, c.message], [
      'Unknown',
      'NoConditions',
      // oc's slice starts with as many empty names as there are risks.
      'Conditional update to 4.18.1 has risks (, , A, B), but no conditions.',
    ]);
  });

  it('-o json prints every shown update with its risk and verdict', async () => {
    const r = await recommend(['-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as {
      issues: string[];
      updates: { version: string; recommended: unknown; risks: string[]; verify: UpdateVerdict }[];
    };
    assert.deepEqual(report.issues, []);
    assert.deepEqual(
      report.updates.map((u) => [u.version, u.verify.result, u.risks]),
      [
        ['4.18.0', 'verified', ['EtcdRisk']],
        ['4.17.3', 'verified', []],
        ['4.17.2', 'refused', []],
      ],
    );
    assert.deepEqual(report.updates[2]?.verify, {
      result: 'refused',
      code: 'NOT_SIGNED',
      reason: 'NotSigned',
      message: `unable to verify sha256:${'3'.repeat(64)} against keyrings: e2e`,
      checkedAt: NOW.toISOString(),
      source: 'check',
    });
  });
});

describe('recommend with the verdicts the service published', () => {
  const ago = (ms: number): string => new Date(NOW.getTime() - ms).toISOString();
  const state: PublishedUpdates = {
    updatedAt: ago(60_000),
    identity: 'leader-1',
    intervalMs: 600_000,
    verdicts: [
      // Fresh: used as published (even against what a check now would say).
      {
        image: IMG(5),
        version: '4.18.0',
        verdict: {
          result: 'refused',
          reason: 'KeyRevoked',
          message: 'the key is revoked',
          checkedAt: ago(120_000),
        },
      },
      {
        image: IMG(4),
        version: '4.17.3',
        verdict: { result: 'verified', summary: 's', checkedAt: ago(60_000) },
      },
      // Older than three refresh intervals: checked here.
      {
        image: IMG(3),
        version: '4.17.2',
        verdict: { result: 'verified', summary: 's', checkedAt: ago(1_800_001) },
      },
    ],
  };

  it('uses a recent published verdict, saying so and when; checks the rest here', async () => {
    const r = await recommend([], clusterVersion(), SCRIPT, state);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      r.checked.map((c) => c.image),
      [IMG(3)],
    );
    assert.match(
      r.stdout,
      /\n {2}Verify: refused \(KeyRevoked\) \(service, 2m ago\): the key is revoked\n/,
    );
    assert.match(r.stdout, /\n {2}4\.17\.3 .* verified \(service, 1m ago\)\n/);
    assert.match(r.stdout, /\n {2}4\.17\.2 .* refused \(NotSigned\)\n/);
  });

  it('an unknown published verdict is checked again here', async () => {
    const r = await recommend(['--version', '4.17.3'], clusterVersion(), SCRIPT, {
      ...state,
      verdicts: [
        {
          image: IMG(4),
          version: '4.17.3',
          verdict: { result: 'unknown', message: 'timeout', checkedAt: ago(1000) },
        },
      ],
    });
    assert.deepEqual(
      r.checked.map((c) => c.image),
      [IMG(4)],
    );
    assert.match(r.stdout, /\nVerify: verified\n/);
  });

  it('--check checks every update here', async () => {
    const r = await recommend(['--check', '-o', 'json'], clusterVersion(), SCRIPT, state);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.checked.length, 3);
    const report = JSON.parse(r.stdout) as { updates: { verify: { source: string } }[] };
    assert.deepEqual(
      report.updates.map((u) => u.verify.source),
      ['check', 'check', 'check'],
    );
  });
});

describe('toUpdateVerdict', () => {
  const release = { version: '4.17.1', image: IMG(2) };
  const cases: readonly [string, ClusterVerification, UpdateVerdict][] = [
    [
      'signatures verified',
      verified('k: ok'),
      { result: 'verified', summary: 'k: ok', checkedAt: AT },
    ],
    [
      'not signed',
      refused('NOT_SIGNED', 'unable to verify'),
      {
        result: 'refused',
        code: 'NOT_SIGNED',
        reason: 'NotSigned',
        message: 'unable to verify',
        checkedAt: AT,
      },
    ],
    [
      'trust unreadable: unknown, not refused',
      refused('CLUSTER_CONFIG_UNREADABLE', 'forbidden'),
      { result: 'unknown', message: 'forbidden', checkedAt: AT },
    ],
    [
      'payload fails',
      {
        ...verified(),
        payload: {
          mode: 'enforce',
          verified: false,
          message: '1 of 2 component images …',
          failing: [],
        },
      },
      {
        result: 'refused',
        reason: 'PayloadVerificationFailed',
        message: '1 of 2 component images …',
        checkedAt: AT,
      },
    ],
    [
      'payload with nothing covered',
      {
        ...verified(),
        payload: {
          mode: 'enforce',
          verified: false,
          nothingCovered: true,
          message: 'none',
          failing: [],
        },
      },
      { result: 'refused', reason: 'NoComponentsCovered', message: 'none', checkedAt: AT },
    ],
    [
      'release-metadata names another version',
      { ...verified(), release: { kind: 'loaded', version: '4.17.9' } },
      {
        result: 'refused',
        reason: 'VerifyPayloadVersion',
        message: `Verifying payload failed version="4.17.1" image="${IMG(2)}" failure=release image version 4.17.9 does not match the expected upstream version 4.17.1`,
        checkedAt: AT,
      },
    ],
    [
      'release-metadata agrees',
      { ...verified('s'), release: { kind: 'loaded', version: '4.17.1' } },
      { result: 'verified', summary: 's', checkedAt: AT },
    ],
  ];
  for (const [name, verification, want] of cases) {
    it(name, () => {
      assert.deepEqual(toUpdateVerdict(release, verification, AT), want);
    });
  }
});

describe('checkUpdates', () => {
  const releases = [1, 2, 3, 4, 5].map((n) => ({ version: `4.17.${String(n)}`, image: IMG(n) }));

  it('runs at most `concurrency` checks at once and checks each release once', async () => {
    let running = 0;
    let peak = 0;
    const seen: string[] = [];
    const check: UpdateChecker = async (image) => {
      seen.push(image);
      running++;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setImmediate(resolve));
      running--;
      return verified();
    };
    const verdicts = new Map<string, UpdateVerdict>();
    await checkUpdates(releases, clusterVersion(), check, {
      budgetMs: 1000,
      concurrency: 2,
      now: () => NOW,
      onVerdict: (image, v) => verdicts.set(image, v),
    });
    assert.equal(peak, 2);
    assert.deepEqual(seen.sort(), releases.map((r) => r.image).sort());
    assert.ok([...verdicts.values()].every((v) => v.result === 'verified'));
  });

  it('a check that runs out of its budget or throws is unknown, saying why; the rest still run', async () => {
    const check: UpdateChecker = (image, _cv, signal) => {
      if (image === IMG(1))
        return new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => {
            reject(new Error('aborted'));
          });
        });
      if (image === IMG(2)) return Promise.reject(new Error('registry exploded'));
      return Promise.resolve(verified());
    };
    const verdicts = new Map<string, UpdateVerdict>();
    await checkUpdates(releases.slice(0, 3), clusterVersion(), check, {
      budgetMs: 50,
      concurrency: 3,
      now: () => NOW,
      onVerdict: (image, v) => verdicts.set(image, v),
    });
    assert.deepEqual(verdicts.get(IMG(1)), {
      result: 'unknown',
      message: 'the check did not finish within 0.05s',
      checkedAt: NOW.toISOString(),
    });
    assert.deepEqual(verdicts.get(IMG(2)), {
      result: 'unknown',
      message: 'the check failed: registry exploded',
      checkedAt: NOW.toISOString(),
    });
    assert.equal(verdicts.get(IMG(3))?.result, 'verified');
  });
});

describe('renderRecommend', () => {
  it('an update not checked is unknown', () => {
    const plan = planRecommend(clusterVersion(), {
      showOutdatedReleases: false,
      quiet: false,
      accept: [],
    });
    const r = renderRecommend(
      plan,
      { showOutdatedReleases: false, quiet: false, accept: [] },
      () => undefined,
    );
    assert.match(
      r.stdout,
      / {2}4\.17\.3 {6}no known issues relevant to this cluster unknown\n {6}not checked\n/,
    );
    assert.match(r.stdout, /\n {2}Verify: unknown: not checked\n/);
  });
});
