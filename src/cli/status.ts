import { KubeApiError } from '../kube/client.js';
import type { KubePort } from '../kube/client.js';
import type { ClusterVersion, Condition, Update } from '../kube/types.js';
import { parsePublishedState } from '../controller/state-publisher.js';
import type {
  PublishedRecheck,
  PublishedState,
  PublishedVerdict,
} from '../controller/state-publisher.js';
import { resolveTarget } from '../controller/target.js';
import { CompanionConditionType } from '../controller/companion.js';
import { parseVerdictRecord } from '../controller/verdict-record.js';
import type { RecordedVerdict } from '../controller/verdict-record.js';
import {
  CLUSTER_OPTIONS,
  connectCluster,
  formatData,
  parseCommandArgs,
  parseConfigMapRef,
  parseOutputFlag,
  readClusterVersion,
  runClusterCommand,
} from './history.js';
import { ExitCode } from './usage-error.js';
import type { CommandIo } from './verify.js';

const CONDITION_TYPES = [
  'ReleaseAccepted',
  'ReleaseVerified',
  'PayloadVerified',
  CompanionConditionType.ReleaseVerified,
  CompanionConditionType.PayloadVerified,
  'Invalid',
] as const;

export const STATUS_HELP = `Usage: cvo-verifier status [options]

Shows what the verifier decided about the requested update: the ReleaseAccepted,
ReleaseVerified and Invalid conditions of ClusterVersion "version", the requested target, and,
from the state the service publishes in ConfigMap cvo-update-verifier/cvo-update-verifier-state,
the latest verdict for the target with its evidence and the pending background re-checks with
their next attempt time. Without that ConfigMap the service is not running, or no replica is
leading.

Options:
  --state-configmap NS/NAME  the service's state ConfigMap
                             (default cvo-update-verifier/cvo-update-verifier-state)
  --kubeconfig PATH          kubeconfig file
  --context NAME             kubeconfig context
  -o, --output FORMAT        text (default), json or yaml: one object
                             {conditions, desiredUpdate, target, verdict, rechecks, state}
  -h, --help                 show this help

The cluster comes from --kubeconfig, else KUBECONFIG, else the in-cluster service account, else
~/.kube/config.

Exit codes: 0 printed (whatever the verdict); 1 the ClusterVersion is missing or the API call
failed; 2 usage or configuration error (no cluster configured, unreadable kubeconfig).
`;

/** `cvo-verifier status --output json|yaml`: one object. */
export interface StatusReport {
  readonly conditions: readonly Condition[];
  readonly desiredUpdate: Update | null;
  /** spec.desiredUpdate resolved as the service resolves it (a version looked up). */
  readonly target: {
    readonly image: string;
    readonly version: string;
    readonly force: boolean;
  } | null;
  /** The latest published verdict for the target image; null when none is published. */
  readonly verdict: PublishedVerdict | null;
  /**
   * Companion mode: the record's verdict on the target (forced ones with the accepted risk);
   * null in gate mode or when none is recorded.
   */
  readonly recorded?: RecordedVerdict | null;
  /** The `verified` flag of the ClusterVersion's history entry for the target; null without one. */
  readonly cvoVerified?: boolean | null;
  /** Pending background re-checks; null when the state ConfigMap is missing or unreadable. */
  readonly rechecks: readonly PublishedRecheck[] | null;
  readonly state: {
    readonly configMap: string;
    readonly found: boolean;
    readonly readable: boolean;
    readonly error?: string;
    readonly updatedAt?: string;
    readonly identity?: string;
  };
}

export async function runStatus(argv: readonly string[], io: CommandIo): Promise<number> {
  const values = parseCommandArgs('status', argv, {
    ...CLUSTER_OPTIONS,
    output: { type: 'string', short: 'o' },
    'state-configmap': { type: 'string' },
  });
  if (values.help === true) {
    io.stdout(STATUS_HELP);
    return ExitCode.Verified;
  }
  const output = parseOutputFlag(values.output, 'text');
  const stateRef = parseConfigMapRef(values['state-configmap']);
  const kube = connectCluster(values.kubeconfig, values.context, io.env, io.stderr);
  return runClusterCommand(io, async () => {
    const cv = await readClusterVersion(kube);
    const report = buildStatusReport(cv, await readState(kube, stateRef));
    io.stdout(
      output === 'text' ? formatStatusText(report, new Date()) : formatData(output, report),
    );
    return ExitCode.Verified;
  });
}

