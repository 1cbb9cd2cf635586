import { readFileSync, statSync } from 'node:fs';

import { runExecPlugin } from './exec-plugin.js';
import type { ExecCredential } from './exec-plugin.js';
import type { KubeConfig } from './kubeconfig.js';

// What each request to the API server carries: the Authorization and Impersonate-* headers and the
// TLS material of its connection. Files are read again when they change (a rotated bound service
// account token, a renewed client certificate: each request stats them, which costs microseconds),
// an exec plugin runs again when its credential expires or the API server answers 401.

/** The TLS settings of a connection: the same object as long as none of its parts changed. */
export interface TlsMaterial {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly servername?: string;
  readonly rejectUnauthorized: boolean;
}

export interface RequestCredentials {
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  readonly tls: TlsMaterial;
  /** The exec plugin's credential these came from: a 401 re-runs the plugin once. */
  readonly exec?: ExecCredential;
}

export interface CredentialOptions {
  /** Clock for exec credential expiry. */
  readonly now: () => number;
  /** The environment an exec plugin starts from. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Token files, certificates and keys are a few KiB; more is not one. */
const MAX_CREDENTIAL_FILE_BYTES = 1024 * 1024;

/** A credential read failed; the message names the file, never its content. */
export class CredentialError extends Error {
  override readonly name = 'CredentialError';
}

/** A file read again only when its identity, size or times changed. */
class WatchedFile {
  private readonly path: string;
  private readonly what: string;
  private signature = '';
  private content = '';

  constructor(path: string, what: string) {
    this.path = path;
    this.what = what;
  }

  read(): string {
    try {
      const st = statSync(this.path, { bigint: true });
      const signature = `${String(st.dev)}:${String(st.ino)}:${String(st.size)}:${String(st.mtimeNs)}:${String(st.ctimeNs)}`;
      if (signature === this.signature) return this.content;
      if (st.size > BigInt(MAX_CREDENTIAL_FILE_BYTES))
        throw new CredentialError(
          `the ${this.what} ${this.path} is larger than ${String(MAX_CREDENTIAL_FILE_BYTES)} bytes`,
        );
      this.content = readFileSync(this.path, 'utf8');
      this.signature = signature;
      return this.content;
    } catch (err) {
      if (err instanceof CredentialError) throw err;
      const code =
        typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : String(err);
      throw new CredentialError(`cannot read the ${this.what} ${this.path}: ${code}`);
    }
  }
}

export class Credentials {
  private readonly caFile: WatchedFile | undefined;
  private readonly certFile: WatchedFile | undefined;
  private readonly keyFile: WatchedFile | undefined;
  private readonly tokenFile: WatchedFile | undefined;
  private tls: TlsMaterial | undefined;
  private execCredential: ExecCredential | undefined;
  private execRun: Promise<ExecCredential> | undefined;
  private readonly config: KubeConfig;
  private readonly options: CredentialOptions;

  constructor(config: KubeConfig, options: CredentialOptions) {
    this.config = config;
    this.options = options;
    const { cluster, user } = config;
    this.caFile =
      cluster.certificateAuthorityData === undefined && cluster.certificateAuthority !== undefined
        ? new WatchedFile(cluster.certificateAuthority, 'certificate authority')
        : undefined;
    this.certFile =
      user.clientCertificateData === undefined && user.clientCertificate !== undefined
        ? new WatchedFile(user.clientCertificate, 'client certificate')
        : undefined;
    this.keyFile =
      user.clientKeyData === undefined && user.clientKey !== undefined
        ? new WatchedFile(user.clientKey, 'client key')
        : undefined;
    this.tokenFile =
      user.token === undefined && user.tokenFile !== undefined
        ? new WatchedFile(user.tokenFile, 'token file')
        : undefined;
  }

