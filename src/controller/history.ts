import type { UpdateHistory } from '../kube/types.js';

/** The CVO keeps at most this many history entries (pkg/cvo/status.go MaxHistory). */
export const MAX_HISTORY = 100;

/**
 * Records an accepted target in the history as the CVO's mergeOperatorHistory does
 * (pkg/cvo/status.go:64-155) for a payload that is loaded but not applied: a target equal to the
 * newest entry (same image, or same version) is merged into it, its accepted risks replaced;
 * any other target closes the newest entry and is added before it as Partial. `verified` only
 * ever turns an entry's `verified` true. Then the history is pruned as the CVO prunes it. This
 * service never marks an entry Completed: that is the payload applier's job.
 */
export function recordTarget(
  history: readonly UpdateHistory[] | undefined,
  desired: { readonly version: string; readonly image: string },
  verified: boolean,
  now: string,
  acceptedRisks: string,
): UpdateHistory[] {
  const list = (history ?? []).map((h) => ({ ...h }));
  const risks = acceptedRisks === '' ? {} : { acceptedRisks };
  const added: UpdateHistory = {
    state: 'Partial',
    startedTime: now,
    completionTime: null,
    version: desired.version,
    image: desired.image,
    verified: false,
    ...risks,
  };
  const last = list[0];
  if (last === undefined) {
    list.push(added);
  } else if (mergeEqualVersions(last, desired)) {
    delete last.acceptedRisks;
    Object.assign(last, risks);
  } else {
    if (last.completionTime === null) last.completionTime = now;
    list.unshift(added);
  }
  const head = list[0];
  if (verified && head !== undefined) head.verified = true;
  return prune(list, MAX_HISTORY);
}

/** pkg/cvo/status.go:45-62: whether `desired` is the entry `current` (filling its blanks). */
function mergeEqualVersions(
  current: UpdateHistory,
  desired: { readonly version: string; readonly image: string },
): boolean {
  if (desired.image !== '' && desired.image === current.image) {
    if (desired.version === '') return true;
    if ((current.version ?? '') === '' || desired.version === current.version) {
      current.version = desired.version;
      return true;
    }
  }
  if (desired.version !== '' && desired.version === current.version) {
    if (current.image === '' || desired.image === current.image) {
      current.image = desired.image;
      return true;
    }
  }
  return false;
}

// The weights of pkg/cvo/status_history.go:12-32.
/** Entries 0..MAX_FINAL_ENTRY_INDEX (the newest) are never pruned. */
const MAX_FINAL_ENTRY_INDEX = 4;
/** The initial entry, the newest entries and the most recently completed update. */
const MOST_IMPORTANT_WEIGHT = 1000.0;
/** The first or last completed update in a minor. */
const INTERESTING_WEIGHT = 30.0;
/** A partial update between completed updates of different minors. */
const PARTIAL_MINOR_WEIGHT = 20.0;
/** A partial update between completed updates of different z-streams. */
const PARTIAL_Z_STREAM_WEIGHT = -20.0;
/** Favours newer entries and avoids ties. */
const SLICE_INDEX_WEIGHT = -1.01;

/**
 * The CVO's prune (pkg/cvo/status_history.go:36-78): once the history holds more than `maxSize`
 * entries, the one entry of lowest rank goes. The initial install entry (index `maxSize`), the
 * five newest and the most recently completed are never the one.
 */
export function prune(history: UpdateHistory[], maxSize: number): UpdateHistory[] {
  if (history.length <= maxSize) return history;
  const mostRecentCompleted = history.findIndex((h) => h.state === 'Completed');
  let lowestRank = Number.MAX_VALUE;
  let lowestRankIdx = 0;
  for (let i = 0; i < history.length; i++) {
    let rank = 0.0;
    if (i === maxSize || i <= MAX_FINAL_ENTRY_INDEX || i === mostRecentCompleted) {
      rank = MOST_IMPORTANT_WEIGHT;
    } else if (isTheFirstOrLastCompletedInAMinor(i, history, maxSize)) {
      rank += INTERESTING_WEIGHT;
    } else if (isPartialPortionOfMinorTransition(i, history, maxSize)) {
      rank += PARTIAL_MINOR_WEIGHT;
    } else if (isPartialWithinAZStream(i, history, maxSize)) {
      rank += PARTIAL_Z_STREAM_WEIGHT;
    }
    rank += SLICE_INDEX_WEIGHT * i;
    if (rank < lowestRank) {
      lowestRank = rank;
      lowestRankIdx = i;
    }
  }
  if (lowestRankIdx === maxSize) return history.slice(0, maxSize);
  return [...history.slice(0, lowestRankIdx), ...history.slice(lowestRankIdx + 1)];
}

function isTheFirstOrLastCompletedInAMinor(
  i: number,
  h: readonly UpdateHistory[],
  maxSize: number,
): boolean {
  if (h[i]?.state === 'Partial') return false;
  if (i === 0 || i === maxSize) return true;
  let next = findNextOlderCompleted(i, h);
  if (next === i || !sameMinorVersion(h[i], h[next])) return true;
  next = findNextNewerCompleted(i, h);
  return next === i || !sameMinorVersion(h[i], h[next]);
}

function isPartialPortionOfMinorTransition(
  i: number,
  h: readonly UpdateHistory[],
  maxSize: number,
): boolean {
  if (h[i]?.state === 'Completed' || i === 0 || i === maxSize) return false;
  const prev = findNextOlderCompleted(i, h);
  if (prev === i) return false;
  const next = findNextNewerCompleted(i, h);
  return !(next === i || sameMinorVersion(h[prev], h[next]));
}

function isPartialWithinAZStream(i: number, h: readonly UpdateHistory[], maxSize: number): boolean {
  if (h[i]?.state === 'Completed' || i === 0 || i === maxSize) return false;
  const prev = findNextOlderCompleted(i, h);
  if (prev === i) return false;
  const next = findNextNewerCompleted(i, h);
  return !(next === i || sameZStreamVersion(h[prev], h[next]));
}

function findNextOlderCompleted(i: number, h: readonly UpdateHistory[]): number {
  for (let j = i + 1; j < h.length; j++) if (h[j]?.state === 'Completed') return j;
  return i;
}

function findNextNewerCompleted(i: number, h: readonly UpdateHistory[]): number {
  for (let j = i - 1; j >= 0; j--) if (h[j]?.state === 'Completed') return j;
  return i;
}

function sameMinorVersion(a: UpdateHistory | undefined, b: UpdateHistory | undefined): boolean {
  return versionPart(a?.version, 1) === versionPart(b?.version, 1);
}

function sameZStreamVersion(a: UpdateHistory | undefined, b: UpdateHistory | undefined): boolean {
  return sameMinorVersion(a, b) && versionPart(a?.version, 2) === versionPart(b?.version, 2);
}

/** getEffectiveMinor (index 1) and getEffectiveMicro (index 2): "" when there is no such part. */
function versionPart(version: string | undefined, index: number): string {
  return (version ?? '').split('.')[index] ?? '';
}

/** Marks every entry for `image` as verified, returning the new list and whether anything changed. */
export function markVerified(
  history: readonly UpdateHistory[] | undefined,
  image: string,
): { history: UpdateHistory[]; changed: boolean } {
  let changed = false;
  const next = (history ?? []).map((h) => {
    if (h.image !== image || h.verified) return h;
    changed = true;
    return { ...h, verified: true };
  });
  return { history: next, changed };
}
