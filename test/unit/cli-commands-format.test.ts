import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { load } from 'js-yaml';

import { formatData } from '../../src/cli/history.js';
import { formatRelative, formatStatusText } from '../../src/cli/status.js';
import type { StatusReport } from '../../src/cli/status.js';
import { compareVersions, formatUpgradeSummary } from '../../src/cli/upgrade.js';
import type { ClusterVersion } from '../../src/kube/types.js';

const IMAGE = (n: number): string =>
  `quay.io/openshift-release-dev/ocp-release@sha256:${String(n).repeat(64)}`;

function clusterVersion(status: Partial<NonNullable<ClusterVersion['status']>>): ClusterVersion {
  return {
    apiVersion: 'config.openshift.io/v1',
    kind: 'ClusterVersion',
    metadata: { name: 'version' },
    spec: { clusterID: 'id' },
    status: {
      desired: { version: '4.16.0', image: IMAGE(1) },
      observedGeneration: 1,
      versionHash: 'h',
      availableUpdates: null,
      history: [
        {
          state: 'Completed',
          startedTime: '2025-01-01T00:00:00Z',
          completionTime: '2025-01-01T01:00:00Z',
          version: '4.16.0',
          image: IMAGE(1),
          verified: true,
        },
      ],
      ...status,
    },
  };
}

describe('compareVersions', () => {
  it('orders by semantic version precedence', () => {
    const sorted = [
      '4.17.0',
      '4.9.10',
      '4.17.0-rc.1',
      '4.17.0-rc.10',
      '4.17.0-rc.2',
      'not-a-version',
      '4.17.0-nightly-20181104',
      '4.17.1',
    ].sort(compareVersions);
    assert.deepEqual(sorted, [
      'not-a-version',
      '4.9.10',
      '4.17.0-nightly-20181104',
      '4.17.0-rc.1',
      '4.17.0-rc.2',
      '4.17.0-rc.10',
      '4.17.0',
      '4.17.1',
    ]);
    assert.equal(compareVersions('4.17.0+build.1', '4.17.0'), 0);
  });
});

describe('formatRelative', () => {
  const now = new Date('2025-01-01T00:00:00Z');
  const at = (ms: number): Date => new Date(now.getTime() + ms);
  it('speaks to the second, future and past', () => {
    assert.equal(formatRelative(at(25_000), now), 'in 25s');
    assert.equal(formatRelative(at(125_000), now), 'in 2m5s');
    assert.equal(formatRelative(at(120_000), now), 'in 2m');
    assert.equal(formatRelative(at(3_725_000), now), 'in 1h2m');
    assert.equal(formatRelative(at(-3_000), now), '3s ago');
    assert.equal(formatRelative(at(400), now), 'now');
    assert.equal(formatRelative(new Date('garbage'), now), 'at an unknown time');
  });
});

describe('formatStatusText', () => {
  const now = new Date('2025-01-01T00:00:00Z');
  const base: StatusReport = {
    conditions: [],
    desiredUpdate: null,
    target: null,
    verdict: null,
    rechecks: null,
    state: { configMap: 'ns/state', found: false, readable: false },
  };

  it('says when no update is requested and the state ConfigMap is missing', () => {
    assert.equal(
      formatStatusText(base, now),
      'No update requested (spec.desiredUpdate is not set).\n\nNo verification conditions yet.\n\n' +
        'No verifier state: ConfigMap ns/state not found (the service is not running, or no replica is leading).\n',
    );
  });

  it('says why a state ConfigMap cannot be read', () => {
    const text = formatStatusText(
      { ...base, state: { ...base.state, found: true, error: 'it holds no valid state.json' } },
      now,
    );
    assert.match(
      text,
      /\nVerifier state in ConfigMap ns\/state is unreadable: it holds no valid state\.json\n$/,
    );
  });

  it('shows the resolved target, the verdict with multi-line evidence and the re-checks', () => {
    const text = formatStatusText(
      {
        conditions: [
          {
            type: 'ReleaseAccepted',
            status: 'True',
            reason: 'PayloadLoaded',
            message: 'Payload loaded',
            lastTransitionTime: '2025-01-01T00:00:00Z',
          },
        ],
        desiredUpdate: { version: '4.17.0', image: '', force: false },
        target: { image: IMAGE(2), version: '4.17.0', force: false },
        verdict: {
          image: IMAGE(2),
          verified: true,
          message: 'verified',
          summary: 'verifier-public-key-redhat: signed by Red Hat',
          details: ['store a: signature-1 verified\nkey 199E2F91FD431D51'],
          checkedAt: '2024-12-31T23:59:50Z',
        },
        rechecks: [
          { kind: 'target', image: IMAGE(3), attempts: 1, nextAt: '2025-01-01T00:00:25Z' },
        ],
        state: {
          configMap: 'ns/state',
          found: true,
          readable: true,
          updatedAt: '2024-12-31T23:59:58Z',
          identity: 'pod-1',
        },
      },
      now,
    );
    assert.equal(
      text,
      [
        'Requested update: version="4.17.0" image="" force=false',
        `Target: ${IMAGE(2)} (version 4.17.0)`,
        '',
        'ReleaseAccepted=True (PayloadLoaded): Payload loaded',
        '',
        'Verifier state published 2s ago (2024-12-31T23:59:58Z) by pod-1.',
        '',
        `Verdict for ${IMAGE(2)}: verified, checked 10s ago (2024-12-31T23:59:50Z)`,
        '  verified',
        '  verifier-public-key-redhat: signed by Red Hat',
        '  Evidence:',
        '    store a: signature-1 verified',
        '    key 199E2F91FD431D51',
        '',
        'Background re-checks:',
        `  refused target ${IMAGE(3)}: next attempt in 25s (2025-01-01T00:00:25Z), 1 attempt so far`,
        '',
      ].join('\n'),
    );
  });
});

