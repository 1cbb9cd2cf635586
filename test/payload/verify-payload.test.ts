import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { runCli } from '../../src/cli/main.js';
import { createTestKey } from '../helpers/cosign.js';
import { findRegistryBinary, TestRegistry } from '../helpers/registry.js';
import type { PushTarget } from '../helpers/registry.js';
import { pushSyntheticRelease } from '../helpers/release.js';
import type { SyntheticReleaseOptions } from '../helpers/release.js';

const binary = await findRegistryBinary();

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

interface JsonReport {
  verified: boolean;
  platforms: {
    version: string;
    summary: Record<string, number>;
    components: { tags: string[]; status: string; reason: string; source?: string }[];
  }[];
}

describe(
  'cvo-verifier verify-payload against a synthetic 190-component release in a real registry',
  { skip: 'skip' in binary ? binary.skip : false },
  () => {
    let registry: TestRegistry;
    let target: PushTarget;
    let dir: string;
    let policyFile: string;
    const key = createTestKey('p256');
    let releaseCounter = 0;

    async function cli(args: string[]): Promise<Run> {
      let stdout = '';
      let stderr = '';
      const code = await runCli(args, {
        stdout: (t) => (stdout += t),
        stderr: (t) => (stderr += t),
        env: {},
        cwd: dir,
      });
      return { code, stdout, stderr };
    }

    function release(options: Partial<SyntheticReleaseOptions> = {}) {
      releaseCounter++;
      return pushSyntheticRelease({
        target,
        host: registry.host,
        key,
        componentRepo: `ocp${releaseCounter}/art-dev`,
        mirrorRepo: `mirror${releaseCounter}/art-dev`,
        releaseRepo: `ocp${releaseCounter}/release`,
        ...options,
      });
    }

    before(async () => {
      assert.ok('path' in binary);
      registry = await TestRegistry.start(binary.path);
      target = { url: registry.url };
      dir = await mkdtemp(join(tmpdir(), 'cvo-payload-'));
      policyFile = join(dir, 'policy.yaml');
      // One policy over every component repository of this registry, like the default
      // `openshift` ClusterImagePolicy over quay.io/openshift-release-dev/ocp-v4.0-art-dev.
      await writeFile(
        policyFile,
        JSON.stringify({
          apiVersion: 'config.openshift.io/v1',
          kind: 'ClusterImagePolicy',
          metadata: { name: 'openshift' },
          spec: {
            scopes: [registry.host],
            policy: {
              rootOfTrust: {
                policyType: 'PublicKey',
                publicKey: { keyData: Buffer.from(key.publicKeyPem).toString('base64') },
              },
              signedIdentity: { matchPolicy: 'MatchRepoDigestOrExact' },
            },
          },
        }),
      );
    });

    after(async () => {
      await registry.stop();
      await rm(dir, { recursive: true, force: true });
    });

    it('verifies every component of a fully signed release (exit 0)', async () => {
      const r = await release();
      assert.equal(r.components.length, 190);
      const run = await cli([
        'verify-payload',
        r.pullspec,
        '--policy',
        policyFile,
        '--output',
        'json',
      ]);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      const report = JSON.parse(run.stdout) as JsonReport;
      assert.equal(report.verified, true);
      const [platform] = report.platforms;
      assert.equal(platform?.version, '4.17.0');
      assert.deepEqual(platform.summary, {
        total: 190,
        verified: 190,
        unsigned: 0,
        invalid: 0,
        notCovered: 0,
        errors: 0,
      });
    });

    it('names the unsigned etcd image and the one signed by another key (exit 1)', async () => {
      const r = await release({ kinds: { etcd: 'unsigned', cli: 'wrong-key' } });
      const run = await cli(['verify-payload', r.pullspec, '--policy', policyFile]);
      assert.equal(run.code, 1, run.stdout + run.stderr);
      assert.match(run.stdout, /188 verified, 1 unsigned, 1 invalid, 0 errors/);
      assert.match(run.stdout, /UNSIGNED {2}etcd {2}\S+art-dev@sha256:/);
      assert.match(run.stdout, /INVALID {2}cli {2}/);
      assert.match(run.stdout, /Payload NOT verified/);
      const json = JSON.parse(
        (await cli(['verify-payload', r.pullspec, '--policy', policyFile, '--output', 'json']))
          .stdout,
      ) as JsonReport;
      const byTag = new Map(json.platforms[0]?.components.map((c) => [c.tags[0], c]));
      assert.equal(byTag.get('etcd')?.status, 'unsigned');
      assert.match(byTag.get('etcd')?.reason ?? '', /no cosign signature/);
      assert.equal(byTag.get('cli')?.status, 'invalid');
      assert.match(byTag.get('cli')?.reason ?? '', /BAD_SIGNATURE|does not verify/);
    });

    it('reads a mirror-only component from its mirror and matches the logical name', async () => {
      const r = await release({ kinds: { installer: 'mirror-only' } });
      const without = await cli(['verify-payload', r.pullspec, '--policy', policyFile]);
      assert.equal(without.code, 1, without.stdout);
      assert.match(without.stdout, /UNSIGNED {2}installer/);

      const mirrors = join(dir, `idms-${releaseCounter}.yaml`);
      await writeFile(
        mirrors,
        [
          'apiVersion: config.openshift.io/v1',
          'kind: ImageDigestMirrorSet',
          'metadata:',
          '  name: release-mirror',
          'spec:',
          '  imageDigestMirrors:',
          `  - source: ${registry.host}/${r.componentRepo}`,
          '    mirrors:',
          `    - ${registry.host}/${r.mirrorRepo}`,
          '',
        ].join('\n'),
      );
      const run = await cli([
        'verify-payload',
        r.pullspec,
        '--policy',
        policyFile,
        '--mirrors',
        mirrors,
        '--output',
        'json',
      ]);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      const json = JSON.parse(run.stdout) as JsonReport;
      const installer = json.platforms[0]?.components.find((c) => c.tags[0] === 'installer');
      assert.equal(installer?.status, 'verified');
      assert.equal(installer.source, `${registry.host}/${r.mirrorRepo}`);
    });

    it('refuses a truncated release layer with a clear error (exit 2)', async () => {
      const r = await release({
        components: 5,
        transformLayer: (gz) => gz.subarray(0, Math.floor(gz.length / 2)),
      });
      const run = await cli(['verify-payload', r.pullspec, '--policy', policyFile]);
      assert.equal(run.code, 2, run.stdout + run.stderr);
      assert.match(run.stderr, /cannot read release .*(truncated|corrupt|ends)/i);
    });

    it('refuses a release layer with a path traversal entry, writing nothing', async () => {
      const before = await readdir(dir);
      const r = await release({
        components: 5,
        extraEntries: [{ name: 'release-manifests/../../../etc/cron.d/evil', body: 'x' }],
      });
      const run = await cli(['verify-payload', r.pullspec, '--policy', policyFile]);
      assert.equal(run.code, 2, run.stdout + run.stderr);
      assert.match(run.stderr, /etc\/cron\.d\/evil/);
      assert.deepEqual(await readdir(dir), before);
    });

    it('refuses an oversized member instead of reading it', async () => {
      const r = await release({
        components: 5,
        // 17 MiB of zeros compress to a few KiB; the wanted-file limit is 16 MiB.
        manifests: { 'huge.yaml': 'a'.repeat(17 * 1024 * 1024) },
      });
      const run = await cli(['verify-payload', r.pullspec, '--policy', policyFile]);
      assert.equal(run.code, 2, run.stdout + run.stderr);
      assert.match(run.stderr, /huge\.yaml/);
    });

    it('names an image a manifest would run that image-references does not list (exit 1)', async () => {
      const hidden = `${registry.host}/hidden/miner@sha256:${'e'.repeat(64)}`;
      const r = await release({
        components: 3,
        manifests: {
          '0000_50_hidden_deployment.yaml': [
            'apiVersion: apps/v1',
            'kind: Deployment',
            'metadata: {name: hidden, namespace: openshift-hidden}',
            `spec: {template: {spec: {containers: [{name: x, image: "${hidden}"}]}}}`,
          ].join('\n'),
        },
      });
      const run = await cli(['verify-payload', r.pullspec, '--policy', policyFile]);
      assert.equal(run.code, 1, run.stdout + run.stderr);
      assert.match(run.stdout, /Deployment\/hidden/);
      assert.ok(run.stdout.includes(hidden));
      assert.match(run.stdout, /manifests run images outside image-references/);
    });

    it('is not verified when no component is covered: nothing checked is never "verified" (exit 1)', async () => {
      const r = await release({ components: 3 });
      const narrow = join(dir, 'narrow.json');
      await writeFile(
        narrow,
        JSON.stringify({
          apiVersion: 'config.openshift.io/v1',
          kind: 'ClusterImagePolicy',
          metadata: { name: 'elsewhere' },
          spec: {
            scopes: ['quay.io/somewhere-else'],
            policy: {
              rootOfTrust: {
                policyType: 'PublicKey',
                publicKey: { keyData: Buffer.from(key.publicKeyPem).toString('base64') },
              },
            },
          },
        }),
      );
      const run = await cli(['verify-payload', r.pullspec, '--policy', narrow, '--output', 'json']);
      assert.equal(run.code, 1, run.stdout + run.stderr);
      const json = JSON.parse(run.stdout) as JsonReport;
      assert.equal(json.verified, false);
      assert.equal(json.platforms[0]?.summary.notCovered, 3);
      const text = await cli(['verify-payload', r.pullspec, '--policy', narrow]);
      assert.equal(text.code, 1);
      assert.match(
        text.stdout,
        /no component image is covered by a policy, so nothing was checked/,
      );
    });
  },
);
