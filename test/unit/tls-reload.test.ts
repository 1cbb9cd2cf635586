import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { describe, it } from 'node:test';
import { X509Certificate } from 'node:crypto';

import { startTlsServer } from '../../src/http/tls-server.js';
import { makeTestPki } from '../helpers/tls.js';

function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/', rejectUnauthorized: false, agent: false },
      (res) => {
        resolve((res.socket as unknown as TLSSocket).getPeerCertificate().fingerprint256);
        res.resume();
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('the TLS server reloading its certificate', () => {
  it('keeps serving the old pair while the files are mid-update, then serves the new one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cvo-tls-'));
    const a = await makeTestPki();
    const b = await makeTestPki();
    const certFile = join(dir, 'tls.crt');
    const keyFile = join(dir, 'tls.key');
    await writeFile(certFile, a.serverCert);
    await writeFile(keyFile, a.serverKey);
    const reloads: boolean[] = [];
    const server = await startTlsServer((_req, res) => res.end('ok'), {
      certFile,
      keyFile,
      host: '127.0.0.1',
      port: 0,
      reloadIntervalMs: 50,
      onReload: (ok) => reloads.push(ok),
    });
    const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    try {
      const first = new X509Certificate(a.serverCert).fingerprint256;
      assert.equal(await servedFingerprint(server.port), first);
      // The new key lands before its certificate: a mismatched pair must not be served.
      await writeFile(keyFile, b.serverKey);
      await wait(300);
      assert.ok(reloads.includes(false), 'the mismatched pair was not refused');
      assert.equal(await servedFingerprint(server.port), first);
      await writeFile(certFile, b.serverCert);
      const second = new X509Certificate(b.serverCert).fingerprint256;
      const deadline = Date.now() + 5_000;
      let served = first;
      while (served !== second && Date.now() < deadline) {
        await wait(50);
        served = await servedFingerprint(server.port);
      }
      assert.equal(served, second);
      assert.equal(reloads.at(-1), true);
    } finally {
      await server.close();
      await a.cleanup();
      await b.cleanup();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
