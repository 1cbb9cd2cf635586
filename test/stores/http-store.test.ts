import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { mkdir, mkdtemp, open, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Server as HttpsServer } from 'node:https';
import { connect as netConnect } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import type { Dispatcher } from 'undici';

import { VerifyError } from '../../src/errors.js';
import type { VerifyErrorCode } from '../../src/errors.js';
import { loadKeyring } from '../../src/gpg/keyring.js';
import type { Keyring } from '../../src/gpg/keyring.js';
import { createStoreFromUrl } from '../../src/stores/create-store.js';
import { FileSignatureStore } from '../../src/stores/file-store.js';
import {
  createHttpDispatcher,
  DEFAULT_MAX_REDIRECTS,
  HttpSignatureStore,
  redactUrl,
} from '../../src/stores/http-store.js';
import type { HttpStoreOptions } from '../../src/stores/http-store.js';
import { DEFAULT_MAX_SIGNATURE_BYTES, DEFAULT_MAX_SIGNATURES } from '../../src/stores/store.js';
import type { SignatureStore, StoreEvent } from '../../src/stores/store.js';
import { GpgReleaseVerifier } from '../../src/verify/gpg-verifier.js';
import type { GpgResult, GpgVerifierOptions } from '../../src/verify/gpg-verifier.js';
import { atomicPayload, GnuPG, randomDigest } from '../helpers/gnupg.js';
import { StoreServer } from '../helpers/store-server.js';
import { makeTestPki } from '../helpers/tls.js';
import type { TestPki } from '../helpers/tls.js';
import type { Route } from '../helpers/store-server.js';

const run = promisify(execFile);

/** Fast per-request timeout for fault tests; every hanging test must finish well inside it. */
const SHORT_TIMEOUT_MS = 200;
/** node:test limit for tests that would hang if a timeout or abort were broken. */
const HANG_GUARD = { timeout: 8_000 };

const DIGEST = randomDigest();
const HEX = DIGEST.slice('sha256:'.length);
const OTHER_DIGEST = randomDigest();

/** The path of signature-N for DIGEST under a StoreServer prefix. */
function sigPath(index: number, prefix = '/sigs', digest = DIGEST): string {
  return `${prefix}/${digest.replace(':', '=')}/signature-${index}`;
}

// ---------------------------------------------------------------------------------------------
// Misbehaving routes

const hang: Route = () => {
  // Never answers: no status line, no headers.
};

function status(code: number): Route {
  return (_req, res) => {
    res.writeHead(code, { 'content-type': 'text/plain' }).end(`status ${code}`);
  };
}

function redirect(code: number, location?: string): Route {
  return (_req, res) => {
    res.writeHead(code, location === undefined ? {} : { location }).end();
  };
}

/** A 200 without content-length: Node sends the parts with chunked transfer encoding. */
function chunked(...parts: Uint8Array[]): Route {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    for (const part of parts) res.write(part);
    res.end();
  };
}

/** Headers arrive at once, then one byte every 50 ms, forever. */
const trickle: Route = (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  res.flushHeaders();
  const timer = setInterval(() => {
    res.write('A');
  }, 50);
  res.on('close', () => {
    clearInterval(timer);
  });
};

/** An endless chunked body written as fast as the client reads it. */
const endless: Route = (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  const chunk = Buffer.alloc(4096, 0x41);
  let closed = false;
  res.on('close', () => {
    closed = true;
  });
  const pump = (): void => {
    while (!closed) {
      if (!res.write(chunk)) {
        res.once('drain', pump);
        return;
      }
    }
  };
  pump();
};

const reset: Route = (req) => {
  req.socket.destroy();
};

/** Promises 1000 bytes, sends 10, then drops the connection. */
const resetMidBody: Route = (req, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 1000 });
  res.write(Buffer.alloc(10, 0x41), () => {
    req.socket.destroy();
  });
};

function delayed(ms: number, body: Uint8Array): Route {
  return (_req, res) => {
    const timer = setTimeout(() => {
      res.writeHead(200, { 'content-length': body.length }).end(body);
    }, ms);
    res.on('close', () => {
      clearTimeout(timer);
    });
  };
}

// ---------------------------------------------------------------------------------------------
// Helpers

async function collect(
  store: SignatureStore,
  digest = DIGEST,
  signal = new AbortController().signal,
): Promise<StoreEvent[]> {
  const events: StoreEvent[] = [];
  for await (const event of store.signatures(digest, signal)) events.push(event);
  return events;
}

/** `signature:N`, `error:N:CODE`, `end:REASON`: compact enough for deepEqual. */
function summary(events: readonly StoreEvent[]): string[] {
  return events.map((e) => {
    switch (e.kind) {
      case 'signature':
        return `signature:${e.index}`;
      case 'error':
        return `error:${e.index}:${e.error.code}`;
      case 'end':
        return `end:${e.reason}`;
    }
  });
}

function errorEvent(events: readonly StoreEvent[], index: number): VerifyError {
  const event = events.find((e) => e.kind === 'error' && e.index === index);
  assert.ok(
    event?.kind === 'error',
    `no error event for signature-${index}: ${summary(events).join(', ')}`,
  );
  assert.ok(event.error instanceof VerifyError);
  return event.error;
}

function signatureEvent(
  events: readonly StoreEvent[],
  index: number,
): Extract<StoreEvent, { kind: 'signature' }> {
  const event = events.find((e) => e.kind === 'signature' && e.index === index);
  assert.ok(
    event?.kind === 'signature',
    `no signature event for signature-${index}: ${summary(events).join(', ')}`,
  );
  return event;
}

function verifiedEvidence(result: GpgResult) {
  return result.checks.flatMap((c) => c.evidence).filter((e) => e.outcome === 'verified');
}

/** Runs `body` and returns how long it took in ms. */
async function timed<T>(body: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const value = await body();
  return [value, performance.now() - start];
}

function listen(server: HttpServer | HttpsServer): Promise<void> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve();
    });
  });
}

function closeServer(server: HttpServer | HttpsServer, sockets: Set<Socket>): Promise<void> {
  for (const socket of sockets) socket.destroy();
  return new Promise((resolve) => {
    server.close(() => {
      resolve();
    });
  });
}

function trackSockets(server: HttpServer | HttpsServer, sockets: Set<Socket>): void {
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
}

/** An HTTPS store: the same path layout as StoreServer, with a certificate made at test time. */
class TlsStoreServer {
  readonly routes = new Map<string, Uint8Array>();
  readonly requests: string[] = [];
  private readonly server: HttpsServer;
  private readonly sockets = new Set<Socket>();

  private constructor(key: string, cert: string) {
    this.server = createHttpsServer({ key, cert }, (req, res) => {
      this.handle(req, res);
    });
    trackSockets(this.server, this.sockets);
  }

  static async start(key: string, cert: string): Promise<TlsStoreServer> {
    const self = new TlsStoreServer(key, cert);
    await listen(self.server);
    return self;
  }

