/**
 * A CONNECT-only forward proxy on 127.0.0.1, as a disconnected cluster's egress proxy: it tunnels
 * `CONNECT host:port` to the address its `hosts` table gives the name (names nobody else can
 * resolve, so the proxy is the only way to them), refuses every other request, and records each
 * CONNECT target. Used by the tests and the walkthrough; never part of the service.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { connect as netConnect } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';

export class ConnectProxy {
  /** `host:port` of every CONNECT, in order (refused ones included). */
  readonly seen: string[] = [];
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly hosts: ReadonlyMap<string, string>;

  private constructor(hosts: ReadonlyMap<string, string>) {
    this.hosts = hosts;
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      this.seen.push(`${req.method ?? '?'} ${req.url ?? ''}`);
      res.writeHead(405, { connection: 'close' }).end('this proxy only tunnels (CONNECT)\n');
    });
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    this.server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
      this.tunnel(req, client, head);
    });
  }

  /** `hosts`: name → IP address the proxy connects to for it (other names are refused). */
  static async start(hosts: Readonly<Record<string, string>>): Promise<ConnectProxy> {
    const proxy = new ConnectProxy(new Map(Object.entries(hosts)));
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(0, '127.0.0.1', () => {
        proxy.server.off('error', reject);
        resolve();
      });
    });
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private tunnel(req: IncomingMessage, client: Socket, head: Buffer): void {
    const target = req.url ?? '';
    this.seen.push(`CONNECT ${target}`);
    client.on('error', () => undefined);
    const colon = target.lastIndexOf(':');
    const address = this.hosts.get(target.slice(0, colon));
    const port = Number(target.slice(colon + 1));
    if (colon === -1 || address === undefined || !Number.isInteger(port)) {
      client.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\n\r\n');
      return;
    }
    const upstream = netConnect(port, address, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => {
      client.destroy();
    });
    client.on('close', () => upstream.destroy());
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }
}
