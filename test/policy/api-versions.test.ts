/**
 * ClusterImagePolicy / ImagePolicy in both served versions, judged by the CRDs themselves: the v1
 * CRDs of ../shared/fixtures/openshift-api and the v1alpha1 CRDs of
 * testdata/openshift-api-v1alpha1 (see its SOURCE). Every schema difference between the two is
 * listed here from the files, and each is exercised with the CRD's own values and messages.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { load } from 'js-yaml';

import { PolicyError } from '../../src/policy/policy-error.js';
import type { PolicyIssue } from '../../src/policy/policy-error.js';
import { parsePolicyText } from '../../src/policy/parse.js';
import { POLICY_API_VERSIONS, validatePolicyObject } from '../../src/policy/validate.js';
import { repoRoot, sharedFixture } from '../helpers/fixtures.js';
import { makeTestPki } from '../helpers/tls.js';
import type { TestPki } from '../helpers/tls.js';
import { b64, clone, publicKeyPem, publicKeyPolicy, setPath } from './policy-fixtures.js';
import type { Plain } from './policy-fixtures.js';

const V1 = 'config.openshift.io/v1';
const V1ALPHA1 = 'config.openshift.io/v1alpha1';
const V1ALPHA1_DIR = join(repoRoot, 'test', 'policy', 'testdata', 'openshift-api-v1alpha1');
const CRD_FILES = {
  ClusterImagePolicy: '0000_10_config-operator_01_clusterimagepolicies.crd.yaml',
  ImagePolicy: '0000_10_config-operator_01_imagepolicies.crd.yaml',
} as const;

const RoT = 'spec.policy.rootOfTrust';
const SI = 'spec.policy.signedIdentity';

interface CrdVersion {
  readonly name: string;
  readonly served: boolean;
  readonly storage: boolean;
  readonly schema: { readonly openAPIV3Schema: Schema };
}
interface Schema {
  readonly properties?: Readonly<Record<string, Schema>>;
  readonly items?: Schema;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly maxItems?: number;
  readonly minItems?: number;
  readonly 'x-kubernetes-validations'?: readonly { readonly message: string; rule: string }[];
}
interface Crd {
  readonly spec: { readonly versions: readonly CrdVersion[] };
}

function readCrd(path: string): Crd {
  return load(readFileSync(path, 'utf8')) as Crd;
}

/** The only served version's schema. */
function servedSchema(crd: Crd): Schema {
  const served = crd.spec.versions.filter((v) => v.served);
  assert.equal(served.length, 1);
  return served[0]!.schema.openAPIV3Schema;
}

/** The schema node at a dotted field path (`status.conditions`, `spec.policy…keyData`). */
function schemaAt(schema: Schema, path: string): Schema {
  let node = schema;
  for (const key of path.split('.')) {
    const next = node.properties?.[key];
    assert.ok(next, `no ${key} in the schema at ${path}`);
    node = next;
  }
  return node;
}

function celMessages(schema: Schema, path: string): string[] {
  return (schemaAt(schema, path)['x-kubernetes-validations'] ?? []).map((v) => v.message);
}

/** The schema without descriptions, as field path → value for every leaf that differs. */
function schemaDifferences(a: unknown, b: unknown, path = ''): Map<string, [unknown, unknown]> {
  const out = new Map<string, [unknown, unknown]>();
  const strip = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(strip)
      : typeof v === 'object' && v !== null
        ? Object.fromEntries(
            Object.entries(v)
              .filter(([k]) => k !== 'description')
              .map(([k, x]) => [k, strip(x)]),
          )
        : v;
  const walk = (x: unknown, y: unknown, p: string): void => {
    if (JSON.stringify(x) === JSON.stringify(y)) return;
    const isObj = (v: unknown): v is Record<string, unknown> =>
      typeof v === 'object' && v !== null && !Array.isArray(v);
    if (isObj(x) && isObj(y)) {
      for (const k of new Set([...Object.keys(x), ...Object.keys(y)])) {
        // `properties.<field>` reads as the field path the API server reports.
        walk(x[k], y[k], k === 'properties' ? p : p === '' ? k : `${p}.${k}`);
      }
      return;
    }
    out.set(p, [x, y]);
  };
  walk(strip(a), strip(b), path);
  return out;
}

