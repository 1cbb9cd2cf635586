import { createHash } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';

import pRetry from 'p-retry';
import { Agent } from 'undici';
import type { Dispatcher } from 'undici';

import { parseDigest } from '../image/pullspec.js';
import { RegistryAuth } from './auth.js';
import type { AuthTarget } from './auth.js';
import type { RegistryCredentials } from './credentials.js';
import { isVerifyError, VerifyError } from '../errors.js';
import {
  DEFAULT_MAX_RETRY_AFTER_MS,
  parseErrorBody,
  parseRetryAfter,
  sanitizeServerText,
} from './headers.js';
import { describeUrl, headerValue, HttpTransport } from './http.js';
import type { ExchangeRequest, HttpExchange } from './http.js';
import {
  computeDigest,
  DEFAULT_MAX_INDEX_MANIFESTS,
  DEFAULT_MAX_LAYERS,
  MANIFEST_MEDIA_TYPES,
  OCI_INDEX,
  parseManifest,
  toReferrersTag,
  verifyDigest,
} from './manifest.js';
import type { Descriptor, ImageIndex, Manifest, ManifestLimits } from './manifest.js';
import { canonicalRegistryHost, registryBaseUrl } from './transport.js';

/** containers/image's limit for manifests. */
export const DEFAULT_MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** containers/image's limit for signature blobs (cosign payloads are a few hundred bytes). */
export const DEFAULT_MAX_BLOB_BYTES = 4 * 1024 * 1024;
/** Requests one client keeps in flight; a verification needs a handful at a time. */
export const DEFAULT_MAX_CONCURRENT_REQUESTS = 4;
/** Time one request (waiting for a permit excluded) may take, headers and body. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** Redirects followed per request (blob storage, CDN), to http(s) only. */
export const DEFAULT_MAX_REDIRECTS = 5;
/** Further attempts after a 429, a 5xx or a connection failure. */
export const DEFAULT_RETRIES = 3;
/** First backoff delay (randomized ×1–2, doubling) and its ceiling. */
export const DEFAULT_MIN_RETRY_DELAY_MS = 200;
export const DEFAULT_MAX_RETRY_DELAY_MS = 2_000;
/** Idle keep-alive connections are closed after this. */
const KEEP_ALIVE_TIMEOUT_MS = 10_000;

/** Registry error codes that mean "there is no such manifest/repository" (distribution spec). */
const NOT_FOUND_CODES = new Set(['MANIFEST_UNKNOWN', 'NAME_UNKNOWN']);
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;

/** A repository: `host` as in a pullspec (`quay.io`, `docker.io`, `127.0.0.1:5000`), `path` below it. */
export interface RegistryRepository {
  readonly host: string;
  readonly path: string;
}

export interface RegistryClientOptions {
  /** Credentials by registry (see `loadDockerConfig`); anonymous where none match. */
  readonly credentials?: RegistryCredentials;
  /** Hosts (`name` or `name:port`) that may be spoken to over plain HTTP besides loopback. */
  readonly insecureRegistries?: readonly string[];
  /** A dispatcher to use (proxies, shared pools); not closed by `close()`. */
  readonly dispatcher?: Dispatcher;
  /** A dispatcher made for this client alone (see RegistryClientPool): closed by `close()`. */
  readonly ownedDispatcher?: Dispatcher;
  /** PEM CA certificates trusted in addition to the system's (own dispatcher only). */
  readonly extraCa?: string;
  readonly maxManifestBytes?: number;
  readonly maxBlobBytes?: number;
  readonly maxLayers?: number;
  readonly maxIndexManifests?: number;
  readonly maxConcurrentRequests?: number;
  readonly requestTimeoutMs?: number;
  readonly maxRedirects?: number;
  readonly retries?: number;
  readonly minRetryDelayMs?: number;
  readonly maxRetryDelayMs?: number;
  /** Retry-After values are capped at this. */
  readonly maxRetryAfterMs?: number;
  /** Clock for token expiry and Retry-After dates. */
  readonly now?: () => number;
}

