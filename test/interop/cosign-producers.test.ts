/**
 * The real cosign CLI (v2.6.5 and v3.1.3) signs and attests images in a local docker-registry
 * offline, as users do; our verifier (`cvo-verifier verify --policy`, in-process) and
 * `cosign verify` then judge the same images. Verdicts must agree, except for the differences
 * named in each test: ours follows containers/image, which cosign does not always.
 *
 * The cosign binaries are built by `node --import tsx test/tooling/build-go-tools.ts cosignV2
 * cosignV3` (./scripts/test.sh does it); when one is missing the suite fails with that command.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';

import { runCli } from '../../src/cli/main.js';
import { CosignCli, REGISTRY_FLAGS } from '../helpers/cosign-cli.js';
import type { CosignKeyPair, CosignResult } from '../helpers/cosign-cli.js';
import { createTestKey } from '../helpers/cosign.js';
import { repoRoot } from '../helpers/fixtures.js';
import { FulcioTestPki } from '../helpers/fulcio.js';
import type { TestCa } from '../helpers/fulcio.js';
import { findRegistryBinary, pushImage, TestRegistry } from '../helpers/registry.js';
import type { PushTarget } from '../helpers/registry.js';
import { allowedDifference } from './allowed-differences.js';

const binary = await findRegistryBinary();

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
const DSSE_ENVELOPE = 'application/vnd.dsse.envelope.v1+json';
const BUNDLE_V03 = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
const CERTIFICATE_ANNOTATION = 'dev.sigstore.cosign/certificate';
const CHAIN_ANNOTATION = 'dev.sigstore.cosign/chain';
const BUNDLE_ANNOTATION = 'dev.sigstore.cosign/bundle';
const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
/** Standard base64 with padding and nothing else: what Go's StdEncoding writes. */
const STRICT_BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

const SIGNER_EMAIL = 'release@example.com';
const OIDC_ISSUER = 'https://accounts.example.com';

/** The attestation types `cosign attest --type` knows, and the predicateType each writes. */
const ATTESTATION_TYPES = {
  slsaprovenance1: 'https://slsa.dev/provenance/v1',
  cyclonedx: 'https://cyclonedx.org/bom',
  vuln: 'https://cosign.sigstore.dev/attestation/vuln/v1',
  custom: 'https://cosign.sigstore.dev/attestation/v1',
} as const;
type AttestationType = keyof typeof ATTESTATION_TYPES;

const PREDICATES: Record<AttestationType, object> = {
  slsaprovenance1: {
    buildDefinition: { buildType: 'https://example.com/build/v1', externalParameters: {} },
    runDetails: { builder: { id: 'https://example.com/builder' } },
  },
  cyclonedx: { bomFormat: 'CycloneDX', specVersion: '1.5', version: 1, components: [] },
  vuln: {
    scanner: { uri: 'pkg:github/aquasecurity/trivy@v0.50.0', version: '0.50.0', result: {} },
    metadata: { scanStartedOn: '2026-01-01T00:00:00Z', scanFinishedOn: '2026-01-01T00:01:00Z' },
  },
  custom: { note: 'any JSON' },
};

interface OurCheck {
  readonly kind: string;
  readonly verified: boolean;
  readonly code?: string;
  readonly reason: string;
  /** Per signature examined: why it was rejected. */
  readonly evidence: readonly { readonly code?: string; readonly message: string }[];
}

interface OurVerdict {
  readonly exit: number;
  readonly verified: boolean;
  readonly code?: string;
  readonly message: string;
  readonly checks: readonly OurCheck[];
  readonly raw: string;
}

/** `cvo-verifier verify IMAGE --policy FILE --output json`, in-process. */
async function verifyOurs(image: string, policyFile: string): Promise<OurVerdict> {
  let stdout = '';
  let stderr = '';
  const exit = await runCli(['verify', image, '--policy', policyFile, '--output', 'json'], {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env: {},
    cwd: repoRoot,
  });
  assert.ok(exit === 0 || exit === 1, `verify exited ${exit}: ${stdout}${stderr}`);
  const out = JSON.parse(stdout) as Omit<OurVerdict, 'exit' | 'raw'>;
  // The exit status and the JSON must tell the same story.
  assert.equal(out.verified, exit === 0, stdout);
  return { ...out, exit, raw: stdout + stderr };
}

/** Fails unless ours and cosign reached `expected`, quoting both when they did not. */
function assertBoth(ours: OurVerdict, cosign: CosignResult, expected: boolean): void {
  const context = `ours: ${ours.raw}\ncosign: ${cosign.command} → ${String(cosign.code)}\n${cosign.stderr}`;
  assert.equal(ours.verified, expected, `our verifier disagrees\n${context}`);
  assert.equal(cosign.code === 0, expected, `cosign verify disagrees\n${context}`);
}

