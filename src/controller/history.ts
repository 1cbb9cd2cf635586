import type { UpdateHistory } from '../kube/types.js';

/** The CVO keeps at most this many history entries. */
export const MAX_HISTORY = 100;

/**
 * Adds a new target at the head of the history (newest first), closing the previous entry, and
 * prunes to MAX_HISTORY. This service never marks an entry Completed: that is the payload
 * applier's job.
 */
export function addHistoryEntry(
  history: readonly UpdateHistory[] | undefined,
  entry: Omit<UpdateHistory, 'state' | 'completionTime'>,
  now: string,
): UpdateHistory[] {
  const previous = [...(history ?? [])];
  const head = previous[0];
  if (head !== undefined && head.completionTime === null) {
    previous[0] = { ...head, completionTime: now };
  }
  const added: UpdateHistory = { state: 'Partial', completionTime: null, ...entry };
  return [added, ...previous].slice(0, MAX_HISTORY);
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
