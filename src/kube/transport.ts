import { Agent, ProxyAgent } from 'undici';
import type { Dispatcher } from 'undici';

import type { Credentials, RequestCredentials, TlsMaterial } from './credentials.js';
import type { KubeConfig } from './kubeconfig.js';

/**
 * How long an idle connection to the API server is kept for the next request. Below the API
 * server's own idle timeout (90 s in k8s.io/apiserver's secure serving) and the 60 s idle
 * timeout of common load balancers in front of it, so the client, not the server, closes an idle
 * connection and a request is never sent on one the server is closing.
 */
export const KUBE_KEEP_ALIVE_MS = 30_000;
/** TCP keep-alive probes start after this long idle (client-go's 30 s). */
const TCP_KEEP_ALIVE_DELAY_MS = 30_000;
const USER_AGENT = 'cvo-update-verifier';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH';

export interface KubeRequest {
  readonly method: HttpMethod;
  /** The API path (`/api/v1/…`), below the server URL's own path. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  /** A JSON document. */
  readonly body?: unknown;
  /** Default application/json. */
  readonly contentType?: string;
  readonly signal?: AbortSignal;
}

export interface KubeResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

/** An answer longer than the caller's limit; its body was not read further. */
export class ResponseTooLargeError extends Error {
  override readonly name = 'ResponseTooLargeError';
  readonly limit: number;
  constructor(limit: number) {
    super(`the API server's answer is larger than ${String(limit)} bytes`);
    this.limit = limit;
  }
}

/**
 * HTTP to one API server as one user. Every request and watch shares one keep-alive undici
 * dispatcher, so a reconcile's calls reuse open connections instead of opening one each; it is
 * rebuilt only when the TLS material changes (a rotated client certificate file, a new
 * certificate from an exec plugin), and the old one closes once its requests (a watch included)
 * are done.
 */
export class KubeTransport {
  readonly server: string;
  private readonly origin: string;
  private readonly prefix: string;
  private shared: { readonly tls: TlsMaterial; readonly dispatcher: Dispatcher } | undefined;
  private readonly config: KubeConfig;
  private readonly credentials: Credentials;

  constructor(config: KubeConfig, credentials: Credentials) {
    this.config = config;
    this.credentials = credentials;
    const url = new URL(config.cluster.server);
    this.server = config.cluster.server;
    this.origin = url.origin;
    this.prefix = url.pathname.replace(/\/+$/, '');
  }

  /** Sends `req` and reads the whole answer, refusing one longer than `maxBytes`. */
  async request(req: KubeRequest, maxBytes: number): Promise<KubeResponse> {
    const res = await this.send(req, false);
    return {
      status: res.statusCode,
      headers: res.headers,
      body: await readLimited(res.body, maxBytes, res.headers['content-length']),
    };
  }

  /** Sends `req` and hands over the answer's body as it streams (a watch): no body timeout. */
  async stream(req: KubeRequest): Promise<Dispatcher.ResponseData> {
    return this.send(req, true);
  }

  /** Closes the shared dispatcher: requests in flight finish, idle connections close. */
  async close(): Promise<void> {
    const shared = this.shared;
    this.shared = undefined;
    await shared?.dispatcher.close();
  }

  private async send(req: KubeRequest, streaming: boolean): Promise<Dispatcher.ResponseData> {
    const query = req.query !== undefined ? `?${new URLSearchParams(req.query).toString()}` : '';
    const body = req.body !== undefined ? JSON.stringify(req.body) : undefined;
    for (let attempt = 0; ; attempt++) {
      const credentials = await this.credentials.get();
      const res = await this.dispatcherFor(credentials.tls).request({
        origin: this.origin,
        path: `${this.prefix}${req.path}${query}`,
        method: req.method,
        headers: requestHeaders(credentials, body !== undefined ? req.contentType : undefined),
        ...(body !== undefined ? { body } : {}),
        ...(req.signal !== undefined ? { signal: req.signal } : {}),
        ...(streaming ? { bodyTimeout: 0 } : {}),
      });
      // An exec plugin's credential the API server no longer accepts (revoked, or expired
      // without saying so): the plugin runs again and the request goes once more.
      if (res.statusCode === 401 && attempt === 0 && this.credentials.invalidate(credentials)) {
        await res.body.dump();
        continue;
      }
      return res;
    }
  }

  private dispatcherFor(tls: TlsMaterial): Dispatcher {
    if (this.shared?.tls === tls) return this.shared.dispatcher;
    const previous = this.shared?.dispatcher;
    const keepAlive = {
      keepAliveTimeout: KUBE_KEEP_ALIVE_MS,
      keepAliveMaxTimeout: KUBE_KEEP_ALIVE_MS,
    };
    const tcp = { keepAlive: true, keepAliveInitialDelay: TCP_KEEP_ALIVE_DELAY_MS };
    const tlsOptions = {
      ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
      ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
      ...(tls.key !== undefined ? { key: tls.key } : {}),
      ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
      rejectUnauthorized: tls.rejectUnauthorized,
    };
    const proxy = this.config.cluster.proxyUrl;
    const dispatcher =
      proxy !== undefined
        ? new ProxyAgent({ uri: proxy, requestTls: tlsOptions, proxyTls: tcp, ...keepAlive })
        : new Agent({ connect: { ...tlsOptions, ...tcp }, ...keepAlive });
    this.shared = { tls, dispatcher };
    // Requests still running on the old settings (a watch) finish on their connections.
    previous?.close().catch(() => undefined);
    return dispatcher;
  }
}

function requestHeaders(
  credentials: RequestCredentials,
  contentType: string | undefined,
): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {
    accept: 'application/json',
    'user-agent': USER_AGENT,
  };
  for (const [name, value] of Object.entries(credentials.headers))
    headers[name] = typeof value === 'string' ? value : [...value];
  if (contentType !== undefined) headers['content-type'] = contentType;
  return headers;
}

/** The whole body, or ResponseTooLargeError once more than `limit` bytes arrived (or are announced). */
async function readLimited(
  body: Dispatcher.ResponseData['body'],
  limit: number,
  contentLength: string | string[] | undefined,
): Promise<Buffer> {
  if (typeof contentLength === 'string' && Number(contentLength) > limit) {
    body.destroy();
    throw new ResponseTooLargeError(limit);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      throw new ResponseTooLargeError(limit);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}