export interface RequestOptions {
  readonly signal: AbortSignal;
}

export interface GetManifestOptions extends RequestOptions {
  /** Media types to accept (default: OCI and Docker manifests and indexes). */
  readonly accept?: readonly string[];
  /** Overrides the client's layer limit for this manifest. */
  readonly maxLayers?: number;
}

export interface GetBlobOptions extends RequestOptions {
  /** Overrides the client's blob size limit for this blob. */
  readonly maxBytes?: number;
}

export interface GetReferrersOptions extends RequestOptions {
  /** Only referrers of this artifact type (filtered here too, whatever the registry did). */
  readonly artifactType?: string;
}

/** A manifest and the digest of its exact bytes. */
export interface FoundManifest {
  readonly status: 'found';
  readonly digest: string;
  readonly mediaType: Manifest['mediaType'];
  readonly bytes: Uint8Array;
  readonly manifest: Manifest;
  readonly location: string;
}

/** No such tag, manifest or repository: for cosign, "unsigned", not a failure. */
export interface ManifestNotFound {
  readonly status: 'not-found';
  readonly location: string;
  readonly detail: string;
}

export type ManifestResult = FoundManifest | ManifestNotFound;

export interface ReferrersResult {
  /** `api`: the OCI 1.1 referrers endpoint; `tag`: the `sha256-<hex>` tag fallback. */
  readonly source: 'api' | 'tag';
  readonly referrers: readonly Descriptor[];
}

/** A registry host as requests address it (its base URL is only ever read, never changed). */
interface RegistryTarget {
  readonly base: URL;
  readonly origin: string;
  readonly canonical: string;
}

/** Hosts whose base URL a client keeps; a release names a few, a hostile one may name many. */
const MAX_KNOWN_REGISTRIES = 256;

interface RepoTarget extends AuthTarget {
  readonly base: URL;
  readonly display: string;
}

/**
 * A read-only OCI distribution client: manifests, blobs and referrers, with authentication,
 * limits and retries. One client holds one keep-alive connection pool and bounds its requests
 * in flight; call `close()` when done.
 *
 * Fails closed: content fetched by digest must hash to it, bodies over their limit are rejected
 * while streaming, manifests with too many layers are rejected. 429 and 5xx are retried with
 * backoff (honouring Retry-After, capped); other 4xx are not.
 */
export class RegistryClient {
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly transport: HttpTransport;
  private readonly auth: RegistryAuth;
  private readonly insecureRegistries: readonly string[];
  private readonly maxManifestBytes: number;
  private readonly maxBlobBytes: number;
  private readonly limits: ManifestLimits;
  private readonly retries: number;
  private readonly minRetryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly now: () => number;
  private readonly registries = new Map<string, RegistryTarget>();

  constructor(options: RegistryClientOptions = {}) {
    const maxConcurrentRequests = options.maxConcurrentRequests ?? DEFAULT_MAX_CONCURRENT_REQUESTS;
    this.ownsDispatcher = options.dispatcher === undefined;
    this.dispatcher =
      options.dispatcher ??
      options.ownedDispatcher ??
      new Agent({
        keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
        connections: maxConcurrentRequests,
        connect:
          options.extraCa !== undefined ? { ca: [...rootCertificates, options.extraCa] } : {},
      });
    this.insecureRegistries = options.insecureRegistries ?? [];
    this.maxManifestBytes = options.maxManifestBytes ?? DEFAULT_MAX_MANIFEST_BYTES;
    this.maxBlobBytes = options.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES;
    this.limits = {
      maxLayers: options.maxLayers ?? DEFAULT_MAX_LAYERS,
      maxIndexManifests: options.maxIndexManifests ?? DEFAULT_MAX_INDEX_MANIFESTS,
    };
    this.retries = options.retries ?? DEFAULT_RETRIES;
    this.minRetryDelayMs = options.minRetryDelayMs ?? DEFAULT_MIN_RETRY_DELAY_MS;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? DEFAULT_MAX_RETRY_DELAY_MS;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS;
    this.now = options.now ?? Date.now;
    this.transport = new HttpTransport({
      dispatcher: this.dispatcher,
      maxConcurrentRequests,
      requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      maxRedirects: options.maxRedirects ?? DEFAULT_MAX_REDIRECTS,
      insecureRegistries: this.insecureRegistries,
    });
    this.auth = new RegistryAuth({
      credentials: options.credentials,
      insecureRegistries: this.insecureRegistries,
      get: (req, signal) => this.getWithRetries(req, signal),
      now: this.now,
    });
  }

