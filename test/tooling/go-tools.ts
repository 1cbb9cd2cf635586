import { createHash } from 'node:crypto';
import { access, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

import { runGo } from '../../testbed/local-cluster/binaries.js';
import { repoRoot } from '../helpers/fixtures.js';

/**
 * The reference programs the differential tests run as judges, built from Go modules with the
 * machine's Go. Each is cached in `.cache/go-tools/<name>-<key>/`, the key hashing every input
 * of its build (module files and sources, the version asked for, tags, Go version), so a change
 * rebuilds and nothing stale is used. Built by `test/tooling/build-go-tools.ts`, which the
 * README's test command runs before `node --test`: a cold build takes minutes, longer than any
 * test timeout, so tests only look binaries up and fail with a clear message when one is absent.
 */
export interface GoTool {
  /** The binary's file name and the name tests ask for. */
  readonly name: string;
  /** A module folder of this repository (relative), built with `go build`… */
  readonly moduleDir?: string;
  /** …the package to build inside it (or, without moduleDir, `go install pkg@version`). */
  readonly pkg: string;
  /** For `go install`: the exact version, never a moving `latest`. */
  readonly version?: string;
  readonly tags?: readonly string[];
}

export const GO_TOOLS = {
  /** containers/image's policy evaluation (IsRunningImageAllowed). */
  cimageHarness: {
    name: 'cimage-harness',
    moduleDir: 'interop',
    pkg: './cmd/cimage-harness',
    tags: ['containers_image_openpgp', 'exclude_graphdriver_btrfs'],
  },
  /** containers/image's manifest-list instance choice (List.ChooseInstance), as CRI-O pulls. */
  chooseInstance: {
    name: 'choose-instance',
    moduleDir: 'interop',
    pkg: './cmd/choose-instance',
    tags: ['containers_image_openpgp', 'exclude_graphdriver_btrfs'],
  },
  /** library-go pkg/verify, as the cluster-version operator runs it. */
  libraryGoHarness: {
    name: 'librarygo-harness',
    moduleDir: 'interop',
    pkg: './cmd/librarygo-harness',
  },
  /** containers/storage's layer application (pkg/archive.ApplyLayer), as nodes extract layers. */
  storageHarness: {
    name: 'storage-harness',
    moduleDir: 'interop',
    pkg: './cmd/storage-harness',
    tags: ['containers_image_openpgp', 'exclude_graphdriver_btrfs'],
  },
  /** Go's net/url.Parse and google/uuid.Parse, what the CVO's spec validation asks of them. */
  goParsers: {
    name: 'go-parsers',
    moduleDir: 'interop',
    pkg: './cmd/go-parsers',
  },
  /** The cosign CLI that writes legacy `.sig` signatures. */
  cosignV2: {
    name: 'cosign-v2',
    pkg: 'github.com/sigstore/cosign/v2/cmd/cosign',
    version: 'v2.6.5',
  },
  /** The cosign CLI that writes v0.3 bundles as OCI referrers. */
  cosignV3: {
    name: 'cosign-v3',
    pkg: 'github.com/sigstore/cosign/v3/cmd/cosign',
    version: 'v3.1.3',
  },
} as const satisfies Record<string, GoTool>;

export type GoToolName = keyof typeof GO_TOOLS;

/** A cold cosign or containers/image build takes minutes on two cores. */
const BUILD_TIMEOUT_MS = 30 * 60_000;
/** Source files hashed into a module's cache key. */
const MAX_SOURCE_FILES = 500;

const cacheRoot = join(repoRoot, '.cache', 'go-tools');

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function moduleFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (current: string): Promise<void> => {
    for (const entry of await readdir(current, { withFileTypes: true })) {
      const path = join(current, entry.name);
      // A folder with its own go.mod is another module, which Go leaves out of this one
      // (interop/oc-upgrade, built only by `npm run interop:oc`).
      if (entry.isDirectory() && (await exists(join(path, 'go.mod')))) continue;
      if (entry.isDirectory()) await walk(path);
      else if (/\.(go|mod|sum)$/.test(entry.name)) out.push(path);
      if (out.length > MAX_SOURCE_FILES) throw new Error(`${dir} has too many source files`);
    }
  };
  await walk(dir);
  return out.sort();
}