  get url(): string {
    return `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get hostPort(): string {
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = req.url ?? '/';
    this.requests.push(path);
    const body = this.routes.get(path);
    if (body === undefined) res.writeHead(404).end('not found');
    else res.writeHead(200, { 'content-length': body.length }).end(body);
  }

  close(): Promise<void> {
    return closeServer(this.server, this.sockets);
  }
}

/**
 * A forward proxy: tunnels CONNECT requests and forwards absolute-URI requests, recording each
 * as `CONNECT host:port` or `GET http://host:port/path`.
 */
class ForwardProxy {
  readonly seen: string[] = [];
  private readonly server: HttpServer;
  private readonly sockets = new Set<Socket>();

  private constructor() {
    this.server = createHttpServer((req, res) => {
      this.forward(req, res);
    });
    trackSockets(this.server, this.sockets);
    this.server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
      this.tunnel(req, client, head);
    });
  }

  static async start(): Promise<ForwardProxy> {
    const self = new ForwardProxy();
    await listen(self.server);
    return self;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private forward(req: IncomingMessage, res: ServerResponse): void {
    const target = req.url ?? '';
    this.seen.push(`${req.method ?? '?'} ${target}`);
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      res.writeHead(400).end('absolute URI required');
      return;
    }
    const upstream = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        method: req.method,
        headers: req.headers,
        agent: false,
      },
      (response) => {
        res.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(res);
      },
    );
    upstream.on('error', () => {
      res.destroy();
    });
    req.pipe(upstream);
  }

  private tunnel(req: IncomingMessage, client: Socket, head: Buffer): void {
    const target = req.url ?? '';
    this.seen.push(`CONNECT ${target}`);
    const colon = target.lastIndexOf(':');
    const upstream = netConnect(Number(target.slice(colon + 1)), target.slice(0, colon), () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    this.sockets.add(upstream);
    this.sockets.add(client);
    upstream.on('close', () => this.sockets.delete(upstream));
    client.on('close', () => this.sockets.delete(client));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  }

  close(): Promise<void> {
    return closeServer(this.server, this.sockets);
  }
}

// ---------------------------------------------------------------------------------------------
// Shared fixtures: a real GnuPG key, a keyring, a valid signature for DIGEST

let gpg: GnuPG;
let keyring: Keyring;
let VALID: Uint8Array;
/** A good signature from the trusted key, but for another digest. */
let OTHER: Uint8Array;

before(async () => {
  gpg = await GnuPG.create();
  const key = await gpg.generateKey('Store Test <store-test@example.com>', 'rsa2048');
  keyring = await loadKeyring('verifier-public-key-test', await gpg.exportPublicKey(key));
  VALID = new Uint8Array(await gpg.sign(atomicPayload(DIGEST), { key: `${key.fingerprint}!` }));
  OTHER = new Uint8Array(
    await gpg.sign(atomicPayload(OTHER_DIGEST), { key: `${key.fingerprint}!` }),
  );
});

after(async () => {
  await gpg.cleanup();
});

/** Resources a test made; closed after each test, last first. */
const cleanups: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startServer(): Promise<StoreServer> {
  const server = await StoreServer.start();
  cleanups.push(() => server.close());
  return server;
}

