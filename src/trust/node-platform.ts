/** Node's `process.arch` names to Go's (`GOARCH`); a Go name maps to itself. */
const GO_ARCH: ReadonlyMap<string, string> = new Map([
  ['x64', 'amd64'],
  ['amd64', 'amd64'],
  ['arm64', 'arm64'],
  // Node reports little-endian POWER as `ppc64`; OpenShift runs only ppc64le.
  ['ppc64', 'ppc64le'],
  ['ppc64le', 'ppc64le'],
  ['s390x', 's390x'],
]);

/**
 * The platform whose manifest-list instance the payload check verifies: what CRI-O on a node of
 * `architecture` asks containers/image for. With no OS/architecture choice set (CRI-O's default
 * configuration; not re-read from CRI-O's source here), containers/image uses its own
 * GOOS/GOARCH and, on ARM, reads the variant from /proc/cpuinfo:
 * an arm64 node asks for `linux/arm64/v8` (which prefers a `v8` entry over a plain `arm64` one);
 * other architectures have no variant. An unknown architecture is passed through, so a list
 * without it fails the check rather than verifying another architecture's instance.
 *
 * The ClusterVersion does not name the nodes' architecture: `status.desired.architecture` and
 * `spec.desiredUpdate.architecture` are only `Multi` or empty. Empty is a single-architecture
 * cluster, whose nodes share the control plane's architecture (the CVO uses its own GOARCH);
 * `Multi` is a manifest-list release from which each node pulls its own instance, and here only
 * this architecture's instance is verified (the control plane's, where the CVO runs).
 */
export function nodePlatform(architecture: string): string {
  const arch = GO_ARCH.get(architecture) ?? architecture;
  return arch === 'arm64' ? 'linux/arm64/v8' : `linux/${arch}`;
}

/** Architectures a cluster runs: a handful; more are ignored (each costs a payload read). */
export const MAX_NODE_PLATFORMS = 8;
