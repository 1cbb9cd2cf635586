import { parseArgs } from 'node:util';
import type { ParseArgsOptionsConfig } from 'node:util';

import { dump } from 'js-yaml';

import { createKubePort, KubeApiError, loadKubeConfig } from '../kube/client.js';
import type { KubePort } from '../kube/client.js';
import type { ClusterVersion } from '../kube/types.js';
import { parseVerdictRecord } from '../controller/verdict-record.js';
import type { RecordedVerdict } from '../controller/verdict-record.js';
import { formatHistoryTable } from './format-history.js';
import { selectCluster } from './serve.js';
import { ExitCode, UsageError } from './usage-error.js';
import type { CommandIo } from './verify.js';

export const HISTORY_HELP = `Usage: cvo-verifier history [options]

Prints the update history of ClusterVersion "version", newest first, with the VERIFIED column
'oc adm upgrade' never shows and each entry's accepted risks (the CVO's text for a forced,
unverified release) below it.

In companion mode (serve --mode companion) the CVO owns history and its verified flag; the
service's own verdict per release is in its record (ConfigMap
cvo-update-verifier/cvo-update-verifier-state, key verdicts.json). When that record holds a
verdict for an entry, VERIFIED shows it (with the CVO's flag as "(CVO: …)" when they differ)
and the risk the forced update accepted; an entry it has no verdict for shows the CVO's flag,
marked "(CVO)".

Options:
  --kubeconfig PATH          kubeconfig file
  --context NAME             kubeconfig context
  --state-configmap NS/NAME  the service's state ConfigMap, which holds the companion's record
                             (default cvo-update-verifier/cvo-update-verifier-state)
  -o, --output FORMAT        table (default), json or yaml: the status.history array as data
                             (each entry with "verifier": the record's verdict, in companion mode)
  -h, --help                 show this help

The cluster comes from --kubeconfig, else KUBECONFIG, else the in-cluster service account, else
~/.kube/config.

Exit codes: 0 printed; 1 the ClusterVersion is missing or the API call failed;
2 usage or configuration error (no cluster configured, unreadable kubeconfig).
`;

/** parseArgs options every cluster command accepts. */
export const CLUSTER_OPTIONS = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The ClusterVersion every command reads: a cluster has exactly one, named `version`. */
export const CLUSTER_VERSION_NAME = 'version';

/** A request the cluster or the command refused, or an object that is not there: exit code 1. */
export class CommandRefusal extends Error {
  override readonly name = 'CommandRefusal';
}

const NO_CLUSTER_MESSAGE =
  'no cluster configured: pass --kubeconfig PATH, set KUBECONFIG, run in a pod with a service account, or create ~/.kube/config';

/** oc's words when the API server has no ClusterVersion `version` (not an OpenShift 4 cluster). */
const NO_CLUSTER_VERSION_MESSAGE =
  'No cluster version information available - you must be connected to an OpenShift version 4 server to fetch the current version';

/**
 * Resolves the cluster as kubectl does (`--kubeconfig`, `KUBECONFIG`, in-cluster,
 * `~/.kube/config`) and connects to it; a missing or unusable configuration is a UsageError.
 */
export function connectCluster(
  kubeconfig: string | undefined,
  context: string | undefined,
  env: CommandIo['env'],
  /** Where the API server's warnings go (`Warning: …` on stderr, as kubectl and oc print them). */
  stderr?: CommandIo['stderr'],
): KubePort {
  const selected = selectCluster(kubeconfig, context, env);
  if (selected === undefined) throw new UsageError(NO_CLUSTER_MESSAGE);
  let kc;
  try {
    kc = loadKubeConfig(selected);
  } catch (err) {
    throw new UsageError(`cannot load the cluster configuration: ${errorText(err)}`);
  }
  return createKubePort(
    kc,
    stderr !== undefined
      ? {
          onWarning: (message) => {
            stderr(`Warning: ${message}\n`);
          },
        }
      : {},
  );
}

/** Reads ClusterVersion `version`, refusing with oc's words when the cluster has none. */
export async function readClusterVersion(kube: KubePort): Promise<ClusterVersion> {
  try {
    return await kube.getClusterVersion(CLUSTER_VERSION_NAME);
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404)
      throw new CommandRefusal(NO_CLUSTER_VERSION_MESSAGE);
    throw err;
  }
}

/**
 * Runs a command body, turning refusals and API failures into `error: …` on stderr and exit
 * code 1. UsageError passes through to the dispatcher (exit code 2).
 */
export async function runClusterCommand(
  io: CommandIo,
  body: () => Promise<number>,
): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof CommandRefusal || err instanceof KubeApiError) {
      io.stderr(`error: ${err.message}\n`);
      return ExitCode.NotVerified;
    }
    throw err;
  }
}

export type DataFormat = 'json' | 'yaml';

/** Validates `--output`: `text` (or `table`) for people, else one of the data formats. */
export function parseOutputFlag(
  value: string | undefined,
  textName: 'text' | 'table',
): DataFormat | 'text' {
  if (value === undefined || value === textName) return 'text';
  if (value === 'json' || value === 'yaml') return value;
  throw new UsageError(`--output must be ${textName}, json or yaml, not ${JSON.stringify(value)}`);
}

