import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { ensureServiceImage } from '../../testbed/image/build-image.js';
import type { ServiceImage } from '../../testbed/image/build-image.js';
import { repoRoot } from '../helpers/fixtures.js';

/**
 * The image the Dockerfile builds, as buildah makes it without a Docker daemon
 * (testbed/image/build-image.ts) and exports for `ctr images import`. The build takes minutes
 * cold, so it runs before `node --test` (`node --import tsx testbed/image/build-image.ts`); this
 * test only looks the archive up, reads it as a container runtime would, and runs the service
 * from its layers with runc as the image's non-root user.
 */

interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly annotations?: Record<string, string>;
}

interface ImageConfig {
  readonly config: {
    readonly User?: string;
    readonly Entrypoint?: string[];
    readonly Cmd?: string[];
    readonly Env?: string[];
    readonly WorkingDir?: string;
    readonly ExposedPorts?: Record<string, unknown>;
  };
}

/** Tools the build and this test need; absent, the test fails and says what to install. */
const REQUIRED_TOOLS = ['buildah', 'mmdebstrap', 'runc', 'tar'] as const;
/** The image's user: a numeric UID, so Kubernetes can check runAsNonRoot. */
const SERVICE_UID = 65532;
/** A container start plus Node's start-up, with room for a slow two-core machine. */
const RUN_TIMEOUT_MS = 60_000;

