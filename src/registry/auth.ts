import { isJsonObject, parseStrictJson } from '../json/strict-json.js';
import type { RegistryCredential, RegistryCredentials } from './credentials.js';
import { isVerifyError, VerifyError } from '../errors.js';
import { parseWwwAuthenticate } from './headers.js';
import type { ExchangeRequest, HttpExchange } from './http.js';
import { describeUrl } from './http.js';
import { assertTransportAllowed } from './transport.js';

/** Token responses are a JWT or an opaque string plus a little JSON; some clouds send KiBs. */
export const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;
/** The distribution token spec's default (and minimum) lifetime when `expires_in` is absent. */
export const DEFAULT_TOKEN_LIFETIME_S = 60;
/** A cached token is dropped this long before it expires (bounded by half its lifetime). */
export const TOKEN_EXPIRY_MARGIN_MS = 10_000;

/** Tokens kept per client (one per repository and realm); the oldest go first. */
export const MAX_CACHED_TOKENS = 256;

/** What a registry origin asked for in its last `WWW-Authenticate`. */
export type Challenge =
  | {
      readonly scheme: 'bearer';
      readonly realm: string;
      readonly service: string | undefined;
    }
  | { readonly scheme: 'basic' };

/** Where a request goes: the registry origin, and the repository (for credentials and scope). */
export interface AuthTarget {
  readonly origin: string;
  readonly host: string;
  readonly path: string;
}

export interface RegistryAuthOptions {
  readonly credentials: RegistryCredentials | undefined;
  readonly insecureRegistries: readonly string[];
  /** Performs (and retries) one GET; used for token requests. */
  readonly get: (req: ExchangeRequest, signal: AbortSignal) => Promise<HttpExchange>;
  readonly now: () => number;
}

interface CachedToken {
  readonly authorization: string;
  readonly expiresAt: number;
}

/** Picks the challenge the client can answer: Bearer with a realm first, then Basic. */
export function selectChallenge(header: string | undefined): Challenge | undefined {
  if (header === undefined) return undefined;
  const challenges = parseWwwAuthenticate(header);
  const bearer = challenges.find((c) => c.scheme === 'bearer' && (c.params.realm ?? '') !== '');
  if (bearer !== undefined) {
    return { scheme: 'bearer', realm: bearer.params.realm ?? '', service: bearer.params.service };
  }
  return challenges.some((c) => c.scheme === 'basic') ? { scheme: 'basic' } : undefined;
}

/**
 * Anonymous, Basic and Bearer-token authentication for one client. The first request to an
 * origin goes out anonymously; its 401 challenge is remembered per origin so later requests
 * carry credentials up front. Bearer tokens are fetched from the challenge's realm with the
 * scope `repository:<path>:pull` (sending the registry's Basic credentials, if any, to the
 * realm) and cached per host, realm, service and scope until shortly before they expire;
 * concurrent requests for one scope share one token request.
 */
export class RegistryAuth {
  private readonly challenges = new Map<string, Challenge>();
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<CachedToken>>();
  private readonly options: RegistryAuthOptions;

  constructor(options: RegistryAuthOptions) {
    this.options = options;
  }

  /** Whether credentials are configured for a target (for messages; never the credential). */
  hasCredential(target: AuthTarget): boolean {
    return this.credentialFor(target) !== undefined;
  }

  /**
   * Remembers the challenge of a 401; false when there is none the client can answer (the 401
   * then stands).
   */
  learn(origin: string, wwwAuthenticate: string | undefined): boolean {
    const challenge = selectChallenge(wwwAuthenticate);
    if (challenge === undefined) return false;
    this.challenges.set(origin, challenge);
    return true;
  }

  /** Drops a cached token the registry has just refused. */
  forget(authorization: string): void {
    for (const [key, token] of this.tokens) {
      if (token.authorization === authorization) this.tokens.delete(key);
    }
  }

  /** The Authorization header for a request, or undefined to go anonymously. */
  async authorization(target: AuthTarget, signal: AbortSignal): Promise<string | undefined> {
    const challenge = this.challenges.get(target.origin);
    if (challenge === undefined) return undefined;
    switch (challenge.scheme) {
      case 'basic':
        return this.credentialFor(target)?.basicAuthorization();
      case 'bearer':
        return (await this.token(target, challenge, signal)).authorization;
    }
  }

