/**
 * Debian's docker-registry (distribution) as a local process on 127.0.0.1, and the pushes a
 * client makes to it (blobs, manifests, images, referrers, legacy cosign signatures). Used by
 * the main job's walkthrough, the tests and the benchmarks: a real registry, never a fake.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';

import { request } from 'undici';

const run = promisify(execFile);

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
/** How long a registry may take to answer `/v2/` after it starts. */
const READY_TIMEOUT_MS = 15_000;
/** How long a registry has to exit after SIGTERM before it gets SIGKILL. */
const STOP_GRACE_MS = 3_000;
/** Registry stderr kept for failure messages. */
const MAX_STDERR_CHARS = 16 * 1024;

/** Where Debian's `docker-registry` is installed, if it is (PATH, then /usr/bin, /usr/sbin). */
export async function locateDockerRegistry(): Promise<string | undefined> {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = join(dir, 'docker-registry');
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next directory
    }
  }
  return undefined;
}

export type RegistryAuthConfig =
  | { readonly kind: 'htpasswd'; readonly username: string; readonly password: string }
  | {
      readonly kind: 'token';
      readonly realm: string;
      readonly service: string;
      readonly issuer: string;
      readonly rootCertPem: string;
    };

/** A certificate (chain) and key, PEM, for a registry that serves HTTPS. */
export interface RegistryTlsConfig {
  readonly certificate: string;
  readonly key: string;
}

export class LocalRegistry {
  readonly host: string;
  readonly url: string;
  /** The port it listens on (127.0.0.1). */
  readonly port: number;
  private readonly child: ChildProcess;
  private readonly dir: string;

  private constructor(child: ChildProcess, dir: string, port: number, tls: boolean) {
    this.child = child;
    this.dir = dir;
    this.port = port;
    this.host = `127.0.0.1:${port}`;
    this.url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  }

  /** With `tls`, it serves HTTPS only (its readiness probe does not check the certificate). */
  static async start(
    binary: string,
    auth?: RegistryAuthConfig,
    tls?: RegistryTlsConfig,
  ): Promise<LocalRegistry> {
    // A free port found by binding port 0 may be taken by the time the registry binds it.
    for (let attempt = 1; ; attempt++) {
      const dir = await mkdtemp(join(tmpdir(), 'cvo-registry-'));
      try {
        return await LocalRegistry.startIn(binary, dir, auth, tls);
      } catch (err) {
        await rm(dir, { recursive: true, force: true });
        if (attempt >= 3 || !String(err).includes('address already in use')) throw err;
      }
    }
  }

