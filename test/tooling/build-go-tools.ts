/**
 * Builds what the tests run but never build themselves: the local control plane (etcd,
 * kube-apiserver, kubectl) and the reference programs of the differential tests (containers/image
 * and library-go harnesses, cosign v2 and v3). Run by ./scripts/test.sh before `node --test`;
 * cached by their inputs, so a warm run takes seconds. Arguments name tools to build (default all).
 */
import { join } from 'node:path';

import { ensureControlPlaneBinaries } from '../../testbed/local-cluster/binaries.js';
import { repoRoot } from '../helpers/fixtures.js';
import { GO_TOOLS, buildGoTool, removeStaleBuilds } from './go-tools.js';
import type { GoToolName } from './go-tools.js';

const progress = (line: string): void => {
  process.stdout.write(`[go-tools] ${line}\n`);
};

const asked = process.argv.slice(2);
const known = Object.keys(GO_TOOLS) as GoToolName[];
for (const name of asked) {
  if (name !== 'control-plane' && !(known as string[]).includes(name)) {
    process.stderr.write(`unknown tool ${name}; known: control-plane ${known.join(' ')}\n`);
    process.exit(2);
  }
}
const all = asked.length === 0;
const started = Date.now();
await removeStaleBuilds();
if (all || asked.includes('control-plane')) {
  await ensureControlPlaneBinaries({
    moduleDir: join(repoRoot, 'control-plane'),
    cacheDir: join(repoRoot, '.cache', 'control-plane'),
    progress,
    env: process.env,
  });
}
for (const name of known) {
  if (all || asked.includes(name)) await buildGoTool(name, progress);
}
progress(`ready in ${Math.round((Date.now() - started) / 1000)} s`);
