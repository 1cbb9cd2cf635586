import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';

import { load } from 'js-yaml';

import { KubeConfigError } from './errors.js';

// Loads the cluster configuration as kubectl (client-go's clientcmd) does: one kubeconfig file, or
// KUBECONFIG's files merged, or the in-cluster service account. Everything read from the files is
// checked here, so a configuration that cannot work fails at start with the file and entry named;
// credentials that change while the service runs (token files, client certificates, exec plugins)
// are read again by credentials.ts.

/** Where the cluster configuration comes from; the caller (the CLI) reads the environment. */
export interface KubeConfigOptions {
  /** One kubeconfig file (`--kubeconfig`, or KUBECONFIG naming one file): it must exist. */
  readonly kubeconfig?: string;
  /**
   * KUBECONFIG's files, merged as kubectl merges them: the first file to set a cluster, user or
   * context name wins, and current-context comes from the first file that sets one; missing files
   * are skipped.
   */
  readonly kubeconfigFiles?: readonly string[];
  /** The context to use instead of the configuration's current-context (`--context`). */
  readonly context?: string;
  /** The pod's service account, from KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT. */
  readonly inCluster?: InClusterOptions;
}

export interface InClusterOptions {
  /** KUBERNETES_SERVICE_HOST: a name, an IPv4 or an IPv6 address (bracketed or not). */
  readonly host: string;
  /** KUBERNETES_SERVICE_PORT. */
  readonly port?: string;
  /** Where the service account's token, ca.crt and namespace are mounted. */
  readonly serviceAccountDir?: string;
}

/** The service account mount of every pod (client-go's rest.InClusterConfig). */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** A kubeconfig is a few KiB, with embedded certificates a few tens; more is not a kubeconfig. */
const MAX_KUBECONFIG_BYTES = 4 * 1024 * 1024;

/** The resolved configuration of one context: the cluster to talk to and who to be. */
export interface KubeConfig {
  readonly contextName: string;
  readonly namespace?: string;
  readonly cluster: KubeCluster;
  readonly user: KubeUser;
}

export interface KubeCluster {
  readonly name: string;
  /** The API server's URL, without a trailing slash (it may carry a path prefix). */
  readonly server: string;
  /** A CA bundle file (absolute path), read again when it changes. */
  readonly certificateAuthority?: string;
  /** PEM; wins over the file, as in client-go. */
  readonly certificateAuthorityData?: string;
  readonly insecureSkipTlsVerify?: boolean;
  /** The name checked in the server's certificate (and sent as SNI) instead of the URL's host. */
  readonly tlsServerName?: string;
  /** An http:// or https:// proxy the connections are tunnelled through (CONNECT). */
  readonly proxyUrl?: string;
  /** `extensions[client.authentication.k8s.io/exec]`: handed to an exec plugin as `config`. */
  readonly execExtension?: unknown;
}

export interface KubeUser {
  readonly name: string;
  /** A bearer token; wins over tokenFile. */
  readonly token?: string;
  /** A file holding the bearer token, read again when it changes (rotated bound tokens). */
  readonly tokenFile?: string;
  readonly clientCertificate?: string;
  /** PEM; wins over the file. */
  readonly clientCertificateData?: string;
  readonly clientKey?: string;
  /** PEM; wins over the file. */
  readonly clientKeyData?: string;
  readonly username?: string;
  readonly password?: string;
  readonly exec?: ExecConfig;
  readonly impersonate?: Impersonation;
}

export type ExecApiVersion =
  'client.authentication.k8s.io/v1' | 'client.authentication.k8s.io/v1beta1';

/** A client-go credential plugin (`users[].user.exec`). */
export interface ExecConfig {
  readonly apiVersion: ExecApiVersion;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: readonly { readonly name: string; readonly value: string }[];
  readonly interactiveMode: 'Never' | 'IfAvailable' | 'Always';
  readonly provideClusterInfo: boolean;
  readonly installHint?: string;
}

/** `as`, `as-uid`, `as-groups`, `as-user-extra`: sent as Impersonate-* headers. */
export interface Impersonation {
  readonly user: string;
  readonly uid?: string;
  readonly groups: readonly string[];
  readonly extra: Readonly<Record<string, readonly string[]>>;
}

