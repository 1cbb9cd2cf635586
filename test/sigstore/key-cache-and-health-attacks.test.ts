/**
 * From the issue-14 review: 6662f6e/6640b4c (parsed Sigstore roots of trust by content) and a5cc6fe
 * (bare node:http probes/metrics). Expected to pass (what held).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';

import { VerifyError } from '../../src/errors.js';
import { createHealthHandler } from '../../src/http/health.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { verifyWithKey } from '../../src/sigstore/public-key.js';
import { MAX_PARSED_TRUSTS, parseSignatureTrust } from '../../src/sigstore/signature-trust.js';

const pem = (k: ReturnType<typeof generateKeyPairSync>['publicKey']): string =>
  k.export({ format: 'pem', type: 'spki' }).toString();

describe('review: parsed Sigstore roots of trust', () => {
  it('never hands one key out for another, across eviction', () => {
    const pairs = Array.from({ length: MAX_PARSED_TRUSTS + 5 }, () =>
      generateKeyPairSync('ec', { namedCurve: 'P-256' }),
    );
    for (let round = 0; round < 2; round++) {
      for (const [i, pair] of pairs.entries()) {
        const trust = parseSignatureTrust({ type: 'publicKey', keyPem: pem(pair.publicKey) });
        assert.equal(trust.kind, 'key');
        if (trust.kind !== 'key') return;
        const data = Buffer.from(`payload ${i}`);
        const good = sign('sha256', data, pair.privateKey);
        const other = sign('sha256', data, pairs[(i + 1) % pairs.length]!.privateKey);
        assert.equal(verifyWithKey(trust.key, data, good), true);
        assert.equal(verifyWithKey(trust.key, data, other), false);
      }
    }
  });

  it('keeps a key-only and a key+Rekor root apart', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const rekor = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    const bare = parseSignatureTrust({ type: 'publicKey', keyPem: pem(publicKey) });
    const withRekor = parseSignatureTrust({
      type: 'publicKey',
      keyPem: pem(publicKey),
      rekorKeyPem: pem(rekor),
    });
    assert.notEqual(bare, withRekor);
    assert.equal(bare.kind === 'key' && bare.rekorKey, undefined);
    assert.ok(withRekor.kind === 'key' && withRekor.rekorKey !== undefined);
  });

  it('throws for an unusable key on every call (P-224, RSA-1024), never caches it', () => {
    const p224 = pem(generateKeyPairSync('ec', { namedCurve: 'P-224' }).publicKey);
    const rsa1024 = pem(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey);
    for (const keyPem of [p224, rsa1024, p224, rsa1024]) {
      assert.throws(
        () => parseSignatureTrust({ type: 'publicKey', keyPem }),
        (err: unknown) => err instanceof VerifyError && err.code === 'UNSUPPORTED_KEY',
      );
    }
  });

  it('RSA keys still verify PKCS#1 v1.5 only with the bare KeyObject (not PSS)', () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const trust = parseSignatureTrust({ type: 'publicKey', keyPem: pem(pair.publicKey) });
    assert.ok(trust.kind === 'key');
    if (trust.kind !== 'key') return;
    const data = Buffer.from('x');
    const pss = sign('sha256', data, { key: pair.privateKey, padding: 6 /* PSS */ });
    assert.equal(verifyWithKey(trust.key, data, pss), false);
    assert.equal(verifyWithKey(trust.key, data, sign('sha256', data, pair.privateKey)), true);
  });
});

describe('review: probes/metrics server', () => {
  let port = 0;
  const server = createServer(
    createHealthHandler({
      live: () => true,
      ready: () => ({ ready: true, reason: 'ok' }),
      metrics: createMetrics({
        isLeader: () => true,
        reconcileQueueDepth: () => 0,
        rechecks: () => [],
      }),
    }),
  );
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const raw = (
    method: string,
    path: string,
    body?: Buffer,
  ): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method, path }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
        );
      });
      req.on('error', reject);
      req.end(body);
    });

  it('serves nothing but the three paths: no traversal, no other methods', async () => {
    for (const path of [
      '/metrics/../etc/passwd',
      '/../metrics',
      '//metrics',
      '/%2e%2e/metrics',
      '/healthz/x',
    ]) {
      assert.equal((await raw('GET', path)).status, 404, path);
    }
    assert.equal((await raw('POST', '/metrics', Buffer.alloc(1024 * 1024))).status, 404);
    assert.equal((await raw('GET', '/metrics?x=1')).status, 200);
  });

  it('does not reflect request data into the answer', async () => {
    const res = await raw('GET', '/nope%0d%0aSet-Cookie:%20x=1');
    assert.equal(res.status, 404);
    assert.equal(res.text, 'not found\n');
  });
});
