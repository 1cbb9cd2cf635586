import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';

import { createKubePort } from '../../src/kube/client.js';
import type { KubePort } from '../../src/kube/client.js';

// A pull secret's content never reaches an error message: the API server (here a loopback
// stand-in for its HTTP answers, not a Kubernetes API) answers a Secret get in ways the client
// cannot use, and each error says what happened in fixed words.

const SECRET = Buffer.from('{"auths":{"quay.io":{"auth":"cm9ib3Q6aHVudGVyMg=="}}}').toString(
  'base64',
);

describe('reading a Secret: errors never quote its content', () => {
  let server: ReturnType<typeof createServer>;
  let kube: KubePort;
  let answer: { status: number; body: string } = { status: 200, body: '' };

  before(async () => {
    server = createServer((_req, res) => {
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    kube = createKubePort({
      contextName: 'x',
      cluster: { name: 'c', server: `http://127.0.0.1:${String(port)}` },
      user: { name: 'u' },
    });
  });
  after(() => {
    server.close();
  });

  const cases: { name: string; status: number; body: string; expect?: RegExp }[] = [
    {
      name: 'a 200 whose JSON is cut short in the data',
      status: 200,
      body: `{"kind":"Secret","apiVersion":"v1","metadata":{"name":"pull-secret"},"data":{".dockerconfigjson":"${SECRET}`,
    },
    { name: 'a 500 whose body is the secret as text', status: 500, body: SECRET },
    {
      name: 'a 200 that is JSON but not an object',
      status: 200,
      body: JSON.stringify([SECRET]),
    },
    {
      name: 'a 200 whose data is not a map of strings',
      status: 200,
      body: JSON.stringify({ kind: 'Secret', data: { '.dockerconfigjson': [SECRET] } }),
    },
    {
      name: 'a 200 larger than an object may be',
      status: 200,
      body: JSON.stringify({ kind: 'Secret', data: { pad: 'x'.repeat(9 * 1024 * 1024), SECRET } }),
    },
    {
      name: 'a 403 whose Status message is longer than a Status message is',
      status: 403,
      body: JSON.stringify({ kind: 'Status', code: 403, message: `${SECRET} ${'x'.repeat(2000)}` }),
    },
    {
      name: 'a 403 Status naming the Secret',
      status: 403,
      body: JSON.stringify({
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        message: 'secrets "pull-secret" is forbidden',
        reason: 'Forbidden',
        code: 403,
      }),
      expect: /^get secret openshift-config\/pull-secret: 403 secrets "pull-secret" is forbidden$/,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      answer = c;
      await assert.rejects(kube.getSecret('openshift-config', 'pull-secret'), (err: unknown) => {
        const text = `${String(err)} ${JSON.stringify(err)} ${err instanceof Error ? String(err.cause) : ''}`;
        assert.ok(!text.includes(SECRET.slice(8, 40)), `secret quoted: ${text}`);
        assert.ok(!text.includes('hunter2'));
        assert.match(String(err), /get secret openshift-config\/pull-secret: /);
        assert.ok(err instanceof Error && err.cause === undefined, 'no cause is kept');
        if (c.expect !== undefined) assert.match(err.message, c.expect);
        return true;
      });
    });
  }
});
