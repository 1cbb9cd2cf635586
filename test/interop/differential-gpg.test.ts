/**
 * GPG verdicts judged by library-go pkg/verify itself (interop/cmd/librarygo-harness): the same
 * root-of-trust ConfigMap file and the same loopback signature store are handed to our CLI and to
 * library-go, over a systematic corpus (key algorithms, subkeys, revocation, expiry, compression,
 * digests, payload mutations, several keyrings, multi-block armor, store faults and redirects)
 * plus seeded-random combinations. Every disagreement outside allowed-differences.ts fails.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { runCli } from '../../src/cli/main.js';
import { diffSeed, judge, seededRandom } from '../helpers/differential.js';
import type { Outcome } from '../helpers/differential.js';
import { repoRoot } from '../helpers/fixtures.js';
import { atomicPayload, GnuPG } from '../helpers/gnupg.js';
import type { GpgKey, KeyAlgorithm } from '../helpers/gnupg.js';
import { runLibraryGoHarness } from '../helpers/interop.js';
import type { LibraryGoCase } from '../helpers/interop.js';
import { StoreServer } from '../helpers/store-server.js';
import type { Route } from '../helpers/store-server.js';

const RELEASE = 'quay.io/openshift-release-dev/ocp-release';
const ANNOTATION = 'release.openshift.io/verification-config-map';
/** Random cases added to the systematic corpus each run. */
const RANDOM_CASES = 40;

/** A signature-N body, or a misbehaving route. */
type Slot = Uint8Array | Route;

interface GpgCase {
  readonly id: string;
  readonly kind: string;
  readonly digest: string;
  /** keyring name → key data (armored or binary). */
  readonly keyrings: Readonly<Record<string, Uint8Array>>;
  /** signature-1, signature-2, … (index 0 is signature-1). */
  readonly slots: readonly Slot[];
}

function digest(): string {
  return `sha256:${randomBytes(32).toString('hex')}`;
}

const status =
  (code: number): Route =>
  (_req, res) => {
    res.writeHead(code).end(`status ${code}`);
  };

