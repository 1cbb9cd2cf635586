import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parsePullspec } from '../../src/image/pullspec.js';
import {
  effectivePolicies,
  resolvePolicies,
  scopeAncestors,
  scopeCandidates,
} from '../../src/policy/scope.js';
import type { PolicyObject } from '../../src/policy/types.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;

function policy(
  kind: PolicyObject['kind'],
  name: string,
  scopes: string[],
  namespace?: string,
): PolicyObject {
  return {
    apiVersion: 'config.openshift.io/v1',
    kind,
    name,
    ...(namespace !== undefined ? { namespace } : {}),
    source: `${name}.yaml`,
    spec: {
      scopes,
      policy: { rootOfTrust: { policyType: 'PublicKey', publicKey: { keyData: '' } } },
    },
  };
}
const cip = (name: string, ...scopes: string[]): PolicyObject =>
  policy('ClusterImagePolicy', name, scopes);
const ip = (ns: string, name: string, ...scopes: string[]): PolicyObject =>
  policy('ImagePolicy', name, scopes, ns);

describe('scopeCandidates (containers/image naming.go order)', () => {
  const table: [string, string[]][] = [
    [
      'a.b.example.com:5000/ns/sub/repo:v1',
      [
        'a.b.example.com:5000/ns/sub/repo:v1',
        'a.b.example.com:5000/ns/sub/repo',
        'a.b.example.com:5000/ns/sub',
        'a.b.example.com:5000/ns',
        'a.b.example.com:5000',
        '*.b.example.com',
        '*.example.com',
        '*.com',
      ],
    ],
    [
      'busybox',
      [
        'docker.io/library/busybox:latest',
        'docker.io/library/busybox',
        'docker.io/library',
        'docker.io',
        '*.io',
      ],
    ],
    [
      `example.com/r@${DIGEST}`,
      [`example.com/r@${DIGEST}`, 'example.com/r', 'example.com', '*.com'],
    ],
    [
      `example.com/r:t@${DIGEST}`,
      [`example.com/r@${DIGEST}`, 'example.com/r', 'example.com', '*.com'],
    ],
    ['localhost:5000/r', ['localhost:5000/r:latest', 'localhost:5000/r', 'localhost:5000']],
  ];
  for (const [ref, expected] of table)
    it(ref, () => {
      assert.deepEqual(scopeCandidates(parsePullspec(ref)), expected);
    });
});

describe('scopeAncestors', () => {
  const table: [string, string[]][] = [
    [
      'quay.io/ns/repo:tag',
      ['quay.io/ns/repo:tag', 'quay.io/ns/repo', 'quay.io/ns', 'quay.io', '*.io'],
    ],
    ['localhost:5000', ['localhost:5000']],
    ['example.com:5000/r', ['example.com:5000/r', 'example.com:5000', '*.com']],
    ['*.a.example.com', ['*.a.example.com', '*.example.com', '*.com']],
    [`e.com/r@${DIGEST}`, [`e.com/r@${DIGEST}`, 'e.com/r', 'e.com', '*.com']],
  ];
  for (const [scope, expected] of table)
    it(scope, () => {
      assert.deepEqual(scopeAncestors(scope), expected);
    });
});

