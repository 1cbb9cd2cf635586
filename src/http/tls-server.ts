import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { RequestListener } from 'node:http';

export interface TlsServerOptions {
  readonly certFile: string;
  readonly keyFile: string;
  readonly host: string;
  readonly port: number;
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

/** An HTTPS server whose certificate and key are reloaded when their files change. */
export async function startTlsServer(
  app: RequestListener,
  options: TlsServerOptions,
): Promise<RunningTlsServer> {
  const read = async (): Promise<{ cert: string; key: string; hash: string }> => {
    const [cert, key] = await Promise.all([
      readFile(options.certFile, 'utf8'),
      readFile(options.keyFile, 'utf8'),
    ]);
    return { cert, key, hash: createHash('sha256').update(cert).update(key).digest('hex') };
  };
  let current = await read();
  const server = createServer({ cert: current.cert, key: current.key, minVersion: 'TLSv1.2' }, app);
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
        // served: the current pair stays until the next read finds a matching one.
        try {
          checkPair(next.cert, next.key);
          server.setSecureContext({ cert: next.cert, key: next.key, minVersion: 'TLSv1.2' });
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
