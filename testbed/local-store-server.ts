import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize, sep } from 'node:path';

const PREFIX = '/signatures/';

/**
 * Serves a signature-store directory (`sha256=<hex>/signature-N`) over HTTP on 127.0.0.1 (or
 * another address of this machine, for pods on the test node), as a mirror's web server would. Only GET of paths inside the directory; everything else is 404.
 */
export class LocalStoreServer {
  private readonly server: Server;
  private readonly root: string;
  private readonly host: string;

  private constructor(server: Server, root: string, host: string) {
    this.server = server;
    this.root = root;
    this.host = host;
  }

  static async start(root: string, host = '127.0.0.1'): Promise<LocalStoreServer> {
    // eslint-disable-next-line prefer-const -- assigned after the server that refers to it
    let self: LocalStoreServer | undefined;
    const server = createServer((req, res) => {
      const path = normalize(decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/'));
      const file = path.startsWith(PREFIX) ? join(root, path.slice(PREFIX.length)) : '';
      if (req.method !== 'GET' || !file.startsWith(root + sep) || self === undefined) {
        res.writeHead(404).end();
        return;
      }
      readFile(file).then(
        (body) => {
          res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
        },
        () => {
          res.writeHead(404).end();
        },
      );
    });
    self = new LocalStoreServer(server, root, host);
    await new Promise<void>((resolve) => server.listen(0, host, resolve));
    return self;
  }

  get url(): string {
    return `http://${this.host}:${(this.server.address() as AddressInfo).port}${PREFIX.slice(0, -1)}`;
  }

  get directory(): string {
    return this.root;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) =>
      this.server.close(() => {
        resolve();
      }),
    );
  }
}
