/**
 * Runs every benchmark in this directory (`*.bench.ts`, in name order), each exporting
 * `run(): Promise<void>`. `npm run bench -- NAME` runs only the files whose name contains NAME.
 * Benchmarks print figures; they assert nothing about timing.
 */
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface BenchModule {
  readonly run: () => Promise<void>;
}

function isBenchModule(value: unknown): value is BenchModule {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { run?: unknown }).run === 'function'
  );
}

const dir = dirname(fileURLToPath(import.meta.url));
const filter = process.argv[2];
const files = (await readdir(dir))
  .filter((name) => name.endsWith('.bench.ts'))
  .filter((name) => filter === undefined || name.includes(filter))
  .sort();

if (files.length === 0) {
  console.error(`bench: no *.bench.ts files${filter !== undefined ? ` matching ${filter}` : ''}`);
  process.exitCode = 1;
}

let failed = 0;
for (const file of files) {
  console.log(`\n=== ${file}`);
  const started = performance.now();
  try {
    const module: unknown = await import(pathToFileURL(join(dir, file)).href);
    if (!isBenchModule(module)) throw new Error(`${file} does not export run(): Promise<void>`);
    await module.run();
    console.log(`=== ${file}: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } catch (err) {
    failed++;
    console.error(
      `=== ${file}: FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
  }
}
if (failed > 0) process.exitCode = 1;
