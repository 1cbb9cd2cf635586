import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';

import { createHealthHandler } from '../../src/http/health.js';
import { createMetrics } from '../../src/observability/metrics.js';

describe('the probes and metrics server', () => {
  let base = '';
  let ready = { ready: false, reason: 'leading; waiting for the ClusterVersion watch to sync' };
  const server = createServer(
    createHealthHandler({
      live: () => true,
      ready: () => ready,
      metrics: createMetrics({
        isLeader: () => true,
        reconcileQueueDepth: () => 0,
        rechecks: () => [],
      }),
    }),
  );

  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('answers /healthz with 200 ok', async () => {
    const res = await fetch(`${base}/healthz`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'ok\n');
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  });

  it('answers /readyz with 503 and the reason until ready, then 200', async () => {
    const waiting = await fetch(`${base}/readyz`);
    assert.equal(waiting.status, 503);
    assert.equal(await waiting.text(), `${ready.reason}\n`);
    ready = { ready: true, reason: 'leading; ClusterVersion watch synced' };
    const ok = await fetch(`${base}/readyz?verbose`);
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), 'leading; ClusterVersion watch synced\n');
  });

  it('serves the metrics registry in its content type', async () => {
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    assert.match(await res.text(), /cvo_verifier_/);
  });

  it('answers HEAD without a body', async () => {
    const res = await fetch(`${base}/healthz`, { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '');
  });

  it('answers 404 to other paths and methods', async () => {
    assert.equal((await fetch(`${base}/`)).status, 404);
    assert.equal((await fetch(`${base}/v1/verify`, { method: 'POST', body: '{}' })).status, 404);
    assert.equal((await fetch(`${base}/healthz`, { method: 'POST', body: '' })).status, 404);
  });
});
