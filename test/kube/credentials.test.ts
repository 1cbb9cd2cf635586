import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { dump } from 'js-yaml';

import { createKubePort, KubeApiError, loadKubeConfig } from '../../src/kube/client.js';
import type { KubePort } from '../../src/kube/client.js';
import { startTestCluster } from '../helpers/local-cluster.js';
import type { TestCluster } from '../helpers/local-cluster.js';

// How the port authenticates, against a real kube-apiserver (static tokens for the admin and an
// unprivileged user, bound service account tokens): exec plugins as real scripts writing
// ExecCredential JSON, token files rotated on disk, and the in-cluster service account mount.

/**
 * A credential plugin: counts its runs in $DIR/runs, keeps each run's KUBERNETES_EXEC_INFO and
 * arguments, and prints an ExecCredential with $FIRST_TOKEN on its first run (when set) and
 * $TOKEN after, expiring at $EXP (when set). $FAIL makes it fail as a plugin does.
 */
const PLUGIN = `#!/bin/sh
n=$(cat "$DIR/runs" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$DIR/runs"
printf '%s' "$KUBERNETES_EXEC_INFO" > "$DIR/info-$n.json"
echo "$@" > "$DIR/args-$n"
if [ -n "$FAIL" ]; then
  echo "starting the login flow" >&2
  echo "error: $FAIL" >&2
  exit 3
fi
token="$TOKEN"
if [ "$n" = 1 ] && [ -n "$FIRST_TOKEN" ]; then token="$FIRST_TOKEN"; fi
expiry=""
if [ -n "$EXP" ]; then expiry=",\\"expirationTimestamp\\":\\"$EXP\\""; fi
printf '{"apiVersion":"%s","kind":"ExecCredential","status":{"token":"%s"%s}}' "$API_VERSION" "$token" "$expiry"
`;