describe('formatUpgradeSummary', () => {
  it("prints oc's blocks, the requested update and oc's table (one space after the longest version)", () => {
    const cv = clusterVersion({
      desired: { version: '4.17.0', image: IMAGE(2) },
      history: [
        {
          state: 'Partial',
          startedTime: '2025-01-02T00:00:00Z',
          completionTime: null,
          version: '4.17.0',
          image: IMAGE(2),
          verified: false,
        },
        ...(clusterVersion({}).status?.history ?? []),
      ],
      conditions: [
        {
          type: 'ReleaseAccepted',
          status: 'True',
          reason: 'PayloadLoaded',
          message: 'Payload loaded\nsecond line',
          lastTransitionTime: '2025-01-02T00:00:00Z',
        },
        {
          type: 'Invalid',
          status: 'False',
          reason: 'AsExpected',
          lastTransitionTime: '2025-01-02T00:00:00Z',
        },
      ],
      availableUpdates: [
        { version: '4.17.1', image: IMAGE(3) },
        { version: '4.18.0-0.nightly-2025-01-01-000000', image: IMAGE(4) },
      ],
    });
    cv.spec.desiredUpdate = { version: '4.17.0', image: IMAGE(2), force: true };
    assert.equal(
      formatUpgradeSummary(cv, false),
      [
        'Cluster version is 4.16.0',
        `Desired release: 4.17.0 (${IMAGE(2)}), verified: false`,
        `Requested update: version="4.17.0" image="${IMAGE(2)}" force=true`,
        '',
        'ReleaseAccepted=True',
        '',
        '  Reason: PayloadLoaded',
        '  Message: Payload loaded',
        '  second line',
        '',
        '',
        'Recommended updates:',
        '',
        '  VERSION                            IMAGE',
        `  4.18.0-0.nightly-2025-01-01-000000 ${IMAGE(4)}`,
        `  4.17.1                             ${IMAGE(3)}`,
        '',
      ].join('\n'),
    );
  });

  it('says when there are no updates, and prefers the Progressing message', () => {
    const cv = clusterVersion({
      conditions: [
        {
          type: 'Progressing',
          status: 'False',
          reason: 'Done',
          message: 'Cluster version is 4.16.0',
          lastTransitionTime: '2025-01-01T00:00:00Z',
        },
      ],
    });
    assert.equal(
      formatUpgradeSummary(cv, false),
      'Cluster version is 4.16.0\n\nNo updates available. You may still upgrade to a specific release image with --to-image or wait for new updates to be available.\n',
    );
  });
});

describe('formatData', () => {
  it('prints one JSON document and one valid YAML document of the same data', () => {
    const data = { a: [1, { b: 'x: y' }], skipped: undefined, n: null, s: '# not a comment' };
    const json = formatData('json', data);
    const yaml = formatData('yaml', data);
    assert.deepEqual(JSON.parse(json), { a: [1, { b: 'x: y' }], n: null, s: '# not a comment' });
    assert.deepEqual(load(yaml), JSON.parse(json));
  });
});

describe('formatUpgradeSummary: a desired release without a version', () => {
  it('names it by its image once, not as "<image> (<image>)"', () => {
    const cv = clusterVersion({
      desired: { version: '', image: IMAGE(5) },
      history: [
        {
          state: 'Partial',
          startedTime: '2025-01-02T00:00:00Z',
          completionTime: null,
          version: '',
          image: IMAGE(5),
          verified: true,
        },
        ...(clusterVersion({}).status?.history ?? []),
      ],
    });
    const lines = formatUpgradeSummary(cv, false).split('\n');
    assert.ok(lines.includes(`Desired release: ${IMAGE(5)}, verified: true`), lines.join('\n'));
  });
});
