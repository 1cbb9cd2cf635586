import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

import type { CommandIo } from './verify.js';
import { ExitCode, UsageError } from './usage-error.js';
import { parseMirrorConfig } from '../mirrors/mirrors.js';
import type { MirrorRule } from '../mirrors/mirrors.js';
import { MAX_POLICY_FILE_CHARS } from '../policy/parse.js';
import { formatIssue } from '../policy/policy-error.js';
import { renderPolicies } from '../policy/render.js';
import type { PolicyFile } from '../policy/render.js';

/** Most files one invocation reads. */
const MAX_POLICY_FILES = 1000;

export const POLICY_RENDER_HELP = `Usage: cvo-verifier policy render [--namespace NS] [--registries-d] [--mirrors PATH]... FILE...

Validates ClusterImagePolicy and ImagePolicy objects (config.openshift.io/v1 or v1alpha1, each
against its own schema; YAML or JSON, one or more documents, or Lists) as the API server would,
and prints, byte for byte, what the Machine Config Operator writes for them: the containers
policy.json (default) or the registries.d YAML. Scopes with fewer than three '/' are in both the
"docker" and "atomic" transports, as the MCO writes them. ImagePolicy scopes equal to or nested
in a ClusterImagePolicy scope are dropped and reported on stderr with the status condition the
MCO sets (Pending, reason ConflictScopes, its message).

Options:
  --namespace NS    print the policy CRI-O uses for pods in namespace NS: the MCO's
                    /etc/crio/policies/NS.json when NS has ImagePolicy scopes in effect, else
                    /etc/containers/policy.json; ImagePolicies without metadata.namespace
                    count as in NS
  --registries-d    print the registries.d YAML instead (every ClusterImagePolicy scope and
                    the ImagePolicy scopes in effect of every namespace; nothing when there
                    is no scope, as the MCO then writes no file)
  --mirrors PATH    ImageDigestMirrorSet / ImageContentSourcePolicy YAML/JSON (repeatable):
                    registries.d also lists the mirror endpoints of each scope, as the MCO does
  -h, --help        show this help

Without a ClusterImagePolicy, policy.json is the MCO's template as it installs it. Like the
MCO's files, the JSON output has no trailing newline.

Exit codes: 0 rendered; 2 usage error or invalid input (each error names the file and field).
`;

/**
 * Runs `cvo-verifier policy render …`. `argv` is what follows `policy` (so it starts with
 * `render`). Throws UsageError for bad flags or unreadable files; prints every validation
 * error to stderr and returns 2 for invalid policies.
 */
export async function runPolicyRender(argv: readonly string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '-h' || sub === '--help') {
    io.stdout(POLICY_RENDER_HELP);
    return ExitCode.Verified;
  }
  if (sub !== 'render')
    throw new UsageError(
      sub === undefined
        ? 'policy needs a subcommand: render'
        : `unknown policy subcommand ${JSON.stringify(sub)}`,
    );
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: {
        namespace: { type: 'string' },
        'registries-d': { type: 'boolean' },
        mirrors: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    io.stdout(POLICY_RENDER_HELP);
    return ExitCode.Verified;
  }
  if (positionals.length === 0) throw new UsageError('policy render needs at least one FILE');
  if (positionals.length > MAX_POLICY_FILES)
    throw new UsageError(`policy render reads at most ${MAX_POLICY_FILES} files`);
  const namespace = values.namespace;
  if (namespace?.length === 0) throw new UsageError('--namespace must not be empty');

  const files: PolicyFile[] = [];
  for (const name of positionals) {
    const path = resolve(io.cwd, name);
    try {
      // Checked before reading so a huge file is never loaded (UTF-8 bytes ≥ characters).
      const info = await stat(path);
      if (!info.isFile()) throw new Error('not a regular file');
      if (info.size > MAX_POLICY_FILE_CHARS * 4)
        throw new Error(`larger than ${MAX_POLICY_FILE_CHARS * 4} bytes`);
      files.push({ name, text: await readFile(path, 'utf8') });
    } catch (err) {
      throw new UsageError(`${name}: ${(err as Error).message}`);
    }
  }

  const mirrors: MirrorRule[] = [];
  for (const name of values.mirrors ?? []) {
    try {
      mirrors.push(...parseMirrorConfig(await readFile(resolve(io.cwd, name), 'utf8'), name));
    } catch (err) {
      throw new UsageError(err instanceof Error ? err.message : String(err));
    }
  }
  const result = renderPolicies(files, namespace, mirrors);
  for (const conflict of result.conflicts) {
    io.stderr(
      `warning: ImagePolicy ${conflict.namespace ?? ''}/${conflict.name}: ${conflict.conditionType}=${conflict.status} ${conflict.reason}: ${conflict.message}\n`,
    );
  }
  if (result.errors.length > 0) {
    for (const err of result.errors)
      for (const issue of err.issues) io.stderr(`error: ${err.source}: ${formatIssue(issue)}\n`);
    return ExitCode.Usage;
  }
  io.stdout(values['registries-d'] === true ? result.registriesD : result.policyJson);
  return ExitCode.Verified;
}
