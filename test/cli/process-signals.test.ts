/**
 * runAsProcess (src/cli/process.ts), what `cvo-verifier serve` runs as: the first SIGINT or
 * SIGTERM starts the shutdown; a second one (a second Ctrl-C, a SIGTERM after a SIGINT) must not
 * end the process before the shutdown has finished (the service releases its Lease then).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';

import { repoRoot } from '../helpers/fixtures.js';

/** A command whose shutdown takes 1.5 s after the first signal, then says so and exits 0. */
const SCRIPT = `
import { runAsProcess } from './src/cli/process.ts';
runAsProcess(async (io) => {
  // What the HTTP servers are for serve: something that keeps the process alive.
  const alive = setInterval(() => undefined, 1000);
  io.stdout('ready\\n');
  await io.shutdown;
  io.stdout('shutting down\\n');
  await new Promise((resolve) => setTimeout(resolve, 1500));
  io.stdout('shutdown finished\\n');
  clearInterval(alive);
  return 0;
});
`;

async function run(signals: readonly NodeJS.Signals[]): Promise<{
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
}> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const deadline = Date.now() + 20_000;
  while (!out.includes('ready')) {
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the command did not start:\n${out}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  for (const signal of signals) {
    child.kill(signal);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const result = await Promise.race([
    exited,
    new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 15_000)),
  ]);
  if (result === 'timeout') {
    child.kill('SIGKILL');
    throw new Error(`the process did not exit:\n${out}`);
  }
  return { ...result, out };
}

describe('runAsProcess: signals during the shutdown', () => {
  for (const signals of [
    ['SIGINT', 'SIGINT'],
    ['SIGINT', 'SIGTERM'],
    ['SIGTERM', 'SIGTERM'],
  ] as const) {
    it(`${signals.join(' then ')}: the shutdown finishes and the process exits 0`, async () => {
      const { code, signal, out } = await run(signals);
      assert.equal(signal, null, `killed by ${String(signal)}:\n${out}`);
      assert.equal(code, 0, out);
      assert.match(out, /shutdown finished/);
      assert.match(
        out,
        new RegExp(
          `${signals[1]} received while shutting down after ${signals[0]}: the shutdown goes on`,
        ),
      );
    });
  }
});