function clusterImagePolicy(
  name: string,
  scope: string,
  rootOfTrust: Record<string, unknown>,
  signedIdentity?: Record<string, unknown>,
): string {
  return JSON.stringify({
    apiVersion: 'config.openshift.io/v1',
    kind: 'ClusterImagePolicy',
    metadata: { name },
    spec: {
      scopes: [scope],
      policy: { rootOfTrust, ...(signedIdentity !== undefined ? { signedIdentity } : {}) },
    },
  });
}

const b64 = (text: string): string => Buffer.from(text).toString('base64');
const MATCH_REPOSITORY = { matchPolicy: 'MatchRepository' };

describe(
  'real cosign CLI producers, judged by our verifier and by cosign verify',
  { skip: 'skip' in binary ? binary.skip : false },
  () => {
    let registry: TestRegistry;
    let target: PushTarget;
    let host: string;
    let dir: string;
    let v2: CosignCli;
    let v3: CosignCli;
    let v2Key: CosignKeyPair;
    let v3Key: CosignKeyPair;
    const clis: CosignCli[] = [];
    const cleanups: (() => Promise<void>)[] = [];
    const reported = new Map<CosignCli, number>();
    const reportedAttempts = new Map<CosignCli, number>();

    /** A policy file in the suite's directory; every scope is the registry host. */
    const writePolicy = async (
      name: string,
      rootOfTrust: Record<string, unknown>,
      signedIdentity?: Record<string, unknown>,
    ): Promise<string> => {
      const path = join(dir, `${name}.json`);
      await writeFile(path, clusterImagePolicy(name, host, rootOfTrust, signedIdentity));
      return path;
    };
    const keyPolicy = (name: string, key: CosignKeyPair, identity?: Record<string, unknown>) =>
      writePolicy(
        name,
        { policyType: 'PublicKey', publicKey: { keyData: b64(key.publicKeyPem) } },
        identity,
      );

    /** Pushes a one-layer image by tag `v1`; returns HOST/REPO@DIGEST and its digest. */
    const pushed = async (repo: string): Promise<{ ref: string; digest: string }> => {
      const image = await pushImage(target, repo, 'v1');
      return { ref: `${host}/${repo}@${image.manifest.digest}`, digest: image.manifest.digest };
    };

    const getJson = async (
      path: string,
      accept = `${OCI_MANIFEST}, ${OCI_INDEX}`,
    ): Promise<Record<string, unknown>> => {
      const response = await fetch(`${registry.url}/v2/${path}`, { headers: { accept } });
      const text = await response.text();
      assert.equal(response.status, 200, `GET ${path}: ${response.status} ${text}`);
      return JSON.parse(text) as Record<string, unknown>;
    };
    const getBlob = async (repo: string, digest: string): Promise<Buffer> => {
      const response = await fetch(`${registry.url}/v2/${repo}/blobs/${digest}`);
      assert.equal(response.status, 200, `GET blob ${digest}`);
      return Buffer.from(await response.arrayBuffer());
    };
    const tags = async (repo: string): Promise<string[]> =>
      ((await getJson(`${repo}/tags/list`, 'application/json')).tags as string[]).sort();

    interface Descriptor {
      mediaType: string;
      digest: string;
      size: number;
      artifactType?: string;
      annotations?: Record<string, string>;
    }
    interface Manifest {
      mediaType: string;
      artifactType?: string;
      config: Descriptor;
      layers: Descriptor[];
      subject?: Descriptor;
      annotations?: Record<string, string>;
    }
    const manifest = async (repo: string, reference: string): Promise<Manifest> =>
      (await getJson(`${repo}/manifests/${reference}`)) as unknown as Manifest;

    before(async () => {
      assert.ok('path' in binary);
      registry = await TestRegistry.start(binary.path);
      cleanups.push(() => registry.stop());
      target = { url: registry.url };
      host = registry.host;
      dir = await mkdtemp(join(tmpdir(), 'cvo-cosign-producers-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      // Each fails with goToolPath's message (naming the build command) when not built.
      for (const version of ['v2', 'v3'] as const) {
        const cli = await CosignCli.create(version);
        cleanups.push(() => cli.cleanup());
        clis.push(cli);
      }
      [v2, v3] = clis as [CosignCli, CosignCli];
      v2Key = await v2.generateKeyPair('release');
      v3Key = await v3.generateKeyPair('release');
    });

    after(async () => {
      // Whatever `before` got to create, newest first.
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    afterEach((t) => {
      // What each cosign call cost, and whether it tried to leave the machine.
      for (const cli of clis) {
        const from = reported.get(cli) ?? 0;
        for (const call of cli.calls.slice(from)) {
          t.diagnostic(
            `${call.command.slice(0, 160)} → ${String(call.code)} in ${Math.round(call.durationMs)} ms`,
          );
        }
        reported.set(cli, cli.calls.length);
        const attempts = cli.networkAttempts.slice(reportedAttempts.get(cli) ?? 0);
        reportedAttempts.set(cli, cli.networkAttempts.length);
        if (attempts.length > 0) {
          t.diagnostic(
            `cosign-${cli.version} network attempts (refused): ${[...new Set(attempts)].join(', ')}`,
          );
        }
      }
    });

    describe('when cosign signs with a key pair into a legacy .sig', () => {
      const repo = 'producers/v2-key';
      let image: { ref: string; digest: string };
      let defaultPolicy: string;
      let repositoryPolicy: string;

      before(async () => {
        image = await pushed(repo);
        await v2.sign(v2Key.keyPath, image.ref);
        defaultPolicy = await keyPolicy('v2-key-default', v2Key);
        repositoryPolicy = await keyPolicy('v2-key-repository', v2Key, MATCH_REPOSITORY);
      });

      it('v2 writes sha256-<hex>.sig: one simplesigning layer, base64 without newline, docker-reference = the repository', async () => {
        const tag = `${image.digest.replace(':', '-')}.sig`;
        assert.deepEqual(await tags(repo), [tag, 'v1'].sort());
        const sig = await manifest(repo, tag);
        assert.equal(sig.mediaType, OCI_MANIFEST);
        assert.equal(sig.layers.length, 1);
        const layer = sig.layers[0];
        assert.ok(layer !== undefined);
        assert.equal(layer.mediaType, SIMPLE_SIGNING);
        assert.deepEqual(Object.keys(layer.annotations ?? {}), [SIGNATURE_ANNOTATION]);
        assert.match(layer.annotations?.[SIGNATURE_ANNOTATION] ?? '', STRICT_BASE64);
        const payload = JSON.parse((await getBlob(repo, layer.digest)).toString('utf8')) as {
          critical: {
            identity: Record<string, string>;
            image: Record<string, string>;
            type: string;
          };
          optional: unknown;
        };
        assert.deepEqual(payload.critical, {
          identity: { 'docker-reference': `${host}/${repo}` },
          image: { 'docker-manifest-digest': image.digest },
          type: 'cosign container image signature',
        });
        assert.equal(payload.optional, null);
      });

      it('is verified under signedIdentity MatchRepository, by ours and by cosign verify', async () => {
        assertBoth(
          await verifyOurs(image.ref, repositoryPolicy),
          await v2.verifyWithKey(v2Key.pubPath, image.ref),
          true,
        );
      });

      it('is refused by ours under the default matchRepoDigestOrExact (a name-only identity, as containers/image refuses), while cosign verify checks no identity (known difference)', async () => {
        const ours = await verifyOurs(image.ref, defaultPolicy);
        assert.equal(ours.verified, false, ours.raw);
        assert.deepEqual(
          ours.checks[0]?.evidence.map((e) => e.code),
          ['IDENTITY_MISMATCH'],
          ours.raw,
        );
        assert.match(ours.checks[0]?.reason ?? '', /matchRepoDigestOrExact/);
        const cosign = await v2.verifyWithKey(v2Key.pubPath, image.ref);
        assert.equal(cosign.code, 0, cosign.stderr);
        assert.ok(allowedDifference('cosign/name-only-identity', 'cosign', false, true));
      });

      it('signed with --sign-container-identity HOST/REPO:TAG it is verified under the default policy, by both', async () => {
        const tagged = await pushed(repo);
        await v2.sign(v2Key.keyPath, tagged.ref, [
          '--sign-container-identity',
          `${host}/${repo}:4.17.0`,
        ]);
        assertBoth(
          await verifyOurs(tagged.ref, defaultPolicy),
          await v2.verifyWithKey(v2Key.pubPath, tagged.ref),
          true,
        );
      });

      it('is refused by both under another key', async () => {
        const other = await keyPolicy('v3-key-repository-for-v2', v3Key, MATCH_REPOSITORY);
        assertBoth(
          await verifyOurs(image.ref, other),
          await v2.verifyWithKey(v3Key.pubPath, image.ref),
          false,
        );
      });

      it('v3 with --new-bundle-format=false writes the same legacy .sig, verified by ours and cosign v3 verify', async () => {
        const legacy = await pushed('producers/v3-legacy');
        await v3.sign(v3Key.keyPath, legacy.ref, ['--new-bundle-format=false']);
        assert.deepEqual(await tags('producers/v3-legacy'), [
          `${legacy.digest.replace(':', '-')}.sig`,
          'v1',
        ]);
        assertBoth(
          await verifyOurs(
            legacy.ref,
            await keyPolicy('v3-key-repository', v3Key, MATCH_REPOSITORY),
          ),
          await v3.verifyWithKey(v3Key.pubPath, legacy.ref),
          true,
        );
      });
    });

    describe('when cosign v3 signs with a key pair into a bundle referrer', () => {
      const repo = 'producers/v3-key';
      let image: { ref: string; digest: string };

      before(async () => {
        image = await pushed(repo);
        await v3.sign(v3Key.keyPath, image.ref);
      });

      it('writes a v0.3 bundle referrer, listed in the sha256-<hex> tag index, whose statement subject has only the digest', async () => {
        const indexTag = image.digest.replace(':', '-');
        assert.deepEqual(await tags(repo), [indexTag, 'v1']);
        const index = (await getJson(`${repo}/manifests/${indexTag}`, OCI_INDEX)) as unknown as {
          mediaType: string;
          manifests: Descriptor[];
        };
        assert.equal(index.mediaType, OCI_INDEX);
        assert.equal(index.manifests.length, 1);
        assert.equal(index.manifests[0]?.artifactType, BUNDLE_V03);
        const artifact = await manifest(repo, index.manifests[0]?.digest ?? '');
        assert.equal(artifact.artifactType, BUNDLE_V03);
        assert.equal(artifact.subject?.digest, image.digest);
        assert.equal(artifact.annotations?.['dev.sigstore.bundle.content'], 'dsse-envelope');
        assert.equal(
          artifact.annotations?.['dev.sigstore.bundle.predicateType'],
          COSIGN_SIGN_PREDICATE,
        );
        assert.equal(artifact.layers.length, 1);
        assert.equal(artifact.layers[0]?.mediaType, BUNDLE_V03);
        const bundle = JSON.parse(
          (await getBlob(repo, artifact.layers[0]?.digest ?? '')).toString('utf8'),
        ) as {
          mediaType: string;
          verificationMaterial: Record<string, unknown>;
          dsseEnvelope: { payloadType: string; payload: string };
        };
        assert.equal(bundle.mediaType, BUNDLE_V03);
        // A key signs: a public key hint, no certificate, no log entry, no timestamp.
        assert.deepEqual(Object.keys(bundle.verificationMaterial), ['publicKey']);
        assert.equal(bundle.dsseEnvelope.payloadType, 'application/vnd.in-toto+json');
        const statement = JSON.parse(
          Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8'),
        ) as Record<string, unknown>;
        assert.equal(statement._type, 'https://in-toto.io/Statement/v1');
        assert.equal(statement.predicateType, COSIGN_SIGN_PREDICATE);
        assert.deepEqual(statement.subject, [
          { digest: { sha256: image.digest.slice('sha256:'.length) }, annotations: {} },
        ]);
      });

      it('is refused by ours because the subject names no image, while cosign v3 verify accepts it (known, deliberate difference)', async () => {
        for (const policy of [
          await keyPolicy('v3-key-default', v3Key),
          await keyPolicy('v3-key-repository', v3Key, MATCH_REPOSITORY),
        ]) {
          const ours = await verifyOurs(image.ref, policy);
          assert.equal(ours.verified, false, ours.raw);
          assert.match(ours.checks[0]?.reason ?? '', /names no image/, ours.raw);
          assert.match(ours.checks[0]?.reason ?? '', /cosign v3 writes digest-only subjects/);
        }
        const cosign = await v3.verifyWithKey(v3Key.pubPath, image.ref);
        assert.equal(cosign.code, 0, cosign.stderr);
        assert.match(cosign.stdout, new RegExp(`"type":"${COSIGN_SIGN_PREDICATE}"`));
        assert.ok(allowedDifference('cosign/v3-digest-only-subject', 'cosign', false, true));
      });
    });

    describe('when cosign attests an otherwise unsigned image with the policy key', () => {
      const v2Types: readonly AttestationType[] = ['slsaprovenance1', 'cyclonedx'];
      const v3Types: readonly AttestationType[] = [
        'slsaprovenance1',
        'cyclonedx',
        'vuln',
        'custom',
      ];
      let v2Image: { ref: string; digest: string };
      let v3Image: { ref: string; digest: string };

      before(async () => {
        v2Image = await pushed('producers/attested-v2');
        v3Image = await pushed('producers/attested-v3');
        for (const [cli, key, image, types] of [
          [v2, v2Key, v2Image, v2Types],
          [v3, v3Key, v3Image, v3Types],
        ] as const) {
          for (const type of types) {
            const predicate = await cli.writeFile(`${type}.json`, JSON.stringify(PREDICATES[type]));
            await cli.attest(key.keyPath, predicate, type, image.ref);
          }
        }
      });

      it('v3 attest-blob --statement (an in-toto Statement v1 naming the image) attached as a referrer: NOT verified by ours (BUNDLE_NOT_A_SIGNATURE), accepted by cosign v3 verify (known difference)', async () => {
        // What other producers (GitHub's attest action, sigstore-js, witness) write: a Statement
        // v1 whose subject names the repository, so MatchRepository accepts the name and only
        // the predicateType tells the attestation from a signature.
        const repo = 'producers/attested-v3-statement-v1';
        const image = await pushed(repo);
        const statement = await v3.writeFile(
          'statement-v1.json',
          JSON.stringify({
            _type: 'https://in-toto.io/Statement/v1',
            subject: [
              { name: `${host}/${repo}`, digest: { sha256: image.digest.slice('sha256:'.length) } },
            ],
            predicateType: ATTESTATION_TYPES.slsaprovenance1,
            predicate: PREDICATES.slsaprovenance1,
          }),
        );
        const bundlePath = join(v3.dir, 'statement-v1.bundle.json');
        await v3.ok([
          'attest-blob',
          '--statement',
          statement,
          '--key',
          v3Key.keyPath,
          '--bundle',
          bundlePath,
          ...v3.offlineSigningFlags(),
          '-y',
        ]);
        await v3.ok([
          'attach',
          'attestation',
          '--attestation',
          bundlePath,
          ...REGISTRY_FLAGS,
          image.ref,
        ]);
        const index = (await getJson(
          `${repo}/manifests/${image.digest.replace(':', '-')}`,
          OCI_INDEX,
        )) as unknown as { manifests: Descriptor[] };
        assert.deepEqual(
          index.manifests.map((m) => m.artifactType),
          [BUNDLE_V03],
        );
        for (const policy of [
          // MatchRepository first: it is the policy an attestation would slip through.
          await keyPolicy('v3-statement-repository', v3Key, MATCH_REPOSITORY),
          await keyPolicy('v3-statement-default', v3Key),
        ]) {
          const ours = await verifyOurs(image.ref, policy);
          assert.equal(
            ours.verified,
            false,
            `an attestation was accepted as a signature: ${ours.raw}`,
          );
          assert.deepEqual(
            ours.checks[0]?.evidence.map((e) => e.code),
            ['BUNDLE_NOT_A_SIGNATURE'],
            ours.raw,
          );
        }
        const cosign = await v3.verifyWithKey(v3Key.pubPath, image.ref);
        assert.equal(cosign.code, 0, cosign.stderr);
        assert.match(cosign.stdout, new RegExp(`"type":"${ATTESTATION_TYPES.slsaprovenance1}"`));
      });

      it('v2 writes sha256-<hex>.att (DSSE layers annotated with their predicateType) and no .sig', async () => {
        const repo = 'producers/attested-v2';
        const tag = `${v2Image.digest.replace(':', '-')}.att`;
        assert.deepEqual(await tags(repo), [tag, 'v1'].sort());
        const att = await manifest(repo, tag);
        assert.deepEqual(
          att.layers.map((l) => [
            l.mediaType,
            l.annotations?.predicateType,
            l.annotations?.[SIGNATURE_ANNOTATION],
          ]),
          v2Types.map((type) => [DSSE_ENVELOPE, ATTESTATION_TYPES[type], '']),
        );
      });

      it('v3 writes one bundle referrer per attestation, annotated with its predicateType', async () => {
        const repo = 'producers/attested-v3';
        const index = (await getJson(
          `${repo}/manifests/${v3Image.digest.replace(':', '-')}`,
          OCI_INDEX,
        )) as unknown as { manifests: Descriptor[] };
        const predicateTypes: string[] = [];
        for (const entry of index.manifests) {
          assert.equal(entry.artifactType, BUNDLE_V03);
          const artifact = await manifest(repo, entry.digest);
          predicateTypes.push(artifact.annotations?.['dev.sigstore.bundle.predicateType'] ?? '');
        }
        assert.deepEqual(
          predicateTypes.sort(),
          v3Types.map((type) => ATTESTATION_TYPES[type]).sort(),
        );
      });

      it('v2: NOT verified by ours (an attestation is never a signature); cosign verify agrees, verify-attestation accepts', async () => {
        for (const policy of [
          await keyPolicy('v2-att-default', v2Key),
          await keyPolicy('v2-att-repository', v2Key, MATCH_REPOSITORY),
        ]) {
          const ours = await verifyOurs(v2Image.ref, policy);
          assert.equal(
            ours.verified,
            false,
            `an attestation was accepted as a signature: ${ours.raw}`,
          );
          assert.equal(ours.exit, 1);
        }
        const cosign = await v2.verifyWithKey(v2Key.pubPath, v2Image.ref);
        assert.notEqual(cosign.code, 0, cosign.stdout);
        assert.match(cosign.stderr, /no signatures found/);
        for (const type of v2Types) {
          await v2.ok([
            'verify-attestation',
            '--key',
            v2Key.pubPath,
            '--type',
            type,
            '--insecure-ignore-tlog',
            v2Image.ref,
          ]);
        }
      });

      it('v3: NOT verified by ours (an attestation is never a signature), while cosign v3.1.3 verify accepts attestation bundles as signatures (known difference)', async () => {
        for (const policy of [
          await keyPolicy('v3-att-default', v3Key),
          // The attestations' statements name the repository: MatchRepository would accept the
          // name, so only the predicateType can refuse them.
          await keyPolicy('v3-att-repository', v3Key, MATCH_REPOSITORY),
        ]) {
          const ours = await verifyOurs(v3Image.ref, policy);
          assert.equal(
            ours.verified,
            false,
            `an attestation was accepted as a signature: ${ours.raw}`,
          );
          assert.equal(ours.exit, 1);
          // Each bundle must be turned down for what it is, not for an incidental fault that
          // could hide a false accept. cosign v3.1.3 writes attestations as in-toto Statement
          // v0.1, refused at the statement type before its predicateType is even read.
          const codes = ours.checks[0]?.evidence.map((e) => e.code) ?? [];
          assert.ok(codes.length > 0, ours.raw);
          for (const code of codes) {
            assert.ok(
              code === 'PAYLOAD_WRONG_TYPE' || code === 'BUNDLE_NOT_A_SIGNATURE',
              `refused for another reason (${String(code)}): ${ours.raw}`,
            );
          }
        }
        const cosign = await v3.verifyWithKey(v3Key.pubPath, v3Image.ref);
        assert.equal(
          cosign.code,
          0,
          `cosign v3 verify changed its mind about attestations: ${cosign.stderr}`,
        );
        assert.ok(allowedDifference('cosign/v3-attestation-bundle', 'cosign', false, true));
        for (const type of v3Types) {
          assert.match(cosign.stdout, new RegExp(`"type":"${ATTESTATION_TYPES[type]}"`));
          await v3.ok([
            'verify-attestation',
            '--key',
            v3Key.pubPath,
            '--type',
            type,
            '--insecure-ignore-tlog',
            v3Image.ref,
          ]);
        }
      });
    });

    describe('when cosign v2 signs with a certificate and its chain', () => {
      let pki: FulcioTestPki;
      let fulcioRoot: TestCa;
      let pkiRoot: TestCa;
      let fulcioImage: { ref: string; digest: string };
      let pkiImage: { ref: string; digest: string };
      let fulcioChain: string;
      let pkiChain: string;
      let pkiLeafPath: string;
      let pkiKey: CosignKeyPair;
      let rekorPubPath: string;
      const rekor = createTestKey('p256');
      // cosign verify without a log entry checks the leaf against the current time.
      const notBefore = new Date(Date.now() - 3_600_000);
      const notAfter = new Date(Date.now() + 3_600_000);

      const fulcioPolicy = (): Promise<string> =>
        writePolicy(
          'fulcio-root-only',
          {
            policyType: 'FulcioCAWithRekor',
            fulcioCAWithRekor: {
              fulcioCAData: b64(fulcioRoot.certPem),
              rekorKeyData: b64(rekor.publicKeyPem),
              fulcioSubject: { oidcIssuer: OIDC_ISSUER, signedEmail: SIGNER_EMAIL },
            },
          },
          MATCH_REPOSITORY,
        );
      const pkiPolicy = (name: string, email: string): Promise<string> =>
        writePolicy(
          name,
          {
            policyType: 'PKI',
            pki: { caRootsData: b64(pkiRoot.certPem), pkiCertificateSubject: { email } },
          },
          MATCH_REPOSITORY,
        );
      const cosignVerifyCa = (
        root: string,
        ref: string,
        extra: readonly string[],
        env: Record<string, string> = {},
      ) =>
        v2.run(
          [
            'verify',
            '--ca-roots',
            root,
            '--certificate-identity',
            SIGNER_EMAIL,
            ...extra,
            '--insecure-ignore-sct',
            '--allow-http-registry',
            '--allow-insecure-registry',
            ref,
          ],
          { env },
        );

      before(async () => {
        pki = await FulcioTestPki.create();
        // Fulcio's shape: root → intermediate (CodeSigning EKU) → leaf with an email SAN and
        // both issuer extensions.
        fulcioRoot = await pki.makeCa({ subject: '/O=sigstore.dev/CN=sigstore' });
        const fulcioIntermediate = await pki.makeCa({
          subject: '/O=sigstore.dev/CN=sigstore-intermediate',
          issuer: fulcioRoot,
          codeSigningEku: true,
        });
        const fulcioLeaf = await pki.issueLeaf({
          issuer: fulcioIntermediate,
          emails: [SIGNER_EMAIL],
          issuerV1: OIDC_ISSUER,
          issuerV2: OIDC_ISSUER,
          notBefore,
          notAfter,
        });
        // A private PKI: root → intermediate → leaf with an email and a DNS SAN.
        pkiRoot = await pki.makeCa({ subject: '/O=Example/CN=Example Root' });
        const pkiIntermediate = await pki.makeCa({
          subject: '/O=Example/CN=Example Signing CA',
          issuer: pkiRoot,
        });
        const pkiLeaf = await pki.issueLeaf({
          issuer: pkiIntermediate,
          emails: [SIGNER_EMAIL],
          dnsNames: ['signer.example.com'],
          subject: '/O=Example/CN=release signer',
          notBefore,
          notAfter,
        });

        await v2.writeFile('fulcio-root.pem', fulcioRoot.certPem);
        await v2.writeFile('pki-root.pem', pkiRoot.certPem);
        // cosign sign checks the leaf against the chain file taking its last certificate as
        // the root, and writes the file verbatim into dev.sigstore.cosign/chain.
        fulcioChain = fulcioIntermediate.certPem + fulcioRoot.certPem;
        pkiChain = pkiIntermediate.certPem + pkiRoot.certPem;
        const fulcioChainPath = await v2.writeFile('fulcio-chain.pem', fulcioChain);
        const pkiChainPath = await v2.writeFile('pki-chain.pem', pkiChain);
        const fulcioLeafPath = await v2.writeFile('fulcio-leaf.pem', fulcioLeaf.certPem);
        pkiLeafPath = await v2.writeFile('pki-leaf.pem', pkiLeaf.certPem);
        rekorPubPath = await v2.writeFile('rekor.pub', rekor.publicKeyPem);
        const pkcs8 = (key: typeof rekor): string =>
          key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
        const fulcioKey = await v2.importKeyPair('fulcio-leaf', pkcs8(fulcioLeaf.key));
        pkiKey = await v2.importKeyPair('pki-leaf', pkcs8(pkiLeaf.key));

        fulcioImage = await pushed('producers/v2-fulcio');
        await v2.sign(fulcioKey.keyPath, fulcioImage.ref, [
          '--certificate',
          fulcioLeafPath,
          '--certificate-chain',
          fulcioChainPath,
        ]);
        pkiImage = await pushed('producers/v2-pki');
        await v2.sign(pkiKey.keyPath, pkiImage.ref, [
          '--certificate',
          pkiLeafPath,
          '--certificate-chain',
          pkiChainPath,
        ]);
      });

      after(async () => {
        await pki.cleanup();
      });

      it('writes the leaf and the chain file verbatim (intermediate AND root), a newline-free signature and no Rekor bundle', async () => {
        for (const [repo, image, chain] of [
          ['producers/v2-fulcio', fulcioImage, fulcioChain],
          ['producers/v2-pki', pkiImage, pkiChain],
        ] as const) {
          const sig = await manifest(repo, `${image.digest.replace(':', '-')}.sig`);
          const annotations = sig.layers[0]?.annotations ?? {};
          assert.deepEqual(
            Object.keys(annotations).sort(),
            [SIGNATURE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION].sort(),
          );
          assert.match(annotations[SIGNATURE_ANNOTATION] ?? '', STRICT_BASE64);
          assert.match(
            annotations[CERTIFICATE_ANNOTATION] ?? '',
            /^-----BEGIN CERTIFICATE-----\n[^]*-----END CERTIFICATE-----\n$/,
          );
          assert.equal(annotations[CHAIN_ANNOTATION], chain);
          assert.equal(annotations[BUNDLE_ANNOTATION], undefined);
        }
      });

      it('FulcioCAWithRekor (root only): refused by ours for want of a Rekor SET, as containers/image does; cosign verify refuses too unless told --insecure-ignore-tlog', async () => {
        const ours = await verifyOurs(fulcioImage.ref, await fulcioPolicy());
        const fulcioRootPath = join(v2.dir, 'fulcio-root.pem');
        // cosign given the policy's Rekor key, --offline: a log entry is required, there is none.
        const strict = await cosignVerifyCa(
          fulcioRootPath,
          fulcioImage.ref,
          ['--certificate-oidc-issuer', OIDC_ISSUER, '--offline'],
          { SIGSTORE_REKOR_PUBLIC_KEY: rekorPubPath },
        );
        assertBoth(ours, strict, false);
        assert.deepEqual(
          ours.checks[0]?.evidence.map((e) => e.code),
          ['REKOR_BUNDLE_MISSING'],
          ours.raw,
        );
        assert.match(strict.stderr, /offline verification failed/);
        // Everything else about the certificate is sound: cosign accepts once the log is waived.
        const waived = await cosignVerifyCa(fulcioRootPath, fulcioImage.ref, [
          '--certificate-oidc-issuer',
          OIDC_ISSUER,
          '--insecure-ignore-tlog',
        ]);
        assert.equal(waived.code, 0, waived.stderr);
      });

      it('PKI (the policy holds the root only; the intermediate comes from the chain annotation): verified by ours and by cosign verify --ca-roots', async () => {
        assertBoth(
          await verifyOurs(pkiImage.ref, await pkiPolicy('pki-root-only', SIGNER_EMAIL)),
          await cosignVerifyCa(join(v2.dir, 'pki-root.pem'), pkiImage.ref, [
            '--certificate-oidc-issuer-regexp',
            '.*',
            '--insecure-ignore-tlog',
          ]),
          true,
        );
      });

      it('PKI for another email: refused by both', async () => {
        const ours = await verifyOurs(
          pkiImage.ref,
          await pkiPolicy('pki-other-email', 'mallory@example.com'),
        );
        const cosign = await v2.run([
          'verify',
          '--ca-roots',
          join(v2.dir, 'pki-root.pem'),
          '--certificate-identity',
          'mallory@example.com',
          '--certificate-oidc-issuer-regexp',
          '.*',
          '--insecure-ignore-sct',
          '--insecure-ignore-tlog',
          '--allow-http-registry',
          '--allow-insecure-registry',
          pkiImage.ref,
        ]);
        assertBoth(ours, cosign, false);
      });

      describe('when the signature is made by sign-blob and attached (the base64 ends with a newline)', () => {
        const repo = 'producers/v2-pki-attached';
        let image: { ref: string; digest: string };
        let signatureText: string;

        before(async () => {
          image = await pushed(repo);
          const payload = await v2.ok([
            'generate',
            ...['--allow-http-registry', '--allow-insecure-registry'],
            image.ref,
          ]);
          const payloadPath = await v2.writeFile('attached-payload.json', payload.stdout);
          // sign-blob prints the base64 signature with fmt.Println: a trailing "\n".
          const signature = await v2.ok([
            'sign-blob',
            '--key',
            pkiKey.keyPath,
            '--tlog-upload=false',
            '-y',
            payloadPath,
          ]);
          signatureText = signature.stdout;
          const signaturePath = await v2.writeFile('attached-signature.b64', signatureText);
          await v2.ok([
            'attach',
            'signature',
            '--payload',
            payloadPath,
            '--signature',
            signaturePath,
            '--certificate',
            pkiLeafPath,
            '--certificate-chain',
            join(v2.dir, 'pki-chain.pem'),
            '--allow-http-registry',
            '--allow-insecure-registry',
            image.ref,
          ]);
        });

        it('stores sign-blob\'s output verbatim: the annotation ends with "\\n"', async () => {
          assert.match(signatureText, /^[A-Za-z0-9+/]+={0,2}\n$/);
          const sig = await manifest(repo, `${image.digest.replace(':', '-')}.sig`);
          const annotations = sig.layers[0]?.annotations ?? {};
          assert.equal(annotations[SIGNATURE_ANNOTATION], signatureText);
          assert.equal(annotations[CHAIN_ANNOTATION], pkiChain);
        });

        it('is verified by ours (PKI, root only) and by cosign verify', async () => {
          assertBoth(
            await verifyOurs(image.ref, await pkiPolicy('pki-root-only-attached', SIGNER_EMAIL)),
            await cosignVerifyCa(join(v2.dir, 'pki-root.pem'), image.ref, [
              '--certificate-oidc-issuer-regexp',
              '.*',
              '--insecure-ignore-tlog',
            ]),
            true,
          );
        });
      });
    });
  },
);