  /** Closes the connection pool (unless it was passed in). */
  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  /**
   * Fetches a manifest or index by tag or digest. By digest, the body must hash to it; by tag,
   * the body must match a `Docker-Content-Digest` header when there is one, and `digest` is its
   * sha256. A missing tag, manifest or repository is `status: 'not-found'`.
   */
  async getManifest(
    repository: RegistryRepository,
    reference: string,
    options: GetManifestOptions,
  ): Promise<ManifestResult> {
    const repo = this.target(repository);
    const byDigest = reference.includes(':');
    if (byDigest) this.checkDigest(reference);
    else if (!TAG_RE.test(reference)) {
      throw new VerifyError('INVALID_REFERENCE', `invalid tag ${JSON.stringify(reference)}`);
    }
    const what = `manifest ${repo.display}${byDigest ? '@' : ':'}${reference}`;
    const url = new URL(`v2/${repo.path}/manifests/${reference}`, repo.base);
    const response = await this.getAuthenticated(
      repo,
      {
        url,
        headers: { accept: (options.accept ?? MANIFEST_MEDIA_TYPES).join(', ') },
        maxBytes: this.maxManifestBytes,
        followRedirects: true,
        what,
      },
      options.signal,
    );
    const notFound = notFoundDetail(response);
    if (notFound !== undefined) {
      return { status: 'not-found', location: describeUrl(response.url), detail: notFound };
    }
    if (!isSuccess(response)) this.fail(repo, response, what);

    const body = response.body;
    let digest: string;
    if (byDigest) {
      verifyDigest(body, reference, what);
      digest = reference;
    } else {
      digest = computeDigest(body);
      const announced = headerValue(response.headers, 'docker-content-digest')?.trim();
      // The body is hashed once: a sha256 header is compared with that digest.
      if (announced !== undefined && announced !== digest) {
        this.checkDigest(announced, `${what}: Docker-Content-Digest`);
        verifyDigest(body, announced, `${what} (Docker-Content-Digest)`);
      }
    }
    const limits =
      options.maxLayers !== undefined
        ? { ...this.limits, maxLayers: options.maxLayers }
        : this.limits;
    const manifest = parseManifest(
      body,
      headerValue(response.headers, 'content-type'),
      limits,
      what,
    );
    return {
      status: 'found',
      digest,
      mediaType: manifest.mediaType,
      bytes: body,
      manifest,
      location: describeUrl(response.url),
    };
  }

  /**
   * Fetches a blob by its descriptor's digest and checks the content against the digest (and
   * the size, when given). A descriptor announcing more than the limit is refused unfetched.
   */
  async getBlob(
    repository: RegistryRepository,
    descriptor: { readonly digest: string; readonly size?: number },
    options: GetBlobOptions,
  ): Promise<Uint8Array> {
    const repo = this.target(repository);
    const { digest, size } = descriptor;
    this.checkDigest(digest);
    const what = `blob ${repo.display}@${digest}`;
    const maxBytes = options.maxBytes ?? this.maxBlobBytes;
    if (size !== undefined && size > maxBytes) {
      throw new VerifyError(
        'OVERSIZE',
        `${what}: its descriptor's ${size} bytes exceed the limit of ${maxBytes}`,
      );
    }
    const response = await this.getAuthenticated(
      repo,
      {
        url: new URL(`v2/${repo.path}/blobs/${digest}`, repo.base),
        headers: { accept: '*/*' },
        maxBytes,
        followRedirects: true,
        what,
      },
      options.signal,
    );
    if (response.status === 404) {
      throw new VerifyError('BLOB_NOT_FOUND', `${what}: not found (404)`, { status: 404 });
    }
    if (!isSuccess(response)) this.fail(repo, response, what);
    verifyDigest(response.body, digest, what);
    if (size !== undefined && response.body.length !== size) {
      throw new VerifyError(
        'DIGEST_MISMATCH',
        `${what}: ${response.body.length} bytes, but the descriptor says ${size}`,
      );
    }
    return response.body;
  }