  /** The headers and TLS material of the next request. */
  async get(): Promise<RequestCredentials> {
    const { user } = this.config;
    const headers: Record<string, string | readonly string[]> = {};
    let exec: ExecCredential | undefined;
    // client-go's order: a token (or token file) wins over the exec plugin; basic auth with a
    // token is refused when the kubeconfig is loaded.
    const token = user.token ?? this.tokenFile?.read().trim();
    if (token !== undefined && token !== '') {
      if (/[\0\r\n]/.test(token))
        throw new CredentialError(`the token of user ${user.name} contains a line break`);
      headers.authorization = `Bearer ${token}`;
    } else if (user.username !== undefined || user.password !== undefined) {
      const pair = `${user.username ?? ''}:${user.password ?? ''}`;
      headers.authorization = `Basic ${Buffer.from(pair).toString('base64')}`;
    } else if (user.exec !== undefined) {
      exec = await this.execCredentialNow();
      if (exec.token !== undefined) headers.authorization = `Bearer ${exec.token}`;
    }
    const as = user.impersonate;
    if (as !== undefined) {
      headers['impersonate-user'] = as.user;
      if (as.uid !== undefined) headers['impersonate-uid'] = as.uid;
      if (as.groups.length > 0) headers['impersonate-group'] = as.groups;
      for (const [key, values] of Object.entries(as.extra))
        headers[`impersonate-extra-${encodeURIComponent(key).toLowerCase()}`] = values;
    }
    return { headers, tls: this.tlsMaterial(exec), ...(exec !== undefined ? { exec } : {}) };
  }

  /**
   * After a 401 to a request made with `used`: drops its exec credential so the plugin runs
   * again, and says whether the request is worth sending once more (client-go refreshes the
   * credential for the next request; here that next request is the retry).
   */
  invalidate(used: RequestCredentials): boolean {
    if (used.exec === undefined) return false;
    if (this.execCredential === used.exec) this.execCredential = undefined;
    return true;
  }

  private async execCredentialNow(): Promise<ExecCredential> {
    const cached = this.execCredential;
    if (cached !== undefined && (cached.expiresAt ?? Infinity) > this.options.now()) return cached;
    this.execCredential = undefined;
    // Requests that need a credential at once share one run of the plugin.
    this.execRun ??= this.runExec().finally(() => {
      this.execRun = undefined;
    });
    return this.execRun;
  }

  private async runExec(): Promise<ExecCredential> {
    const { cluster, user } = this.config;
    if (user.exec === undefined) throw new CredentialError('no exec plugin');
    const ca = cluster.certificateAuthorityData ?? this.caFile?.read();
    const credential = await runExecPlugin(user.exec, cluster, {
      env: this.options.env,
      ...(ca !== undefined ? { clusterCa: ca } : {}),
    });
    this.execCredential = credential;
    return credential;
  }

  private tlsMaterial(exec: ExecCredential | undefined): TlsMaterial {
    const { cluster, user } = this.config;
    const ca = cluster.certificateAuthorityData ?? this.caFile?.read();
    // The plugin's certificate wins over the kubeconfig's, as Go's GetClientCertificate does.
    const cert = exec?.clientCertificateData ?? user.clientCertificateData ?? this.certFile?.read();
    const key = exec?.clientKeyData ?? user.clientKeyData ?? this.keyFile?.read();
    const servername = cluster.tlsServerName;
    const rejectUnauthorized = cluster.insecureSkipTlsVerify !== true;
    const last = this.tls;
    if (
      last !== undefined &&
      last.ca === ca &&
      last.cert === cert &&
      last.key === key &&
      last.servername === servername &&
      last.rejectUnauthorized === rejectUnauthorized
    )
      return last;
    this.tls = {
      ...(ca !== undefined ? { ca } : {}),
      ...(cert !== undefined ? { cert } : {}),
      ...(key !== undefined ? { key } : {}),
      ...(servername !== undefined ? { servername } : {}),
      rejectUnauthorized,
    };
    return this.tls;
  }
}