function dispatcher(options: Parameters<typeof createHttpDispatcher>[0]): Dispatcher {
  const d = createHttpDispatcher(options);
  cleanups.push(() => d.destroy());
  return d;
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cvo-store-test-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function verifier(
  stores: SignatureStore[],
  options: Partial<GpgVerifierOptions> = {},
): GpgReleaseVerifier {
  return new GpgReleaseVerifier({
    trust: { source: 'test', keyrings: [keyring] },
    stores,
    ...options,
  });
}

// ---------------------------------------------------------------------------------------------

describe('HttpSignatureStore', () => {
  describe('URL layout', () => {
    for (const base of ['/sigs', '/sigs/', '/sigs//']) {
      it(`requests <base>/sha256=<hex>/signature-N for base path "${base}"`, async () => {
        const server = await startServer();
        server.publish(DIGEST, [VALID, VALID]);
        const store = new HttpSignatureStore(`${server.url}${base}`);
        assert.equal(
          store.signatureUrl(DIGEST, 3).href,
          `${server.url}/sigs/sha256=${HEX}/signature-3`,
        );
        const events = await collect(store);
        assert.deepEqual(summary(events), ['signature:1', 'signature:2', 'end:not-found']);
        assert.deepEqual(server.requests, [sigPath(1), sigPath(2), sigPath(3)]);
        assert.equal(
          signatureEvent(events, 2).location,
          `${server.url}/sigs/sha256=${HEX}/signature-2`,
        );
        assert.deepEqual(signatureEvent(events, 1).body, VALID);
      });
    }

    it('works with a store at the root of the server, with or without a slash', async () => {
      const server = await startServer();
      server.publish(DIGEST, [VALID], '');
      for (const base of [server.url, `${server.url}/`]) {
        server.requests.length = 0;
        assert.deepEqual(summary(await collect(new HttpSignatureStore(base))), [
          'signature:1',
          'end:not-found',
        ]);
        assert.deepEqual(server.requests, [sigPath(1, ''), sigPath(2, '')]);
      }
    });

    it('only accepts http:// and https:// bases', () => {
      for (const base of ['file:///srv/sigs', 'ftp://example.com/sigs', 'data:,x']) {
        assert.throws(
          () => new HttpSignatureStore(base),
          (err: unknown) => err instanceof VerifyError && err.code === 'INVALID_STORE',
        );
      }
      assert.equal(
        new HttpSignatureStore('https://mirror.example.com/sigs').describe(),
        'https://mirror.example.com/sigs',
      );
    });
  });

  describe('how far a store is read', () => {
    it('stops at the first 404: nothing after it is requested', async () => {
      const server = await startServer();
      server.routes.set(sigPath(1), VALID);
      server.routes.set(sigPath(2), VALID);
      server.routes.set(sigPath(4), VALID);
      const events = await collect(new HttpSignatureStore(`${server.url}/sigs`));
      assert.deepEqual(summary(events), ['signature:1', 'signature:2', 'end:not-found']);
      assert.deepEqual(server.requests, [sigPath(1), sigPath(2), sigPath(3)]);
    });

    it('reports a 404 on signature-1 as the end of the store with no request for signature-2', async () => {
      const server = await startServer();
      server.routes.set(sigPath(2), VALID);
      const events = await collect(new HttpSignatureStore(`${server.url}/sigs`));
      assert.deepEqual(summary(events), ['end:not-found']);
      assert.deepEqual(server.requests, [sigPath(1)]);
    });

    it('reports a 500 on signature-1 as an error event and still reads signature-2', async () => {
      const server = await startServer();
      server.routes.set(sigPath(1), status(500));
      server.routes.set(sigPath(2), VALID);
      const events = await collect(new HttpSignatureStore(`${server.url}/sigs`));
      assert.deepEqual(summary(events), ['error:1:STORE_ERROR', 'signature:2', 'end:not-found']);
      const error = errorEvent(events, 1);
      assert.match(error.message, /500/);
      assert.match(error.message, /signature-1/);
      assert.deepEqual(server.requests, [sigPath(1), sigPath(2), sigPath(3)]);
    });

    it('treats other non-2xx statuses (403, 410, 503) as errors, not as the end of the store', async () => {
      const server = await startServer();
      server.routes.set(sigPath(1), status(403));
      server.routes.set(sigPath(2), status(410));
      server.routes.set(sigPath(3), status(503));
      server.routes.set(sigPath(4), VALID);
      const events = await collect(new HttpSignatureStore(`${server.url}/sigs`));
      assert.deepEqual(summary(events), [
        'error:1:STORE_ERROR',
        'error:2:STORE_ERROR',
        'error:3:STORE_ERROR',
        'signature:4',
        'end:not-found',
      ]);
    });

    it('skips empty 200 bodies and goes on to the next index', async () => {
      const server = await startServer();
      server.routes.set(sigPath(1), new Uint8Array());
      server.routes.set(sigPath(2), chunked());
      server.routes.set(sigPath(3), VALID);
      const events = await collect(new HttpSignatureStore(`${server.url}/sigs`));
      assert.deepEqual(summary(events), ['signature:3', 'end:not-found']);
      assert.deepEqual(server.requests, [sigPath(1), sigPath(2), sigPath(3), sigPath(4)]);
    });

    it(`reads at most ${DEFAULT_MAX_SIGNATURES} signatures by default`, async () => {
      const server = await startServer();
      server.publish(
        DIGEST,
        Array.from({ length: 12 }, () => VALID),
      );
      const events = await collect(new HttpSignatureStore(`${server.url}/sigs`));
      assert.equal(events.filter((e) => e.kind === 'signature').length, DEFAULT_MAX_SIGNATURES);
      assert.deepEqual(events.at(-1), {
        kind: 'end',
        reason: 'limit',
        detail: `read the maximum of ${DEFAULT_MAX_SIGNATURES} signatures`,
      });
      assert.deepEqual(
        server.requests,
        Array.from({ length: DEFAULT_MAX_SIGNATURES }, (_, i) => sigPath(i + 1)),
      );
    });

    it('respects maxSignatures: exactly N requests when all exist', async () => {
      const server = await startServer();
      server.publish(
        DIGEST,
        Array.from({ length: 6 }, () => VALID),
      );
      const events = await collect(
        new HttpSignatureStore(`${server.url}/sigs`, { maxSignatures: 3 }),
      );
      assert.deepEqual(summary(events), ['signature:1', 'signature:2', 'signature:3', 'end:limit']);
      assert.deepEqual(server.requests, [sigPath(1), sigPath(2), sigPath(3)]);
    });

    it('stops with end "aborted" and no further requests once the signal is aborted', async () => {
      const server = await startServer();
      server.publish(DIGEST, [VALID, VALID, VALID]);
      const controller = new AbortController();
      const events: StoreEvent[] = [];
      for await (const event of new HttpSignatureStore(`${server.url}/sigs`).signatures(
        DIGEST,
        controller.signal,
      )) {
        events.push(event);
        controller.abort();
      }
      assert.deepEqual(summary(events), ['signature:1', 'end:aborted']);
      assert.deepEqual(server.requests, [sigPath(1)]);
    });
  });

  describe('size limit', () => {
    it(`accepts a body of exactly the limit (${DEFAULT_MAX_SIGNATURE_BYTES} bytes) in full`, async () => {
      const server = await startServer();
      const body = new Uint8Array(DEFAULT_MAX_SIGNATURE_BYTES).fill(0x42);
      server.routes.set(sigPath(1), body);
      server.routes.set(sigPath(2), chunked(body.subarray(0, 1000), body.subarray(1000)));
      const events = await collect(new HttpSignatureStore(`${server.url}/sigs`));
      assert.deepEqual(summary(events), ['signature:1', 'signature:2', 'end:not-found']);
      assert.equal(signatureEvent(events, 1).body.length, DEFAULT_MAX_SIGNATURE_BYTES);
      assert.equal(signatureEvent(events, 2).body.length, DEFAULT_MAX_SIGNATURE_BYTES);
    });

    it('rejects one byte over the limit with STORE_OVERSIZE, with content-length and chunked', async () => {
      const server = await startServer();
      const body = new Uint8Array(DEFAULT_MAX_SIGNATURE_BYTES + 1).fill(0x42);
      server.routes.set(sigPath(1), body);
      server.routes.set(sigPath(2), chunked(body.subarray(0, 1000), body.subarray(1000)));
      server.routes.set(sigPath(3), VALID);
      const events = await collect(new HttpSignatureStore(`${server.url}/sigs`));
      assert.deepEqual(summary(events), [
        'error:1:STORE_OVERSIZE',
        'error:2:STORE_OVERSIZE',
        'signature:3',
        'end:not-found',
      ]);
    });

    it(
      'rejects on the declared content-length alone, without waiting for the body',
      HANG_GUARD,
      async () => {
        const server = await startServer();
        // Declares 100 000 bytes, sends 10 and stalls: only the header check can answer before the timeout.
        server.routes.set(sigPath(1), (_req, res) => {
          res.writeHead(200, { 'content-length': 100_000 });
          res.write(Buffer.alloc(10));
        });
        const store = new HttpSignatureStore(`${server.url}/sigs`, { requestTimeoutMs: 3_000 });
        const [events, ms] = await timed(() => collect(store));
        assert.deepEqual(summary(events), ['error:1:STORE_OVERSIZE', 'end:not-found']);
        assert.match(errorEvent(events, 1).message, /100000 bytes/);
        assert.ok(ms < 2_000, `took ${Math.round(ms)} ms`);
      },
    );

    it(
      'stops reading an endless chunked body at the limit (STORE_OVERSIZE, not a timeout)',
      HANG_GUARD,
      async () => {
        const server = await startServer();
        server.routes.set(sigPath(1), endless);
        server.routes.set(sigPath(2), VALID);
        const store = new HttpSignatureStore(`${server.url}/sigs`, { requestTimeoutMs: 3_000 });
        const [events, ms] = await timed(() => collect(store));
        assert.deepEqual(summary(events), [
          'error:1:STORE_OVERSIZE',
          'signature:2',
          'end:not-found',
        ]);
        assert.ok(ms < 2_000, `took ${Math.round(ms)} ms`);
      },
    );

    it('honours maxSignatureBytes for both content-length and chunked bodies', async () => {
      const server = await startServer();
      server.routes.set(sigPath(1), new Uint8Array(101));
      server.routes.set(sigPath(2), chunked(new Uint8Array(60), new Uint8Array(41)));
      server.routes.set(sigPath(3), new Uint8Array(100).fill(1));
      server.routes.set(
        sigPath(4),
        chunked(new Uint8Array(60).fill(1), new Uint8Array(40).fill(1)),
      );
      const events = await collect(
        new HttpSignatureStore(`${server.url}/sigs`, { maxSignatureBytes: 100 }),
      );
      assert.deepEqual(summary(events), [
        'error:1:STORE_OVERSIZE',
        'error:2:STORE_OVERSIZE',
        'signature:3',
        'signature:4',
        'end:not-found',
      ]);
      assert.equal(signatureEvent(events, 4).body.length, 100);
    });

    it('never truncates: a valid signature followed by junk past the limit is not verified', async () => {
      const server = await startServer();
      const junk = new TextEncoder().encode('junk');
      // The limit is exactly the valid signature: truncating to it would yield a good signature.
      const options: HttpStoreOptions = { maxSignatureBytes: VALID.length };
      server.routes.set(sigPath(1, '/a'), chunked(VALID, junk));
      const padded = new Uint8Array([...VALID, ...junk]);
      server.routes.set(sigPath(1, '/b'), padded);
      server.routes.set(sigPath(1, '/c'), chunked(VALID.subarray(0, 100), VALID.subarray(100)));

      const chunkedResult = await verifier([
        new HttpSignatureStore(`${server.url}/a`, options),
      ]).verify(DIGEST);
      assert.equal(chunkedResult.verified, false);
      assert.equal(chunkedResult.stores[0]?.errors[0]?.code, 'STORE_OVERSIZE');

      const declaredResult = await verifier([
        new HttpSignatureStore(`${server.url}/b`, options),
      ]).verify(DIGEST);
      assert.equal(declaredResult.verified, false);
      assert.equal(declaredResult.stores[0]?.errors[0]?.code, 'STORE_OVERSIZE');

      const exact = await verifier([new HttpSignatureStore(`${server.url}/c`, options)]).verify(
        DIGEST,
      );
      assert.equal(exact.verified, true, exact.details.join('\n'));
    });
  });

  describe('timeouts', () => {
    it(
      'times out a request that is never answered (STORE_TIMEOUT) and goes on to N+1',
      HANG_GUARD,
      async () => {
        const server = await startServer();
        server.routes.set(sigPath(1), hang);
        server.routes.set(sigPath(2), VALID);
        const store = new HttpSignatureStore(`${server.url}/sigs`, {
          requestTimeoutMs: SHORT_TIMEOUT_MS,
        });
        const [events, ms] = await timed(() => collect(store));
        assert.deepEqual(summary(events), [
          'error:1:STORE_TIMEOUT',
          'signature:2',
          'end:not-found',
        ]);
        assert.match(
          errorEvent(events, 1).message,
          new RegExp(`timed out after ${SHORT_TIMEOUT_MS} ms`),
        );
        assert.deepEqual(server.requests, [sigPath(1), sigPath(2), sigPath(3)]);
        assert.ok(ms >= SHORT_TIMEOUT_MS - 20 && ms < 2_000, `took ${Math.round(ms)} ms`);
      },
    );

    it('times out a body that trickles in forever', HANG_GUARD, async () => {
      const server = await startServer();
      server.routes.set(sigPath(1), trickle);
      server.routes.set(sigPath(2), trickle);
      const store = new HttpSignatureStore(`${server.url}/sigs`, {
        requestTimeoutMs: SHORT_TIMEOUT_MS,
      });
      const [events, ms] = await timed(() => collect(store));
      assert.deepEqual(summary(events), [
        'error:1:STORE_TIMEOUT',
        'error:2:STORE_TIMEOUT',
        'end:not-found',
      ]);
      assert.ok(ms < 3_000, `took ${Math.round(ms)} ms`);
    });

    it('applies the timeout to each request, not to the whole store', HANG_GUARD, async () => {
      const server = await startServer();
      for (let i = 1; i <= 5; i++) server.routes.set(sigPath(i), delayed(150, VALID));
      const store = new HttpSignatureStore(`${server.url}/sigs`, { requestTimeoutMs: 500 });
      const [events, ms] = await timed(() => collect(store));
      assert.deepEqual(summary(events), [
        'signature:1',
        'signature:2',
        'signature:3',
        'signature:4',
        'signature:5',
        'end:not-found',
      ]);
      assert.ok(ms > 500, `took ${Math.round(ms)} ms`);
    });
  });

  describe('credentials in the URL (user:password@)', () => {
    /** Serves VALID as signature-1 only to requests carrying `expected` Basic auth. */
    function guarded(server: StoreServer, expected: string, seen: (string | undefined)[]): void {
      server.routes.set(sigPath(1), (req, res) => {
        seen.push(req.headers.authorization);
        if (req.headers.authorization === `Basic ${Buffer.from(expected).toString('base64')}`) {
          res.writeHead(200, { 'content-length': VALID.length }).end(VALID);
        } else res.writeHead(401, { 'www-authenticate': 'Basic' }).end('unauthorized');
      });
    }

    it('sends them as Basic auth (percent-decoded, as Go) and never prints the password', async () => {
      const server = await startServer();
      const seen: (string | undefined)[] = [];
      guarded(server, 'release bot:s3cr%t', seen);
      const base = server.url.replace('//', '//release%20bot:s3cr%25t@');
      const store = new HttpSignatureStore(`${base}/sigs`);
      const result = await verifier([store]).verify(DIGEST);
      assert.equal(result.verified, true, result.details.join('\n'));
      assert.equal(seen.length, 1);
      const printed = JSON.stringify(result) + store.describe() + result.details.join('\n');
      assert.doesNotMatch(printed, /s3cr|release%20bot|release bot/);
      assert.match(store.describe(), /^http:\/\/\*\*\*@127\.0\.0\.1:/);
    });

    it('refused credentials fail the store without printing them', async () => {
      const server = await startServer();
      guarded(server, 'user:right', []);
      const store = new HttpSignatureStore(`${server.url.replace('//', '//user:wrong@')}/sigs`);
      const result = await verifier([store]).verify(DIGEST);
      assert.equal(result.verified, false);
      assert.doesNotMatch(JSON.stringify(result) + result.details.join('\n'), /wrong|user:/);
      assert.match(result.details.join('\n'), /status 401/);
    });

    it('does not hand them to a redirect target (as Go net/http)', async () => {
      const server = await startServer();
      const mirror = await startServer();
      const seen: (string | undefined)[] = [];
      server.routes.set(sigPath(1), redirect(302, `${mirror.url}/mirror/sig`));
      mirror.routes.set('/mirror/sig', (req, res) => {
        seen.push(req.headers.authorization);
        res.writeHead(200, { 'content-length': VALID.length }).end(VALID);
      });
      const store = new HttpSignatureStore(`${server.url.replace('//', '//u:p@')}/sigs`);
      assert.equal((await verifier([store]).verify(DIGEST)).verified, true);
      assert.deepEqual(seen, [undefined]);
    });

    it('redactUrl hides userinfo, and a URL without it is unchanged', () => {
      assert.equal(redactUrl('https://u:p@example.com/sigs'), 'https://***@example.com/sigs');
      assert.equal(redactUrl('https://token@example.com/'), 'https://***@example.com/');
      assert.equal(redactUrl('https://example.com/sigs'), 'https://example.com/sigs');
      assert.doesNotMatch(redactUrl('not a url //u:secret@x'), /secret/);
      // Unparseable URLs whose password holds `/` or `@` (review finding: these leaked).
      assert.doesNotMatch(redactUrl('http://user:pa/ss@host/x'), /pa\/ss|user/);
      assert.doesNotMatch(redactUrl('http://u:p@ss@host:99999/'), /p@ss|ss@/);
    });

    it('does not print credentials of a store URL that does not parse', () => {
      assert.throws(
        () => createStoreFromUrl('http://user:pa/ss@host:99999/x', { baseDir: '/' }),
        (err: unknown) =>
          err instanceof VerifyError && !/pa\/ss|user/.test(err.message) && err.cause === undefined,
      );
    });
  });

  describe('redirects', () => {
    for (const code of [301, 302, 303, 307, 308]) {
      it(`follows a ${code} to another path and reports the signature under its original URL`, async () => {
        const server = await startServer();
        server.routes.set(sigPath(1), redirect(code, '/moved/one'));
        server.routes.set('/moved/one', VALID);
        const store = new HttpSignatureStore(`${server.url}/sigs`);
        const events = await collect(store);
        assert.deepEqual(summary(events), ['signature:1', 'end:not-found']);
        assert.deepEqual(signatureEvent(events, 1).body, VALID);
        assert.equal(signatureEvent(events, 1).location, store.signatureUrl(DIGEST, 1).href);
        assert.deepEqual(server.requests, [sigPath(1), '/moved/one', sigPath(2)]);
      });
    }

    it('follows an absolute redirect to another server, and the signature verifies', async () => {
      const server = await startServer();
      const mirror = await startServer();
      server.routes.set(sigPath(1), redirect(302, `${mirror.url}/mirror/sig`));
      mirror.routes.set('/mirror/sig', VALID);
      const result = await verifier([new HttpSignatureStore(`${server.url}/sigs`)]).verify(DIGEST);
      assert.equal(result.verified, true, result.details.join('\n'));
      assert.deepEqual(mirror.requests, ['/mirror/sig']);
    });

    it('follows exactly maxRedirects redirects and no more', async () => {
      const server = await startServer();
      server.routes.set(sigPath(1), redirect(302, '/r1'));
      server.routes.set('/r1', redirect(302, '/r2'));
      server.routes.set('/r2', VALID);
      server.routes.set(sigPath(2), redirect(302, '/s1'));
      server.routes.set('/s1', redirect(302, '/s2'));
      server.routes.set('/s2', redirect(302, '/s3'));
      server.routes.set('/s3', VALID);
      const events = await collect(
        new HttpSignatureStore(`${server.url}/sigs`, { maxRedirects: 2 }),
      );
      assert.deepEqual(summary(events), ['signature:1', 'error:2:STORE_REDIRECT', 'end:not-found']);
      assert.ok(!server.requests.includes('/s3'));
    });

    it(
      `stops a redirect loop after ${DEFAULT_MAX_REDIRECTS} redirects with STORE_REDIRECT`,
      HANG_GUARD,
      async () => {
        const server = await startServer();
        server.routes.set(sigPath(1), redirect(302, '/loop'));
        server.routes.set('/loop', redirect(302, '/loop'));
        server.routes.set(sigPath(2), VALID);
        const events = await collect(new HttpSignatureStore(`${server.url}/sigs`));
        assert.deepEqual(summary(events), [
          'error:1:STORE_REDIRECT',
          'signature:2',
          'end:not-found',
        ]);
        assert.match(errorEvent(events, 1).message, /more than 5 redirects/);
        assert.equal(server.requests.filter((p) => p === '/loop').length, DEFAULT_MAX_REDIRECTS);
      },
    );

    it('honours a smaller maxRedirects', async () => {
      const server = await startServer();
      server.routes.set(sigPath(1), redirect(307, sigPath(1)));
      const events = await collect(
        new HttpSignatureStore(`${server.url}/sigs`, { maxRedirects: 1, maxSignatures: 1 }),
      );
      assert.deepEqual(summary(events), ['error:1:STORE_REDIRECT', 'end:limit']);
      assert.deepEqual(server.requests, [sigPath(1), sigPath(1)]);
    });

    for (const target of [
      'file:///etc/passwd',
      'ftp://127.0.0.1/sig',
      'data:application/octet-stream,abc',
    ]) {
      it(`refuses a redirect to ${target.split(':')[0] ?? ''}: (STORE_REDIRECT)`, async () => {
        const server = await startServer();
        server.routes.set(sigPath(1), redirect(302, target));
        server.routes.set(sigPath(2), VALID);
        const events = await collect(new HttpSignatureStore(`${server.url}/sigs`));
        assert.deepEqual(summary(events), [
          'error:1:STORE_REDIRECT',
          'signature:2',
          'end:not-found',
        ]);
        assert.match(errorEvent(events, 1).message, /unsupported scheme/);
      });
    }

    it('reports a redirect without a Location header as STORE_REDIRECT', async () => {
      const server = await startServer();
      server.routes.set(sigPath(1), redirect(302));
      server.routes.set(sigPath(2), VALID);
      const events = await collect(new HttpSignatureStore(`${server.url}/sigs`));
      assert.deepEqual(summary(events), ['error:1:STORE_REDIRECT', 'signature:2', 'end:not-found']);
      assert.match(errorEvent(events, 1).message, /without a Location header/);
    });
  });

  describe('connection failures', () => {
    it('reports a connection reset before any response as STORE_ERROR and goes on', async () => {
      const server = await startServer();
      server.routes.set(sigPath(1), reset);
      server.routes.set(sigPath(2), VALID);
      const events = await collect(new HttpSignatureStore(`${server.url}/sigs`));
      assert.deepEqual(summary(events), ['error:1:STORE_ERROR', 'signature:2', 'end:not-found']);
      assert.match(errorEvent(events, 1).message, /signature-1/);
    });

    it('never yields a partial body when the connection drops mid-body', async () => {
      const server = await startServer();
      server.routes.set(sigPath(1), resetMidBody);
      server.routes.set(sigPath(2), (req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.write(VALID.subarray(0, 50), () => {
          req.socket.destroy();
        });
      });
      const events = await collect(new HttpSignatureStore(`${server.url}/sigs`));
      assert.deepEqual(summary(events), [
        'error:1:STORE_ERROR',
        'error:2:STORE_ERROR',
        'end:not-found',
      ]);
    });

    it('reports a refused connection as STORE_ERROR for each index', async () => {
      const server = await startServer();
      const url = server.url;
      await server.close();
      const events = await collect(new HttpSignatureStore(`${url}/sigs`, { maxSignatures: 2 }));
      assert.deepEqual(summary(events), [
        'error:1:STORE_ERROR',
        'error:2:STORE_ERROR',
        'end:limit',
      ]);
      assert.match(errorEvent(events, 1).message, /ECONNREFUSED/);
    });
  });

  describe('HTTPS with an extra CA bundle', () => {
    let pki: TestPki;
    let caPem: string;
    let otherCaPem: string;
    let serverKey: string;
    let serverCert: string;

    before(async () => {
      pki = await makeTestPki();
      ({ caPem, otherCaPem, serverKey, serverCert } = pki);
    });

    after(async () => {
      await pki.cleanup();
    });

    async function startTls(): Promise<TlsStoreServer> {
      const server = await TlsStoreServer.start(serverKey, serverCert);
      cleanups.push(() => server.close());
      server.routes.set(sigPath(1), VALID);
      return server;
    }

    it('fails with STORE_ERROR when the CA is not trusted', async () => {
      const server = await startTls();
      for (const store of [
        new HttpSignatureStore(`${server.url}/sigs`, { maxSignatures: 1 }),
        new HttpSignatureStore(`${server.url}/sigs`, {
          maxSignatures: 1,
          dispatcher: dispatcher({}),
        }),
        new HttpSignatureStore(`${server.url}/sigs`, {
          maxSignatures: 1,
          dispatcher: dispatcher({ extraCa: otherCaPem }),
        }),
      ]) {
        const events = await collect(store);
        assert.deepEqual(summary(events), ['error:1:STORE_ERROR', 'end:limit']);
        assert.match(errorEvent(events, 1).message, /certificate/i);
      }
      // The TLS handshake failed: no request ever reached the server.
      assert.deepEqual(server.requests, []);
    });

    it('succeeds with createHttpDispatcher({ extraCa }) and verifies end to end', async () => {
      const server = await startTls();
      const store = new HttpSignatureStore(`${server.url}/sigs`, {
        dispatcher: dispatcher({ extraCa: caPem }),
      });
      const events = await collect(store);
      assert.deepEqual(summary(events), ['signature:1', 'end:not-found']);
      assert.deepEqual(signatureEvent(events, 1).body, VALID);
      const result = await verifier([store]).verify(DIGEST);
      assert.equal(result.verified, true, result.details.join('\n'));
    });

    it('tunnels HTTPS through the proxy with CONNECT and checks the origin against extraCa', async () => {
      const server = await startTls();
      const proxy = await ForwardProxy.start();
      cleanups.push(() => proxy.close());
      const good = dispatcher({ extraCa: caPem, httpProxy: proxy.url, httpsProxy: proxy.url });
      const events = await collect(
        new HttpSignatureStore(`${server.url}/sigs`, { dispatcher: good }),
      );
      assert.deepEqual(summary(events), ['signature:1', 'end:not-found']);
      assert.ok(proxy.seen.includes(`CONNECT ${server.hostPort}`), proxy.seen.join('\n'));
      assert.deepEqual(server.requests, [sigPath(1), sigPath(2)]);

      const untrusted = dispatcher({ httpProxy: proxy.url, httpsProxy: proxy.url });
      const failed = await collect(
        new HttpSignatureStore(`${server.url}/sigs`, { dispatcher: untrusted, maxSignatures: 1 }),
      );
      assert.deepEqual(summary(failed), ['error:1:STORE_ERROR', 'end:limit']);
    });
  });

  describe('proxies', () => {
    async function startProxy(): Promise<ForwardProxy> {
      const proxy = await ForwardProxy.start();
      cleanups.push(() => proxy.close());
      return proxy;
    }

    it('sends plain-HTTP store requests through httpProxy', async () => {
      const server = await startServer();
      server.publish(DIGEST, [VALID]);
      const proxy = await startProxy();
      const store = new HttpSignatureStore(`${server.url}/sigs`, {
        dispatcher: dispatcher({ httpProxy: proxy.url, httpsProxy: proxy.url, noProxy: '' }),
      });
      const result = await verifier([store]).verify(DIGEST);
      assert.equal(result.verified, true, result.details.join('\n'));
      // undici 8 forwards plain-HTTP requests as absolute-URI GETs and tunnels with CONNECT only
      // for https targets (or with proxyTunnel); the proxy serves both, so accept either form.
      const forms = [`GET ${server.url}${sigPath(1)}`, `CONNECT ${new URL(server.url).host}`];
      assert.ok(proxy.seen.length > 0, 'the proxy saw no request');
      for (const line of proxy.seen) assert.ok(forms.includes(line), line);
      assert.deepEqual(server.requests, [sigPath(1)]);
    });

    it('bypasses the proxy for hosts in noProxy', async () => {
      const server = await startServer();
      server.publish(DIGEST, [VALID]);
      const proxy = await startProxy();
      for (const noProxy of [
        '127.0.0.1',
        `127.0.0.1:${new URL(server.url).port}`,
        'example.com,127.0.0.1',
      ]) {
        server.requests.length = 0;
        const store = new HttpSignatureStore(`${server.url}/sigs`, {
          dispatcher: dispatcher({ httpProxy: proxy.url, httpsProxy: proxy.url, noProxy }),
        });
        assert.deepEqual(summary(await collect(store)), ['signature:1', 'end:not-found']);
        assert.deepEqual(server.requests, [sigPath(1), sigPath(2)]);
      }
      assert.deepEqual(proxy.seen, []);
    });

    it('does not bypass the proxy for hosts that are not in noProxy', async () => {
      const server = await startServer();
      server.publish(DIGEST, [VALID]);
      const proxy = await startProxy();
      const store = new HttpSignatureStore(`${server.url}/sigs`, {
        dispatcher: dispatcher({
          httpProxy: proxy.url,
          httpsProxy: proxy.url,
          noProxy: 'example.com,127.0.0.2',
        }),
      });
      assert.deepEqual(summary(await collect(store)), ['signature:1', 'end:not-found']);
      assert.equal(proxy.seen.length, 2, proxy.seen.join('\n'));
    });

    it('reports an unreachable proxy as STORE_ERROR rather than going direct', async () => {
      const server = await startServer();
      server.publish(DIGEST, [VALID]);
      const dead = await startProxy();
      const url = dead.url;
      await dead.close();
      const store = new HttpSignatureStore(`${server.url}/sigs`, {
        maxSignatures: 1,
        dispatcher: dispatcher({ httpProxy: url, httpsProxy: url }),
      });
      assert.deepEqual(summary(await collect(store)), ['error:1:STORE_ERROR', 'end:limit']);
      assert.deepEqual(server.requests, []);
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe('FileSignatureStore', () => {
  async function storeDir(
    files: Record<number, Uint8Array | 'dir'>,
    digest = DIGEST,
  ): Promise<string> {
    const dir = await tempDir();
    const sub = join(dir, digest.replace(':', '='));
    await mkdir(sub);
    for (const [index, content] of Object.entries(files)) {
      const path = join(sub, `signature-${index}`);
      if (content === 'dir') await mkdir(path);
      else await writeFile(path, content);
    }
    return dir;
  }

  it('reads <dir>/sha256=<hex>/signature-N in order and a missing file ends the store', async () => {
    const dir = await storeDir({ 1: VALID, 2: OTHER, 4: VALID });
    const store = new FileSignatureStore(dir);
    assert.equal(store.describe(), `file://${dir}`);
    const events = await collect(store);
    assert.deepEqual(summary(events), ['signature:1', 'signature:2', 'end:not-found']);
    assert.equal(signatureEvent(events, 2).location, join(dir, `sha256=${HEX}`, 'signature-2'));
    assert.deepEqual(signatureEvent(events, 1).body, VALID);
    assert.deepEqual(signatureEvent(events, 2).body, OTHER);
    const end = events.at(-1);
    assert.ok(end?.kind === 'end');
    assert.match(end.detail, /signature-3 does not exist/);
  });

  it('ends at once when the digest has no directory', async () => {
    const dir = await storeDir({ 1: VALID }, OTHER_DIGEST);
    assert.deepEqual(summary(await collect(new FileSignatureStore(dir))), ['end:not-found']);
  });

  it('skips empty files', async () => {
    const dir = await storeDir({ 1: new Uint8Array(), 2: VALID });
    assert.deepEqual(summary(await collect(new FileSignatureStore(dir))), [
      'signature:2',
      'end:not-found',
    ]);
  });

  it(`reads at most ${DEFAULT_MAX_SIGNATURES} files by default, or maxSignatures`, async () => {
    const files: Record<number, Uint8Array> = {};
    for (let i = 1; i <= 12; i++) files[i] = VALID;
    const dir = await storeDir(files);
    const all = await collect(new FileSignatureStore(dir));
    assert.equal(all.filter((e) => e.kind === 'signature').length, DEFAULT_MAX_SIGNATURES);
    assert.equal(summary(all).at(-1), 'end:limit');
    assert.deepEqual(summary(await collect(new FileSignatureStore(dir, { maxSignatures: 2 }))), [
      'signature:1',
      'signature:2',
      'end:limit',
    ]);
  });

  it('rejects files over the limit with STORE_OVERSIZE and accepts exactly the limit', async () => {
    const dir = await storeDir({
      1: new Uint8Array(DEFAULT_MAX_SIGNATURE_BYTES + 1),
      2: new Uint8Array(DEFAULT_MAX_SIGNATURE_BYTES).fill(7),
      3: VALID,
    });
    const events = await collect(new FileSignatureStore(dir));
    assert.deepEqual(summary(events), [
      'error:1:STORE_OVERSIZE',
      'signature:2',
      'signature:3',
      'end:not-found',
    ]);
    // Rejected on its size before reading.
    assert.match(
      errorEvent(events, 1).message,
      new RegExp(`${DEFAULT_MAX_SIGNATURE_BYTES + 1} bytes`),
    );
    assert.equal(signatureEvent(events, 2).body.length, DEFAULT_MAX_SIGNATURE_BYTES);
  });

  it('rejects, never truncates, a file holding more than its stat() size', async () => {
    // /proc files report size 0 but hold more: like a file that grew after stat().
    const dir = await storeDir({ 2: VALID });
    await symlink('/proc/self/status', join(dir, `sha256=${HEX}`, 'signature-1'));
    const events = await collect(new FileSignatureStore(dir, { maxSignatureBytes: 16 }));
    assert.deepEqual(summary(events), [
      'error:1:STORE_OVERSIZE',
      'error:2:STORE_OVERSIZE',
      'end:not-found',
    ]);
  });

  it('honours maxSignatureBytes', async () => {
    const dir = await storeDir({ 1: new Uint8Array(11), 2: new Uint8Array(10).fill(1) });
    const events = await collect(new FileSignatureStore(dir, { maxSignatureBytes: 10 }));
    assert.deepEqual(summary(events), ['error:1:STORE_OVERSIZE', 'signature:2', 'end:not-found']);
    assert.equal(signatureEvent(events, 2).body.length, 10);
  });

  it('reports a directory in place of a file as an error event and goes on', async () => {
    const dir = await storeDir({ 1: 'dir', 2: VALID });
    const events = await collect(new FileSignatureStore(dir));
    assert.deepEqual(summary(events), ['error:1:STORE_ERROR', 'signature:2', 'end:not-found']);
    assert.match(errorEvent(events, 1).message, /not a regular file/);
  });

  it(
    'reports a named pipe in place of a file as an error event instead of blocking',
    HANG_GUARD,
    async () => {
      const dir = await storeDir({ 2: VALID });
      const fifo = join(dir, `sha256=${HEX}`, 'signature-1');
      await run('mkfifo', [fifo]);
      cleanups.push(async () => {
        // Should open() ever block on the pipe again, give it a writer so the process can exit.
        await open(fifo, constants.O_WRONLY | constants.O_NONBLOCK).then(
          (handle) => handle.close(),
          () => undefined,
        );
      });
      const events = await collect(new FileSignatureStore(dir));
      assert.deepEqual(summary(events), ['error:1:STORE_ERROR', 'signature:2', 'end:not-found']);
    },
  );

  it('stops with end "aborted" once the signal is aborted', async () => {
    const dir = await storeDir({ 1: VALID, 2: VALID });
    const controller = new AbortController();
    const events: StoreEvent[] = [];
    for await (const event of new FileSignatureStore(dir).signatures(DIGEST, controller.signal)) {
      events.push(event);
      controller.abort();
    }
    assert.deepEqual(summary(events), ['signature:1', 'end:aborted']);
  });

  it('verifies end to end from a good signature after faulty files, and never from faulty ones alone', async () => {
    const faulty = await storeDir({
      1: 'dir',
      2: new Uint8Array(DEFAULT_MAX_SIGNATURE_BYTES + 1),
      3: OTHER,
    });
    const bad = await verifier([new FileSignatureStore(faulty)]).verify(DIGEST);
    assert.equal(bad.verified, false);
    assert.deepEqual(
      bad.stores[0]?.errors.map((e) => e.code),
      ['STORE_ERROR', 'STORE_OVERSIZE'],
    );

    const good = await storeDir({
      1: 'dir',
      2: new Uint8Array(DEFAULT_MAX_SIGNATURE_BYTES + 1),
      3: VALID,
    });
    const result = await verifier([new FileSignatureStore(good)]).verify(DIGEST);
    assert.equal(result.verified, true, result.details.join('\n'));
    const [winner] = verifiedEvidence(result);
    assert.equal(winner?.index, 3);
    assert.equal(winner.location, join(good, `sha256=${HEX}`, 'signature-3'));
  });
});

// ---------------------------------------------------------------------------------------------

describe('GpgReleaseVerifier on store faults', () => {
  interface Fault {
    readonly name: string;
    /** What signature-1 does; `extra` routes support it. */
    readonly route: Uint8Array | Route;
    readonly extra?: Record<string, Route>;
    /** The store error reported for signature-1, or null when signature-1 is read but rejected or skipped. */
    readonly code: VerifyErrorCode | null;
  }

  const faults: Fault[] = [
    { name: 'HTTP 500', route: status(500), code: 'STORE_ERROR' },
    { name: 'HTTP 403', route: status(403), code: 'STORE_ERROR' },
    { name: 'an empty body', route: new Uint8Array(), code: null },
    {
      name: 'an oversized body with content-length',
      route: new Uint8Array(DEFAULT_MAX_SIGNATURE_BYTES + 1),
      code: 'STORE_OVERSIZE',
    },
    { name: 'an oversized chunked body', route: endless, code: 'STORE_OVERSIZE' },
    { name: 'no answer', route: hang, code: 'STORE_TIMEOUT' },
    { name: 'a body trickling forever', route: trickle, code: 'STORE_TIMEOUT' },
    {
      name: 'a redirect loop',
      route: redirect(302, '/loop'),
      extra: { '/loop': redirect(302, '/loop') },
      code: 'STORE_REDIRECT',
    },
    {
      name: 'a redirect to file:///etc/passwd',
      route: redirect(302, 'file:///etc/passwd'),
      code: 'STORE_REDIRECT',
    },
    { name: 'a redirect without Location', route: redirect(301), code: 'STORE_REDIRECT' },
    { name: 'a connection reset', route: reset, code: 'STORE_ERROR' },
    { name: 'a connection reset mid-body', route: resetMidBody, code: 'STORE_ERROR' },
    {
      name: 'a corrupt signature',
      route: new TextEncoder().encode('not an OpenPGP message'),
      code: null,
    },
    {
      name: 'a good signature for another digest',
      // A getter: OTHER is only made by GnuPG in the top-level before hook.
      get route() {
        return OTHER;
      },
      code: null,
    },
  ];

  function install(server: StoreServer, fault: Fault): void {
    server.routes.set(sigPath(1), fault.route);
    for (const [path, route] of Object.entries(fault.extra ?? {})) server.routes.set(path, route);
  }

  for (const fault of faults) {
    describe(`signature-1 is ${fault.name}`, () => {
      it('is not verified when nothing else is there', HANG_GUARD, async () => {
        const server = await startServer();
        install(server, fault);
        const store = new HttpSignatureStore(`${server.url}/sigs`, {
          requestTimeoutMs: SHORT_TIMEOUT_MS,
        });
        const result = await verifier([store]).verify(DIGEST);
        assert.equal(result.verified, false);
        assert.notEqual(result.code, undefined);
        assert.deepEqual(verifiedEvidence(result), []);
        assert.deepEqual(result.signatures, []);
        assert.equal(result.checks[0]?.verified, false);
        const report = result.stores[0]!;
        assert.deepEqual(
          report.errors.map((e) => e.code),
          fault.code === null ? [] : [fault.code],
        );
        assert.equal(report.end?.reason, 'not-found');
        assert.ok(server.requests.includes(sigPath(2)), 'the store went on to signature-2');
      });

      it(
        'is verified from a valid signature-2, with evidence naming signature-2',
        HANG_GUARD,
        async () => {
          const server = await startServer();
          install(server, fault);
          server.routes.set(sigPath(2), VALID);
          const store = new HttpSignatureStore(`${server.url}/sigs`, {
            requestTimeoutMs: SHORT_TIMEOUT_MS,
          });
          const result = await verifier([store]).verify(DIGEST);
          assert.equal(result.verified, true, result.details.join('\n'));
          const evidence = verifiedEvidence(result);
          assert.equal(evidence.length, 1);
          assert.equal(evidence[0]?.index, 2);
          assert.equal(evidence[0].location, store.signatureUrl(DIGEST, 2).href);
          assert.match(result.checks[0]?.reason ?? '', /signature-2/);
          assert.deepEqual(result.signatures, [VALID]);
          if (fault.code !== null) assert.equal(result.stores[0]?.errors[0]?.code, fault.code);
        },
      );
    });
  }

  it('is not verified from a valid signature-2 behind a 404 on signature-1', async () => {
    const server = await startServer();
    server.routes.set(sigPath(2), VALID);
    const result = await verifier([new HttpSignatureStore(`${server.url}/sigs`)]).verify(DIGEST);
    assert.equal(result.verified, false);
    assert.equal(result.code, 'NOT_SIGNED');
    assert.deepEqual(server.requests, [sigPath(1)]);
  });

  it('gives up at the overall budget when a store hangs', HANG_GUARD, async () => {
    const server = await startServer();
    server.routes.set(sigPath(1), hang);
    // The per-request timeout is far beyond the budget: only the budget can end this.
    const store = new HttpSignatureStore(`${server.url}/sigs`, { requestTimeoutMs: 60_000 });
    const [result, ms] = await timed(() => verifier([store], { budgetMs: 300 }).verify(DIGEST));
    assert.equal(result.verified, false);
    assert.ok(ms < 3_000, `took ${Math.round(ms)} ms`);
    assert.ok(
      result.details.includes('verification budget of 300 ms exhausted'),
      result.details.join('\n'),
    );
    assert.equal(result.stores[0]?.end?.reason, 'aborted');
    assert.deepEqual(server.requests, [sigPath(1)]);
  });

  it(
    'gives up at the overall budget in serial mode too, without reading later stores',
    HANG_GUARD,
    async () => {
      const hanging = await startServer();
      hanging.routes.set(sigPath(1), hang);
      const good = await startServer();
      good.publish(DIGEST, [VALID]);
      const stores = [
        new HttpSignatureStore(`${hanging.url}/sigs`, { requestTimeoutMs: 60_000 }),
        new HttpSignatureStore(`${good.url}/sigs`),
      ];
      const [result, ms] = await timed(() =>
        verifier(stores, { budgetMs: 300, mode: 'serial' }).verify(DIGEST),
      );
      assert.equal(result.verified, false);
      assert.ok(ms < 3_000, `took ${Math.round(ms)} ms`);
      assert.deepEqual(good.requests, []);
    },
  );

  it('stops when the caller aborts', HANG_GUARD, async () => {
    const server = await startServer();
    server.routes.set(sigPath(1), hang);
    const store = new HttpSignatureStore(`${server.url}/sigs`, { requestTimeoutMs: 60_000 });
    const [result, ms] = await timed(() =>
      verifier([store]).verify(DIGEST, AbortSignal.timeout(200)),
    );
    assert.equal(result.verified, false);
    assert.ok(ms < 3_000, `took ${Math.round(ms)} ms`);
    assert.ok(result.details.includes('verification was cancelled'), result.details.join('\n'));
    assert.equal(result.stores[0]?.end?.reason, 'aborted');
  });

  it(
    'verifies quickly from one of two parallel stores while the other hangs, aborting the hanging one',
    HANG_GUARD,
    async () => {
      const hanging = await startServer();
      for (let i = 1; i <= DEFAULT_MAX_SIGNATURES; i++) hanging.routes.set(sigPath(i), hang);
      const good = await startServer();
      good.publish(DIGEST, [VALID]);
      const slow = new HttpSignatureStore(`${hanging.url}/sigs`, { requestTimeoutMs: 60_000 });
      const fast = new HttpSignatureStore(`${good.url}/sigs`);
      const [result, ms] = await timed(() => verifier([slow, fast]).verify(DIGEST));
      assert.equal(result.verified, true, result.details.join('\n'));
      assert.ok(ms < 3_000, `took ${Math.round(ms)} ms`);
      const slowReport = result.stores.find((r) => r.store === slow.describe());
      assert.equal(slowReport?.end?.reason, 'aborted');
      assert.deepEqual(slowReport.errors, []);
      assert.deepEqual(hanging.requests, [sigPath(1)]);
      const [winner] = verifiedEvidence(result);
      assert.equal(winner?.store, fast.describe());
      assert.equal(winner.location, fast.signatureUrl(DIGEST, 1).href);
    },
  );
});
