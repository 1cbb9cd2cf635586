import { lstat, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface DirLockOptions {
  /** How long to wait for another holder before giving up. */
  readonly waitMs: number;
  /** A lock older than this is left over (no holder runs that long). */
  readonly staleAfterMs: number;
  /** Said once when the lock is held by another process. */
  readonly waiting: string;
  readonly progress: (line: string) => void;
  readonly signal?: AbortSignal | undefined;
}

/** The lock was still held by another process after `waitMs`. */
export class LockTimeoutError extends Error {
  override readonly name = 'LockTimeoutError';
}

/**
 * Takes a lock directory (mkdir is atomic) holding the owner's pid, for builds shared between
 * processes. A lock whose owner is gone, or older than `staleAfterMs`, is removed and taken.
 */
export async function acquireDirLock(lock: string, options: DirLockOptions): Promise<void> {
  const deadline = Date.now() + options.waitMs;
  let announced = false;
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      await mkdir(lock);
      await writeFile(join(lock, 'pid'), String(process.pid));
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (await isStale(lock, options.staleAfterMs)) {
      await rm(lock, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new LockTimeoutError(`timed out waiting for the lock ${lock}`);
    if (!announced) {
      options.progress(options.waiting);
      announced = true;
    }
    await sleep(2000, undefined, options.signal === undefined ? {} : { signal: options.signal });
  }
}

async function isStale(lock: string, staleAfterMs: number): Promise<boolean> {
  const info = await lstat(lock).catch(() => undefined);
  if (info === undefined) return false;
  if (Date.now() - info.mtimeMs > staleAfterMs) return true;
  const pid = Number(await readFile(join(lock, 'pid'), 'utf8').catch(() => ''));
  // No pid yet: the owner is between mkdir and writeFile.
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
