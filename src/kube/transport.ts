import type { RequestOptions } from 'node:https';
import { isDeepStrictEqual } from 'node:util';

import { KubeConfig } from '@kubernetes/client-node';
import type { DispatcherOptions, RequestContext } from '@kubernetes/client-node';
import { Agent, ProxyAgent } from 'undici';
import type { Dispatcher } from 'undici';

/**
 * How long an idle connection to the API server is kept for the next request. Below the API
 * server's own idle timeout (90 s in k8s.io/apiserver's secure serving) and the 60 s idle
 * timeout of common load balancers in front of it, so the client, not the server, closes an idle
 * connection and a request is never sent on one the server is closing.
 */
export const KUBE_KEEP_ALIVE_MS = 30_000;
/** TCP keep-alive probes start after this long idle (client-go's and client-node's 30 s). */
const TCP_KEEP_ALIVE_DELAY_MS = 30_000;

/**
 * A KubeConfig whose API requests and watches share one keep-alive dispatcher.
 *
 * @kubernetes/client-node 2.0.1 builds a new undici Agent in `applySecurityAuthentication`, that
 * is for every request, so each request opens a new TCP + TLS connection (~15 ms on loopback).
 * Here each request still gets its headers and TLS settings from the kubeconfig as the client
 * computes them (a token file or exec plugin is re-read, a CA or client certificate file
 * re-read), but the dispatcher is built once and reused for as long as those settings stay the
 * same; when they change (a rotated client certificate), the next request gets a new dispatcher
 * and the old one closes once its requests (a watch included) are done. A SOCKS proxy keeps the
 * client's own per-request connection (its connector is not exported).
 */
export class KeepAliveKubeConfig extends KubeConfig {
  private shared:
    { readonly options: DispatcherOptions; readonly dispatcher: Dispatcher } | undefined;

  /** A copy of `source`'s clusters, users, contexts and current context. */
  static from(source: KubeConfig): KeepAliveKubeConfig {
    const kc = new KeepAliveKubeConfig();
    kc.loadFromOptions({
      clusters: source.getClusters(),
      users: source.getUsers(),
      contexts: source.getContexts(),
      currentContext: source.getCurrentContext(),
    });
    return kc;
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    // The client's public path to the same settings it applies per request: headers from the
    // user's authenticator or token, TLS material from the cluster and user entries.
    const https: RequestOptions & { headers?: Record<string, unknown> } = {};
    await this.applyToHTTPSOptions(https);
    if (typeof https.auth === 'string') {
      context.setHeaderParam(
        'Authorization',
        `Basic ${Buffer.from(https.auth).toString('base64')}`,
      );
    }
    for (const [key, value] of Object.entries(https.headers ?? {})) {
      context.setHeaderParam(key, String(value));
    }
    const options = this.createDispatcherOptions(this.getCurrentCluster(), {
      ...(https.ca !== undefined ? { ca: https.ca } : {}),
      ...(https.cert !== undefined ? { cert: https.cert } : {}),
      ...(https.key !== undefined ? { key: https.key } : {}),
      ...(https.pfx !== undefined ? { pfx: https.pfx } : {}),
      ...(https.passphrase !== undefined ? { passphrase: https.passphrase } : {}),
      ...(https.rejectUnauthorized !== undefined
        ? { rejectUnauthorized: https.rejectUnauthorized }
        : {}),
      ...(https.servername !== undefined ? { servername: https.servername } : {}),
    });
    if (options.type === 'socks') {
      await super.applySecurityAuthentication(context);
      return;
    }
    context.setDispatcher(this.dispatcherFor(options));
  }

  /** Closes the shared dispatcher: requests in flight finish, idle connections close. */
  async close(): Promise<void> {
    const shared = this.shared;
    this.shared = undefined;
    await shared?.dispatcher.close();
  }

  private dispatcherFor(options: Exclude<DispatcherOptions, { type: 'socks' }>): Dispatcher {
    if (this.shared !== undefined && isDeepStrictEqual(this.shared.options, options)) {
      return this.shared.dispatcher;
    }
    const previous = this.shared?.dispatcher;
    const keepAlive = {
      keepAliveTimeout: KUBE_KEEP_ALIVE_MS,
      keepAliveMaxTimeout: KUBE_KEEP_ALIVE_MS,
    };
    let dispatcher: Dispatcher;
    switch (options.type) {
      case 'proxy':
        dispatcher = new ProxyAgent({
          uri: options.uri,
          requestTls: options.requestTls,
          connect: options.connect,
          ...keepAlive,
        });
        break;
      case 'agent':
        dispatcher = new Agent({ connect: options.connect, ...keepAlive });
        break;
      case 'none':
        // Plain HTTP, or HTTPS with the system's CAs and no client certificate.
        dispatcher = new Agent({
          connect: { keepAlive: true, keepAliveInitialDelay: TCP_KEEP_ALIVE_DELAY_MS },
          ...keepAlive,
        });
        break;
    }
    this.shared = { options, dispatcher };
    // Requests still running on the old settings (a watch) finish on their connections.
    previous?.close().catch(() => undefined);
    return dispatcher;
  }
}
