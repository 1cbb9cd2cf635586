import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parsePullspec } from '../../src/image/pullspec.js';
import {
  conflictScopesMessage,
  effectivePolicies,
  resolvePolicies,
  scopeCandidates,
  scopeIsNestedInsideScope,
  scopePolicies,
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

describe("scopeIsNestedInsideScope (the MCO's conflict test, openshift/runtime-utils)", () => {
  // The table of openshift/runtime-utils pkg/registries/registries_test.go
  // TestScopeIsNestedInsideScope (lines 23-45 at 7bdb5b9c177b, the version the MCO vendors),
  // copied verbatim: [subScope, superScope, expected].
  const upstream: [string, string, boolean][] = [
    ['quay.io', 'example.com', false], // Host mismatch
    ['quay.io', 'quay.io', true], // Host match
    ['quay.io:443', 'quay.io', false], // Port mismatch (although reg is a prefix of scope)
    ['quay.io:443', 'quay.io:444', false], // Port mismatch
    ['quay.io.example.com', 'quay.io', false], // Host mismatch (although reg is a prefix of scope)
    ['quay.io2', 'quay.io', false], // Host mismatch (although reg is a prefix of scope)
    ['quay.io/ns1', 'quay.io', true], // Valid namespace
    ['quay.io/ns1/ns2/ns3', 'quay.io', true], // Valid namespace
    ['quay.io/ns1/ns2/ns3', 'not-quay.io', false], // Host mismatch
    ['bar/example.foo', '*.foo', false], // Wildcards only match host names
    ['example/bar.foo/quay.io', '*.foo', false], // Wildcard does not match hostname
    ['example/bar.foo:400', '*.foo', false], // Wildcard does not match hostname
    ['foo.example.com', '*.example.com', true], // subScope matches superScope
    ['*.foo.example.com', '*.example.com', true], // subScope matches superScope
    ['foo.example.com/bar', '*.example.com', true], // subScope matches superScope
    ['foo.registry.com', '*.example.com', false], // subScope does not match superScope
    ['foo.example.com', '**.example.com', false], // subScope does not match superScope
    ['foo.example.com', 'example.*.com', false], // subScope does not match superScope
    ['foo.example.com', '*.example.com/foo/bar', false], // subScope does not match superScope
    ['foo.example.com:443/bar/baz', '*.example.com', true],
    ['foo.example.com:443/bar/baz', '*.example.com/bar/baz', false],
    ['foo.example.com', '*example.com', false],
    ['foo.example.com', '*/example.com', false],
  ];
  // What that code answers for tagged and digested ImagePolicy scopes (scopes may carry both).
  const tagged: [string, string, boolean][] = [
    ['quay.io/ns/repo:4.18', 'quay.io/ns/repo', false],
    [`quay.io/ns/repo@${DIGEST}`, 'quay.io/ns/repo', false],
    ['quay.io/ns/repo:4.18', 'quay.io/ns', true],
    ['reg.example.com/x:1', '*.example.com', false],
    [`reg.example.com/x@${DIGEST}`, '*.example.com', false],
    ['reg.example.com:5000/x', '*.example.com', true],
  ];
  for (const [sub, sup, expected] of [...upstream, ...tagged])
    it(`${JSON.stringify(sub)} in ${JSON.stringify(sup)}: ${expected}`, () => {
      assert.equal(scopeIsNestedInsideScope(sub, sup), expected);
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
    ip(
      'team-a',
      'nested',
      'quay.io/openshift-release-dev/ocp-release/sub',
      'quay.io/team-a',
      'reg.example.com/x',
      '*.sub.example.com',
    ),
    ip('team-a', 'tagged', 'quay.io/openshift-release-dev/ocp-release:4.18'),
    ip('team-a', 'broader', 'quay.io'),
    ip('team-b', 'other-ns', 'quay.io/team-b', 'a.example.com'),
    ip('team-b', 'bare-domain', 'example.com/r'),
  ];

  it("drops equal and nested scopes, one condition per ImagePolicy in the MCO's words", () => {
    const { conflicts } = effectivePolicies(policies, 'team-a');
    assert.deepEqual(
      conflicts.map((c) => [c.namespace, c.name, c.scopes]),
      [
        ['team-a', 'equal', ['quay.io/openshift-release-dev/ocp-release']],
        [
          'team-a',
          'nested',
          [
            'quay.io/openshift-release-dev/ocp-release/sub',
            'reg.example.com/x',
            '*.sub.example.com',
          ],
        ],
        ['team-b', 'other-ns', ['a.example.com']],
      ],
    );
    // machine-config-operator pkg/controller/container-runtime-config/
    // container_runtime_config_controller.go, getValidScopePolicies (line 1337 at 7ff337a4ffac):
    //   msg := fmt.Sprintf("has conflicting scope(s) %q that equal to or nest inside existing clusterimagepolicy, only policy from clusterimagepolicy scope(s) will be applied", conflictScopes)
    //   ctrl.syncImagePolicyStatusOnly(namespace, imagePolicy.ObjectMeta.Name, apicfgv1.ImagePolicyPending, reasonConflictScopes, msg, metav1.ConditionFalse)
    // where %q of a []string prints ["a" "b"].
    const nested = conflicts[1];
    assert.deepEqual(nested, {
      conditionType: 'Pending',
      status: 'False',
      reason: 'ConflictScopes',
      namespace: 'team-a',
      name: 'nested',
      scopes: [
        'quay.io/openshift-release-dev/ocp-release/sub',
        'reg.example.com/x',
        '*.sub.example.com',
      ],
      message:
        'has conflicting scope(s) ["quay.io/openshift-release-dev/ocp-release/sub" "reg.example.com/x" "*.sub.example.com"] that equal to or nest inside existing clusterimagepolicy, only policy from clusterimagepolicy scope(s) will be applied',
    });
    assert.equal(conflicts[2]?.message, conflictScopesMessage(['a.example.com']));
  });

  it('keeps a tagged scope of a ClusterImagePolicy repository, as the MCO does', () => {
    // ScopeIsNestedInsideScope needs a `/` after the super scope: `repo:tag` is not nested in
    // `repo`, so the ImagePolicy's requirement alone applies to that tag in its namespace.
    const effective = effectivePolicies(policies, 'team-a');
    assert.ok(!effective.conflicts.some((c) => c.name === 'tagged'));
    assert.equal(
      resolvePolicies(parsePullspec('quay.io/openshift-release-dev/ocp-release:4.18'), effective)
        ?.policies[0]?.name,
      'tagged',
    );
    // Without the namespace (what verification uses) the ClusterImagePolicy alone applies.
    assert.equal(
      resolvePolicies(
        parsePullspec('quay.io/openshift-release-dev/ocp-release:4.18'),
        effectivePolicies(policies),
      )?.policies[0]?.name,
      'openshift',
    );
  });

  it('keeps non-conflicting scopes of the chosen namespace only', () => {
    const { byScope } = effectivePolicies(policies, 'team-a');
    assert.deepEqual(
      [...byScope.keys()],
      [
        '*.example.com',
        'quay.io',
        'quay.io/openshift-release-dev/ocp-release',
        'quay.io/openshift-release-dev/ocp-release:4.18',
        'quay.io/team-a',
      ],
    );
  });

  it('splits ImagePolicy scopes per namespace for every namespace', () => {
    const split = scopePolicies(policies, 'team-a');
    assert.deepEqual(
      [...split.cluster.keys()],
      ['*.example.com', 'quay.io/openshift-release-dev/ocp-release'],
    );
    assert.deepEqual(
      [...split.namespaced].map(([scope, byNs]) => [scope, [...byNs.keys()]]),
      [
        ['example.com/r', ['team-b']],
        ['quay.io', ['team-a']],
        ['quay.io/openshift-release-dev/ocp-release:4.18', ['team-a']],
        ['quay.io/team-a', ['team-a']],
        ['quay.io/team-b', ['team-b']],
      ],
    );
  });

  it('a broader ImagePolicy scope applies only where no cluster scope is more specific', () => {
    const effective = effectivePolicies(policies, 'team-a');
    assert.equal(
      resolvePolicies(parsePullspec('quay.io/openshift-release-dev/ocp-release:4.19'), effective)
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
    assert.equal(conflicts.length, 3);
  });

  it('an ImagePolicy without metadata.namespace belongs to the chosen namespace', () => {
    const { byScope } = effectivePolicies([policy('ImagePolicy', 'n', ['quay.io/x'])], 'team-c');
    assert.deepEqual([...byScope.keys()], ['quay.io/x']);
  });
});
