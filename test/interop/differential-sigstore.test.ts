/**
 * Sigstore verdicts judged by containers/image itself (interop/cmd/cimage-harness,
 * IsRunningImageAllowed): each case pushes an image and its cosign signatures to a real
 * docker-registry, writes ClusterImagePolicies, renders them with our own `policy render` (so the
 * rendering is judged too), and asks both our `verify --policy` and containers/image under that
 * policy.json + registries.d. The corpus: key types, signedIdentity rules and identity spellings,
 * payload and encoding mutations, Rekor SETs, nested and same-scope policies, PKI certificate
 * hierarchies (chain-annotation intermediates, pathLen, name constraints, weak hashes, EKU,
 * wildcard SANs), plus seeded-random combinations. Disagreements outside allowed-differences.ts
 * fail.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { runCli } from '../../src/cli/main.js';
import {
  createTestKey,
  makeCosignPayload,
  makeRekorBundle,
  makeSignatureLayer,
  pushCosignSignatures,
  signPayload,
} from '../helpers/cosign.js';
import type { SignatureLayer, TestKey, TestKeyKind } from '../helpers/cosign.js';
import { diffSeed, judge, seededRandom } from '../helpers/differential.js';
import type { Outcome } from '../helpers/differential.js';
import { repoRoot } from '../helpers/fixtures.js';
import { FulcioTestPki, LEAF_INTEGRATED_TIME } from '../helpers/fulcio.js';
import type { LeafOptions, TestCa } from '../helpers/fulcio.js';
import { runCimageHarness } from '../helpers/interop.js';
import type { CimageCase } from '../helpers/interop.js';
import { findRegistryBinary, pushImage, TestRegistry } from '../helpers/registry.js';

const SIGNATURE = 'dev.cosignproject.cosign/signature';
const CERTIFICATE = 'dev.sigstore.cosign/certificate';
const CHAIN = 'dev.sigstore.cosign/chain';
const BUNDLE = 'dev.sigstore.cosign/bundle';
const RANDOM_CASES = 30;
const FAR_PAST = new Date('2020-01-01T00:00:00Z');
const FAR_FUTURE = new Date('2040-01-01T00:00:00Z');

interface PolicySpec {
  readonly name: string;
  readonly scopes: readonly string[];
  readonly rootOfTrust: Record<string, unknown>;
  readonly signedIdentity?: Record<string, unknown>;
}

interface SigstoreCase {
  readonly id: string;
  readonly kind: string;
  /** Repository path below the registry host. */
  readonly path: string;
  readonly digest: string;
  readonly policies: readonly PolicySpec[];
}

/**
 * The identity most cases sign: a tagged reference, which the default rule
 * (matchRepoDigestOrExact) accepts for an image by digest. A name-only identity (what cosign
 * writes) is refused by that rule, in containers/image and here; the identity matrix covers it.
 */
function tagged(name: string): string {
  return `${name}:v1`;
}

/** PEM certificates under another block label (Go parses them whatever the label). */
function relabel(pem: string, label: string | undefined): string {
  return label === undefined ? pem : pem.replaceAll(' CERTIFICATE-----', ` ${label}-----`);
}

function b64(text: string): string {
  return Buffer.from(text).toString('base64');
}

function publicKeyRoot(key: TestKey, rekor?: TestKey): Record<string, unknown> {
  return {
    policyType: 'PublicKey',
    publicKey: {
      keyData: b64(key.publicKeyPem),
      ...(rekor !== undefined ? { rekorKeyData: b64(rekor.publicKeyPem) } : {}),
    },
  };
}

const binary = await findRegistryBinary();

