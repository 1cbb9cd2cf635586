import { spawn } from 'node:child_process';

import { goToolPath } from '../tooling/go-tools.js';
import type { GoToolName } from '../tooling/go-tools.js';

/** A case for containers/image's IsRunningImageAllowed (interop/cmd/cimage-harness). */
export interface CimageCase {
  readonly id: string;
  readonly policy: string;
  readonly registriesDir: string;
  readonly image: string;
  readonly insecure?: boolean;
}

export interface CimageResult {
  readonly id: string;
  readonly allowed: boolean;
  readonly error?: string;
  readonly setupError?: boolean;
  readonly stage?: string;
}

/** A case for library-go pkg/verify (interop/cmd/librarygo-harness). */
export interface LibraryGoCase {
  readonly id: string;
  readonly manifests: string | readonly string[];
  readonly digest: string;
  readonly extraStores?: readonly string[];
  readonly signatureConfigMaps?: string;
  readonly caFile?: string;
  readonly timeoutSeconds?: number;
}

export interface LibraryGoResult {
  readonly id: string;
  readonly verified: boolean;
  readonly error?: string;
  readonly loadError?: string;
  readonly details?: string;
  readonly stage?: string;
}

/** A case for containers/storage's ApplyLayer (interop/cmd/storage-harness). */
export interface StorageCase {
  readonly id: string;
  /** Absolute paths of layer blobs (tar, gzip or zstd), lowest layer first. */
  readonly layers: readonly string[];
  /** Archive paths to read from the extracted root. */
  readonly paths: readonly string[];
}

export interface StorageResult {
  readonly id: string;
  /** Path → base64 content, or null when it is not a regular file (symlinks followed in the root). */
  readonly files: Readonly<Record<string, string | null>>;
  /** Direct children of release-manifests/ (`dir/`, `link@`, `device?`). */
  readonly listing: readonly string[];
  /** ApplyLayer's error; every file is then null. */
  readonly error?: string;
  /** Index of the layer that failed to apply. */
  readonly layer?: number;
}

/** A whole batch may take a while: each case may read a registry or a store. */
const HARNESS_TIMEOUT_MS = 240_000;

async function runHarness<R extends { id: string }>(
  tool: GoToolName,
  cases: readonly { readonly id: string }[],
): Promise<Map<string, R>> {
  const binary = await goToolPath(tool);
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), HARNESS_TIMEOUT_MS);
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`${tool} exited ${String(code)}: ${err.slice(-2000)}`));
        return;
      }
      const results = new Map<string, R>();
      for (const line of out.split('\n')) {
        if (line.trim() === '') continue;
        const result = JSON.parse(line) as R;
        results.set(result.id, result);
      }
      for (const c of cases) {
        if (!results.has(c.id)) {
          reject(new Error(`${tool} gave no result for case ${c.id}: ${err.slice(-2000)}`));
          return;
        }
      }
      resolve(results);
    });
    child.stdin.end(JSON.stringify({ cases }));
  });
}

export function runCimageHarness(cases: readonly CimageCase[]): Promise<Map<string, CimageResult>> {
  return runHarness('cimageHarness', cases);
}

export function runLibraryGoHarness(
  cases: readonly LibraryGoCase[],
): Promise<Map<string, LibraryGoResult>> {
  return runHarness('libraryGoHarness', cases);
}

/** A case for containers/image's List.ChooseInstance (interop/cmd/choose-instance). */
export interface ChooseInstanceCase {
  readonly id: string;
  /** Standard base64 of the list's exact bytes. */
  readonly manifest: string;
  /** The MIME type the list is read as (a registry's Content-Type). */
  readonly mediaType: string;
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

export interface ChooseInstanceResult {
  readonly id: string;
  readonly digest?: string;
  readonly error?: string;
  /** `input`, `parse` (ListFromBlob), `choose` (ChooseInstance) or `panic`. */
  readonly stage?: string;
}

export function runChooseInstanceHarness(
  cases: readonly ChooseInstanceCase[],
): Promise<Map<string, ChooseInstanceResult>> {
  return runHarness('chooseInstance', cases);
}

export function runStorageHarness(
  cases: readonly StorageCase[],
): Promise<Map<string, StorageResult>> {
  return runHarness('storageHarness', cases);
}

/** One question to Go's parsers (interop/cmd/go-parsers). */
export interface GoParsersCase {
  readonly id: string;
  readonly kind: 'url' | 'uuid';
  readonly value: string;
}

export interface GoParsersResult {
  readonly id: string;
  readonly urlFails?: boolean;
  readonly rfc4122?: boolean;
  readonly version?: number;
  readonly error?: string;
}

export function runGoParsersHarness(
  cases: readonly GoParsersCase[],
): Promise<Map<string, GoParsersResult>> {
  return runHarness('goParsers', cases);
}