async function cacheKey(tool: GoTool, goVersion: string): Promise<string> {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ pkg: tool.pkg, version: tool.version, tags: tool.tags, goVersion }));
  if (tool.moduleDir !== undefined) {
    const dir = join(repoRoot, tool.moduleDir);
    for (const file of await moduleFiles(dir)) {
      hash.update(relative(dir, file)).update(await readFile(file));
    }
  }
  return hash.digest('hex').slice(0, 16);
}

function toolDir(tool: GoTool, key: string): string {
  return join(cacheRoot, `${tool.name}-${key}`);
}

let goVersionCache: string | undefined;
async function goVersion(): Promise<string> {
  goVersionCache ??= (await run('go', ['env', 'GOVERSION'], repoRoot, 60_000)).trim();
  return goVersionCache;
}

/**
 * The path of a built tool. Throws, naming the command that builds it, when the cache has no
 * build for the current inputs: tests never build (a cold build outlasts any test timeout).
 */
export async function goToolPath(name: GoToolName): Promise<string> {
  const tool: GoTool = GO_TOOLS[name];
  const dir = toolDir(tool, await cacheKey(tool, await goVersion()));
  if (!(await exists(join(dir, 'complete')))) {
    throw new Error(
      `${tool.name} is not built for the current sources; run ./scripts/test.sh, or build it alone with ` +
        `\`node --import tsx test/tooling/build-go-tools.ts ${name}\``,
    );
  }
  return join(dir, tool.name);
}

/** Builds one tool unless cached; writes to a staging folder renamed into place when complete. */
export async function buildGoTool(
  name: GoToolName,
  progress: (line: string) => void,
): Promise<string> {
  const tool: GoTool = GO_TOOLS[name];
  const version = await goVersion();
  const dir = toolDir(tool, await cacheKey(tool, version));
  const binary = join(dir, tool.name);
  if (await exists(join(dir, 'complete'))) return binary;
  await mkdir(cacheRoot, { recursive: true });
  const staging = `${dir}.partial-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  const started = Date.now();
  const what = tool.version !== undefined ? `${tool.pkg}@${tool.version}` : tool.pkg;
  progress(`building ${tool.name} (${what}) with ${version} ...`);
  const ticker = setInterval(() => {
    progress(`  ... still building ${tool.name} (${Math.round((Date.now() - started) / 1000)} s)`);
  }, 30_000);
  try {
    const tags = tool.tags !== undefined ? ['-tags', tool.tags.join(',')] : [];
    if (tool.moduleDir !== undefined) {
      await run(
        'go',
        ['build', '-trimpath', ...tags, '-o', join(staging, tool.name), tool.pkg],
        join(repoRoot, tool.moduleDir),
        BUILD_TIMEOUT_MS,
        { CGO_ENABLED: '0' },
      );
    } else {
      // `go install pkg@version` pins the whole dependency graph to that release's go.mod/go.sum.
      await run('go', ['install', '-trimpath', ...tags, what], repoRoot, BUILD_TIMEOUT_MS, {
        GOBIN: staging,
        CGO_ENABLED: '0',
        GOFLAGS: '-buildvcs=false',
      });
      const built = join(staging, 'cosign');
      if (tool.name !== 'cosign' && (await exists(built))) {
        await rename(built, join(staging, tool.name));
      }
    }
  } finally {
    clearInterval(ticker);
  }
  if (!(await exists(join(staging, tool.name)))) {
    throw new Error(`building ${tool.name} produced no binary`);
  }
  await writeFile(join(staging, 'complete'), `${version}\n`);
  await rm(dir, { recursive: true, force: true });
  await rename(staging, dir);
  progress(`  built ${tool.name} in ${Math.round((Date.now() - started) / 1000)} s`);
  return binary;
}

/** Age after which a leftover staging folder of a killed build is removed. */
export async function removeStaleBuilds(): Promise<void> {
  if (!(await exists(cacheRoot))) return;
  for (const entry of await readdir(cacheRoot)) {
    if (!entry.includes('.partial-')) continue;
    const path = join(cacheRoot, entry);
    const age = Date.now() - (await stat(path)).mtimeMs;
    if (age > BUILD_TIMEOUT_MS) await rm(path, { recursive: true, force: true });
  }
}

/** `go` with this process's environment, GOFLAGS `-mod=readonly` (go.sum is committed). */
function run(
  command: 'go',
  args: readonly string[],
  cwd: string,
  timeoutMs: number,
  extraEnv: Record<string, string> = {},
): Promise<string> {
  return runGo(
    args,
    cwd,
    { ...process.env, GOFLAGS: '-mod=readonly -buildvcs=false', ...extraEnv },
    timeoutMs,
  );
}
