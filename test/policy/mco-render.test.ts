/**
 * Rendering judged by the Machine Config Operator itself:
 * - testdata/mco/expected.json holds what the MCO's own helpers (helpers.go updatePolicyJSON,
 *   updateNamespacedPolicyJSONs, generateSigstoreRegistriesdConfig and the controller's
 *   getValidScopePolicies, built from its source by testdata/mco/judge/regenerate.sh) write for
 *   testdata/mco/cases.json; our output must equal it byte for byte;
 * - mco-expected-texts.ts holds the expected policy.json texts of the MCO's own unit tests,
 *   compared as the MCO compares them (require.JSONEq).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import {
  MCO_POLICY_JSON_TEMPLATE,
  renderPolicies,
  renderValidPolicies,
} from '../../src/policy/render.js';
import type { ImagePolicySpec, PolicyKind, PolicyObject } from '../../src/policy/types.js';
import { repoRoot } from '../helpers/fixtures.js';
import {
  GENERATE_POLICY_JSON_CLUSTER,
  NAMESPACED_CLUSTER,
  NAMESPACED_TEST_1_NAMESPACE,
  NAMESPACED_TESTNAMESPACE,
} from './mco-expected-texts.js';

const MCO_DIR = join(repoRoot, 'test', 'policy', 'testdata', 'mco');

interface ApiObject {
  readonly kind: PolicyKind;
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly spec: ImagePolicySpec;
}
interface Case {
  readonly id: string;
  readonly description: string;
  readonly clusterImagePolicies: readonly ApiObject[];
  readonly imagePolicies: readonly ApiObject[];
}
interface Condition {
  readonly namespace: string;
  readonly name: string;
  readonly type: string;
  readonly reason: string;
  readonly message: string;
  readonly status: string;
}
interface MCOResult {
  readonly policyJSON: string | null;
  readonly namespaced: Readonly<Record<string, string>>;
  readonly registriesD: string | null;
  readonly conditions: readonly Condition[];
  readonly error?: string;
}

const cases = JSON.parse(readFileSync(join(MCO_DIR, 'cases.json'), 'utf8')) as Case[];
const expected = JSON.parse(readFileSync(join(MCO_DIR, 'expected.json'), 'utf8')) as {
  mcoCommit: string;
  results: Record<string, MCOResult>;
};

/**
 * The objects as the renderer sees them. The cases use the MCO tests' placeholder key data
 * ("test-key-data"), which validation rightly refuses, so they skip it: rendering only
 * re-encodes base64.
 */
function toPolicyObject(o: ApiObject, source: string): PolicyObject {
  return {
    apiVersion: 'config.openshift.io/v1',
    kind: o.kind,
    name: o.metadata.name,
    ...(o.metadata.namespace !== undefined ? { namespace: o.metadata.namespace } : {}),
    spec: o.spec,
    source,
  };
}

function objectsOf(c: Case): PolicyObject[] {
  return [...c.clusterImagePolicies, ...c.imagePolicies].map((o, i) =>
    toPolicyObject(o, `${c.id}#${i + 1}`),
  );
}

describe('rendering equals the MCO helpers’ output byte for byte (testdata/mco)', () => {
  it('covers every case, judged at one MCO commit without errors', () => {
    assert.match(expected.mcoCommit, /^[0-9a-f]{40}$/);
    assert.deepEqual(Object.keys(expected.results).sort(), cases.map((c) => c.id).sort());
    for (const [id, r] of Object.entries(expected.results)) assert.equal(r.error, undefined, id);
  });

  for (const c of cases) {
    it(`${c.id}: ${c.description}`, () => {
      const mco = expected.results[c.id];
      assert.ok(mco !== undefined);
      const ours = renderValidPolicies(objectsOf(c));
      // No policy.json from the MCO means the node keeps the template.
      assert.equal(ours.clusterPolicyJson, mco.policyJSON ?? MCO_POLICY_JSON_TEMPLATE);
      assert.deepEqual(Object.fromEntries(ours.namespacePolicyJsons), mco.namespaced);
      assert.equal(ours.registriesD, mco.registriesD ?? '');
      assert.deepEqual(
        ours.conflicts.map((x) => ({
          namespace: x.namespace,
          name: x.name,
          type: x.conditionType,
          reason: x.reason,
          message: x.message,
          status: x.status,
        })),
        mco.conditions,
      );
      // With a namespace, the file CRI-O reads for its pods.
      for (const namespace of ['testnamespace', 'team-a', 'ns', 'unknown-namespace']) {
        const view = renderValidPolicies(objectsOf(c), namespace);
        assert.equal(
          view.policyJson,
          mco.namespaced[namespace] ?? mco.policyJSON ?? MCO_POLICY_JSON_TEMPLATE,
        );
      }
    });
  }
});

describe('rendering matches the MCO unit tests’ expected policy.json (helpers_test.go)', () => {
  const byId = new Map(cases.map((c) => [c.id, c]));
  const jsonEq = (actual: string, mcoText: string): void => {
    assert.deepEqual(JSON.parse(actual), JSON.parse(mcoText));
  };

  it('TestGeneratePolicyJSON: ClusterImagePolicies test-cr0 and test-cr3', () => {
    const c = byId.get('mco-generate-policy-json');
    assert.ok(c);
    jsonEq(renderValidPolicies(objectsOf(c)).clusterPolicyJson, GENERATE_POLICY_JSON_CLUSTER);
  });

  it('TestUpdateNamespacedPolicyJSONs: the cluster policy and both namespaces', () => {
    const c = byId.get('mco-namespaced');
    assert.ok(c);
    const ours = renderValidPolicies(objectsOf(c));
    jsonEq(ours.clusterPolicyJson, NAMESPACED_CLUSTER);
    assert.deepEqual([...ours.namespacePolicyJsons.keys()], ['test-1-namespace', 'testnamespace']);
    jsonEq(ours.namespacePolicyJsons.get('testnamespace') ?? '', NAMESPACED_TESTNAMESPACE);
    jsonEq(ours.namespacePolicyJsons.get('test-1-namespace') ?? '', NAMESPACED_TEST_1_NAMESPACE);
  });
});

describe('renderPolicies keeps the MCO’s output through parsing and validation', () => {
  it('renders only the template when no ClusterImagePolicy exists, and nothing for registries.d', () => {
    const r = renderPolicies([]);
    assert.deepEqual(r.errors, []);
    assert.equal(r.policyJson, MCO_POLICY_JSON_TEMPLATE);
    assert.equal(r.registriesD, '');
    // The template is the MCO's policy.yaml inline block: valid JSON, nothing but the defaults.
    assert.deepEqual(JSON.parse(MCO_POLICY_JSON_TEMPLATE), {
      default: [{ type: 'insecureAcceptAnything' }],
      transports: { 'docker-daemon': { '': [{ type: 'insecureAcceptAnything' }] } },
    });
  });
});
