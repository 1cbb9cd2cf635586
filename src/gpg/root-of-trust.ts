import { closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

import { loadAll } from 'js-yaml';

import { VerifyError } from '../errors.js';
import { goUnreadableReason, loadKeyring } from './keyring.js';
import type { Keyring, KeyringCache } from './keyring.js';

/** The annotation that marks the root-of-trust ConfigMap in a release payload. */
export const VERIFICATION_CONFIG_MAP_ANNOTATION = 'release.openshift.io/verification-config-map';
const KEY_PREFIX = 'verifier-public-key-';
const STORE_PREFIX = 'store-';

/** Largest manifest file we read; release manifests are a few KiB each. */
export const MAX_MANIFEST_BYTES = 8 * 1024 * 1024;
/** Most files we read from a manifests directory (a release has ~800). */
const MAX_MANIFEST_FILES = 10_000;

/** GPG trust configuration: keyrings that must all be satisfied and where to look. */
export interface RootOfTrust {
  /** `the config map <ns>/<name>`: how the CVO names it in messages (parity). */
  readonly source: string;
  /** Sorted by name. Every keyring must be satisfied by some signature. */
  readonly keyrings: readonly Keyring[];
  /** In ConfigMap key order (sorted), as URLs exactly as written. */
  readonly stores: readonly { readonly name: string; readonly url: string }[];
  readonly warnings: readonly string[];
}

export interface RootOfTrustOptions {
  /** Where parsed keyrings are kept (default: the process's keyring cache). */
  readonly keyringCache?: KeyringCache;
}

interface ConfigMapLike {
  readonly namespace: string;
  readonly name: string;
  readonly data: Readonly<Record<string, string>>;
}

/**
 * Builds the root of trust from a ConfigMap's `data` with library-go's rules and messages: keys
 * `verifier-public-key-*` are keyrings, `store-*` are http(s) or file URLs, anything else is
 * warned about; no stores, then no keys, are errors (in that order, parity).
 */
export async function rootOfTrustFromData(
  source: string,
  data: Readonly<Record<string, string>>,
  options: RootOfTrustOptions = {},
): Promise<RootOfTrust> {
  const keyrings: Keyring[] = [];
  const stores: { name: string; url: string }[] = [];
  const warnings: string[] = [];
  for (const key of Object.keys(data).sort()) {
    const value = data[key] ?? '';
    if (key.startsWith(KEY_PREFIX)) {
      try {
        const keyring = await loadKeyring(
          key,
          Buffer.from(value, 'utf8'),
          options.keyringCache !== undefined ? { cache: options.keyringCache } : {},
        );
        const unreadable = goUnreadableReason(keyring);
        if (unreadable !== undefined) throw new VerifyError('INVALID_KEY', unreadable);
        keyrings.push(keyring);
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        throw new VerifyError(
          'INVALID_KEY',
          `${source} has an invalid key ${JSON.stringify(key)} that must be a GPG public key: ${reason}`,
          { cause: err },
        );
      }
    } else if (key.startsWith(STORE_PREFIX)) {
      const url = value.trim();
      if (!isStoreUrl(url)) {
        throw new VerifyError(
          'INVALID_STORE',
          `${source} has an invalid key ${JSON.stringify(key)}: must be a valid URL with scheme file://, http://, or https://`,
        );
      }
      stores.push({ name: key, url });
    } else {
      warnings.push(
        `An unexpected key was found in ${source} and will be ignored (expected store-* or verifier-public-key-*): ${key}`,
      );
    }
  }
  if (stores.length === 0) {
    throw new VerifyError(
      'NO_STORES',
      `${source} did not provide any signature stores to read from and cannot be used`,
    );
  }
  if (keyrings.length === 0) {
    throw new VerifyError(
      'NO_KEYS',
      `${source} did not provide any GPG public keys to verify signatures from and cannot be used`,
    );
  }
  return { source, keyrings, stores, warnings };
}

function isStoreUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' || url.protocol === 'file:';
  } catch {
    return false;
  }
}

/** `the config map <ns>/<name>` */
export function describeConfigMap(cm: { namespace: string; name: string }): string {
  return `the config map ${cm.namespace}/${cm.name}`;
}

/** Loads the root of trust from a YAML/JSON file (one or many documents) or a manifests directory. */
export async function loadRootOfTrust(
  path: string,
  options: RootOfTrustOptions = {},
): Promise<RootOfTrust> {
  const cm = await findVerificationConfigMap(path);
  return rootOfTrustFromData(describeConfigMap(cm), cm.data, options);
}