  /**
   * Streams a blob to `consume` instead of reading it into memory (layers): the chunks are hashed
   * as they pass and the last read fails with DIGEST_MISMATCH when the content is not the
   * descriptor's, so a consumer must treat what it made of the chunks as untrusted until this
   * resolves. A consumer that stops before the end is a failure too. Each retry calls `consume`
   * afresh; what it throws is passed through.
   */
  async streamBlob(
    repository: RegistryRepository,
    descriptor: { readonly digest: string; readonly size?: number },
    options: GetBlobOptions & {
      readonly consume: (chunks: AsyncIterable<Uint8Array>) => Promise<void>;
    },
  ): Promise<void> {
    const repo = this.target(repository);
    const { digest, size } = descriptor;
    this.checkDigest(digest);
    const what = `blob ${repo.display}@${digest}`;
    const maxBytes = options.maxBytes ?? this.maxBlobBytes;
    if (size !== undefined && size > maxBytes) {
      throw new VerifyError(
        'OVERSIZE',
        `${what}: its descriptor's ${size} bytes exceed the limit of ${maxBytes}`,
      );
    }
    const [algorithm = '', expected = ''] = digest.split(':');
    const response = await this.getAuthenticated(
      repo,
      {
        url: new URL(`v2/${repo.path}/blobs/${digest}`, repo.base),
        headers: { accept: '*/*' },
        maxBytes,
        followRedirects: true,
        what,
        consume: async (chunks) => {
          const state = { ended: false };
          const verified = async function* (): AsyncGenerator<Uint8Array> {
            const hash = createHash(algorithm);
            let total = 0;
            for await (const chunk of chunks) {
              hash.update(chunk);
              total += chunk.length;
              yield chunk;
            }
            if (hash.digest('hex') !== expected) {
              throw new VerifyError(
                'DIGEST_MISMATCH',
                `${what}: content does not match its digest`,
              );
            }
            if (size !== undefined && total !== size) {
              throw new VerifyError(
                'DIGEST_MISMATCH',
                `${what}: ${total} bytes, but the descriptor says ${size}`,
              );
            }
            state.ended = true;
          };
          await options.consume(verified());
          if (!state.ended) {
            throw new VerifyError(
              'DIGEST_MISMATCH',
              `${what}: not read to the end, so its digest was not checked`,
            );
          }
        },
      },
      options.signal,
    );
    if (response.status === 404) {
      throw new VerifyError('BLOB_NOT_FOUND', `${what}: not found (404)`, { status: 404 });
    }
    if (!isSuccess(response)) this.fail(repo, response, what);
  }

