import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { inspect } from 'node:util';

import { isJsonObject, parseStrictJson } from '../json/strict-json.js';
import type { JsonValue } from '../json/strict-json.js';
import { VerifyError } from '../errors.js';
import { canonicalRegistryHost } from './transport.js';

/** A pull secret holds a handful of registries; 1 MiB is far beyond any real one. */
export const MAX_DOCKER_CONFIG_BYTES = 1024 * 1024;

const REDACTED = '<redacted>';

/**
 * A username and password (or token) for one registry. Neither is visible to `JSON.stringify`,
 * `util.inspect` or string conversion, so a credential that ends up in a log line or an error
 * shows `<redacted>`.
 */
export class RegistryCredential {
  readonly #username: string;
  readonly #password: string;

  constructor(username: string, password: string) {
    this.#username = username;
    this.#password = password;
  }

  /** The value of an `Authorization: Basic …` header. Send it only where it belongs. */
  basicAuthorization(): string {
    return `Basic ${Buffer.from(`${this.#username}:${this.#password}`, 'utf8').toString('base64')}`;
  }

  toJSON(): string {
    return REDACTED;
  }

  toString(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return `RegistryCredential(${REDACTED})`;
  }
}

/**
 * Credentials by registry, from a docker `config.json` or a Kubernetes pull secret. Keys are
 * `host[:port]` or `host[:port]/namespace…`; the most specific key on whole path segments wins,
 * as in containers/image. Docker Hub aliases all mean `docker.io`.
 */
export class RegistryCredentials {
  readonly #byKey: ReadonlyMap<string, RegistryCredential>;

  constructor(entries: Iterable<readonly [string, RegistryCredential]> = []) {
    const byKey = new Map<string, RegistryCredential>();
    for (const [key, credential] of entries) {
      const normalized = normalizeAuthKey(key);
      if (normalized !== undefined) byKey.set(normalized, credential);
    }
    this.#byKey = byKey;
  }

  /** The credential for a repository (`host` as in a pullspec, `path` below it), if any. */
  lookup(host: string, path = ''): RegistryCredential | undefined {
    const canonical = canonicalRegistryHost(host);
    const segments = path === '' ? [] : path.split('/');
    for (let n = segments.length; n >= 0; n--) {
      const key = n === 0 ? canonical : `${canonical}/${segments.slice(0, n).join('/')}`;
      const credential = this.#byKey.get(key);
      if (credential !== undefined) return credential;
    }
    return undefined;
  }