function run(
  command: string,
  args: readonly string[],
  timeoutMs = RUN_TIMEOUT_MS,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function mustRun(command: string, args: readonly string[]): Promise<string> {
  const result = await run(command, args);
  assert.equal(
    result.code,
    0,
    `${command} ${args.join(' ')} failed (exit ${String(result.code)}): ${result.stderr.slice(-2000)}`,
  );
  return result.stdout;
}

/** `./app/x/` → `/app/x`. */
function toImagePath(entry: string): string {
  return `/${entry.replace(/^\.?\/+/, '').replace(/\/+$/, '')}`;
}

/** Applies one layer's entry list to the file set, honouring OCI whiteouts. */
function applyLayer(files: Set<string>, entries: readonly string[]): void {
  const paths = entries.map(toImagePath).filter((p) => p !== '/');
  const dropUnder = (prefix: string): void => {
    for (const f of files) if (f === prefix || f.startsWith(`${prefix}/`)) files.delete(f);
  };
  for (const p of paths) {
    const slash = p.lastIndexOf('/');
    const name = p.slice(slash + 1);
    if (name === '.wh..wh..opq') {
      const dir = p.slice(0, slash);
      for (const f of files) if (f.startsWith(`${dir}/`)) files.delete(f);
    }
  }
  for (const p of paths) {
    const slash = p.lastIndexOf('/');
    const name = p.slice(slash + 1);
    if (name === '.wh..wh..opq') continue;
    if (name.startsWith('.wh.')) dropUnder(`${p.slice(0, slash)}/${name.slice(4)}`);
    else files.add(p);
  }
}

function tarArgsFor(mediaType: string): string[] {
  if (mediaType.endsWith('+gzip')) return ['-z'];
  if (mediaType.endsWith('+zstd')) return ['--zstd'];
  return [];
}

describe('the service image built with buildah', () => {
  let image: ServiceImage;
  let work: string;
  let index: { manifests: Descriptor[] };
  let manifest: { config: Descriptor; layers: Descriptor[] };
  let config: ImageConfig;
  const files = new Set<string>();

  const blob = (digest: string): string => join(work, 'layout', 'blobs', ...digest.split(':'));

  before(async () => {
    for (const tool of REQUIRED_TOOLS) {
      const probe = spawnSync(tool, ['--version'], { stdio: 'ignore' });
      if (probe.error !== undefined || probe.status !== 0) {
        assert.fail(
          `${tool} is not available (${probe.error?.message ?? `exit ${String(probe.status)}`}): ` +
            'the image is built without Docker, with buildah and mmdebstrap, and run with runc; ' +
            'apt-get install buildah mmdebstrap runc',
        );
      }
    }
    image = await ensureServiceImage({
      progress: () => {},
      cachedOnly: true,
    });
    work = await mkdtemp(join(tmpdir(), 'cvo-image-test-'));
    await mkdir(join(work, 'layout'));
    await mustRun('tar', ['-xf', image.archive, '-C', join(work, 'layout')]);
    index = JSON.parse(await readFile(join(work, 'layout', 'index.json'), 'utf8')) as {
      manifests: Descriptor[];
    };
    assert.equal(index.manifests.length, 1, 'one image in the archive');
    manifest = JSON.parse(await readFile(blob(index.manifests[0]!.digest), 'utf8')) as {
      config: Descriptor;
      layers: Descriptor[];
    };
    config = JSON.parse(await readFile(blob(manifest.config.digest), 'utf8')) as ImageConfig;
    for (const layer of manifest.layers) {
      const listing = await mustRun('tar', [
        '-t',
        ...tarArgsFor(layer.mediaType),
        '-f',
        blob(layer.digest),
      ]);
      applyLayer(
        files,
        listing.split('\n').filter((l) => l !== ''),
      );
    }
  });

  after(async () => {
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it('carries the name the manifests deploy, for ctr images import', () => {
    assert.equal(image.reference, 'registry.example.com/cvo-update-verifier:0.1.0');
    const annotations = index.manifests[0]!.annotations ?? {};
    assert.equal(annotations['org.opencontainers.image.ref.name'], image.reference);
    assert.equal(annotations['io.containerd.image.name'], image.reference);
    assert.equal(manifest.config.digest, image.imageId);
  });

  it('runs the CLI as a numeric non-root user with the ports and environment of the Dockerfile', () => {
    assert.equal(config.config.User, `${String(SERVICE_UID)}:${String(SERVICE_UID)}`);
    assert.deepEqual(config.config.Entrypoint, ['/app/bin/cvo-verifier']);
    assert.deepEqual(config.config.Cmd, ['--help']);
    assert.deepEqual(Object.keys(config.config.ExposedPorts ?? {}).sort(), [
      '8081/tcp',
      '8443/tcp',
    ]);
    assert.ok(config.config.Env?.includes('NODE_ENV=production'), String(config.config.Env));
    assert.ok(config.config.Env?.includes('CVO_VERIFIER_NODE=/usr/local/bin/node'));
    assert.equal(config.config.WorkingDir, '/app');
  });

  it('ships the build output and the production dependencies, not the sources or dev tools', async () => {
    const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    for (const path of ['/app/dist/cli/main.js', '/app/bin/cvo-verifier', '/usr/local/bin/node']) {
      assert.ok(files.has(path), `${path} is in the image`);
    }
    for (const name of Object.keys(pkg.dependencies)) {
      assert.ok(
        files.has(`/app/node_modules/${name}/package.json`),
        `dependency ${name} is in the image`,
      );
    }
    for (const name of [...Object.keys(pkg.devDependencies), 'typescript', 'eslint']) {
      assert.ok(
        !files.has(`/app/node_modules/${name}`),
        `devDependency ${name} is not in the image`,
      );
    }
    const leaked = [...files].filter((f) =>
      /^\/app\/(src|test|testbed|walkthrough|bench|interop|control-plane|\.cache|\.git)(\/|$)/.test(
        f,
      ),
    );
    assert.deepEqual(
      [...files].filter((f) => f.startsWith('/root/.npm')),
      [],
      "npm's cache and logs (the command and the registry's address) stay out of the image",
    );
    assert.deepEqual(leaked, [], 'sources and test material stay out of the image');
    assert.ok(!files.has('/app/tsconfig.json'), 'the runtime stage has no build configuration');
  });

  it('prints the service help when run with runc as uid 65532 on a read-only root', async () => {
    const bundle = join(work, 'bundle');
    const rootfs = join(bundle, 'rootfs');
    await mkdir(rootfs, { recursive: true });
    for (const layer of manifest.layers) {
      const file = blob(layer.digest);
      await mustRun('tar', [
        '-x',
        ...tarArgsFor(layer.mediaType),
        '--numeric-owner',
        '-f',
        file,
        '-C',
        rootfs,
      ]);
      const whiteouts = (await mustRun('tar', ['-t', ...tarArgsFor(layer.mediaType), '-f', file]))
        .split('\n')
        .filter((l) => /(^|\/)\.wh\./.test(l));
      for (const entry of whiteouts) {
        const path = toImagePath(entry);
        const slash = path.lastIndexOf('/');
        const name = path.slice(slash + 1);
        if (name !== '.wh..wh..opq')
          await rm(join(rootfs, path.slice(0, slash), name.slice(4)), {
            recursive: true,
            force: true,
          });
        await rm(join(rootfs, path), { force: true });
      }
    }
    await mustRun('runc', ['spec', '--bundle', bundle]);
    const spec = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as {
      process: Record<string, unknown>;
      root: Record<string, unknown>;
      mounts: Record<string, unknown>[];
    };
    const state = join(work, 'runc-state');
    const runInImage = async (args: string[]): Promise<string> => {
      spec.process = {
        ...spec.process,
        terminal: false,
        user: { uid: SERVICE_UID, gid: SERVICE_UID },
        args,
        env: config.config.Env ?? [],
        cwd: config.config.WorkingDir ?? '/',
      };
      spec.root = { path: 'rootfs', readonly: true };
      // As the Deployment mounts it: the root is read-only and /tmp the only writable path.
      spec.mounts = [
        ...spec.mounts.filter((m) => m.destination !== '/tmp'),
        {
          destination: '/tmp',
          type: 'tmpfs',
          source: 'tmpfs',
          options: ['nosuid', 'nodev', 'mode=1777'],
        },
      ];
      await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
      const id = `cvo-image-test-${String(process.pid)}`;
      try {
        return await mustRun('runc', ['--root', state, 'run', '--bundle', bundle, id]);
      } finally {
        await run('runc', ['--root', state, 'delete', '--force', id]);
      }
    };

    const ids = await runInImage([
      '/usr/local/bin/node',
      '-p',
      'process.getuid() + ":" + process.getgid()',
    ]);
    assert.equal(ids.trim(), `${String(SERVICE_UID)}:${String(SERVICE_UID)}`);
    const help = await runInImage([
      ...(config.config.Entrypoint ?? []),
      ...(config.config.Cmd ?? []),
    ]);
    assert.match(help, /^Usage: cvo-verifier COMMAND/m);
    assert.match(help, /verify PULLSPEC/);
    // A runtime given only the UID (the kubelet passes USER's UID as runAsUser) takes the group
    // from the user database: it must be 65532's own, not root's.
    const passwd = await readFile(join(rootfs, 'etc', 'passwd'), 'utf8');
    assert.match(
      passwd,
      new RegExp(`^[^:]+:[^:]*:${String(SERVICE_UID)}:${String(SERVICE_UID)}:`, 'm'),
    );
  });
});
