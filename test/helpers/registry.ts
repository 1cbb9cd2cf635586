import { execFile } from 'node:child_process';
import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { locateDockerRegistry } from '../../testbed/local-registry.js';
import type { RegistryAuthConfig } from '../../testbed/local-registry.js';

const run = promisify(execFile);

export {
  bcryptHash,
  LocalRegistry as TestRegistry,
  pushBlob,
  pushCosignSignature,
  pushImage,
  pushManifest,
  pushReferrer,
  sha256Digest,
} from '../../testbed/local-registry.js';
export type {
  PushedDescriptor,
  PushedImage,
  PushedManifest,
  PushTarget,
  RegistryAuthConfig,
} from '../../testbed/local-registry.js';

/**
 * Debian's `docker-registry` (distribution 2.8). When it is absent the test fails under CI
 * (`CI=true`) and is skipped with a visible reason elsewhere, like shared fixtures.
 */
export async function findRegistryBinary(): Promise<{ path: string } | { skip: string }> {
  const path = await locateDockerRegistry();
  if (path !== undefined) return { path };
  const message =
    'docker-registry is not installed (Debian package docker-registry; scripts/test.sh installs it)';
  if (process.env.CI === 'true') throw new Error(`${message}: CI needs it`);
  return { skip: `${message}; skipping (it is required when CI=true)` };
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
