import type { ClusterVersion, Release } from '../kube/types.js';

/** The release an admin asked for, resolved from spec.desiredUpdate. */
export type TargetResolution =
  | { readonly kind: 'none' }
  | {
      readonly kind: 'target';
      readonly image: string;
      readonly version: string;
      readonly force: boolean;
    }
  | { readonly kind: 'invalid'; readonly message: string };

/**
 * Resolves `spec.desiredUpdate` as the CVO does: an image is taken as given; a version alone is
 * looked up in status.availableUpdates and conditionalUpdates (and the history, for rollbacks).
 */
export function resolveTarget(cv: ClusterVersion): TargetResolution {
  const update = cv.spec.desiredUpdate;
  if (update === undefined) return { kind: 'none' };
  const force = update.force === true;
  const image = update.image ?? '';
  const version = update.version ?? '';
  if (image !== '' && update.architecture !== undefined && update.architecture !== '') {
    return {
      kind: 'invalid',
      message:
        'The cluster version is invalid: spec.desiredUpdate: Invalid value: cannot set both Architecture and Image',
    };
  }
  if (image !== '') return { kind: 'target', image, version, force };
  if (version === '') {
    return {
      kind: 'invalid',
      message:
        'The cluster version is invalid: spec.desiredUpdate: Invalid value: must specify either version or image',
    };
  }
  const candidates: Release[] = [
    ...(cv.status?.availableUpdates ?? []),
    ...(cv.status?.conditionalUpdates ?? []).map((c) => c.release),
    ...(cv.status?.history ?? []).map((h) => ({ version: h.version ?? '', image: h.image })),
  ];
  const found = candidates.find(
    (r) => r.version === version && typeof r.image === 'string' && r.image !== '',
  );
  if (found?.image === undefined) {
    return {
      kind: 'invalid',
      message: `The cluster version is invalid: spec.desiredUpdate.version: Invalid value: ${JSON.stringify(version)}: when image is empty the update must be a previous version or an available update`,
    };
  }
  return { kind: 'target', image: found.image, version, force };
}