describe(
  'Sigstore verdicts against containers/image IsRunningImageAllowed (differential)',
  { skip: 'skip' in binary ? binary.skip : false },
  () => {
    let registry: TestRegistry;
    let dir: string;
    let pki: FulcioTestPki;
    let counter = 0;

    before(async () => {
      assert.ok('path' in binary);
      registry = await TestRegistry.start(binary.path);
      dir = await mkdtemp(join(tmpdir(), 'cvo-diff-sigstore-'));
      pki = await FulcioTestPki.create();
    });

    after(async () => {
      await registry.stop();
      await pki.cleanup();
      await rm(dir, { recursive: true, force: true });
    });

    /** A fresh image in its own repository, signed with `layers` (none: unsigned). */
    async function image(
      layersFor: (name: string, digest: string) => SignatureLayer[],
    ): Promise<{ path: string; name: string; digest: string }> {
      const path = `diff/c${++counter}`;
      const pushed = await pushImage({ url: registry.url }, path, 'v1');
      const digest = pushed.manifest.digest;
      const name = `${registry.host}/${path}`;
      const layers = layersFor(name, digest);
      if (layers.length > 0) {
        await pushCosignSignatures({ url: registry.url }, path, pushed.manifest, layers);
      }
      return { path, name, digest };
    }

    async function systematic(): Promise<SigstoreCase[]> {
      const cases: SigstoreCase[] = [];
      const add = async (
        kind: string,
        layersFor: (name: string, digest: string) => SignatureLayer[],
        policiesFor: (name: string, digest: string) => PolicySpec[],
      ): Promise<void> => {
        const img = await image(layersFor);
        cases.push({
          id: `s${cases.length + 1}`,
          kind,
          path: img.path,
          digest: img.digest,
          policies: policiesFor(img.name, img.digest),
        });
      };
      const repoPolicy =
        (key: TestKey, signedIdentity?: Record<string, unknown>, rekor?: TestKey) =>
        (name: string): PolicySpec[] => [
          {
            name: 'p',
            scopes: [name],
            rootOfTrust: publicKeyRoot(key, rekor),
            ...(signedIdentity !== undefined ? { signedIdentity } : {}),
          },
        ];

      // Key types, each signed as cosign signs (identity: the repository, no tag).
      for (const kind of ['p256', 'p384', 'p521', 'rsa', 'ed25519'] as TestKeyKind[]) {
        const key = createTestKey(kind);
        await add(
          `key/${kind}`,
          (name, d) => [makeSignatureLayer(key, makeCosignPayload(tagged(name), d))],
          repoPolicy(key),
        );
        await add(
          `key/${kind}-other-key`,
          (name, d) => [
            makeSignatureLayer(createTestKey(kind), makeCosignPayload(tagged(name), d)),
          ],
          repoPolicy(key),
        );
      }
      const key = createTestKey('p256');

      // Identity spellings × signedIdentity rules.
      const spellings: [string, (name: string, d: string) => string][] = [
        ['repo', (name) => name],
        ['repo-tag', (name) => `${name}:v1`],
        ['repo-digest', (name, d) => `${name}@${d}`],
        ['other-repo', () => `${registry.host}/elsewhere/repo`],
        ['other-repo-digest', (_n, d) => `${registry.host}/elsewhere/repo@${d}`],
        ['parent-namespace', () => `${registry.host}/diff`],
        ['remapped', (name) => `${name.replace('/diff/', '/elsewhere/')}:v1`],
      ];
      const rules: [string, (name: string) => Record<string, unknown> | undefined][] = [
        ['default', () => undefined],
        ['matchRepoDigestOrExact', () => ({ matchPolicy: 'MatchRepoDigestOrExact' })],
        ['matchRepository', () => ({ matchPolicy: 'MatchRepository' })],
        [
          'exactRepository-elsewhere',
          () => ({
            matchPolicy: 'ExactRepository',
            exactRepository: { repository: `${registry.host}/elsewhere/repo` },
          }),
        ],
        [
          'remapIdentity-elsewhere',
          () => ({
            matchPolicy: 'RemapIdentity',
            remapIdentity: {
              prefix: `${registry.host}/diff`,
              signedPrefix: `${registry.host}/elsewhere`,
            },
          }),
        ],
      ];
      for (const [spelling, identity] of spellings) {
        for (const [rule, signedIdentity] of rules) {
          await add(
            `identity/${spelling}/${rule}`,
            (name, d) => [makeSignatureLayer(key, makeCosignPayload(identity(name, d), d))],
            (name) => repoPolicy(key, signedIdentity(name))(name),
          );
        }
      }

      // Payload and encoding mutations.
      const layerWith = (payload: Buffer, mutate: (b64: string) => string): SignatureLayer => ({
        payload,
        annotations: { [SIGNATURE]: mutate(signPayload(key, payload).toString('base64')) },
      });
      await add(
        'payload/wrong-digest',
        (name) => [
          makeSignatureLayer(key, makeCosignPayload(tagged(name), `sha256:${'0'.repeat(64)}`)),
        ],
        repoPolicy(key),
      );
      await add(
        'payload/wrong-type',
        (name, d) => [
          makeSignatureLayer(
            key,
            Buffer.from(
              makeCosignPayload(tagged(name), d)
                .toString()
                .replace('cosign container image signature', 'atomic container signature'),
            ),
          ),
        ],
        repoPolicy(key),
      );
      await add(
        'payload/unknown-critical-field',
        (name, d) => [
          makeSignatureLayer(
            key,
            Buffer.from(
              makeCosignPayload(tagged(name), d)
                .toString()
                .replace('"critical":{', '"critical":{"x":1,'),
            ),
          ),
        ],
        repoPolicy(key),
      );
      await add(
        'payload/optional-annotations',
        (name, d) => [
          makeSignatureLayer(key, makeCosignPayload(tagged(name), d, { team: 'release' })),
        ],
        repoPolicy(key),
      );
      await add(
        'payload/duplicate-key',
        (name, d) => [
          makeSignatureLayer(
            key,
            Buffer.from(
              makeCosignPayload(tagged(name), d)
                .toString()
                .replace(
                  '"docker-reference":',
                  `"docker-reference":"${registry.host}/elsewhere/x","docker-reference":`,
                ),
            ),
          ),
        ],
        repoPolicy(key),
      );
      await add(
        'encoding/trailing-newline',
        (name, d) => [layerWith(makeCosignPayload(tagged(name), d), (s) => `${s}\n`)],
        repoPolicy(key),
      );
      await add(
        'encoding/inner-crlf',
        (name, d) => [
          layerWith(
            makeCosignPayload(tagged(name), d),
            (s) => `${s.slice(0, 10)}\r\n${s.slice(10)}`,
          ),
        ],
        repoPolicy(key),
      );
      await add(
        'encoding/space',
        (name, d) => [
          layerWith(makeCosignPayload(tagged(name), d), (s) => `${s.slice(0, 10)} ${s.slice(10)}`),
        ],
        repoPolicy(key),
      );
      await add(
        'encoding/nonzero-trailing-bits',
        (name, d) => [
          layerWith(makeCosignPayload(tagged(name), d), (text) => {
            const pad = text.indexOf('=');
            if (pad < 1) return text;
            const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
            const last = alphabet.indexOf(text.charAt(pad - 1));
            return `${text.slice(0, pad - 1)}${alphabet.charAt(last ^ 1)}${text.slice(pad)}`;
          }),
        ],
        repoPolicy(key),
      );
      await add(
        'encoding/url-alphabet',
        (name, d) => [
          layerWith(makeCosignPayload(tagged(name), d), (s) =>
            s.replace(/\+/g, '-').replace(/\//g, '_'),
          ),
        ],
        repoPolicy(key),
      );
      await add('unsigned', () => [], repoPolicy(key));
      await add(
        'multi-layer-one-good',
        (name, d) => [
          makeSignatureLayer(createTestKey('p256'), makeCosignPayload(tagged(name), d)),
          makeSignatureLayer(key, makeCosignPayload(tagged(name), d)),
        ],
        repoPolicy(key),
      );

      // Rekor SETs.
      const rekor = createTestKey('p256');
      await add(
        'rekor/valid-set',
        (name, d) => [
          makeSignatureLayer(key, makeCosignPayload(tagged(name), d), { rekorKey: rekor }),
        ],
        repoPolicy(key, undefined, rekor),
      );
      await add(
        'rekor/missing-set',
        (name, d) => [makeSignatureLayer(key, makeCosignPayload(tagged(name), d))],
        repoPolicy(key, undefined, rekor),
      );
      await add(
        'rekor/set-by-other-log',
        (name, d) => [
          makeSignatureLayer(key, makeCosignPayload(tagged(name), d), {
            rekorKey: createTestKey('p256'),
          }),
        ],
        repoPolicy(key, undefined, rekor),
      );
      await add(
        'rekor/set-for-other-payload',
        (name, d) => {
          const payload = makeCosignPayload(tagged(name), d);
          const layer = makeSignatureLayer(key, payload);
          const other = makeCosignPayload(`${name}:other`, d);
          return [
            {
              payload,
              annotations: {
                ...layer.annotations,
                [BUNDLE]: makeRekorBundle({
                  rekorKey: rekor,
                  signerPem: key.publicKeyPem,
                  signature: signPayload(key, other),
                  payload: other,
                }),
              },
            },
          ];
        },
        repoPolicy(key, undefined, rekor),
      );

      // Scopes: the most specific wins; policies of one scope are all required.
      const keyB = createTestKey('p256');
      const nested = (name: string): PolicySpec[] => [
        { name: 'repo', scopes: [name], rootOfTrust: publicKeyRoot(key) },
        { name: 'host', scopes: [registry.host], rootOfTrust: publicKeyRoot(keyB) },
      ];
      await add(
        'scope/nested-signed-by-specific',
        (name, d) => [makeSignatureLayer(key, makeCosignPayload(tagged(name), d))],
        nested,
      );
      await add(
        'scope/nested-signed-by-broader',
        (name, d) => [makeSignatureLayer(keyB, makeCosignPayload(tagged(name), d))],
        nested,
      );
      const same = (name: string): PolicySpec[] => [
        { name: 'a', scopes: [name], rootOfTrust: publicKeyRoot(key) },
        { name: 'b', scopes: [name], rootOfTrust: publicKeyRoot(keyB) },
      ];
      await add(
        'scope/same-scope-one-signed',
        (name, d) => [makeSignatureLayer(key, makeCosignPayload(tagged(name), d))],
        same,
      );
      await add(
        'scope/same-scope-both-signed',
        (name, d) => [
          makeSignatureLayer(key, makeCosignPayload(tagged(name), d)),
          makeSignatureLayer(keyB, makeCosignPayload(tagged(name), d)),
        ],
        same,
      );
      await add(
        'scope/host-scope',
        (name, d) => [makeSignatureLayer(key, makeCosignPayload(tagged(name), d))],
        () => [{ name: 'h', scopes: [registry.host], rootOfTrust: publicKeyRoot(key) }],
      );
      await add(
        'scope/namespace-scope',
        (name, d) => [makeSignatureLayer(keyB, makeCosignPayload(tagged(name), d))],
        () => [{ name: 'n', scopes: [`${registry.host}/diff`], rootOfTrust: publicKeyRoot(key) }],
      );
      await add(
        'scope/out-of-scope',
        () => [],
        () => [
          { name: 'o', scopes: [`${registry.host}/elsewhere`], rootOfTrust: publicKeyRoot(key) },
        ],
      );

      cases.push(...(await pkiCases(counterFrom(cases))));
      cases.push(...(await fulcioCases(counterFrom(cases))));
      return cases;
    }

    function counterFrom(cases: SigstoreCase[]): () => string {
      let n = cases.length;
      return () => `s${++n}`;
    }

    /** PKI hierarchies: root (configured) → intermediate → leaf, signing with the leaf's key. */
    async function pkiCases(nextId: () => string): Promise<SigstoreCase[]> {
      const cases: SigstoreCase[] = [];
      const EMAIL = 'release@example.com';
      const root = await pki.makeCa({
        subject: '/O=diff/CN=root',
        notBefore: FAR_PAST,
        notAfter: FAR_FUTURE,
      });
      const intermediate = await pki.makeCa({
        subject: '/O=diff/CN=intermediate',
        issuer: root,
        notBefore: FAR_PAST,
        notAfter: FAR_FUTURE,
      });
      const variants: {
        kind: string;
        ca?: () => Promise<TestCa>;
        leaf?: Partial<LeafOptions>;
        chain?: 'intermediate+root' | 'intermediate' | 'none';
        subject?: Record<string, string>;
        intermediatesConfigured?: boolean;
        certSuffix?: string;
        chainSuffix?: string;
        relabelChain?: string;
        relabelCertificate?: string;
      }[] = [
        { kind: 'pki/certificate-trailing-junk', certSuffix: 'junk' },
        { kind: 'pki/certificate-trailing-blank-lines', certSuffix: '\n\n' },
        { kind: 'pki/chain-trailing-blank-lines', chainSuffix: '\n\n' },
        { kind: 'pki/chain-trailing-junk', chainSuffix: 'junk' },
        { kind: 'pki/chain-label-x509-certificate', relabelChain: 'X509 CERTIFICATE' },
        { kind: 'pki/certificate-label-trusted', relabelCertificate: 'TRUSTED CERTIFICATE' },
        { kind: 'pki/chain-annotation-intermediate' },
        { kind: 'pki/chain-intermediate-only', chain: 'intermediate' },
        { kind: 'pki/no-chain', chain: 'none' },
        {
          kind: 'pki/no-chain-intermediate-configured',
          chain: 'none',
          intermediatesConfigured: true,
        },
        { kind: 'pki/other-email', subject: { email: 'other@example.com' } },
        {
          kind: 'pki/hostname',
          leaf: { dnsNames: ['signer.example.com'] },
          subject: { hostname: 'signer.example.com' },
        },
        {
          kind: 'pki/wildcard-hostname',
          leaf: { dnsNames: ['*.example.com'] },
          subject: { hostname: 'signer.example.com' },
        },
        {
          kind: 'pki/wildcard-two-labels',
          leaf: { dnsNames: ['*.example.com'] },
          subject: { hostname: 'a.b.example.com' },
        },
        { kind: 'pki/no-code-signing-eku', leaf: { codeSigning: 'serverAuth' } },
        { kind: 'pki/leaf-sha1', leaf: { digest: 'sha1' } },
        {
          kind: 'pki/leaf-md5',
          ca: () =>
            pki.makeCa({
              subject: '/O=diff/CN=rsa-intermediate',
              issuer: root,
              keyType: 'rsa',
              notBefore: FAR_PAST,
              notAfter: FAR_FUTURE,
            }),
          leaf: { digest: 'md5' },
        },
        {
          kind: 'pki/intermediate-sha1',
          ca: () =>
            pki.makeCa({
              subject: '/O=diff/CN=sha1-intermediate',
              issuer: root,
              digest: 'sha1',
              notBefore: FAR_PAST,
              notAfter: FAR_FUTURE,
            }),
        },
        {
          kind: 'pki/intermediate-not-ca',
          ca: () =>
            pki.makeCa({
              subject: '/O=diff/CN=notca',
              issuer: root,
              basicConstraints: 'notCa',
              notBefore: FAR_PAST,
              notAfter: FAR_FUTURE,
            }),
        },
        {
          kind: 'pki/intermediate-pathlen-0',
          ca: () =>
            pki.makeCa({
              subject: '/O=diff/CN=pathlen0',
              issuer: root,
              pathLen: 0,
              notBefore: FAR_PAST,
              notAfter: FAR_FUTURE,
            }),
        },
        {
          kind: 'pki/name-constraints-permit',
          ca: () =>
            pki.makeCa({
              subject: '/O=diff/CN=nc-permit',
              issuer: root,
              nameConstraints: { critical: true, permitted: ['email:example.com'] },
              notBefore: FAR_PAST,
              notAfter: FAR_FUTURE,
            }),
        },
        {
          kind: 'pki/name-constraints-exclude',
          ca: () =>
            pki.makeCa({
              subject: '/O=diff/CN=nc-exclude',
              issuer: root,
              nameConstraints: { critical: false, excluded: ['email:example.com'] },
              notBefore: FAR_PAST,
              notAfter: FAR_FUTURE,
            }),
        },
        {
          kind: 'pki/leaf-expired',
          leaf: { notBefore: FAR_PAST, notAfter: new Date('2021-01-01T00:00:00Z') },
        },
      ];
      for (const v of variants) {
        const issuer = v.ca !== undefined ? await v.ca() : intermediate;
        const leaf = await pki.issueLeaf({
          issuer,
          emails: [EMAIL],
          notBefore: FAR_PAST,
          notAfter: FAR_FUTURE,
          ...v.leaf,
        });
        const chainMode = v.chain ?? 'intermediate+root';
        const chain =
          chainMode === 'none'
            ? undefined
            : chainMode === 'intermediate'
              ? issuer.certPem
              : issuer.certPem + root.certPem;
        const img = await image((name, d) => {
          const payload = makeCosignPayload(tagged(name), d);
          return [
            {
              payload,
              annotations: {
                [SIGNATURE]: signPayload(leaf.key, payload).toString('base64'),
                [CERTIFICATE]: relabel(leaf.certPem, v.relabelCertificate) + (v.certSuffix ?? ''),
                ...(chain !== undefined
                  ? { [CHAIN]: relabel(chain, v.relabelChain) + (v.chainSuffix ?? '') }
                  : {}),
              },
            },
          ];
        });
        cases.push({
          id: nextId(),
          kind: v.kind,
          path: img.path,
          digest: img.digest,
          policies: [
            {
              name: 'pki',
              scopes: [img.name],
              rootOfTrust: {
                policyType: 'PKI',
                pki: {
                  caRootsData: b64(root.certPem),
                  ...(v.intermediatesConfigured === true
                    ? { caIntermediatesData: b64(intermediate.certPem) }
                    : {}),
                  pkiCertificateSubject: v.subject ?? { email: EMAIL },
                },
              },
            },
          ],
        });
      }
      return cases;
    }

    /**
     * Keyless (FulcioCAWithRekor): a Fulcio-shaped hierarchy whose policy holds the root only, the
     * intermediate travelling in the chain annotation (as the public-good instance does), leaves
     * valid for ten minutes, and Rekor SETs binding the certificate at an integratedTime.
     */
    async function fulcioCases(nextId: () => string): Promise<SigstoreCase[]> {
      const cases: SigstoreCase[] = [];
      const ISSUER = 'https://accounts.example.com';
      const EMAIL = 'release@example.com';
      const rekor = createTestKey('p256');
      const root = await pki.makeCa({ subject: '/O=sigstore.dev/CN=sigstore' });
      const intermediate = await pki.makeCa({
        subject: '/O=sigstore.dev/CN=sigstore-intermediate',
        issuer: root,
        codeSigningEku: true,
      });
      const variants: {
        kind: string;
        leaf?: Partial<LeafOptions>;
        chain?: boolean;
        intermediateConfigured?: boolean;
        integratedTime?: number;
        set?: 'valid' | 'none' | 'other-certificate';
        subject?: { oidcIssuer?: string; signedEmail?: string };
      }[] = [
        { kind: 'fulcio/good' },
        { kind: 'fulcio/no-chain', chain: false },
        {
          kind: 'fulcio/no-chain-intermediate-configured',
          chain: false,
          intermediateConfigured: true,
        },
        { kind: 'fulcio/other-email', subject: { signedEmail: 'other@example.com' } },
        { kind: 'fulcio/other-issuer', subject: { oidcIssuer: 'https://other.example.com' } },
        { kind: 'fulcio/issuer-v1-only', leaf: { issuerV2: undefined } },
        { kind: 'fulcio/issuer-v2-only', leaf: { issuerV1: undefined } },
        { kind: 'fulcio/issuer-conflict', leaf: { issuerV1: 'https://other.example.com' } },
        { kind: 'fulcio/no-issuer', leaf: { issuerV1: undefined, issuerV2: undefined } },
        { kind: 'fulcio/set-after-expiry', integratedTime: LEAF_INTEGRATED_TIME + 3600 },
        { kind: 'fulcio/set-before-validity', integratedTime: LEAF_INTEGRATED_TIME - 3600 },
        { kind: 'fulcio/no-set', set: 'none' },
        { kind: 'fulcio/set-binds-other-certificate', set: 'other-certificate' },
        { kind: 'fulcio/no-code-signing-eku', leaf: { codeSigning: 'serverAuth' } },
        { kind: 'fulcio/leaf-sha1', leaf: { digest: 'sha1' } },
      ];
      for (const v of variants) {
        const base: LeafOptions = {
          issuer: intermediate,
          emails: [EMAIL],
          issuerV1: ISSUER,
          issuerV2: ISSUER,
        };
        const options: LeafOptions = { ...base, ...v.leaf };
        const leaf = await pki.issueLeaf(options);
        const other = v.set === 'other-certificate' ? await pki.issueLeaf(base) : undefined;
        const img = await image((name, d) => {
          const payload = makeCosignPayload(tagged(name), d);
          const signature = signPayload(leaf.key, payload);
          return [
            {
              payload,
              annotations: {
                [SIGNATURE]: signature.toString('base64'),
                [CERTIFICATE]: leaf.certPem,
                ...(v.chain !== false ? { [CHAIN]: intermediate.certPem + root.certPem } : {}),
                ...(v.set !== 'none'
                  ? {
                      [BUNDLE]: makeRekorBundle({
                        rekorKey: rekor,
                        signerPem: (other ?? leaf).certPem,
                        signature,
                        payload,
                        integratedTime: v.integratedTime ?? LEAF_INTEGRATED_TIME,
                      }),
                    }
                  : {}),
              },
            },
          ];
        });
        cases.push({
          id: nextId(),
          kind: v.kind,
          path: img.path,
          digest: img.digest,
          policies: [
            {
              name: 'keyless',
              scopes: [img.name],
              rootOfTrust: {
                policyType: 'FulcioCAWithRekor',
                fulcioCAWithRekor: {
                  fulcioCAData: b64(
                    root.certPem + (v.intermediateConfigured === true ? intermediate.certPem : ''),
                  ),
                  rekorKeyData: b64(rekor.publicKeyPem),
                  fulcioSubject: {
                    oidcIssuer: v.subject?.oidcIssuer ?? ISSUER,
                    signedEmail: v.subject?.signedEmail ?? EMAIL,
                  },
                },
              },
            },
          ],
        });
      }
      return cases;
    }

    async function randomCases(seed: number): Promise<SigstoreCase[]> {
      const random = seededRandom(seed);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
      const cases: SigstoreCase[] = [];
      for (let i = 0; i < RANDOM_CASES; i++) {
        const kind = pick(['p256', 'p384', 'p521', 'rsa', 'ed25519'] as TestKeyKind[]);
        const key = createTestKey(kind);
        const mutation = pick([
          'none',
          'flip-signature',
          'flip-payload',
          'other-key',
          'wrong-digest',
        ]);
        const img = await image((name, d) => {
          const payload = makeCosignPayload(
            tagged(name),
            mutation === 'wrong-digest' ? `sha256:${'1'.repeat(64)}` : d,
          );
          const signer = mutation === 'other-key' ? createTestKey(kind) : key;
          const signature = signPayload(signer, payload);
          let body = payload;
          if (mutation === 'flip-signature') {
            const at = Math.floor(random() * signature.length);
            signature[at] = (signature[at] ?? 0) ^ (1 << Math.floor(random() * 8));
          } else if (mutation === 'flip-payload') {
            body = Buffer.from(payload);
            const at = Math.floor(random() * body.length);
            body[at] = (body[at] ?? 0) ^ (1 << Math.floor(random() * 7));
          }
          return [{ payload: body, annotations: { [SIGNATURE]: signature.toString('base64') } }];
        });
        cases.push({
          id: `r${i + 1}`,
          kind: `random/${mutation}`,
          path: img.path,
          digest: img.digest,
          policies: [{ name: 'p', scopes: [img.name], rootOfTrust: publicKeyRoot(key) }],
        });
      }
      return cases;
    }

    async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
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

    /** Writes the policies and renders policy.json + registries.d with our own renderer. */
    async function materialise(c: SigstoreCase): Promise<{ files: string[]; caseDir: string }> {
      const caseDir = join(dir, c.id);
      await mkdir(join(caseDir, 'registries.d'), { recursive: true });
      const files: string[] = [];
      for (const p of c.policies) {
        const file = join(caseDir, `${p.name}.json`);
        await writeFile(
          file,
          JSON.stringify({
            apiVersion: 'config.openshift.io/v1',
            kind: 'ClusterImagePolicy',
            metadata: { name: p.name },
            spec: {
              scopes: p.scopes,
              policy: {
                rootOfTrust: p.rootOfTrust,
                ...(p.signedIdentity !== undefined ? { signedIdentity: p.signedIdentity } : {}),
              },
            },
          }),
        );
        files.push(file);
      }
      const policy = await cli(['policy', 'render', ...files]);
      assert.equal(policy.code, 0, `${c.id}: policy render: ${policy.stderr}`);
      await writeFile(join(caseDir, 'policy.json'), policy.stdout);
      const registriesD = await cli(['policy', 'render', '--registries-d', ...files]);
      assert.equal(
        registriesD.code,
        0,
        `${c.id}: policy render --registries-d: ${registriesD.stderr}`,
      );
      await writeFile(join(caseDir, 'registries.d', 'sigstore.yaml'), registriesD.stdout);
      return { files, caseDir };
    }

    it('agrees with containers/image on every case but the allowed differences', async () => {
      const seed = diffSeed();
      process.stdout.write(
        `differential Sigstore corpus seed ${seed} (DIFF_SEED=${seed} repeats it)\n`,
      );
      const cases = [...(await systematic()), ...(await randomCases(seed))];
      const prepared = new Map<string, { files: string[]; caseDir: string }>();
      for (const c of cases) prepared.set(c.id, await materialise(c));
      const harnessCases: CimageCase[] = cases.map((c) => ({
        id: c.id,
        policy: join(prepared.get(c.id)!.caseDir, 'policy.json'),
        registriesDir: join(prepared.get(c.id)!.caseDir, 'registries.d'),
        image: `${registry.host}/${c.path}@${c.digest}`,
        insecure: true,
      }));
      const theirs = await runCimageHarness(harnessCases);
      const outcomes: Outcome[] = [];
      for (const c of cases) {
        const files = prepared.get(c.id)!.files;
        const mine = await cli([
          'verify',
          `${registry.host}/${c.path}@${c.digest}`,
          ...files.flatMap((f) => ['--policy', f]),
          '--insecure-registry',
          registry.host,
          '--output',
          'json',
        ]);
        const ref = theirs.get(c.id)!;
        assert.ok(
          ref.setupError !== true,
          `${c.id}: containers/image setup failed: ${ref.error ?? ''}`,
        );
        assert.ok(
          mine.code === 0 || mine.code === 1,
          `${c.id}: verify exit ${mine.code}: ${mine.stderr}`,
        );
        let detail = mine.stderr;
        try {
          const parsed = (JSON.parse(mine.stdout) as { message?: unknown }).message;
          if (typeof parsed === 'string') detail = parsed;
        } catch {
          // keep stderr
        }
        outcomes.push({
          id: c.id,
          kind: c.kind,
          ours: mine.code === 0,
          theirs: ref.allowed,
          oursDetail: detail,
          theirsDetail: ref.error ?? 'allowed',
        });
      }
      judge('containers/image', outcomes);
    });
  },
);
