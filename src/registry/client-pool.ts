import { createHash } from 'node:crypto';

import { RegistryClient } from './client.js';
import type { RegistryClientOptions } from './client.js';
import type { RegistryCredentials } from './credentials.js';
import { createProxyDispatcher } from './proxy.js';
import type { ProxySettings } from './proxy.js';

/** Distinct access configurations kept at once (they change when an admin edits one). */
export const MAX_POOLED_CLIENTS = 8;

/** How registries are reached for one verification: credentials, proxies and extra CAs. */
export interface RegistryAccess {
  /** Anonymous where none match. */
  readonly credentials?: RegistryCredentials;
  /** No proxy when undefined (or neither httpProxy nor httpsProxy is set). */
  readonly proxy?: ProxySettings;
  /** PEM CA certificates trusted in addition to the system's, for registries and proxies. */
  readonly extraCa?: string;
}

/**
 * Registry clients by access configuration: one client (its connection pool, challenges and
 * tokens) per distinct set of credentials, proxies and CAs, so a token fetched with one pull
 * secret is never sent once the secret has changed, and a verification reads the cluster's
 * access afresh without reconnecting when nothing changed. The least recently used client beyond
 * {@link MAX_POOLED_CLIENTS} is dropped, not closed: a verification may still hold it, and its
 * idle connections close on their own after the keep-alive timeout.
 */
export class RegistryClientPool {
  readonly #options: Omit<RegistryClientOptions, 'credentials' | 'dispatcher' | 'extraCa'>;
  readonly #clients = new Map<string, RegistryClient>();

  constructor(options: Omit<RegistryClientOptions, 'credentials' | 'dispatcher' | 'extraCa'> = {}) {
    this.#options = options;
  }

  /** The client for `access`, made on first use. */
  clientFor(access: RegistryAccess): RegistryClient {
    const key = accessKey(access);
    let client = this.#clients.get(key);
    if (client !== undefined) {
      // Most recently used last: Map keeps insertion order.
      this.#clients.delete(key);
      this.#clients.set(key, client);
      return client;
    }
    client = new RegistryClient({
      ...this.#options,
      ...(access.credentials !== undefined ? { credentials: access.credentials } : {}),
      // Owned by the client: closed by its close().
      ownedDispatcher: createProxyDispatcher({
        ...(access.proxy !== undefined ? { proxy: access.proxy } : {}),
        ...(access.extraCa !== undefined ? { extraCa: access.extraCa } : {}),
        connections: this.#options.maxConcurrentRequests,
      }),
    });
    this.#clients.set(key, client);
    for (const old of this.#clients.keys()) {
      if (this.#clients.size <= MAX_POOLED_CLIENTS) break;
      this.#clients.delete(old);
    }
    return client;
  }

  async close(): Promise<void> {
    const clients = [...this.#clients.values()];
    this.#clients.clear();
    await Promise.all(clients.map((c) => c.close()));
  }
}

/** A digest of the access configuration: never printed (it is derived from secrets). */
function accessKey(access: RegistryAccess): string {
  return createHash('sha256')
    .update(
      JSON.stringify([
        access.credentials?.fingerprint() ?? '',
        access.proxy?.httpProxy ?? '',
        access.proxy?.httpsProxy ?? '',
        access.proxy?.noProxy ?? '',
        access.extraCa ?? '',
      ]),
    )
    .digest('hex');
}
