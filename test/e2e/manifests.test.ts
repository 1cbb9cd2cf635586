import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { loadAll } from 'js-yaml';

import { BY_TAG_REFUSED } from '../../src/image/oc-messages.js';
import { repoRoot } from '../helpers/fixtures.js';
import { startTestCluster } from '../helpers/local-cluster.js';
import type { TestCluster } from '../helpers/local-cluster.js';
import { serviceMonitorCrd } from '../helpers/service-monitor-crd.js';
import { makeTestPki } from '../helpers/tls.js';
import type { TestPki } from '../helpers/tls.js';
import { REPO, requestUpdate, seed } from './harness.js';
import { runProgram } from '../helpers/run.js';
import type { RunResult } from '../helpers/run.js';

const MANIFESTS = join(repoRoot, 'manifests');
const NAMESPACE = 'cvo-update-verifier';
const NAME = 'cvo-update-verifier';
const SERVICE_ACCOUNT = `system:serviceaccount:${NAMESPACE}:${NAME}`;
const FIELD_MANAGER = 'cvo-update-verifier-manifests-test';

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

interface Probe {
  httpGet: { path: string; port: number | string; scheme?: string };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    runAsNonRoot?: boolean;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
  };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface PodSpec {
  serviceAccountName?: string;
  securityContext?: { runAsNonRoot?: boolean; seccompProfile?: { type: string } };
  containers: Container[];
  volumes?: { name: string; secret?: { secretName: string }; emptyDir?: object }[];
  topologySpreadConstraints?: {
    topologyKey: string;
    labelSelector?: { matchLabels?: Record<string, string> };
  }[];
  affinity?: { podAntiAffinity?: object };
}
interface Deployment extends Obj {
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
  };
}
interface Service extends Obj {
  spec: {
    selector: Record<string, string>;
    ports: { name: string; port: number; targetPort: number | string }[];
  };
}
interface NetworkPolicy extends Obj {
  spec: {
    podSelector: { matchLabels?: Record<string, string> };
    policyTypes: string[];
    ingress: {
      from: {
        namespaceSelector?: { matchLabels?: Record<string, string> };
        podSelector?: Record<string, unknown>;
      }[];
      ports: { protocol: string; port: number | string }[];
    }[];
  };
}
interface Webhook {
  name: string;
  admissionReviewVersions: string[];
  sideEffects: string;
  failurePolicy: string;
  matchPolicy: string;
  timeoutSeconds: number;
  rules: {
    apiGroups: string[];
    apiVersions: string[];
    operations: string[];
    resources: string[];
    scope?: string;
  }[];
  matchConditions?: { name: string; expression: string }[];
  clientConfig: {
    service?: { namespace: string; name: string; path: string; port: number };
    url?: string;
    caBundle?: string;
  };
}
interface WebhookConfiguration extends Obj {
  webhooks: Webhook[];
}

/**
 * Asserts that every field of `expected` (a rendered manifest) is in `actual` (the live object)
 * with the same value. Lists must have the same length; fields the API server adds are ignored.
 */