/** One JSON document, or one YAML document, of plain data. */
export function formatData(format: DataFormat, data: unknown): string {
  // A JSON round trip drops undefined fields, which js-yaml's dump refuses.
  const plain: unknown = JSON.parse(JSON.stringify(data ?? null));
  return format === 'json'
    ? `${JSON.stringify(plain, null, 2)}\n`
    : dump(plain, { noRefs: true, lineWidth: -1 });
}

type CommandValues<T extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: true }>
>['values'];

/** Parses argv strictly: unknown flags, missing flag values and arguments are usage errors. */
export function parseCommandArgs<T extends ParseArgsOptionsConfig>(
  command: string,
  argv: readonly string[],
  options: T,
): CommandValues<T> {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError(errorText(err));
  }
  const [extra] = parsed.positionals;
  if (extra !== undefined)
    throw new UsageError(`${command} takes no arguments, got ${JSON.stringify(extra)}`);
  return parsed.values;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export async function runHistory(argv: readonly string[], io: CommandIo): Promise<number> {
  const values = parseCommandArgs('history', argv, {
    ...CLUSTER_OPTIONS,
    output: { type: 'string', short: 'o' },
    'state-configmap': { type: 'string' },
  });
  if (values.help === true) {
    io.stdout(HISTORY_HELP);
    return ExitCode.Verified;
  }
  const output = parseOutputFlag(values.output, 'table');
  const stateRef = parseConfigMapRef(values['state-configmap']);
  const kube = connectCluster(values.kubeconfig, values.context, io.env, io.stderr);
  return runClusterCommand(io, async () => {
    const cv = await readClusterVersion(kube);
    const record = await readVerdictRecord(kube, stateRef);
    if (record === undefined) {
      io.stdout(
        output === 'text' ? formatHistoryTable(cv) : formatData(output, cv.status?.history ?? []),
      );
      return ExitCode.Verified;
    }
    io.stdout(
      output === 'text'
        ? formatCompanionHistory(cv, record)
        : formatData(
            output,
            (cv.status?.history ?? []).map((h) => {
              const verdict = record.find((v) => v.image === h.image);
              return verdict === undefined ? h : { ...h, verifier: verdict };
            }),
          ),
    );
    return ExitCode.Verified;
  });
}

/** Where `serve` publishes its state and, in companion mode, its record (service-config.ts). */
export const DEFAULT_STATE_CONFIGMAP = {
  namespace: 'cvo-update-verifier',
  name: 'cvo-update-verifier-state',
} as const;

export function parseConfigMapRef(value: string | undefined): { namespace: string; name: string } {
  if (value === undefined) return DEFAULT_STATE_CONFIGMAP;
  const [namespace = '', name = '', extra] = value.split('/');
  if (namespace === '' || name === '' || extra !== undefined)
    throw new UsageError('--state-configmap must be NAMESPACE/NAME');
  return { namespace, name };
}

/**
 * The companion's record of verdicts, or undefined when there is none (gate mode, the service
 * not running) or it cannot be read: history then shows the ClusterVersion's own flags.
 */
export async function readVerdictRecord(
  kube: KubePort,
  ref: { namespace: string; name: string },
): Promise<readonly RecordedVerdict[] | undefined> {
  try {
    return parseVerdictRecord(await kube.getConfigMap(ref.namespace, ref.name))?.verdicts;
  } catch (err) {
    if (err instanceof KubeApiError) return undefined;
    throw err;
  }
}

/**
 * The history table when the CVO owns history (companion mode): VERIFIED is the record's verdict,
 * with the CVO's flag beside it when they differ; entries without a recorded verdict show the
 * CVO's flag, marked. The accepted risk is the record's, and the CVO's when it says otherwise.
 */
export function formatCompanionHistory(
  cv: ClusterVersion,
  record: readonly RecordedVerdict[],
): string {
  const history = cv.status?.history ?? [];
  const verdicts = history.map((h) => record.find((v) => v.image === h.image));
  const verifiedCell = (h: (typeof history)[number], v: RecordedVerdict | undefined): string => {
    if (v === undefined) return `${String(h.verified)} (CVO)`;
    return v.verified === h.verified
      ? String(v.verified)
      : `${String(v.verified)} (CVO: ${String(h.verified)})`;
  };
  const rows = history.map((h, i) => [
    h.state,
    h.startedTime,
    h.completionTime ?? '-',
    h.version === undefined || h.version === '' ? '-' : h.version,
    verifiedCell(h, verdicts[i]),
    h.image,
  ]);
  const header = ['STATE', 'STARTED', 'COMPLETED', 'VERSION', 'VERIFIED', 'IMAGE'];
  const widths = header.map((_, i) =>
    Math.max(header[i]?.length ?? 0, ...rows.map((r) => r[i]?.length ?? 0)),
  );
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ');
  const out = [line(header)];
  history.forEach((h, i) => {
    out.push(line(rows[i] ?? []));
    const v = verdicts[i];
    const ours = v?.acceptedRisk;
    if (ours !== undefined && ours !== '') out.push(`    accepted risk: ${ours}`);
    if (v !== undefined && v.verified && v.verifiedAt !== undefined)
      out.push(`    verified by a background re-check at ${v.verifiedAt}`);
    const theirs = h.acceptedRisks;
    if (theirs !== undefined && theirs !== '' && theirs !== ours)
      out.push(`    accepted risk (CVO): ${theirs}`);
  });
  out.push('');
  out.push(
    "VERIFIED: the update verifier's verdict from its record (companion mode); (CVO: …) the cluster-version operator's own flag where it differs.",
  );
  return `${out.join('\n')}\n`;
}