  private static async startIn(
    binary: string,
    dir: string,
    auth: RegistryAuthConfig | undefined,
    tls: RegistryTlsConfig | undefined,
  ): Promise<LocalRegistry> {
    const port = await freePort();
    const lines = [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${JSON.stringify(join(dir, 'data'))}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      `  secret: ${randomBytes(16).toString('hex')}`,
    ];
    if (tls !== undefined) {
      const certificate = join(dir, 'tls.crt');
      const key = join(dir, 'tls.key');
      await writeFile(certificate, tls.certificate);
      await writeFile(key, tls.key, { mode: 0o600 });
      lines.push(
        '  tls:',
        `    certificate: ${JSON.stringify(certificate)}`,
        `    key: ${JSON.stringify(key)}`,
      );
    }
    if (auth?.kind === 'htpasswd') {
      const htpasswd = join(dir, 'htpasswd');
      await writeFile(htpasswd, `${auth.username}:${await bcryptHash(auth.password)}\n`);
      lines.push(
        'auth:',
        '  htpasswd:',
        '    realm: cvo-test',
        `    path: ${JSON.stringify(htpasswd)}`,
      );
    } else if (auth?.kind === 'token') {
      const bundle = join(dir, 'token-signer.pem');
      await writeFile(bundle, auth.rootCertPem);
      lines.push(
        'auth:',
        '  token:',
        `    realm: ${JSON.stringify(auth.realm)}`,
        `    service: ${JSON.stringify(auth.service)}`,
        `    issuer: ${JSON.stringify(auth.issuer)}`,
        `    rootcertbundle: ${JSON.stringify(bundle)}`,
      );
    }
    const config = join(dir, 'config.yml');
    await writeFile(config, `${lines.join('\n')}\n`);

    const child = spawn(binary, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < MAX_STDERR_CHARS) stderr += chunk;
    });
    const registry = new LocalRegistry(child, dir, port, tls !== undefined);
    const exited = new Promise<never>((_resolve, reject) => {
      child.once('exit', (code, signal) => {
        reject(
          new Error(
            `docker-registry exited (${code ?? signal ?? '?'}) before answering /v2/: ${stderr}`,
          ),
        );
      });
      child.once('error', reject);
    });
    exited.catch(() => undefined);
    try {
      await Promise.race([waitForV2(registry.url), exited]);
    } catch (err) {
      await registry.stop();
      throw err;
    }
    return registry;
  }

  /** SIGTERM, then SIGKILL after a grace period; removes the storage directory. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child.exitCode === null && child.signalCode === null) {
      const exit = new Promise<void>((resolve) =>
        child.once('exit', () => {
          resolve();
        }),
      );
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exit;
      clearTimeout(timer);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  return port;
}

/** Polls `GET /v2/` until it answers 200 or 401. */
async function waitForV2(base: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const status = await new Promise<number>((resolve) => {
      const get = base.startsWith('https:') ? httpsRequest : httpRequest;
      // Only whether it answers: the certificate is the test's to check.
      const req = get(`${base}/v2/`, { timeout: 1_000, rejectUnauthorized: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', () => {
        resolve(0);
      });
      req.on('timeout', () => req.destroy());
      req.end();
    });
    if (status === 200 || status === 401) return;
    if (Date.now() > deadline) {
      throw new Error(
        `docker-registry at ${base} did not answer /v2/ within ${READY_TIMEOUT_MS} ms`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The bcrypt alphabet (not standard base64). */
const BCRYPT_ALPHABET = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * A bcrypt hash for an htpasswd line, made with libc's crypt() through perl (perl-base is
 * essential in Debian; libxcrypt knows `$2b$`). Cost 4 keeps each authenticated request cheap.
 */
export async function bcryptHash(password: string): Promise<string> {
  let salt = '';
  for (let i = 0; i < 21; i++) salt += BCRYPT_ALPHABET.charAt(randomInt(64));
  // The 22nd character carries only 2 bits of the 128-bit salt.
  salt += '.Oeu'.charAt(randomInt(4));
  const prefix = '$2b$04$';
  const { stdout } = await run('perl', [
    '-e',
    'print crypt($ARGV[0], $ARGV[1])',
    password,
    prefix + salt,
  ]);
  if (!stdout.startsWith(prefix) || stdout.length !== 60) {
    throw new Error(`perl crypt() did not produce a bcrypt hash (got ${JSON.stringify(stdout)})`);
  }
  return stdout;
}

export interface PushTarget {
  readonly url: string;
  readonly authorization?: string;
}

export interface PushedDescriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations?: Record<string, string>;
}

export interface PushedManifest extends PushedDescriptor {
  readonly bytes: Uint8Array;
}

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function pushHeaders(target: PushTarget, extra: Record<string, string>): Record<string, string> {
  return target.authorization !== undefined
    ? { ...extra, authorization: target.authorization }
    : extra;
}

/** Monolithic blob upload: POST for an upload session, then one PUT with the digest. */
export async function pushBlob(
  target: PushTarget,
  repo: string,
  bytes: Uint8Array,
  mediaType = 'application/octet-stream',
): Promise<PushedDescriptor> {
  const digest = sha256Digest(bytes);
  const start = await request(`${target.url}/v2/${repo}/blobs/uploads/`, {
    method: 'POST',
    headers: pushHeaders(target, { 'content-length': '0' }),
    reset: true,
  });
  await start.body.dump();
  const location = start.headers.location;
  if (start.statusCode !== 202 || typeof location !== 'string') {
    throw new Error(`blob upload to ${repo}: POST answered ${start.statusCode}`);
  }
  const upload = new URL(location, target.url);
  upload.searchParams.set('digest', digest);
  const put = await request(upload, {
    method: 'PUT',
    headers: pushHeaders(target, { 'content-type': 'application/octet-stream' }),
    body: Buffer.from(bytes),
    reset: true,
  });
  const text = await put.body.text();
  if (put.statusCode !== 201) {
    throw new Error(`blob upload to ${repo}: PUT answered ${put.statusCode}: ${text}`);
  }
  return { mediaType, digest, size: bytes.length };
}

/** PUTs a manifest (object → JSON) by tag or digest; returns its descriptor and bytes. */
export async function pushManifest(
  target: PushTarget,
  repo: string,
  reference: string | undefined,
  manifest: object | Uint8Array,
  mediaType = OCI_MANIFEST,
): Promise<PushedManifest> {
  const bytes =
    manifest instanceof Uint8Array ? manifest : Buffer.from(JSON.stringify(manifest), 'utf8');
  const digest = sha256Digest(bytes);
  const response = await request(`${target.url}/v2/${repo}/manifests/${reference ?? digest}`, {
    method: 'PUT',
    headers: pushHeaders(target, { 'content-type': mediaType }),
    body: Buffer.from(bytes),
    reset: true,
  });
  const text = await response.body.text();
  if (response.statusCode !== 201) {
    throw new Error(`manifest PUT to ${repo}: answered ${response.statusCode}: ${text}`);
  }
  return { mediaType, digest, size: bytes.length, bytes };
}

export interface PushedImage {
  readonly manifest: PushedManifest;
  readonly config: PushedDescriptor;
  readonly layers: readonly PushedDescriptor[];
  readonly layerBytes: readonly Uint8Array[];
}

/**
 * Pushes a small image: a config and `layers` distinct layer blobs (random bytes), then its OCI
 * manifest by `tag` (or by digest when no tag is given).
 */
export async function pushImage(
  target: PushTarget,
  repo: string,
  tag: string | undefined,
  options: { layers?: number; layerSize?: number } = {},
): Promise<PushedImage> {
  const layerBytes = Array.from({ length: options.layers ?? 1 }, () =>
    randomBytes(options.layerSize ?? 512),
  );
  const layers = [];
  for (const bytes of layerBytes) {
    layers.push(await pushBlob(target, repo, bytes, 'application/vnd.oci.image.layer.v1.tar'));
  }
  const configBytes = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.digest) },
    }),
  );
  const config = await pushBlob(
    target,
    repo,
    configBytes,
    'application/vnd.oci.image.config.v1+json',
  );
  const manifest = await pushManifest(target, repo, tag, {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config,
    layers,
  });
  return { manifest, config, layers, layerBytes };
}

