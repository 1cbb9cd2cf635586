import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { clientCertificateNames, startTlsServer } from '../../src/http/tls-server.js';
import type { RunningTlsServer } from '../../src/http/tls-server.js';
import { makeTestPki } from '../helpers/tls.js';
import type { TestPki } from '../helpers/tls.js';

type Outcome = { status: number; body: string } | { error: string };

/** One GET over a fresh connection, presenting `client` when given. */
function call(
  port: number,
  caPem: string,
  client?: { cert: string; key: string },
): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/', ca: caPem, agent: false, ...(client ?? {}) },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body });
        });
        res.on('error', (err) => {
          resolve({ error: err.message });
        });
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      resolve({ error: err.code ?? err.message });
    });
    req.end();
  });
}

describe('clientCertificateNames', () => {
  const cases: [
    string,
    { subject?: Record<string, unknown>; subjectaltname?: string },
    string[],
  ][] = [
    ['CN only', { subject: { CN: 'kube-apiserver' } }, ['kube-apiserver']],
    [
      'CN and DNS SANs',
      { subject: { CN: 'a' }, subjectaltname: 'DNS:b.example, IP Address:127.0.0.1, DNS:c' },
      ['a', 'b.example', 'c'],
    ],
    ['several CNs', { subject: { CN: ['a', 'b'] } }, ['a', 'b']],
    ['no subject', { subjectaltname: 'DNS:x' }, ['x']],
    ['URI and email SANs are not names', { subjectaltname: 'URI:spiffe://x, email:a@b' }, []],
    // Node quotes a value with a separator in it; it must not be read as two names.
    ['a quoted SAN smuggling a name', { subjectaltname: 'DNS:"evil, DNS:allowed"' }, []],
    [
      'a quoted URI smuggling a name',
      { subjectaltname: 'URI:"http://x, DNS:allowed", DNS:real' },
      ['real'],
    ],
  ];
  for (const [name, cert, expected] of cases) {
    it(name, () => {
      assert.deepEqual(
        clientCertificateNames(cert as Parameters<typeof clientCertificateNames>[0]),
        expected,
      );
    });
  }
});

describe('the TLS server with client certificates required', () => {
  let pki: TestPki;
  let dir: string;
  let allowedByCn: { cert: string; key: string };
  let allowedBySan: { cert: string; key: string };
  let stranger: { cert: string; key: string };
  let foreign: { cert: string; key: string };
  const servers: RunningTlsServer[] = [];

  const start = async (clientNames?: readonly string[]): Promise<RunningTlsServer> => {
    const server = await startTlsServer((_req, res) => res.end('handled'), {
      certFile: join(dir, 'tls.crt'),
      keyFile: join(dir, 'tls.key'),
      clientCaFile: join(dir, 'client-ca.crt'),
      ...(clientNames !== undefined ? { clientNames } : {}),
      host: '127.0.0.1',
      port: 0,
      reloadIntervalMs: 50,
    });
    servers.push(server);
    return server;
  };

  before(async () => {
    pki = await makeTestPki();
    dir = await mkdtemp(join(tmpdir(), 'cvo-mtls-'));
    await writeFile(join(dir, 'tls.crt'), pki.serverCert);
    await writeFile(join(dir, 'tls.key'), pki.serverKey);
    await writeFile(join(dir, 'client-ca.crt'), pki.caPem);
    allowedByCn = await pki.issueClientCert('kube-apiserver-webhook-client');
    allowedBySan = await pki.issueClientCert('something-else', {
      dnsNames: ['apiserver.example'],
    });
    stranger = await pki.issueClientCert('stranger', { dnsNames: ['stranger.example'] });
    foreign = await pki.issueClientCert('kube-apiserver-webhook-client', { ca: 'other' });
  });

  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await pki.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  describe('when names are allowed', () => {
    const names = ['kube-apiserver-webhook-client', 'apiserver.example'];

    it('refuses a client without a certificate at the TLS layer', async () => {
      const server = await start(names);
      const outcome = await call(server.port, pki.caPem);
      assert.ok('error' in outcome, JSON.stringify(outcome));
    });

    it('refuses a certificate from another CA at the TLS layer', async () => {
      const server = await start(names);
      const outcome = await call(server.port, pki.caPem, foreign);
      assert.ok('error' in outcome, JSON.stringify(outcome));
    });

    it('answers 403, before the handler, to a certificate of the CA that names no allowed client', async () => {
      const server = await start(names);
      const outcome = await call(server.port, pki.caPem, stranger);
      assert.ok('status' in outcome, JSON.stringify(outcome));
      assert.equal(outcome.status, 403);
      assert.doesNotMatch(outcome.body, /handled/);
    });

    it('hands an allowed CN or DNS SAN to the handler', async () => {
      const server = await start(names);
      for (const client of [allowedByCn, allowedBySan]) {
        assert.deepEqual(await call(server.port, pki.caPem, client), {
          status: 200,
          body: 'handled',
        });
      }
    });
  });

  describe('when no names are given', () => {
    it('accepts any certificate of the CA', async () => {
      const server = await start();
      assert.deepEqual(await call(server.port, pki.caPem, stranger), {
        status: 200,
        body: 'handled',
      });
      assert.ok('error' in (await call(server.port, pki.caPem, foreign)));
    });
  });

  describe('when the client CA file changes', () => {
    it('trusts the new CA for new connections and no longer the old one', async () => {
      const server = await start();
      const caFile = join(dir, 'client-ca.crt');
      try {
        await writeFile(caFile, '-----BEGIN CERTIFICATE-----\nMIIB');
        await new Promise((resolve) => setTimeout(resolve, 200));
        // A half-written bundle is not loaded: the old CA still works.
        assert.deepEqual(await call(server.port, pki.caPem, stranger), {
          status: 200,
          body: 'handled',
        });
        await writeFile(caFile, pki.otherCaPem);
        const deadline = Date.now() + 5_000;
        let outcome = await call(server.port, pki.caPem, foreign);
        while ('error' in outcome && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          outcome = await call(server.port, pki.caPem, foreign);
        }
        assert.deepEqual(outcome, { status: 200, body: 'handled' });
        assert.ok('error' in (await call(server.port, pki.caPem, stranger)));
      } finally {
        await writeFile(caFile, pki.caPem);
      }
    });
  });
});
