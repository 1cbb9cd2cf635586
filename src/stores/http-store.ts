import { rootCertificates } from 'node:tls';

import { Agent, EnvHttpProxyAgent, request } from 'undici';
import type { Dispatcher } from 'undici';

import { VerifyError } from '../errors.js';
import { toStoreDigestPath } from '../image/pullspec.js';
import { DEFAULT_MAX_SIGNATURE_BYTES, DEFAULT_MAX_SIGNATURES } from './store.js';
import type { SignatureStore, StoreEvent } from './store.js';

/** Time one signature request (headers and body) may take. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** Redirects followed per signature request, to http(s) locations only. */
export const DEFAULT_MAX_REDIRECTS = 5;

export interface HttpStoreOptions {
  readonly dispatcher?: Dispatcher;
  readonly maxSignatures?: number;
  readonly maxSignatureBytes?: number;
  readonly requestTimeoutMs?: number;
  readonly maxRedirects?: number;
}

export interface HttpClientOptions {
  /** PEM CA certificates trusted for HTTPS stores in addition to the system's. */
  readonly extraCa?: string;
  readonly httpProxy?: string;
  readonly httpsProxy?: string;
  readonly noProxy?: string;
}

/**
 * One keep-alive connection pool for every HTTP store. Proxies come from the options (the
 * composition root reads HTTPS_PROXY / HTTP_PROXY / NO_PROXY); an extra CA bundle is added to the
 * system roots for origin and proxy TLS alike.
 */
export function createHttpDispatcher(options: HttpClientOptions = {}): Dispatcher {
  const tls =
    options.extraCa !== undefined ? { ca: [...tlsRootCertificates(), options.extraCa] } : {};
  const pool = { keepAliveTimeout: 10_000, connections: 16 };
  if (options.httpProxy === undefined && options.httpsProxy === undefined) {
    return new Agent({ ...pool, connect: tls });
  }
  return new EnvHttpProxyAgent({
    ...pool,
    connect: tls,
    requestTls: tls,
    proxyTls: tls,
    ...(options.httpProxy !== undefined ? { httpProxy: options.httpProxy } : {}),
    ...(options.httpsProxy !== undefined ? { httpsProxy: options.httpsProxy } : {}),
    noProxy: options.noProxy ?? '',
  });
}

function tlsRootCertificates(): string[] {
  return [...rootCertificates];
}

/**
 * A URL for messages, evidence, logs and metrics: any `user:password@` is replaced by `***@`.
 * Store URLs may carry credentials (Go's net/http sends them as Basic auth); they are secrets.
 */
export function redactUrl(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Not a URL: hide everything between `//` and the last `@` (a password may hold `/` or `@`).
    const text = String(url);
    const start = text.indexOf('//');
    const at = text.lastIndexOf('@');
    return start !== -1 && at > start ? `${text.slice(0, start + 2)}***${text.slice(at)}` : text;
  }
  if (parsed.username === '' && parsed.password === '') return parsed.href;
  parsed.username = '';
  parsed.password = '';
  return parsed.href.replace('//', '//***@');
}

type FetchResult =
  { readonly kind: 'ok'; readonly body: Uint8Array } | { readonly kind: 'not-found' };

/**
 * A signature store served over HTTP(S): `<base>/sha256=<hex>/signature-N` for N = 1..max.
 * library-go semantics: a 404 ends the store, any other failure moves on to N+1, empty bodies
 * are skipped. Stricter: oversized bodies are rejected, not truncated; redirects are bounded and
 * may only lead to http(s) URLs.
 */
export class HttpSignatureStore implements SignatureStore {
  /** The base without credentials: every location built from it is safe to print. */
  private readonly base: URL;
  /** `Basic …` from the URL's userinfo, sent with the first request of each signature only. */
  private readonly authorization: string | undefined;
  private readonly dispatcher: Dispatcher | undefined;
  private readonly maxSignatures: number;
  private readonly maxSignatureBytes: number;
  private readonly requestTimeoutMs: number;
  private readonly maxRedirects: number;

