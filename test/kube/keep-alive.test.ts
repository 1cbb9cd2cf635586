import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';

import { createKubePort, KubeApiError } from '../../src/kube/client.js';
import type { KubeConfig, KubePort } from '../../src/kube/client.js';
import type { ClusterVersion } from '../../src/kube/types.js';
import { ConnectProxy } from '../../testbed/connect-proxy.js';
import { makeTestPki } from '../helpers/tls.js';
import type { TestPki } from '../helpers/tls.js';

// The port shares one keep-alive dispatcher across requests and watches (@kubernetes/client-node
// 2.0.1, which the port replaced, opened a new connection for every request). Counted where it
// shows: new TLS sessions on a loopback stand-in for the API server (HTTPS, client certificate
// required), and CONNECTs at the kubeconfig's proxy.

const CV_PATH = '/apis/config.openshift.io/v1/clusterversions';

function clusterVersion(resourceVersion: string, image: string): ClusterVersion {
  return {
    apiVersion: 'config.openshift.io/v1',
    kind: 'ClusterVersion',
    metadata: { name: 'version', resourceVersion },
    spec: { clusterID: 'c', desiredUpdate: { image } },
  };
}

/** The API server's answers this suite needs: a ConfigMap, a ClusterVersion list and its watch. */
class FakeApiServer {
  /** TLS sessions accepted, in order. */
  connections = 0;
  /** Authorization header and client certificate CN of every request. */
  readonly requests: { url: string; authorization: string | undefined; cn: unknown }[] = [];
  private readonly watches = new Set<ServerResponse>();
  private readonly server: Server;