const EXEC_API_VERSIONS: readonly string[] = [
  'client.authentication.k8s.io/v1',
  'client.authentication.k8s.io/v1beta1',
];
const EXEC_CLUSTER_EXTENSION = 'client.authentication.k8s.io/exec';

/**
 * Loads and checks the configuration `options` name. Throws {@link KubeConfigError} naming the
 * file and entry that cannot be used (never a credential's value).
 */
export function loadKubeConfig(options: KubeConfigOptions): KubeConfig {
  if (options.kubeconfig !== undefined) {
    if (!existsSync(options.kubeconfig))
      throw new KubeConfigError(`kubeconfig ${options.kubeconfig} does not exist`);
    return selectContext(mergeKubeConfigs([readKubeConfigFile(options.kubeconfig)]), options);
  }
  if (options.kubeconfigFiles !== undefined) {
    const files = [...new Set(options.kubeconfigFiles.filter((f) => f !== ''))];
    const found = files.filter((f) => existsSync(f));
    if (found.length === 0)
      throw new KubeConfigError(`none of the KUBECONFIG files exists: ${files.join(', ')}`);
    return selectContext(mergeKubeConfigs(found.map(readKubeConfigFile)), options);
  }
  if (options.inCluster !== undefined) {
    if (options.context !== undefined)
      throw new KubeConfigError(
        `context ${JSON.stringify(options.context)} does not exist: the in-cluster configuration has no contexts`,
      );
    return loadInClusterConfig(options.inCluster);
  }
  throw new KubeConfigError(
    'no cluster configuration: no kubeconfig file, KUBECONFIG files or in-cluster environment',
  );
}

/** client-go's rest.InClusterConfig: the service account's token (re-read), CA and namespace. */
export function loadInClusterConfig(options: InClusterOptions): KubeConfig {
  const { host, port } = options;
  if (host === '' || port === undefined || port === '')
    throw new KubeConfigError(
      'in-cluster configuration needs both KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT',
    );
  const dir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const tokenFile = join(dir, 'token');
  checkReadable(tokenFile, 'in-cluster service account token');
  const caFile = join(dir, 'ca.crt');
  const namespaceFile = join(dir, 'namespace');
  // net.JoinHostPort: an IPv6 address is bracketed.
  const hostPart = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const namespace = existsSync(namespaceFile)
    ? readFileSync(namespaceFile, 'utf8').trim()
    : undefined;
  return {
    contextName: 'inCluster',
    ...(namespace !== undefined && namespace !== '' ? { namespace } : {}),
    cluster: {
      name: 'inCluster',
      server: `https://${hostPart}:${port}`,
      // client-go falls back to the system's CAs when ca.crt cannot be read.
      ...(existsSync(caFile) ? { certificateAuthority: caFile } : {}),
    },
    user: { name: 'inCluster', tokenFile },
  };
}

/** One parsed file: entries by name, each already resolved against the file's directory. */
interface ParsedKubeConfig {
  readonly file: string;
  readonly clusters: Map<string, KubeCluster>;
  readonly users: Map<string, KubeUser | AuthProviderUser>;
  readonly contexts: Map<string, { cluster: string; user: string; namespace?: string }>;
  readonly currentContext?: string;
}

/** A user with an auth-provider: kept so the error names it only when the user is used. */
interface AuthProviderUser {
  readonly name: string;
  readonly authProvider: string;
}

interface Merged {
  readonly clusters: Map<string, KubeCluster>;
  readonly users: Map<string, KubeUser | AuthProviderUser>;
  readonly contexts: Map<string, { cluster: string; user: string; namespace?: string }>;
  readonly currentContext?: string;
  readonly files: readonly string[];
}

/** kubectl's merge: the first file to set a name wins; current-context from the first setting it. */
function mergeKubeConfigs(configs: readonly ParsedKubeConfig[]): Merged {
  const clusters = new Map<string, KubeCluster>();
  const users = new Map<string, KubeUser | AuthProviderUser>();
  const contexts = new Map<string, { cluster: string; user: string; namespace?: string }>();
  let currentContext: string | undefined;
  for (const config of configs) {
    for (const [name, c] of config.clusters) if (!clusters.has(name)) clusters.set(name, c);
    for (const [name, u] of config.users) if (!users.has(name)) users.set(name, u);
    for (const [name, c] of config.contexts) if (!contexts.has(name)) contexts.set(name, c);
    currentContext ??= config.currentContext;
  }
  return {
    clusters,
    users,
    contexts,
    ...(currentContext !== undefined ? { currentContext } : {}),
    files: configs.map((c) => c.file),
  };
}

