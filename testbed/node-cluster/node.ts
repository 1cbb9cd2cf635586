import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { access, mkdir, readFile, readdir, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

import type { ControlPlaneBinaries } from '../local-cluster/binaries.js';
import type { LocalCluster } from '../local-cluster/cluster.js';
import { freePorts, renderKubeconfig, stopProcess } from '../local-cluster/cluster.js';
import { PAUSE_IMAGE, ensurePauseImage } from './pause-image.js';

const run = promisify(execFile);

/** The Debian programs the node runs: containerd (CRI), runc, and the CNI plugins. */
export const NODE_PACKAGES = {
  containerd: '/usr/bin/containerd',
  ctr: '/usr/bin/ctr',
  runc: '/usr/sbin/runc',
  cniBinDir: '/usr/lib/cni',
} as const;

/**
 * The pod network: one Linux bridge on the host, addresses from host-local IPAM. Not podman's
 * (10.88.0.0/16) nor a usual Kubernetes default; a start fails if a route on the machine overlaps.
 */
export const POD_CIDR = '10.202.88.0/24';
const BRIDGE = 'cvo0';
/**
 * Kernel settings the node changes on the machine (the kubelet's kernel tunables, the bridge
 * plugin's forwarding, kube-proxy's bridge netfilter): saved before it starts, put back after.
 */
const SYSCTLS = [
  'kernel/panic',
  'kernel/panic_on_oops',
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
  'net/ipv4/ip_forward',
  'net/ipv4/conf/all/route_localnet',
  'net/bridge/bridge-nf-call-iptables',
  'net/bridge/bridge-nf-call-ip6tables',
] as const;

/** The name the kubelet registers, and the node identity it authenticates as. */
export const NODE_NAME = 'cvo-node-1';

/** The static identities the node's components authenticate as (passed to startLocalCluster). */
export const NODE_IDENTITIES: Readonly<Record<string, readonly string[]>> = {
  [`system:node:${NODE_NAME}`]: ['system:nodes'],
  'system:kube-controller-manager': [],
  'system:kube-scheduler': [],
  'system:kube-proxy': [],
};

/** A single-node cluster's node: containerd, the kubelet and the cluster-level controllers. */
export interface TestNode {
  readonly name: string;
  /** The host's address: the kubelet's node IP and the apiserver's advertised address. */
  readonly address: string;
  readonly workDir: string;
  /** Runs `ctr` against the node's containerd in the kubelet's `k8s.io` namespace. */
  ctr(args: readonly string[]): Promise<string>;
  /** Imports an OCI image archive into the node's image store (what a pull would have fetched). */
  importImage(archive: string): Promise<void>;
  /** Kills a container's processes at once (SIGKILL), as a crash or OOM kill would. */
  killContainer(containerId: string): Promise<void>;
  stop(): Promise<void>;
}

export interface StartNodeOptions {
  readonly cluster: LocalCluster;
  readonly binaries: ControlPlaneBinaries;
  /** The host address pods reach the apiserver on; the cluster was started with it (nodeAccess). */
  readonly address: string;
  /** Gitignored folder for the pause image archive. */
  readonly cacheDir: string;
  readonly progress: (line: string) => void;
}

/**
 * Brings up one node on this machine for the cluster: containerd (with the pause image made
 * here, a bridge CNI network and runc), the kubelet (cgroup v1 through cgroupfs), and
 * kube-controller-manager, kube-scheduler and kube-proxy (iptables) as the node's control loops.
 * Waits until the Node is Ready. Machine-wide state (the bridge, iptables rules, cgroups) is
 * removed again by stop(); only one node can run on a machine at a time, which a lock enforces.
 */
export async function startTestNode(options: StartNodeOptions): Promise<TestNode> {
  const { cluster, binaries, address, progress } = options;
  if (process.getuid?.() !== 0) {
    throw new Error(
      'the test node needs root: it runs containerd and the kubelet, and changes iptables, cgroups, mounts and network interfaces',
    );
  }
  for (const [what, path] of Object.entries(NODE_PACKAGES)) {
    try {
      await access(path);
    } catch {
      throw new Error(
        `the test node needs ${what} at ${path} (Debian packages containerd, runc, containernetworking-plugins; scripts/test.sh installs them)`,
      );
    }
  }
  const lock = '/run/cvo-test-node.lock';
  const workDir = join(cluster.workDir, 'node');
  const leftover = await acquireNodeLock(lock, workDir, progress);
  if (leftover !== undefined) {
    progress(`cleaning up after a test node whose process died (${leftover.workDir})`);
    // Its cluster's etcd and kube-apiserver too: their command lines name the cluster's folder.
    await killPodProcesses(dirname(leftover.workDir));
    await cleanMachine(leftover.workDir, binaries, progress);
    await rm(leftover.workDir, { recursive: true, force: true });
    await restoreSysctls(leftover.sysctls);
  }
  try {
    await refuseForeignKubernetes();
  } catch (err) {
    await rm(lock, { recursive: true, force: true });
    throw err;
  }
  // Saved with the lock, so that the next run can put them back if this process dies.
  const sysctls = leftover?.sysctls ?? (await readSysctls());
  await writeFile(join(lock, 'sysctls.json'), JSON.stringify(sysctls));
  const processes: { name: string; child: ChildProcess }[] = [];
  const socket = join(workDir, 'containerd.sock');
  const ctr = async (args: readonly string[]): Promise<string> => {
    const { stdout } = await run(NODE_PACKAGES.ctr, ['-a', socket, '-n', 'k8s.io', ...args], {
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  };
  const stop = async (): Promise<void> => {
    await teardown(workDir, processes, ctr, binaries, progress);
    await restoreSysctls(sysctls);
    await rm(lock, { recursive: true, force: true });
  };
  try {
    await mkdir(join(workDir, 'net.d'), { recursive: true });
    await writeFile(join(workDir, 'net.d', '10-cvo-testbed.conflist'), cniConfig(workDir));
    await writeFile(join(workDir, 'containerd.toml'), containerdConfig(workDir, socket));
    const start = (name: string, binary: string, args: readonly string[]): ChildProcess => {
      const child = startLogged(binary, args, join(workDir, `${name}.log`));
      processes.push({ name, child });
      return child;
    };

    start('containerd', NODE_PACKAGES.containerd, ['--config', join(workDir, 'containerd.toml')]);
    await waitFor(
      async () => {
        await ctr(['version']);
        return true;
      },
      30_000,
      'containerd to answer on its socket',
      join(workDir, 'containerd.log'),
    );
    await ctr(['images', 'import', await ensurePauseImage(options.cacheDir)]);

    const kubeconfigFor = async (user: string): Promise<string> => {
      const token = cluster.tokens[user];
      if (token === undefined) throw new Error(`the cluster has no token for ${user}`);
      const path = join(workDir, `${user.replaceAll(':', '-')}.kubeconfig`);
      await writeFile(path, renderKubeconfig(cluster.server, cluster.caCert, token, user), {
        mode: 0o600,
      });
      return path;
    };
    const caFile = join(cluster.workDir, 'certs', 'apiserver.crt');
    const [kcmPort, schedulerPort, kubeletPort, kubeletHealthz, proxyHealthz, proxyMetrics] =
      (await freePorts(6)) as [number, number, number, number, number, number];

    start('kube-controller-manager', binaries.kubeControllerManager, [
      `--kubeconfig=${await kubeconfigFor('system:kube-controller-manager')}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${String(kcmPort)}`,
      '--leader-elect=false',
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${join(cluster.workDir, 'sa.key')}`,
      `--root-ca-file=${caFile}`,
      '--cluster-name=cvo-testbed',
      '--v=1',
    ]);
    start('kube-scheduler', binaries.kubeScheduler, [
      `--kubeconfig=${await kubeconfigFor('system:kube-scheduler')}`,
      `--authentication-kubeconfig=${await kubeconfigFor('system:kube-scheduler')}`,
      `--authorization-kubeconfig=${await kubeconfigFor('system:kube-scheduler')}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${String(schedulerPort)}`,
      '--leader-elect=false',
      '--v=1',
    ]);

    await mkdir(join(workDir, 'kubelet'), { recursive: true });
    await writeFile(
      join(workDir, 'kubelet.yaml'),
      kubeletConfig({
        workDir,
        socket,
        port: kubeletPort,
        healthzPort: kubeletHealthz,
      }),
    );
    start('kubelet', binaries.kubelet, [
      `--config=${join(workDir, 'kubelet.yaml')}`,
      `--kubeconfig=${await kubeconfigFor(`system:node:${NODE_NAME}`)}`,
      `--root-dir=${join(workDir, 'kubelet')}`,
      `--cert-dir=${join(workDir, 'kubelet-pki')}`,
      `--hostname-override=${NODE_NAME}`,
      `--node-ip=${address}`,
      '--v=1',
    ]);

    await writeFile(
      join(workDir, 'kube-proxy.yaml'),
      kubeProxyConfig({
        kubeconfig: await kubeconfigFor('system:kube-proxy'),
        healthz: proxyHealthz,
        metrics: proxyMetrics,
      }),
    );
    start('kube-proxy', binaries.kubeProxy, [
      `--config=${join(workDir, 'kube-proxy.yaml')}`,
      '--v=1',
    ]);

    await waitFor(
      async () => {
        const { stdout } = await run(
          binaries.kubectl,
          [
            `--kubeconfig=${cluster.kubeconfig}`,
            'get',
            'node',
            NODE_NAME,
            '-o',
            'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
          ],
          { timeout: 10_000 },
        ).catch(() => ({ stdout: '' }));
        return stdout.trim() === 'True';
      },
      120_000,
      `node ${NODE_NAME} to be Ready`,
      join(workDir, 'kubelet.log'),
      () => exitedEarly(processes),
    );
    progress(`node ${NODE_NAME} is Ready (${address}, pods in ${POD_CIDR})`);
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  return {
    name: NODE_NAME,
    address,
    workDir,
    ctr,
    async importImage(archive) {
      await ctr(['images', 'import', archive]);
    },
    async killContainer(containerId) {
      await ctr(['tasks', 'kill', '--signal', 'SIGKILL', '--all', containerId]);
    },
    stop,
  };
}

/** The address pods reach the host on: the first non-loopback IPv4 address of this machine. */
export async function hostAddress(): Promise<string> {
  const { networkInterfaces } = await import('node:os');
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) {
      if (a.family === 'IPv4' && !a.internal) return a.address;
    }
  }
  throw new Error('the test node needs a non-loopback IPv4 address on this machine; none found');
}

function cniConfig(workDir: string): string {
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'cvo-testbed',
      plugins: [
        {
          type: 'bridge',
          bridge: BRIDGE,
          isGateway: true,
          // Pods only talk to this machine (the apiserver, signature stores, the registry):
          // nothing to masquerade, and no NAT rules left behind.
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: POD_CIDR }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: join(workDir, 'ipam'),
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}

function containerdConfig(workDir: string, socket: string): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return [
    'version = 2',
    `root = "${join(workDir, 'containerd-root')}"`,
    `state = "${join(workDir, 'containerd-state')}"`,
    'disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]',
    '[grpc]',
    `  address = "${socket}"`,
    '[ttrpc]',
    `  address = "${socket}.ttrpc"`,
    `[${cri}]`,
    `  sandbox_image = "${PAUSE_IMAGE}"`,
    // This machine refuses a lower oom_score_adj than the parent's (`failed to update
    // /proc/self/oom_score_adj: Permission denied` from runc for the sandbox's -998); containerd
    // raises what the kubelet asks for to its own score instead.
    '  restrict_oom_score_adj = true',
    // Network namespaces under the state dir, not /run/netns: stop() unmounts them with it, and
    // their veth pairs go with them.
    '  netns_mounts_under_state_dir = true',

    `  [${cri}.cni]`,
    `    bin_dir = "${NODE_PACKAGES.cniBinDir}"`,
    `    conf_dir = "${join(workDir, 'net.d')}"`,
    `  [${cri}.containerd.runtimes.runc]`,
    '    runtime_type = "io.containerd.runc.v2"',
    `    [${cri}.containerd.runtimes.runc.options]`,
    `      BinaryName = "${NODE_PACKAGES.runc}"`,
    `      Root = "${join(workDir, 'runc')}"`,
    '      SystemdCgroup = false',
    '',
  ].join('\n');
}

function kubeletConfig(o: {
  workDir: string;
  socket: string;
  port: number;
  healthzPort: number;
}): string {
  return JSON.stringify(
    {
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      // This machine mounts cgroup v1 and runs no systemd: kubelet 1.37 refuses v1 unless told.
      failCgroupV1: false,
      cgroupDriver: 'cgroupfs',
      containerRuntimeEndpoint: `unix://${o.socket}`,
      // Nothing here calls the kubelet's API (logs, exec): it listens on loopback only.
      address: '127.0.0.1',
      port: o.port,
      readOnlyPort: 0,
      healthzBindAddress: '127.0.0.1',
      healthzPort: o.healthzPort,
      authentication: { anonymous: { enabled: false }, webhook: { enabled: false } },
      authorization: { mode: 'AlwaysAllow' },
      failSwapOn: false,
      podLogsDir: join(o.workDir, 'pod-logs'),
      volumePluginDir: join(o.workDir, 'volume-plugins'),
      staticPodPath: '',
      resolvConf: '/etc/resolv.conf',
      registerNode: true,
      rotateCertificates: false,
      serializeImagePulls: false,
      // A shared test machine: never evict for its disk or memory, never collect images.
      evictionHard: {
        'memory.available': '1Mi',
        'nodefs.available': '0%',
        'nodefs.inodesFree': '0%',
        'imagefs.available': '0%',
      },
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      nodeStatusUpdateFrequency: '2s',
      syncFrequency: '10s',
    },
    null,
    2,
  );
}

function kubeProxyConfig(o: { kubeconfig: string; healthz: number; metrics: number }): string {
  return JSON.stringify(
    {
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      clientConnection: { kubeconfig: o.kubeconfig },
      mode: 'iptables',
      // No NodePorts on 127.0.0.1: that would need route_localnet on the machine.
      iptables: { localhostNodePorts: false },
      hostnameOverride: NODE_NAME,
      clusterCIDR: POD_CIDR,
      healthzBindAddress: `127.0.0.1:${String(o.healthz)}`,
      metricsBindAddress: `127.0.0.1:${String(o.metrics)}`,
      // Leave the machine's conntrack settings alone.
      conntrack: {
        maxPerCore: 0,
        min: 0,
        tcpEstablishedTimeout: '0s',
        tcpCloseWaitTimeout: '0s',
      },
    },
    null,
    2,
  );
}

async function teardown(
  workDir: string,
  processes: { name: string; child: ChildProcess }[],
  ctr: (args: readonly string[]) => Promise<string>,
  binaries: ControlPlaneBinaries,
  progress: (line: string) => void,
): Promise<void> {
  const byName = (name: string): ChildProcess | undefined =>
    processes.find((p) => p.name === name)?.child;
  // The kubelet first, so that it restarts nothing; then every container and sandbox, while
  // containerd still runs; then the rest.
  for (const name of ['kubelet', 'kube-proxy', 'kube-scheduler', 'kube-controller-manager']) {
    const child = byName(name);
    if (child !== undefined) await stopProcess(child, 5_000);
  }
  const containerd = byName('containerd');
  if (containerd !== undefined && containerd.exitCode === null) {
    const tasks = await ctr(['tasks', 'ls', '-q']).catch(() => '');
    for (const id of tasks.split('\n').filter(Boolean)) {
      await ctr(['tasks', 'kill', '--signal', 'SIGKILL', '--all', id]).catch(() => undefined);
    }
    for (const id of tasks.split('\n').filter(Boolean)) {
      await waitFor(
        async () => {
          await ctr(['tasks', 'delete', '--force', id]).catch(() => undefined);
          return !(await ctr(['tasks', 'ls', '-q']).catch(() => '')).split('\n').includes(id);
        },
        10_000,
        `container ${id} to stop`,
      ).catch((err: unknown) => {
        progress(`teardown: ${(err as Error).message}`);
      });
    }
    await stopProcess(containerd, 5_000);
  }
  await cleanMachine(workDir, binaries, progress);
}

/**
 * What a node leaves on the machine outside its processes: kube-proxy's and the kubelet's
 * iptables chains, the bridge, mounts under its work directory, the kubelet's cgroups.
 */
async function cleanMachine(
  workDir: string,
  binaries: ControlPlaneBinaries,
  progress: (line: string) => void,
): Promise<void> {
  // kube-proxy removes its iptables rules itself.
  await run(binaries.kubeProxy, ['--cleanup'], { timeout: 30_000 }).catch((err: unknown) => {
    progress(`teardown: kube-proxy --cleanup: ${(err as Error).message.slice(0, 300)}`);
  });
  await removeKubeletChains(progress);
  await run('ip', ['link', 'delete', BRIDGE]).catch(() => undefined);
  await unmountUnder(workDir, progress);
  await removeCgroups('kubepods');
}

/**
 * Removes the iptables chains the kubelet made (KUBE-FIREWALL, KUBE-KUBELET-CANARY, …; the ones
 * kube-proxy --cleanup leaves) and the rules that jump to them, in every table, IPv4 and IPv6.
 */
async function removeKubeletChains(progress: (line: string) => void): Promise<void> {
  for (const tool of ['iptables', 'ip6tables']) {
    for (const table of ['filter', 'nat', 'mangle']) {
      const saved = await run(`${tool}-save`, ['-t', table]).catch(() => ({ stdout: '' }));
      const lines = saved.stdout.split('\n');
      const jumps = lines.filter((l) => /^-A (?!KUBE-)\S+ .*-j KUBE-/.test(l));
      const chains = lines.flatMap((l) => /^:(KUBE-\S+) /.exec(l)?.[1] ?? []);
      for (const rule of jumps) {
        const args = rule.slice(3).match(/"[^"]*"|\S+/g) ?? [];
        await run(tool, ['-t', table, '-D', ...args.map((a) => a.replace(/^"|"$/g, ''))]).catch(
          (err: unknown) => {
            progress(`teardown: ${tool} -t ${table} -D ${rule}: ${(err as Error).message}`);
          },
        );
      }
      for (const chain of chains)
        await run(tool, ['-t', table, '-F', chain]).catch(() => undefined);
      for (const chain of chains)
        await run(tool, ['-t', table, '-X', chain]).catch(() => undefined);
    }
  }
}

/** Unmounts (lazily, deepest first) everything mounted under `dir`: volumes, rootfs, netns. */
async function unmountUnder(dir: string, progress: (line: string) => void): Promise<void> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  const points = mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const p of points) {
    await run('umount', ['-l', p]).catch((err: unknown) => {
      progress(`teardown: umount ${p}: ${(err as Error).message.slice(0, 200)}`);
    });
  }
}

/** Removes the kubelet's (by now empty) cgroups from every cgroup v1 hierarchy. */
async function removeCgroups(name: string): Promise<void> {
  const root = '/sys/fs/cgroup';
  const hierarchies = await readdir(root, { withFileTypes: true }).catch(() => []);
  for (const h of hierarchies) if (h.isDirectory()) await removeTree(join(root, h.name, name));
  // cgroup v2: one hierarchy at the root.
  await removeTree(join(root, name));
}

/**
 * Refuses to start beside another Kubernetes node on this machine (k3s, kubeadm, minikube with
 * --driver=none): the node's clean-up removes kube-proxy's and the kubelet's iptables chains and
 * the kubepods cgroups machine-wide, which would break it.
 */
async function refuseForeignKubernetes(): Promise<void> {
  const found: string[] = [];
  for (const dir of ['/sys/fs/cgroup/pids/kubepods', '/sys/fs/cgroup/kubepods']) {
    if (
      await access(dir).then(
        () => true,
        () => false,
      )
    )
      found.push(`the cgroup ${dir}`);
  }
  const rules = await run('iptables-save', []).then(
    (r) => r.stdout,
    () => '',
  );
  const chains = [...new Set(rules.match(/^:KUBE-\S+/gm) ?? [])].map((c) => c.slice(1));
  if (chains.length > 0) found.push(`iptables chains ${chains.slice(0, 3).join(', ')}`);
  const routes = await run('ip', ['-4', 'route', 'show']).then(
    (r) => r.stdout,
    () => '',
  );
  for (const line of routes.split('\n')) {
    const dst = line.split(' ')[0] ?? '';
    if (/^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(dst) && overlaps(dst, POD_CIDR)) {
      found.push(`a route to ${dst} (${line.trim()}), which overlaps the pod network ${POD_CIDR}`);
    }
  }
  if (found.length > 0) {
    throw new Error(
      `this machine already runs Kubernetes networking or uses the pod network: ${found.join('; ')}. The test node would disturb it (its clean-up is machine-wide); stop it, or run the deploy test on another machine`,
    );
  }
}

/** Whether two IPv4 CIDRs (`a.b.c.d/n`, `/32` when no length) share an address. */
export function overlaps(a: string, b: string): boolean {
  const parse = (cidr: string): [number, number] => {
    const [ip = '', bits = '32'] = cidr.split('/');
    const value = ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
    const size = 2 ** (32 - Number(bits));
    const start = value - (value % size);
    return [start, start + size - 1];
  };
  const [a0, a1] = parse(a);
  const [b0, b1] = parse(b);
  return a0 <= b1 && b0 <= a1;
}

async function removeTree(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) if (e.isDirectory()) await removeTree(join(dir, e.name));
  await rmdir(dir).catch(() => undefined);
}

async function readSysctls(): Promise<Record<string, string>> {
  const values: Record<string, string> = {};
  for (const key of SYSCTLS) {
    const value = await readFile(`/proc/sys/${key}`, 'utf8').catch(() => undefined);
    if (value !== undefined) values[key] = value.trim();
  }
  return values;
}

async function restoreSysctls(values: Record<string, string> | undefined): Promise<void> {
  for (const [key, value] of Object.entries(values ?? {})) {
    if (!(SYSCTLS as readonly string[]).includes(key)) continue;
    await writeFile(`/proc/sys/${key}`, `${value}\n`).catch(() => undefined);
  }
}

/**
 * Kills every process of a dead node: its programs (their command lines name its work directory)
 * and its containers (in the kubelet's cgroups), so that its mounts can go.
 */
async function killPodProcesses(workDir: string): Promise<void> {
  const pids = new Set<number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(workDir)) pids.add(Number(entry));
  }
  const collect = async (dir: string): Promise<void> => {
    const procs = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
    for (const pid of procs.split('\n').filter(Boolean)) pids.add(Number(pid));
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await collect(join(dir, e.name));
    }
  };
  await collect('/sys/fs/cgroup/pids/kubepods');
  await collect('/sys/fs/cgroup/kubepods');
  for (const pid of pids) {
    if (pid !== process.pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
  }
  await sleep(500);
}