  private credentialFor(target: AuthTarget): RegistryCredential | undefined {
    return this.options.credentials?.lookup(target.host, target.path);
  }

  private async token(
    target: AuthTarget,
    challenge: Extract<Challenge, { scheme: 'bearer' }>,
    signal: AbortSignal,
  ): Promise<CachedToken> {
    const scope = `repository:${target.path}:pull`;
    const key = [target.host, challenge.realm, challenge.service ?? '', scope].join('\n');
    const cached = this.tokens.get(key);
    if (cached !== undefined && cached.expiresAt > this.options.now()) return cached;
    this.tokens.delete(key);
    let pending = this.pending.get(key);
    if (pending === undefined) {
      pending = this.fetchToken(target, challenge, scope, signal).finally(() => {
        this.pending.delete(key);
      });
      this.pending.set(key, pending);
    }
    let token: CachedToken;
    try {
      token = await pending;
    } catch (err) {
      // A shared request aborted by another caller's signal: this caller tries on its own.
      if (isVerifyError(err, 'ABORTED') && !signal.aborted) {
        return this.token(target, challenge, signal);
      }
      throw err;
    }
    this.tokens.set(key, token);
    // Oldest first: Map keeps insertion order.
    for (const old of this.tokens.keys()) {
      if (this.tokens.size <= MAX_CACHED_TOKENS) break;
      this.tokens.delete(old);
    }
    return token;
  }

  private async fetchToken(
    target: AuthTarget,
    challenge: Extract<Challenge, { scheme: 'bearer' }>,
    scope: string,
    signal: AbortSignal,
  ): Promise<CachedToken> {
    let url: URL;
    try {
      url = new URL(challenge.realm);
    } catch (err) {
      throw new VerifyError(
        'INVALID_RESPONSE',
        `registry ${target.host}: the token realm in its challenge is not a URL`,
        { cause: err },
      );
    }
    const what = `token for ${scope} from ${describeUrl(url)}`;
    assertTransportAllowed(url, this.options.insecureRegistries, what);
    if (challenge.service !== undefined) url.searchParams.set('service', challenge.service);
    url.searchParams.set('scope', scope);
    const credential = this.credentialFor(target);
    const response = await this.options.get(
      {
        url,
        headers: { accept: 'application/json' },
        authorization: credential?.basicAuthorization(),
        maxBytes: MAX_TOKEN_RESPONSE_BYTES,
        followRedirects: false,
        what,
      },
      signal,
    );
    if (response.status === 401 || response.status === 403) {
      throw new VerifyError(
        'UNAUTHORIZED',
        `${what}: the token server answered ${response.status} ` +
          (credential === undefined
            ? `(no credentials are configured for ${target.host})`
            : `(it refused the credentials configured for ${target.host})`),
        { status: response.status },
      );
    }
    if (response.status < 200 || response.status >= 300) {
      throw new VerifyError(
        'HTTP_STATUS',
        `${what}: the token server answered ${response.status}`,
        {
          status: response.status,
        },
      );
    }
    return this.parseTokenResponse(response.body, what);
  }

  private parseTokenResponse(body: Uint8Array, what: string): CachedToken {
    let document;
    try {
      document = parseStrictJson(Buffer.from(body).toString('utf8'), {
        maxLength: MAX_TOKEN_RESPONSE_BYTES,
      });
    } catch {
      // No cause: the parser's message may quote the token.
      throw new VerifyError('INVALID_RESPONSE', `${what}: the response is not valid JSON`);
    }
    if (!isJsonObject(document)) {
      throw new VerifyError('INVALID_RESPONSE', `${what}: the response is not a JSON object`);
    }
    const token =
      typeof document.token === 'string' && document.token !== ''
        ? document.token
        : document.access_token;
    // Printable ASCII only: the token goes into a header.
    if (typeof token !== 'string' || !/^[\x21-\x7e]+$/.test(token)) {
      throw new VerifyError('INVALID_RESPONSE', `${what}: the response holds no usable token`);
    }
    const expiresIn =
      typeof document.expires_in === 'number' && document.expires_in > 0
        ? document.expires_in
        : DEFAULT_TOKEN_LIFETIME_S;
    const lifetimeMs = expiresIn * 1000;
    return {
      authorization: `Bearer ${token}`,
      expiresAt: this.options.now() + lifetimeMs - Math.min(TOKEN_EXPIRY_MARGIN_MS, lifetimeMs / 2),
    };
  }
}