  /**
   * A digest of every key and credential: equal for equal credentials, for telling configurations
   * apart. Derived from secrets: compare it, never print it.
   */
  fingerprint(): string {
    const hash = createHash('sha256');
    // JSON of the sorted pairs: no key (which may hold any character) can forge a boundary.
    const pairs = [...this.#byKey]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, credential]) => [key, credential.basicAuthorization()]);
    hash.update(JSON.stringify(pairs));
    return hash.digest('hex');
  }

  /** The registry keys (never the secrets), for logs and status. */
  registries(): string[] {
    return [...this.#byKey.keys()].sort();
  }

  toJSON(): { registries: string[] } {
    return { registries: this.registries() };
  }

  [inspect.custom](): string {
    return `RegistryCredentials(${this.registries().join(', ')})`;
  }
}

/**
 * `https://index.docker.io/v1/` → `docker.io`, `quay.io/` → `quay.io`,
 * `HTTPS://Quay.io/ns/repo` → `quay.io/ns/repo`. undefined for an empty key.
 */
function normalizeAuthKey(key: string): string | undefined {
  let rest = key.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  rest = rest.replace(/\/+$/, '');
  const slash = rest.indexOf('/');
  const host = canonicalRegistryHost(slash === -1 ? rest : rest.slice(0, slash));
  let path = slash === -1 ? '' : rest.slice(slash + 1);
  // The docker CLI writes API-version suffixes (`…/v1/`, `…/v2/`) into its keys.
  if (/^v[12]$/.test(path)) path = '';
  if (host === '') return undefined;
  return path === '' ? host : `${host}/${path}`;
}

/**
 * Parses a docker `config.json` (`{"auths": {…}}`), a bare `.dockerconfigjson` value, or a
 * Kubernetes Secret of type `kubernetes.io/dockerconfigjson` (its `data` base64-encoded or
 * `stringData` as text). An entry holds `auth` (base64 of `user:password`) or
 * `username` + `password`; entries with neither (credential helpers, identity tokens) are
 * skipped. Errors name `source` and the offending registry key, never a secret, and carry no
 * cause (a JSON parser's message may quote the text it failed on).
 */
export function parseDockerConfig(text: string, source = 'docker config'): RegistryCredentials {
  const fail = (why: string): never => {
    throw new VerifyError('INVALID_CREDENTIALS_FILE', `${source}: ${why}`);
  };
  const parse = (json: string, what: string): JsonValue => {
    try {
      return parseStrictJson(json, { maxLength: MAX_DOCKER_CONFIG_BYTES });
    } catch {
      return fail(`${what} is not valid JSON`);
    }
  };

  let document = parse(text, 'the file');
  if (!isJsonObject(document)) return fail('expected a JSON object');

  // Kubernetes Secret (`kind: Secret`) or a bare map holding `.dockerconfigjson`.
  const data = isJsonObject(document.data) ? document.data : undefined;
  const stringData = isJsonObject(document.stringData) ? document.stringData : undefined;
  const wrapped = data?.['.dockerconfigjson'] ?? document['.dockerconfigjson'];
  if (typeof stringData?.['.dockerconfigjson'] === 'string') {
    document = parse(stringData['.dockerconfigjson'], '.dockerconfigjson');
  } else if (typeof wrapped === 'string') {
    const decoded = wrapped.trimStart().startsWith('{')
      ? wrapped
      : Buffer.from(wrapped, 'base64').toString('utf8');
    document = parse(decoded, '.dockerconfigjson');
  } else if (isJsonObject(wrapped)) {
    document = wrapped;
  }
  if (!isJsonObject(document)) return fail('.dockerconfigjson is not a JSON object');
  const auths = document.auths;
  if (auths === undefined) {
    return fail('no "auths" object (the legacy .dockercfg format is not supported)');
  }
  if (!isJsonObject(auths)) return fail('"auths" is not an object');

  const entries: [string, RegistryCredential][] = [];
  for (const [key, entry] of Object.entries(auths)) {
    const name = JSON.stringify(key);
    if (!isJsonObject(entry)) return fail(`the entry for ${name} is not an object`);
    const { auth, username, password } = entry;
    if (typeof auth === 'string' && auth !== '') {
      const decoded = Buffer.from(auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon <= 0) return fail(`the "auth" of ${name} is not base64 of user:password`);
      entries.push([
        key,
        new RegistryCredential(decoded.slice(0, colon), decoded.slice(colon + 1)),
      ]);
    } else if (typeof username === 'string' && typeof password === 'string' && username !== '') {
      entries.push([key, new RegistryCredential(username, password)]);
    } else if (
      // An empty "auth" (what some tools write beside an email) holds no credential: skipped,
      // as containers/image skips it, instead of making the whole file unusable.
      (auth !== undefined && auth !== '') ||
      username !== undefined ||
      password !== undefined
    ) {
      return fail(`the entry for ${name} needs "auth" or "username" and "password" strings`);
    }
  }
  return new RegistryCredentials(entries);
}

/** Reads and parses a docker config.json / pull secret file (at most 1 MiB). */
export async function loadDockerConfig(
  path: string,
  signal: AbortSignal,
): Promise<RegistryCredentials> {
  let text: string;
  try {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      if (size > MAX_DOCKER_CONFIG_BYTES) {
        throw new VerifyError(
          'INVALID_CREDENTIALS_FILE',
          `${path}: ${size} bytes exceeds the limit of ${MAX_DOCKER_CONFIG_BYTES}`,
        );
      }
      text = await handle.readFile({ encoding: 'utf8', signal });
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (err instanceof VerifyError) throw err;
    if (signal.aborted) {
      throw new VerifyError('ABORTED', `reading ${path} was aborted`, { cause: err });
    }
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new VerifyError('INVALID_CREDENTIALS_FILE', `${path}: cannot read (${code})`, {
      cause: err,
    });
  }
  return parseDockerConfig(text, path);
}
