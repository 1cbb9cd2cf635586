/**
 * `oc adm upgrade`'s texts for by-tag targets (openshift/oc pkg/cli/admin/upgrade), shared by
 * the CLI and the admission webhook so both speak exactly like oc.
 */
export const BY_TAG_REFUSED =
  '--to-image must be a by-digest pull spec, unless --force is also set, because release images that are not accessed via digest cannot be verified by the cluster.  Even when --force is set, using tags is not recommended, although we continue to allow it for backwards compatibility';

export const BY_TAG_FORCED_WARNING =
  'Using by-tag pull specs is dangerous, and while we still allow it in combination with --force for backward compatibility, it would be much safer to pass a by-digest pull spec instead';