function selectContext(merged: Merged, options: KubeConfigOptions): KubeConfig {
  const where = merged.files.join(', ');
  const contextName = options.context ?? merged.currentContext;
  if (contextName === undefined)
    throw new KubeConfigError(`kubeconfig ${where} sets no current-context: pass --context`);
  const context = merged.contexts.get(contextName);
  if (context === undefined)
    throw new KubeConfigError(
      `context ${JSON.stringify(contextName)} does not exist in kubeconfig ${where}`,
    );
  const cluster = merged.clusters.get(context.cluster);
  if (cluster === undefined)
    throw new KubeConfigError(
      `cluster ${JSON.stringify(context.cluster)} of context ${JSON.stringify(contextName)} does not exist in kubeconfig ${where}`,
    );
  let user: KubeUser | AuthProviderUser = { name: '' };
  if (context.user !== '') {
    const named = merged.users.get(context.user);
    if (named === undefined)
      throw new KubeConfigError(
        `user ${JSON.stringify(context.user)} of context ${JSON.stringify(contextName)} does not exist in kubeconfig ${where}`,
      );
    user = named;
  }
  if ('authProvider' in user) throw authProviderRefused(user);
  checkFiles(cluster, user);
  return {
    contextName,
    ...(context.namespace !== undefined ? { namespace: context.namespace } : {}),
    cluster,
    user,
  };
}

function authProviderRefused(user: AuthProviderUser): KubeConfigError {
  return new KubeConfigError(
    `user ${JSON.stringify(user.name)} authenticates with auth-provider ${JSON.stringify(user.authProvider)}, which is not supported: use a client.authentication.k8s.io exec plugin (as client-go since 1.26), a token or a client certificate`,
  );
}

/** client-go's validation: the files a context names must be readable when it is chosen. */
function checkFiles(cluster: KubeCluster, user: KubeUser): void {
  if (cluster.certificateAuthority !== undefined && cluster.certificateAuthorityData === undefined)
    checkReadable(cluster.certificateAuthority, `certificate-authority of cluster ${cluster.name}`);
  if (user.token === undefined && user.tokenFile !== undefined)
    checkReadable(user.tokenFile, `tokenFile of user ${user.name}`);
  if (user.clientCertificate !== undefined && user.clientCertificateData === undefined)
    checkReadable(user.clientCertificate, `client-certificate of user ${user.name}`);
  if (user.clientKey !== undefined && user.clientKeyData === undefined)
    checkReadable(user.clientKey, `client-key of user ${user.name}`);
}

function checkReadable(file: string, what: string): void {
  try {
    accessSync(file, constants.R_OK);
  } catch (err) {
    throw new KubeConfigError(`cannot read the ${what}, ${file}: ${errorCode(err)}`);
  }
}

function errorCode(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string'
    ? err.code
    : String(err);
}

/** Reads and parses one kubeconfig file; relative paths in it resolve against its directory. */
function readKubeConfigFile(file: string): ParsedKubeConfig {
  let text: string;
  try {
    if (statSync(file).size > MAX_KUBECONFIG_BYTES)
      throw new KubeConfigError(
        `kubeconfig ${file} is larger than ${String(MAX_KUBECONFIG_BYTES)} bytes`,
      );
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof KubeConfigError) throw err;
    throw new KubeConfigError(`cannot read kubeconfig ${file}: ${errorCode(err)}`);
  }
  let doc: unknown;
  try {
    doc = load(text, { filename: file });
  } catch (err) {
    // js-yaml's message quotes the lines around the error, which may hold a credential.
    const mark =
      typeof err === 'object' && err !== null && 'mark' in err
        ? (err as { mark?: { line?: number } }).mark
        : undefined;
    const line = typeof mark?.line === 'number' ? ` (line ${String(mark.line + 1)})` : '';
    throw new KubeConfigError(`kubeconfig ${file} is not valid YAML${line}`);
  }
  return parseKubeConfig(doc ?? {}, file);
}

