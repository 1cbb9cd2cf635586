import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { TLSSocket } from 'node:tls';
import type { PeerCertificate, SecureContextOptions } from 'node:tls';

export interface TlsServerOptions {
  readonly certFile: string;
  readonly keyFile: string;
  readonly host: string;
  readonly port: number;
  /**
   * PEM CA bundle for client certificates. Set, every connection must present a certificate
   * that chains to it, or the TLS handshake fails before any request is read. Re-read with the
   * serving pair.
   */
  readonly clientCaFile?: string;
  /**
   * With `clientCaFile`: the certificate's subject CN or one of its DNS SANs must be one of
   * these (exact match), else the request gets 403 before `app` sees it. Absent or empty, any
   * certificate from the CA is accepted.
   */
  readonly clientNames?: readonly string[];
  /** How often the files are re-read: mounted Secrets change by symlink swap, not in place. */
  readonly reloadIntervalMs?: number;
  readonly onReload?: (ok: boolean, error?: unknown) => void;
}

export interface RunningTlsServer {
  readonly server: Server;
  readonly port: number;
  close(): Promise<void>;
}

/** Throws unless `cert` is a readable certificate whose public key belongs to `key`. */
function checkPair(cert: string, key: string): void {
  if (!new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))) {
    throw new Error('the certificate does not match the private key');
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Throws unless `bundle` holds at least one certificate and every PEM block in it parses: a
 * half-written bundle must not replace the CA in use (OpenSSL would silently keep only the
 * blocks it could read).
 */
function checkCaBundle(bundle: string): void {
  const blocks = bundle.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new Error('the client CA file holds no PEM certificate');
  if ((bundle.match(/-----BEGIN /g) ?? []).length !== blocks.length)
    throw new Error('the client CA file holds a PEM block that is not a complete certificate');
  for (const block of blocks) new X509Certificate(block);
}

/**
 * The names a client certificate stands for: its subject CNs and its DNS subjectAltNames.
 * Node quotes a SAN value holding a separator or a quote (`DNS:"a, DNS:b"`); such a value is no
 * DNS name and is skipped rather than unquoted, so it can never smuggle an allowed name in.
 */
export function clientCertificateNames(
  cert: Pick<PeerCertificate, 'subject' | 'subjectaltname'>,
): string[] {
  const names: string[] = [];
  // Node types `subject.CN` as string, but a subject with several CNs yields an array.
  const cn = (cert.subject as { CN?: string | string[] } | undefined)?.CN;
  if (typeof cn === 'string') names.push(cn);
  else if (Array.isArray(cn)) names.push(...cn);
  const san = cert.subjectaltname ?? '';
  for (const match of san.matchAll(/(?:^|, )DNS:([^,"\s]+)(?=, |$)/g)) {
    if (match[1] !== undefined) names.push(match[1]);
  }
  return names;
}

/**
 * Wraps `app` so that a request whose client certificate names none of `allowed` is answered 403
 * and never reaches it. The TLS layer has already verified the chain; `authorized` is checked
 * again so that a listener misconfigured without `rejectUnauthorized` still fails closed.
 */
function requireClientName(app: RequestListener, allowed: ReadonlySet<string>): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    const names =
      socket instanceof TLSSocket && socket.authorized
        ? clientCertificateNames(socket.getPeerCertificate())
        : [];
    if (!names.some((n) => allowed.has(n))) {
      req.resume();
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: 'the client certificate does not name an allowed client (--webhook-client-names)',
        }),
      );
      return;
    }
    app(req, res);
  };
}

/**
 * An HTTPS server whose certificate and key (and client CA, when client certificates are
 * required) are reloaded when their files change.
 */
export async function startTlsServer(
  app: RequestListener,
  options: TlsServerOptions,
): Promise<RunningTlsServer> {
  const read = async (): Promise<{ cert: string; key: string; ca?: string; hash: string }> => {
    const [cert, key, ca] = await Promise.all([
      readFile(options.certFile, 'utf8'),
      readFile(options.keyFile, 'utf8'),
      options.clientCaFile !== undefined ? readFile(options.clientCaFile, 'utf8') : undefined,
    ]);
    const hash = createHash('sha256')
      .update(cert)
      .update(key)
      .update(ca ?? '')
      .digest('hex');
    return { cert, key, ...(ca !== undefined ? { ca } : {}), hash };
  };
  const contextOf = (files: { cert: string; key: string; ca?: string }): SecureContextOptions => ({
    cert: files.cert,
    key: files.key,
    minVersion: 'TLSv1.2',
    ...(files.ca !== undefined ? { ca: files.ca } : {}),
  });
  let current = await read();
  if (current.ca !== undefined) checkCaBundle(current.ca);
  const allowed = new Set(options.clientNames ?? []);
  const listener =
    options.clientCaFile !== undefined && allowed.size > 0 ? requireClientName(app, allowed) : app;
  const server = createServer(
    {
      ...contextOf(current),
      // Client certificates: required and verified against `ca` during the handshake, so a
      // client without one (or with one from another CA) never gets to send a request.
      ...(options.clientCaFile !== undefined
        ? { requestCert: true, rejectUnauthorized: true }
        : {}),
    },
    listener,
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const timer = setInterval(() => {
    read().then(
      (next) => {
        if (next.hash === current.hash) return;
        // Files caught mid-update (a key without its certificate, a half-written PEM) are not
        // served: the current files stay until the next read finds a consistent set.
        try {
          checkPair(next.cert, next.key);
          if (next.ca !== undefined) checkCaBundle(next.ca);
          // New handshakes use the new context; connections already open keep the identity they
          // were verified with.
          server.setSecureContext(contextOf(next));
        } catch (err) {
          options.onReload?.(false, err);
          return;
        }
        current = next;
        options.onReload?.(true);
      },
      (err: unknown) => options.onReload?.(false, err),
    );
  }, options.reloadIntervalMs ?? 10_000);
  timer.unref();
  return {
    server,
    port: (server.address() as AddressInfo).port,
    async close() {
      clearInterval(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
    },
  };
}