/**
 * Finds the first ConfigMap annotated `release.openshift.io/verification-config-map` in a file,
 * or in a directory's *.yaml, *.yml and *.json files read in name order, as the CVO reads a
 * release's manifests. Later annotated ConfigMaps are ignored (parity).
 *
 * Regular files are read synchronously (see {@link readManifestFile}): this is the CLI's
 * `--root-of-trust`, read once before anything else runs, where each thread-pool round trip costs
 * more than reading the whole file.
 */
export async function findVerificationConfigMap(path: string): Promise<ConfigMapLike> {
  const notFound = (err: unknown): VerifyError =>
    new VerifyError(
      'ROOT_OF_TRUST_NOT_FOUND',
      `cannot read root of trust ${path}: ${(err as Error).message}`,
      { cause: err },
    );
  const read = await readManifestFile(path, { directory: true, openError: notFound });
  if (read.kind === 'text') {
    const found = findInText(read.text, path);
    if (found) return found;
  } else {
    const names = (await readdir(path)).filter((n) => /\.(ya?ml|json)$/i.test(n)).sort();
    if (names.length > MAX_MANIFEST_FILES) {
      throw new VerifyError(
        'ROOT_OF_TRUST_INVALID',
        `${path} holds more than ${MAX_MANIFEST_FILES} manifest files`,
      );
    }
    for (const file of names.map((n) => join(path, n))) {
      const fileRead = await readManifestFile(file, { directory: false, openError: (e) => e });
      if (fileRead.kind !== 'text') continue; // not reached: directory: false reads it (EISDIR)
      const found = findInText(fileRead.text, file);
      if (found) return found;
    }
  }
  throw new VerifyError(
    'ROOT_OF_TRUST_NOT_FOUND',
    `no ConfigMap annotated ${VERIFICATION_CONFIG_MAP_ANNOTATION} found in ${path}`,
  );
}

type ManifestRead =
  { readonly kind: 'text'; readonly text: string } | { readonly kind: 'directory' };

interface ManifestReadOptions {
  /** Whether a directory is an answer; if not, it is read, and fails as reading one does. */
  readonly directory: boolean;
  /** What a failure to open the path throws (a failure to read it is thrown as it is). */
  readonly openError: (err: unknown) => unknown;
}

/**
 * A manifest file's text, or that `path` is a directory. A regular file is read synchronously
 * (stat, open, fstat, read, close: ~10 µs, where the same calls through libuv's thread pool cost
 * four round trips of 30–130 µs each on a busy 2-core machine). Anything else — a pipe
 * (`--root-of-trust <(kubectl get …)`), a FIFO, a device — and a path that cannot be stat'ed is
 * opened and read to its end through the thread pool as before, since a synchronous open or read
 * of it could block the process; so errors and their messages are those of that open.
 * O_NONBLOCK on the synchronous open and the fstat of the opened file cover a path swapped for a
 * FIFO after the stat: it is then closed unread and taken the asynchronous way.
 */
async function readManifestFile(path: string, options: ManifestReadOptions): Promise<ManifestRead> {
  let regular = false;
  try {
    regular = statSync(path).isFile();
  } catch {
    // The open below fails the same way and reports it.
  }
  if (regular) {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (err) {
      throw options.openError(err);
    }
    try {
      const info = fstatSync(fd);
      if (info.isFile()) return { kind: 'text', text: readManifestSync(fd, info.size, path) };
    } finally {
      closeSync(fd);
    }
  }
  // One open for the path whatever it is (a file is then read through the same handle): each
  // fs call is a round trip to libuv's thread pool.
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw options.openError(err);
  }
  try {
    const info = await handle.stat();
    if (options.directory && info.isDirectory()) return { kind: 'directory' };
    return { kind: 'text', text: await readManifest(handle, info.size, path) };
  } finally {
    await handle.close();
  }
}

function manifestTooLarge(file: string): VerifyError {
  return new VerifyError(
    'ROOT_OF_TRUST_INVALID',
    `${file} is larger than ${MAX_MANIFEST_BYTES} bytes`,
  );
}

/** Bytes read at a time when the size is unknown (a pipe) or the file grew since its fstat. */
const MANIFEST_READ_CHUNK = 64 * 1024;

/**
 * How much the next read of a manifest asks for, `total` bytes in. First one byte more than
 * fstat's `size`, so that a file that has not grown ends in this read (a buffer sized to the file:
 * allocating 64 KiB costs more than reading a small file); then chunks; never beyond the limit + 1.
 */
