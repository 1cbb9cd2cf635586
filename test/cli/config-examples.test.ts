/**
 * The shipped examples in config/ do what their comments say: as shipped (templates) they are
 * refused naming the placeholder; with a real key put in place they load and render.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { runCli } from '../../src/cli/main.js';
import { repoRoot } from '../helpers/fixtures.js';
import { GnuPG } from '../helpers/gnupg.js';

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

const IMAGE = `quay.io/openshift-release-dev/ocp-release@sha256:${'a'.repeat(64)}`;

describe('the shipped config/ examples', () => {
  let dir: string;
  let gpg: GnuPG;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cvo-examples-'));
    gpg = await GnuPG.create();
  });
  after(async () => {
    await gpg.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('cluster-image-policy.example.yaml: refused naming keyData as shipped, renders with a key', async () => {
    const path = join(repoRoot, 'config', 'cluster-image-policy.example.yaml');
    const shipped = await cli(['policy', 'render', path]);
    assert.equal(shipped.code, 2);
    assert.match(shipped.stderr, /publicKey\.keyData/);
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .publicKey.export({ format: 'pem', type: 'spki' })
      .toString();
    const filled = (await readFile(path, 'utf8')).replace(
      /keyData: \S+/,
      `keyData: ${Buffer.from(pem).toString('base64')}`,
    );
    const file = join(dir, 'policy.yaml');
    await writeFile(file, filled);
    const rendered = await cli(['policy', 'render', file]);
    assert.equal(rendered.code, 0, rendered.stderr);
    assert.match(rendered.stdout, /quay\.io\/openshift-release-dev\/ocp-release/);
  });

  it('root-of-trust.example.yaml: refused naming the placeholder keyring as shipped, loads with a key', async () => {
    const path = join(repoRoot, 'config', 'root-of-trust.example.yaml');
    const shipped = await cli(['verify', IMAGE, '--root-of-trust', path]);
    assert.equal(shipped.code, 2);
    assert.match(shipped.stderr, /verifier-public-key-example/);
    const key = await gpg.generateKey('Example <example@example.com>', 'nistp256');
    const armored = (await gpg.exportPublicKey(key)).toString();
    const text = await readFile(path, 'utf8');
    const filled = text.replace(
      /-----BEGIN PGP PUBLIC KEY BLOCK-----[\s\S]*?-----END PGP PUBLIC KEY BLOCK-----/,
      armored.trim().split('\n').join('\n    '),
    );
    const file = join(dir, 'root-of-trust.yaml');
    await writeFile(file, filled.replace(/^ *store-official: .*\n/m, ''));
    const loaded = await cli(['verify', IMAGE, '--root-of-trust', file, '--timeout', '5s']);
    // Loads and looks for signatures (none exist): not verified, not a configuration error.
    assert.equal(loaded.code, 1, loaded.stderr);
  });
});
