import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { isPolicyError, PolicyError } from '../../src/policy/policy-error.js';
import { checkRepository, checkScope, validatePolicyObject } from '../../src/policy/validate.js';
import { makeTestPki } from '../helpers/tls.js';
import type { TestPki } from '../helpers/tls.js';
import { b64, clone, publicKeyPem, publicKeyPolicy, setPath } from './policy-fixtures.js';
import type { Plain } from './policy-fixtures.js';

const RoT = 'spec.policy.rootOfTrust';
const SI = 'spec.policy.signedIdentity';

function expectIssue(value: unknown, path: string, fragment: string): void {
  assert.throws(
    () => validatePolicyObject(value, 'f.yaml'),
    (err: unknown) => {
      assert.ok(err instanceof PolicyError, `expected PolicyError, got ${String(err)}`);
      const hit = err.issues.find((i) => i.path === path && i.message.includes(fragment));
      assert.ok(
        hit,
        `no issue at ${path} containing ${JSON.stringify(fragment)}; got ${JSON.stringify(err.issues)}`,
      );
      assert.ok(err.message.startsWith('f.yaml: '));
      return true;
    },
  );
}

describe('scope syntax (CRD CEL rules)', () => {
  const valid = [
    'example.com',
    'localhost',
    'localhost:5000',
    'localhost:5000/ns/repo',
    '*.example.com',
    '*.com',
    'example.com:8443',
    'example.com:8443/ns/repo:v1.2',
    'docker.io/library/busybox:latest',
    'quay.io/openshift-release-dev/ocp-release',
    `quay.io/a/b@sha256:${'a'.repeat(64)}`,
    'sub.example.com/a__b/c-d/e.f',
  ];
  for (const scope of valid)
    it(`accepts ${scope}`, () => {
      assert.equal(checkScope(scope), undefined);
    });
  const invalid: [string, string][] = [
    ['busybox', 'fully qualified domain name'],
    ['registry/ns/repo', 'fully qualified domain name'],
    ['localhostx/repo', 'fully qualified domain name'],
    ['example*.com', 'wildcard'],
    ['*.example.com/repo', 'wildcard'],
    ['*.example.com:5000', 'wildcard'],
    ['*example.com', 'wildcard'],
    ['example.com/Repo', 'repository namespace'],
    ['example.com/repo:-bad', 'repository namespace'],
    ['example.com/repo@sha256:abc', 'repository namespace'],
    ['example.com//repo', 'repository namespace'],
    ['-example.com/repo', 'repository namespace'],
  ];
  for (const [scope, fragment] of invalid)
    it(`rejects ${scope}`, () => {
      assert.match(checkScope(scope) ?? '', new RegExp(fragment));
    });
});

describe('signedIdentity repository syntax', () => {
  for (const repo of ['example.com/ns/repo', 'localhost:5000', 'localhost', 'example.com:5000/r'])
    it(`accepts ${repo}`, () => {
      assert.equal(checkRepository(repo), undefined);
    });
  for (const [repo, fragment] of [
    ['example.com/repo:tag', 'should not include the tag'],
    ['example.com:5000', 'should not include the tag'],
    ['repo', "starts with 'localhost'"],
    ['example.com/Repo', "starts with 'localhost'"],
    [`example.com/r@sha256:${'a'.repeat(64)}`, 'should not include the tag'],
  ] as const)
    it(`rejects ${repo}`, () => {
      assert.match(checkRepository(repo) ?? '', new RegExp(fragment));
    });
});