describe('resolvePolicies', () => {
  const policies = [
    cip('repo', 'quay.io/ns/repo'),
    cip('repo-too', 'quay.io/ns/repo'),
    cip('ns', 'quay.io/ns'),
    cip('host', 'quay.io'),
    cip('port', 'quay.io:8443'),
    cip('wild', '*.example.com'),
    cip('wild-sub', '*.sub.example.com'),
    cip('tagged', 'quay.io/ns/repo:pinned'),
  ];
  const effective = effectivePolicies(policies);
  const table: [string, string | undefined, string[]][] = [
    ['quay.io/ns/repo:latest', 'quay.io/ns/repo', ['repo', 'repo-too']],
    ['quay.io/ns/repo:pinned', 'quay.io/ns/repo:pinned', ['tagged']],
    ['quay.io/ns/other', 'quay.io/ns', ['ns']],
    ['quay.io/other/x', 'quay.io', ['host']],
    ['quay.io:8443/ns/repo', 'quay.io:8443', ['port']],
    ['quay.io:9999/ns/repo', undefined, []],
    ['a.sub.example.com/r', '*.sub.example.com', ['wild-sub']],
    ['sub.example.com/r', '*.example.com', ['wild']],
    ['reg.example.com:5000/r', '*.example.com', ['wild']],
    ['example.com/r', undefined, []],
    ['docker.io/library/busybox', undefined, []],
  ];
  for (const [ref, scope, names] of table)
    it(`${ref} → ${scope ?? 'default'}`, () => {
      const match = resolvePolicies(parsePullspec(ref), effective);
      assert.equal(match?.scope, scope);
      assert.deepEqual(match?.policies.map((p) => p.name) ?? [], names);
    });

  it('looks a host up case-insensitively (DNS): QUAY.io/x falls under quay.io', () => {
    const q = effectivePolicies([cip('q', 'quay.io/ns')]);
    assert.equal(resolvePolicies(parsePullspec(`QUAY.io/ns/x@${DIGEST}`), q)?.scope, 'quay.io/ns');
    assert.equal(resolvePolicies(parsePullspec(`Quay.IO/ns/x@${DIGEST}`), q)?.scope, 'quay.io/ns');
    // A scope written with capitals in its host matches too.
    const upper = effectivePolicies([cip('u', 'QUAY.IO/ns')]);
    assert.equal(
      resolvePolicies(parsePullspec(`quay.io/ns/x@${DIGEST}`), upper)?.scope,
      'QUAY.IO/ns',
    );
  });

  // Every Docker Hub spelling of an image falls under the policy of its normalised name: these
  // skipped it, and GPG alone then said verified.
  const hub = effectivePolicies([cip('hub', 'docker.io/library/busybox')]);
  for (const ref of [
    `busybox@${DIGEST}`,
    `docker.io/busybox@${DIGEST}`,
    `index.docker.io/library/busybox@${DIGEST}`,
    `index.docker.io/busybox:1.36`,
    `docker.io/library/busybox@${DIGEST}`,
  ])
    it(`${ref} → docker.io/library/busybox`, () => {
      assert.equal(resolvePolicies(parsePullspec(ref), hub)?.scope, 'docker.io/library/busybox');
    });
});

describe('ImagePolicy conflicts (ConflictScopes)', () => {
  const policies = [
    cip('openshift', 'quay.io/openshift-release-dev/ocp-release', '*.example.com'),
    ip('team-a', 'equal', 'quay.io/openshift-release-dev/ocp-release'),
    ip('team-a', 'nested', 'quay.io/openshift-release-dev/ocp-release:4.18', 'quay.io/team-a'),
    ip('team-a', 'wild-nested', 'reg.example.com/x', '*.sub.example.com'),
    ip('team-a', 'broader', 'quay.io'),
    ip('team-b', 'other-ns', 'quay.io/team-b'),
    ip('team-b', 'bare-domain', 'example.com/r'),
  ];

  it('drops equal and nested scopes and reports them as data', () => {
    const { conflicts } = effectivePolicies(policies, 'team-a');
    assert.deepEqual(
      conflicts.map((c) => [c.namespace, c.name, c.scope, c.clusterScope, c.reason]),
      [
        [
          'team-a',
          'equal',
          'quay.io/openshift-release-dev/ocp-release',
          'quay.io/openshift-release-dev/ocp-release',
          'ConflictScopes',
        ],
        [
          'team-a',
          'nested',
          'quay.io/openshift-release-dev/ocp-release:4.18',
          'quay.io/openshift-release-dev/ocp-release',
          'ConflictScopes',
        ],
        ['team-a', 'wild-nested', '*.sub.example.com', '*.example.com', 'ConflictScopes'],
        ['team-a', 'wild-nested', 'reg.example.com/x', '*.example.com', 'ConflictScopes'],
      ],
    );
    assert.deepEqual(conflicts[0]?.clusterPolicies, ['openshift']);
  });

  it('keeps non-conflicting scopes of the chosen namespace only', () => {
    const { byScope } = effectivePolicies(policies, 'team-a');
    assert.deepEqual(
      [...byScope.keys()],
      ['*.example.com', 'quay.io', 'quay.io/openshift-release-dev/ocp-release', 'quay.io/team-a'],
    );
  });

  it('a broader ImagePolicy scope applies only where no cluster scope is more specific', () => {
    const effective = effectivePolicies(policies, 'team-a');
    assert.equal(
      resolvePolicies(parsePullspec('quay.io/openshift-release-dev/ocp-release:4.18'), effective)
        ?.policies[0]?.name,
      'openshift',
    );
    assert.equal(
      resolvePolicies(parsePullspec('quay.io/x/y'), effective)?.policies[0]?.name,
      'broader',
    );
  });

  it('without a namespace renders no ImagePolicy but still reports conflicts', () => {
    const { byScope, conflicts } = effectivePolicies(policies);
    assert.deepEqual(
      [...byScope.keys()],
      ['*.example.com', 'quay.io/openshift-release-dev/ocp-release'],
    );
    assert.equal(conflicts.length, 4);
  });

  it('an ImagePolicy without metadata.namespace belongs to the chosen namespace', () => {
    const { byScope } = effectivePolicies([policy('ImagePolicy', 'n', ['quay.io/x'])], 'team-c');
    assert.deepEqual([...byScope.keys()], ['quay.io/x']);
  });
});
