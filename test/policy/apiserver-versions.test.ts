/**
 * validatePolicyObject against a real kube-apiserver serving ClusterImagePolicy in both versions
 * (the v1 CRD of ../shared/fixtures/openshift-api with the v1alpha1 version of
 * testdata/openshift-api-v1alpha1 added, as the CRD served both while moving to v1): the same
 * objects are created with `kubectl create --dry-run=server` in each version and validated by us.
 * Both must accept or refuse alike, except where we are deliberately stricter (listed with why),
 * and where the API server's CEL messages differ between versions ours must too.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { dump, load } from 'js-yaml';

import { PolicyError } from '../../src/policy/policy-error.js';
import type { PolicyIssue } from '../../src/policy/policy-error.js';
import { validatePolicyObject } from '../../src/policy/validate.js';
import { waitEstablished } from '../../testbed/local-cluster/bootstrap.js';
import { repoRoot, sharedFixture } from '../helpers/fixtures.js';
import { startTestCluster } from '../helpers/local-cluster.js';
import type { TestCluster } from '../helpers/local-cluster.js';
import { makeTestPki } from '../helpers/tls.js';
import type { TestPki } from '../helpers/tls.js';
import { b64, clone, publicKeyPem, publicKeyPolicy, setPath } from './policy-fixtures.js';
import type { Plain } from './policy-fixtures.js';

const CRD_FILE = '0000_10_config-operator_01_clusterimagepolicies.crd.yaml';
const CRD_NAME = 'clusterimagepolicies.config.openshift.io';
const VERSIONS = ['config.openshift.io/v1', 'config.openshift.io/v1alpha1'] as const;
type Version = (typeof VERSIONS)[number];

const RoT = 'spec.policy.rootOfTrust';
const SI = 'spec.policy.signedIdentity';

interface Crd {
  spec: { versions: { name: string; served: boolean; storage: boolean }[] };
}

/** The v1 CRD with v1alpha1 served beside it (not stored; conversion None, same fields). */
function twoVersionCrd(v1Path: string): string {
  const v1 = load(readFileSync(v1Path, 'utf8')) as Crd;
  const alpha = load(
    readFileSync(
      join(repoRoot, 'test', 'policy', 'testdata', 'openshift-api-v1alpha1', CRD_FILE),
      'utf8',
    ),
  ) as Crd;
  const alphaVersion = alpha.spec.versions[0];
  assert.ok(alphaVersion !== undefined && alphaVersion.name === 'v1alpha1');
  v1.spec.versions.push({ ...alphaVersion, storage: false });
  return dump(v1, { lineWidth: -1, noRefs: true });
}

interface Case {
  readonly name: string;
  readonly make: () => Plain;
  /** Versions where we refuse what the API server accepts, and why. */
  readonly stricter?: Partial<Record<Version, string>>;
  /** Text the refusal must carry, from the API server and from us, per version. */
  readonly message?: Partial<Record<Version, string>>;
}

function ours(value: Plain): PolicyIssue[] {
  try {
    validatePolicyObject(value, 'case');
    return [];
  } catch (err) {
    assert.ok(err instanceof PolicyError, String(err));
    return [...err.issues];
  }
}