function issuesOf(value: unknown): PolicyIssue[] {
  try {
    validatePolicyObject(value, 'f.yaml');
    return [];
  } catch (err) {
    assert.ok(err instanceof PolicyError, String(err));
    return [...err.issues];
  }
}

function withVersion(value: Plain, apiVersion: string): Plain {
  return { ...clone(value), apiVersion };
}

describe('apiVersion', () => {
  const key = publicKeyPem();

  it('accepts config.openshift.io/v1 and config.openshift.io/v1alpha1, and records which', () => {
    for (const apiVersion of [V1, V1ALPHA1]) {
      for (const kind of ['ClusterImagePolicy', 'ImagePolicy']) {
        const p = validatePolicyObject(
          withVersion(publicKeyPolicy(key, { kind, namespace: 'ns' }), apiVersion),
          'f.yaml',
        );
        assert.equal(p.apiVersion, apiVersion);
        assert.equal(p.kind, kind);
      }
    }
    assert.deepEqual([...POLICY_API_VERSIONS], [V1, V1ALPHA1]);
  });

  for (const apiVersion of [
    'config.openshift.io/v1beta1',
    'config.openshift.io/v2',
    'config.openshift.io/V1',
    'config.openshift.io/v1alpha2',
    'v1',
    'config.openshift.io',
    '',
    undefined,
    1,
  ])
    it(`refuses apiVersion ${JSON.stringify(apiVersion)}`, () => {
      const issues = issuesOf(withVersion(publicKeyPolicy(key), apiVersion as string));
      assert.deepEqual(issues, [
        {
          path: 'apiVersion',
          message: `Unsupported value: ${JSON.stringify(apiVersion)}: supported values: "${V1}", "${V1ALPHA1}"`,
        },
      ]);
    });

  it('still refuses a field v1alpha1 does not define (structural schema)', () => {
    for (const [path, issuePath] of [
      [`${RoT}.publicKey.keyPath`, `${RoT}.publicKey.keyPath`],
      ['spec.extra', 'spec.extra'],
      ['extra', 'extra'],
      [SI, `${SI}.matchPolicy`],
    ] as const) {
      const v = withVersion(publicKeyPolicy(key), V1ALPHA1);
      setPath(v, path, path === SI ? { repository: 'a.com/r' } : '/x');
      const issues = issuesOf(v);
      assert.ok(
        issues.some((i) => i.path === issuePath),
        `${path}: ${JSON.stringify(issues)}`,
      );
    }
  });

  it('reads v1alpha1 objects in multi-document files and Lists', () => {
    const a = withVersion(publicKeyPolicy(key, { name: 'a' }), V1ALPHA1);
    const b = publicKeyPolicy(key, { name: 'b' });
    const list = JSON.stringify({
      apiVersion: V1ALPHA1,
      kind: 'ClusterImagePolicyList',
      items: [a, b],
    });
    const parsed = parsePolicyText(list, 'l.json');
    assert.deepEqual(parsed.errors, []);
    assert.deepEqual(
      parsed.objects.map((o) => [o.name, o.apiVersion]),
      [
        ['a', V1ALPHA1],
        ['b', V1],
      ],
    );
  });
});

