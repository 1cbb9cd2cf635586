import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import { ClusterTrust } from './trust/cluster-trust.js';
import { ReleaseController } from './controller/controller.js';
import { CompanionController } from './controller/companion.js';
import { VerdictRecord } from './controller/verdict-record.js';
import { LeaderElector } from './controller/leader-election.js';
import { SignatureCache } from './trust/signature-cache.js';
import { WatchedSignatureConfigMaps } from './trust/signature-configmaps.js';
import { SIGNATURE_CONFIGMAP_LABEL } from './stores/configmap-store.js';
import { StatePublisher } from './controller/state-publisher.js';
import { UpdatePreverifier } from './controller/update-preverifier.js';
import { createKubePort, loadKubeConfig } from './kube/client.js';
import { RegistryClientPool } from './registry/client-pool.js';
import { Semaphore } from './registry/semaphore.js';
import { DEFAULT_COMPONENT_CONCURRENCY } from './payload/payload-verifier.js';
import type { KubePort } from './kube/client.js';
import type { HttpConfig, ServiceConfig } from './config/service-config.js';
import { createHealthHandler } from './http/health.js';
import type { RunningTlsServer } from './http/tls-server.js';
import type { Logger } from './observability/logger.js';
import { createMetrics } from './observability/metrics.js';
import type { ServiceMetrics } from './observability/metrics.js';

/** A running service: the controller while leading, and what stops it cleanly. */
export interface Service {
  /** ReleaseController in gate mode, CompanionController in companion mode. */
  readonly controller: ReleaseController | CompanionController;
  readonly elector: LeaderElector | undefined;
  readonly kube: KubePort;
  readonly metrics: ServiceMetrics;
  /** Bound ports, when the HTTP surface runs. */
  readonly ports: { readonly health?: number; readonly webhook?: number };
  isLeader(): boolean;
  isReady(): { ready: boolean; reason: string };
  /**
   * Stops the service: not ready at once (/readyz 503), leadership given up at once (the Lease
   * released, so a standby takes over without waiting for it to expire), the HTTP servers kept
   * answering until `drainMs` after the call (default 0), then closed, then the trust sources.
   */
  stop(options?: StopOptions): Promise<void>;
}

export interface StopOptions {
  /**
   * How long the HTTP servers (webhook, probes, metrics) keep answering after stop() is called.
   * A terminating Pod leaves its Service's endpoints a second or two after SIGTERM (kube-proxy),
   * and a connection routed to it meanwhile must still be answered. `serve` passes
   * --shutdown-delay; 0 or absent closes them as soon as leadership is given up.
   */
  readonly drainMs?: number;
}

/**
 * Composition root of `serve`: Kubernetes client → cluster trust → controller, started when this
 * replica leads (or at once without leader election). Process concerns (signals, env) stay with
 * the caller.
 */
