import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { runCli } from '../../src/cli/main.js';
import { CERTIFICATE_ANNOTATION } from '../../src/sigstore/certificate.js';
import {
  BUNDLE_ANNOTATION,
  createTestKey,
  makeCosignPayload,
  makeRekorBundle,
  makeSignatureLayer,
  pushCosignSignatures,
  SIGNATURE_ANNOTATION,
  signPayload,
} from '../helpers/cosign.js';
import { FulcioTestPki, LEAF_INTEGRATED_TIME } from '../helpers/fulcio.js';
import { repoRoot } from '../helpers/fixtures.js';
import { BUNDLE_MEDIA_TYPE, makeStatement, makeTestBundle } from '../helpers/bundle.js';
import { findRegistryBinary, pushImage, pushReferrer, TestRegistry } from '../helpers/registry.js';
import type { PushTarget } from '../helpers/registry.js';

const binary = await findRegistryBinary();

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env: {},
    cwd: repoRoot,
  });
  return { code, stdout, stderr };
}

function clusterImagePolicy(
  name: string,
  scopes: string[],
  rootOfTrust: Record<string, unknown>,
): string {
  return JSON.stringify({
    apiVersion: 'config.openshift.io/v1',
    kind: 'ClusterImagePolicy',
    metadata: { name },
    spec: { scopes, policy: { rootOfTrust } },
  });
}

