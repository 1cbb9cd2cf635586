import type { Condition } from '../kube/types.js';

export const ConditionType = {
  ReleaseAccepted: 'ReleaseAccepted',
  Invalid: 'Invalid',
  /** This service's own condition: the verification verdict for the requested release. */
  ReleaseVerified: 'ReleaseVerified',
  /** This service's own condition: whether the release's component images are all signed. */
  PayloadVerified: 'PayloadVerified',
} as const;

/**
 * Sets a condition, keeping lastTransitionTime when the status does not change (the API
 * convention), and returns a new list.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  next: Omit<Condition, 'lastTransitionTime'>,
  now: string,
): Condition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === next.type);
  const previous = index === -1 ? undefined : list[index];
  const condition: Condition = {
    ...next,
    lastTransitionTime:
      previous !== undefined && previous.status === next.status ? previous.lastTransitionTime : now,
  };
  if (index === -1) list.push(condition);
  else list[index] = condition;
  return list;
}

/** Removes a condition, as the CVO's RemoveOperatorStatusCondition; a new list. */
export function removeCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}
