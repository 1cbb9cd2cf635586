import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import {
  createHash,
  createPrivateKey,
  randomBytes,
  randomInt,
  randomUUID,
  sign,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
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

// ---------------------------------------------------------------------------------------------
// Finding the binary

/**
 * Debian's `docker-registry` (distribution 2.8). When it is absent the test fails under CI
 * (`CI=true`) and is skipped with a visible reason elsewhere, like shared fixtures.
 */
export async function findRegistryBinary(): Promise<{ path: string } | { skip: string }> {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = join(dir, 'docker-registry');
    try {
      await access(candidate, constants.X_OK);
      return { path: candidate };
    } catch {
      // next directory
    }
  }
  const message =
    'docker-registry is not installed (Debian package docker-registry; scripts/test.sh installs it)';
  if (process.env.CI === 'true') throw new Error(`${message}: CI needs it`);
  return { skip: `${message}; skipping (it is required when CI=true)` };
}

// ---------------------------------------------------------------------------------------------
// A real registry process

export type RegistryAuthConfig =
  | { readonly kind: 'htpasswd'; readonly username: string; readonly password: string }
  | {
      readonly kind: 'token';
      readonly realm: string;
      readonly service: string;
      readonly issuer: string;
      readonly rootCertPem: string;
    };

/** docker-registry on 127.0.0.1 with a free port and its own temporary storage. */
export class TestRegistry {
  readonly host: string;
  readonly url: string;
  private readonly child: ChildProcess;
  private readonly dir: string;

  private constructor(child: ChildProcess, dir: string, port: number) {
    this.child = child;
    this.dir = dir;
    this.host = `127.0.0.1:${port}`;
    this.url = `http://127.0.0.1:${port}`;
  }