describe(
  'cvo-verifier verify --policy (Sigstore) against a real docker-registry',
  { skip: 'skip' in binary ? binary.skip : false },
  () => {
    let registry: TestRegistry;
    let target: PushTarget;
    let dir: string;
    let policyFile: string;
    let signedImage: string;
    let unsignedImage: string;
    let otherKeyImage: string;
    const key = createTestKey('p256');
    const otherKey = createTestKey('p256');

    const push = async (repo: string, signWith?: typeof key): Promise<string> => {
      const image = await pushImage(target, repo, 'v1');
      if (signWith !== undefined) {
        const payload = makeCosignPayload(`${registry.host}/${repo}:4.17.0`, image.manifest.digest);
        await pushCosignSignatures(target, repo, image.manifest, [
          makeSignatureLayer(signWith, payload),
        ]);
      }
      return `${registry.host}/${repo}@${image.manifest.digest}`;
    };

    before(async () => {
      assert.ok('path' in binary);
      registry = await TestRegistry.start(binary.path);
      target = { url: registry.url };
      dir = await mkdtemp(join(tmpdir(), 'cvo-sigstore-cli-'));
      signedImage = await push('ocp/release', key);
      unsignedImage = await push('ocp/release');
      otherKeyImage = await push('ocp/release', otherKey);
      policyFile = join(dir, 'policy.json');
      await writeFile(
        policyFile,
        clusterImagePolicy('release', [`${registry.host}/ocp/release`], {
          policyType: 'PublicKey',
          publicKey: { keyData: Buffer.from(key.publicKeyPem).toString('base64') },
        }),
      );
    });

    after(async () => {
      await registry.stop();
      await rm(dir, { recursive: true, force: true });
    });

    it('verifies a release signed with the policy key and prints the sigstore check', async () => {
      const r = await cli(['verify', signedImage, '--policy', policyFile, '--output', 'json']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const out = JSON.parse(r.stdout) as {
        verified: boolean;
        checks: {
          kind: string;
          policy: string;
          scope: string;
          verified: boolean;
          reason: string;
        }[];
      };
      assert.equal(out.verified, true);
      assert.deepEqual(
        out.checks.map((c) => [c.kind, c.policy, c.scope, c.verified]),
        [['sigstore', 'release', `${registry.host}/ocp/release`, true]],
      );
    });

    it('refuses an unsigned release and one signed with another key', async () => {
      const unsigned = await cli([
        'verify',
        unsignedImage,
        '--policy',
        policyFile,
        '--output',
        'json',
      ]);
      assert.equal(unsigned.code, 1);
      assert.equal((JSON.parse(unsigned.stdout) as { code: string }).code, 'NOT_SIGNED');
      const other = await cli(['verify', otherKeyImage, '--policy', policyFile]);
      assert.equal(other.code, 1);
      assert.match(other.stdout, /sigstore policy release \(scope .*\): NOT satisfied/);
    });

    it('is not verified when no check applies (image outside every scope, no root of trust)', async () => {
      const outside = await push('elsewhere/app', key);
      const r = await cli(['verify', outside, '--policy', policyFile, '--output', 'json']);
      assert.equal(r.code, 1);
      const out = JSON.parse(r.stdout) as { verified: boolean; message: string; checks: unknown[] };
      assert.equal(out.verified, false);
      assert.deepEqual(out.checks, []);
      assert.match(out.message, /no check applies/);
    });

    it('requires every applicable check: a GPG root of trust that is not satisfied fails the release', async () => {
      const rootOfTrust = join(dir, 'rot.json');
      const { GnuPG } = await import('../helpers/gnupg.js');
      const gpg = await GnuPG.create();
      try {
        const gpgKey = await gpg.generateKey('Rel <rel@example.com>', 'nistp256');
        await writeFile(
          rootOfTrust,
          JSON.stringify({
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: {
              name: 'rv',
              namespace: 'ns',
              annotations: { 'release.openshift.io/verification-config-map': '' },
            },
            data: {
              'verifier-public-key-x': (await gpg.exportPublicKey(gpgKey)).toString(),
              'store-empty': `file://${dir}/no-signatures`,
            },
          }),
        );
      } finally {
        await gpg.cleanup();
      }
      const r = await cli([
        'verify',
        signedImage,
        '--policy',
        policyFile,
        '--root-of-trust',
        rootOfTrust,
        '--output',
        'json',
      ]);
      assert.equal(r.code, 1);
      const out = JSON.parse(r.stdout) as {
        message: string;
        checks: { kind: string; verified: boolean }[];
      };
      assert.deepEqual(
        out.checks.map((c) => [c.kind, c.verified]),
        [
          ['gpg', false],
          ['sigstore', true],
        ],
      );
      assert.match(
        out.message,
        /unable to verify sha256:[0-9a-f]{64} against keyrings: verifier-public-key-x/,
      );
    });

    it('never verifies under an unusable root of trust, and rejects invalid policies with exit 2', async () => {
      const fulcio = join(dir, 'fulcio.json');
      const pem = Buffer.from(key.publicKeyPem).toString('base64');
      await writeFile(
        fulcio,
        clusterImagePolicy('keyless', [`${registry.host}/ocp/release`], {
          policyType: 'FulcioCAWithRekor',
          fulcioCAWithRekor: {
            fulcioCAData: pem,
            rekorKeyData: pem,
            fulcioSubject: {
              oidcIssuer: 'https://issuer.example.com',
              signedEmail: 'release@example.com',
            },
          },
        }),
      );
      const r = await cli(['verify', signedImage, '--policy', fulcio, '--output', 'json']);
      // Either the policy is rejected as invalid (exit 2, the CA must be a certificate) or the
      // check fails closed (exit 1): it is never verified.
      assert.notEqual(r.code, 0, r.stdout);
      const invalid = join(dir, 'invalid.json');
      await writeFile(
        invalid,
        clusterImagePolicy('bad', ['not a scope!'], {
          policyType: 'PublicKey',
          publicKey: { keyData: pem },
        }),
      );
      const bad = await cli(['verify', signedImage, '--policy', invalid]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /invalid image policy: .*spec\.scopes/);

      // A key of a kind we cannot verify with is a configuration error naming the field.
      const p224 = join(dir, 'p224.json');
      const p224Pem = generateKeyPairSync('ec', { namedCurve: 'secp224r1' })
        .publicKey.export({ format: 'pem', type: 'spki' })
        .toString();
      await writeFile(
        p224,
        clusterImagePolicy('p224', [`${registry.host}/ocp/release`], {
          policyType: 'PublicKey',
          publicKey: { keyData: Buffer.from(p224Pem).toString('base64') },
        }),
      );
      const unsupported = await cli(['verify', signedImage, '--policy', p224]);
      assert.equal(unsupported.code, 2, unsupported.stdout);
      assert.match(unsupported.stderr, /publicKey\.keyData.*secp224r1/);
      // A file's fault, not the command line's: no pointer to --help.
      assert.doesNotMatch(unsupported.stderr, /--help/);
    });
    it('verifies a keyless signature under a FulcioCAWithRekor policy, and refuses another signer', async () => {
      const pki = await FulcioTestPki.create();
      try {
        const rekor = createTestKey('p256');
        const root = await pki.makeCa({ subject: '/O=sigstore.dev/CN=sigstore' });
        const intermediate = await pki.makeCa({
          subject: '/O=sigstore.dev/CN=sigstore-intermediate',
          issuer: root,
          codeSigningEku: true,
        });
        const issuer = 'https://accounts.example.com';
        const sign = async (repo: string, email: string): Promise<string> => {
          const image = await pushImage(target, repo, 'v1');
          const leaf = await pki.issueLeaf({
            issuer: intermediate,
            emails: [email],
            issuerV1: issuer,
            issuerV2: issuer,
          });
          const payload = makeCosignPayload(
            `${registry.host}/${repo}:4.17.0`,
            image.manifest.digest,
          );
          const signature = signPayload(leaf.key, payload);
          const annotations = {
            [SIGNATURE_ANNOTATION]: signature.toString('base64'),
            [CERTIFICATE_ANNOTATION]: leaf.certPem,
            [BUNDLE_ANNOTATION]: makeRekorBundle({
              rekorKey: rekor,
              signerPem: leaf.certPem,
              signature,
              payload,
              integratedTime: LEAF_INTEGRATED_TIME,
            }),
          };
          await pushCosignSignatures(target, repo, image.manifest, [{ payload, annotations }]);
          return `${registry.host}/${repo}@${image.manifest.digest}`;
        };
        const b64 = (text: string): string => Buffer.from(text).toString('base64');
        const keylessPolicy = join(dir, 'keyless.json');
        await writeFile(
          keylessPolicy,
          clusterImagePolicy('keyless', [`${registry.host}/keyless`], {
            policyType: 'FulcioCAWithRekor',
            fulcioCAWithRekor: {
              fulcioCAData: b64(root.certPem + intermediate.certPem),
              rekorKeyData: b64(rekor.publicKeyPem),
              fulcioSubject: { oidcIssuer: issuer, signedEmail: 'release@example.com' },
            },
          }),
        );
        const good = await cli([
          'verify',
          await sign('keyless/release', 'release@example.com'),
          '--policy',
          keylessPolicy,
          '--output',
          'json',
        ]);
        assert.equal(good.code, 0, good.stdout + good.stderr);
        assert.match(
          (JSON.parse(good.stdout) as { checks: { reason: string }[] }).checks[0]?.reason ?? '',
          /verified keyless for release@example.com/,
        );
        const mallory = await sign('keyless/release', 'mallory@example.com');
        const other = await cli(['verify', mallory, '--policy', keylessPolicy]);
        assert.equal(other.code, 1, other.stdout);
        // The certificate's own code reaches the verdict (it used to read BAD_SIGNATURE).
        const otherJson = await cli([
          'verify',
          mallory,
          '--policy',
          keylessPolicy,
          '--output',
          'json',
        ]);
        assert.equal(otherJson.code, 1, otherJson.stdout);
        const verdict = JSON.parse(otherJson.stdout) as {
          code: string;
          checks: { code: string }[];
        };
        assert.equal(verdict.code, 'CERTIFICATE_SUBJECT_MISMATCH');
        assert.equal(verdict.checks[0]?.code, 'CERTIFICATE_SUBJECT_MISMATCH');
      } finally {
        await pki.cleanup();
      }
    });

    it('verifies a release signed only with a cosign v3 bundle stored as an OCI referrer', async () => {
      const repo = 'ocp/release';
      const image = await pushImage(target, repo, 'v3');
      const name = `${registry.host}/${repo}`;
      const statement = makeStatement(`${name}@${image.manifest.digest}`, image.manifest.digest);
      await pushReferrer(
        target,
        repo,
        image.manifest,
        BUNDLE_MEDIA_TYPE,
        makeTestBundle({ signer: key, statement }),
      );
      const r = await cli([
        'verify',
        `${name}@${image.manifest.digest}`,
        '--policy',
        policyFile,
        '--output',
        'json',
      ]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(
        (JSON.parse(r.stdout) as { checks: { reason: string }[] }).checks[0]?.reason ?? '',
        /cosign v3 Sigstore bundle \(OCI referrer\)/,
      );
      // The same bundle made with another key is refused.
      const other = await pushImage(target, repo, 'v3b');
      const otherStatement = makeStatement(
        `${name}@${other.manifest.digest}`,
        other.manifest.digest,
      );
      await pushReferrer(
        target,
        repo,
        other.manifest,
        BUNDLE_MEDIA_TYPE,
        makeTestBundle({ signer: otherKey, statement: otherStatement }),
      );
      assert.equal(
        (await cli(['verify', `${name}@${other.manifest.digest}`, '--policy', policyFile])).code,
        1,
      );
    });
  },
);