/** The entries of one kubeconfig document read from `file`. */
function parseKubeConfig(doc: unknown, file: string): ParsedKubeConfig {
  const base = resolve(dirname(file));
  const r = new Reader(file);
  const root = r.object(doc, '');
  const clusters = new Map<string, KubeCluster>();
  for (const [i, entry] of r.list(root.clusters, 'clusters').entries()) {
    const at = `clusters[${String(i)}]`;
    const e = r.object(entry, at);
    const name = r.name(e.name, `${at}.name`, clusters);
    const c = r.object(e.cluster, `${at}.cluster`);
    clusters.set(name, readCluster(r, c, `${at}.cluster`, name, base));
  }
  const users = new Map<string, KubeUser | AuthProviderUser>();
  for (const [i, entry] of r.list(root.users, 'users').entries()) {
    const at = `users[${String(i)}]`;
    const e = r.object(entry, at);
    const name = r.name(e.name, `${at}.name`, users);
    const u = r.object(e.user ?? {}, `${at}.user`);
    users.set(name, readUser(r, u, `${at}.user`, name, base));
  }
  const contexts = new Map<string, { cluster: string; user: string; namespace?: string }>();
  for (const [i, entry] of r.list(root.contexts, 'contexts').entries()) {
    const at = `contexts[${String(i)}]`;
    const e = r.object(entry, at);
    const name = r.name(e.name, `${at}.name`, contexts);
    const c = r.object(e.context, `${at}.context`);
    const cluster = r.string(c.cluster, `${at}.context.cluster`) ?? '';
    if (cluster === '') throw r.fail(`${at}.context.cluster`, 'is missing');
    const namespace = r.string(c.namespace, `${at}.context.namespace`);
    contexts.set(name, {
      cluster,
      user: r.string(c.user, `${at}.context.user`) ?? '',
      ...(namespace !== undefined && namespace !== '' ? { namespace } : {}),
    });
  }
  const currentContext = r.string(root['current-context'], 'current-context');
  return {
    file,
    clusters,
    users,
    contexts,
    ...(currentContext !== undefined && currentContext !== '' ? { currentContext } : {}),
  };
}

function readCluster(
  r: Reader,
  c: Record<string, unknown>,
  at: string,
  name: string,
  base: string,
): KubeCluster {
  const rawServer = r.string(c.server, `${at}.server`) ?? '';
  if (rawServer === '') throw r.fail(`${at}.server`, 'is missing');
  const server = parseServer(r, rawServer, `${at}.server`);
  const caFile = r.string(c['certificate-authority'], `${at}.certificate-authority`);
  const caData = r.base64(c['certificate-authority-data'], `${at}.certificate-authority-data`);
  const insecure = r.boolean(c['insecure-skip-tls-verify'], `${at}.insecure-skip-tls-verify`);
  if (insecure === true && (caData !== undefined || (caFile !== undefined && caFile !== '')))
    throw r.fail(
      at,
      'sets insecure-skip-tls-verify and a certificate authority: the CA would not be checked (client-go refuses this too)',
    );
  const tlsServerName = r.string(c['tls-server-name'], `${at}.tls-server-name`);
  const proxyUrl = r.string(c['proxy-url'], `${at}.proxy-url`);
  if (proxyUrl !== undefined && proxyUrl !== '') checkProxyUrl(r, proxyUrl, `${at}.proxy-url`);
  let execExtension: unknown;
  for (const [i, ext] of r.list(c.extensions, `${at}.extensions`).entries()) {
    const e = r.object(ext, `${at}.extensions[${String(i)}]`);
    if (e.name === EXEC_CLUSTER_EXTENSION) execExtension = e.extension;
  }
  return {
    name,
    server,
    ...(caFile !== undefined && caFile !== ''
      ? { certificateAuthority: resolvePath(base, caFile) }
      : {}),
    ...(caData !== undefined ? { certificateAuthorityData: caData } : {}),
    ...(insecure === true ? { insecureSkipTlsVerify: true } : {}),
    ...(tlsServerName !== undefined && tlsServerName !== '' ? { tlsServerName } : {}),
    ...(proxyUrl !== undefined && proxyUrl !== '' ? { proxyUrl } : {}),
    ...(execExtension !== undefined ? { execExtension } : {}),
  };
}

