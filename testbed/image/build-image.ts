/**
 * Builds the service image from the project's Dockerfile without a Docker daemon, with buildah,
 * and exports it as an OCI archive that `ctr -n k8s.io images import` takes under the name the
 * manifests deploy (manifests/kustomization.yaml).
 *
 * The Dockerfile's base, `node:24-bookworm-slim`, cannot be pulled here (only package registries
 * are reachable), so it is made locally with the same layout as the official image: a Debian
 * minbase rootfs from mmdebstrap, Node from the npm registry's `node-linux-<arch>` package at
 * /usr/local/bin/node, npm from the `npm` package at /usr/local/lib/node_modules/npm with npm
 * and npx links in /usr/local/bin, and a `node` user (uid 1000). It is tagged in buildah's
 * storage under exactly that name, so `buildah bud --pull=never` finds it and the Dockerfile
 * stays the one `docker build` users run.
 *
 * Everything lives in the gitignored `.cache/image/`:
 *   base-<key>/            rootfs.tar + Containerfile of the base, keyed by its inputs
 *   service-<key>/         image.oci.tar, keyed by the build context, Dockerfile and base key
 *   containers-storage/    buildah's own storage (root, runroot), never /var/lib/containers
 *   build-npm-etc/         the npmrc and CAs the build's `npm ci` trusts (see toCaVolumeArgs)
 * Builds go to `<dir>.partial-<pid>` and are renamed into place before a `complete` marker is
 * written, so a half-finished build is never used; a lock directory serialises builders.
 *
 * Run directly (`node --import tsx testbed/image/build-image.ts`) it builds what is missing and
 * prints the archive's path. Tests only look the archive up: a cold build takes minutes.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmod,
  copyFile,
  mkdir,
  open,
  readFile,
  readdir,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { load as loadYaml } from 'js-yaml';

import { LockTimeoutError, acquireDirLock } from '../dir-lock.js';

export interface EnsureServiceImageOptions {
  readonly progress: (line: string) => void;
  /** Stops a build (or the wait for another builder's lock); the running command is killed. */
  readonly signal?: AbortSignal;
  /**
   * Only look the archive up, never build: for tests, which run after the build step and must
   * not spend minutes building. Missing or stale, it fails with code `NOT_BUILT`.
   */
  readonly cachedOnly?: boolean;
  /** The repository to build (default: the one this file belongs to). */
  readonly repoRoot?: string;
  /**
   * CA certificates (PEM) that `npm ci` inside the build must trust besides Node's own, for a
   * registry reached through a TLS-inspecting proxy (default: NODE_EXTRA_CA_CERTS).
   */
  readonly extraCaCerts?: string | undefined;
}

export interface ServiceImage {
  /** The OCI archive (an OCI image layout in a tar), ready for `ctr images import`. */
  readonly archive: string;
  /** The name the archive carries and the manifests deploy. */
  readonly reference: string;
  /** buildah's image ID: the digest of the image's config (`sha256:…`). */
  readonly imageId: string;
}

export type ImageBuildErrorCode =
  'TOOL_MISSING' | 'COMMAND_FAILED' | 'NOT_BUILT' | 'LOCK_TIMEOUT' | 'BAD_INPUT';