type StateRead =
  | { readonly ref: string; readonly kind: 'missing' }
  | {
      readonly ref: string;
      readonly kind: 'unreadable';
      readonly error: string;
      readonly record?: readonly RecordedVerdict[];
    }
  | {
      readonly ref: string;
      readonly kind: 'ok';
      readonly state: PublishedState;
      readonly record?: readonly RecordedVerdict[];
    };

async function readState(
  kube: KubePort,
  ref: { namespace: string; name: string },
): Promise<StateRead> {
  const name = `${ref.namespace}/${ref.name}`;
  try {
    const cm = await kube.getConfigMap(ref.namespace, ref.name);
    if (cm === undefined) return { ref: name, kind: 'missing' };
    const state = parsePublishedState(cm);
    const verdicts = parseVerdictRecord(cm)?.verdicts;
    const record = verdicts !== undefined ? { record: verdicts } : {};
    return state === undefined
      ? { ref: name, kind: 'unreadable', error: 'it holds no valid state.json', ...record }
      : { ref: name, kind: 'ok', state, ...record };
  } catch (err) {
    // The conditions are still worth showing to someone who may not read that namespace.
    if (err instanceof KubeApiError) return { ref: name, kind: 'unreadable', error: err.message };
    throw err;
  }
}

function buildStatusReport(cv: ClusterVersion, read: StateRead): StatusReport {
  const conditions = CONDITION_TYPES.flatMap((type) => {
    const c = cv.status?.conditions?.find((x) => x.type === type);
    return c === undefined ? [] : [c];
  });
  const resolved = resolveTarget(cv);
  const target =
    resolved.kind === 'target'
      ? { image: resolved.image, version: resolved.version, force: resolved.force }
      : null;
  const state = read.kind === 'ok' ? read.state : undefined;
  const verdict =
    target === null ? undefined : state?.verdicts.find((v) => v.image === target.image);
  const recorded =
    target === null || read.kind === 'missing'
      ? undefined
      : read.record?.find((v) => v.image === target.image);
  return {
    conditions,
    desiredUpdate: cv.spec.desiredUpdate ?? null,
    target,
    verdict: verdict ?? null,
    recorded: recorded ?? null,
    cvoVerified:
      target === null
        ? null
        : (cv.status?.history?.find((h) => h.image === target.image)?.verified ?? null),
    rechecks: state === undefined ? null : state.rechecks,
    state: {
      configMap: read.ref,
      found: read.kind !== 'missing',
      readable: read.kind === 'ok',
      ...(read.kind === 'unreadable' ? { error: read.error } : {}),
      ...(state !== undefined ? { updatedAt: state.updatedAt, identity: state.identity } : {}),
    },
  };
}