  /**
   * Lists the manifests that refer to `digest` (OCI 1.1): the referrers endpoint, or when it
   * answers 404, the index under the `sha256-<hex>` tag. No such tag means no referrers.
   * Entries are filtered by `artifactType` here as well. The caller still has to check that each
   * referrer's `subject` is `digest` once it fetches it.
   */
  async getReferrers(
    repository: RegistryRepository,
    digest: string,
    options: GetReferrersOptions,
  ): Promise<ReferrersResult> {
    const repo = this.target(repository);
    this.checkDigest(digest);
    const what = `referrers of ${repo.display}@${digest}`;
    const url = new URL(`v2/${repo.path}/referrers/${digest}`, repo.base);
    if (options.artifactType !== undefined) {
      url.searchParams.set('artifactType', options.artifactType);
    }
    const response = await this.getAuthenticated(
      repo,
      {
        url,
        headers: { accept: OCI_INDEX },
        maxBytes: this.maxManifestBytes,
        followRedirects: true,
        what,
      },
      options.signal,
    );
    const filter = (index: ImageIndex): Descriptor[] =>
      index.manifests.filter(
        (entry) =>
          options.artifactType === undefined || entry.artifactType === options.artifactType,
      );

    if (response.status === 404) {
      const fallback = await this.getManifest(repository, toReferrersTag(digest), {
        signal: options.signal,
        accept: [OCI_INDEX],
      });
      if (fallback.status === 'not-found') return { source: 'tag', referrers: [] };
      if (fallback.manifest.kind !== 'index') {
        throw new VerifyError(
          'INVALID_RESPONSE',
          `${what}: the referrers tag ${toReferrersTag(digest)} holds an image manifest, not an index`,
        );
      }
      return { source: 'tag', referrers: filter(fallback.manifest) };
    }
    if (!isSuccess(response)) this.fail(repo, response, what);
    const index = parseManifest(
      response.body,
      headerValue(response.headers, 'content-type'),
      this.limits,
      what,
    );
    if (index.kind !== 'index') {
      throw new VerifyError('INVALID_RESPONSE', `${what}: the response is not an index`);
    }
    return { source: 'api', referrers: filter(index) };
  }

  private target(repository: RegistryRepository): RepoTarget {
    const { host, path } = repository;
    if (path === '' || !path.split('/').every((c) => PATH_COMPONENT_RE.test(c))) {
      throw new VerifyError('INVALID_REFERENCE', `invalid repository path ${JSON.stringify(path)}`);
    }
    const { base, origin, canonical } = this.registry(host);
    return { origin, host: canonical, path, base, display: `${host}/${path}` };
  }

  /** A host's base URL (parsed once per host: every request of a payload names the same few). */
  private registry(host: string): RegistryTarget {
    let known = this.registries.get(host);
    if (known === undefined) {
      const base = registryBaseUrl(host, this.insecureRegistries);
      known = { base, origin: base.origin, canonical: canonicalRegistryHost(host) };
      if (this.registries.size >= MAX_KNOWN_REGISTRIES) this.registries.clear();
      this.registries.set(host, known);
    }
    return known;
  }

  private checkDigest(digest: string, what = 'digest'): void {
    try {
      parseDigest(digest);
    } catch (err) {
      throw new VerifyError(
        'INVALID_REFERENCE',
        `${what}: invalid digest ${JSON.stringify(digest)}`,
        {
          cause: err,
        },
      );
    }
  }

  /**
   * One GET with authentication: anonymous (or with what the origin asked for before); after a
   * 401 once more with an answer to its challenge. The response is returned whatever its status
   * (except 429/5xx, retried and then thrown).
   */
  private async getAuthenticated(
    repo: RepoTarget,
    req: Omit<ExchangeRequest, 'authorization'>,
    signal: AbortSignal,
  ): Promise<HttpExchange> {
    let authorization = await this.auth.authorization(repo, signal);
    for (let round = 0; ; round++) {
      const response = await this.getWithRetries({ ...req, authorization }, signal);
      if (response.status !== 401) return response;
      if (authorization !== undefined) this.auth.forget(authorization);
      if (round >= 1) return response;
      if (!this.auth.learn(repo.origin, headerValue(response.headers, 'www-authenticate'))) {
        return response;
      }
      const next = await this.auth.authorization(repo, signal);
      if (next === undefined) return response;
      authorization = next;
    }
  }

