import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Drives the real GnuPG (Debian `gnupg`) in a throw-away GNUPGHOME. The demo signs releases
 * with it, and tests make every key and signature with it: the same tool release engineers
 * use, never our own code.
 */
export interface GpgKey {
  readonly fingerprint: string;
  /** 16 hex digits, upper case, as gpg prints it. */
  readonly keyId: string;
  readonly uid: string;
}

export type KeyAlgorithm =
  'rsa2048' | 'rsa3072' | 'rsa4096' | 'ed25519' | 'nistp256' | 'nistp384' | 'nistp521' | 'dsa2048';

export interface SignOptions {
  /** Key or subkey to sign with (fingerprint or key ID; a trailing `!` forces a subkey). */
  readonly key: string;
  readonly armor?: boolean;
  readonly compress?: boolean;
  readonly textMode?: boolean;
  readonly digestAlgo?: 'SHA1' | 'SHA256' | 'SHA384' | 'SHA512';
  /** Pretend the signature is made at this time. */
  readonly at?: Date;
  /** gpg's signature expiry, e.g. `1d`. */
  readonly expire?: string;
  readonly mode?: 'sign' | 'detach' | 'clearsign';
  /** Extra raw gpg arguments. */
  readonly extraArgs?: readonly string[];
}

const BASE_ARGS = [
  '--batch',
  '--yes',
  '--no-tty',
  '--pinentry-mode',
  'loopback',
  '--passphrase',
  '',
  '--no-auto-check-trustdb',
  '--trust-model',
  'always',
];

export class GnuPG {
  readonly home: string;

  private constructor(home: string) {
    this.home = home;
  }

  static async create(): Promise<GnuPG> {
    const home = await mkdtemp(join(tmpdir(), 'cvo-gnupg-'));
    await writeFile(join(home, 'gpg-agent.conf'), 'allow-loopback-pinentry\n');
    const gpg = new GnuPG(home);
    await gpg.run(['--version']).catch((err: unknown) => {
      throw new Error(
        `GnuPG is required (Debian package gnupg; the README's commands install it): ${String(err)}`,
      );
    });
    return gpg;
  }

  async run(args: readonly string[], input?: Uint8Array | string, at?: Date): Promise<Buffer> {
    const time = at ? ['--faked-system-time', `${Math.floor(at.getTime() / 1000)}!`] : [];
    return new Promise((resolve, reject) => {
      const child = execFile(
        'gpg',
        [...BASE_ARGS, ...time, ...args],
        {
          env: { ...process.env, GNUPGHOME: this.home, LC_ALL: 'C' },
          encoding: 'buffer',
          maxBuffer: 16 * 1024 * 1024,
        },
        (err, stdout, stderr) => {
          if (err)
            reject(new Error(`gpg ${args.join(' ')} failed: ${stderr.toString()}`, { cause: err }));
          else resolve(stdout);
        },
      );
      child.stdin?.end(input === undefined ? undefined : Buffer.from(input));
    });
  }

  /** Makes a signing key. `at` back-dates creation; `expire` is gpg's expiry (`1y`, `2d`, `never`). */
  async generateKey(
    uid: string,
    algorithm: KeyAlgorithm = 'rsa2048',
    options: { expire?: string; at?: Date } = {},
  ): Promise<GpgKey> {
    await this.run(
      ['--quick-generate-key', uid, algorithm, 'sign,cert', options.expire ?? 'never'],
      undefined,
      options.at,
    );
    return this.describe(uid);
  }

  /** Adds a signing subkey and returns its fingerprint and key ID. */
  async addSigningSubkey(primary: GpgKey, algorithm: KeyAlgorithm = 'rsa2048'): Promise<GpgKey> {
    await this.run(['--quick-add-key', primary.fingerprint, algorithm, 'sign', 'never']);
    const listing = (
      await this.run(['--with-colons', '--fingerprint', '--list-keys', primary.fingerprint])
    ).toString();
    const fprs = [...listing.matchAll(/^fpr:+([0-9A-F]{40}):/gm)].map((m) => m[1] ?? '');
    const last = fprs[fprs.length - 1] ?? '';
    return { fingerprint: last, keyId: last.slice(-16), uid: primary.uid };
  }

