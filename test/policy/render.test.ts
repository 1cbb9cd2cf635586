import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { dump } from 'js-yaml';

import { MCO_POLICY_JSON_TEMPLATE, renderPolicies } from '../../src/policy/render.js';
import { runPolicyRender } from '../../src/cli/policy-render.js';
import { withSharedFixture } from '../helpers/fixtures.js';
import { b64, publicKeyPem, publicKeyPolicy, setPath } from './policy-fixtures.js';

const OPENSHIFT_CIP = 'cluster-update-keys/0000_90_openshift-cluster-image-policy.yaml';

describe('renderPolicies', () => {
  it('renders the default openshift ClusterImagePolicy as the MCO does', async (t) => {
    await withSharedFixture(t, OPENSHIFT_CIP, async (path) => {
      const text = await readFile(path, 'utf8');
      const result = renderPolicies([{ name: 'openshift.yaml', text }]);
      assert.deepEqual(result.errors, []);
      assert.equal(result.policies[0]?.name, 'openshift');
      const policy = JSON.parse(result.policyJson) as {
        default: unknown;
        transports: {
          atomic: unknown;
          docker: Record<string, Record<string, unknown>[]>;
          'docker-daemon': unknown;
        };
      };
      assert.deepEqual(policy.default, [{ type: 'insecureAcceptAnything' }]);
      assert.deepEqual(policy.transports['docker-daemon'], {
        '': [{ type: 'insecureAcceptAnything' }],
      });
      const scopes = Object.keys(policy.transports.docker);
      // Every scope has fewer than three '/': the MCO copies each into the atomic transport.
      assert.deepEqual(policy.transports.atomic, policy.transports.docker);
      assert.deepEqual(scopes, [
        'quay.io/openshift-release-dev/ocp-release',
        'quay.io/openshift-release-dev/ocp-v4.0-art-dev',
        'quay.io/openshift-release-dev/ocp-v5.0-art-dev',
      ]);
      const req = policy.transports.docker['quay.io/openshift-release-dev/ocp-release']?.[0];
      assert.equal(req?.type, 'sigstoreSigned');
      assert.deepEqual(req?.signedIdentity, { type: 'matchRepoDigestOrExact' });
      assert.match(String(req?.keyData), /^LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0K/);
      assert.match(
        Buffer.from(String(req?.keyData), 'base64').toString(),
        /-----END PUBLIC KEY-----$/,
      );
      assert.equal(
        result.registriesD,
        'docker:\n' + scopes.map((s) => `  ${s}:\n    use-sigstore-attachments: true\n`).join(''),
      );
    });
  });

  it('maps every root of trust and signedIdentity, sorted and stable', () => {
    const key = publicKeyPem();
    const rekor = publicKeyPem();
    const a = publicKeyPolicy(key, { name: 'b', scopes: ['z.example.com/r', 'a.example.com'] });
    setPath(a, 'spec.policy.rootOfTrust.publicKey.rekorKeyData', b64(rekor));
    setPath(a, 'spec.policy.signedIdentity', {
      matchPolicy: 'RemapIdentity',
      remapIdentity: { prefix: 'z.example.com', signedPrefix: 'quay.io/ns' },
    });
    const b = publicKeyPolicy(key, { name: 'a', scopes: ['a.example.com'] });
    setPath(b, 'spec.policy.signedIdentity', {
      matchPolicy: 'ExactRepository',
      exactRepository: { repository: 'quay.io/ns/repo' },
    });
    const text = dump({ apiVersion: 'v1', kind: 'List', items: [a, b] });
    const first = renderPolicies([{ name: 'list.yaml', text }]);
    assert.deepEqual(first.errors, []);
    const policy = JSON.parse(first.policyJson) as {
      transports: { docker: Record<string, unknown[]> };
    };
    assert.deepEqual(Object.keys(policy.transports.docker), ['a.example.com', 'z.example.com/r']);
    // Same scope: both ClusterImagePolicies are required, ordered by name.
    assert.deepEqual(policy.transports.docker['a.example.com'], [
      {
        type: 'sigstoreSigned',
        keyData: b64(key),
        signedIdentity: { type: 'exactRepository', dockerRepository: 'quay.io/ns/repo' },
      },
      {
        type: 'sigstoreSigned',
        keyData: b64(key),
        rekorPublicKeyData: b64(rekor),
        signedIdentity: {
          type: 'remapIdentity',
          prefix: 'z.example.com',
          signedPrefix: 'quay.io/ns',
        },
      },
    ]);
    // Input order does not change the output.
    const reversed = dump({ apiVersion: 'v1', kind: 'List', items: [b, a] });
    assert.equal(renderPolicies([{ name: 'r.yaml', text: reversed }]).policyJson, first.policyJson);
  });

  it('reads multi-document YAML and JSON, and renders nothing when any object is invalid', () => {
    const key = publicKeyPem();
    const good = publicKeyPolicy(key, { name: 'good' });
    const bad = publicKeyPolicy(key, { name: 'bad', scopes: ['busybox'] });
    const result = renderPolicies([
      { name: 'multi.yaml', text: `---\n${dump(good)}---\n---\n${dump(bad)}` },
      { name: 'one.json', text: JSON.stringify(publicKeyPolicy(key, { name: 'json' })) },
    ]);
    assert.equal(result.policyJson, '');
    assert.deepEqual(
      result.policies.map((p) => p.name),
      ['good', 'json'],
    );
    assert.equal(result.errors[0]?.source, 'multi.yaml#3');
    assert.equal(result.errors[0]?.issues[0]?.path, 'spec.scopes[0]');
  });

  it('rejects duplicate JSON keys, duplicate objects and unsupported kinds', () => {
    const key = publicKeyPolicy(publicKeyPem());
    const codes = (text: string): string[] =>
      renderPolicies([{ name: 'f', text }]).errors.map((e) => e.code);
    assert.deepEqual(codes('{"kind":"ClusterImagePolicy","kind":"x"}'), ['INVALID_DOCUMENT']);
    assert.deepEqual(codes(`${dump(key)}---\n${dump(key)}`), ['DUPLICATE_OBJECT']);
    assert.deepEqual(codes('apiVersion: v1\nkind: ConfigMap\n'), ['UNSUPPORTED_KIND']);
    assert.deepEqual(codes('a: [\n'), ['INVALID_DOCUMENT']);
    assert.deepEqual(codes('apiVersion: v1\nkind: List\n'), ['INVALID_DOCUMENT']);
  });
});