function nextReadSize(size: number, total: number): number {
  const want = total === 0 && size > 0 ? size + 1 : Math.max(size + 1 - total, MANIFEST_READ_CHUNK);
  return Math.min(want, MAX_MANIFEST_BYTES + 1 - total);
}

/**
 * The whole text of a regular file open as `fd`, refused beyond MAX_MANIFEST_BYTES. `size` is
 * fstat's; reads go on until the end, so a file that grew after the fstat is read whole (or
 * refused), never cut at its old size.
 */
function readManifestSync(fd: number, size: number, file: string): string {
  if (size > MAX_MANIFEST_BYTES) throw manifestTooLarge(file);
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const want = nextReadSize(size, total);
    const buffer = Buffer.allocUnsafe(want);
    const bytesRead = readSync(fd, buffer, 0, want, null);
    if (bytesRead === 0) break;
    chunks.push(buffer.subarray(0, bytesRead));
    total += bytesRead;
    if (total > MAX_MANIFEST_BYTES) throw manifestTooLarge(file);
    if (size > 0 && total === size && bytesRead < want) break;
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

/**
 * The whole text of an open manifest, refused beyond MAX_MANIFEST_BYTES. `size` is fstat's: a
 * regular file is read in one call (a short read at its size is its end); a pipe (size 0, as
 * `--root-of-trust <(kubectl get …)` gives) is read until its end.
 */
async function readManifest(handle: FileHandle, size: number, file: string): Promise<string> {
  if (size > MAX_MANIFEST_BYTES) throw manifestTooLarge(file);
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const want = nextReadSize(size, total);
    const buffer = Buffer.allocUnsafe(want);
    const { bytesRead } = await handle.read(buffer, 0, want, null);
    if (bytesRead === 0) break;
    chunks.push(buffer.subarray(0, bytesRead));
    total += bytesRead;
    if (total > MAX_MANIFEST_BYTES) throw manifestTooLarge(file);
    if (size > 0 && total === size && bytesRead < want) break;
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

/** Parses YAML or JSON text (several documents, or a v1 List) and returns the first annotated ConfigMap. */
export function findInText(text: string, origin: string): ConfigMapLike | undefined {
  // json: true makes a repeated key override the earlier one, as Go's YAML decoder does: Red
  // Hat's production ConfigMap repeats `namespace:` and must load. js-yaml also accepts the
  // loosely indented quoted scalars library-go's test manifests contain.
  let documents: unknown[];
  try {
    documents = loadAll(text, null, { json: true, filename: origin });
  } catch (err) {
    throw new VerifyError(
      'ROOT_OF_TRUST_INVALID',
      `${origin}: invalid YAML: ${(err as Error).message.split('\n')[0] ?? ''}`,
      { cause: err },
    );
  }
  for (const value of documents) {
    const objects =
      isObject(value) && value.kind === 'List' && Array.isArray(value.items)
        ? (value.items as unknown[])
        : [value];
    for (const object of objects) {
      const cm = asAnnotatedConfigMap(object, origin);
      if (cm) return cm;
    }
  }
  return undefined;
}

function asAnnotatedConfigMap(object: unknown, origin: string): ConfigMapLike | undefined {
  if (!isObject(object) || object.kind !== 'ConfigMap' || !isObject(object.metadata))
    return undefined;
  const { metadata } = object;
  if (
    !isObject(metadata.annotations) ||
    !(VERIFICATION_CONFIG_MAP_ANNOTATION in metadata.annotations)
  )
    return undefined;
  const name = typeof metadata.name === 'string' ? metadata.name : '';
  const namespace = typeof metadata.namespace === 'string' ? metadata.namespace : '';
  const data: Record<string, string> = {};
  if (object.data !== undefined && object.data !== null) {
    if (!isObject(object.data))
      throw new VerifyError(
        'ROOT_OF_TRUST_INVALID',
        `${origin}: ConfigMap ${namespace}/${name} data must be a map of strings`,
      );
    for (const [k, v] of Object.entries(object.data)) {
      if (typeof v !== 'string') {
        throw new VerifyError(
          'ROOT_OF_TRUST_INVALID',
          `${origin}: ConfigMap ${namespace}/${name} data key ${JSON.stringify(k)} must be a string`,
        );
      }
      data[k] = v;
    }
  }
  return { namespace, name, data };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