function assertSubset(expected: unknown, actual: unknown, path: string): void {
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${path}: expected a list, found ${JSON.stringify(actual)}`);
    assert.equal(actual.length, expected.length, `${path}: list length`);
    expected.forEach((e, i) => {
      assertSubset(e, actual[i], `${path}[${String(i)}]`);
    });
  } else if (typeof expected === 'object' && expected !== null) {
    assert.ok(
      typeof actual === 'object' && actual !== null && !Array.isArray(actual),
      `${path}: expected an object, found ${JSON.stringify(actual)}`,
    );
    for (const [key, value] of Object.entries(expected)) {
      assertSubset(value, (actual as Record<string, unknown>)[key], `${path}.${key}`);
    }
  } else {
    assert.equal(actual, expected, path);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('manifests/ on a real control plane', () => {
  let tc: TestCluster | undefined;
  let skip: string | undefined;
  /** `kubectl kustomize manifests/`: what `kubectl apply -k` sends. */
  let rendered: Obj[] = [];
  /** The live objects after the server-side apply, in the same order. */
  let applied: Obj[] | undefined;

  /** kubectl against the test cluster; fails with its stderr unless `allowFailure`. */
  const kubectl = async (
    args: readonly string[],
    options: { input?: string; allowFailure?: boolean } = {},
  ): Promise<RunResult> => {
    assert.ok(tc);
    const result = await runProgram(
      tc.binaries.kubectl,
      ['--kubeconfig', tc.cluster.kubeconfig, ...args],
      options.input !== undefined ? { input: options.input } : {},
    );
    if (result.code !== 0 && options.allowFailure !== true) {
      throw new Error(
        `kubectl ${args.join(' ')} failed (${String(result.code)}): ${result.stderr}`,
      );
    }
    return result;
  };
  const find = (objects: readonly Obj[] | undefined, kind: string): Obj => {
    assert.ok(objects, 'the manifests were not applied (see the apply test)');
    const found = objects.filter((o) => o.kind === kind);
    assert.equal(found.length, 1, `exactly one ${kind}`);
    return found[0]!;
  };

  /**
   * The applied webhook, everything kept but the address: the API server cannot reach a Service
   * here (no kube-proxy, no pods), so it calls a process on the loopback instead. Done before any
   * ClusterVersion UPDATE, so the API server never calls the Service's address.
   */
  const pointWebhookAtLoopback = async (port: number, caPem: string): Promise<void> => {
    const config = find(applied, 'ValidatingWebhookConfiguration') as WebhookConfiguration;
    const live = JSON.parse(
      (await kubectl(['get', 'validatingwebhookconfiguration', config.metadata.name, '-o', 'json']))
        .stdout,
    ) as WebhookConfiguration;
    live.webhooks = live.webhooks.map((w) => ({
      ...w,
      clientConfig: {
        url: `https://127.0.0.1:${String(port)}${w.clientConfig.service?.path ?? ''}`,
        caBundle: Buffer.from(caPem).toString('base64'),
      },
    }));
    await kubectl(['replace', '-f', '-'], { input: JSON.stringify(live) });
  };

  before(async () => {
    const started = await startTestCluster();
    if ('skip' in started) {
      skip = started.skip;
      return;
    }
    tc = started;
    const crd = await serviceMonitorCrd();
    await kubectl(['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, '-f', crd]);
    await kubectl([
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      'crd/servicemonitors.monitoring.coreos.com',
    ]);
    rendered = loadAll((await kubectl(['kustomize', MANIFESTS])).stdout) as Obj[];
  });

  after(async () => {
    await tc?.stop();
  });

  const cluster = (t: { skip: (message?: string) => void }): TestCluster | undefined => {
    if (tc === undefined) t.skip(skip ?? 'no cluster');
    return tc;
  };

  it('lists every manifest in the kustomization, each file once', async (t) => {
    if (!cluster(t)) return;
    const files = (await readdir(MANIFESTS)).filter(
      (f) => f.endsWith('.yaml') && f !== 'kustomization.yaml',
    );
    const kustomization = loadAll(
      await readFile(join(MANIFESTS, 'kustomization.yaml'), 'utf8'),
    )[0] as { resources: string[] };
    assert.deepEqual(kustomization.resources, [...files].sort());
    assert.deepEqual([...new Set(rendered.map((o) => o.kind))].sort(), [
      'ClusterRole',
      'ClusterRoleBinding',
      'Deployment',
      'Namespace',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'Role',
      'RoleBinding',
      'Service',
      'ServiceAccount',
      'ServiceMonitor',
      'ValidatingWebhookConfiguration',
    ]);
  });

  it('passes a server-side dry run of the whole kustomization, without warnings', async (t) => {
    if (!cluster(t)) return;
    const { stdout, stderr } = await kubectl([
      'apply',
      '--server-side',
      '--dry-run=server',
      `--field-manager=${FIELD_MANAGER}`,
      '-k',
      MANIFESTS,
    ]);
    assert.equal(stderr, '', 'kubectl printed warnings (Pod Security, deprecations, …)');
    assert.equal(stdout.trim().split('\n').length, rendered.length, stdout);
    assert.match(
      stdout,
      /deployment\.apps\/cvo-update-verifier serverside-applied \(server dry run\)/,
    );
  });

  it('applies with server-side apply, and the cluster holds every field as written', async (t) => {
    if (!cluster(t)) return;
    const { stderr } = await kubectl([
      'apply',
      '--server-side',
      `--field-manager=${FIELD_MANAGER}`,
      '-k',
      MANIFESTS,
    ]);
    assert.equal(stderr, '', 'kubectl printed warnings');
    const list = { apiVersion: 'v1', kind: 'List', items: rendered };
    const live = JSON.parse(
      (await kubectl(['get', '-f', '-', '-o', 'json'], { input: JSON.stringify(list) })).stdout,
    ) as { items: Obj[] };
    assert.equal(live.items.length, rendered.length);
    rendered.forEach((r, i) => {
      const l = live.items[i];
      assert.ok(l);
      assert.equal(`${l.kind}/${l.metadata.name}`, `${r.kind}/${r.metadata.name}`);
      assertSubset(r, l, `${r.kind}/${r.metadata.namespace ?? ''}/${r.metadata.name}`);
    });
    applied = live.items;
  });

  it('runs two restricted replicas with probes, resources, the serving certificate and spreading', (t) => {
    if (!cluster(t)) return;
    const deployment = find(applied, 'Deployment') as Deployment;
    assert.equal(deployment.metadata.namespace, NAMESPACE);
    assert.equal(deployment.spec.replicas, 2);
    const pod = deployment.spec.template.spec;
    assert.equal(pod.serviceAccountName, NAME);
    assert.deepEqual(deployment.spec.selector.matchLabels, {
      'app.kubernetes.io/name': NAME,
    });
    assert.equal(deployment.spec.template.metadata.labels['app.kubernetes.io/name'], NAME);
    assert.equal(pod.securityContext?.runAsNonRoot, true);
    assert.deepEqual(pod.securityContext.seccompProfile, { type: 'RuntimeDefault' });
    assert.equal(pod.containers.length, 1);
    const c = pod.containers[0]!;
    assert.match(c.image, /cvo-update-verifier/);
    assert.equal(c.securityContext?.allowPrivilegeEscalation, false);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'] });
    assert.deepEqual(
      [c.livenessProbe?.httpGet.path, c.livenessProbe?.httpGet.port],
      ['/healthz', 8081],
    );
    assert.deepEqual(
      [c.readinessProbe?.httpGet.path, c.readinessProbe?.httpGet.port],
      ['/readyz', 8081],
    );
    for (const kind of ['requests', 'limits'] as const) {
      assert.ok(c.resources?.[kind]?.cpu, `resources.${kind}.cpu`);
      assert.ok(c.resources[kind].memory, `resources.${kind}.memory`);
    }

    const args = c.args ?? [];
    assert.equal(args[0], 'serve');
    const flag = (name: string): string | undefined =>
      args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
    assert.equal(flag('health-port'), '8081');
    assert.equal(flag('leader-elect'), undefined, 'leader election keeps its default (on)');
    const webhookPort = c.ports?.find((p) => p.name === 'webhook')?.containerPort;
    assert.equal(flag('webhook-port'), String(webhookPort));
    assert.equal(c.ports?.find((p) => p.name === 'metrics')?.containerPort, 8081);

    // /tmp is the one writable path; the TLS files come from the mounted Secret.
    const mounts = new Map((c.volumeMounts ?? []).map((m) => [m.mountPath, m]));
    const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
    const tmp = mounts.get('/tmp');
    assert.ok(tmp && volumes.get(tmp.name)?.emptyDir, 'an emptyDir at /tmp');
    const certDir = [...mounts.values()].find((m) => volumes.get(m.name)?.secret !== undefined);
    assert.ok(certDir, 'a Secret volume for the serving certificate');
    assert.equal(certDir.readOnly, true);
    assert.equal(volumes.get(certDir.name)?.secret?.secretName, 'cvo-update-verifier-tls');
    assert.equal(flag('tls-cert-file'), `${certDir.mountPath}/tls.crt`);
    assert.equal(flag('tls-key-file'), `${certDir.mountPath}/tls.key`);

    const spread = pod.topologySpreadConstraints?.find(
      (s) => s.topologyKey === 'kubernetes.io/hostname',
    );
    assert.ok(spread ?? pod.affinity?.podAntiAffinity, 'replicas are spread across nodes');
    assert.deepEqual(spread?.labelSelector?.matchLabels, deployment.spec.selector.matchLabels);
  });

  it('exposes the webhook on 443 and metrics on 8081, scraped by the ServiceMonitor', (t) => {
    if (!cluster(t)) return;
    const deployment = find(applied, 'Deployment') as Deployment;
    const service = find(applied, 'Service') as Service;
    assert.equal(service.metadata.namespace, NAMESPACE);
    assert.deepEqual(service.spec.selector, deployment.spec.selector.matchLabels);
    const container = deployment.spec.template.spec.containers[0]!;
    const containerPort = (target: number | string): number | undefined =>
      typeof target === 'number'
        ? target
        : container.ports?.find((p) => p.name === target)?.containerPort;
    const ports = Object.fromEntries(
      service.spec.ports.map((p) => [p.name, [p.port, containerPort(p.targetPort)]]),
    );
    assert.deepEqual(ports, { webhook: [443, 8443], metrics: [8081, 8081] });
    assert.equal(
      service.metadata.annotations?.['service.beta.openshift.io/serving-cert-secret-name'],
      'cvo-update-verifier-tls',
    );

    const monitor = find(applied, 'ServiceMonitor') as Obj & {
      spec: {
        selector: { matchLabels: Record<string, string> };
        endpoints: { port: string; path: string; scheme?: string }[];
      };
    };
    assert.equal(monitor.apiVersion, 'monitoring.coreos.com/v1');
    for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels)) {
      assert.equal(
        service.metadata.labels?.[k],
        v,
        `the ServiceMonitor selects the Service (${k})`,
      );
    }
    assert.deepEqual(
      monitor.spec.endpoints.map((e) => [e.port, e.path, e.scheme]),
      [['metrics', '/metrics', 'http']],
    );

    const pdb = find(applied, 'PodDisruptionBudget') as Obj & {
      spec: { minAvailable: number; selector: { matchLabels: Record<string, string> } };
    };
    assert.equal(pdb.metadata.namespace, NAMESPACE);
    assert.equal(pdb.spec.minAvailable, 1);
    assert.deepEqual(pdb.spec.selector.matchLabels, deployment.spec.selector.matchLabels);
  });

  it('registers the webhook for ClusterVersion UPDATEs at /validate-clusterversion', (t) => {
    if (!cluster(t)) return;
    const config = find(applied, 'ValidatingWebhookConfiguration') as WebhookConfiguration;
    const service = find(applied, 'Service') as Service;
    assert.equal(config.webhooks.length, 1);
    const w = config.webhooks[0]!;
    assert.deepEqual(w.rules, [
      {
        apiGroups: ['config.openshift.io'],
        apiVersions: ['v1'],
        operations: ['UPDATE'],
        resources: ['clusterversions'],
        scope: 'Cluster',
      },
    ]);
    assert.equal(w.failurePolicy, 'Ignore');
    assert.equal(w.sideEffects, 'None');
    assert.deepEqual(w.admissionReviewVersions, ['v1']);
    assert.equal(w.matchPolicy, 'Equivalent');
    // Above the service's own webhook budget (--webhook-timeout, 8 s by default).
    assert.ok(
      w.timeoutSeconds > 8 && w.timeoutSeconds <= 30,
      `timeoutSeconds ${String(w.timeoutSeconds)}`,
    );
    assert.deepEqual(w.clientConfig.service, {
      namespace: NAMESPACE,
      name: service.metadata.name,
      path: '/validate-clusterversion',
      port: service.spec.ports.find((p) => p.name === 'webhook')?.port,
    });
    assert.equal(w.clientConfig.caBundle, undefined, 'caBundle is injected, never applied');
    assert.equal(
      config.metadata.annotations?.['service.beta.openshift.io/inject-cabundle'],
      'true',
    );
  });

  it('grants the ServiceAccount exactly what the service uses, and no Secret but the pull secret', async (t) => {
    if (!cluster(t)) return;
    assert.ok(applied, 'the manifests were not applied (see the apply test)');
    // `resource/subresource`, or `resource:name` for one object (resourceNames).
    const canI = async (verb: string, resource: string, namespace?: string): Promise<boolean> => {
      const [type, objectName] = resource.split(':');
      const [plural, subresource] = (type ?? '').split('/');
      const name = objectName !== undefined ? `${plural ?? ''}/${objectName}` : plural;
      const { code, stdout, stderr } = await kubectl(
        [
          'auth',
          'can-i',
          verb,
          name!,
          ...(subresource !== undefined ? [`--subresource=${subresource}`] : []),
          ...(namespace !== undefined ? ['-n', namespace] : []),
          `--as=${SERVICE_ACCOUNT}`,
        ],
        { allowFailure: true },
      );
      assert.ok(code === 0 || code === 1, `kubectl auth can-i: ${stderr}`);
      return stdout.trim() === 'yes';
    };
    const allowed: [string, string, string?][] = [
      ['get', 'clusterversions.config.openshift.io'],
      ['list', 'clusterversions.config.openshift.io'],
      ['watch', 'clusterversions.config.openshift.io'],
      ['update', 'clusterversions.config.openshift.io/status'],
      ['get', 'configmaps', 'openshift-config-managed'],
      ['list', 'configmaps', 'openshift-config-managed'],
      ['create', 'configmaps', 'openshift-config-managed'],
      ['update', 'configmaps', 'openshift-config-managed'],
      ['get', 'configmaps', 'openshift-config'],
      ['create', 'events', 'openshift-cluster-version'],
      ['get', 'leases.coordination.k8s.io', NAMESPACE],
      ['create', 'leases.coordination.k8s.io', NAMESPACE],
      ['update', 'leases.coordination.k8s.io', NAMESPACE],
      ['get', 'configmaps', NAMESPACE],
      ['create', 'configmaps', NAMESPACE],
      ['update', 'configmaps', NAMESPACE],
      // --verify-api's TokenReviews and SubjectAccessReviews.
      ['create', 'tokenreviews.authentication.k8s.io'],
      ['create', 'subjectaccessreviews.authorization.k8s.io'],
      // Registry credentials (the pull secret alone) and the cluster-wide Proxy (issue 13).
      ['get', 'secrets:pull-secret', 'openshift-config'],
      ['get', 'proxies.config.openshift.io:cluster'],
      ['get', 'images.config.openshift.io:cluster'],
      ['get', 'featuregates.config.openshift.io:cluster'],
    ];
    const denied: [string, string, string?][] = [
      ['update', 'clusterversions.config.openshift.io'],
      ['patch', 'clusterversions.config.openshift.io/status'],
      ['delete', 'clusterversions.config.openshift.io'],
      ['get', 'secrets', NAMESPACE],
      ['list', 'secrets', 'openshift-config'],
      ['get', 'secrets', 'openshift-config'],
      ['get', 'secrets:other-secret', 'openshift-config'],
      ['update', 'secrets:pull-secret', 'openshift-config'],
      ['watch', 'secrets:pull-secret', 'openshift-config'],
      ['get', 'secrets:pull-secret', 'openshift-config-managed'],
      ['list', 'proxies.config.openshift.io'],
      ['get', 'proxies.config.openshift.io:other'],
      ['list', 'images.config.openshift.io'],
      ['get', 'images.config.openshift.io:other'],
      ['update', 'images.config.openshift.io:cluster'],
      ['list', 'featuregates.config.openshift.io'],
      ['get', 'featuregates.config.openshift.io:other'],
      ['get', 'secrets', 'openshift-config-managed'],
      ['delete', 'configmaps', 'openshift-config-managed'],
      ['list', 'configmaps', 'openshift-config'],
      ['delete', 'leases.coordination.k8s.io', NAMESPACE],
      ['create', 'pods', NAMESPACE],
      ['create', 'localsubjectaccessreviews.authorization.k8s.io', NAMESPACE],
      ['update', 'validatingwebhookconfigurations.admissionregistration.k8s.io'],
    ];
    const wrong: string[] = [];
    for (const [verb, resource, ns] of allowed)
      if (!(await canI(verb, resource, ns))) wrong.push(`cannot ${verb} ${resource} ${ns ?? ''}`);
    for (const [verb, resource, ns] of denied)
      if (await canI(verb, resource, ns)) wrong.push(`can ${verb} ${resource} ${ns ?? ''}`);
    assert.deepEqual(wrong, []);
  });

  it('admits the webhook port only from the kube-apiserver and the metrics port only from monitoring (NetworkPolicy)', (t) => {
    if (!cluster(t)) return;
    // Checked as written and as the API server stored it; no network plugin enforces it here.
    const policy = find(applied, 'NetworkPolicy') as NetworkPolicy;
    const deployment = find(applied, 'Deployment') as Deployment;
    assert.equal(policy.metadata.namespace, NAMESPACE);
    assert.deepEqual(policy.spec.policyTypes, ['Ingress']);
    assert.deepEqual(policy.spec.podSelector.matchLabels, deployment.spec.selector.matchLabels);
    const ports = new Map(
      (deployment.spec.template.spec.containers[0]?.ports ?? []).map((p) => [p.name, p]),
    );
    const rules = policy.spec.ingress.map((rule) => ({
      ports: rule.ports.map((p) => `${p.protocol}/${String(p.port)}`),
      from: rule.from.map((peer) => ({
        namespace: peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'],
        // OVN-Kubernetes selects host-network pods (the kube-apiserver) only with `{}` here.
        anyPod: peer.podSelector !== undefined && Object.keys(peer.podSelector).length === 0,
      })),
    }));
    assert.deepEqual(rules, [
      {
        ports: [`TCP/${String(ports.get('webhook')?.containerPort)}`],
        from: [{ namespace: 'openshift-kube-apiserver', anyPod: true }],
      },
      {
        ports: [`TCP/${String(ports.get('metrics')?.containerPort)}`],
        from: [{ namespace: 'openshift-monitoring', anyPod: false }],
      },
    ]);
  });

  it('has a pod template that Pod Security "restricted" admits in its namespace', async (t) => {
    if (!cluster(t)) return;
    const deployment = find(applied, 'Deployment') as Deployment;
    const namespace = find(applied, 'Namespace');
    assert.equal(namespace.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
    const pod = (name: string, spec: PodSpec): string =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: NAMESPACE, labels: deployment.spec.template.metadata.labels },
        spec,
      });
    const admitted = await kubectl(['create', '--dry-run=server', '-o', 'name', '-f', '-'], {
      input: pod('restricted-check', deployment.spec.template.spec),
    });
    assert.equal(admitted.stderr, '');
    // The same template with privilege escalation allowed is refused: the check is real.
    const template = deployment.spec.template.spec;
    const loosened: PodSpec = {
      ...template,
      containers: template.containers.map((c) => ({
        ...c,
        securityContext: { ...c.securityContext, allowPrivilegeEscalation: true },
      })),
    };
    const refused = await kubectl(['create', '--dry-run=server', '-f', '-'], {
      input: pod('loosened-check', loosened),
      allowFailure: true,
    });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /violates PodSecurity "restricted/);
  });

  it('ships config samples the API server accepts', async (t) => {
    if (!cluster(t)) return;
    const { stdout, stderr } = await kubectl([
      'apply',
      '--server-side',
      '--dry-run=server',
      `--field-manager=${FIELD_MANAGER}`,
      '-f',
      join(repoRoot, 'config', 'cluster-image-policy.example.yaml'),
      '-f',
      join(repoRoot, 'config', 'root-of-trust.example.yaml'),
    ]);
    assert.equal(stderr, '');
    assert.match(stdout, /clusterimagepolicy\.config\.openshift\.io\/\S+ serverside-applied/);
    assert.match(stdout, /configmap\/release-verification serverside-applied/);
  });

  // Last: it points the applied ValidatingWebhookConfiguration at a process on the loopback.
  it('runs the container args with the ServiceAccount: probes pass, the webhook answers, and an outage admits (Ignore)', async (t) => {
    const c = cluster(t);
    if (!c) return;
    const deployment = find(applied, 'Deployment') as Deployment;
    const container = deployment.spec.template.spec.containers[0]!;
    assert.ok(
      existsSync(join(repoRoot, 'dist', 'cli', 'main.js')),
      'dist/ is missing: the test command builds before testing',
    );
    const dir = await mkdtemp(join(tmpdir(), 'cvo-manifests-'));
    let pki: TestPki | undefined;
    let child: ReturnType<typeof spawn> | undefined;
    try {
      pki = await makeTestPki();
      await writeFile(join(dir, 'tls.crt'), pki.serverCert);
      await writeFile(join(dir, 'tls.key'), pki.serverKey, { mode: 0o600 });
      const token = (
        await kubectl(['create', 'token', NAME, '-n', NAMESPACE, '--duration=1h'])
      ).stdout.trim();
      const kubeconfig = join(dir, 'service-account.kubeconfig');
      await c.cluster.writeKubeconfig(kubeconfig, token, NAME);

      // The Deployment's args, with local paths and free ports in place of the pod's.
      const healthPort = await freePort();
      const webhookPort = await freePort();
      const replace = new Map<string, string>([
        ['--health-port', String(healthPort)],
        ['--webhook-port', String(webhookPort)],
        ['--tls-cert-file', join(dir, 'tls.crt')],
        ['--tls-key-file', join(dir, 'tls.key')],
      ]);
      const seen = new Set<string>();
      const args = (container.args ?? []).map((a) => {
        const name = a.split('=')[0]!;
        const value = replace.get(name);
        if (value === undefined) return a;
        seen.add(name);
        return `${name}=${value}`;
      });
      assert.deepEqual([...seen].sort(), [...replace.keys()].sort(), 'flags the test replaces');
      args.push('--bind-address=127.0.0.1', `--kubeconfig=${kubeconfig}`);

      await pointWebhookAtLoopback(webhookPort, pki.caPem);
      await seed(c);
      child = spawn(join(repoRoot, 'bin', 'cvo-verifier'), args, {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { PATH: process.env.PATH ?? '', HOME: dir, CVO_VERIFIER_NODE: process.execPath },
      });
      let out = '';
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((resolve) =>
        child?.once('exit', (code) => resolve(code)),
      );

      // The kubelet's view: the probes at the paths and port of the manifest.
      const probe = async (p: Probe | undefined): Promise<number> => {
        assert.ok(p);
        const res = await fetch(`http://127.0.0.1:${String(healthPort)}${p.httpGet.path}`).catch(
          () => undefined,
        );
        await res?.text();
        return res?.status ?? 0;
      };
      const deadline = Date.now() + 30_000;
      while ((await probe(container.readinessProbe)) !== 200) {
        assert.ok(Date.now() < deadline, `the readiness probe never passed:\n${out}`);
        assert.equal(child.exitCode, null, `serve exited:\n${out}`);
        await sleep(200);
      }
      assert.equal(await probe(container.livenessProbe), 200);
      const admissions = async (): Promise<number> => {
        const res = await fetch(`http://127.0.0.1:${String(healthPort)}/metrics`);
        return (await res.text())
          .split('\n')
          .filter((l) => l.startsWith('cvo_verifier_admission_reviews_total'))
          .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
      };

      // An edit that leaves desiredUpdate alone does not reach the webhook (matchConditions).
      const before = await admissions();
      await kubectl([
        'patch',
        'clusterversion',
        'version',
        '--type=merge',
        '-p',
        JSON.stringify({ spec: { channel: 'fast-4.17' } }),
      ]);
      assert.equal(await admissions(), before, 'a channel edit was sent to the webhook');

      // A by-tag target is refused by the webhook with oc's words.
      const byTag = `${REPO}:4.17.0-x86_64`;
      const refused = await kubectl(
        [
          'patch',
          'clusterversion',
          'version',
          '--type=merge',
          '-p',
          JSON.stringify({ spec: { desiredUpdate: { image: byTag, version: '', force: false } } }),
        ],
        { allowFailure: true },
      );
      assert.notEqual(refused.code, 0, 'the by-tag update was admitted');
      assert.match(refused.stderr, /denied the request/);
      assert.ok(refused.stderr.includes(BY_TAG_REFUSED), refused.stderr);
      assert.equal(await admissions(), before + 1);
      assert.doesNotMatch(out, /forbidden/i, 'the service hit RBAC limits');

      // SIGTERM: a clean exit; with the verifier gone, updates are admitted (failurePolicy).
      child.kill('SIGTERM');
      const code = await Promise.race([exited, sleep(15_000).then(() => 'timeout' as const)]);
      assert.equal(code, 0, `serve did not exit cleanly on SIGTERM:\n${out}`);
      await requestUpdate(c, { image: byTag, version: '', force: false });
      const cv = await c.admin.getClusterVersion('version');
      assert.equal(cv.spec.desiredUpdate?.image, byTag);
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await pki?.cleanup();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