describe('runPolicyRender', () => {
  async function run(args: string[], files: Record<string, string>) {
    const dir = await mkdtemp(join(tmpdir(), 'cvo-policy-'));
    try {
      for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
      let stdout = '';
      let stderr = '';
      const code = await runPolicyRender(args, {
        stdout: (s) => (stdout += s),
        stderr: (s) => (stderr += s),
        env: {},
        cwd: dir,
      });
      return { code, stdout, stderr };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('exits 0 and prints policy.json or registries.d', async () => {
    const text = dump(publicKeyPolicy(publicKeyPem()));
    const json = await run(['render', 'p.yaml'], { 'p.yaml': text });
    assert.equal(json.code, 0);
    assert.ok(
      'example.com/ns/repo' in
        (JSON.parse(json.stdout) as { transports: { docker: object } }).transports.docker,
    );
    const yaml = await run(['render', '--registries-d', 'p.yaml'], { 'p.yaml': text });
    assert.equal(
      yaml.stdout,
      'docker:\n  example.com/ns/repo:\n    use-sigstore-attachments: true\n',
    );
  });

  it('adds the mirror endpoints of each scope to registries.d with --mirrors, as the MCO does', async () => {
    const policy = dump(
      publicKeyPolicy(publicKeyPem(), {
        scopes: [
          'quay.io/openshift-release-dev/ocp-v4.0-art-dev',
          'registry.example.com',
          '*.corp.example',
        ],
      }),
    );
    const idms = [
      'apiVersion: config.openshift.io/v1',
      'kind: ImageDigestMirrorSet',
      'metadata:',
      '  name: mirrors',
      'spec:',
      '  imageDigestMirrors:',
      // The scope's own source: its images are read from the mirror.
      '  - source: quay.io/openshift-release-dev',
      '    mirrors:',
      '    - mirror.example.com:5000/ocp4',
      // A source nested inside a host scope: its mirror is listed too.
      '  - source: registry.example.com/team/app',
      '    mirrors:',
      '    - backup.example.com/app',
      // A wildcard source inside the wildcard scope.
      '  - source: "*.corp.example"',
      '    mirrors:',
      '    - cache.example.com',
      // Unrelated to every scope: not listed.
      '  - source: docker.io/library',
      '    mirrors:',
      '    - hub-mirror.example.com/library',
      '',
    ].join('\n');
    const out = await run(['render', '--registries-d', '--mirrors', 'idms.yaml', 'p.yaml'], {
      'p.yaml': policy,
      'idms.yaml': idms,
    });
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(
      out.stdout
        .split('\n')
        .filter((line) => /^ {2}\S/.test(line))
        .map((line) => line.trim().replace(/:$/, '')),
      [
        "'*.corp.example'",
        'backup.example.com/app',
        'cache.example.com',
        'mirror.example.com:5000/ocp4/ocp-v4.0-art-dev',
        'quay.io/openshift-release-dev/ocp-v4.0-art-dev',
        'registry.example.com',
      ],
    );
    const without = await run(['render', '--registries-d', 'p.yaml'], { 'p.yaml': policy });
    assert.doesNotMatch(without.stdout, /mirror\.example\.com/);
  });

  it('exits 2 naming the file and field of invalid input', async () => {
    const bad = publicKeyPolicy(publicKeyPem());
    setPath(bad, 'spec.policy.rootOfTrust.publicKey.keyData', b64('nope'));
    const r = await run(['render', 'bad.yaml'], { 'bad.yaml': dump(bad) });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: bad\.yaml: spec\.policy\.rootOfTrust\.publicKey\.keyData: /m);
    assert.equal(r.stdout, '');
  });

  it("warns about ConflictScopes with the MCO's condition and prints the namespace's policy", async () => {
    const key = publicKeyPem();
    const files = {
      'c.yaml': dump(publicKeyPolicy(key, { scopes: ['quay.io/ns'] })),
      'i.yaml': dump(
        publicKeyPolicy(key, {
          kind: 'ImagePolicy',
          name: 'i',
          namespace: 't',
          scopes: ['quay.io/ns/r', 'quay.io/t', 'quay.io/ns:tag', 'quay.io/a/b/c'],
        }),
      ),
    };
    const r = await run(['render', '--namespace', 't', 'c.yaml', 'i.yaml'], files);
    assert.equal(r.code, 0);
    assert.equal(
      r.stderr,
      'warning: ImagePolicy t/i: Pending=False ConflictScopes: has conflicting scope(s) ["quay.io/ns/r"] that equal to or nest inside existing clusterimagepolicy, only policy from clusterimagepolicy scope(s) will be applied\n',
    );
    const ns = JSON.parse(r.stdout) as {
      transports: { docker: object; atomic: object; 'docker-daemon': object };
    };
    assert.deepEqual(Object.keys(ns.transports), ['atomic', 'docker', 'docker-daemon']);
    // A tag of a ClusterImagePolicy repository is not nested in it for the MCO.
    assert.deepEqual(Object.keys(ns.transports.docker), [
      'quay.io/a/b/c',
      'quay.io/ns',
      'quay.io/ns:tag',
      'quay.io/t',
    ]);
    assert.deepEqual(Object.keys(ns.transports.atomic), [
      'quay.io/ns',
      'quay.io/ns:tag',
      'quay.io/t',
    ]);
    // Another namespace's pods get policy.json: the ClusterImagePolicy alone.
    const other = await run(['render', '--namespace', 'u', 'c.yaml', 'i.yaml'], files);
    const plain = await run(['render', 'c.yaml', 'i.yaml'], files);
    assert.equal(other.stdout, plain.stdout);
    assert.deepEqual(
      Object.keys(
        (JSON.parse(plain.stdout) as { transports: { docker: object } }).transports.docker,
      ),
      ['quay.io/ns'],
    );
    // registries.d is per node: every ImagePolicy scope in effect, with or without --namespace.
    const registriesD = await run(['render', '--registries-d', 'c.yaml', 'i.yaml'], files);
    assert.equal(
      registriesD.stdout,
      ['quay.io/a/b/c', 'quay.io/ns', 'quay.io/ns:tag', 'quay.io/t']
        .map((scope) => `  ${scope}:\n    use-sigstore-attachments: true\n`)
        .reduce((a, b) => a + b, 'docker:\n'),
    );
  });

  it("prints the MCO's bytes: no trailing newline, the template without a ClusterImagePolicy", async () => {
    const key = publicKeyPem();
    const cip = await run(['render', 'p.yaml'], { 'p.yaml': dump(publicKeyPolicy(key)) });
    assert.ok(cip.stdout.endsWith('\n}'), JSON.stringify(cip.stdout.slice(-5)));
    const ipOnly = dump(publicKeyPolicy(key, { kind: 'ImagePolicy', name: 'i', namespace: 'n' }));
    const template = await run(['render', 'i.yaml'], { 'i.yaml': ipOnly });
    assert.equal(template.code, 0);
    assert.equal(template.stdout, MCO_POLICY_JSON_TEMPLATE);
    const ns = await run(['render', '--namespace', 'n', 'i.yaml'], { 'i.yaml': ipOnly });
    assert.deepEqual(Object.keys((JSON.parse(ns.stdout) as { transports: object }).transports), [
      'atomic',
      'docker',
      'docker-daemon',
    ]);
  });

  it('renders v1alpha1 objects as their v1 equivalents', async () => {
    const v1 = publicKeyPolicy(publicKeyPem());
    const alpha = { ...v1, apiVersion: 'config.openshift.io/v1alpha1' };
    const a = await run(['render', 'p.yaml'], { 'p.yaml': dump(v1) });
    const b = await run(['render', 'p.yaml'], { 'p.yaml': dump(alpha) });
    assert.equal(b.code, 0, b.stderr);
    assert.equal(b.stdout, a.stdout);
  });

  it('throws UsageError for usage mistakes', async () => {
    await assert.rejects(run(['render'], {}), { name: 'UsageError' });
    await assert.rejects(run(['render', 'missing.yaml'], {}), {
      name: 'UsageError',
      message: /missing\.yaml/,
    });
    await assert.rejects(run(['render', '--bogus', 'x'], {}), { name: 'UsageError' });
    await assert.rejects(run(['other'], {}), { name: 'UsageError' });
  });
});
