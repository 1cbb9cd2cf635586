import { request } from 'undici';
import type { Dispatcher } from 'undici';

import { VerifyError } from '../errors.js';
import { sanitizeServerText } from './headers.js';
import { Semaphore } from './semaphore.js';
import { assertTransportAllowed } from './transport.js';

/** Error bodies are read only for their distribution error codes; the rest is dropped. */
export const MAX_ERROR_BODY_BYTES = 64 * 1024;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/**
 * Connection failures worth another attempt. TLS and name-resolution failures are not: they
 * fail the same way again.
 */
const RETRYABLE_NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

type ResponseHeaders = Dispatcher.ResponseData['headers'];

/** One HTTP response, its body read in full (within its limit). */
export interface HttpExchange {
  /** The URL that answered (after redirects). */
  readonly url: URL;
  readonly status: number;
  readonly headers: ResponseHeaders;
  readonly body: Uint8Array;
}

export interface ExchangeRequest {
  readonly url: URL;
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * Sent to `url`'s origin only: dropped when a redirect leads elsewhere (blob storage), as
   * registry credentials and tokens must not reach third parties.
   */
  readonly authorization?: string | undefined;
  /** Limit of a 2xx body; larger bodies are rejected (OVERSIZE), never truncated. */
  readonly maxBytes: number;
  /** Follow redirects (blobs are commonly served from storage elsewhere). */
  readonly followRedirects: boolean;
  /** Short description for messages, e.g. `manifest quay.io/a/b:tag`. */
  readonly what: string;
  /**
   * Streams a 2xx body to this consumer (within `maxBytes`, while the request's permit and
   * timeout hold) instead of reading it into `body`, which is then empty. Called afresh for
   * each attempt; what it throws is passed through unchanged.
   */
  readonly consume?: (chunks: AsyncIterable<Uint8Array>) => Promise<void>;
}

/** Wraps what a body consumer throws, so transport errors and its own are told apart. */
class ConsumerError extends Error {
  override readonly name = 'ConsumerError';
}

export interface HttpTransportOptions {
  readonly dispatcher: Dispatcher;
  readonly maxConcurrentRequests: number;
  readonly requestTimeoutMs: number;
  readonly maxRedirects: number;
  readonly insecureRegistries: readonly string[];
}

/** First value of a response header. */
export function headerValue(headers: ResponseHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** A URL as it may appear in messages: no query (pre-signed storage URLs carry signatures). */
export function describeUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/**
 * Performs single GETs: a permit of the client's semaphore is held from sending the request to
 * the end of reading the body, and the per-request timeout starts once the permit is held.
 */
export class HttpTransport {
  private readonly semaphore: Semaphore;
  private readonly options: HttpTransportOptions;

  constructor(options: HttpTransportOptions) {
    this.options = options;
    this.semaphore = new Semaphore(options.maxConcurrentRequests);
  }

  async get(req: ExchangeRequest, outer: AbortSignal): Promise<HttpExchange> {
    let release: () => void;
    try {
      release = await this.semaphore.acquire(outer);
    } catch (err) {
      throw new VerifyError('ABORTED', `${req.what}: aborted`, { cause: err });
    }
    // One controller per request, its timer cleared and its listener on `outer` removed when
    // the request ends: AbortSignal.timeout's timers fire (and abort, building a DOMException)
    // long after every request that finished, and AbortSignal.any keeps a composite per request.
    const controller = new AbortController();
    const timer = setTimeout(() => {
      controller.abort(new DOMException('request timed out', 'TimeoutError'));
    }, this.options.requestTimeoutMs);
    timer.unref();
    const onAbort = (): void => {
      controller.abort(outer.reason);
    };
    if (outer.aborted) onAbort();
    else outer.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.follow(req, controller.signal);
    } catch (err) {
      if (outer.aborted) {
        throw new VerifyError('ABORTED', `${req.what}: aborted`, { cause: err });
      }
      // Not the caller's abort: so the timer's.
      if (controller.signal.aborted) {
        throw new VerifyError(
          'TIMEOUT',
          `${req.what}: no complete response within ${this.options.requestTimeoutMs} ms`,
          { cause: err },
        );
      }
      if (err instanceof ConsumerError) throw err.cause;
      if (err instanceof VerifyError) throw err;
      throw new VerifyError('NETWORK', `${req.what}: ${describeNetworkError(err)}`, {
        cause: err,
        retryable: isRetryableNetworkError(err),
      });
    } finally {
      clearTimeout(timer);
      outer.removeEventListener('abort', onAbort);
      release();
    }
  }

  private async follow(req: ExchangeRequest, signal: AbortSignal): Promise<HttpExchange> {
    const origin = req.url.origin;
    let url = req.url;
    for (let redirects = 0; ; redirects++) {
      const headers: Record<string, string> = { ...req.headers };
      if (req.authorization !== undefined && url.origin === origin) {
        headers.authorization = req.authorization;
      }
      const response = await request(url, {
        method: 'GET',
        headers,
        signal,
        dispatcher: this.options.dispatcher,
      });
      const status = response.statusCode;
      if (req.followRedirects && REDIRECT_STATUSES.has(status)) {
        await response.body.dump();
        const location = headerValue(response.headers, 'location');
        if (location === undefined) {
          throw new VerifyError(
            'REDIRECT',
            `${req.what}: redirect ${status} without a Location header`,
          );
        }
        if (redirects >= this.options.maxRedirects) {
          throw new VerifyError(
            'REDIRECT',
            `${req.what}: more than ${this.options.maxRedirects} redirects`,
          );
        }
        const next = new URL(location, url);
        assertTransportAllowed(next, this.options.insecureRegistries, `${req.what}: redirect`);
        url = next;
        continue;
      }
      const ok = status >= 200 && status < 300;
      if (ok && req.consume !== undefined) {
        const chunks = cappedChunks(response, req.maxBytes, `${req.what} from ${describeUrl(url)}`);
        try {
          await req.consume(chunks);
        } catch (err) {
          // The body's own failures (reset, timeout, oversize) stay transport errors.
          if (err instanceof VerifyError || chunks.failed) throw err;
          throw new ConsumerError('body consumer failed', { cause: err });
        } finally {
          response.body.on('error', () => undefined).destroy();
        }
        return { url, status, headers: response.headers, body: new Uint8Array() };
      }
      const body = ok
        ? await readCapped(response, req.maxBytes, `${req.what} from ${describeUrl(url)}`)
        : await readErrorBody(response);
      return { url, status, headers: response.headers, body };
    }
  }
}

