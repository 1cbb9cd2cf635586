import { KubeApiError } from '../kube/client.js';
import type { ConfigMapPort } from '../kube/client.js';
import type { ConfigMap } from '../kube/types.js';

/**
 * The companion's own record of its verdicts, one per release image, in a key of the ConfigMap the
 * service already owns (the published state's, `cvo-update-verifier/cvo-update-verifier-state`).
 * In companion mode the CVO owns status.history and its `verified` flag; this record is where our
 * verdict on every release the cluster was asked for lives (forced ones with the risk accepted),
 * what `cvo-verifier history` and `status` show, and what a restarted leader resumes its
 * background re-checks from.
 */
export const RECORD_KEY = 'verdicts.json';

/**
 * Entries kept: as many as the CVO keeps history entries (pkg/cvo/status.go MaxHistory), so every
 * entry `history` shows can have its verdict.
 */
export const MAX_RECORD_ENTRIES = 100;
/**
 * The record's serialised size cap. A ConfigMap holds at most 1 MiB; the published state shares
 * the object (tens of KiB), so the record stays far below. Oldest entries go first.
 */
export const MAX_RECORD_BYTES = 256 * 1024;
/** Messages are cut to this length so one pathological verdict cannot crowd out the others. */
const MAX_TEXT = 2048;
/** Attempts at a record write that keeps meeting 409 Conflict. */
const MAX_WRITE_ATTEMPTS = 5;

/** Our verdict on one release image, as recorded. */
export interface RecordedVerdict {
  readonly image: string;
  readonly version: string;
  /** Whether the release verified (signatures and, when checked, its payload's policy). */
  readonly verified: boolean;
  /** The update was requested with force: accepted although `verified` is false. */
  readonly forced: boolean;
  /** The CVO's words for the risk a forced, unverified update accepted. */
  readonly acceptedRisk?: string;
  readonly reason: string;
  readonly message: string;
  /** The whole-payload verdict, when one was made. */
  readonly payload?: {
    readonly verified: boolean;
    readonly reason: string;
    readonly message: string;
  };
  /** When the verdict was first recorded, and when it was last checked. */
  readonly firstCheckedAt: string;
  readonly checkedAt: string;
  /** When a background re-check turned it verified. */
  readonly verifiedAt?: string;
}

export interface VerdictRecordData {
  readonly mode: 'companion';
  readonly updatedAt: string;
  /** Newest first. */
  readonly verdicts: readonly RecordedVerdict[];
}

function cut(text: string): string {
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT - 1)}…` : text;
}

/**
 * Adds (or replaces) `entry` at the head and bounds the record: entries for `keep` (the images in
 * history and the current target) go last; then the count and the byte size caps.
 */
export function mergeVerdict(
  verdicts: readonly RecordedVerdict[],
  entry: RecordedVerdict,
  keep: ReadonlySet<string> = new Set(),
): RecordedVerdict[] {
  const previous = verdicts.find((v) => v.image === entry.image);
  const next: RecordedVerdict = {
    ...entry,
    message: cut(entry.message),
    ...(entry.acceptedRisk !== undefined ? { acceptedRisk: cut(entry.acceptedRisk) } : {}),
    ...(entry.payload !== undefined
      ? { payload: { ...entry.payload, message: cut(entry.payload.message) } }
      : {}),
    firstCheckedAt: previous?.firstCheckedAt ?? entry.firstCheckedAt,
  };
  let list = [next, ...verdicts.filter((v) => v.image !== entry.image)];
  const drop = (): boolean => {
    // The oldest entry nothing refers to, else the oldest one but the head.
    for (let i = list.length - 1; i > 0; i--) {
      if (!keep.has(list[i]?.image ?? '')) {
        list = [...list.slice(0, i), ...list.slice(i + 1)];
        return true;
      }
    }
    if (list.length <= 1) return false;
    list = list.slice(0, -1);
    return true;
  };
  while (list.length > MAX_RECORD_ENTRIES && drop());
  // Measured as written (indented, inside the record's object) and in UTF-8 bytes: messages
  // quote registries and stores, and a character may take up to three bytes.
  while (
    Buffer.byteLength(JSON.stringify({ verdicts: list }, null, 1)) > MAX_RECORD_BYTES - 1024 &&
    drop()
  );
  return list;
}

/** Whether `v` has the fields every reader of a verdict uses, with their types. */
function isRecordedVerdict(v: unknown): v is RecordedVerdict {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return (
    typeof r.image === 'string' &&
    typeof r.version === 'string' &&
    typeof r.verified === 'boolean' &&
    typeof r.forced === 'boolean' &&
    typeof r.reason === 'string' &&
    typeof r.message === 'string' &&
    typeof r.firstCheckedAt === 'string' &&
    typeof r.checkedAt === 'string'
  );
}

/**
 * Reads a record, or undefined when the ConfigMap holds none or garbage. Entries that are not
 * verdicts (a hand edit, a bad restore) are dropped, so that they cannot stop every reader.
 */
export function parseVerdictRecord(cm: ConfigMap | undefined): VerdictRecordData | undefined {
  const text = cm?.data?.[RECORD_KEY];
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as { verdicts?: unknown } | null;
    if (value === null || !Array.isArray(value.verdicts)) return undefined;
    return { ...(value as VerdictRecordData), verdicts: value.verdicts.filter(isRecordedVerdict) };
  } catch {
    return undefined;
  }
}

/**
 * Reads and writes the record with the ConfigMap's resourceVersion (a 409 reads it again): the
 * published state shares the object and each writer keeps the other's key.
 */
export class VerdictRecord {
  private readonly kube: ConfigMapPort;
  private readonly namespace: string;
  private readonly name: string;

  constructor(kube: ConfigMapPort, namespace: string, name: string) {
    this.kube = kube;
    this.namespace = namespace;
    this.name = name;
  }

  describe(): string {
    return `ConfigMap ${this.namespace}/${this.name} key ${RECORD_KEY}`;
  }

  async read(): Promise<readonly RecordedVerdict[]> {
    return (
      parseVerdictRecord(await this.kube.getConfigMap(this.namespace, this.name))?.verdicts ?? []
    );
  }

  /** Records `entry` (replacing that image's), bounded as {@link mergeVerdict}; resolves the record. */
  async record(
    entry: RecordedVerdict,
    keep: ReadonlySet<string>,
    now: Date,
  ): Promise<readonly RecordedVerdict[]> {
    for (let attempt = 1; ; attempt++) {
      const existing = await this.kube.getConfigMap(this.namespace, this.name);
      const verdicts = mergeVerdict(parseVerdictRecord(existing)?.verdicts ?? [], entry, keep);
      const data: VerdictRecordData = { mode: 'companion', updatedAt: now.toISOString(), verdicts };
      const text = JSON.stringify(data, null, 1);
      try {
        if (existing === undefined) {
          await this.kube.createConfigMap(this.namespace, {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: {
              name: this.name,
              namespace: this.namespace,
              labels: { 'app.kubernetes.io/name': 'cvo-update-verifier' },
            },
            data: { [RECORD_KEY]: text },
          });
        } else {
          await this.kube.replaceConfigMap(this.namespace, {
            ...existing,
            data: { ...(existing.data ?? {}), [RECORD_KEY]: text },
          });
        }
        return verdicts;
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 409 && attempt < MAX_WRITE_ATTEMPTS))
          throw err;
      }
    }
  }
}