/**
 * Takes the machine-wide node lock. Returns the work directory of a previous owner that died
 * without stopping its node (its leftovers are the caller's to clean), else undefined.
 */
async function acquireNodeLock(
  lock: string,
  workDir: string,
  progress: (line: string) => void,
): Promise<{ workDir: string; sysctls: Record<string, string> | undefined } | undefined> {
  const deadline = Date.now() + 15 * 60_000;
  let announced = false;
  let leftover: { workDir: string; sysctls: Record<string, string> | undefined } | undefined;
  for (;;) {
    try {
      await mkdir(lock);
      await writeFile(join(lock, 'owner'), `${String(process.pid)}\n${workDir}\n`);
      return leftover;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const [pid = '0', dir = ''] = (
      await readFile(join(lock, 'owner'), 'utf8').catch(() => '0\n')
    ).split('\n');
    const owner = Number(pid);
    if (owner > 0 && !alive(owner)) {
      // Only a folder this code made is cleaned (killed processes, rm -rf): nothing else.
      if (dir !== '' && !/^\/.+\/cvo-cluster-[A-Za-z0-9]+\/node$/.test(dir)) {
        throw new Error(
          `the test node lock ${lock} names ${dir}, not a test node's folder: remove the lock by hand`,
        );
      }
      const saved = await readFile(join(lock, 'sysctls.json'), 'utf8').catch(() => undefined);
      if (dir !== '')
        leftover = {
          workDir: dir,
          sysctls: saved === undefined ? undefined : (JSON.parse(saved) as Record<string, string>),
        };
      await rm(lock, { recursive: true, force: true });
      continue;
    }
    if (owner === 0) {
      // A lock without an owner is a process that died between taking it and writing it.
      const age =
        Date.now() -
        (await stat(lock).then(
          (st) => st.mtimeMs,
          () => Date.now(),
        ));
      if (age > 60_000) {
        await rm(lock, { recursive: true, force: true });
        continue;
      }
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for the test node lock ${lock}`);
    if (!announced) {
      progress(`waiting for process ${String(owner)}, which runs the test node ...`);
      announced = true;
    }
    await sleep(1000);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function exitedEarly(processes: { name: string; child: ChildProcess }[]): string | undefined {
  const dead = processes.find((p) => p.child.exitCode !== null || p.child.signalCode !== null);
  return dead === undefined
    ? undefined
    : `${dead.name} exited (${String(dead.child.exitCode ?? dead.child.signalCode)})`;
}

async function waitFor(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
  logFile?: string,
  failed?: () => string | undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const failure = failed?.();
    if (failure !== undefined) {
      throw new Error(`${failure} while waiting for ${what}${await logTail(logFile)}`);
    }
    try {
      if (await check()) return;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(250);
  }
  throw new Error(
    `timed out after ${String(timeoutMs)} ms waiting for ${what}${last ? ` (last: ${last.slice(0, 300)})` : ''}${await logTail(logFile)}`,
  );
}

async function logTail(logFile: string | undefined): Promise<string> {
  if (logFile === undefined) return '';
  await sleep(200);
  const text = await readFile(logFile, 'utf8').catch(() => '');
  const errors = text
    .split('\n')
    .filter((l) => /^E\d{4}|level=(error|fatal)|error:/i.test(l))
    .slice(-5);
  return `; ${logFile}:\n${(errors.length > 0 ? errors : text.split('\n').slice(-10)).join('\n')}`;
}

/** Starts a program whose output goes straight to a log file (read while it runs). */
function startLogged(binary: string, args: readonly string[], logFile: string): ChildProcess {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = createWriteStream(logFile, { flags: 'a' });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  running.add(child);
  child.on('exit', () => {
    running.delete(child);
  });
  if (!killOnExitInstalled) {
    process.on('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
    killOnExitInstalled = true;
  }
  return child;
}

const running = new Set<ChildProcess>();
let killOnExitInstalled = false;
