import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Route = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * A real HTTP server on 127.0.0.1 serving a signature store. Paths map to bodies or to handlers
 * that misbehave on purpose (500s, stalls, resets, redirects); anything else is a 404.
 */
export class StoreServer {
  readonly routes = new Map<string, Uint8Array | Route>();
  readonly requests: string[] = [];
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  private constructor(server: Server) {
    this.server = server;
  }

  static async start(): Promise<StoreServer> {
    // eslint-disable-next-line prefer-const -- assigned after the server that refers to it
    let self: StoreServer | undefined;
    const server = createServer((req, res) => {
      self?.handle(req, res);
    });
    self = new StoreServer(server);
    server.on('connection', (socket) => {
      self.sockets.add(socket);
      socket.on('close', () => self.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return self;
  }

  get url(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** Serves `signatures` for `digest` under `prefix` as signature-1..N. */
  publish(digest: string, signatures: readonly Uint8Array[], prefix = '/sigs'): void {
    signatures.forEach((body, i) =>
      this.routes.set(`${prefix}/${digest.replace(':', '=')}/signature-${i + 1}`, body),
    );
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    this.requests.push(path);
    const route = this.routes.get(path);
    if (route === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    } else if (route instanceof Uint8Array) {
      res
        .writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': route.length,
        })
        .end(route);
    } else {
      route(req, res);
    }
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