export async function startService(
  config: ServiceConfig,
  logger: Logger,
  kubeOverride?: KubePort,
): Promise<Service> {
  const kube = kubeOverride ?? createKubePort(loadKubeConfig(config.kube));
  let leading = false;
  // Metrics are created before the controller they read from; filled in below.
  const refs: { controller?: ReleaseController | CompanionController } = {};
  const metrics = createMetrics({
    isLeader: () => leading,
    reconcileQueueDepth: () => refs.controller?.queueDepth ?? 0,
    rechecks: () => refs.controller?.pendingRechecks() ?? [],
  });
  // Registry clients by access: each verification reads the cluster's pull secret and Proxy and
  // takes the client (keep-alive pool, tokens) for those, made once per distinct configuration.
  // As many requests in flight as the payload check verifies components at once (its default,
  // 16, as `verify-payload`): at the client's own default of 4 the check ran 4 at a time.
  const registry = new RegistryClientPool({
    insecureRegistries: config.insecureRegistries,
    maxConcurrentRequests: DEFAULT_COMPONENT_CONCURRENCY,
  });
  // The signature ConfigMaps grow with every release whose signatures are cached: kept by a
  // watch (started at the first verification) instead of listed whole for each one.
  const signatureConfigMaps = new WatchedSignatureConfigMaps(
    kube,
    config.signatureNamespace,
    SIGNATURE_CONFIGMAP_LABEL,
    logger,
  );
  const trust = new ClusterTrust({
    source: kube,
    signatureConfigMaps: () => signatureConfigMaps.list(),
    logger,
    metrics,
    registry,
    releaseMetadata: config.releaseMetadata,
    ...(config.payloadVerification !== 'off'
      ? { payload: { mode: config.payloadVerification } }
      : {}),
    rootOfTrust: config.rootOfTrust,
    rootOfTrustFromPayload: config.rootOfTrustFromPayload,
    signatureNamespace: config.signatureNamespace,
    caNamespace: config.caNamespace,
    trustedCaBundle: config.trustedCaBundle,
    http: config.proxy,
    budgetMs: config.budgetMs,
    requestTimeoutMs: config.requestTimeoutMs,
  });
  const shared = {
    kube,
    verifier: trust,
    logger,
    name: config.clusterVersionName,
    eventNamespace: config.eventNamespace,
    signatureCache: new SignatureCache(kube, config.signatureNamespace, config.signatureCacheName),
    statePublisher: new StatePublisher(
      kube,
      config.stateConfigMap.namespace,
      config.stateConfigMap.name,
      config.leaderElection.identity,
    ),
    recheckBaseMs: config.recheckBaseMs,
    recheckMaxMs: config.recheckMaxMs,
    reconcileBudgetMs: config.reconcileBudgetMs,
  };
  // Gate mode writes the CVO's own status fields; companion mode only its own conditions and its
  // record (in the state ConfigMap, beside the published state).
  const controller =
    config.mode === 'companion'
      ? new CompanionController({
          ...shared,
          record: new VerdictRecord(
            kube,
            config.stateConfigMap.namespace,
            config.stateConfigMap.name,
          ),
        })
      : new ReleaseController({ ...shared, featureGates: kube });
  refs.controller = controller;
  // The leader verifies the offered updates in the background for `cvo-verifier recommend`.
  const preverifier = new UpdatePreverifier({
    kube,
    verifier: trust,
    logger,
    clusterVersionName: config.clusterVersionName,
    namespace: config.stateConfigMap.namespace,
    identity: config.leaderElection.identity,
  });
  if (config.mode === 'companion' && config.http?.webhookVerifyMode !== 'enforce')
    logger.warn(
      'companion mode without --webhook-verify-mode enforce gates nothing: verdicts are recorded, updates are not blocked',
    );
  logger.info('starting cvo-update-verifier', {
    mode: config.mode,
    api: kube.describe(),
    rootOfTrust: `${config.rootOfTrust.namespace}/${config.rootOfTrust.name}`,
    leaderElection: config.leaderElection.enabled,
  });

  let transition: Promise<void> = Promise.resolve();
  const elector = config.leaderElection.enabled
    ? new LeaderElector({
        kube,
        ...config.leaderElection,
        onStartedLeading: () => {
          leading = true;
          logger.info('became leader', { identity: config.leaderElection.identity });
          preverifier.start();
          transition = transition
            .then(() => controller.start())
            .catch((err: unknown) => {
              logger.error('controller failed to start', { error: String(err) });
            });
        },
        onStoppedLeading: () => {
          leading = false;
          logger.warn('stopped leading', { identity: config.leaderElection.identity });
          const preverifierStopped = preverifier.stop();
          transition = transition.then(() => controller.stop()).then(() => preverifierStopped);
        },
        onError: (err) => {
          logger.warn('leader election error', { error: String(err) });
        },
      })
    : undefined;
  if (elector) elector.start();
  else {
    leading = true;
    await controller.start();
    preverifier.start();
  }
  let stopping = false;
  // Ready only once every HTTP server listens: the health server starts first, and a probe that
  // passed before the webhook's port was open would send the API server to a closed port.
  let serving = false;
  const isReady = (): { ready: boolean; reason: string } => {
    // A stopping replica must leave the Service's endpoints while it still answers (the drain).
    if (stopping) return { ready: false, reason: 'shutting down' };
    if (!serving) return { ready: false, reason: 'starting the HTTP servers' };
    if (leading) {
      return controller.isSynced()
        ? { ready: true, reason: 'leading; ClusterVersion watch synced' }
        : { ready: false, reason: 'leading; waiting for the ClusterVersion watch to sync' };
    }
    if (elector === undefined) return { ready: false, reason: 'starting' };
    return elector.inContact
      ? { ready: true, reason: 'standby; in contact with the API server' }
      : {
          ready: false,
          reason: 'standby; the API server has not answered within the lease duration',
        };
  };
  const { servers, ports } =
    config.http === undefined
      ? { servers: [], ports: {} }
      : await startHttp(config, config.http, { logger, metrics, kube, trust, isReady });
  serving = true;
  return {
    controller,
    elector,
    kube,
    metrics,
    ports,
    isReady,
    isLeader: () => leading,
    async stop(options: StopOptions = {}) {
      stopping = true;
      const drainMs = servers.length > 0 ? (options.drainMs ?? 0) : 0;
      // The drain runs beside the Lease release: the servers close drainMs after the call, or
      // when leadership has been given up if that takes longer.
      let drained: Promise<void> = Promise.resolve();
      if (drainMs > 0) {
        logger.info('draining: the HTTP servers keep answering before they close', {
          delayMs: drainMs,
        });
        drained = sleep(drainMs);
        for (const server of servers) server.drain();
      }
      if (elector) await elector.stop();
      await transition;
      await controller.stop();
      await preverifier.stop();
      // The webhook verifies with the trust sources and registry clients: closed only after it.
      await drained;
      await Promise.all(servers.map((server) => server.close()));
      await trust.close();
      await signatureConfigMaps.stop();
      await registry.close();
      logger.info('stopped');
    },
  };
}

