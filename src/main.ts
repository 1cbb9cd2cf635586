import { hostname } from 'node:os';

import { ClusterTrust } from './controller/cluster-trust.js';
import { ReleaseController } from './controller/controller.js';
import { LeaderElector } from './controller/leader-election.js';
import { SignatureCache } from './controller/signature-cache.js';
import { StatePublisher } from './controller/state-publisher.js';
import { createKubePort, loadKubeConfig } from './kube/client.js';
import type { KubeConfigOptions, KubePort } from './kube/client.js';
import type { Logger } from './observability/logger.js';

/** Everything `cvo-verifier serve` can be told; defaults match OpenShift's names. */
export interface ServiceConfig {
  readonly kube: KubeConfigOptions;
  readonly clusterVersionName: string;
  readonly rootOfTrust: { readonly namespace: string; readonly name: string };
  readonly signatureNamespace: string;
  readonly caNamespace: string;
  readonly eventNamespace: string;
  readonly signatureCacheName: string;
  /** Where the leader publishes verdict evidence and re-check times (`cvo-verifier status`). */
  readonly stateConfigMap: { readonly namespace: string; readonly name: string };
  readonly leaderElection: {
    readonly enabled: boolean;
    readonly namespace: string;
    readonly name: string;
    readonly identity: string;
    readonly leaseDurationMs: number;
    readonly renewIntervalMs: number;
    readonly retryIntervalMs: number;
  };
  readonly budgetMs: number;
  readonly requestTimeoutMs: number;
  readonly recheckBaseMs: number;
  readonly recheckMaxMs: number;
  readonly proxy: {
    readonly httpProxy?: string;
    readonly httpsProxy?: string;
    readonly noProxy?: string;
  };
}

export function defaultServiceConfig(kube: KubeConfigOptions): ServiceConfig {
  return {
    kube,
    clusterVersionName: 'version',
    rootOfTrust: { namespace: 'openshift-config-managed', name: 'release-verification' },
    signatureNamespace: 'openshift-config-managed',
    caNamespace: 'openshift-config',
    eventNamespace: 'openshift-cluster-version',
    signatureCacheName: 'cvo-update-verifier-signatures',
    stateConfigMap: { namespace: 'cvo-update-verifier', name: 'cvo-update-verifier-state' },
    leaderElection: {
      enabled: true,
      namespace: 'cvo-update-verifier',
      name: 'cvo-update-verifier-leader',
      identity: `${hostname()}-${process.pid}`,
      leaseDurationMs: 15_000,
      renewIntervalMs: 5_000,
      retryIntervalMs: 2_000,
    },
    budgetMs: 30_000,
    requestTimeoutMs: 10_000,
    recheckBaseMs: 30_000,
    recheckMaxMs: 60 * 60_000,
    proxy: {},
  };
}

/** A running service: the controller while leading, and what stops it cleanly. */
export interface Service {
  readonly controller: ReleaseController;
  readonly elector: LeaderElector | undefined;
  readonly kube: KubePort;
  isLeader(): boolean;
  stop(): Promise<void>;
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
  const trust = new ClusterTrust({
    kube,
    rootOfTrust: config.rootOfTrust,
    signatureNamespace: config.signatureNamespace,
    caNamespace: config.caNamespace,
    trustedCaBundle: {
      namespace: 'openshift-config-managed',
      name: 'trusted-ca-bundle',
      key: 'ca-bundle.crt',
    },
    http: config.proxy,
    budgetMs: config.budgetMs,
    requestTimeoutMs: config.requestTimeoutMs,
  });
  const controller = new ReleaseController({
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
  });
  logger.info('starting cvo-update-verifier', {
    api: kube.describe(),
    rootOfTrust: `${config.rootOfTrust.namespace}/${config.rootOfTrust.name}`,
    leaderElection: config.leaderElection.enabled,
  });

  let leading = false;
  let transition: Promise<void> = Promise.resolve();
  const elector = config.leaderElection.enabled
    ? new LeaderElector({
        kube,
        ...config.leaderElection,
        onStartedLeading: () => {
          leading = true;
          logger.info('became leader', { identity: config.leaderElection.identity });
          transition = transition
            .then(() => controller.start())
            .catch((err: unknown) => {
              logger.error('controller failed to start', { error: String(err) });
            });
        },
        onStoppedLeading: () => {
          leading = false;
          logger.warn('stopped leading', { identity: config.leaderElection.identity });
          transition = transition.then(() => controller.stop());
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
  }
  return {
    controller,
    elector,
    kube,
    isLeader: () => leading,
    async stop() {
      if (elector) await elector.stop();
      await transition;
      await controller.stop();
      await trust.close();
      logger.info('stopped');
    },
  };
}
