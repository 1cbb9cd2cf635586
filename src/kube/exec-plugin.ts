import { spawn } from 'node:child_process';

import type { ExecConfig, KubeCluster } from './kubeconfig.js';

// Runs a client-go credential plugin (`users[].user.exec`) as client-go's exec authenticator does:
// the command with its args, this process's environment plus the plugin's env and
// KUBERNETES_EXEC_INFO (an ExecCredential whose spec says the session is not interactive and,
// with provideClusterInfo, describes the cluster); its stdout is an ExecCredential of the same
// apiVersion whose status holds a bearer token or a client certificate and key, and when they
// expire. A service never has a terminal to give: stdin is closed and interactiveMode Always is
// refused.

/** What a plugin returned, as the transport uses it. */
export interface ExecCredential {
  readonly token?: string;
  /** PEM. Comes with clientKeyData. */
  readonly clientCertificateData?: string;
  readonly clientKeyData?: string;
  /** Milliseconds since the epoch; undefined: valid until the API server answers 401. */
  readonly expiresAt?: number;
}

export interface ExecPluginOptions {
  /** The environment the plugin starts from (this process's), before its own env entries. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The cluster's CA bundle (PEM), for provideClusterInfo. */
  readonly clusterCa?: string;
}

/** A plugin that runs longer than this is killed: nothing waits on a prompt that cannot come. */
export const EXEC_PLUGIN_TIMEOUT_MS = 60_000;
/** An ExecCredential is a few KiB (a certificate chain at most); more is not one. */
const MAX_EXEC_OUTPUT_BYTES = 1024 * 1024;
/** Of the plugin's stderr, only this tail is kept, for the error message. */
const MAX_STDERR_TAIL = 1024;

/** A plugin that could not run or whose output is not a usable ExecCredential. */
export class ExecPluginError extends Error {
  override readonly name = 'ExecPluginError';
}

export async function runExecPlugin(
  exec: ExecConfig,
  cluster: KubeCluster,
  options: ExecPluginOptions,
): Promise<ExecCredential> {
  const plugin = `exec plugin ${JSON.stringify(exec.command)}`;
  if (exec.interactiveMode === 'Always')
    throw new ExecPluginError(
      `${plugin} has interactiveMode Always: it needs a terminal, and this service never gives a plugin one`,
    );
  const info = {
    apiVersion: exec.apiVersion,
    kind: 'ExecCredential',
    spec: {
      interactive: false,
      ...(exec.provideClusterInfo ? { cluster: clusterInfo(cluster, options.clusterCa) } : {}),
    },
  };
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(options.env))
    if (value !== undefined) env[name] = value;
  for (const { name, value } of exec.env) env[name] = value;
  env.KUBERNETES_EXEC_INFO = JSON.stringify(info);

  const stdout = await new Promise<Buffer>((resolve, reject) => {
    const child = spawn(exec.command, [...exec.args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let size = 0;
    let stderr = '';
    let failure: Error | undefined;
    const fail = (err: Error): void => {
      failure ??= err;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => {
      fail(
        new ExecPluginError(
          `${plugin} did not finish within ${String(EXEC_PLUGIN_TIMEOUT_MS / 1000)} s`,
        ),
      );
    }, EXEC_PLUGIN_TIMEOUT_MS);
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_EXEC_OUTPUT_BYTES) {
        fail(
          new ExecPluginError(`${plugin} wrote more than ${String(MAX_EXEC_OUTPUT_BYTES)} bytes`),
        );
        return;
      }
      chunks.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-MAX_STDERR_TAIL);
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      const hint = exec.installHint !== undefined ? `\n${exec.installHint}` : '';
      fail(
        new ExecPluginError(
          err.code === 'ENOENT'
            ? `${plugin} was not found${hint}`
            : `${plugin} could not start: ${err.code ?? err.message}`,
        ),
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (failure !== undefined) {
        reject(failure);
        return;
      }
      if (code !== 0) {
        const last = stderr.trim().split('\n').at(-1) ?? '';
        reject(
          new ExecPluginError(
            `${plugin} failed (${code !== null ? `exit code ${String(code)}` : `signal ${String(signal)}`})${last !== '' ? `: ${last}` : ''}`,
          ),
        );
        return;
      }
      resolve(Buffer.concat(chunks));
    });
  });
  return parseExecCredential(plugin, exec.apiVersion, stdout);
}

/** The cluster as ExecCredential.spec.cluster describes it (client.authentication.k8s.io). */
function clusterInfo(cluster: KubeCluster, ca: string | undefined): Record<string, unknown> {
  return {
    server: cluster.server,
    ...(cluster.tlsServerName !== undefined ? { 'tls-server-name': cluster.tlsServerName } : {}),
    ...(cluster.insecureSkipTlsVerify === true ? { 'insecure-skip-tls-verify': true } : {}),
    ...(ca !== undefined
      ? { 'certificate-authority-data': Buffer.from(ca).toString('base64') }
      : {}),
    ...(cluster.proxyUrl !== undefined ? { 'proxy-url': cluster.proxyUrl } : {}),
    ...(cluster.execExtension !== undefined ? { config: cluster.execExtension } : {}),
  };
}

/** Checks the plugin's output; errors describe it, never quote it (it holds a credential). */
function parseExecCredential(plugin: string, apiVersion: string, out: Buffer): ExecCredential {
  let doc: unknown;
  try {
    doc = JSON.parse(out.toString('utf8'));
  } catch {
    throw new ExecPluginError(
      `${plugin} wrote ${String(out.length)} bytes that are not a JSON ExecCredential`,
    );
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new ExecPluginError(`${plugin} wrote JSON that is not an ExecCredential object`);
  const cred = doc as Record<string, unknown>;
  if (cred.kind !== 'ExecCredential')
    throw new ExecPluginError(`${plugin} wrote an object whose kind is not ExecCredential`);
  if (cred.apiVersion !== apiVersion)
    throw new ExecPluginError(
      `${plugin} is configured to use API version ${apiVersion}, plugin returned version ${typeof cred.apiVersion === 'string' ? cred.apiVersion : 'none'}`,
    );
  const status = cred.status;
  if (typeof status !== 'object' || status === null)
    throw new ExecPluginError(`${plugin} didn't return a status field`);
  const s = status as Record<string, unknown>;
  const str = (key: string): string | undefined => {
    const v = s[key];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string')
      throw new ExecPluginError(`${plugin}: status.${key} is not a string`);
    return v;
  };
  const token = str('token');
  const cert = str('clientCertificateData');
  const key = str('clientKeyData');
  if (token === undefined && cert === undefined && key === undefined)
    throw new ExecPluginError(`${plugin} didn't return a token or cert/key pair`);
  if ((cert === undefined) !== (key === undefined))
    throw new ExecPluginError(`${plugin} returned only certificate or key, not both`);
  if (token !== undefined && /[\0\r\n]/.test(token))
    throw new ExecPluginError(`${plugin} returned a token a header cannot carry`);
  const expiry = str('expirationTimestamp');
  let expiresAt: number | undefined;
  if (expiry !== undefined) {
    expiresAt = Date.parse(expiry);
    if (!Number.isFinite(expiresAt))
      throw new ExecPluginError(`${plugin}: status.expirationTimestamp is not an RFC 3339 time`);
  }
  return {
    ...(token !== undefined ? { token } : {}),
    ...(cert !== undefined && key !== undefined
      ? { clientCertificateData: cert, clientKeyData: key }
      : {}),
    ...(expiresAt !== undefined ? { expiresAt } : {}),
  };
}
