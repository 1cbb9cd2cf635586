import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';

import { KubeConfig } from '@kubernetes/client-node';

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
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${String(port)}`, skipTLSVerify: true }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    kube = createKubePort(kc);
  });
  after(() => {
    server.close();
  });

  const cases: { name: string; status: number; body: string }[] = [
    {
      name: 'a 200 whose JSON is cut short in the data',
      status: 200,
      body: `{"kind":"Secret","apiVersion":"v1","metadata":{"name":"pull-secret"},"data":{".dockerconfigjson":"${SECRET}`,
    },
    { name: 'a 500 whose body is the secret as text', status: 500, body: SECRET },
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
        return true;
      });
    });
  }
});