export class ImageBuildError extends Error {
  override readonly name = 'ImageBuildError';
  readonly code: ImageBuildErrorCode;
  constructor(code: ImageBuildErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** The name the Dockerfile's FROM lines use, as buildah stores it. */
export const BASE_REFERENCE = 'docker.io/library/node:24-bookworm-slim';
const DEBIAN_SUITE = 'bookworm';
const DEBIAN_MIRROR = 'http://deb.debian.org/debian';
/**
 * The npm the base ships. The official image ships the npm bundled with its Node release; the
 * npm registry's `node-linux-*` packages carry no npm, so this pins the npm 11 line's release.
 */
const NPM_VERSION = '11.21.3';
/** A merged-/usr minbase without the perl that the `usrmerge` package would pull in. */
const MMDEBSTRAP_ARGS: readonly string[] = [
  '--variant=minbase',
  '--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr',
  // Documentation is dead weight in an image (the official slim images drop it as well).
  '--dpkgopt=path-exclude=/usr/share/man/*',
  '--dpkgopt=path-exclude=/usr/share/doc/*',
  '--dpkgopt=path-include=/usr/share/doc/*/copyright',
  '--dpkgopt=path-exclude=/usr/share/info/*',
  '--dpkgopt=path-exclude=/usr/share/locale/*',
];
/**
 * Run by mmdebstrap as a customize hook with the rootfs as $1: the official image's Node layout
 * and `node` user. CVO_NODE_BIN and CVO_NPM_DIR point at the unpacked npm registry packages.
 */
const CUSTOMIZE_SCRIPT = `set -eu
root="$1"
install -m 0755 -o 0 -g 0 "$CVO_NODE_BIN" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/lib/node_modules"
cp -R "$CVO_NPM_DIR" "$root/usr/local/lib/node_modules/npm"
chown -R 0:0 "$root/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
chroot "$root" groupadd --gid 1000 node
chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin chroot "$root" node --version
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin chroot "$root" npm --version
find "$root/var/log" "$root/var/cache/apt" "$root/var/lib/apt/lists" -type f -delete
rm -f "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old
`;

/** Turns the rootfs into the base image; NODE_VERSION is filled in. */
function toBaseContainerfile(nodeVersion: string): string {
  return `FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin NODE_VERSION=${nodeVersion}
CMD ["node"]
`;
}

/**
 * How the service is built. Part of the service key, so a change here rebuilds. buildah runs
 * RUN steps with runc (isolation `oci`, its default, which works on this kind of host: root with
 * full capabilities on cgroup v1) and the host's network, which `npm ci` needs for the registry.
 */
const BUILD_FLAGS: readonly string[] = [
  '--pull=never',
  '--network=host',
  '--isolation=oci',
  // Keeps the `npm ci` layers, so a change under src/ alone does not reinstall dependencies.
  '--layers',
  '--format=oci',
];

/** A cold base (mmdebstrap) or service build (npm ci twice on two cores) takes minutes. */
const BUILD_TIMEOUT_MS = 30 * 60_000;
/** How long to wait for another process that holds the lock: a whole cold build. */
const LOCK_WAIT_MS = 45 * 60_000;
/** Bytes of a failed command's stderr kept in the error: its tail says what went wrong. */
const STDERR_TAIL = 4000;
/**
 * buildah keeps a blob-info cache in /var/lib/containers/cache for root whatever its --root
 * (containers/image has no switch for it); each buildah runs in a private mount namespace with
 * that folder bound to one under .cache/image, so nothing reaches the host's.
 */
const BUILDAH_WRAPPER =
  'mkdir -p /var/lib/containers && mount --bind "$0" /var/lib/containers && exec buildah "$@"';

const DEFAULT_REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Paths {
  readonly repo: string;
  readonly cache: string;
  readonly storageRoot: string;
  readonly storageRunroot: string;
  readonly storageConf: string;
  readonly systemCache: string;
  readonly tmp: string;
  readonly lock: string;
}

function toPaths(repo: string): Paths {
  const cache = join(repo, '.cache', 'image');
  const storage = join(cache, 'containers-storage');
  return {
    repo,
    cache,
    storageRoot: join(storage, 'root'),
    storageRunroot: join(storage, 'runroot'),
    storageConf: join(storage, 'storage.conf'),
    systemCache: join(storage, 'system-cache'),
    tmp: join(cache, 'tmp'),
    lock: join(cache, 'lock'),
  };
}

/**
 * Returns the service image's OCI archive, building the base image and the service image when
 * the cache holds none for the current inputs. Fast (a hash of the build context) when cached.
 */
export async function ensureServiceImage(
  options: EnsureServiceImageOptions,
): Promise<ServiceImage> {
  const started = Date.now();
  const { progress, signal } = options;
  const paths = toPaths(options.repoRoot ?? DEFAULT_REPO_ROOT);
  const reference = await readServiceReference(paths.repo);
  const base = await toBaseInputs(paths.repo);
  const context = await listBuildContext(paths.repo);
  const dockerfile = await readFile(join(paths.repo, 'Dockerfile'));
  const serviceKey = hashParts([
    'service',
    base.key,
    reference,
    dockerfile,
    BUILD_FLAGS.join(' '),
    ...context.files.flatMap((f) => [f.path, f.hash]),
  ]);
  const serviceDir = join(paths.cache, `service-${serviceKey}`);
  const cached = await readCompleteMarker(serviceDir);
  if (cached !== undefined) {
    progress(`${reference} is cached (${elapsed(started)}): ${join(serviceDir, 'image.oci.tar')}`);
    return { archive: join(serviceDir, 'image.oci.tar'), reference, imageId: cached.imageId };
  }
  if (options.cachedOnly === true) {
    throw new ImageBuildError(
      'NOT_BUILT',
      `the image for the current sources is not built (no ${serviceDir}/complete); run ` +
        '`node --import tsx testbed/image/build-image.ts` first (a cold build takes minutes)',
    );
  }

  await mkdir(paths.cache, { recursive: true });
  try {
    await acquireDirLock(paths.lock, {
      waitMs: LOCK_WAIT_MS,
      staleAfterMs: BUILD_TIMEOUT_MS,
      waiting: `waiting for another process that is building the image (${paths.lock}) ...`,
      progress,
      signal,
    });
  } catch (err) {
    if (err instanceof LockTimeoutError) {
      throw new ImageBuildError('LOCK_TIMEOUT', err.message, { cause: err });
    }
    throw err;
  }
  try {
    const again = await readCompleteMarker(serviceDir);
    if (again !== undefined) {
      return { archive: join(serviceDir, 'image.oci.tar'), reference, imageId: again.imageId };
    }
    await requireTools(['buildah', 'unshare', 'tar'], signal);
    await prepareStorage(paths);
    const baseDir = await ensureBaseRootfs(paths, base, progress, signal);
    await ensureBaseImported(paths, baseDir, progress, signal);
    const imageId = await buildService(paths, {
      dir: serviceDir,
      reference,
      files: context.files,
      extraCaCerts: options.extraCaCerts ?? process.env.NODE_EXTRA_CA_CERTS,
      progress,
      signal,
    });
    await removeStaleBuilds(paths.cache, [baseDir, serviceDir]);
    progress(`ready in ${elapsed(started)}`);
    return { archive: join(serviceDir, 'image.oci.tar'), reference, imageId };
  } finally {
    await rm(paths.lock, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Inputs and keys

interface BaseInputs {
  readonly key: string;
  readonly nodeVersion: string;
  readonly nodePackage: string;
}

/** The base image's inputs and their key; the Node version is the one ensure-node.sh installs. */
async function toBaseInputs(repo: string): Promise<BaseInputs> {
  const script = await readFile(join(repo, 'scripts', 'ensure-node.sh'), 'utf8');
  const match = /^NODE24_VERSION="([0-9]+\.[0-9]+\.[0-9]+)"$/m.exec(script);
  if (match?.[1] === undefined) {
    throw new ImageBuildError('BAD_INPUT', 'scripts/ensure-node.sh sets no NODE24_VERSION="x.y.z"');
  }
  const nodeVersion = match[1];
  const nodePackage = `node-linux-${process.arch}`;
  const key = hashParts([
    'base',
    DEBIAN_SUITE,
    DEBIAN_MIRROR,
    process.arch,
    `${nodePackage}@${nodeVersion}`,
    `npm@${NPM_VERSION}`,
    MMDEBSTRAP_ARGS.join('\n'),
    CUSTOMIZE_SCRIPT,
    toBaseContainerfile(nodeVersion),
  ]);
  return { key, nodeVersion, nodePackage };
}

/** `<newName>:<newTag>` of the kustomization's `cvo-update-verifier` image. */
async function readServiceReference(repo: string): Promise<string> {
  const file = join(repo, 'manifests', 'kustomization.yaml');
  const doc = loadYaml(await readFile(file, 'utf8')) as {
    images?: { name?: string; newName?: string; newTag?: string }[];
  } | null;
  const image = doc?.images?.find((i) => i.name === 'cvo-update-verifier');
  if (image?.newName === undefined || image.newTag === undefined) {
    throw new ImageBuildError('BAD_INPUT', `${file} names no cvo-update-verifier newName/newTag`);
  }
  return `${image.newName}:${image.newTag}`;
}

function hashParts(parts: readonly (string | Buffer)[]): string {
  const hash = createHash('sha256');
  for (const part of parts) {
    // Length-prefixed, so that no two different part lists hash alike.
    hash.update(`${String(part.length)}:`).update(part);
  }
  return hash.digest('hex').slice(0, 16);
}

// ---------------------------------------------------------------------------------------------
// The build context: what .dockerignore lets through

interface ContextFile {
  /** Relative, with `/`. */
  readonly path: string;
  readonly kind: 'file' | 'symlink';
  readonly mode: number;
  /** Hash of the content (or the link target) and the executable bit. */
  readonly hash: string;
}

interface IgnoreRule {
  readonly negate: boolean;
  readonly regex: RegExp;
  /** The pattern up to its first wildcard: a folder outside every negated prefix is skipped. */
  readonly prefix: string;
}

/**
 * The files `docker build` and `buildah bud` send for the repository's .dockerignore: patterns
 * in order, the last match wins, and a pattern matching a parent folder matches what is inside
 * (moby's patternmatcher). The image is built from a copy of exactly these files, so the key
 * hashes what the build sees, whatever the checkout holds besides (node_modules/, dist/, .cache/).
 */
export async function listBuildContext(repo: string): Promise<{ files: ContextFile[] }> {
  const ignore = await readFile(join(repo, '.dockerignore'), 'utf8').catch(() => '');
  const rules = parseDockerignore(ignore);
  const files: ContextFile[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(join(repo, rel), { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
      const excluded = isIgnored(path, rules);
      if (entry.isDirectory()) {
        if (!excluded || mayReinclude(path, rules)) await walk(path);
        continue;
      }
      if (excluded) continue;
      const full = join(repo, path);
      if (entry.isSymbolicLink()) {
        const target = await readlink(full);
        files.push({ path, kind: 'symlink', mode: 0o777, hash: hashParts(['l', target]) });
      } else if (entry.isFile()) {
        const info = await stat(full);
        const exec = (info.mode & 0o111) !== 0 ? 'x' : '-';
        files.push({
          path,
          kind: 'file',
          mode: info.mode & 0o7777,
          hash: hashParts([exec, await readFile(full)]),
        });
      }
    }
  };
  await walk('');
  return { files };
}

export function parseDockerignore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const raw of text.split('\n')) {
    let line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    if (negate) line = line.slice(1).trim();
    let pattern = posix.normalize(line.replace(/^\/+/, '')).replace(/\/+$/, '');
    if (pattern === '.' || pattern === '') pattern = '*';
    const wildcard = pattern.search(/[*?[\\]/);
    rules.push({
      negate,
      regex: toPatternRegex(pattern),
      prefix: wildcard === -1 ? pattern : pattern.slice(0, wildcard),
    });
  }
  return rules;
}

/** Go's filepath.Match syntax plus `**` (any number of folders), as moby's patternmatcher. */
function toPatternRegex(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charAt(i);
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          out += '(?:.*/)?';
        } else {
          out += '.*';
        }
      } else {
        out += '[^/]*';
      }
    } else if (c === '?') {
      out += '[^/]';
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end === -1) {
        out += '\\[';
      } else {
        out += `[${pattern.slice(i + 1, end).replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else if (c === '\\' && i + 1 < pattern.length) {
      i++;
      out += pattern.charAt(i).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else {
      out += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
  }
  return new RegExp(`^${out}$`);
}

export function isIgnored(path: string, rules: readonly IgnoreRule[]): boolean {
  const parents: string[] = [];
  const parts = path.split('/');
  for (let i = 1; i <= parts.length; i++) parents.push(parts.slice(0, i).join('/'));
  let ignored = false;
  for (const rule of rules) {
    if (parents.some((p) => rule.regex.test(p))) ignored = !rule.negate;
  }
  return ignored;
}

/** Whether a `!pattern` could let something inside an ignored folder back in. */
function mayReinclude(dir: string, rules: readonly IgnoreRule[]): boolean {
  const inside = `${dir}/`;
  return rules.some(
    (r) => r.negate && (r.prefix.startsWith(inside) || inside.startsWith(r.prefix)),
  );
}

async function copyContext(
  repo: string,
  files: readonly ContextFile[],
  target: string,
): Promise<void> {
  for (const file of files) {
    const to = join(target, file.path);
    await mkdir(dirname(to), { recursive: true });
    if (file.kind === 'symlink') {
      await symlink(await readlink(join(repo, file.path)), to);
    } else {
      await copyFile(join(repo, file.path), to);
      await chmod(to, file.mode);
    }
  }
  // buildah honours .dockerignore; the copy already holds only what it lets through.
  await copyFile(join(repo, '.dockerignore'), join(target, '.dockerignore')).catch(() => {});
}

// ---------------------------------------------------------------------------------------------
// The base image

async function ensureBaseRootfs(
  paths: Paths,
  base: BaseInputs,
  progress: (line: string) => void,
  signal: AbortSignal | undefined,
): Promise<string> {
  const dir = join(paths.cache, `base-${base.key}`);
  if ((await readCompleteMarker(dir)) !== undefined) {
    progress(`base rootfs is cached: ${dir}`);
    return dir;
  }
  const started = Date.now();
  progress(
    `building the base ${BASE_REFERENCE} (Debian ${DEBIAN_SUITE} minbase, Node ${base.nodeVersion}, ` +
      `npm ${NPM_VERSION}) with mmdebstrap; first run only, about two minutes ...`,
  );
  await requireTools(['mmdebstrap', 'npm'], signal);
  const staging = `${dir}.partial-${String(process.pid)}`;
  try {
    await rm(staging, { recursive: true, force: true });
    const downloads = join(staging, 'downloads');
    await mkdir(downloads, { recursive: true });
    const nodeBin = await fetchNode(base, downloads, signal);
    const npmDir = await fetchNpm(downloads, signal);
    progress(
      `  fetched ${base.nodePackage}@${base.nodeVersion} and npm@${NPM_VERSION} in ${elapsed(started)}`,
    );

    const mmStarted = Date.now();
    const customize = join(staging, 'customize.sh');
    await writeFile(customize, CUSTOMIZE_SCRIPT);
    const ticker = tick(progress, 'mmdebstrap', mmStarted);
    try {
      await runCommand(
        'mmdebstrap',
        [
          ...MMDEBSTRAP_ARGS,
          '--customize-hook=sh "$CVO_CUSTOMIZE" "$1"',
          DEBIAN_SUITE,
          join(staging, 'rootfs.tar'),
          DEBIAN_MIRROR,
        ],
        {
          cwd: staging,
          env: {
            ...process.env,
            TMPDIR: paths.tmp,
            CVO_CUSTOMIZE: customize,
            CVO_NODE_BIN: nodeBin,
            CVO_NPM_DIR: npmDir,
          },
          signal,
        },
      );
    } finally {
      clearInterval(ticker);
    }
    const size = (await stat(join(staging, 'rootfs.tar'))).size;
    progress(`  mmdebstrap made the rootfs (${toMb(size)}) in ${elapsed(mmStarted)}`);
    await rm(downloads, { recursive: true, force: true });
    await rm(customize);
    await writeFile(join(staging, 'Containerfile'), toBaseContainerfile(base.nodeVersion));
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
    await writeCompleteMarker(dir, { key: base.key });
    progress(`  base rootfs ready in ${elapsed(started)}`);
    return dir;
  } catch (err) {
    // A stopped or failed build leaves nothing half-made behind.
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
}

/** The `node` binary of the npm registry's platform package, checked to be a real ELF binary. */
async function fetchNode(
  base: BaseInputs,
  downloads: string,
  signal: AbortSignal | undefined,
): Promise<string> {
  const tgz = await npmPack(`${base.nodePackage}@${base.nodeVersion}`, downloads, signal);
  const out = join(downloads, 'node');
  await mkdir(out);
  await runCommand('tar', ['-xzf', tgz, '--no-same-owner', '-C', out, 'package/bin/node'], {
    cwd: downloads,
    signal,
  });
  const bin = join(out, 'package', 'bin', 'node');
  const handle = await open(bin);
  const magic = Buffer.alloc(4);
  try {
    await handle.read(magic, 0, 4, 0);
  } finally {
    await handle.close();
  }
  if (!magic.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) {
    throw new ImageBuildError('BAD_INPUT', `${bin} from ${tgz} is not an ELF binary`);
  }
  const version = (await runCommand(bin, ['--version'], { cwd: downloads, signal })).trim();
  if (version !== `v${base.nodeVersion}`) {
    throw new ImageBuildError('BAD_INPUT', `${bin} says ${version}, not v${base.nodeVersion}`);
  }
  return bin;
}

async function fetchNpm(downloads: string, signal: AbortSignal | undefined): Promise<string> {
  const tgz = await npmPack(`npm@${NPM_VERSION}`, downloads, signal);
  const out = join(downloads, 'npm');
  await mkdir(out);
  await runCommand('tar', ['-xzf', tgz, '--no-same-owner', '-C', out], { cwd: downloads, signal });
  return join(out, 'package');
}

/** Downloads a package's tarball from the npm registry (integrity-checked by npm). */
async function npmPack(
  spec: string,
  downloads: string,
  signal: AbortSignal | undefined,
): Promise<string> {
  const out = await runCommand(
    'npm',
    ['pack', spec, '--json', '--pack-destination', downloads, '--no-audit', '--no-fund'],
    { cwd: downloads, signal, timeoutMs: 10 * 60_000 },
  );
  const packed = JSON.parse(out) as { filename?: string }[];
  const filename = packed[0]?.filename;
  if (filename === undefined) {
    throw new ImageBuildError('COMMAND_FAILED', `npm pack ${spec} named no tarball: ${out}`);
  }
  return join(downloads, filename);
}

/**
 * Tags the base in buildah's storage, unless the image tagged there already is this base: the
 * storage may have been wiped, or hold another key's base under the same name. `--timestamp 0`
 * makes the import reproducible: the same rootfs gives the same image ID.
 */
async function ensureBaseImported(
  paths: Paths,
  baseDir: string,
  progress: (line: string) => void,
  signal: AbortSignal | undefined,
): Promise<void> {
  const recorded = await readFile(join(baseDir, 'image-id'), 'utf8').catch(() => '');
  const present = await buildah(
    paths,
    ['inspect', '--type', 'image', '--format', '{{.FromImageID}}', BASE_REFERENCE],
    { signal },
  ).catch(() => '');
  if (recorded !== '' && present.trim() === recorded.trim().replace(/^sha256:/, '')) return;
  const started = Date.now();
  const iidfile = join(baseDir, 'image-id');
  await buildah(
    paths,
    [
      'bud',
      '--timestamp=0',
      '--pull=never',
      '--format=oci',
      `--iidfile=${iidfile}`,
      '-f',
      join(baseDir, 'Containerfile'),
      '-t',
      BASE_REFERENCE,
      baseDir,
    ],
    { signal },
  );
  const id = (await readFile(iidfile, 'utf8')).trim();
  progress(`  imported ${BASE_REFERENCE} (${id.slice(0, 19)}) in ${elapsed(started)}`);
}

// ---------------------------------------------------------------------------------------------
// The service image and its archive

async function buildService(
  paths: Paths,
  build: {
    readonly dir: string;
    readonly reference: string;
    readonly files: readonly ContextFile[];
    readonly extraCaCerts: string | undefined;
    readonly progress: (line: string) => void;
    readonly signal: AbortSignal | undefined;
  },
): Promise<string> {
  const { dir, reference, progress, signal } = build;
  const staging = `${dir}.partial-${String(process.pid)}`;
  try {
    await rm(staging, { recursive: true, force: true });
    const context = join(staging, 'context');
    await mkdir(context, { recursive: true });
    await copyContext(paths.repo, build.files, context);

    const started = Date.now();
    progress(
      `building ${reference} from ${String(build.files.length)} context files with buildah bud ` +
        `(${BUILD_FLAGS.join(' ')}) ...`,
    );
    const iidfile = join(staging, 'image-id');
    const ticker = tick(progress, 'buildah bud', started);
    try {
      await buildah(
        paths,
        [
          'bud',
          ...BUILD_FLAGS,
          `--iidfile=${iidfile}`,
          ...(await toCaVolumeArgs(paths, build.extraCaCerts)),
          '-f',
          join(paths.repo, 'Dockerfile'),
          '-t',
          reference,
          context,
        ],
        {
          signal,
          onLine: (line) => {
            if (/^(\[\d+\/\d+\] )?(STEP \d+\/\d+|COMMIT)|^--> Using cache/.test(line))
              progress(`  ${line}`);
          },
        },
      );
    } finally {
      clearInterval(ticker);
    }
    const imageId = (await readFile(iidfile, 'utf8')).trim();
    progress(`  built ${imageId.slice(0, 19)} in ${elapsed(started)}`);

    const archiveStarted = Date.now();
    const layout = join(staging, 'layout');
    await buildah(paths, ['push', '--quiet', imageId, `oci:${layout}:${reference}`], { signal });
    await nameForContainerd(layout, reference);
    const archive = join(staging, 'image.oci.tar');
    await runCommand(
      'tar',
      [
        '--create',
        `--file=${archive}`,
        `--directory=${layout}`,
        '--sort=name',
        '--owner=0',
        '--group=0',
        '--numeric-owner',
        '--mtime=@0',
        'oci-layout',
        'index.json',
        'blobs',
      ],
      { cwd: staging, signal },
    );
    await rm(context, { recursive: true, force: true });
    await rm(layout, { recursive: true, force: true });
    await rm(iidfile);
    progress(
      `  wrote image.oci.tar (${toMb((await stat(archive)).size)}) in ${elapsed(archiveStarted)}`,
    );
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
    await writeCompleteMarker(dir, { reference, imageId });
    return imageId;
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Lets the build's `npm ci` trust extra CAs without a trace in the image or a Dockerfile change:
 * npm reads its global config from `<prefix>/etc/npmrc`, /usr/local/etc/npmrc for the image's
 * Node, so a folder holding that npmrc (`cafile=`) and the certificates is bound read-only over
 * /usr/local/etc for every RUN. That folder exists (empty) in Debian's rootfs, so buildah creates
 * no mount point and no layer records it. Environment variables would not do: buildah 1.28 gives
 * RUN steps neither containers.conf's `env` nor an `--env` that stays out of the image config.
 */
async function toCaVolumeArgs(paths: Paths, caFile: string | undefined): Promise<string[]> {
  if (caFile === undefined || caFile === '') return [];
  const dir = join(paths.cache, 'build-npm-etc');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await copyFile(caFile, join(dir, 'build-ca.crt'));
  await writeFile(join(dir, 'npmrc'), 'cafile=/usr/local/etc/build-ca.crt\n');
  return [`--volume=${dir}:/usr/local/etc:ro`];
}

/**
 * containers/image writes the name as `org.opencontainers.image.ref.name`, which `ctr images
 * import` runs through its prefix filter (without --base-name it would import the image as
 * `import-<date>` or drop the name); `io.containerd.image.name` is taken as the image's name.
 */
async function nameForContainerd(layout: string, reference: string): Promise<void> {
  const file = join(layout, 'index.json');
  const index = JSON.parse(await readFile(file, 'utf8')) as {
    manifests?: { annotations?: Record<string, string> }[];
  };
  const manifest = index.manifests?.find(
    (m) => m.annotations?.['org.opencontainers.image.ref.name'] === reference,
  );
  if (manifest?.annotations === undefined) {
    throw new ImageBuildError('COMMAND_FAILED', `buildah push wrote no ${reference} in ${file}`);
  }
  manifest.annotations['io.containerd.image.name'] = reference;
  await writeFile(file, JSON.stringify(index));
}

// ---------------------------------------------------------------------------------------------
// Storage, markers, lock, stale builds

async function prepareStorage(paths: Paths): Promise<void> {
  for (const dir of [paths.storageRoot, paths.storageRunroot, paths.systemCache, paths.tmp]) {
    await mkdir(dir, { recursive: true });
  }
  // Read instead of /etc/containers/storage.conf, whose options (additional image stores, another
  // driver) would otherwise reach into the host's storage.
  await writeFile(
    paths.storageConf,
    `[storage]
driver = "overlay"
graphroot = "${paths.storageRoot}"
runroot = "${paths.storageRunroot}"
`,
  );
}

/** buildah with the isolated storage, in its own mount namespace (see BUILDAH_WRAPPER). */
function buildah(
  paths: Paths,
  args: readonly string[],
  options: { signal: AbortSignal | undefined; onLine?: (line: string) => void },
): Promise<string> {
  const storageArgs = [
    `--root=${paths.storageRoot}`,
    `--runroot=${paths.storageRunroot}`,
    '--storage-driver=overlay',
  ];
  return runCommand(
    'unshare',
    [
      '--mount',
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      BUILDAH_WRAPPER,
      paths.systemCache,
      ...storageArgs,
      ...args,
    ],
    {
      cwd: paths.cache,
      env: { ...process.env, CONTAINERS_STORAGE_CONF: paths.storageConf, TMPDIR: paths.tmp },
      signal: options.signal,
      onLine: options.onLine,
      display: `buildah ${args.join(' ')}`,
    },
  );
}

interface CompleteMarker {
  readonly imageId: string;
}

async function readCompleteMarker(dir: string): Promise<CompleteMarker | undefined> {
  try {
    const marker = JSON.parse(await readFile(join(dir, 'complete'), 'utf8')) as {
      imageId?: string;
    };
    return { imageId: marker.imageId ?? '' };
  } catch {
    return undefined;
  }
}

async function writeCompleteMarker(dir: string, marker: Record<string, string>): Promise<void> {
  await writeFile(join(dir, 'complete'), `${JSON.stringify(marker)}\n`);
}

/** Removes other keys' builds and partial builds, so the cache holds one base and one service. */
async function removeStaleBuilds(cache: string, keep: readonly string[]): Promise<void> {
  for (const name of await readdir(cache)) {
    const full = join(cache, name);
    if (!/^(base|service)-/.test(name) || keep.includes(full)) continue;
    await rm(full, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Commands

async function requireTools(
  tools: readonly string[],
  signal: AbortSignal | undefined,
): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new ImageBuildError(
      'TOOL_MISSING',
      'building the image needs root: mmdebstrap and buildah run as root here (no rootless set-up)',
    );
  }
  for (const tool of tools) {
    await runCommand(tool, ['--version'], { cwd: '/', signal, timeoutMs: 30_000 });
  }
}

interface RunOptions {
  readonly cwd: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly signal?: AbortSignal | undefined;
  readonly timeoutMs?: number;
  /** Called with each line of stdout and stderr as it comes (buildah logs its steps to stderr). */
  readonly onLine?: ((line: string) => void) | undefined;
  /** The command as errors name it (default: the command and its arguments). */
  readonly display?: string;
}

/**
 * Runs a command in its own process group (a stop or timeout ends it and its children);
 * resolves with stdout, rejects naming the command with the tail of its stderr.
 */
function runCommand(
  command: string,
  args: readonly string[],
  options: RunOptions,
): Promise<string> {
  const display = options.display ?? `${command} ${args.join(' ')}`;
  const { signal } = options;
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason as Error);
      return;
    }
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    let err = '';
    const killGroup = (): void => {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(killGroup, options.timeoutMs ?? BUILD_TIMEOUT_MS);
    signal?.addEventListener('abort', killGroup, { once: true });
    const settle = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', killGroup);
    };
    const lineSplitter = (): ((text: string) => void) => {
      let pending = '';
      return (text) => {
        if (options.onLine === undefined) return;
        pending += text;
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) options.onLine(line);
      };
    };
    const outLines = lineSplitter();
    const errLines = lineSplitter();
    child.stdout.on('data', (d: Buffer) => {
      const text = d.toString();
      out += text;
      outLines(text);
    });
    child.stderr.on('data', (d: Buffer) => {
      const text = d.toString();
      err = (err + text).slice(-64 * 1024);
      errLines(text);
    });
    child.on('error', (e) => {
      settle();
      const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
      reject(
        new ImageBuildError(
          missing ? 'TOOL_MISSING' : 'COMMAND_FAILED',
          missing
            ? `${command} is not installed (needed to build the image without Docker): ` +
                'apt-get install buildah mmdebstrap runc uidmap'
            : `${display} could not be started: ${e.message}`,
          { cause: e },
        ),
      );
    });
    child.on('close', (code, killedBy) => {
      settle();
      if (signal?.aborted === true) {
        reject(signal.reason as Error);
      } else if (code === 0) {
        resolve(out);
      } else {
        const how = code === null ? `killed by ${String(killedBy)}` : `exit ${String(code)}`;
        // A failed RUN step's own output (npm's error) goes to stdout, buildah's verdict to stderr.
        const outTail = out.trim() === '' ? '' : `${out.slice(-STDERR_TAIL / 2)}\n--- stderr:\n`;
        const tail = `${outTail}${err.slice(-STDERR_TAIL)}`;
        reject(new ImageBuildError('COMMAND_FAILED', `${display} failed (${how}):\n${tail}`));
      }
    });
  });
}

function tick(progress: (line: string) => void, what: string, started: number): NodeJS.Timeout {
  return setInterval(() => {
    progress(`  ... ${what} still running (${elapsed(started)})`);
  }, 30_000);
}

function elapsed(started: number): string {
  const ms = Date.now() - started;
  return ms < 10_000 ? `${(ms / 1000).toFixed(2)} s` : `${String(Math.round(ms / 1000))} s`;
}

function toMb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

// ---------------------------------------------------------------------------------------------
// CLI: node --import tsx testbed/image/build-image.ts

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const controller = new AbortController();
  process.once('SIGINT', () => {
    controller.abort(new Error('stopped by SIGINT'));
  });
  try {
    const image = await ensureServiceImage({
      progress: (line) => process.stderr.write(`[image] ${line}\n`),
      signal: controller.signal,
    });
    process.stdout.write(`${image.archive}\n`);
  } catch (err) {
    process.stderr.write(`[image] ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
