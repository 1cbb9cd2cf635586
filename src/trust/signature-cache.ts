import { createHash } from 'node:crypto';

import pRetry, { AbortError } from 'p-retry';

import { KubeApiError } from '../kube/client.js';
import type { ConfigMapPort } from '../kube/client.js';
import type { ConfigMap } from '../kube/types.js';
import { configMapSignaturePrefix, SIGNATURE_CONFIGMAP_LABEL } from '../stores/configmap-store.js';

/** ConfigMaps are limited to 1 MiB; keep well below it. */
export const MAX_SIGNATURE_CACHE_BYTES = 768 * 1024;

/**
 * Persists signatures that verified into a labelled ConfigMap in openshift-config-managed, the
 * format the CVO reads as a signature store: a restarted or disconnected service then verifies
 * without reaching any store. Entries are merged; with `keep` (the digests the ClusterVersion
 * still names: history, desired, the requested update), a write also drops the entries of other
 * digests, so the cache holds what the cluster can still use (at most the 100 releases history
 * keeps) instead of growing to its cap and being rewritten whole, up to 768 KiB, for every
 * release verified. Keys it does not understand are kept. A full cache adds nothing more.
 * `serve` writes library-go's ConfigMap, `signatures-managed` (config/service-config.ts), which
 * the CVO's own persister replaces wholesale with the signatures it verified
 * (library-go pkg/verify/store/configmap/configmap.go:174-177): entries only this service
 * verified last until the CVO's next flush.
 */
export class SignatureCache {
  private readonly kube: ConfigMapPort;
  private readonly namespace: string;
  private readonly name: string;

  constructor(kube: ConfigMapPort, namespace: string, name: string) {
    this.kube = kube;
    this.namespace = namespace;
    this.name = name;
  }

  describe(): string {
    return `configmap ${this.namespace}/${this.name}`;
  }

  /**
   * Adds `signatures` for `digest` and, with `keep`, drops the entries of digests not in it;
   * returns how many were new. Conflicts are retried.
   */
  async persist(
    digest: string,
    signatures: readonly Uint8Array[],
    keep?: ReadonlySet<string>,
  ): Promise<number> {
    if (signatures.length === 0) return 0;
    return pRetry(() => this.persistOnce(digest, signatures, keep), {
      retries: 5,
      minTimeout: 50,
      maxTimeout: 1000,
      shouldRetry: ({ error }) =>
        error instanceof KubeApiError && (error.status === 409 || error.status >= 500),
    });
  }

  private async persistOnce(
    digest: string,
    signatures: readonly Uint8Array[],
    keep: ReadonlySet<string> | undefined,
  ): Promise<number> {
    const existing = await this.kube.getConfigMap(this.namespace, this.name);
    const cm: ConfigMap = existing ?? {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: this.name,
        namespace: this.namespace,
        labels: { [SIGNATURE_CONFIGMAP_LABEL]: '' },
      },
    };
    const binaryData = { ...(cm.binaryData ?? {}) };
    let removed = 0;
    if (keep !== undefined) {
      for (const key of Object.keys(binaryData)) {
        const named = digestOfKey(key);
        if (named !== undefined && named !== digest && !keep.has(named)) {
          // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- a copy built here
          delete binaryData[key];
          removed++;
        }
      }
    }
    const prefix = configMapSignaturePrefix(digest);
    const known = new Set(
      Object.entries(binaryData)
        .filter(([k]) => k.startsWith(prefix))
        .map(([, v]) => hash(Buffer.from(v, 'base64'))),
    );
    let size = Object.values(binaryData).reduce((n, v) => n + v.length, 0);
    let index = Object.keys(binaryData).filter((k) => k.startsWith(prefix)).length;
    let added = 0;
    for (const signature of signatures) {
      if (known.has(hash(signature))) continue;
      const encoded = Buffer.from(signature).toString('base64');
      if (size + encoded.length > MAX_SIGNATURE_CACHE_BYTES) break;
      index++;
      while (`${prefix}${index}` in binaryData) index++;
      binaryData[`${prefix}${index}`] = encoded;
      size += encoded.length;
      added++;
    }
    if (added === 0 && removed === 0) return 0;
    const next: ConfigMap = {
      ...cm,
      metadata: {
        ...cm.metadata,
        labels: { ...(cm.metadata.labels ?? {}), [SIGNATURE_CONFIGMAP_LABEL]: '' },
      },
      binaryData,
    };
    if (existing === undefined) {
      try {
        await this.kube.createConfigMap(this.namespace, next);
      } catch (err) {
        // Someone else created it first: merge into theirs on the retry.
        if (err instanceof KubeApiError && err.status === 409) throw err;
        throw err instanceof KubeApiError && err.status < 500 ? new AbortError(err) : err;
      }
    } else {
      await this.kube.replaceConfigMap(this.namespace, next);
    }
    return added;
  }
}

/**
 * The digest a `sha256-<hex>-<i>` key holds signatures of (library-go's persister counts from 0,
 * this cache from 1); undefined for any other key.
 */
function digestOfKey(key: string): string | undefined {
  const match = /^sha256-([0-9a-f]{64})-(?:0|[1-9][0-9]{0,5})$/.exec(key);
  return match?.[1] !== undefined ? `sha256:${match[1]}` : undefined;
}

function hash(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