  async describe(uid: string): Promise<GpgKey> {
    const listing = (
      await this.run(['--with-colons', '--fingerprint', '--list-keys', `=${uid}`])
    ).toString();
    const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(listing)?.[1];
    if (fpr === undefined) throw new Error(`no key for ${uid}`);
    return { fingerprint: fpr, keyId: fpr.slice(-16), uid };
  }

  /** Exports one or more public keys as one keyring (one armored block when `armor`). */
  async exportPublicKey(
    key: GpgKey | string | readonly (GpgKey | string)[],
    armor = true,
  ): Promise<Buffer> {
    const keys = Array.isArray(key) ? key : [key];
    const ids = keys.map((k: GpgKey | string) => (typeof k === 'string' ? k : k.fingerprint));
    return this.run([...(armor ? ['--armor'] : []), '--export', ...ids]);
  }

  async sign(data: Uint8Array | string, options: SignOptions): Promise<Buffer> {
    const mode = options.mode ?? 'sign';
    const args = [
      '--local-user',
      options.key,
      ...(options.armor === true ? ['--armor'] : []),
      ...(options.compress === false ? ['--compress-algo', 'none'] : []),
      ...(options.textMode === true ? ['--textmode'] : []),
      ...(options.digestAlgo !== undefined ? ['--digest-algo', options.digestAlgo] : []),
      ...(options.expire !== undefined ? ['--default-sig-expire', options.expire] : []),
      ...(options.extraArgs ?? []),
      mode === 'sign' ? '--sign' : mode === 'detach' ? '--detach-sign' : '--clearsign',
    ];
    return this.run(args, data, options.at);
  }

  /** Revokes the whole key with the revocation certificate gpg made when generating it. */
  async revokeKey(key: GpgKey): Promise<void> {
    const cert = await readFile(
      join(this.home, 'openpgp-revocs.d', `${key.fingerprint}.rev`),
      'utf8',
    );
    // gpg prefixes the armor with ':' so the certificate is not imported by accident.
    await this.run(['--import'], cert.replace(/^:-----BEGIN/m, '-----BEGIN'));
  }

  /** Revokes one subkey (by its position, 1 = first subkey) through gpg's key editor. */
  async revokeSubkey(primary: GpgKey, position = 1): Promise<void> {
    const script = [`key ${position}`, 'revkey', 'y', '0', '', 'y', 'save', ''].join('\n');
    await this.run(
      ['--command-fd', '0', '--status-fd', '2', '--edit-key', primary.fingerprint],
      script,
    );
  }

  async cleanup(): Promise<void> {
    await new Promise<void>((resolve) => {
      execFile(
        'gpgconf',
        ['--kill', 'gpg-agent'],
        { env: { ...process.env, GNUPGHOME: this.home } },
        () => {
          resolve();
        },
      );
    });
    await rm(this.home, { recursive: true, force: true });
  }
}

/** The atomic container signature payload exactly as the release controller writes it. */
export function atomicPayload(
  digest: string,
  identity = 'quay.io/openshift-release-dev/ocp-release:4.17.0-x86_64',
  extra: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    critical: {
      type: 'atomic container signature',
      image: { 'docker-manifest-digest': digest },
      identity: { 'docker-reference': identity },
    },
    optional: { creator: 'cvo-update-verifier tests', timestamp: 1700000000 },
    ...extra,
  });
}

/** A random sha256 digest. */
export function randomDigest(): string {
  const hex = Array.from(
    { length: 64 },
    () => '0123456789abcdef'[Math.floor(Math.random() * 16)],
  ).join('');
  return `sha256:${hex}`;
}