  constructor(base: string | URL, options: HttpStoreOptions = {}) {
    const url = new URL(base);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new VerifyError(
        'INVALID_STORE',
        `signature store ${redactUrl(url)} must be an http:// or https:// URL`,
      );
    }
    // As Go's net/http: userinfo becomes Basic auth (percent-decoded) on the request to this
    // URL; redirects are not given it.
    this.authorization =
      url.username !== '' || url.password !== ''
        ? `Basic ${Buffer.from(
            `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`,
          ).toString('base64')}`
        : undefined;
    url.username = '';
    url.password = '';
    this.base = url;
    this.dispatcher = options.dispatcher;
    this.maxSignatures = options.maxSignatures ?? DEFAULT_MAX_SIGNATURES;
    this.maxSignatureBytes = options.maxSignatureBytes ?? DEFAULT_MAX_SIGNATURE_BYTES;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  }

  describe(): string {
    return this.authorization !== undefined
      ? this.base.href.replace('//', '//***@')
      : this.base.href;
  }

  signatureUrl(digest: string, index: number): URL {
    const url = new URL(this.base.href);
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/${toStoreDigestPath(digest)}/signature-${index}`;
    return url;
  }

  async *signatures(digest: string, signal: AbortSignal): AsyncIterable<StoreEvent> {
    for (let index = 1; index <= this.maxSignatures; index++) {
      if (signal.aborted) {
        yield { kind: 'end', reason: 'aborted', detail: 'stopped' };
        return;
      }
      const location = this.signatureUrl(digest, index).href;
      let result: FetchResult;
      try {
        result = await this.fetchSignature(location, signal);
      } catch (err) {
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- it may abort during the await
        if (signal.aborted) {
          yield { kind: 'end', reason: 'aborted', detail: 'stopped' };
          return;
        }
        const error =
          err instanceof VerifyError
            ? err
            : new VerifyError(
                'STORE_ERROR',
                `unable to retrieve signature from ${location}: ${describeNetworkError(err)}`,
                { cause: err },
              );
        yield { kind: 'error', location, index, error };
        continue;
      }
      if (result.kind === 'not-found') {
        yield { kind: 'end', reason: 'not-found', detail: `${location}: 404 Not Found` };
        return;
      }
      if (result.body.length === 0) continue;
      yield { kind: 'signature', location, index, body: result.body };
    }
    yield {
      kind: 'end',
      reason: 'limit',
      detail: `read the maximum of ${this.maxSignatures} signatures`,
    };
  }

  private async fetchSignature(location: string, outer: AbortSignal): Promise<FetchResult> {
    const timeout = AbortSignal.timeout(this.requestTimeoutMs);
    const signal = AbortSignal.any([outer, timeout]);
    let url = new URL(location);
    try {
      for (let redirects = 0; ; redirects++) {
        const response = await request(url, {
          method: 'GET',
          signal,
          headers: {
            accept: 'application/pgp-signature, application/octet-stream, */*',
            ...(redirects === 0 && this.authorization !== undefined
              ? { authorization: this.authorization }
              : {}),
          },
          ...(this.dispatcher !== undefined ? { dispatcher: this.dispatcher } : {}),
        });
        const status = response.statusCode;
        if ([301, 302, 303, 307, 308].includes(status)) {
          await response.body.dump();
          const target = response.headers.location;
          if (typeof target !== 'string')
            throw storeError(
              'STORE_REDIRECT',
              location,
              `redirect ${status} without a Location header`,
            );
          if (redirects >= this.maxRedirects)
            throw storeError(
              'STORE_REDIRECT',
              location,
              `more than ${this.maxRedirects} redirects`,
            );
          const next = new URL(target, url);
          if (next.protocol !== 'http:' && next.protocol !== 'https:') {
            throw storeError(
              'STORE_REDIRECT',
              location,
              `redirect to unsupported scheme ${next.protocol}`,
            );
          }
          url = next;
          continue;
        }
        if (status === 404) {
          await response.body.dump();
          return { kind: 'not-found' };
        }
        if (status < 200 || status >= 300) {
          await response.body.dump();
          throw storeError('STORE_ERROR', location, `response status ${status}`);
        }
        const declared = Number(response.headers['content-length'] ?? NaN);
        if (Number.isFinite(declared) && declared > this.maxSignatureBytes) {
          // Destroying an unread body emits an abort error: without a listener it is uncaught.
          response.body.on('error', () => undefined).destroy();
          throw storeError(
            'STORE_OVERSIZE',
            location,
            `signature of ${declared} bytes exceeds the limit of ${this.maxSignatureBytes}`,
          );
        }
        return { kind: 'ok', body: await this.readLimited(response.body, location) };
      }
    } catch (err) {
      if (timeout.aborted && !outer.aborted) {
        throw storeError(
          'STORE_TIMEOUT',
          location,
          `timed out after ${this.requestTimeoutMs} ms`,
          err,
        );
      }
      throw err;
    }
  }

  private async readLimited(
    body: Dispatcher.ResponseData['body'],
    location: string,
  ): Promise<Uint8Array> {
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > this.maxSignatureBytes) {
        body.destroy();
        throw storeError(
          'STORE_OVERSIZE',
          location,
          `signature exceeds the limit of ${this.maxSignatureBytes} bytes`,
        );
      }
      chunks.push(chunk);
    }
    return new Uint8Array(Buffer.concat(chunks, total));
  }
}

function storeError(
  code: 'STORE_ERROR' | 'STORE_OVERSIZE' | 'STORE_TIMEOUT' | 'STORE_REDIRECT',
  location: string,
  reason: string,
  cause?: unknown,
): VerifyError {
  return new VerifyError(
    code,
    `unable to retrieve signature from ${location}: ${reason}`,
    cause === undefined ? {} : { cause },
  );
}

function describeNetworkError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code;
  return code !== undefined && !err.message.includes(code)
    ? `${err.message} (${code})`
    : err.message;
}