  constructor(pki: TestPki) {
    this.server = createServer(
      {
        key: pki.serverKey,
        cert: pki.serverCert,
        ca: pki.caPem,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        this.answer(req, res);
      },
    );
    this.server.on('secureConnection', () => {
      this.connections++;
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `https://127.0.0.1:${String((this.server.address() as AddressInfo).port)}`;
  }

  get openWatches(): number {
    return this.watches.size;
  }

  /** Sends a watch event to every open watch. */
  push(type: string, object: unknown): void {
    for (const res of this.watches) res.write(`${JSON.stringify({ type, object })}\n`);
  }

  async close(): Promise<void> {
    for (const res of this.watches) res.end();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private answer(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'https://x');
    const socket = req.socket;
    const peer = socket instanceof TLSSocket ? socket.getPeerCertificate() : undefined;
    this.requests.push({
      url: url.pathname,
      authorization: req.headers.authorization,
      cn: peer?.subject.CN,
    });
    res.setHeader('content-type', 'application/json');
    if (url.pathname === CV_PATH && url.searchParams.get('watch') === 'true') {
      res.writeHead(200);
      res.flushHeaders();
      this.watches.add(res);
      res.on('close', () => this.watches.delete(res));
      return;
    }
    if (url.pathname === CV_PATH) {
      res.end(
        JSON.stringify({
          kind: 'ClusterVersionList',
          apiVersion: 'config.openshift.io/v1',
          metadata: { resourceVersion: '1' },
          items: [clusterVersion('1', 'first')],
        }),
      );
      return;
    }
    const cm = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps\/([^/]+)$/.exec(url.pathname);
    if (cm !== null) {
      res.end(
        JSON.stringify({
          kind: 'ConfigMap',
          apiVersion: 'v1',
          metadata: { namespace: cm[1], name: cm[2], resourceVersion: '7' },
          data: { served: 'yes' },
        }),
      );
      return;
    }
    res.writeHead(404).end(JSON.stringify({ kind: 'Status', code: 404, message: 'not found' }));
  }
}

function kubeConfig(
  server: string,
  ca: string,
  client: { cert: string; key: string },
  proxyUrl?: string,
): KubeConfig {
  return {
    contextName: 'x',
    cluster: {
      name: 'c',
      server,
      certificateAuthorityData: ca,
      ...(proxyUrl !== undefined ? { proxyUrl } : {}),
    },
    user: {
      name: 'u',
      clientCertificateData: client.cert,
      clientKeyData: client.key,
      token: 'tok-123',
    },
  };
}

describe('KubePort connections to the API server', () => {
  let pki: TestPki;
  let client: { cert: string; key: string };

  before(async () => {
    pki = await makeTestPki();
    client = await pki.issueClientCert('cvo-update-verifier');
  });
  after(async () => {
    await pki.cleanup();
  });

  // undici hands a connection back to its pool a tick after the response ends, so a request sent
  // straight after the previous one may open a second connection; from then on both are reused.
  // Each case warms up, then counts new connections: none.
  describe('when requests follow one another', () => {
    it('reuses the open connections, each request with the token and client certificate', async () => {
      const api = new FakeApiServer(pki);
      try {
        const kube = createKubePort(kubeConfig(await api.listen(), pki.caPem, client));
        const get = async (i: number): Promise<void> => {
          const cm = await kube.getConfigMap('openshift-config-managed', `cm-${String(i)}`);
          assert.equal(cm?.data?.served, 'yes');
        };
        for (let i = 0; i < 3; i++) await get(i);
        const warm = api.connections;
        assert.ok(warm <= 2, `${String(warm)} connections for 3 requests`);
        for (let i = 0; i < 10; i++) await get(i);
        assert.equal(api.connections, warm);
        assert.equal(api.requests.length, 13);
        for (const r of api.requests) {
          assert.equal(r.authorization, 'Bearer tok-123');
          assert.equal(r.cn, 'cvo-update-verifier');
        }
      } finally {
        await api.close();
      }
    });
  });

  describe('when requests run concurrently', () => {
    it('opens at most a few connections per request in flight, then reuses them', async () => {
      const api = new FakeApiServer(pki);
      try {
        const kube = createKubePort(kubeConfig(await api.listen(), pki.caPem, client));
        for (let round = 0; round < 8; round++) {
          await Promise.all([0, 1, 2].map((i) => kube.getConfigMap('ns', `cm-${String(i)}`)));
        }
        // 24 requests, 3 at a time: a pool of at most twice that (see above), not one each.
        assert.ok(api.connections <= 6, `${String(api.connections)} connections`);
        assert.equal(api.requests.length, 24);
      } finally {
        await api.close();
      }
    });
  });

  describe('when a watch is open', () => {
    it('keeps streaming events while other requests share one more connection', async () => {
      const api = new FakeApiServer(pki);
      const kube: KubePort = createKubePort(kubeConfig(await api.listen(), pki.caPem, client));
      const seen: string[] = [];
      let notify: () => void = () => undefined;
      const watcher = kube.watchClusterVersions({
        onChange: (cv) => {
          seen.push(cv.spec.desiredUpdate?.image ?? '');
          notify();
        },
      });
      const until = async (count: number): Promise<void> => {
        while (seen.length < count) {
          await new Promise<void>((resolve) => {
            notify = resolve;
            setTimeout(resolve, 50);
          });
        }
      };
      try {
        await watcher.start();
        await until(1);
        // The watch GET is sent after the list; wait for it before counting.
        while (api.openWatches === 0) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        for (let i = 0; i < 3; i++) await kube.getConfigMap('ns', `cm-${String(i)}`);
        const warm = api.connections;
        for (let i = 0; i < 4; i++) await kube.getConfigMap('ns', `cm-${String(i)}`);
        api.push('MODIFIED', clusterVersion('2', 'second'));
        await until(2);
        for (let i = 0; i < 4; i++) await kube.getConfigMap('ns', `cm-${String(i)}`);
        api.push('MODIFIED', clusterVersion('3', 'third'));
        await until(3);
        assert.deepEqual(seen, ['first', 'second', 'third']);
        // The watch holds its connection; the GETs beside it reuse theirs.
        assert.ok(warm <= 3, `${String(warm)} connections for a list, a watch and 3 requests`);
        assert.equal(api.connections, warm);
      } finally {
        await watcher.stop();
        await api.close();
      }
    });
  });

  describe('with a proxy in the kubeconfig', () => {
    it('tunnels through it once per connection, not per request', async () => {
      const api = new FakeApiServer(pki);
      const proxy = await ConnectProxy.start({ '127.0.0.1': '127.0.0.1' });
      try {
        const server = await api.listen();
        const kube = createKubePort(kubeConfig(server, pki.caPem, client, proxy.url));
        for (let i = 0; i < 3; i++) await kube.getConfigMap('ns', `cm-${String(i)}`);
        const warm = proxy.seen.length;
        assert.ok(warm <= 2, `${String(warm)} tunnels for 3 requests`);
        for (let i = 0; i < 10; i++) await kube.getConfigMap('ns', `cm-${String(i)}`);
        assert.deepEqual(proxy.seen, Array<string>(warm).fill(`CONNECT ${new URL(server).host}`));
        assert.equal(api.connections, warm);
      } finally {
        await proxy.close();
        await api.close();
      }
    });
  });

  describe('when the client certificate file is rotated', () => {
    it('connects anew with the new certificate, once, and reuses that connection', async () => {
      const api = new FakeApiServer(pki);
      const dir = await mkdtemp(join(tmpdir(), 'cvo-kube-cert-'));
      try {
        const certFile = join(dir, 'client.crt');
        const keyFile = join(dir, 'client.key');
        await writeFile(certFile, client.cert);
        await writeFile(keyFile, client.key);
        const kube = createKubePort({
          contextName: 'x',
          cluster: { name: 'c', server: await api.listen(), certificateAuthorityData: pki.caPem },
          user: { name: 'u', clientCertificate: certFile, clientKey: keyFile },
        });
        for (let i = 0; i < 3; i++) await kube.getConfigMap('ns', `cm-${String(i)}`);
        const before = api.connections;
        const rotated = await pki.issueClientCert('cvo-update-verifier-rotated');
        await writeFile(certFile, rotated.cert);
        await writeFile(keyFile, rotated.key);
        for (let i = 0; i < 10; i++) await kube.getConfigMap('ns', `cm-${String(i)}`);
        assert.deepEqual(
          api.requests.map((r) => r.cn),
          [
            ...Array<string>(3).fill('cvo-update-verifier'),
            ...Array<string>(10).fill('cvo-update-verifier-rotated'),
          ],
        );
        assert.ok(api.connections > before, 'a new connection for the new certificate');
        assert.ok(api.connections - before <= 2, `${String(api.connections - before)} new`);
        for (const r of api.requests) assert.equal(r.authorization, undefined);
      } finally {
        await api.close();
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  describe("with a CA that did not issue the server's certificate", () => {
    it('refuses the connection', async () => {
      const api = new FakeApiServer(pki);
      try {
        const kube = createKubePort(kubeConfig(await api.listen(), pki.otherCaPem, client));
        await assert.rejects(kube.getConfigMap('ns', 'cm'), KubeApiError);
        assert.equal(api.requests.length, 0);
      } finally {
        await api.close();
      }
    });
  });
});
