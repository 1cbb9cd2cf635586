/**
 * The part of a core/v1 ConfigMap this store reads, in its own terms: whoever lists them (the
 * service's Kubernetes client) passes its objects, which have this shape.
 */
export interface SignatureConfigMap {
  readonly metadata: { readonly name?: string; readonly namespace?: string };
  readonly binaryData?: Readonly<Record<string, string>>;
}
import type { SignatureStore, StoreEvent } from './store.js';

/** Label the CVO reads signature ConfigMaps by (in openshift-config-managed). */
export const SIGNATURE_CONFIGMAP_LABEL = 'release.openshift.io/verification-signatures';

/** `sha256:<hex>` → `sha256-<hex>-`: the binaryData key prefix of its signatures. */
export function configMapSignaturePrefix(digest: string): string {
  return `${digest.replace(':', '-')}-`;
}

/**
 * Signatures kept in ConfigMaps (binaryData keys `sha256-<hex>-<i>`), as oc adm release mirror
 * and the CVO write them for disconnected clusters. The ConfigMaps are listed when the store is
 * read, so new ones count without a restart.
 */
export class ConfigMapSignatureStore implements SignatureStore {
  private readonly list: () => Promise<SignatureConfigMap[]>;
  private readonly name: string;

  constructor(list: () => Promise<SignatureConfigMap[]>, name: string) {
    this.list = list;
    this.name = name;
  }

  describe(): string {
    return this.name;
  }

  async *signatures(digest: string, signal: AbortSignal): AsyncIterable<StoreEvent> {
    const prefix = configMapSignaturePrefix(digest);
    let configMaps: SignatureConfigMap[];
    try {
      configMaps = await this.list();
    } catch (err) {
      const { VerifyError } = await import('../errors.js');
      yield {
        kind: 'error',
        location: this.name,
        index: 0,
        error: new VerifyError('STORE_ERROR', `${this.name}: ${(err as Error).message}`, {
          cause: err,
        }),
      };
      yield { kind: 'end', reason: 'exhausted', detail: 'could not list signature ConfigMaps' };
      return;
    }
    let found = 0;
    for (const cm of [...configMaps].sort((a, b) =>
      (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''),
    )) {
      const keys = Object.keys(cm.binaryData ?? {})
        .filter((k) => k.startsWith(prefix) && /^\d+$/.test(k.slice(prefix.length)))
        .sort((a, b) => Number(a.slice(prefix.length)) - Number(b.slice(prefix.length)));
      for (const key of keys) {
        if (signal.aborted) {
          yield { kind: 'end', reason: 'aborted', detail: 'stopped' };
          return;
        }
        const body = Buffer.from(cm.binaryData?.[key] ?? '', 'base64');
        if (body.length === 0) continue;
        found++;
        yield {
          kind: 'signature',
          location: `configmap ${cm.metadata.namespace ?? ''}/${cm.metadata.name ?? ''} ${key}`,
          index: found,
          body: new Uint8Array(body),
        };
      }
    }
    yield {
      kind: 'end',
      reason: found === 0 ? 'not-found' : 'exhausted',
      detail: `${found} signature(s) in ${configMaps.length} ConfigMap(s)`,
    };
  }
}