/** An http(s) URL; a bare host:port gets https:// as kubectl gives it. No trailing slash. */
function parseServer(r: Reader, raw: string, at: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `https://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw r.fail(at, 'is not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw r.fail(at, `has scheme ${url.protocol} (http: or https: expected)`);
  if (url.username !== '' || url.password !== '') throw r.fail(at, 'must not carry credentials');
  if (url.search !== '' || url.hash !== '') throw r.fail(at, 'must not have a query or fragment');
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

function checkProxyUrl(r: Reader, raw: string, at: string): void {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw r.fail(at, 'is not a URL');
  }
  if (url.protocol === 'http:' || url.protocol === 'https:') return;
  // Never the whole URL: it may carry the proxy's password.
  const scheme = url.protocol.replace(/:$/, '');
  if (scheme.startsWith('socks'))
    throw r.fail(
      at,
      `is a ${scheme} proxy (${url.host}): SOCKS proxies are not supported, only http:// and https:// (CONNECT) proxies`,
    );
  throw r.fail(at, `has scheme ${url.protocol} (http: or https: expected)`);
}

function readUser(
  r: Reader,
  u: Record<string, unknown>,
  at: string,
  name: string,
  base: string,
): KubeUser | AuthProviderUser {
  const exec = u.exec === undefined || u.exec === null ? undefined : readExec(r, u.exec, at, base);
  if (u['auth-provider'] !== undefined && u['auth-provider'] !== null) {
    if (exec !== undefined)
      throw r.fail(at, 'sets both auth-provider and exec (client-go refuses this too)');
    const provider = r.object(u['auth-provider'], `${at}.auth-provider`);
    return {
      name,
      authProvider: r.string(provider.name, `${at}.auth-provider.name`) ?? '',
    };
  }
  const str = (key: string): string | undefined => {
    const v = r.string(u[key], `${at}.${key}`);
    return v === '' ? undefined : v;
  };
  const token = str('token');
  const tokenFile = str('tokenFile');
  const username = str('username');
  const password = str('password');
  if ((token !== undefined || tokenFile !== undefined) && (username ?? password) !== undefined)
    throw r.fail(at, 'sets both a token and username/password: only one is allowed (as kubectl)');
  const clientCertificate = str('client-certificate');
  const clientCertificateData = r.base64(
    u['client-certificate-data'],
    `${at}.client-certificate-data`,
  );
  const clientKey = str('client-key');
  const clientKeyData = r.base64(u['client-key-data'], `${at}.client-key-data`);
  const hasCert = clientCertificate !== undefined || clientCertificateData !== undefined;
  const hasKey = clientKey !== undefined || clientKeyData !== undefined;
  if (hasCert !== hasKey)
    throw r.fail(at, 'has a client certificate without its key, or a key without a certificate');
  const as = str('as');
  const uid = str('as-uid');
  const groups = r.list(u['as-groups'], `${at}.as-groups`).map((g, i) => {
    const v = r.string(g, `${at}.as-groups[${String(i)}]`);
    if (v === undefined) throw r.fail(`${at}.as-groups[${String(i)}]`, 'must be a string');
    return v;
  });
  const extra: Record<string, string[]> = {};
  const rawExtra =
    u['as-user-extra'] === undefined || u['as-user-extra'] === null
      ? {}
      : r.object(u['as-user-extra'], `${at}.as-user-extra`);
  for (const [key, values] of Object.entries(rawExtra)) {
    extra[key] = r.list(values, `${at}.as-user-extra.${key}`).map((v) => String(v));
  }
  if (as === undefined && (uid !== undefined || groups.length > 0 || Object.keys(extra).length > 0))
    throw r.fail(at, 'sets as-uid, as-groups or as-user-extra without as (client-go refuses this)');
  return {
    name,
    ...(token !== undefined ? { token } : {}),
    ...(tokenFile !== undefined ? { tokenFile: resolvePath(base, tokenFile) } : {}),
    ...(clientCertificate !== undefined
      ? { clientCertificate: resolvePath(base, clientCertificate) }
      : {}),
    ...(clientCertificateData !== undefined ? { clientCertificateData } : {}),
    ...(clientKey !== undefined ? { clientKey: resolvePath(base, clientKey) } : {}),
    ...(clientKeyData !== undefined ? { clientKeyData } : {}),
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(exec !== undefined ? { exec } : {}),
    ...(as !== undefined
      ? { impersonate: { user: as, ...(uid !== undefined ? { uid } : {}), groups, extra } }
      : {}),
  };
}

