/**
 * Proxy selection as the cluster-version operator's: pkg/cvo/egress.go builds its transport from
 * the cluster Proxy's status through golang.org/x/net/http/httpproxy,
 *
 *   return &httpproxy.Config{
 *     HTTPProxy:  proxy.Status.HTTPProxy,
 *     HTTPSProxy: proxy.Status.HTTPSProxy,
 *     NoProxy:    proxy.Status.NoProxy,
 *   }, nil
 *
 * and `transport.Proxy` calls its ProxyFunc for each request URL. The table follows that
 * ProxyFunc's rules (vendor/golang.org/x/net/http/httpproxy/proxy.go): "if reqURL.Host is
 * "localhost" or a loopback address (with or without a port number), then a nil URL" and the
 * NO_PROXY forms `*`, CIDR, IP[:port], host[:port], .host, *.host.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';

import { request } from 'undici';

import {
  createProxyDispatcher,
  createProxyFunc,
  describeProxySettings,
} from '../../src/registry/proxy.js';
import { ConnectProxy } from '../../testbed/connect-proxy.js';

const P = 'http://proxy.corp:3128/';
const S = 'http://secure-proxy.corp:3129/';

describe('createProxyFunc (Go httpproxy semantics, as the CVO uses them)', () => {
  const table: readonly [noProxy: string, url: string, expected: string | undefined][] = [
    ['', 'https://quay.io/v2/', S],
    ['', 'http://quay.io/v2/', P],
    ['', 'ftp://quay.io/', undefined],
    // Loopback and localhost are never proxied, whatever noProxy says.
    ['', 'https://localhost:5000/', undefined],
    ['', 'https://127.0.0.1:5000/', undefined],
    ['', 'https://127.9.9.9/', undefined],
    ['', 'https://[::1]:5000/', undefined],
    // Go's IsLoopback and IP.Equal see an IPv4-mapped IPv6 address as the IPv4 address.
    ['', 'https://[::ffff:127.0.0.1]/', undefined],
    ['10.0.0.1', 'https://[::ffff:10.0.0.1]/', undefined],
    ['*', 'https://quay.io/', undefined],
    // host matches itself and subdomains; .host and *.host only subdomains.
    ['example.com', 'https://example.com/', undefined],
    ['example.com', 'https://registry.example.com/', undefined],
    ['example.com', 'https://notexample.com/', S],
    ['.example.com', 'https://example.com/', S],
    ['.example.com', 'https://registry.example.com/', undefined],
    ['*.example.com', 'https://example.com/', S],
    ['*.example.com', 'https://a.b.example.com/', undefined],
    // Ports: the URL's, else the scheme's default.
    ['example.com:443', 'https://example.com/', undefined],
    ['example.com:443', 'https://example.com:8443/', S],
    ['example.com:80', 'http://example.com/', undefined],
    // IPs and CIDRs match addresses only; domain entries never match an address.
    ['10.0.0.0/8', 'https://10.1.2.3:5000/', undefined],
    ['10.0.0.0/8', 'https://11.0.0.1/', S],
    ['192.168.1.1', 'https://192.168.1.1:5000/', undefined],
    ['192.168.1.1:80', 'https://192.168.1.1/', S],
    ['192.168.1.1:443', 'https://192.168.1.1/', undefined],
    ['fd00::/8', 'https://[fd00::1]/', undefined],
    ['example.com', 'https://10.0.0.1/', S],
    // Case and spaces, as the cluster network operator's comma lists carry them.
    [' .Cluster.Local , .svc ', 'https://api.cluster.local/', undefined],
    ['.cluster.local,.svc', 'https://registry.disconnected.test:5000/', S],
  ];
  for (const [noProxy, url, expected] of table) {
    it(`${JSON.stringify(noProxy)} ${url} → ${expected ?? 'direct'}`, () => {
      const proxyFor = createProxyFunc({ httpProxy: P, httpsProxy: S, noProxy });
      assert.equal(proxyFor(new URL(url))?.href, expected);
    });
  }

  it('takes a proxy without a scheme as http://, and none when none is set', () => {
    assert.equal(
      createProxyFunc({ httpsProxy: 'proxy.corp:3128' })(new URL('https://quay.io/'))?.href,
      'http://proxy.corp:3128/',
    );
    assert.equal(createProxyFunc({})(new URL('https://quay.io/')), undefined);
  });

  it('describes settings without the credentials a proxy URL may carry', () => {
    assert.deepEqual(
      describeProxySettings({ httpsProxy: 'http://user:s3cret@proxy.corp:3128', noProxy: '.svc' }),
      { httpsProxy: 'http://proxy.corp:3128', noProxy: '.svc' },
    );
  });
});

describe('createProxyDispatcher', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('tunnels https origins with CONNECT, forwards http ones, and connects directly to loopback and noProxy hosts', async () => {
    const proxy = await ConnectProxy.start({});
    cleanups.push(() => proxy.close());
    const origin = createServer((_req, res) => res.end('direct'));
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => origin.close(() => resolve())));
    const port = (origin.address() as AddressInfo).port;
    const dispatcher = createProxyDispatcher({
      proxy: { httpProxy: proxy.url, httpsProxy: proxy.url, noProxy: 'bypassed.test' },
    });
    cleanups.push(() => dispatcher.close());

    // Loopback: direct.
    const direct = await request(`http://127.0.0.1:${port}/`, { dispatcher });
    assert.equal(await direct.body.text(), 'direct');
    // http: an absolute-form request to the proxy (this one refuses it).
    const forwarded = await request('http://registry.example.test:5000/v2/', { dispatcher });
    await forwarded.body.dump();
    assert.equal(forwarded.statusCode, 405);
    // https: a CONNECT tunnel (refused: the proxy does not know the name).
    await assert.rejects(request('https://registry.example.test:5000/v2/', { dispatcher }));
    // noProxy: direct, so the name must resolve (it does not), and the proxy sees nothing.
    await assert.rejects(request('https://bypassed.test/v2/', { dispatcher }));
    assert.deepEqual(proxy.seen, [
      'GET http://registry.example.test:5000/v2/',
      'CONNECT registry.example.test:5000',
    ]);
  });
});
