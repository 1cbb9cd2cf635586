import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

import { acquireDirLock } from '../dir-lock.js';

/** Paths of the control-plane programs built from the `control-plane/` Go module. */
export interface ControlPlaneBinaries {
  readonly etcd: string;
  readonly kubeApiserver: string;
  readonly kubectl: string;
  /** The node's programs (testbed/node-cluster): the kubelet and what a Deployment needs. */
  readonly kubelet: string;
  readonly kubeControllerManager: string;
  readonly kubeScheduler: string;
  readonly kubeProxy: string;
}

export interface BuildOptions {
  /** The Go module that requires etcd and k8s.io/kubernetes (the project's `control-plane/`). */
  readonly moduleDir: string;
  /** Gitignored folder for builds, one subfolder per hash of the module's inputs. */
  readonly cacheDir: string;
  readonly progress: (line: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Stops a build (or the wait for another process's build lock): `go` and its compilers are killed. */
  readonly signal?: AbortSignal;
}

const TARGETS: readonly {
  readonly name: keyof ControlPlaneBinaries;
  readonly file: string;
  readonly pkg: string;
}[] = [
  { name: 'etcd', file: 'etcd', pkg: './cmd/etcd' },
  { name: 'kubeApiserver', file: 'kube-apiserver', pkg: 'k8s.io/kubernetes/cmd/kube-apiserver' },
  { name: 'kubectl', file: 'kubectl', pkg: 'k8s.io/kubernetes/cmd/kubectl' },
  { name: 'kubelet', file: 'kubelet', pkg: 'k8s.io/kubernetes/cmd/kubelet' },
  {
    name: 'kubeControllerManager',
    file: 'kube-controller-manager',
    pkg: 'k8s.io/kubernetes/cmd/kube-controller-manager',
  },
  { name: 'kubeScheduler', file: 'kube-scheduler', pkg: 'k8s.io/kubernetes/cmd/kube-scheduler' },
  { name: 'kubeProxy', file: 'kube-proxy', pkg: 'k8s.io/kubernetes/cmd/kube-proxy' },
];

/** How long a build may run: a cold kube-apiserver build takes minutes on two cores. */
const BUILD_TIMEOUT_MS = 40 * 60_000;
/** How long to wait for another process that holds the build lock. */
const LOCK_WAIT_MS = 45 * 60_000;

/**
 * Returns the etcd, kube-apiserver, kubectl and node binaries, building them with the machine's Go when
 * the cache has no build for the current inputs (go.mod, go.sum, sources, Go version). Builds are
 * serialised across processes with a lock directory, written to a temporary folder and renamed
 * into place, so a half-finished build is never used.
 */
export async function ensureControlPlaneBinaries(
  options: BuildOptions,
): Promise<ControlPlaneBinaries> {
  const { signal } = options;
  const goVersion = (
    await run('go', ['env', 'GOVERSION'], options.moduleDir, options.env, 60_000, signal)
  ).trim();
  const hash = createHash('sha256');
  for (const file of ['go.mod', 'go.sum', 'cmd/etcd/main.go', 'tools.go']) {
    hash.update(file).update(await readFile(join(options.moduleDir, file)));
  }
  hash.update(goVersion);
  // How they are built: part of the key, so that a change here builds them again.
  const kubernetesVersion = await readKubernetesVersion(options.moduleDir);
  const ldflags = versionLdflags(kubernetesVersion);
  hash.update(ldflags);
  const key = hash.digest('hex').slice(0, 16);
  const dir = join(options.cacheDir, key);
  const binaries = toBinaries(join(dir, 'bin'));
  if (await exists(join(dir, 'complete'))) return binaries;

  await mkdir(options.cacheDir, { recursive: true });
  const lock = join(options.cacheDir, `${key}.lock`);
  await acquireDirLock(lock, {
    waitMs: LOCK_WAIT_MS,
    staleAfterMs: BUILD_TIMEOUT_MS,
    waiting: 'waiting for another process that is building the control plane ...',
    progress: options.progress,
    signal,
  });
  const staging = `${dir}.partial-${process.pid}`;
  try {
    if (await exists(join(dir, 'complete'))) return binaries;
    await rm(staging, { recursive: true, force: true });
    await mkdir(join(staging, 'bin'), { recursive: true });
    options.progress(
      `building the local control plane with ${goVersion} (first run only; a cold kube-apiserver build takes several minutes) ...`,
    );
    for (const target of TARGETS) {
      const started = Date.now();
      options.progress(`  go build ${target.pkg} ...`);
      const ticker = setInterval(() => {
        options.progress(
          `  ... still building ${target.file} (${Math.round((Date.now() - started) / 1000)} s)`,
        );
      }, 30_000);
      try {
        await run(
          'go',
          [
            'build',
            '-trimpath',
            ...(target.pkg.startsWith('k8s.io/') ? [`-ldflags=${ldflags}`] : []),
            '-o',
            join(staging, 'bin', target.file),
            target.pkg,
          ],
          options.moduleDir,
          options.env,
          BUILD_TIMEOUT_MS,
          signal,
        );
      } finally {
        clearInterval(ticker);
      }
      options.progress(`  built ${target.file} in ${Math.round((Date.now() - started) / 1000)} s`);
    }
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
    await (await import('node:fs/promises')).writeFile(join(dir, 'complete'), `${goVersion}\n`);
    return binaries;
  } catch (err) {
    // A stopped or failed build leaves nothing half-made behind.
    await rm(staging, { recursive: true, force: true });
    throw err;
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/** The k8s.io/kubernetes version control-plane/go.mod requires (`v1.37.2`). */
async function readKubernetesVersion(moduleDir: string): Promise<string> {
  const goMod = await readFile(join(moduleDir, 'go.mod'), 'utf8');
  const version = /^\s*k8s\.io\/kubernetes (v\d+\.\d+\.\d+)\s*$/m.exec(goMod)?.[1];
  if (version === undefined) throw new Error(`${moduleDir}/go.mod requires no k8s.io/kubernetes`);
  return version;
}

/**
 * What Kubernetes' own build stamps into its programs (hack/lib/version.sh): without it they
 * report v0.0.0-master, and the Node shows that as its kubelet version.
 */
function versionLdflags(version: string): string {
  const [major = '', minor = ''] = version.slice(1).split('.');
  const pkg = 'k8s.io/component-base/version';
  return [
    `-X ${pkg}.gitVersion=${version}`,
    `-X ${pkg}.gitMajor=${major}`,
    `-X ${pkg}.gitMinor=${minor}`,
    `-X ${pkg}.gitTreeState=clean`,
  ].join(' ');
}

function toBinaries(bin: string): ControlPlaneBinaries {
  return {
    etcd: join(bin, 'etcd'),
    kubeApiserver: join(bin, 'kube-apiserver'),
    kubectl: join(bin, 'kubectl'),
    kubelet: join(bin, 'kubelet'),
    kubeControllerManager: join(bin, 'kube-controller-manager'),
    kubeScheduler: join(bin, 'kube-scheduler'),
    kubeProxy: join(bin, 'kube-proxy'),
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs `go` with exactly `env`, killed after `timeoutMs`; resolves with stdout, rejects with the
 * tail of stderr. Shared with the test tooling that builds the differential tests' references.
 */
export function runGo(
  args: readonly string[],
  cwd: string,
  env: Readonly<Record<string, string | undefined>>,
  timeoutMs = 60_000,
): Promise<string> {
  return spawnCommand('go', args, cwd, env, timeoutMs);
}

/** The control plane's module resolves its requirements as it builds (GOFLAGS -mod=mod). */
function run(
  command: string,
  args: readonly string[],
  cwd: string,
  env: Readonly<Record<string, string | undefined>>,
  timeoutMs = 60_000,
  signal?: AbortSignal,
): Promise<string> {
  return spawnCommand(command, args, cwd, { ...env, GOFLAGS: '-mod=mod' }, timeoutMs, signal);
}

function spawnCommand(
  command: string,
  args: readonly string[],
  cwd: string,
  env: Readonly<Record<string, string | undefined>>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<string> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason as Error);
      return;
    }
    // With a stop signal, its own process group, so that a stop or a timeout ends `go` and the
    // compilers and linker it runs, not `go` alone. Without one it stays in ours, where a Ctrl-C
    // in the terminal reaches the whole build.
    const detached = signal !== undefined;
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached });
    let out = '';
    let err = '';
    const killGroup = (): void => {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      if (!detached) {
        child.kill('SIGKILL');
        return;
      }
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(killGroup, timeoutMs);
    signal?.addEventListener('abort', killGroup, { once: true });
    const settle = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', killGroup);
    };
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => {
      settle();
      reject(new Error(`${command} could not be started (is Go installed?): ${e.message}`));
    });
    child.on('close', (code) => {
      settle();
      if (signal?.aborted === true) reject(signal.reason as Error);
      else if (code === 0) resolve(out);
      else
        reject(
          new Error(
            `${command} ${args.join(' ')} failed (exit ${String(code)}):\n${err.slice(-4000)}`,
          ),
        );
    });
  });
}