describe('GPG verdicts against library-go pkg/verify (differential)', () => {
  let gpg: GnuPG;
  let server: StoreServer;
  let dir: string;
  const keys = new Map<string, GpgKey>();
  const rings = new Map<string, Uint8Array>();

  before(async () => {
    gpg = await GnuPG.create();
    server = await StoreServer.start();
    dir = await mkdtemp(join(tmpdir(), 'cvo-diff-gpg-'));
    const algorithms: KeyAlgorithm[] = [
      'rsa2048',
      'rsa3072',
      'rsa4096',
      'nistp256',
      'nistp384',
      'nistp521',
      'ed25519',
      'dsa2048',
    ];
    for (const algorithm of algorithms) {
      const key = await gpg.generateKey(`${algorithm} <${algorithm}@example.com>`, algorithm);
      keys.set(algorithm, key);
      rings.set(algorithm, await gpg.exportPublicKey(key));
    }
  });

  after(async () => {
    await server.close();
    await gpg.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  const sign = (
    d: string,
    key: GpgKey,
    options: Partial<Parameters<GnuPG['sign']>[1]> = {},
    payload: string = atomicPayload(d, `${RELEASE}:4.17.0`),
  ): Promise<Buffer> => gpg.sign(payload, { key: `${key.fingerprint}!`, ...options });

  async function systematicCases(): Promise<GpgCase[]> {
    const cases: GpgCase[] = [];
    const add = (
      kind: string,
      d: string,
      keyrings: Record<string, Uint8Array>,
      slots: Slot[],
    ): void => {
      cases.push({ id: `s${cases.length + 1}`, kind, digest: d, keyrings, slots });
    };
    const ring = (name: string): Record<string, Uint8Array> => ({ [name]: rings.get(name)! });

    for (const [name, key] of keys) {
      let d = digest();
      add('gpg/good', d, ring(name), [await sign(d, key)]);
      d = digest();
      add('gpg/good-uncompressed', d, ring(name), [await sign(d, key, { compress: false })]);
      d = digest();
      add('gpg/good-sha512', d, ring(name), [await sign(d, key, { digestAlgo: 'SHA512' })]);
      d = digest();
      add('gpg/wrong-digest', d, ring(name), [await sign(digest(), key)]);
      d = digest();
      const other = name === 'nistp256' ? keys.get('rsa2048')! : keys.get('nistp256')!;
      add('gpg/unknown-key', d, ring(name), [await sign(d, other)]);
    }
    const rsa = keys.get('rsa2048')!;
    const ec = keys.get('nistp256')!;
    let d = digest();
    add('gpg/sha1-digest', d, ring('rsa2048'), [await sign(d, rsa, { digestAlgo: 'SHA1' })]);
    for (const algo of ['zip', 'zlib', 'bzip2']) {
      d = digest();
      add(`gpg/compress-${algo}`, d, ring('rsa2048'), [
        await sign(d, rsa, { extraArgs: ['--compress-algo', algo] }),
      ]);
    }
    d = digest();
    add('gpg/armored-signature', d, ring('rsa2048'), [await sign(d, rsa, { armor: true })]);
    d = digest();
    add('gpg/text-mode', d, ring('rsa2048'), [await sign(d, rsa, { textMode: true })]);
    d = digest();
    add('gpg/wrong-type', d, ring('nistp256'), [
      await sign(
        d,
        ec,
        {},
        JSON.stringify({
          critical: {
            type: 'cosign container image signature',
            image: { 'docker-manifest-digest': d },
            identity: { 'docker-reference': RELEASE },
          },
          optional: null,
        }),
      ),
    ]);
    d = digest();
    add('gpg/no-identity', d, ring('nistp256'), [
      await sign(
        d,
        ec,
        {},
        JSON.stringify({
          critical: {
            type: 'atomic container signature',
            image: { 'docker-manifest-digest': d },
            identity: { 'docker-reference': '' },
          },
          optional: {},
        }),
      ),
    ]);
    d = digest();
    add('gpg/unknown-payload-field', d, ring('nistp256'), [
      await sign(d, ec, {}, atomicPayload(d, RELEASE, { extra: 1 })),
    ]);
    d = digest();
    add('gpg/not-json', d, ring('nistp256'), [await sign(d, ec, {}, 'not json')]);
    d = digest();
    add('gpg/detached', d, ring('nistp256'), [await sign(d, ec, { mode: 'detach' })]);
    d = digest();
    add('gpg/clearsigned', d, ring('nistp256'), [await sign(d, ec, { mode: 'clearsign' })]);

    // Subkeys, revocation, expiry.
    const withSub = await gpg.generateKey('Sub <sub@example.com>', 'rsa2048');
    const sub = await gpg.addSigningSubkey(withSub, 'rsa3072');
    d = digest();
    const subSignature = await gpg.sign(atomicPayload(d, RELEASE), { key: `${sub.fingerprint}!` });
    add('gpg/subkey', d, { sub: await gpg.exportPublicKey(withSub) }, [subSignature]);

    const revoked = await gpg.generateKey('Revoked <revoked@example.com>', 'nistp256');
    d = digest();
    const byRevoked = await sign(d, revoked);
    await gpg.revokeKey(revoked);
    add('gpg/revoked-key', d, { revoked: await gpg.exportPublicKey(revoked) }, [byRevoked]);

    const subRevokedPrimary = await gpg.generateKey('SubRev <subrev@example.com>', 'rsa2048');
    const revokedSub = await gpg.addSigningSubkey(subRevokedPrimary, 'rsa3072');
    d = digest();
    const byRevokedSub = await gpg.sign(atomicPayload(d, RELEASE), {
      key: `${revokedSub.fingerprint}!`,
    });
    await gpg.revokeSubkey(subRevokedPrimary);
    add('gpg/revoked-subkey', d, { subrev: await gpg.exportPublicKey(subRevokedPrimary) }, [
      byRevokedSub,
    ]);

    // A key that expired after it signed (as Red Hat's CI key): still verifies (parity).
    const past = new Date(Date.now() - 10 * 86_400_000);
    const expiring = await gpg.generateKey('Expired <expired@example.com>', 'rsa2048', {
      expire: '2d',
      at: past,
    });
    d = digest();
    add('gpg/key-expired-after-signing', d, { expired: await gpg.exportPublicKey(expiring) }, [
      await sign(d, expiring, { at: new Date(past.getTime() + 3_600_000) }),
    ]);
    const old = await gpg.generateKey('Old <old@example.com>', 'rsa2048', {
      at: new Date(past.getTime() - 86_400_000),
    });
    d = digest();
    add('gpg/expired-signature', d, { old: await gpg.exportPublicKey(old) }, [
      await sign(d, old, { at: past, expire: '1d' }),
    ]);

    // Several keyrings: every one must be satisfied.
    d = digest();
    add('gpg/two-keyrings-one-satisfied', d, { ...ring('rsa2048'), ...ring('nistp256') }, [
      await sign(d, rsa),
    ]);
    d = digest();
    add('gpg/two-keyrings-both-satisfied', d, { ...ring('rsa2048'), ...ring('nistp256') }, [
      await sign(d, ec),
      await sign(d, rsa),
    ]);
    // Two armored blocks in one keyring value: only the first is read.
    const twoBlocks = Buffer.concat([rings.get('rsa2048')!, rings.get('nistp256')!]);
    d = digest();
    add('gpg/two-blocks-first-key', d, { two: twoBlocks }, [await sign(d, rsa)]);
    d = digest();
    add('gpg/two-blocks-second-key', d, { two: twoBlocks }, [await sign(d, ec)]);
    d = digest();
    add('gpg/one-block-two-keys', d, { both: await gpg.exportPublicKey([rsa, ec]) }, [
      await sign(d, ec),
    ]);
    d = digest();
    add('gpg/binary-keyring', d, { bin: await gpg.exportPublicKey(ec, false) }, [
      await sign(d, ec),
    ]);

    // Store behaviour: 404 ends the store, other failures move on, empty bodies are skipped.
    d = digest();
    add('gpg/store-500-then-valid', d, ring('nistp256'), [status(500), await sign(d, ec)]);
    d = digest();
    add('gpg/store-404-first', d, ring('nistp256'), [status(404), await sign(d, ec)]);
    d = digest();
    add('gpg/store-empty-then-valid', d, ring('nistp256'), [new Uint8Array(0), await sign(d, ec)]);
    d = digest();
    add('gpg/store-garbage-then-valid', d, ring('nistp256'), [
      new Uint8Array(randomBytes(300)),
      await sign(d, ec),
    ]);
    d = digest();
    add('gpg/store-oversize-then-valid', d, ring('nistp256'), [
      new Uint8Array(randomBytes(60 * 1024)),
      await sign(d, ec),
    ]);
    d = digest();
    const good = await sign(d, ec);
    add('gpg/store-redirect', d, ring('nistp256'), [
      (_req, res) => {
        res.writeHead(302, { location: '/redirected/signature' }).end();
      },
    ]);
    server.routes.set('/redirected/signature', good);
    d = digest();
    const nine = await Promise.all(Array.from({ length: 9 }, () => sign(digest(), ec)));
    add('gpg/store-tenth-signature', d, ring('nistp256'), [...nine, await sign(d, ec)]);
    return cases;
  }

  async function randomCases(seed: number): Promise<GpgCase[]> {
    const random = seededRandom(seed);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const names = [...keys.keys()];
    const cases: GpgCase[] = [];
    for (let i = 0; i < RANDOM_CASES; i++) {
      const name = pick(names);
      const key = keys.get(name)!;
      const d = digest();
      const mutation = pick(['none', 'wrong-digest', 'other-key', 'flip-byte', 'truncate']);
      const layout = pick(['direct', 'after-500', 'after-empty', 'after-garbage']);
      const compress = random() < 0.5;
      let body: Uint8Array =
        mutation === 'wrong-digest'
          ? await sign(digest(), key, { compress })
          : mutation === 'other-key'
            ? await sign(d, keys.get(pick(names.filter((n) => n !== name)))!, { compress })
            : await sign(d, key, { compress });
      if (mutation === 'flip-byte') {
        body = Buffer.from(body);
        const at = Math.floor(random() * body.length);
        body[at] = (body[at] ?? 0) ^ (1 << Math.floor(random() * 8));
      } else if (mutation === 'truncate') {
        body = body.subarray(0, Math.floor(random() * body.length));
      }
      const before: Slot[] =
        layout === 'after-500'
          ? [status(500)]
          : layout === 'after-empty'
            ? [new Uint8Array(0)]
            : layout === 'after-garbage'
              ? [new Uint8Array(randomBytes(64))]
              : [];
      cases.push({
        id: `r${i + 1}`,
        kind: `gpg/random-${mutation}`,
        digest: d,
        keyrings: { [name]: rings.get(name)! },
        slots: [...before, body],
      });
    }
    return cases;
  }

  /** Writes the case's root-of-trust ConfigMap (JSON, which YAML readers take) and its store. */
  async function materialise(c: GpgCase): Promise<string> {
    const prefix = `/${c.id}`;
    c.slots.forEach((slot, i) => {
      server.routes.set(`${prefix}/${c.digest.replace(':', '=')}/signature-${i + 1}`, slot);
    });
    const data: Record<string, string> = { 'store-local': `${server.url}${prefix}` };
    for (const [name, bytes] of Object.entries(c.keyrings)) {
      // Binary keyrings go in as latin1 text, as a ConfigMap value would carry them.
      data[`verifier-public-key-${name}`] = Buffer.from(bytes).toString('latin1');
    }
    const file = join(dir, `${c.id}.yaml`);
    await writeFile(
      file,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: 'release-verification',
          namespace: 'openshift-config-managed',
          annotations: { [ANNOTATION]: '' },
        },
        data,
      }),
    );
    return file;
  }

  async function ours(c: GpgCase, file: string): Promise<{ verified: boolean; detail: string }> {
    let stdout = '';
    let stderr = '';
    const code = await runCli(
      ['verify', `${RELEASE}@${c.digest}`, '--root-of-trust', file, '--output', 'json'],
      {
        stdout: (t) => (stdout += t),
        stderr: (t) => (stderr += t),
        env: {},
        cwd: repoRoot,
      },
    );
    if (code !== 0 && code !== 1) return { verified: false, detail: `exit ${code}: ${stderr}` };
    let message = stderr;
    try {
      const parsed = (JSON.parse(stdout) as { message?: unknown }).message;
      if (typeof parsed === 'string') message = parsed;
    } catch {
      // keep stderr
    }
    return { verified: code === 0, detail: message };
  }

  it('agrees with library-go on every case but the allowed differences', async () => {
    const seed = diffSeed();
    process.stdout.write(`differential GPG corpus seed ${seed} (DIFF_SEED=${seed} repeats it)\n`);
    const cases = [...(await systematicCases()), ...(await randomCases(seed))];
    const files = new Map<string, string>();
    for (const c of cases) files.set(c.id, await materialise(c));
    const harnessCases: LibraryGoCase[] = cases.map((c) => ({
      id: c.id,
      manifests: files.get(c.id)!,
      digest: c.digest,
      timeoutSeconds: 30,
    }));
    const theirs = await runLibraryGoHarness(harnessCases);
    const outcomes: Outcome[] = [];
    for (const c of cases) {
      const mine = await ours(c, files.get(c.id)!);
      const ref = theirs.get(c.id)!;
      outcomes.push({
        id: c.id,
        kind: c.kind,
        ours: mine.verified,
        theirs: ref.verified,
        oursDetail: mine.detail,
        theirsDetail: ref.loadError ?? ref.error ?? 'verified',
      });
    }
    judge('library-go', outcomes);
  });
});
