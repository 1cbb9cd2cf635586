import { closeSync, constants, fstatSync, open, read } from 'node:fs';
import { join } from 'node:path';

import { VerifyError } from '../errors.js';
import { toStoreDigestPath } from '../image/pullspec.js';
import { DEFAULT_MAX_SIGNATURE_BYTES, DEFAULT_MAX_SIGNATURES } from './store.js';
import type { SignatureStore, StoreEvent } from './store.js';

export interface FileStoreOptions {
  readonly maxSignatures?: number;
  readonly maxSignatureBytes?: number;
}

/**
 * A directory laid out like an HTTP store: `<dir>/sha256=<hex>/signature-N`. A missing file ends
 * the store, as a 404 does.
 */
export class FileSignatureStore implements SignatureStore {
  private readonly directory: string;
  private readonly maxSignatures: number;
  private readonly maxSignatureBytes: number;

  constructor(directory: string, options: FileStoreOptions = {}) {
    this.directory = directory;
    this.maxSignatures = options.maxSignatures ?? DEFAULT_MAX_SIGNATURES;
    this.maxSignatureBytes = options.maxSignatureBytes ?? DEFAULT_MAX_SIGNATURE_BYTES;
  }

  describe(): string {
    return `file://${this.directory}`;
  }

  async *signatures(digest: string, signal: AbortSignal): AsyncIterable<StoreEvent> {
    for (let index = 1; index <= this.maxSignatures; index++) {
      if (signal.aborted) {
        yield { kind: 'end', reason: 'aborted', detail: 'stopped' };
        return;
      }
      const location = join(this.directory, toStoreDigestPath(digest), `signature-${index}`);
      let body: Uint8Array;
      try {
        body = await this.read(location);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          yield { kind: 'end', reason: 'not-found', detail: `${location} does not exist` };
          return;
        }
        const error =
          err instanceof VerifyError
            ? err
            : new VerifyError(
                'STORE_ERROR',
                `unable to read ${location}: ${(err as Error).message}`,
                { cause: err },
              );
        yield { kind: 'error', location, index, error };
        continue;
      }
      if (body.length === 0) continue;
      yield { kind: 'signature', location, index, body };
    }
    yield {
      kind: 'end',
      reason: 'limit',
      detail: `read the maximum of ${this.maxSignatures} signatures`,
    };
  }

  /**
   * The file's bytes, bounded. Two round trips to libuv's thread pool — the open (where a hung
   * mount would block) and the read of the data — instead of four: the fstat of the open file and
   * the close are synchronous (no data moves; each costs less than the wake-up of a pool thread,
   * which on a busy 2-core machine is 30–130 µs). The buffer is not zeroed: only the bytes read
   * are returned, copied.
   */
  private async read(location: string): Promise<Uint8Array> {
    // O_NONBLOCK: opening a FIFO put in place of a file would otherwise block a libuv thread
    // until a writer appears, beyond the reach of the abort signal. No effect on regular files.
    const fd = await openFile(location, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const info = fstatSync(fd);
      if (!info.isFile()) throw new VerifyError('STORE_ERROR', `${location} is not a regular file`);
      if (info.size > this.maxSignatureBytes) {
        throw new VerifyError(
          'STORE_OVERSIZE',
          `${location} is ${info.size} bytes, more than the limit of ${this.maxSignatureBytes}`,
        );
      }
      // One byte more than fstat's size: a buffer sized to the file (allocating the whole 64 KiB
      // limit costs more than reading a signature). Only a file that holds more than its size
      // says (it grew, or /proc reports 0) is read again, one byte past the limit, so that it is
      // refused, never truncated.
      let buffer = Buffer.allocUnsafe(info.size + 1);
      let bytesRead = await readFile(fd, buffer);
      if (bytesRead > info.size && buffer.length <= this.maxSignatureBytes) {
        buffer = Buffer.allocUnsafe(this.maxSignatureBytes + 1);
        bytesRead = await readFile(fd, buffer);
      }
      if (bytesRead > this.maxSignatureBytes) {
        throw new VerifyError(
          'STORE_OVERSIZE',
          `${location} is larger than the limit of ${this.maxSignatureBytes} bytes`,
        );
      }
      return new Uint8Array(buffer.subarray(0, bytesRead));
    } finally {
      closeSync(fd);
    }
  }
}

/** fs.open as a promise: a bare descriptor, without a FileHandle's extra work. */
function openFile(path: string, flags: number): Promise<number> {
  return new Promise((resolve, reject) => {
    open(path, flags, (err, fd) => {
      if (err) reject(err);
      else resolve(fd);
    });
  });
}

/** One fs.read of `buffer.length` bytes from offset 0, as a promise. */
function readFile(fd: number, buffer: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    read(fd, buffer, 0, buffer.length, 0, (err, bytesRead) => {
      if (err) reject(err);
      else resolve(bytesRead);
    });
  });
}