describe('the v1 and v1alpha1 CRDs', () => {
  const v1Files = Object.values(CRD_FILES).map((f) => sharedFixture(join('openshift-api', f)));
  const skip = v1Files.find((f) => 'skip' in f);

  it('serve one version each: v1 (stored) in the payload CRDs, v1alpha1 in the old ones', (t) => {
    if (skip !== undefined && 'skip' in skip) return t.skip(skip.skip);
    for (const file of Object.values(CRD_FILES)) {
      const v1 = readCrd(join(repoRoot, '..', 'shared', 'fixtures', 'openshift-api', file));
      const alpha = readCrd(join(V1ALPHA1_DIR, file));
      assert.deepEqual(
        v1.spec.versions.map((v) => [v.name, v.served, v.storage]),
        [['v1', true, true]],
      );
      assert.deepEqual(
        alpha.spec.versions.map((v) => [v.name, v.served, v.storage]),
        [['v1alpha1', true, true]],
      );
    }
  });

  it('differ exactly at the fields validate.ts treats per version', (t) => {
    if (skip !== undefined && 'skip' in skip) return t.skip(skip.skip);
    for (const file of Object.values(CRD_FILES)) {
      const v1 = servedSchema(
        readCrd(join(repoRoot, '..', 'shared', 'fixtures', 'openshift-api', file)),
      );
      const alpha = servedSchema(readCrd(join(V1ALPHA1_DIR, file)));
      const differences = schemaDifferences(alpha, v1);
      // Each of these is exercised below; a new difference upstream fails here first.
      assert.deepEqual(
        [...differences.keys()].sort(),
        [
          `${RoT}.fulcioCAWithRekor.fulcioCAData.x-kubernetes-validations`,
          `${RoT}.fulcioCAWithRekor.fulcioSubject.oidcIssuer.maxLength`,
          `${RoT}.fulcioCAWithRekor.fulcioSubject.signedEmail.maxLength`,
          `${RoT}.fulcioCAWithRekor.rekorKeyData.x-kubernetes-validations`,
          `${RoT}.pki.caIntermediatesData.minLength`,
          `${RoT}.pki.caRootsData.minLength`,
          `${RoT}.pki.pkiCertificateSubject.email.x-kubernetes-validations`,
          `${RoT}.pki.pkiCertificateSubject.hostname.x-kubernetes-validations`,
          `${RoT}.publicKey.keyData.minLength`,
          `${RoT}.publicKey.keyData.x-kubernetes-validations`,
          `${RoT}.publicKey.rekorKeyData.x-kubernetes-validations`,
          `${SI}.exactRepository.repository.x-kubernetes-validations`,
          `${SI}.remapIdentity.prefix.x-kubernetes-validations`,
          `${SI}.remapIdentity.signedPrefix.x-kubernetes-validations`,
          // Deliberately not enforced: status is dropped on create and never empty when read
          // (the MCO writes one condition), see the report of issue 13.
          'status.conditions.maxItems',
          'status.conditions.minItems',
        ].sort(),
      );
    }
  });
});