  static async start(binary: string, auth?: RegistryAuthConfig): Promise<TestRegistry> {
    // A free port found by binding port 0 may be taken by the time the registry binds it.
    for (let attempt = 1; ; attempt++) {
      const dir = await mkdtemp(join(tmpdir(), 'cvo-registry-'));
      try {
        return await TestRegistry.startIn(binary, dir, auth);
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
  ): Promise<TestRegistry> {
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
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < MAX_STDERR_CHARS) stderr += chunk;
    });
    const registry = new TestRegistry(child, dir, port);
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
      const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
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
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Polls `GET /v2/` until it answers 200 or 401. */
async function waitForV2(base: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const status = await new Promise<number>((resolve) => {
      const req = httpRequest(`${base}/v2/`, { timeout: 1_000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', () => resolve(0));
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

// ---------------------------------------------------------------------------------------------
// A token server for `auth: token` registries

export interface TokenRequest {
  readonly service: string | null;
  readonly scopes: readonly string[];
  /** The Basic-auth user that was sent, if any (never the password). */
  readonly user: string | undefined;
}

interface Access {
  readonly type: string;
  readonly name: string;
  readonly actions: readonly string[];
}

/**
 * A distribution token server on loopback: checks optional Basic credentials and issues ES256
 * JWTs (x5c header) for the requested `repository:<name>:<actions>` scopes, which
 * docker-registry verifies against `certPem`.
 */
export class TokenServer {
  readonly requests: TokenRequest[] = [];
  readonly certPem: string;
  readonly issuer = 'cvo-test-issuer';
  readonly service = 'cvo-test-registry';
  /** Refuse requests without these credentials (unset: anonymous tokens). */
  users: Readonly<Record<string, string>> | undefined;
  expiresInS = 300;
  private readonly server: Server;
  private readonly key: KeyObject;
  private readonly certDer: string;

  private constructor(server: Server, key: KeyObject, certPem: string) {
    this.server = server;
    this.key = key;
    this.certPem = certPem;
    this.certDer = certPem.replace(/-----[^-]+-----|\s/g, '');
  }

  static async start(): Promise<TokenServer> {
    const dir = await mkdtemp(join(tmpdir(), 'cvo-token-'));
    try {
      await run(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-keyout',
          'signer.key',
          '-out',
          'signer.crt',
          '-days',
          '2',
          '-subj',
          '/CN=cvo-token-signer',
        ],
        { cwd: dir },
      ).catch((err: unknown) => {
        throw new Error(`openssl failed (the test command installs openssl): ${String(err)}`);
      });
      const key = createPrivateKey(await readFile(join(dir, 'signer.key'), 'utf8'));
      const certPem = await readFile(join(dir, 'signer.crt'), 'utf8');
      // eslint-disable-next-line prefer-const -- assigned after the server that refers to it
      let self: TokenServer | undefined;
      const server = createServer((req, res) => {
        self?.handle(req, res);
      });
      self = new TokenServer(server, key, certPem);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return self;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  get realm(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/token`;
  }

  /** The registry `auth` configuration that trusts this server. */
  registryAuth(): RegistryAuthConfig {
    return {
      kind: 'token',
      realm: this.realm,
      service: this.service,
      issuer: this.issuer,
      rootCertPem: this.certPem,
    };
  }

  /** A token for `access`, as the server would issue it (for pushing in tests). */
  mint(access: readonly Access[], expiresInS = this.expiresInS): string {
    const now = Math.floor(Date.now() / 1000);
    const encode = (value: unknown): string =>
      Buffer.from(JSON.stringify(value)).toString('base64url');
    const header = encode({ typ: 'JWT', alg: 'ES256', x5c: [this.certDer] });
    const claims = encode({
      iss: this.issuer,
      sub: 'cvo-test',
      aud: this.service,
      exp: now + expiresInS,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    });
    const signature = sign('sha256', Buffer.from(`${header}.${claims}`), {
      key: this.key,
      dsaEncoding: 'ieee-p1363',
    });
    return `${header}.${claims}.${signature.toString('base64url')}`;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://token');
    const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
    const decoded = basic ? Buffer.from(basic[1] ?? '', 'base64').toString('utf8') : undefined;
    const user = decoded?.slice(0, decoded.indexOf(':'));
    const password = decoded?.slice(decoded.indexOf(':') + 1);
    const scopes = url.searchParams.getAll('scope');
    this.requests.push({ service: url.searchParams.get('service'), scopes, user });
    if (url.pathname !== '/token') {
      res.writeHead(404).end();
      return;
    }
    if (this.users !== undefined && (user === undefined || this.users[user] !== password)) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"denied"}');
      return;
    }
    const access: Access[] = scopes.flatMap((scope) => {
      const [type = '', ...rest] = scope.split(':');
      const actions = (rest.pop() ?? '').split(',');
      return [{ type, name: rest.join(':'), actions }];
    });
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ token: this.mint(access), expires_in: this.expiresInS }));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

// ---------------------------------------------------------------------------------------------
// A loopback front: forwards to a registry, or misbehaves on purpose

export interface UpstreamResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** Handles a request itself (true) or lets the front forward it upstream (false). */
export type FrontHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  front: RegistryFront,
) => boolean | Promise<boolean>;

/**
 * A node:http server on 127.0.0.1 in front of a registry (or of nothing: 404). It records
 * requests, counts connections and requests in flight, and lets a test answer or tamper with
 * any request.
 */
export class RegistryFront {
  readonly requests: { method: string; url: string; authorization: string | undefined }[] = [];
  handler: FrontHandler | undefined;
  connections = 0;
  inFlight = 0;
  maxInFlight = 0;
  private readonly server: Server;
  private readonly upstream: string | undefined;
  private readonly sockets = new Set<Socket>();

  private constructor(server: Server, upstream: string | undefined) {
    this.server = server;
    this.upstream = upstream;
  }

  static async start(upstream?: string): Promise<RegistryFront> {
    // eslint-disable-next-line prefer-const -- assigned after the server that refers to it
    let self: RegistryFront | undefined;
    const server = createServer((req, res) => {
      if (self !== undefined) void self.handle(req, res);
    });
    self = new RegistryFront(server, upstream);
    server.on('connection', (socket) => {
      self.connections++;
      self.sockets.add(socket);
      socket.on('close', () => self.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return self;
  }

  get host(): string {
    const { port } = this.server.address() as AddressInfo;
    return `127.0.0.1:${port}`;
  }

  get url(): string {
    return `http://${this.host}`;
  }

  /** Clears the handler and the counters (new connections only) between tests. */
  reset(): void {
    this.handler = undefined;
    this.requests.length = 0;
    this.connections = 0;
    this.inFlight = 0;
    this.maxInFlight = 0;
  }

  /** Fetches the same request from upstream, body in full. */
  async forward(req: IncomingMessage): Promise<UpstreamResponse> {
    if (this.upstream === undefined) throw new Error('this front has no upstream');
    const target = new URL(req.url ?? '/', this.upstream);
    const headers = { ...req.headers };
    delete headers.host;
    return new Promise((resolve, reject) => {
      const upstreamReq = httpRequest(target, { method: req.method, headers }, (upstreamRes) => {
        const chunks: Buffer[] = [];
        upstreamRes.on('data', (chunk: Buffer) => chunks.push(chunk));
        upstreamRes.on('end', () =>
          resolve({
            status: upstreamRes.statusCode ?? 502,
            headers: upstreamRes.headers,
            body: Buffer.concat(chunks),
          }),
        );
        upstreamRes.on('error', reject);
      });
      upstreamReq.on('error', reject);
      upstreamReq.end();
    });
  }

  /** Sends an upstream response (optionally with another body, its length fixed up). */
  static relay(res: ServerResponse, upstream: UpstreamResponse, body = upstream.body): void {
    const headers = { ...upstream.headers };
    delete headers['transfer-encoding'];
    delete headers.connection;
    headers['content-length'] = String(body.length);
    res.writeHead(upstream.status, headers).end(body);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.requests.push({
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      authorization: req.headers.authorization,
    });
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    res.on('close', () => this.inFlight--);
    try {
      if (this.handler !== undefined && (await this.handler(req, res, this))) return;
      if (this.upstream === undefined) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found');
        return;
      }
      RegistryFront.relay(res, await this.forward(req));
    } catch (err) {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(String(err));
    }
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

// ---------------------------------------------------------------------------------------------
// Pushing (tests only)

/** Where to push: a registry base URL and, for registries with auth, a full header value. */
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
