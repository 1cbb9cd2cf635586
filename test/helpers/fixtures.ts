import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** `../shared/fixtures` beside the project: read in place, never copied into it. */
export const sharedFixturesDir = join(repoRoot, '..', 'shared', 'fixtures');

/**
 * Resolves a path under ../shared/fixtures. When it is absent the test fails under CI
 * (`CI=true`) and is skipped with a visible reason elsewhere.
 */
export function sharedFixture(relative: string): { path: string } | { skip: string } {
  const path = join(sharedFixturesDir, relative);
  if (existsSync(path)) return { path };
  const message = `shared fixture ${path} is absent`;
  if (process.env.CI === 'true')
    throw new Error(`${message}: CI needs ../shared/fixtures beside the project`);
  return { skip: `${message}; skipping (it is required when CI=true)` };
}

/** Calls `body` with the fixture path, or skips the test context `t` visibly. */
export async function withSharedFixture(
  t: { skip: (message?: string) => void; diagnostic: (message: string) => void },
  relative: string,
  body: (path: string) => Promise<void> | void,
): Promise<void> {
  const found = sharedFixture(relative);
  if ('skip' in found) {
    t.diagnostic(found.skip);
    t.skip(found.skip);
    return;
  }
  await body(found.path);
}
