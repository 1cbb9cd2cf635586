import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { LockTimeoutError, acquireDirLock } from '../../testbed/dir-lock.js';

describe('acquireDirLock (the build caches’ lock between processes)', () => {
  let dir: string;
  const lines: string[] = [];
  const options = {
    waitMs: 0,
    staleAfterMs: 60_000,
    waiting: 'waiting for the other builder',
    progress: (line: string) => lines.push(line),
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cvo-dir-lock-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('takes a free lock and records its pid', async () => {
    const lock = join(dir, 'free.lock');
    await acquireDirLock(lock, options);
    assert.equal(await readFile(join(lock, 'pid'), 'utf8'), String(process.pid));
  });

  it('takes over a lock whose owner is gone', async () => {
    const lock = join(dir, 'dead.lock');
    // A process that has exited: its pid is free (until reused, which this cannot rule out).
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    await mkdir(lock);
    await writeFile(join(lock, 'pid'), gone.stdout.toString());
    await acquireDirLock(lock, options);
    assert.equal(await readFile(join(lock, 'pid'), 'utf8'), String(process.pid));
  });

  it('waits for a live owner, says so once, and gives up after waitMs', async () => {
    const lock = join(dir, 'held.lock');
    await mkdir(lock);
    await writeFile(join(lock, 'pid'), String(process.ppid));
    lines.length = 0;
    await assert.rejects(acquireDirLock(lock, { ...options, waitMs: 100 }), LockTimeoutError);
    assert.deepEqual(lines, ['waiting for the other builder']);
    assert.equal(await readFile(join(lock, 'pid'), 'utf8'), String(process.ppid));
  });
});