describe('validatePolicyObject', () => {
  let pki: TestPki;
  let key: string;
  let rekor: string;
  let publicKey: Plain;
  let fulcio: Plain;
  let pkiPolicy: Plain;

  before(async () => {
    pki = await makeTestPki();
    key = publicKeyPem();
    rekor = publicKeyPem();
    publicKey = publicKeyPolicy(key);
    setPath(publicKey, `${RoT}.publicKey.rekorKeyData`, b64(rekor));
    setPath(publicKey, SI, { matchPolicy: 'MatchRepository' });
    fulcio = publicKeyPolicy(key, { kind: 'ImagePolicy', namespace: 'team-a' });
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
        caRootsData: b64(pki.caPem + pki.otherCaPem),
        caIntermediatesData: b64(pki.serverCert),
        pkiCertificateSubject: { email: 'a@example.com', hostname: '*.example.com' },
      },
    });
    setPath(pkiPolicy, SI, {
      matchPolicy: 'ExactRepository',
      exactRepository: { repository: 'quay.io/ns/repo' },
    });
  });
  after(async () => {
    await pki.cleanup();
  });

  it('accepts a PublicKey ClusterImagePolicy with rekorKeyData', () => {
    const p = validatePolicyObject(publicKey, 'f.yaml');
    assert.equal(p.kind, 'ClusterImagePolicy');
    assert.equal(p.name, 'p');
    assert.deepEqual(p.spec.policy.signedIdentity, { matchPolicy: 'MatchRepository' });
    assert.equal(p.spec.policy.rootOfTrust.policyType, 'PublicKey');
  });

  it('accepts a FulcioCAWithRekor ImagePolicy with RemapIdentity and keeps its namespace', () => {
    const p = validatePolicyObject(fulcio, 'f.yaml');
    assert.equal(p.kind, 'ImagePolicy');
    assert.equal(p.namespace, 'team-a');
    assert.equal(p.spec.policy.signedIdentity?.matchPolicy, 'RemapIdentity');
  });

  it('accepts a PKI policy with several roots, intermediates and ExactRepository', () => {
    const p = validatePolicyObject(pkiPolicy, 'f.yaml');
    assert.equal(p.spec.policy.rootOfTrust.policyType, 'PKI');
  });

  it('accepts keyData whose PEM has no trailing newline and status conditions', () => {
    const v = clone(publicKey);
    setPath(v, `${RoT}.publicKey.keyData`, b64(key.trimEnd()));
    setPath(v, 'status', { conditions: [] });
    validatePolicyObject(v, 'f.yaml');
  });

  // Trust we cannot use is a configuration error naming the field, never a silent "not verified".
  for (const [what, pem] of [
    [
      'a P-224 key',
      generateKeyPairSync('ec', { namedCurve: 'secp224r1' })
        .publicKey.export({ format: 'pem', type: 'spki' })
        .toString(),
    ],
    [
      'an RSA-1024 key',
      generateKeyPairSync('rsa', { modulusLength: 1024 })
        .publicKey.export({ format: 'pem', type: 'spki' })
        .toString(),
    ],
    [
      'an X25519 key',
      generateKeyPairSync('x25519').publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    ],
  ] as const) {
    it(`refuses ${what} as keyData, naming the field`, () => {
      const v = clone(publicKey);
      setPath(v, `${RoT}.publicKey.keyData`, b64(pem));
      expectIssue(v, `${RoT}.publicKey.keyData`, 'not a usable public key');
    });
  }

  it('rejects a non-object document', () => {
    expectIssue(['x'], '', 'must be an object');
  });

  it('reports an unsupported kind with UNSUPPORTED_KIND', () => {
    assert.throws(
      () => validatePolicyObject({ apiVersion: 'v1', kind: 'ConfigMap' }, 'f.yaml'),
      (err: unknown) => isPolicyError(err, 'UNSUPPORTED_KIND'),
    );
  });

  it('reports every failing field at once', () => {
    const v = clone(publicKey);
    setPath(v, 'spec.scopes', ['busybox']);
    setPath(v, `${SI}.matchPolicy`, 'Nope');
    assert.throws(
      () => validatePolicyObject(v, 'f.yaml'),
      (err: unknown) => isPolicyError(err, 'INVALID_POLICY') && err.issues.length === 2,
    );
  });

  // [description, which base, path to set, value (undefined deletes), issue path, fragment]
  type Case = [string, 'pk' | 'fulcio' | 'pki', string, unknown, string, string];
  const cases = (): Case[] => {
    const cert = pki.caPem;
    const keyB = b64(key);
    const pk = `${RoT}.publicKey`;
    const fc = `${RoT}.fulcioCAWithRekor`;
    const pc = `${RoT}.pki`;
    return [
      [
        'apiVersion',
        'pk',
        'apiVersion',
        'config.openshift.io/v1beta1',
        'apiVersion',
        'Unsupported value',
      ],
      ['unknown top-level field', 'pk', 'extra', 1, 'extra', 'unknown field'],
      ['unknown spec field', 'pk', 'spec.extra', 1, 'spec.extra', 'unknown field'],
      ['unknown publicKey field', 'pk', `${pk}.keyPath`, '/x', `${pk}.keyPath`, 'unknown field'],
      ['unknown signedIdentity field', 'pk', `${SI}.other`, 'x', `${SI}.other`, 'unknown field'],
      ['metadata missing', 'pk', 'metadata', undefined, 'metadata', 'Required value'],
      [
        'metadata.name missing',
        'pk',
        'metadata.name',
        undefined,
        'metadata.name',
        'Required value',
      ],
      ['metadata.name syntax', 'pk', 'metadata.name', 'Bad_Name', 'metadata.name', 'RFC 1123'],
      ['metadata.name type', 'pk', 'metadata.name', 3, 'metadata.name', 'must be a string'],
      [
        'metadata.namespace syntax',
        'fulcio',
        'metadata.namespace',
        'a.b',
        'metadata.namespace',
        'RFC 1123 label',
      ],
      ['spec missing', 'pk', 'spec', undefined, 'spec', 'Required value'],
      ['spec type', 'pk', 'spec', 'x', 'spec', 'must be an object'],
      ['scopes missing', 'pk', 'spec.scopes', undefined, 'spec.scopes', 'Required value'],
      ['scopes type', 'pk', 'spec.scopes', 'example.com', 'spec.scopes', 'must be an array'],
      [
        'too many scopes',
        'pk',
        'spec.scopes',
        Array.from({ length: 257 }, (_, i) => `example.com/r${i}`),
        'spec.scopes',
        'at most 256',
      ],
      [
        'scope too long',
        'pk',
        'spec.scopes',
        [`example.com/${'a'.repeat(510)}`],
        'spec.scopes[0]',
        'Too long',
      ],
      ['scope not a string', 'pk', 'spec.scopes', [1], 'spec.scopes[0]', 'must be a string'],
      [
        'scope without domain',
        'pk',
        'spec.scopes',
        ['ok.com', 'busybox'],
        'spec.scopes[1]',
        'fully qualified domain name',
      ],
      [
        'scope wildcard in path',
        'pk',
        'spec.scopes',
        ['*.example.com/r'],
        'spec.scopes[0]',
        'wildcard',
      ],
      [
        'scope syntax',
        'pk',
        'spec.scopes',
        ['example.com/UPPER'],
        'spec.scopes[0]',
        'repository namespace',
      ],
      [
        'duplicate scope',
        'pk',
        'spec.scopes',
        ['a.com', 'a.com'],
        'spec.scopes[1]',
        'Duplicate value',
      ],
      ['policy missing', 'pk', 'spec.policy', undefined, 'spec.policy', 'Required value'],
      ['rootOfTrust missing', 'pk', RoT, undefined, RoT, 'Required value'],
      [
        'policyType missing',
        'pk',
        `${RoT}.policyType`,
        undefined,
        `${RoT}.policyType`,
        'Required value',
      ],
      [
        'policyType unsupported',
        'pk',
        `${RoT}.policyType`,
        'GPG',
        `${RoT}.policyType`,
        'Unsupported value',
      ],
      [
        'publicKey missing',
        'pk',
        pk,
        undefined,
        RoT,
        'publicKey is required when policyType is PublicKey',
      ],
      [
        'pki forbidden',
        'pk',
        `${RoT}.pki`,
        {},
        RoT,
        'pki is required when policyType is PKI, and forbidden otherwise',
      ],
      ['fulcioCAWithRekor missing', 'fulcio', fc, undefined, RoT, 'fulcioCAWithRekor is required'],
      ['keyData missing', 'pk', `${pk}.keyData`, undefined, `${pk}.keyData`, 'Required value'],
      [
        'keyData too short',
        'pk',
        `${pk}.keyData`,
        b64('-----BEGIN PUBLIC KEY-----\n'),
        `${pk}.keyData`,
        'at least 68',
      ],
      [
        'keyData too long',
        'pk',
        `${pk}.keyData`,
        'A'.repeat(8196),
        `${pk}.keyData`,
        'longer than 8192',
      ],
      ['keyData not base64', 'pk', `${pk}.keyData`, `!${keyB.slice(1)}`, `${pk}.keyData`, 'base64'],
      [
        'keyData is a certificate',
        'pk',
        `${pk}.keyData`,
        b64(cert),
        `${pk}.keyData`,
        "must start with base64 encoding of '-----BEGIN PUBLIC KEY-----'",
      ],
      [
        'keyData end marker',
        'pk',
        `${pk}.keyData`,
        b64(`${key}trailing`),
        `${pk}.keyData`,
        "must end with base64 encoding of '-----END PUBLIC KEY-----'",
      ],
      [
        'keyData garbage body',
        'pk',
        `${pk}.keyData`,
        b64(`-----BEGIN PUBLIC KEY-----\n${'QUFB'.repeat(20)}\n-----END PUBLIC KEY-----\n`),
        `${pk}.keyData`,
        'not a valid public key',
      ],
      [
        'keyData two keys',
        'pk',
        `${pk}.keyData`,
        b64(key + key),
        `${pk}.keyData`,
        'exactly one PEM block',
      ],
      [
        'keyData junk between blocks',
        'pk',
        `${pk}.keyData`,
        b64(key.replace('-----END', 'junk\n-----END')),
        `${pk}.keyData`,
        'Invalid value',
      ],
      [
        'rekorKeyData not a key',
        'pk',
        `${pk}.rekorKeyData`,
        b64(cert),
        `${pk}.rekorKeyData`,
        'rekorKeyData must start',
      ],
      [
        'fulcioCAData missing',
        'fulcio',
        `${fc}.fulcioCAData`,
        undefined,
        `${fc}.fulcioCAData`,
        'Required value',
      ],
      [
        'fulcioCAData is a key',
        'fulcio',
        `${fc}.fulcioCAData`,
        keyB,
        `${fc}.fulcioCAData`,
        "fulcioCAData must start with base64 encoding of '-----BEGIN CERTIFICATE-----'",
      ],
      [
        'fulcioCAData garbage cert',
        'fulcio',
        `${fc}.fulcioCAData`,
        b64(`-----BEGIN CERTIFICATE-----\n${'QUFB'.repeat(20)}\n-----END CERTIFICATE-----`),
        `${fc}.fulcioCAData`,
        'not a valid X.509 certificate',
      ],
      [
        'fulcioCAData too long',
        'fulcio',
        `${fc}.fulcioCAData`,
        'A'.repeat(8200),
        `${fc}.fulcioCAData`,
        'longer than 8192',
      ],
      [
        'fulcio rekorKeyData missing',
        'fulcio',
        `${fc}.rekorKeyData`,
        undefined,
        `${fc}.rekorKeyData`,
        'Required value',
      ],
      [
        'fulcioSubject missing',
        'fulcio',
        `${fc}.fulcioSubject`,
        undefined,
        `${fc}.fulcioSubject`,
        'Required value',
      ],
      [
        'oidcIssuer missing',
        'fulcio',
        `${fc}.fulcioSubject.oidcIssuer`,
        undefined,
        `${fc}.fulcioSubject.oidcIssuer`,
        'Required value',
      ],
      [
        'oidcIssuer not a URL',
        'fulcio',
        `${fc}.fulcioSubject.oidcIssuer`,
        'not a url',
        `${fc}.fulcioSubject.oidcIssuer`,
        'must be a valid URL',
      ],
      [
        'oidcIssuer relative',
        'fulcio',
        `${fc}.fulcioSubject.oidcIssuer`,
        'oidc.example.com',
        `${fc}.fulcioSubject.oidcIssuer`,
        'must be a valid URL',
      ],
      [
        'oidcIssuer too long',
        'fulcio',
        `${fc}.fulcioSubject.oidcIssuer`,
        `https://e.com/${'a'.repeat(2048)}`,
        `${fc}.fulcioSubject.oidcIssuer`,
        'longer than 2048',
      ],
      [
        'signedEmail missing',
        'fulcio',
        `${fc}.fulcioSubject.signedEmail`,
        undefined,
        `${fc}.fulcioSubject.signedEmail`,
        'Required value',
      ],
      [
        'signedEmail syntax',
        'fulcio',
        `${fc}.fulcioSubject.signedEmail`,
        'me at example',
        `${fc}.fulcioSubject.signedEmail`,
        'invalid email address',
      ],
      [
        'signedEmail too long',
        'fulcio',
        `${fc}.fulcioSubject.signedEmail`,
        `a@${'b'.repeat(320)}`,
        `${fc}.fulcioSubject.signedEmail`,
        'longer than 320',
      ],
      [
        'caRootsData missing',
        'pki',
        `${pc}.caRootsData`,
        undefined,
        `${pc}.caRootsData`,
        'Required value',
      ],
      [
        'caRootsData too short',
        'pki',
        `${pc}.caRootsData`,
        b64('-----BEGIN CERTIFICATE-----'),
        `${pc}.caRootsData`,
        'at least 72',
      ],
      [
        'caRootsData marker count',
        'pki',
        `${pc}.caRootsData`,
        b64(`${cert}-----BEGIN CERTIFICATE-----\n${cert}`),
        `${pc}.caRootsData`,
        'same number of',
      ],
      [
        'caRootsData is a key',
        'pki',
        `${pc}.caRootsData`,
        keyB,
        `${pc}.caRootsData`,
        'caRootsData must start',
      ],
      [
        'caIntermediatesData end marker',
        'pki',
        `${pc}.caIntermediatesData`,
        b64(`${cert}x`),
        `${pc}.caIntermediatesData`,
        'caIntermediatesData must end',
      ],
      [
        'pkiCertificateSubject missing',
        'pki',
        `${pc}.pkiCertificateSubject`,
        undefined,
        `${pc}.pkiCertificateSubject`,
        'Required value',
      ],
      [
        'pkiCertificateSubject empty',
        'pki',
        `${pc}.pkiCertificateSubject`,
        {},
        `${pc}.pkiCertificateSubject`,
        'at least one of email or hostname',
      ],
      [
        'pki email syntax',
        'pki',
        `${pc}.pkiCertificateSubject.email`,
        'nobody',
        `${pc}.pkiCertificateSubject.email`,
        'invalid email address',
      ],
      [
        'pki hostname syntax',
        'pki',
        `${pc}.pkiCertificateSubject.hostname`,
        'Bad_Host.com',
        `${pc}.pkiCertificateSubject.hostname`,
        'dns 1123 subdomain',
      ],
      [
        'pki hostname inner wildcard',
        'pki',
        `${pc}.pkiCertificateSubject.hostname`,
        'a.*.com',
        `${pc}.pkiCertificateSubject.hostname`,
        'dns 1123 subdomain',
      ],
      [
        'pki hostname too long',
        'pki',
        `${pc}.pkiCertificateSubject.hostname`,
        `${'a.'.repeat(127)}a`,
        `${pc}.pkiCertificateSubject.hostname`,
        'longer than 253',
      ],
      [
        'matchPolicy missing',
        'pk',
        `${SI}.matchPolicy`,
        undefined,
        `${SI}.matchPolicy`,
        'Required value',
      ],
      [
        'matchPolicy unsupported',
        'pk',
        `${SI}.matchPolicy`,
        'Exact',
        `${SI}.matchPolicy`,
        'Unsupported value',
      ],
      [
        'exactRepository missing',
        'pki',
        `${SI}.exactRepository`,
        undefined,
        SI,
        'exactRepository is required when matchPolicy is ExactRepository',
      ],
      [
        'exactRepository forbidden',
        'pk',
        `${SI}.exactRepository`,
        { repository: 'a.com/r' },
        SI,
        'exactRepository is required when matchPolicy is ExactRepository, and forbidden otherwise',
      ],
      [
        'remapIdentity missing',
        'fulcio',
        `${SI}.remapIdentity`,
        undefined,
        SI,
        'remapIdentity is required when matchPolicy is RemapIdentity',
      ],
      [
        'repository missing',
        'pki',
        `${SI}.exactRepository.repository`,
        undefined,
        `${SI}.exactRepository.repository`,
        'Required value',
      ],
      [
        'repository with tag',
        'pki',
        `${SI}.exactRepository.repository`,
        'quay.io/ns/repo:tag',
        `${SI}.exactRepository.repository`,
        'should not include the tag',
      ],
      [
        'repository without domain',
        'pki',
        `${SI}.exactRepository.repository`,
        'repo',
        `${SI}.exactRepository.repository`,
        "must starts with 'localhost'",
      ],
      [
        'repository too long',
        'pki',
        `${SI}.exactRepository.repository`,
        `a.com/${'r'.repeat(512)}`,
        `${SI}.exactRepository.repository`,
        'longer than 512',
      ],
      [
        'prefix syntax',
        'fulcio',
        `${SI}.remapIdentity.prefix`,
        'Mirror/ns',
        `${SI}.remapIdentity.prefix`,
        "must starts with 'localhost'",
      ],
      [
        'signedPrefix missing',
        'fulcio',
        `${SI}.remapIdentity.signedPrefix`,
        undefined,
        `${SI}.remapIdentity.signedPrefix`,
        'Required value',
      ],
      [
        'too many status conditions',
        'pk',
        'status.conditions',
        Array.from({ length: 9 }, () => ({})),
        'status.conditions',
        'at most 8',
      ],
      ['unknown status field', 'pk', 'status.phase', 'x', 'status.phase', 'unknown field'],
    ];
  };

  it('has a failing case naming the field for every rule', async (t) => {
    const bases = { pk: publicKey, fulcio, pki: pkiPolicy };
    for (const [description, base, path, value, issuePath, fragment] of cases()) {
      await t.test(description, () => {
        expectIssue(setPath(clone(bases[base]), path, value), issuePath, fragment);
      });
    }
  });
});
