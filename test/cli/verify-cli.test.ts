import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { runCli } from '../../src/cli/main.js';
import { renderRootOfTrust } from '../../testbed/root-of-trust.js';
import { repoRoot } from '../helpers/fixtures.js';
import { atomicPayload, GnuPG, randomDigest } from '../helpers/gnupg.js';
import { StoreServer } from '../helpers/store-server.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env,
    cwd: repoRoot,
  });
  return { code, stdout, stderr };
}

/** Runs the built executable as a user would: `bin/cvo-verifier` (needs `npm run build`). */
async function binary(args: string[]): Promise<Run> {
  const bin = join(repoRoot, 'bin', 'cvo-verifier');
  if (!existsSync(join(repoRoot, 'dist', 'cli', 'main.js'))) {
    throw new Error('dist/ is missing: the test command runs `npm run build` before the tests');
  }
  return new Promise((resolve) => {
    execFile(bin, args, { encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('cvo-verifier verify', () => {
  let gpg: GnuPG;
  let server: StoreServer;
  let dir: string;
  let rootOfTrust: string;
  const signed = randomDigest();
  const unsigned = randomDigest();
  const image = (digest: string): string => `quay.io/openshift-release-dev/ocp-release@${digest}`;

  before(async () => {
    gpg = await GnuPG.create();
    server = await StoreServer.start();
    dir = await mkdtemp(join(tmpdir(), 'cvo-cli-'));
    const key = await gpg.generateKey('Release <release@example.com>', 'rsa2048');
    server.publish(signed, [await gpg.sign(atomicPayload(signed), { key: `${key.fingerprint}!` })]);
    rootOfTrust = join(dir, 'root-of-trust.yaml');
    const armored = (await gpg.exportPublicKey(key)).toString();
    await writeFile(rootOfTrust, renderRootOfTrust(armored, `${server.url}/sigs`, 'test'));
  });
  after(async () => {
    await server.close();
    await gpg.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('exits 0 and explains which signature satisfied the keyring', async () => {
    const r = await cli(['verify', image(signed), '--root-of-trust', rootOfTrust]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Result: {2}VERIFIED/);
    assert.match(r.stdout, /keyring verifier-public-key-test: satisfied/);
    assert.match(r.stdout, /signature-1: signed by Release <release@example.com>/);
    // Stores that stopped early because the release verified do not read as failures.
    assert.doesNotMatch(r.stdout, /aborted/);
    assert.match(r.stdout, /stopped reading: every keyring was satisfied|not-found/);
  });

  it('prints the same data as YAML', async () => {
    const r = await cli([
      'verify',
      image(signed),
      '--root-of-trust',
      rootOfTrust,
      '--output',
      'yaml',
    ]);
    assert.equal(r.code, 0);
    const { load } = await import('js-yaml');
    const out = load(r.stdout) as { verified: boolean; digest: string; checks: { kind: string }[] };
    assert.equal(out.verified, true);
    assert.equal(out.digest, signed);
    assert.equal(out.checks[0]?.kind, 'gpg');
  });

  it('prints the JSON contract', async () => {
    const r = await cli([
      'verify',
      image(signed),
      '--root-of-trust',
      rootOfTrust,
      '--output',
      'json',
    ]);
    assert.equal(r.code, 0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(out.image, image(signed));
    assert.equal(out.digest, signed);
    assert.equal(out.verified, true);
    const checks = out.checks as Record<string, unknown>[];
    assert.equal(checks.length, 1);
    assert.deepEqual(
      Object.keys(checks[0] ?? {})
        .filter((k) => ['kind', 'keyring', 'verified', 'reason', 'evidence'].includes(k))
        .sort(),
      ['evidence', 'keyring', 'kind', 'reason', 'verified'],
    );
    assert.equal(checks[0]?.kind, 'gpg');
    assert.equal(checks[0].keyring, 'verifier-public-key-test');
  });

  it('exits 1 for an unsigned release with the CVO short form and per-store evidence', async () => {
    const r = await cli(['verify', image(unsigned), '--root-of-trust', rootOfTrust]);
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      new RegExp(`unable to verify ${unsigned} against keyrings: verifier-public-key-test`),
    );
    assert.match(r.stdout, /not-found: .*signature-1: 404 Not Found/);
  });

  it('exits 1 for by-tag and malformed digests, even without a root of trust', async () => {
    const byTag = await cli(['verify', 'quay.io/openshift-release-dev/ocp-release:4.17.0-x86_64']);
    assert.equal(byTag.code, 1);
    assert.match(
      byTag.stdout,
      /release images that are not accessed via digest cannot be verified/,
    );
    const bad = await cli(['verify', 'quay.io/a/b@sha256:nothex!', '--output', 'json']);
    assert.equal(bad.code, 1);
    assert.equal((JSON.parse(bad.stdout) as { verified: boolean }).verified, false);
  });

  it('reads --signature-store before the ConfigMap stores', async () => {
    const extra = await StoreServer.start();
    try {
      const r = await cli([
        'verify',
        image(signed),
        '--root-of-trust',
        rootOfTrust,
        '--signature-store',
        `${extra.url}/first`,
        '--serial',
        '--output',
        'json',
      ]);
      assert.equal(r.code, 0);
      const stores = (JSON.parse(r.stdout) as { stores: { store: string }[] }).stores.map(
        (s) => s.store,
      );
      assert.deepEqual(stores, [`${extra.url}/first`, `${server.url}/sigs`]);
      assert.ok(extra.requests.length > 0);
    } finally {
      await extra.close();
    }
  });

  it('never prints a store URL password, in text, JSON or YAML', async () => {
    const extra = await StoreServer.start();
    try {
      const url = `${extra.url.replace('//', '//bot:Pa55-w0rd-x1@')}/first`;
      for (const output of ['text', 'json', 'yaml']) {
        const r = await cli([
          'verify',
          image(unsigned),
          '--root-of-trust',
          rootOfTrust,
          '--signature-store',
          url,
          '--output',
          output,
        ]);
        assert.equal(r.code, 1);
        assert.ok(!(r.stdout + r.stderr).includes('Pa55-w0rd-x1'), `${output}: ${r.stdout}`);
        assert.match(r.stdout, /\*\*\*@127\.0\.0\.1/, output);
      }
    } finally {
      await extra.close();
    }
  });

  const usage: [string, string[], RegExp][] = [
    ['an unknown flag', ['verify', 'x@sha256:a', '--bogus'], /Unknown option '--bogus'/],
    ['a missing root of trust', [], /no root of trust/],
    [
      'an unreadable root of trust',
      ['--root-of-trust', '/nonexistent/rot.yaml'],
      /cannot read root of trust/,
    ],
    [
      'a bad --timeout',
      ['--root-of-trust', 'x', '--timeout', 'soon'],
      /--timeout: invalid duration/,
    ],
    ['a bad --output', ['--output', 'xml'], /--output must be text, json or yaml/],
    ['an unknown command', [], /unknown command/],
  ];
  for (const [name, extra, message] of usage) {
    it(`exits 2 for ${name}`, async () => {
      const args =
        name === 'an unknown command'
          ? ['frobnicate']
          : name === 'an unknown flag'
            ? extra
            : ['verify', image(signed), ...extra];
      const r = await cli(args);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stderr, message);
    });
  }

  it('exits 2 for an invalid root of trust, with library-go’s message', async () => {
    const invalid = join(dir, 'invalid.yaml');
    await writeFile(
      invalid,
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rv\n  namespace: ns\n  annotations:\n    release.openshift.io/verification-config-map: ""\ndata:\n  store-a: https://example.com\n',
    );
    const r = await cli(['verify', image(signed), '--root-of-trust', invalid]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /the config map ns\/rv did not provide any GPG public keys/);
  });

  it('accepts a release-manifests directory as the root of trust', async () => {
    const manifests = join(dir, 'release-manifests');
    await mkdir(manifests, { recursive: true });
    const { readFile } = await import('node:fs/promises');
    await writeFile(
      join(manifests, '0000_90_cluster-update-keys_configmap.yaml'),
      await readFile(rootOfTrust),
    );
    const r = await cli(['verify', image(signed), '--root-of-trust', manifests]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  describe('the built executable (bin/cvo-verifier)', () => {
    it('verifies with exit code 0, and refuses with 1 and 2', async () => {
      const ok = await binary([
        'verify',
        image(signed),
        '--root-of-trust',
        rootOfTrust,
        '--output',
        'json',
      ]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal((JSON.parse(ok.stdout) as { verified: boolean }).verified, true);
      const no = await binary(['verify', image(unsigned), '--root-of-trust', rootOfTrust]);
      assert.equal(no.code, 1);
      const usage = await binary(['verify', '--nope']);
      assert.equal(usage.code, 2);
      assert.match(usage.stderr, /Unknown option/);
    });

    it('refuses a Node older than 22.19 with what to do, instead of crashing', async () => {
      const fake = join(dir, 'old-node');
      await writeFile(fake, '#!/bin/sh\necho 20.20.2\n', { mode: 0o755 });
      const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
        execFile(
          join(repoRoot, 'bin', 'cvo-verifier'),
          ['verify', '--help'],
          { encoding: 'utf8', env: { ...process.env, CVO_VERIFIER_NODE: fake } },
          (err, _stdout, stderr) => {
            resolve({
              code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1,
              stderr,
            });
          },
        );
      });
      assert.equal(r.code, 2);
      assert.match(r.stderr, /Node\.js 20\.20\.2 .* is too old: 22\.19 or newer is needed/);
    });

    it('prints help', async () => {
      const r = await binary(['verify', '--help']);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /Usage: cvo-verifier verify PULLSPEC/);
    });
  });
});