/** Reads a body, rejecting it (before or while streaming) once it exceeds `maxBytes`. */
async function readCapped(
  response: Dispatcher.ResponseData,
  maxBytes: number,
  what: string,
): Promise<Uint8Array> {
  const { body } = response;
  const declared = Number(headerValue(response.headers, 'content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    // Destroying an unread body emits an abort error: without a listener it is uncaught.
    body.on('error', () => undefined).destroy();
    throw new VerifyError('OVERSIZE', `${what}: ${declared} bytes exceed the limit of ${maxBytes}`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBytes) {
      body.on('error', () => undefined).destroy();
      throw new VerifyError('OVERSIZE', `${what}: more than the limit of ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  return new Uint8Array(Buffer.concat(chunks, total));
}

/** A body as capped chunks; `failed` tells whether the body itself (not its reader) failed. */
function cappedChunks(
  response: Dispatcher.ResponseData,
  maxBytes: number,
  what: string,
): AsyncIterable<Uint8Array> & { failed: boolean } {
  const state = { failed: false };
  const iterate = async function* (): AsyncGenerator<Uint8Array> {
    const { body } = response;
    const declared = Number(headerValue(response.headers, 'content-length') ?? NaN);
    if (Number.isFinite(declared) && declared > maxBytes) {
      state.failed = true;
      throw new VerifyError(
        'OVERSIZE',
        `${what}: ${declared} bytes exceed the limit of ${maxBytes}`,
      );
    }
    let total = 0;
    const iterator = (body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    for (;;) {
      let next: IteratorResult<Buffer>;
      try {
        next = await iterator.next();
      } catch (err) {
        state.failed = true;
        throw err;
      }
      if (next.done === true) return;
      total += next.value.length;
      if (total > maxBytes) {
        state.failed = true;
        throw new VerifyError('OVERSIZE', `${what}: more than the limit of ${maxBytes} bytes`);
      }
      yield new Uint8Array(next.value.buffer, next.value.byteOffset, next.value.length);
    }
  };
  return {
    [Symbol.asyncIterator]: iterate,
    get failed() {
      return state.failed;
    },
  };
}

/** The start of an error body (for its error codes); the rest is discarded. */
async function readErrorBody(response: Dispatcher.ResponseData): Promise<Uint8Array> {
  const { body } = response;
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    const room = MAX_ERROR_BODY_BYTES - total;
    chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
    total += Math.min(chunk.length, room);
    if (total >= MAX_ERROR_BODY_BYTES) {
      body.on('error', () => undefined).destroy();
      break;
    }
  }
  return new Uint8Array(Buffer.concat(chunks, total));
}

function isRetryableNetworkError(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== undefined && RETRYABLE_NETWORK_CODES.has(code)) return true;
  }
  return false;
}

function describeNetworkError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code;
  // OpenSSL messages end in a newline and can be long.
  const message = sanitizeServerText(err.message, 300);
  return code !== undefined && !message.includes(code) ? `${message} (${code})` : message;
}