  /** One GET, retried with backoff on 429, 5xx and connection failures. */
  private async getWithRetries(req: ExchangeRequest, signal: AbortSignal): Promise<HttpExchange> {
    let attempts = 0;
    try {
      return await pRetry(
        async () => {
          attempts++;
          const response = await this.transport.get(req, signal);
          if (response.status === 429 || response.status >= 500) {
            const retryAfterMs = parseRetryAfter(
              headerValue(response.headers, 'retry-after'),
              this.now(),
              this.maxRetryAfterMs,
            );
            throw new VerifyError(
              'HTTP_STATUS',
              `${req.what}: ${describeUrl(response.url)} answered ${response.status}${errorSummary(response)}`,
              {
                status: response.status,
                retryable: true,
                ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
              },
            );
          }
          return response;
        },
        {
          retries: this.retries,
          factor: 2,
          minTimeout: this.minRetryDelayMs,
          maxTimeout: this.maxRetryDelayMs,
          randomize: true,
          signal,
          shouldRetry: ({ error }) => error instanceof VerifyError && error.retryable,
          onFailedAttempt: async ({ error, retriesLeft, retryDelay }) => {
            if (!(error instanceof VerifyError) || !error.retryable || retriesLeft <= 0) return;
            // p-retry waits `retryDelay` next; wait the rest of what the server asked for.
            const extra = (error.retryAfterMs ?? 0) - retryDelay;
            if (extra > 0) await sleep(extra, undefined, { signal });
          },
        },
      );
    } catch (err) {
      if (signal.aborted && !isVerifyError(err, 'ABORTED')) {
        throw new VerifyError('ABORTED', `${req.what}: aborted`, { cause: err });
      }
      if (err instanceof VerifyError && err.retryable && attempts > 1) {
        throw new VerifyError(err.code, `${err.message} (after ${attempts} attempts)`, {
          cause: err,
          ...(err.status !== undefined ? { status: err.status } : {}),
        });
      }
      throw err;
    }
  }

  /** Throws the error a non-2xx response (other than "not found") stands for. */
  private fail(repo: RepoTarget, response: HttpExchange, what: string): never {
    const where = describeUrl(response.url);
    const summary = errorSummary(response);
    const { status } = response;
    if (status === 401) {
      throw new VerifyError(
        'UNAUTHORIZED',
        `${what}: ${where} answered 401${summary} ` +
          (this.auth.hasCredential(repo)
            ? `(it refused the credentials configured for ${repo.host})`
            : `(no credentials are configured for ${repo.host})`),
        { status },
      );
    }
    if (status === 403) {
      throw new VerifyError('DENIED', `${what}: ${where} answered 403${summary}`, { status });
    }
    if (status >= 300 && status < 400) {
      throw new VerifyError('REDIRECT', `${what}: ${where} answered ${status}`, { status });
    }
    throw new VerifyError('HTTP_STATUS', `${what}: ${where} answered ${status}${summary}`, {
      status,
    });
  }
}

/** ` (MANIFEST_UNKNOWN: manifest unknown)` from a distribution error body, or ''. */
function errorSummary(response: HttpExchange): string {
  const { codes, message } = parseErrorBody(response.body);
  if (codes.length === 0) return '';
  const text = message !== undefined ? `: ${sanitizeServerText(message)}` : '';
  return ` (${sanitizeServerText(codes.join(', '), 100)}${text})`;
}

/** Why a manifest response means "not found", or undefined when it does not. */
function notFoundDetail(response: HttpExchange): string | undefined {
  const { status } = response;
  if (status === 404)
    return `${describeUrl(response.url)}: not found (404)${errorSummary(response)}`;
  if (status < 400 || status >= 500 || status === 401 || status === 429) return undefined;
  const { codes } = parseErrorBody(response.body);
  if (!codes.some((code) => NOT_FOUND_CODES.has(code))) return undefined;
  return `${describeUrl(response.url)}: not found (${status})${errorSummary(response)}`;
}

function isSuccess(response: HttpExchange): boolean {
  return response.status >= 200 && response.status < 300;
}