/** An HTTP server of the service: `drain()` when stopping begins, `close()` when it ends. */
interface DrainableServer {
  drain(): void;
  close(): Promise<void>;
}

/**
 * Returns what starts a server's drain: from then on every response says `Connection: close` and
 * its connection is closed once the response is sent. A client that kept a connection open to
 * this Pod (the API server's keep-alive connections, pinned by conntrack to this endpoint after
 * kube-proxy has dropped it) then opens its next one through the Service to a ready replica,
 * instead of finding it cut when the drain ends.
 */
function closeConnectionsAfterResponse(server: Server): () => void {
  let draining = false;
  server.prependListener('request', (_req, res) => {
    if (draining) res.setHeader('connection', 'close');
  });
  return () => {
    draining = true;
  };
}

interface HttpDeps {
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
  readonly kube: KubePort;
  readonly trust: ClusterTrust;
  readonly isReady: () => { ready: boolean; reason: string };
}

/**
 * Webhook verifications in flight at once; more wait for a permit within their budget. Each may
 * read up to nine signatures per store and a registry, so this bounds what a flood of reviews
 * (from anyone who reaches the port) can make the service fetch.
 */
const MAX_CONCURRENT_WEBHOOK_VERIFICATIONS = 4;

/** Starts the probes/metrics server and, with TLS files, the webhook and verify API server. */
async function startHttp(
  config: ServiceConfig,
  http: HttpConfig,
  deps: HttpDeps,
): Promise<{
  servers: DrainableServer[];
  ports: { health?: number; webhook?: number };
}> {
  const { logger, metrics, kube, trust } = deps;
  const servers: DrainableServer[] = [];
  const ports: { health?: number; webhook?: number } = {};
  const health = createHealthHandler({ live: () => true, ready: deps.isReady, metrics });
  const healthServer = await new Promise<Server>((resolve, reject) => {
    const server = createServer(health);
    server.once('error', reject);
    server.listen(http.healthPort, http.bindAddress, () => {
      resolve(server);
    });
  });
  ports.health = (healthServer.address() as AddressInfo).port;
  servers.push({
    drain: closeConnectionsAfterResponse(healthServer),
    close: () =>
      new Promise<void>((resolve) => {
        healthServer.closeAllConnections();
        healthServer.close(() => {
          resolve();
        });
      }),
  });
  if (http.tls !== undefined) {
    // The webhook stack (express, the admission review, the TLS server) is loaded only here: a
    // replica without serving certificates never holds it.
    const [{ createWebhookApp }, { startTlsServer }] = await Promise.all([
      import('./http/app.js'),
      import('./http/tls-server.js'),
    ]);
    const webhook = createWebhookApp({
      logger,
      metrics,
      admission: {
        mode: http.webhookVerifyMode,
        budgetMs: http.webhookBudgetMs,
        // Trust comes from the cluster, never from the AdmissionReview: the live ClusterVersion's
        // signatureStores and history, the root-of-trust ConfigMap, the cluster's policies.
        // Companion mode: the webhook is the gate (the CVO accepts what the admin asks for), so
        // it checks the payload too and verifies forced edits to warn with the risk accepted.
        companion: config.mode === 'companion',
        verify: async (image, signal, force) => {
          const live = await kube.getClusterVersion(config.clusterVersionName);
          // The edit under review decides what is requested and whether it is forced (whether
          // the payload is read after a failed verification); the trust stays the cluster's.
          const reviewed = {
            ...live,
            spec: { ...live.spec, desiredUpdate: { ...live.spec.desiredUpdate, image, force } },
          };
          const { outcome, payload } = await trust.verify(image, reviewed, signal, {
            payload: config.mode === 'companion' && config.payloadVerification !== 'off',
            // Nothing of the release's metadata is used here: not read at all.
            releaseMetadata: false,
          });
          return {
            verified: outcome.verified,
            message: outcome.message,
            ...(payload !== undefined
              ? {
                  payload: {
                    mode: payload.mode,
                    verified: payload.verified,
                    message: payload.message,
                  },
                }
              : {}),
          };
        },
        limiter: new Semaphore(MAX_CONCURRENT_WEBHOOK_VERIFICATIONS),
      },
      ...(http.verifyApi
        ? {
            verifyApi: {
              budgetMs: config.budgetMs,
              authenticate: (token: string) => kube.reviewToken(token),
              authorize: (user: { username: string; groups: string[] }) =>
                kube.canAccess(user, '/v1/verify', 'post'),
              verify: async (image: string, signal: AbortSignal) => {
                const cv = await kube.getClusterVersion(config.clusterVersionName);
                const { outcome, digest } = await trust.verify(image, cv, signal);
                return { image, digest, ...outcome };
              },
            },
          }
        : {}),
    });
    const tls: RunningTlsServer = await startTlsServer(webhook, {
      ...http.tls,
      host: http.bindAddress,
      port: http.webhookPort,
      ...(http.clientAuth !== undefined
        ? {
            clientCaFile: http.clientAuth.caFile,
            ...(http.clientAuth.names !== undefined ? { clientNames: http.clientAuth.names } : {}),
          }
        : {}),
      ...(http.tlsReloadIntervalMs !== undefined
        ? { reloadIntervalMs: http.tlsReloadIntervalMs }
        : {}),
      onReload: (ok, err) => {
        // The serving pair and, with client authentication, the client CA bundle.
        if (ok) logger.info('reloaded the webhook TLS files');
        else logger.warn('could not reload the webhook TLS files', { error: String(err) });
      },
    });
    ports.webhook = tls.port;
    servers.push({ drain: closeConnectionsAfterResponse(tls.server), close: () => tls.close() });
  }
  logger.info('serving HTTP', { bindAddress: http.bindAddress, ...ports });
  return { servers, ports };
}