describe('KubePort credentials against a real kube-apiserver', () => {
  let tc: TestCluster | undefined;
  let skip = 'no cluster';
  let dir = '';
  let n = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cvo-kube-credentials-'));
    const started = await startTestCluster();
    if ('skip' in started) {
      skip = started.skip;
      return;
    }
    tc = started;
  });
  after(async () => {
    await tc?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** A fresh directory holding a kubeconfig for the cluster with `user`, and the plugin. */
  async function kubeconfigWith(
    c: TestCluster,
    userFields: Record<string, unknown>,
  ): Promise<{ dir: string; kubeconfig: string }> {
    const d = join(dir, `k${String(n++)}`);
    await mkdir(join(d, 'bin'), { recursive: true });
    await writeFile(join(d, 'bin', 'plugin.sh'), PLUGIN);
    await chmod(join(d, 'bin', 'plugin.sh'), 0o755);
    const kubeconfig = join(d, 'config');
    await writeFile(
      kubeconfig,
      dump({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'local',
            cluster: {
              server: c.cluster.server,
              'certificate-authority-data': Buffer.from(c.cluster.caCert).toString('base64'),
              extensions: [
                { name: 'client.authentication.k8s.io/exec', extension: { audience: 'cvo' } },
              ],
            },
          },
        ],
        users: [{ name: 'me', user: userFields }],
        contexts: [{ name: 'local', context: { cluster: 'local', user: 'me' } }],
        'current-context': 'local',
      }),
    );
    return { dir: d, kubeconfig };
  }

  function exec(
    d: string,
    env: Record<string, string>,
    apiVersion = 'client.authentication.k8s.io/v1',
  ): Record<string, unknown> {
    return {
      exec: {
        apiVersion,
        // Relative to the kubeconfig's directory.
        command: './bin/plugin.sh',
        args: ['--audience', 'cvo'],
        env: Object.entries({ DIR: d, API_VERSION: apiVersion, ...env }).map(([name, value]) => ({
          name,
          value,
        })),
        interactiveMode: 'Never',
        provideClusterInfo: true,
      },
    };
  }

  const runs = async (d: string): Promise<number> =>
    Number((await readFile(join(d, 'runs'), 'utf8').catch(() => '0')).trim());

  /** A request any authenticated identity may be refused (403) but never 401. */
  const probe = (kube: KubePort): Promise<unknown> => kube.listConfigMaps('default');

  describe('with an exec plugin', () => {
    it('runs it with KUBERNETES_EXEC_INFO and caches its token until expirationTimestamp', async (t) => {
      if (tc === undefined) return t.skip(skip);
      const d = join(dir, `k${String(n)}`);
      const { kubeconfig } = await kubeconfigWith(
        tc,
        exec(d, { TOKEN: tc.cluster.adminToken, EXP: '2030-01-01T00:00:10Z' }),
      );
      let now = Date.parse('2030-01-01T00:00:00Z');
      const kube = createKubePort(loadKubeConfig({ kubeconfig }), { now: () => now });
      await Promise.all([probe(kube), probe(kube), probe(kube)]);
      await probe(kube);
      assert.equal(await runs(d), 1, 'one run while the credential is valid');
      now += 11_000;
      await probe(kube);
      assert.equal(await runs(d), 2, 'a new run once it expired');

      const info = JSON.parse(await readFile(join(d, 'info-1.json'), 'utf8')) as unknown;
      assert.deepEqual(info, {
        apiVersion: 'client.authentication.k8s.io/v1',
        kind: 'ExecCredential',
        spec: {
          interactive: false,
          cluster: {
            server: tc.cluster.server,
            'certificate-authority-data': Buffer.from(tc.cluster.caCert).toString('base64'),
            config: { audience: 'cvo' },
          },
        },
      });
      assert.equal((await readFile(join(d, 'args-1'), 'utf8')).trim(), '--audience cvo');
    });

    it('runs it again once when the API server answers 401, and the request succeeds', async (t) => {
      if (tc === undefined) return t.skip(skip);
      const d = join(dir, `k${String(n)}`);
      const { kubeconfig } = await kubeconfigWith(
        tc,
        exec(
          d,
          { FIRST_TOKEN: 'revoked-token', TOKEN: tc.cluster.adminToken },
          'client.authentication.k8s.io/v1beta1',
        ),
      );
      const kube = createKubePort(loadKubeConfig({ kubeconfig }));
      assert.deepEqual(await probe(kube), []);
      assert.equal(await runs(d), 2);
      await probe(kube);
      assert.equal(await runs(d), 2, 'the new credential is kept');
    });

    it('reports a plugin that fails with its exit code and last stderr line', async (t) => {
      if (tc === undefined) return t.skip(skip);
      const d = join(dir, `k${String(n)}`);
      const { kubeconfig } = await kubeconfigWith(tc, exec(d, { FAIL: 'no browser available' }));
      const kube = createKubePort(loadKubeConfig({ kubeconfig }));
      await assert.rejects(probe(kube), (err: unknown) => {
        assert.ok(err instanceof KubeApiError);
        assert.equal(err.status, 0);
        assert.equal(
          err.message,
          `list configmaps in default: exec plugin ${JSON.stringify(join(d, 'bin', 'plugin.sh'))} failed (exit code 3): error: no browser available`,
        );
        return true;
      });
    });
  });

  it('reads a token file again when it is rotated', async (t) => {
    if (tc === undefined) return t.skip(skip);
    const d = join(dir, `k${String(n)}`);
    const { kubeconfig } = await kubeconfigWith(tc, { tokenFile: 'token' });
    await writeFile(join(d, 'token'), 'not-a-token\n');
    const kube = createKubePort(loadKubeConfig({ kubeconfig }));
    await assert.rejects(
      probe(kube),
      (err: unknown) => err instanceof KubeApiError && err.status === 401,
    );
    await writeFile(join(d, 'token'), `${tc.cluster.adminToken}\n`);
    assert.deepEqual(await probe(kube), []);
  });

  it('in a pod, uses the mounted service account token and reads it again when kubelet rotates it', async (t) => {
    if (tc === undefined) return t.skip(skip);
    const c = tc;
    await c.kubectl(['create', 'serviceaccount', 'probe-a', '-n', 'default']);
    await c.kubectl(['create', 'serviceaccount', 'probe-b', '-n', 'default']);
    const tokenOf = async (sa: string): Promise<string> =>
      (await c.kubectl(['create', 'token', sa, '-n', 'default'])).trim();
    const sa = join(dir, 'serviceaccount');
    await mkdir(sa, { recursive: true });
    await writeFile(join(sa, 'token'), await tokenOf('probe-a'));
    await writeFile(join(sa, 'ca.crt'), c.cluster.caCert);
    await writeFile(join(sa, 'namespace'), 'default');
    const server = new URL(c.cluster.server);
    const config = loadKubeConfig({
      inCluster: { host: server.hostname, port: server.port, serviceAccountDir: sa },
    });
    assert.equal(config.namespace, 'default');
    const kube = createKubePort(config);
    // No RBAC for either account: the 403 names who the API server took the caller for.
    const refusedAs = async (account: string): Promise<void> => {
      await assert.rejects(probe(kube), (err: unknown) => {
        assert.ok(err instanceof KubeApiError);
        assert.equal(err.status, 403, err.message);
        assert.ok(
          err.message.includes(`User \\"system:serviceaccount:default:${account}\\" cannot list`),
          err.message,
        );
        return true;
      });
    };
    await refusedAs('probe-a');
    await writeFile(join(sa, 'token'), await tokenOf('probe-b'));
    await refusedAs('probe-b');
  });
});