describe('validation agrees with a real kube-apiserver serving v1 and v1alpha1', () => {
  let tc: TestCluster | undefined;
  let skipReason: string | undefined;
  let pki: TestPki;
  let key: string;
  let rekor: string;
  let cases: Case[];

  before(async () => {
    const v1Crd = sharedFixture(join('openshift-api', CRD_FILE));
    if ('skip' in v1Crd) {
      skipReason = v1Crd.skip;
      return;
    }
    const started = await startTestCluster();
    if ('skip' in started) {
      skipReason = started.skip;
      return;
    }
    tc = started;
    await tc.kubectl(
      ['apply', '--server-side', '--force-conflicts', '--field-manager=policy-test', '-f', '-'],
      twoVersionCrd(v1Crd.path),
    );
    await waitEstablished(tc.cluster, tc.binaries.kubectl, [CRD_NAME]);
    const served = JSON.parse(
      await tc.kubectl(['get', 'crd', CRD_NAME, '-o', 'jsonpath={.status.storedVersions}']),
    ) as unknown;
    assert.deepEqual(served, ['v1']);

    pki = await makeTestPki();
    key = publicKeyPem();
    rekor = publicKeyPem();
    const pk = (): Plain => {
      const v = publicKeyPolicy(key);
      setPath(v, `${RoT}.publicKey.rekorKeyData`, b64(rekor));
      return v;
    };
    const fulcio = (): Plain => {
      const v = publicKeyPolicy(key);
      setPath(v, RoT, {
        policyType: 'FulcioCAWithRekor',
        fulcioCAWithRekor: {
          fulcioCAData: b64(pki.caPem),
          rekorKeyData: b64(rekor),
          fulcioSubject: { oidcIssuer: 'https://oidc.example.com/', signedEmail: 'me@example.com' },
        },
      });
      return v;
    };
    const pkiPolicy = (): Plain => {
      const v = publicKeyPolicy(key);
      setPath(v, RoT, {
        policyType: 'PKI',
        pki: { caRootsData: b64(pki.caPem), pkiCertificateSubject: { email: 'a@example.com' } },
      });
      setPath(v, SI, {
        matchPolicy: 'ExactRepository',
        exactRepository: { repository: 'quay.io/ns/repo' },
      });
      return v;
    };
    const with_ = (base: () => Plain, path: string, value: unknown) => (): Plain =>
      setPath(base(), path, value);
    const subject = `${RoT}.fulcioCAWithRekor.fulcioSubject`;
    const pkiSubject = `${RoT}.pki.pkiCertificateSubject`;
    const shortKey = b64('-----BEGIN PUBLIC KEY-----\n');
    cases = [
      { name: 'PublicKey with Rekor', make: pk },
      { name: 'FulcioCAWithRekor', make: fulcio },
      { name: 'PKI with ExactRepository', make: pkiPolicy },
      {
        name: 'keyData after a blank line',
        make: with_(pk, `${RoT}.publicKey.keyData`, b64(`\n${key}`)),
        message: {
          'config.openshift.io/v1':
            "the keyData must start with base64 encoding of '-----BEGIN PUBLIC KEY-----'.",
        },
      },
      {
        name: 'rekorKeyData with two trailing newlines',
        make: with_(pk, `${RoT}.publicKey.rekorKeyData`, b64(`${rekor.trimEnd()}\n\n`)),
        message: {
          'config.openshift.io/v1':
            "the rekorKeyData must end with base64 encoding of '-----END PUBLIC KEY-----'.",
        },
      },
      {
        name: 'fulcioCAData after a blank line',
        make: with_(fulcio, `${RoT}.fulcioCAWithRekor.fulcioCAData`, b64(`\n${pki.caPem}`)),
        message: {
          'config.openshift.io/v1':
            "the fulcioCAData must start with base64 encoding of '-----BEGIN CERTIFICATE-----'.",
        },
      },
      {
        name: 'keyData too short to be a key',
        make: with_(pk, `${RoT}.publicKey.keyData`, shortKey),
        stricter: {
          'config.openshift.io/v1alpha1':
            'v1alpha1 has no rule on keyData; we refuse what is not one PUBLIC KEY PEM block',
        },
      },
      {
        name: 'keyData is a certificate',
        make: with_(pk, `${RoT}.publicKey.keyData`, b64(pki.caPem)),
        stricter: {
          'config.openshift.io/v1alpha1':
            'v1alpha1 has no rule on keyData; we refuse what is not one PUBLIC KEY PEM block',
        },
      },
      {
        name: 'oidcIssuer of 2049 characters',
        make: with_(
          fulcio,
          `${subject}.oidcIssuer`,
          `https://oidc.example.com/${'a'.repeat(2024)}`,
        ),
      },
      {
        name: 'signedEmail of 321 characters',
        make: with_(fulcio, `${subject}.signedEmail`, `${'a'.repeat(309)}@example.com`),
      },
      {
        name: 'signedEmail with \\v and a no-break space (RE2 \\S)',
        make: with_(fulcio, `${subject}.signedEmail`, 'a\u000bb\u00a0c@example.com'),
      },
      {
        name: 'signedEmail with a space',
        make: with_(fulcio, `${subject}.signedEmail`, 'a b@example.com'),
      },
      {
        name: 'oidcIssuer not a URL',
        make: with_(fulcio, `${subject}.oidcIssuer`, 'oidc.example.com'),
      },
      {
        name: 'caRootsData too short',
        make: with_(pkiPolicy, `${RoT}.pki.caRootsData`, b64('-----BEGIN CERTIFICATE-----')),
      },
      {
        name: 'pki email without @',
        make: with_(pkiPolicy, `${pkiSubject}.email`, 'nobody'),
        message: {
          'config.openshift.io/v1': 'invalid email address',
          'config.openshift.io/v1alpha1': 'invalid email address in pkiCertificateSubject',
        },
      },
      {
        name: 'pki hostname not DNS',
        make: with_(pkiPolicy, `${pkiSubject}.hostname`, 'Bad_Host.com'),
        message: {
          'config.openshift.io/v1': 'hostname must be a valid dns 1123 subdomain name',
          'config.openshift.io/v1alpha1': 'hostname should be a valid dns 1123 subdomain name',
        },
      },
      {
        name: 'repository without a domain',
        make: with_(pkiPolicy, `${SI}.exactRepository.repository`, 'Mirror/ns'),
        message: {
          'config.openshift.io/v1':
            "invalid repository or prefix in the signedIdentity. The repository or prefix must starts with 'localhost'",
          'config.openshift.io/v1alpha1': 'invalid repository or prefix in the signedIdentity',
        },
      },
      {
        name: 'repository with a tag',
        make: with_(pkiPolicy, `${SI}.exactRepository.repository`, 'quay.io/ns/repo:tag'),
      },
      {
        name: 'a field the schema does not define',
        make: with_(pk, `${RoT}.publicKey.keyPath`, '/etc/key.pub'),
      },
      {
        name: 'a wildcard scope with a path',
        make: with_(pk, 'spec.scopes', ['*.example.com/r']),
      },
      {
        name: 'host, port, namespace, tag and digest scopes',
        make: with_(pk, 'spec.scopes', [
          'example.com',
          '*.example.com',
          'example.com:8443/ns/repo:v1',
          `quay.io/a/b@sha256:${'a'.repeat(64)}`,
        ]),
      },
      {
        name: 'nine status conditions',
        make: with_(pk, 'status', { conditions: Array.from({ length: 9 }, () => ({})) }),
        stricter: {
          'config.openshift.io/v1':
            'status is dropped on create; we check the shape of a status read from the cluster',
        },
      },
    ];
  });

  after(async () => {
    await tc?.stop();
    await pki?.cleanup();
  });

  it('accepts and refuses the same objects in each version, with its messages', async (t) => {
    if (skipReason !== undefined || tc === undefined) return t.skip(skipReason ?? 'no cluster');
    const cluster = tc;
    const serverAccepted = new Map<string, boolean>();
    for (const [i, c] of cases.entries()) {
      for (const version of VERSIONS) {
        const object = { ...clone(c.make()), apiVersion: version };
        setPath(object, 'metadata.name', `case-${i}`);
        let server: string | undefined;
        try {
          await cluster.kubectl(
            ['create', '--dry-run=server', '-o', 'name', '-f', '-'],
            JSON.stringify(object),
          );
        } catch (err) {
          server = (err as Error).message;
        }
        serverAccepted.set(`${c.name} ${version}`, server === undefined);
        const issues = ours(object);
        const what = `${c.name} (${version})`;
        const stricter = c.stricter?.[version];
        if (stricter !== undefined) {
          assert.equal(server, undefined, `${what}: the API server should accept it`);
          assert.ok(issues.length > 0, `${what}: we should refuse it (${stricter})`);
          continue;
        }
        assert.equal(
          issues.length === 0,
          server === undefined,
          `${what}: API server ${server ?? 'accepted'}; we ${issues.length === 0 ? 'accepted' : JSON.stringify(issues)}`,
        );
        const message = c.message?.[version];
        if (message !== undefined) {
          assert.ok(server?.includes(message), `${what}: API server said ${server}`);
          assert.ok(
            issues.some((issue) => issue.message.includes(message)),
            `${what}: we said ${JSON.stringify(issues)}`,
          );
        }
      }
    }
    // The API server itself told the versions apart where the schemas differ.
    const onlyAlpha = cases
      .filter(
        (c) =>
          serverAccepted.get(`${c.name} config.openshift.io/v1alpha1`) === true &&
          serverAccepted.get(`${c.name} config.openshift.io/v1`) === false,
      )
      .map((c) => c.name);
    assert.deepEqual(onlyAlpha, [
      'keyData after a blank line',
      'rekorKeyData with two trailing newlines',
      'fulcioCAData after a blank line',
      'keyData too short to be a key',
      'keyData is a certificate',
      'oidcIssuer of 2049 characters',
      'signedEmail of 321 characters',
    ]);
  });
});
