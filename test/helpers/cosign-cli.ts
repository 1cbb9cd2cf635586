/**
 * The real cosign CLI (v2.6.5 or v3.1.3, built by `test/tooling/build-go-tools.ts`) run offline
 * against a loopback registry, the way users sign and verify: each instance has its own temp
 * HOME, TUF_ROOT and DOCKER_CONFIG (nothing of the user's configuration is read), empty key
 * passwords, and a black-hole proxy so no call can reach the network.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { goToolPath } from '../tooling/go-tools.js';

export type CosignVersion = 'v2' | 'v3';

/** One cosign call: exit status (null when killed), output, and wall time. */
export interface CosignResult {
  readonly command: string;
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
}

export interface CosignRunOptions {
  /** Extra environment (e.g. SIGSTORE_REKOR_PUBLIC_KEY), on top of the offline defaults. */
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

/**
 * Every call observed here takes well under two seconds (key generation uses scrypt); a minute
 * leaves room for a loaded two-core machine and still fails long before the test runner's limit.
 */
export const COSIGN_TIMEOUT_MS = 60_000;
/** Output kept per stream: verify prints payloads, errors print a few lines. */
const MAX_OUTPUT_CHARS = 256 * 1024;
/** stderr quoted in an error message. */
const MAX_ERROR_STDERR_CHARS = 4_000;

/** cosign's flags for a plain-HTTP registry without TLS (v2 and v3 spell them alike). */
export const REGISTRY_FLAGS = ['--allow-http-registry', '--allow-insecure-registry'] as const;

/** A key pair in cosign's encrypted format (empty password) and its PEM public key. */
export interface CosignKeyPair {
  readonly keyPath: string;
  readonly pubPath: string;
  readonly publicKeyPem: string;
}

export class CosignError extends Error {
  readonly result: CosignResult;
  constructor(result: CosignResult) {
    const status = result.code === null ? 'was killed (timeout)' : `exited ${String(result.code)}`;
    super(`${result.command} ${status}:\n${result.stderr.slice(-MAX_ERROR_STDERR_CHARS)}`);
    this.name = 'CosignError';
    this.result = result;
  }
}

/**
 * Answers every proxied request with 403 and records the hosts asked for. Go never proxies
 * loopback addresses, so the registry on 127.0.0.1 is reached directly while TUF, Rekor, Fulcio
 * or CT log lookups fail at once, whatever network the machine has.
 */
class BlackHoleProxy {
  readonly attempts: string[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;

  private constructor(server: Server) {
    this.server = server;
  }

  static async start(): Promise<BlackHoleProxy> {
    // eslint-disable-next-line prefer-const -- assigned after the server that refers to it
    let self: BlackHoleProxy | undefined;
    const server = createServer((socket) => {
      self?.sockets.add(socket);
      socket.on('close', () => self?.sockets.delete(socket));
      socket.on('error', () => undefined);
      socket.once('data', (chunk: Buffer) => {
        const line = chunk.toString('latin1').split('\r\n', 1)[0] ?? '';
        self?.attempts.push(line.split(' ').slice(0, 2).join(' '));
        socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      });
    });
    self = new BlackHoleProxy(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return self;
  }

  get url(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** One cosign binary with a private, offline environment. */
export class CosignCli {
  readonly version: CosignVersion;
  readonly binary: string;
  /** The temp directory: HOME, TUF_ROOT, DOCKER_CONFIG and the files tests write. */
  readonly dir: string;
  /** Every call made, for timing reports. */
  readonly calls: CosignResult[] = [];
  private readonly proxy: BlackHoleProxy;

  private constructor(version: CosignVersion, binary: string, dir: string, proxy: BlackHoleProxy) {
    this.version = version;
    this.binary = binary;
    this.dir = dir;
    this.proxy = proxy;
  }

  /** Fails with goToolPath's message (naming the build command) when the binary is not built. */
  static async create(version: CosignVersion): Promise<CosignCli> {
    const binary = await goToolPath(version === 'v2' ? 'cosignV2' : 'cosignV3');
    const dir = await mkdtemp(join(tmpdir(), `cvo-cosign-${version}-`));
    await mkdir(join(dir, 'docker'), { recursive: true });
    await writeFile(join(dir, 'docker', 'config.json'), '{"auths":{}}\n');
    return new CosignCli(version, binary, dir, await BlackHoleProxy.start());
  }

  /** Requests cosign sent towards the network (`CONNECT host:443`), all refused. */
  get networkAttempts(): readonly string[] {
    return this.proxy.attempts;
  }

  /** The offline environment: nothing inherited but PATH. */
  environment(extra: Readonly<Record<string, string>> = {}): Record<string, string> {
    return {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: this.dir,
      XDG_CONFIG_HOME: join(this.dir, 'config'),
      XDG_CACHE_HOME: join(this.dir, 'cache'),
      DOCKER_CONFIG: join(this.dir, 'docker'),
      // sigstore's TUF client caches (and would refresh) the public-good root here.
      TUF_ROOT: join(this.dir, 'tuf'),
      COSIGN_PASSWORD: '',
      HTTPS_PROXY: this.proxy.url,
      HTTP_PROXY: this.proxy.url,
      NO_PROXY: '',
      ...extra,
    };
  }

  /** Runs cosign; never throws for a non-zero exit (see {@link ok}). */
  async run(args: readonly string[], options: CosignRunOptions = {}): Promise<CosignResult> {
    const command = `cosign-${this.version} ${args.join(' ')}`;
    const started = performance.now();
    const result = await new Promise<CosignResult>((resolve, reject) => {
      const child = spawn(this.binary, args, {
        cwd: this.dir,
        env: this.environment(options.env),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        if (stdout.length < MAX_OUTPUT_CHARS) stdout += chunk;
      });
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        if (stderr.length < MAX_OUTPUT_CHARS) stderr += chunk;
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? COSIGN_TIMEOUT_MS);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`${command} could not be started: ${err.message}`, { cause: err }));
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ command, code, stdout, stderr, durationMs: performance.now() - started });
      });
    });
    this.calls.push(result);
    return result;
  }

  /** Runs cosign and throws a {@link CosignError} quoting stderr unless it exits 0. */
  async ok(args: readonly string[], options: CosignRunOptions = {}): Promise<CosignResult> {
    const result = await this.run(args, options);
    if (result.code !== 0) throw new CosignError(result);
    return result;
  }

  /**
   * `cosign sign --key KEY --tlog-upload=false … -y REF`: offline, nothing sent to Rekor. v3 also
   * needs `--use-signing-config=false` (its default signing config names a transparency log, and
   * it refuses `--tlog-upload=false` with one); it then writes a v0.3 bundle as an OCI referrer.
   */
  async sign(
    keyPath: string,
    reference: string,
    extra: readonly string[] = [],
  ): Promise<CosignResult> {
    return this.ok([
      'sign',
      '--key',
      keyPath,
      ...this.offlineSigningFlags(),
      ...REGISTRY_FLAGS,
      '-y',
      ...extra,
      reference,
    ]);
  }

  /** `cosign attest --key KEY --predicate FILE --type TYPE --tlog-upload=false … -y REF`. */
  async attest(
    keyPath: string,
    predicatePath: string,
    type: string,
    reference: string,
  ): Promise<CosignResult> {
    return this.ok([
      'attest',
      '--key',
      keyPath,
      '--predicate',
      predicatePath,
      '--type',
      type,
      ...this.offlineSigningFlags(),
      ...REGISTRY_FLAGS,
      '-y',
      reference,
    ]);
  }

  /** `cosign verify --key PUB --insecure-ignore-tlog … REF` (exit status, never throws). */
  async verifyWithKey(
    pubPath: string,
    reference: string,
    extra: readonly string[] = [],
  ): Promise<CosignResult> {
    return this.run([
      'verify',
      '--key',
      pubPath,
      '--insecure-ignore-tlog',
      ...REGISTRY_FLAGS,
      ...extra,
      reference,
    ]);
  }

  /** `--tlog-upload=false`, plus `--use-signing-config=false` for v3. */
  offlineSigningFlags(): string[] {
    return this.version === 'v3'
      ? ['--tlog-upload=false', '--use-signing-config=false']
      : ['--tlog-upload=false'];
  }

  /** Writes a file in this instance's directory; returns its path. */
  async writeFile(name: string, content: string | Uint8Array): Promise<string> {
    const path = join(this.dir, name);
    await writeFile(path, content);
    return path;
  }

  /** `cosign generate-key-pair --output-key-prefix PREFIX` (ECDSA P-256, empty password). */
  async generateKeyPair(prefix: string): Promise<CosignKeyPair> {
    await this.ok(['generate-key-pair', '--output-key-prefix', prefix]);
    return this.keyPair(prefix);
  }

  /**
   * `cosign import-key-pair`: cosign signs only with keys in its own encrypted format, so a
   * certificate's PKCS#8 key is imported first.
   */
  async importKeyPair(prefix: string, pkcs8Pem: string): Promise<CosignKeyPair> {
    const source = await this.writeFile(`${prefix}.pkcs8.pem`, pkcs8Pem);
    await this.ok(['import-key-pair', '--key', source, '--output-key-prefix', prefix]);
    return this.keyPair(prefix);
  }

  private async keyPair(prefix: string): Promise<CosignKeyPair> {
    const pubPath = join(this.dir, `${prefix}.pub`);
    return {
      keyPath: join(this.dir, `${prefix}.key`),
      pubPath,
      publicKeyPem: await readFile(pubPath, 'utf8'),
    };
  }

  async cleanup(): Promise<void> {
    await this.proxy.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}
