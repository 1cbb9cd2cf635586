import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { ESLint } from 'eslint';
import ts from 'typescript';

// The boundaries of ARCHITECTURE.md, checked two ways: the folder graph of src/ computed here
// from every static, re-export and dynamic import, and the ESLint rules that `eslint .` (the
// test command's first step) applies to every file.

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = join(ROOT, 'src');

/**
 * The verification core: decides verdicts from bytes and configuration, serves nothing. The
 * list the lint rules use (eslint.config.js), plus src/errors.ts.
 */
const { CORE_FOLDERS } = (await import(pathToFileURL(join(ROOT, 'eslint.config.js')).href)) as {
  CORE_FOLDERS: readonly string[];
};
const CORE = new Set([...CORE_FOLDERS, 'errors']);
/** The service around it. */
const SERVICE = new Set([
  'cli',
  'config',
  'controller',
  'http',
  'kube',
  'main',
  'observability',
  'trust',
]);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** `src/verify/x.ts` → `verify`; a file at src/'s top (`main.ts`) is its own node. */
function folderOf(path: string): string {
  const parts = relative(SRC, path).split(sep);
  const first = parts[0] ?? '';
  return parts.length > 1 ? first : first.replace(/\.[jt]s$/, '');
}

interface Edge {
  readonly from: string;
  readonly to: string;
  readonly file: string;
  readonly spec: string;
}

function importEdges(): Edge[] {
  const edges: Edge[] = [];
  for (const file of sourceFiles(SRC)) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const { fileName: spec } of info.importedFiles) {
      if (!spec.startsWith('.')) continue;
      const target = resolve(dirname(file), spec);
      const rel = relative(SRC, target);
      edges.push({
        from: folderOf(file),
        to: rel.startsWith('..') ? `outside:${relative(ROOT, target)}` : folderOf(target),
        file: relative(ROOT, file),
        spec,
      });
    }
  }
  return edges;
}

/** Strongly connected groups of more than one folder (Tarjan). */
function cycles(graph: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  const visit = (v: string): void => {
    indices.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) ?? 0, indices.get(w) ?? 0));
      }
    }
    if (low.get(v) === indices.get(v)) {
      const group: string[] = [];
      let w: string | undefined;
      do {
        w = stack.pop();
        if (w === undefined) break;
        onStack.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1) groups.push(group.sort());
    }
  };
  for (const v of graph.keys()) if (!indices.has(v)) visit(v);
  return groups;
}

describe('architecture: the folder graph of src/', () => {
  const edges = importEdges();

  it('reads a realistic graph (the check below is not vacuous)', () => {
    assert.ok(edges.length > 100, `only ${String(edges.length)} imports found`);
    assert.ok(edges.some((e) => e.from === 'verify' && e.to === 'gpg'));
    assert.ok(edges.some((e) => e.from === 'main' && e.to === 'trust'));
  });

  it('every folder is classified as core or service', () => {
    const unknown = [...new Set(edges.flatMap((e) => [e.from, e.to]))].filter(
      (f) => !CORE.has(f) && !SERVICE.has(f) && !f.startsWith('outside:'),
    );
    assert.deepEqual(unknown, [], 'new folders must be placed in ARCHITECTURE.md and here');
  });

  it('has no folder-level cycles', () => {
    const graph = new Map<string, Set<string>>();
    for (const e of edges) {
      if (e.from === e.to) continue;
      let out = graph.get(e.from);
      if (out === undefined) graph.set(e.from, (out = new Set()));
      out.add(e.to);
    }
    const found = cycles(graph);
    const explain = found.map((group) =>
      edges
        .filter((e) => group.includes(e.from) && group.includes(e.to) && e.from !== e.to)
        .map((e) => `${e.file} → ${e.spec}`)
        .join('\n'),
    );
    assert.deepEqual(found, [], `folder cycles:\n${explain.join('\n---\n')}`);
  });

  it('the verification core imports nothing of the service', () => {
    const bad = edges.filter((e) => CORE.has(e.from) && SERVICE.has(e.to));
    assert.deepEqual(
      bad.map((e) => `${e.file} → ${e.spec}`),
      [],
    );
  });

  it('src/ imports nothing outside src/ (test, bench, testbed and walkthrough material)', () => {
    const bad = edges.filter((e) => e.to.startsWith('outside:'));
    assert.deepEqual(
      bad.map((e) => `${e.file} → ${e.spec}`),
      [],
    );
  });

  it('the controller reaches verification only through its port', () => {
    // image/: pure parsers (pullspecs; Go's url.Parse and uuid.Parse for the CVO's spec
    // validation), no verification.
    const allowed = new Set(['controller', 'errors', 'image', 'kube', 'observability']);
    const bad = edges.filter((e) => e.from === 'controller' && !allowed.has(e.to));
    assert.deepEqual(
      bad.map((e) => `${e.file} → ${e.spec}`),
      [],
    );
  });
});

describe('architecture: the linter enforces the boundaries', () => {
  // The project's own eslint.config.js, only its import rule, on probe files that are never
  // written (lintText): what `eslint .` would report if such an import were committed.
  const eslint = new ESLint({
    cwd: ROOT,
    overrideConfig: { languageOptions: { parserOptions: { projectService: false } } },
    ruleFilter: ({ ruleId }) => ruleId === 'no-restricted-imports',
  });
  const lint = async (path: string, code: string): Promise<string[]> => {
    const [result] = await eslint.lintText(code, { filePath: join(ROOT, path) });
    return (result?.messages ?? []).map((m) => `${m.ruleId ?? 'fatal'}: ${m.message}`);
  };

  it('fails a core file that imports the Kubernetes client', async () => {
    const messages = await lint(
      'src/verify/probe.ts',
      "import type { KubePort } from '../kube/client.js';\nexport type Probe = KubePort;\n",
    );
    assert.equal(messages.length, 1, messages.join('\n'));
    assert.match(messages[0] ?? '', /^no-restricted-imports: .*must not import the service/);
  });

  it('fails a core file that imports the composition root or the controller', async () => {
    for (const spec of ['../main.js', '../controller/reasons.js', '../trust/cluster-trust.js']) {
      const messages = await lint(
        'src/sigstore/probe.ts',
        `import * as probe from '${spec}';\nexport { probe };\n`,
      );
      assert.equal(messages.length, 1, `${spec}: ${messages.join('\n')}`);
    }
  });

  it('fails a controller file that imports verification code', async () => {
    const messages = await lint(
      'src/controller/probe.ts',
      "import * as probe from '../verify/gpg-verifier.js';\nexport { probe };\n",
    );
    assert.equal(messages.length, 1, messages.join('\n'));
    assert.match(messages[0] ?? '', /ReleaseVerifierPort/);
  });

  it('fails shipped code that imports test or walkthrough material', async () => {
    const messages = await lint(
      'src/cli/probe.ts',
      "import * as probe from '../../testbed/gnupg.js';\nexport { probe };\n",
    );
    assert.equal(messages.length, 1, messages.join('\n'));
  });

  it('lets the core import the core', async () => {
    const messages = await lint(
      'src/verify/probe.ts',
      "import type { DigestPullspec } from '../image/pullspec.js';\nexport type Probe = DigestPullspec;\n",
    );
    assert.deepEqual(messages, []);
  });
});
