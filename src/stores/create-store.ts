import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { VerifyError } from '../errors.js';
import { FileSignatureStore } from './file-store.js';
import type { FileStoreOptions } from './file-store.js';
import { HttpSignatureStore, redactUrl } from './http-store.js';
import type { HttpStoreOptions } from './http-store.js';
import type { SignatureStore } from './store.js';

export interface CreateStoreOptions extends HttpStoreOptions, FileStoreOptions {
  /** Directory that relative `file://` URLs resolve against (library-go: the working directory). */
  readonly baseDir: string;
}

/** Builds a store from a `store-*` URL: http(s) or file. */
export function createStoreFromUrl(raw: string, options: CreateStoreOptions): SignatureStore {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    // No cause: Node's TypeError keeps the raw input, credentials included.
    throw new VerifyError(
      'INVALID_STORE',
      `signature store ${JSON.stringify(redactUrl(raw))} is not a valid URL`,
    );
  }
  switch (url.protocol) {
    case 'http:':
    case 'https:':
      return new HttpSignatureStore(url, options);
    case 'file:':
      return new FileSignatureStore(toFileStorePath(raw.trim(), url, options.baseDir), options);
    default:
      throw new VerifyError(
        'INVALID_STORE',
        `signature store ${JSON.stringify(redactUrl(raw))}: must be a valid URL with scheme file://, http://, or https://`,
      );
  }
}

/**
 * `file:///abs/dir` is absolute. `file://../dir` and `file://./dir` (as in library-go's test
 * manifests, where Go puts `..` in the host) are taken relative to `baseDir`.
 */
function toFileStorePath(raw: string, url: URL, baseDir: string): string {
  const rest = raw.slice('file://'.length);
  if (rest.startsWith('.')) return resolve(baseDir, decodeURIComponent(rest));
  if (url.host !== '' && url.host !== 'localhost') {
    throw new VerifyError(
      'INVALID_STORE',
      `signature store ${JSON.stringify(redactUrl(raw))}: file URLs must name a local path`,
    );
  }
  const path = fileURLToPath(url);
  return isAbsolute(path) ? path : resolve(baseDir, path);
}
