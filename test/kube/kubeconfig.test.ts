import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { dump } from 'js-yaml';

import { KubeConfigError, loadKubeConfig } from '../../src/kube/client.js';
import type { KubeConfig, KubeConfigOptions } from '../../src/kube/client.js';

// Kubeconfig loading as client-go's clientcmd does it, on real files in a temp directory.

const CA_PEM = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
const b64 = (text: string): string => Buffer.from(text).toString('base64');

interface Doc {
  clusters?: unknown[];
  users?: unknown[];
  contexts?: unknown[];
  'current-context'?: string;
}

const cluster = (name: string, fields: Record<string, unknown>): unknown => ({
  name,
  cluster: fields,
});
const user = (name: string, fields: Record<string, unknown>): unknown => ({ name, user: fields });
const context = (name: string, c: string, u?: string, namespace?: string): unknown => ({
  name,
  context: {
    cluster: c,
    ...(u !== undefined ? { user: u } : {}),
    ...(namespace ? { namespace } : {}),
  },
});

describe('loadKubeConfig', () => {
  let dir = '';
  let n = 0;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cvo-kubeconfig-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Writes `doc` as YAML into a fresh subdirectory (its relative paths resolve there). */
  async function file(doc: Doc | string, sub = `d${String(n++)}`): Promise<string> {
    await mkdir(join(dir, sub), { recursive: true });
    const path = join(dir, sub, 'config');
    await writeFile(path, typeof doc === 'string' ? doc : dump(doc));
    return path;
  }

  /** A one-context config for the cluster and user fields given. */
  function single(c: Record<string, unknown>, u: Record<string, unknown> = {}): Doc {
    return {
      clusters: [cluster('c', { server: 'https://api.example:6443', ...c })],
      users: [user('u', u)],
      contexts: [context('x', 'c', 'u')],
      'current-context': 'x',
    };
  }

  function refuses(options: KubeConfigOptions, pattern: RegExp): void {
    assert.throws(
      () => loadKubeConfig(options),
      (err: unknown) => {
        assert.ok(err instanceof KubeConfigError, String(err));
        assert.match(err.message, pattern);
        return true;
      },
    );
  }

  describe('when KUBECONFIG names several files', () => {
    it('lets the first file to set a name win and takes current-context from the first setting it', async () => {
      const first = await file({
        clusters: [cluster('shared', { server: 'https://first:6443' })],
        users: [user('shared', { token: 'first-token' })],
        contexts: [context('ctx', 'shared', 'shared')],
      });
      const second = await file({
        clusters: [
          cluster('shared', { server: 'https://second:6443' }),
          cluster('only-second', { server: 'https://only-second:6443' }),
        ],
        users: [user('shared', { token: 'second-token' })],
        contexts: [context('ctx', 'only-second', 'shared'), context('other', 'only-second')],
        'current-context': 'ctx',
      });
      const third = await file({
        contexts: [context('third', 'shared')],
        'current-context': 'third',
      });
      const kc = loadKubeConfig({ kubeconfigFiles: [first, second, third] });
      assert.equal(kc.contextName, 'ctx');
      assert.equal(kc.cluster.server, 'https://first:6443');
      assert.equal(kc.user.token, 'first-token');
      // The other order: the second file's context and cluster entries win.
      const reversed = loadKubeConfig({ kubeconfigFiles: [third, second, first] });
      assert.equal(reversed.contextName, 'third');
      assert.equal(reversed.cluster.server, 'https://second:6443');
      assert.equal(reversed.user.name, '');
    });

    it('skips missing files, reads a repeated one once, and refuses when none exists', async () => {
      const only = await file(single({}));
      const missing = join(dir, 'missing', 'config');
      const kc = loadKubeConfig({ kubeconfigFiles: [missing, only, only] });
      assert.equal(kc.cluster.server, 'https://api.example:6443');
      refuses({ kubeconfigFiles: [missing] }, /none of the KUBECONFIG files exists/);
    });
  });

  it('refuses a --kubeconfig file that does not exist', () => {
    refuses({ kubeconfig: join(dir, 'nope') }, /kubeconfig .*nope does not exist/);
  });

  it('resolves relative file paths against the directory of the file that names them', async () => {
    const path = await file(
      {
        clusters: [cluster('c', { server: 'https://a:6443', 'certificate-authority': 'ca.crt' })],
        users: [
          user('u', {
            'client-certificate': 'certs/client.crt',
            'client-key': '/abs/client.key',
            tokenFile: '../token',
            exec: {
              apiVersion: 'client.authentication.k8s.io/v1',
              command: './bin/plugin',
              interactiveMode: 'Never',
            },
          }),
          user('path-command', {
            exec: {
              apiVersion: 'client.authentication.k8s.io/v1beta1',
              command: 'kubelogin',
            },
          }),
        ],
        contexts: [context('x', 'c', 'u'), context('y', 'c', 'path-command')],
        'current-context': 'x',
      },
      'rel',
    );
    await writeFile(join(dir, 'rel', 'ca.crt'), CA_PEM);
    await mkdir(join(dir, 'rel', 'certs'), { recursive: true });
    await writeFile(join(dir, 'rel', 'certs', 'client.crt'), 'cert');
    await writeFile(join(dir, 'token'), 'tok');
    // client-key is absolute and missing: refused when the context is used.
    refuses(
      { kubeconfig: path },
      /cannot read the client-key of user u, \/abs\/client\.key: ENOENT/,
    );
    await writeFile(join(dir, 'rel', 'client.key'), 'key');
    const fixed = await file(
      readFileSync(path, 'utf8').replace('/abs/client.key', 'client.key'),
      'rel',
    );
    const kc = loadKubeConfig({ kubeconfig: fixed });
    assert.equal(kc.cluster.certificateAuthority, join(dir, 'rel', 'ca.crt'));
    assert.equal(kc.user.clientCertificate, join(dir, 'rel', 'certs', 'client.crt'));
    assert.equal(kc.user.clientKey, join(dir, 'rel', 'client.key'));
    assert.equal(kc.user.tokenFile, join(dir, 'token'));
    assert.equal(kc.user.exec?.command, join(dir, 'rel', 'bin', 'plugin'));
    // A bare command name is looked up in PATH, not in the kubeconfig's directory; v1beta1
    // defaults interactiveMode to IfAvailable.
    const y = loadKubeConfig({ kubeconfig: fixed, context: 'y' });
    assert.equal(y.user.exec?.command, 'kubelogin');
    assert.equal(y.user.exec?.interactiveMode, 'IfAvailable');
  });

  it('uses --context instead of current-context, and refuses one that does not exist', async () => {
    const path = await file({
      clusters: [cluster('a', { server: 'https://a:6443' }), cluster('b', { server: 'b:6443/' })],
      contexts: [context('ca', 'a', undefined, 'ns-a'), context('cb', 'b')],
      'current-context': 'ca',
    });
    const current: KubeConfig = loadKubeConfig({ kubeconfig: path });
    assert.equal(current.cluster.server, 'https://a:6443');
    assert.equal(current.namespace, 'ns-a');
    // A server without a scheme is https, without its trailing slash.
    assert.equal(
      loadKubeConfig({ kubeconfig: path, context: 'cb' }).cluster.server,
      'https://b:6443',
    );
    refuses({ kubeconfig: path, context: 'nope' }, /context "nope" does not exist in kubeconfig/);
    const none = await file({ clusters: [cluster('a', { server: 'https://a' })] });
    refuses({ kubeconfig: none }, /sets no current-context: pass --context/);
  });

  it('reads data fields as base64 PEM and keeps a token out of a YAML error', async () => {
    const kc = loadKubeConfig({
      kubeconfig: await file(
        single(
          { 'certificate-authority-data': b64(CA_PEM), 'tls-server-name': 'kubernetes' },
          { 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY') },
        ),
      ),
    });
    assert.equal(kc.cluster.certificateAuthorityData, CA_PEM);
    assert.equal(kc.cluster.tlsServerName, 'kubernetes');
    assert.equal(kc.user.clientCertificateData, 'CERT');
    const broken = await file('users:\n- name: u\n  user:\n    token: "s3cret-token\n  bad: [\n');
    assert.throws(
      () => loadKubeConfig({ kubeconfig: broken }),
      (err: unknown) => {
        assert.ok(err instanceof KubeConfigError);
        assert.match(err.message, /is not valid YAML/);
        assert.ok(!err.message.includes('s3cret'), err.message);
        return true;
      },
    );
  });

  describe('refuses what it cannot use, naming it', () => {
    const cases: {
      name: string;
      doc: () => Doc;
      error: RegExp;
      never?: string;
    }[] = [
      {
        name: 'an auth-provider, by its name',
        doc: () => single({}, { 'auth-provider': { name: 'oidc', config: { 'id-token': 'jwt' } } }),
        error:
          /auth-provider "oidc", which is not supported: use a client\.authentication\.k8s\.io exec plugin/,
        never: 'jwt',
      },
      {
        name: 'a SOCKS proxy, by its scheme and host but not its password',
        doc: () => single({ 'proxy-url': 'socks5://me:pa55word@proxy.example:1080' }),
        error:
          /proxy-url is a socks5 proxy \(proxy\.example:1080\): SOCKS proxies are not supported/,
        never: 'pa55word',
      },
      {
        name: 'an exec plugin of an unknown apiVersion',
        doc: () =>
          single(
            {},
            { exec: { apiVersion: 'client.authentication.k8s.io/v1alpha1', command: 'x' } },
          ),
        error: /exec\.apiVersion is "client\.authentication\.k8s\.io\/v1alpha1": only/,
      },
      {
        name: 'a v1 exec plugin without interactiveMode',
        doc: () =>
          single({}, { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'x' } }),
        error: /exec\.interactiveMode must be set for client\.authentication\.k8s\.io\/v1/,
      },
      {
        name: 'a token together with basic auth',
        doc: () => single({}, { token: 't0ken', username: 'me', password: 'pw' }),
        error: /sets both a token and username\/password/,
        never: 't0ken',
      },
      {
        name: 'a client certificate without its key',
        doc: () => single({}, { 'client-certificate-data': b64('CERT') }),
        error: /client certificate without its key/,
      },
      {
        name: 'insecure-skip-tls-verify with a CA',
        doc: () =>
          single({ 'insecure-skip-tls-verify': true, 'certificate-authority-data': b64(CA_PEM) }),
        error: /sets insecure-skip-tls-verify and a certificate authority/,
      },
      {
        name: 'a server that is not http(s)',
        doc: () => single({ server: 'ftp://api.example' }),
        error: /clusters\[0\]\.cluster\.server has scheme ftp:/,
      },
      {
        name: 'a context whose user is missing',
        doc: () => ({ ...single({}), contexts: [context('x', 'c', 'ghost')] }),
        error: /user "ghost" of context "x" does not exist/,
      },
      {
        name: 'a name used twice in one file',
        doc: () => ({ ...single({}), users: [user('u', {}), user('u', {})] }),
        error: /users\[1\]\.name repeats the name "u"/,
      },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        const path = await file(c.doc());
        assert.throws(
          () => loadKubeConfig({ kubeconfig: path }),
          (err: unknown) => {
            assert.ok(err instanceof KubeConfigError, String(err));
            assert.match(err.message, c.error);
            if (c.never !== undefined) assert.ok(!err.message.includes(c.never), err.message);
            return true;
          },
        );
      });
    }

    it('an auth-provider user only when a context uses it', async () => {
      const path = await file({
        ...single({}),
        users: [user('u', {}), user('gcp', { 'auth-provider': { name: 'gcp' } })],
        contexts: [context('x', 'c', 'u'), context('g', 'c', 'gcp')],
      });
      assert.equal(loadKubeConfig({ kubeconfig: path }).user.name, 'u');
      refuses({ kubeconfig: path, context: 'g' }, /auth-provider "gcp"/);
    });
  });

  describe('in a pod (in-cluster)', () => {
    async function serviceAccount(files: Record<string, string>): Promise<string> {
      const sa = join(dir, `sa-${String(n++)}`);
      await mkdir(sa, { recursive: true });
      for (const [name, content] of Object.entries(files)) await writeFile(join(sa, name), content);
      return sa;
    }

    it('talks https to the service host and port, brackets an IPv6 host, reads ca.crt and the namespace', async () => {
      const sa = await serviceAccount({
        token: 'tok\n',
        'ca.crt': CA_PEM,
        namespace: 'openshift-cvo\n',
      });
      const v4 = loadKubeConfig({
        inCluster: { host: '10.0.0.1', port: '443', serviceAccountDir: sa },
      });
      assert.equal(v4.cluster.server, 'https://10.0.0.1:443');
      assert.equal(v4.cluster.certificateAuthority, join(sa, 'ca.crt'));
      assert.equal(v4.user.tokenFile, join(sa, 'token'));
      assert.equal(v4.namespace, 'openshift-cvo');
      const v6 = loadKubeConfig({
        inCluster: { host: 'fd00::1', port: '6443', serviceAccountDir: sa },
      });
      assert.equal(v6.cluster.server, 'https://[fd00::1]:6443');
      // Without ca.crt, the system's CAs (client-go logs and goes on).
      const bare = await serviceAccount({ token: 'tok' });
      const noCa = loadKubeConfig({
        inCluster: { host: 'kubernetes', port: '443', serviceAccountDir: bare },
      });
      assert.equal(noCa.cluster.certificateAuthority, undefined);
      assert.equal(noCa.namespace, undefined);
    });

    it('refuses without the port, without the token, or with a --context', async () => {
      const sa = await serviceAccount({ token: 'tok' });
      refuses(
        { inCluster: { host: '10.0.0.1', serviceAccountDir: sa } },
        /needs both KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT/,
      );
      refuses(
        { inCluster: { host: '10.0.0.1', port: '443', serviceAccountDir: join(dir, 'no-sa') } },
        /cannot read the in-cluster service account token, .*no-sa\/token: ENOENT/,
      );
      refuses(
        { inCluster: { host: '10.0.0.1', port: '443', serviceAccountDir: sa }, context: 'x' },
        /context "x" does not exist: the in-cluster configuration has no contexts/,
      );
    });
  });
});