describe('validation at each schema difference, with the CRDs’ values and messages', () => {
  let pki: TestPki;
  let key: string;
  let rekor: string;
  let v1: Schema;
  let alpha: Schema;
  let skipReason: string | undefined;
  let pk: Plain;
  let fulcio: Plain;
  let pkiPolicy: Plain;

  before(async () => {
    const found = sharedFixture(join('openshift-api', CRD_FILES.ClusterImagePolicy));
    if ('skip' in found) {
      skipReason = found.skip;
      return;
    }
    v1 = servedSchema(readCrd(found.path));
    alpha = servedSchema(readCrd(join(V1ALPHA1_DIR, CRD_FILES.ClusterImagePolicy)));
    pki = await makeTestPki();
    key = publicKeyPem();
    rekor = publicKeyPem();
    pk = publicKeyPolicy(key);
    setPath(pk, `${RoT}.publicKey.rekorKeyData`, b64(rekor));
    fulcio = publicKeyPolicy(key);
    setPath(fulcio, RoT, {
      policyType: 'FulcioCAWithRekor',
      fulcioCAWithRekor: {
        fulcioCAData: b64(pki.caPem),
        rekorKeyData: b64(rekor),
        fulcioSubject: { oidcIssuer: 'https://oidc.example.com/', signedEmail: 'me@example.com' },
      },
    });
    setPath(fulcio, SI, {
      matchPolicy: 'RemapIdentity',
      remapIdentity: { prefix: 'mirror.example.com/ns', signedPrefix: 'quay.io/ns' },
    });
    pkiPolicy = publicKeyPolicy(key);
    setPath(pkiPolicy, RoT, {
      policyType: 'PKI',
      pki: {
        caRootsData: b64(pki.caPem),
        pkiCertificateSubject: { email: 'a@example.com' },
      },
    });
    setPath(pkiPolicy, SI, {
      matchPolicy: 'ExactRepository',
      exactRepository: { repository: 'quay.io/ns/repo' },
    });
  });
  after(async () => {
    await pki?.cleanup();
  });

  /** Both versions of `base` with `path` set to `value`. */
  function both(
    base: Plain,
    path: string,
    value: unknown,
  ): { v1: PolicyIssue[]; alpha: PolicyIssue[] } {
    return {
      v1: issuesOf(setPath(withVersion(base, V1), path, value)),
      alpha: issuesOf(setPath(withVersion(base, V1ALPHA1), path, value)),
    };
  }

  it('accepts the base objects in both versions', (t) => {
    if (skipReason !== undefined) return t.skip(skipReason);
    for (const base of [pk, fulcio, pkiPolicy]) {
      assert.deepEqual(issuesOf(withVersion(base, V1)), []);
      assert.deepEqual(issuesOf(withVersion(base, V1ALPHA1)), []);
    }
  });

  it('PEM marker rules on keyData, rekorKeyData and fulcioCAData exist in v1 only', (t) => {
    if (skipReason !== undefined) return t.skip(skipReason);
    // A PEM with a leading blank line breaks the start rule, one with two trailing newlines
    // the end rule; both are still exactly one PEM block, which v1alpha1 accepts.
    const fields: [Plain, string, string][] = [
      [pk, `${RoT}.publicKey.keyData`, key],
      [pk, `${RoT}.publicKey.rekorKeyData`, rekor],
      [fulcio, `${RoT}.fulcioCAWithRekor.fulcioCAData`, pki.caPem],
      [fulcio, `${RoT}.fulcioCAWithRekor.rekorKeyData`, rekor],
    ];
    for (const [base, path, pem] of fields) {
      const [startMessage, endMessage] = celMessages(v1, path);
      assert.ok(startMessage !== undefined && endMessage !== undefined);
      assert.deepEqual(celMessages(alpha, path), []);
      const start = both(base, path, b64(`\n${pem}`));
      assert.deepEqual(start.v1, [{ path, message: `Invalid value: ${startMessage}` }]);
      assert.deepEqual(start.alpha, []);
      const end = both(base, path, b64(`${pem.trimEnd()}\n\n`));
      assert.deepEqual(end.v1, [{ path, message: `Invalid value: ${endMessage}` }]);
      assert.deepEqual(end.alpha, []);
      // Not PEM of the right kind is refused in both (our stricter decoded-PEM check).
      const wrong = both(base, path, b64(pem.includes('CERTIFICATE') ? key : pki.caPem));
      assert.ok(wrong.v1.length > 0 && wrong.alpha.length > 0, path);
    }
  });

  it('minLength of keyData (68) and of the PKI CA bundles (72) is v1 only', (t) => {
    if (skipReason !== undefined) return t.skip(skipReason);
    for (const [base, path] of [
      [pk, `${RoT}.publicKey.keyData`],
      [pkiPolicy, `${RoT}.pki.caRootsData`],
      [pkiPolicy, `${RoT}.pki.caIntermediatesData`],
    ] as const) {
      const min = schemaAt(v1, path).minLength;
      assert.ok(min !== undefined);
      assert.equal(schemaAt(alpha, path).minLength, undefined);
      // Short base64 of a start marker: below minLength, and never a usable PEM either.
      const short = b64(
        path.endsWith('keyData') ? '-----BEGIN PUBLIC KEY-----\n' : '-----BEGIN CERTIFICATE-----',
      );
      assert.ok(short.length < min);
      const r = both(base, path, short);
      const tooShort = `Invalid value: should be at least ${min} chars long`;
      assert.ok(
        r.v1.some((i) => i.path === path && i.message === tooShort),
        JSON.stringify(r.v1),
      );
      assert.ok(r.alpha.length > 0 && !r.alpha.some((i) => i.message === tooShort));
    }
  });

  it('maxLength of oidcIssuer (2048) and signedEmail (320) is v1 only', (t) => {
    if (skipReason !== undefined) return t.skip(skipReason);
    const subject = `${RoT}.fulcioCAWithRekor.fulcioSubject`;
    for (const [path, make] of [
      [`${subject}.oidcIssuer`, (n: number) => `https://oidc.example.com/${'a'.repeat(n - 25)}`],
      [`${subject}.signedEmail`, (n: number) => `${'a'.repeat(n - 12)}@example.com`],
    ] as const) {
      const max = schemaAt(v1, path).maxLength;
      assert.ok(max !== undefined);
      assert.equal(schemaAt(alpha, path).maxLength, undefined);
      assert.deepEqual(both(fulcio, path, make(max)), { v1: [], alpha: [] });
      const over = make(max + 1);
      assert.equal(over.length, max + 1);
      assert.deepEqual(both(fulcio, path, over), {
        v1: [{ path, message: `Too long: may not be longer than ${max}` }],
        alpha: [],
      });
    }
  });

  it('messages of pkiCertificateSubject.email and .hostname are each version’s own', (t) => {
    if (skipReason !== undefined) return t.skip(skipReason);
    const subject = `${RoT}.pki.pkiCertificateSubject`;
    for (const [path, bad] of [
      [`${subject}.email`, 'nobody'],
      [`${subject}.hostname`, 'Bad_Host.com'],
    ] as const) {
      const r = both(pkiPolicy, path, bad);
      assert.deepEqual(r.v1, [{ path, message: `Invalid value: ${celMessages(v1, path)[0]}` }]);
      assert.deepEqual(r.alpha, [
        { path, message: `Invalid value: ${celMessages(alpha, path)[0]}` },
      ]);
      assert.notDeepEqual(r.v1, r.alpha);
    }
  });

  it('the signedIdentity repository syntax message is each version’s own', (t) => {
    if (skipReason !== undefined) return t.skip(skipReason);
    for (const [base, path] of [
      [pkiPolicy, `${SI}.exactRepository.repository`],
      [fulcio, `${SI}.remapIdentity.prefix`],
      [fulcio, `${SI}.remapIdentity.signedPrefix`],
    ] as const) {
      const [tagV1, syntaxV1] = celMessages(v1, path);
      const [tagAlpha, syntaxAlpha] = celMessages(alpha, path);
      assert.equal(tagV1, tagAlpha);
      const syntax = both(base, path, 'Mirror/ns');
      assert.deepEqual(syntax.v1, [{ path, message: `Invalid value: ${syntaxV1}` }]);
      assert.deepEqual(syntax.alpha, [{ path, message: `Invalid value: ${syntaxAlpha}` }]);
      const tag = both(base, path, 'quay.io/ns/repo:tag');
      assert.deepEqual(tag.v1, [{ path, message: `Invalid value: ${tagV1}` }]);
      assert.deepEqual(tag.alpha, tag.v1);
    }
  });

  it('status.conditions maxItems (8) is v1 only', (t) => {
    if (skipReason !== undefined) return t.skip(skipReason);
    const max = schemaAt(v1, 'status.conditions').maxItems;
    assert.equal(max, 8);
    assert.equal(schemaAt(alpha, 'status.conditions').maxItems, undefined);
    const r = both(
      pk,
      'status.conditions',
      Array.from({ length: max + 1 }, () => ({})),
    );
    assert.deepEqual(r, {
      v1: [{ path: 'status.conditions', message: `Too many: must have at most ${max} items` }],
      alpha: [],
    });
  });

  it('the email rule is RE2’s \\S: \\v and non-ASCII spaces are accepted as the API server does', (t) => {
    if (skipReason !== undefined) return t.skip(skipReason);
    const path = `${RoT}.fulcioCAWithRekor.fulcioSubject.signedEmail`;
    for (const email of ['a\u000bb@example.com', 'a\u00a0b@example.com'])
      assert.deepEqual(both(fulcio, path, email), { v1: [], alpha: [] });
    for (const email of ['a b@example.com', 'a\tb@example.com', '@example.com'])
      assert.equal(both(fulcio, path, email).v1.length, 1);
  });
});
