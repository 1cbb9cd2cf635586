import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { VerifyError } from '../../src/errors.js';
import type { VerifyErrorCode } from '../../src/errors.js';
import { loadRootOfTrust, rootOfTrustFromData } from '../../src/gpg/root-of-trust.js';
import { GnuPG } from '../helpers/gnupg.js';

const SRC = 'the config map openshift-config-managed/release-verification';

function configMap(
  data: Record<string, string> | undefined,
  name = 'release-verification',
  annotated = true,
): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name,
      namespace: 'openshift-config-managed',
      ...(annotated ? { annotations: { 'release.openshift.io/verification-config-map': '' } } : {}),
    },
    ...(data ? { data } : {}),
  });
}

describe('root of trust', () => {
  let gpg: GnuPG;
  let armored: string;
  let dir: string;

  before(async () => {
    gpg = await GnuPG.create();
    const key = await gpg.generateKey('Root <root@example.com>', 'nistp256');
    armored = (await gpg.exportPublicKey(key)).toString();
    dir = await mkdtemp(join(tmpdir(), 'cvo-rot-'));
  });
  after(async () => {
    await gpg.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  const errors: [string, Record<string, string>, VerifyErrorCode, string][] = [
    [
      'no data at all',
      {},
      'NO_STORES',
      `${SRC} did not provide any signature stores to read from and cannot be used`,
    ],
    [
      'keys but no stores',
      { 'verifier-public-key-a': 'KEY' },
      'NO_STORES',
      `${SRC} did not provide any signature stores to read from and cannot be used`,
    ],
    [
      'stores but no keys',
      { 'store-a': 'https://example.com/sigs' },
      'NO_KEYS',
      `${SRC} did not provide any GPG public keys to verify signatures from and cannot be used`,
    ],
    [
      'a store with another scheme',
      { 'verifier-public-key-a': 'KEY', 'store-a': 'ftp://example.com/sigs' },
      'INVALID_STORE',
      `${SRC} has an invalid key "store-a": must be a valid URL with scheme file://, http://, or https://`,
    ],
    [
      'a key that is not a key',
      { 'verifier-public-key-a': 'not a key', 'store-a': 'https://example.com' },
      'INVALID_KEY',
      `${SRC} has an invalid key "verifier-public-key-a" that must be a GPG public key: `,
    ],
  ];
  for (const [name, data, code, message] of errors) {
    it(`rejects ${name} with library-go's message`, async () => {
      const filled = Object.fromEntries(
        Object.entries(data).map(([k, v]) => [k, v === 'KEY' ? armored : v]),
      );
      await assert.rejects(rootOfTrustFromData(SRC, filled), (err: unknown) => {
        assert.ok(err instanceof VerifyError);
        assert.equal(err.code, code);
        assert.ok(err.message.startsWith(message), err.message);
        return true;
      });
    });
  }

  it('refuses a keyring the cluster-version operator cannot read (Ed25519), naming the key', async () => {
    const ed = await gpg.generateKey('Ed <ed@example.com>', 'ed25519');
    const edArmored = (await gpg.exportPublicKey(ed)).toString();
    await assert.rejects(
      rootOfTrustFromData(SRC, {
        'verifier-public-key-ok': armored,
        'verifier-public-key-ed': edArmored,
        'store-a': 'https://example.com/sigs',
      }),
      (err) =>
        err instanceof VerifyError &&
        err.code === 'INVALID_KEY' &&
        err.message.startsWith(
          `${SRC} has an invalid key "verifier-public-key-ed" that must be a GPG public key: key ${ed.keyId}`,
        ) &&
        /x\/crypto\/openpgp/.test(err.message),
    );
  });

  it('accepts http, https and file stores, trims them, and warns about other keys', async () => {
    const trust = await rootOfTrustFromData(SRC, {
      'verifier-public-key-b': armored,
      'verifier-public-key-a': armored,
      'store-z': ' https://example.com/sigs \n',
      'store-a': 'file:///var/sigs',
      'store-m': 'http://127.0.0.1:8080/x',
      surprise: 'x',
    });
    assert.deepEqual(
      trust.keyrings.map((k) => k.name),
      ['verifier-public-key-a', 'verifier-public-key-b'],
    );
    assert.deepEqual(
      trust.stores.map((s) => s.url),
      ['file:///var/sigs', 'http://127.0.0.1:8080/x', 'https://example.com/sigs'],
    );
    assert.equal(trust.warnings.length, 1);
    assert.match(trust.warnings[0] ?? '', /unexpected key .* surprise/);
  });

  it('reads a multi-document YAML file and picks the first annotated ConfigMap', async () => {
    const path = join(dir, 'multi.yaml');
    const docs = [
      configMap({ 'store-x': 'https://unannotated.example.com' }, 'plain', false),
      configMap(
        { 'verifier-public-key-first': armored, 'store-first': 'https://first.example.com' },
        'first',
      ),
      configMap(
        { 'verifier-public-key-second': armored, 'store-second': 'https://second.example.com' },
        'second',
      ),
    ];
    await writeFile(path, docs.join('\n---\n'));
    const trust = await loadRootOfTrust(path);
    assert.equal(trust.source, 'the config map openshift-config-managed/first');
    assert.deepEqual(
      trust.stores.map((s) => s.name),
      ['store-first'],
    );
  });

  it('reads a v1 List in JSON', async () => {
    const path = join(dir, 'list.json');
    await writeFile(
      path,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          JSON.parse(
            configMap(
              { 'verifier-public-key-l': armored, 'store-l': 'https://l.example.com' },
              'listed',
            ),
          ) as unknown,
        ],
      }),
    );
    assert.equal(
      (await loadRootOfTrust(path)).source,
      'the config map openshift-config-managed/listed',
    );
  });

  it('reads a release-manifests directory in file-name order', async () => {
    const manifests = join(dir, 'release-manifests');
    await mkdir(manifests);
    await writeFile(
      join(manifests, '0000_50_other.yaml'),
      'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n',
    );
    await writeFile(
      join(manifests, '0000_90_b.yaml'),
      configMap({ 'verifier-public-key-b': armored, 'store-b': 'https://b.example.com' }, 'b'),
    );
    await writeFile(
      join(manifests, '0000_90_a.yaml'),
      configMap({ 'verifier-public-key-a': armored, 'store-a': 'https://a.example.com' }, 'a'),
    );
    await writeFile(join(manifests, 'image-references'), 'not yaml at all: [');
    assert.equal(
      (await loadRootOfTrust(manifests)).source,
      'the config map openshift-config-managed/a',
    );
  });

  it('says clearly when no annotated ConfigMap exists, or the path is missing', async () => {
    const path = join(dir, 'none.yaml');
    await writeFile(path, configMap({ 'store-a': 'https://a' }, 'x', false));
    await assert.rejects(
      loadRootOfTrust(path),
      (err: unknown) =>
        err instanceof VerifyError &&
        err.code === 'ROOT_OF_TRUST_NOT_FOUND' &&
        /no ConfigMap annotated/.test(err.message),
    );
    await assert.rejects(
      loadRootOfTrust(join(dir, 'missing.yaml')),
      (err: unknown) => err instanceof VerifyError && err.code === 'ROOT_OF_TRUST_NOT_FOUND',
    );
  });

  it('rejects invalid YAML and non-string data values, naming the file', async () => {
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'kind: ConfigMap\nmetadata: [unclosed\n');
    await assert.rejects(
      loadRootOfTrust(bad),
      (err: unknown) =>
        err instanceof VerifyError &&
        err.code === 'ROOT_OF_TRUST_INVALID' &&
        err.message.includes(bad),
    );
    const nonString = join(dir, 'nonstring.yaml');
    await writeFile(nonString, configMap({ 'store-a': 'https://a' }).replace('"https://a"', '5'));
    await assert.rejects(
      loadRootOfTrust(nonString),
      (err: unknown) =>
        err instanceof VerifyError &&
        err.code === 'ROOT_OF_TRUST_INVALID' &&
        /must be a string/.test(err.message),
    );
  });

  it('refuses keyrings holding private keys', async () => {
    const secret = await gpg.run(['--armor', '--export-secret-keys', '=Root <root@example.com>']);
    await assert.rejects(
      rootOfTrustFromData(SRC, {
        'verifier-public-key-s': secret.toString(),
        'store-a': 'https://a',
      }),
      (err: unknown) => err instanceof VerifyError && err.code === 'INVALID_KEY',
    );
  });
});