/** The status report for people; `now` makes the relative times testable. */
export function formatStatusText(report: StatusReport, now: Date): string {
  const lines: string[] = [];
  const update = report.desiredUpdate;
  if (update === null) {
    lines.push('No update requested (spec.desiredUpdate is not set).');
  } else {
    lines.push(
      `Requested update: version=${JSON.stringify(update.version ?? '')} image=${JSON.stringify(update.image ?? '')} force=${String(update.force === true)}`,
    );
    if (report.target !== null && report.target.image !== (update.image ?? ''))
      lines.push(`Target: ${report.target.image} (version ${report.target.version})`);
  }
  lines.push('');
  if (report.conditions.length === 0) lines.push('No verification conditions yet.');
  // The same one-line form as formatConditions (the serve walkthrough prints).
  for (const c of report.conditions) {
    const message = c.message !== undefined && c.message !== '' ? `: ${c.message}` : '';
    lines.push(`${c.type}=${c.status} (${c.reason ?? ''})${message}`);
  }

  const recorded = report.recorded ?? null;
  if (recorded !== null) {
    lines.push('');
    const cvoEntry = report.cvoVerified ?? null;
    lines.push(
      `Recorded verdict (companion mode) for ${recorded.image}: ${recorded.verified ? 'VERIFIED' : 'NOT verified'}${recorded.forced ? ', update forced' : ''}, checked ${formatRelative(new Date(recorded.checkedAt), now)} (${recorded.checkedAt})${cvoEntry !== null && cvoEntry !== recorded.verified ? `; the CVO's history says verified: ${String(cvoEntry)}` : ''}`,
    );
    lines.push(`  ${recorded.message}`);
    if (recorded.acceptedRisk !== undefined)
      lines.push(...recorded.acceptedRisk.split('\n').map((r) => `  accepted risk: ${r}`));
    if (recorded.payload !== undefined)
      lines.push(
        `  Payload: ${recorded.payload.verified ? 'verified' : 'NOT verified'}: ${recorded.payload.message}`,
      );
    if (recorded.verifiedAt !== undefined)
      lines.push(`  verified by a background re-check at ${recorded.verifiedAt}`);
  }

  const { state } = report;
  lines.push('');
  if (!state.found) {
    lines.push(
      `No verifier state: ConfigMap ${state.configMap} not found (the service is not running, or no replica is leading).`,
    );
    return `${lines.join('\n')}\n`;
  }
  if (!state.readable) {
    lines.push(
      `Verifier state in ConfigMap ${state.configMap} is unreadable: ${state.error ?? ''}`,
    );
    return `${lines.join('\n')}\n`;
  }
  const published =
    state.updatedAt === undefined
      ? ''
      : ` ${formatRelative(new Date(state.updatedAt), now)} (${state.updatedAt})`;
  lines.push(`Verifier state published${published} by ${state.identity ?? 'unknown'}.`);

  const verdict = report.verdict;
  if (report.target !== null) {
    lines.push('');
    if (verdict === null) {
      lines.push(`No verdict published for ${report.target.image} yet.`);
    } else {
      const checked = new Date(verdict.checkedAt);
      const result = verdict.verified
        ? 'verified'
        : `not verified${verdict.code !== undefined ? ` (${verdict.code})` : ''}`;
      lines.push(
        `Verdict for ${verdict.image}: ${result}, checked ${formatRelative(checked, now)} (${verdict.checkedAt})`,
      );
      lines.push(`  ${verdict.message}`);
      if (verdict.summary !== '' && verdict.summary !== verdict.message)
        lines.push(`  ${verdict.summary}`);
      if (verdict.details.length > 0) {
        lines.push('  Evidence:');
        for (const detail of verdict.details)
          lines.push(...detail.split('\n').map((l) => `    ${l}`));
      }
      const payload = verdict.payload;
      if (payload !== undefined) {
        lines.push(
          `  Payload (${payload.mode}): ${payload.verified ? 'verified' : 'NOT verified'}: ${payload.message}`,
        );
        for (const c of payload.failing) {
          lines.push(`    ${c.status.toUpperCase()}  ${c.tags.join(',')}  ${c.pullspec}`);
          lines.push(`      ${c.reason}`);
        }
      }
    }
  }

  const rechecks = report.rechecks ?? [];
  lines.push('');
  if (rechecks.length === 0) {
    lines.push('No background re-checks pending.');
  } else {
    lines.push('Background re-checks:');
    for (const r of rechecks) {
      const next = new Date(r.nextAt);
      lines.push(
        `  ${r.kind === 'target' ? 'refused target' : 'history entry'} ${r.image}: next attempt ${formatRelative(next, now)} (${r.nextAt}), ${r.attempts} attempt${r.attempts === 1 ? '' : 's'} so far`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

/** `in 25s`, `in 2m5s`, `3s ago`, `now`: a time relative to `now`, to the second. */
export function formatRelative(at: Date, now: Date): string {
  const ms = at.getTime() - now.getTime();
  if (Number.isNaN(ms)) return 'at an unknown time';
  const seconds = Math.round(Math.abs(ms) / 1000);
  if (seconds === 0) return 'now';
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const text =
    h > 0 ? `${h}h${m > 0 ? `${m}m` : ''}` : m > 0 ? `${m}m${s > 0 ? `${s}s` : ''}` : `${s}s`;
  return ms > 0 ? `in ${text}` : `${text} ago`;
}