function readExec(r: Reader, raw: unknown, userAt: string, base: string): ExecConfig {
  const at = `${userAt}.exec`;
  const e = r.object(raw, at);
  const apiVersion = r.string(e.apiVersion, `${at}.apiVersion`) ?? '';
  if (apiVersion === '') throw r.fail(`${at}.apiVersion`, 'is missing');
  if (!EXEC_API_VERSIONS.includes(apiVersion))
    throw r.fail(
      `${at}.apiVersion`,
      `is ${JSON.stringify(apiVersion)}: only ${EXEC_API_VERSIONS.join(' and ')} are supported`,
    );
  const command = r.string(e.command, `${at}.command`) ?? '';
  if (command === '') throw r.fail(`${at}.command`, 'is missing');
  const args = r.list(e.args, `${at}.args`).map((a, i) => {
    const v = r.string(a, `${at}.args[${String(i)}]`);
    if (v === undefined) throw r.fail(`${at}.args[${String(i)}]`, 'must be a string');
    return v;
  });
  const env = r.list(e.env, `${at}.env`).map((entry, i) => {
    const o = r.object(entry, `${at}.env[${String(i)}]`);
    const name = r.string(o.name, `${at}.env[${String(i)}].name`) ?? '';
    if (name === '') throw r.fail(`${at}.env[${String(i)}].name`, 'is missing');
    return { name, value: r.string(o.value, `${at}.env[${String(i)}].value`) ?? '' };
  });
  let interactiveMode = r.string(e.interactiveMode, `${at}.interactiveMode`) ?? '';
  if (interactiveMode === '') {
    // v1beta1 defaults to IfAvailable; v1 requires the field (client-go's conversion and validation).
    if (apiVersion === 'client.authentication.k8s.io/v1beta1') interactiveMode = 'IfAvailable';
    else throw r.fail(`${at}.interactiveMode`, 'must be set for client.authentication.k8s.io/v1');
  }
  if (
    interactiveMode !== 'Never' &&
    interactiveMode !== 'IfAvailable' &&
    interactiveMode !== 'Always'
  )
    throw r.fail(`${at}.interactiveMode`, `is ${JSON.stringify(interactiveMode)}`);
  const installHint = r.string(e.installHint, `${at}.installHint`);
  return {
    apiVersion: apiVersion as ExecApiVersion,
    // A command with a path separator is relative to the kubeconfig; a bare name is looked up in
    // PATH (client-go's GetAuthInfoFileReferences).
    command: command.includes(sep) ? resolvePath(base, command) : command,
    args,
    env,
    interactiveMode,
    provideClusterInfo: r.boolean(e.provideClusterInfo, `${at}.provideClusterInfo`) === true,
    ...(installHint !== undefined && installHint !== '' ? { installHint } : {}),
  };
}

function resolvePath(base: string, file: string): string {
  return isAbsolute(file) ? file : join(base, file);
}

/** Typed reads of a parsed document; errors name the file and the field, never a value. */
class Reader {
  private readonly file: string;
  constructor(file: string) {
    this.file = file;
  }

  fail(at: string, problem: string): KubeConfigError {
    return new KubeConfigError(
      `kubeconfig ${this.file}: ${at === '' ? 'the document' : at} ${problem}`,
    );
  }

  object(v: unknown, at: string): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      throw this.fail(at, 'must be a mapping');
    return v as Record<string, unknown>;
  }

  list(v: unknown, at: string): unknown[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw this.fail(at, 'must be a list');
    return v;
  }

  string(v: unknown, at: string): string | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw this.fail(at, 'must be a string');
    return v;
  }

  boolean(v: unknown, at: string): boolean | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') throw this.fail(at, 'must be true or false');
    return v;
  }

  /** A `-data` field: base64 of PEM text. */
  base64(v: unknown, at: string): string | undefined {
    const s = this.string(v, at);
    if (s === undefined || s === '') return undefined;
    const compact = s.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1)
      throw this.fail(at, 'is not base64');
    return Buffer.from(compact, 'base64').toString('utf8');
  }

  name<T>(v: unknown, at: string, seen: Map<string, T>): string {
    const name = this.string(v, at) ?? '';
    if (name === '') throw this.fail(at, 'is missing');
    if (seen.has(name)) throw this.fail(at, `repeats the name ${JSON.stringify(name)}`);
    return name;
  }
}