/**
 * Pushes an OCI 1.1 artifact referring to `subject`, and records it in the `sha256-<hex>` tag
 * index, as clients do for registries without the referrers API.
 */
export async function pushReferrer(
  target: PushTarget,
  repo: string,
  subject: PushedDescriptor,
  artifactType: string,
  payload: Uint8Array,
  annotations: Record<string, string> = {},
): Promise<PushedManifest> {
  const empty = await pushBlob(target, repo, Buffer.from('{}'), OCI_EMPTY);
  const layer = await pushBlob(target, repo, payload, artifactType);
  const artifact = await pushManifest(target, repo, undefined, {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType,
    config: empty,
    layers: [layer],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations,
  });
  const tag = subject.digest.replace(':', '-');
  const existing = await request(`${target.url}/v2/${repo}/manifests/${tag}`, {
    headers: pushHeaders(target, { accept: OCI_INDEX }),
    reset: true,
  });
  const text = await existing.body.text();
  const manifests: object[] =
    existing.statusCode === 200 ? (JSON.parse(text) as { manifests: object[] }).manifests : [];
  manifests.push({
    mediaType: OCI_MANIFEST,
    digest: artifact.digest,
    size: artifact.size,
    artifactType,
    annotations,
  });
  await pushManifest(
    target,
    repo,
    tag,
    { schemaVersion: 2, mediaType: OCI_INDEX, manifests },
    OCI_INDEX,
  );
  return { ...artifact, artifactType, annotations };
}

/**
 * Pushes a legacy cosign signature for `image`: tag `sha256-<hex>.sig`, one simplesigning layer
 * holding `payload`, the base64 signature in its annotation.
 */
export async function pushCosignSignature(
  target: PushTarget,
  repo: string,
  image: PushedDescriptor,
  payload: Uint8Array,
  signatureBase64: string,
): Promise<PushedManifest> {
  const layer = await pushBlob(
    target,
    repo,
    payload,
    'application/vnd.dev.cosign.simplesigning.v1+json',
  );
  const config = await pushBlob(
    target,
    repo,
    Buffer.from(
      JSON.stringify({
        architecture: '',
        os: '',
        rootfs: { type: 'layers', diff_ids: [layer.digest] },
      }),
    ),
    'application/vnd.oci.image.config.v1+json',
  );
  return pushManifest(target, repo, `${image.digest.replace(':', '-')}.sig`, {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config,
    layers: [{ ...layer, annotations: { 'dev.cosignproject.cosign/signature': signatureBase64 } }],
  });
}
