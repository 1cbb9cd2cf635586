import type { ConfigMap } from '../kube/types.js';
import type { WatchHandlers, Watcher } from '../kube/client.js';
import type { Logger } from '../observability/logger.js';
import type { SignatureConfigMap } from '../stores/configmap-store.js';

/** What {@link WatchedSignatureConfigMaps} needs of the Kubernetes API. */
export interface SignatureConfigMapSource {
  listConfigMaps(namespace: string, labelSelector: string): Promise<SignatureConfigMap[]>;
  watchConfigMaps(
    namespace: string,
    labelSelector: string,
    handlers: WatchHandlers<ConfigMap>,
  ): Watcher;
}

/**
 * The signature ConfigMaps (the CVO's in-cluster signature cache), kept by a watch instead of
 * listed for every verification: the list grows with every release whose signatures are cached
 * (up to the cache's 768 KiB), and reading it whole per reconcile was most of what a running
 * service allocated (issue 14: RSS 91 → 169 MiB over 300 releases, 122 MiB with eager GC).
 *
 * Only signatures come from here, never trust: each is verified against the root of trust like
 * a store's. A copy a few milliseconds behind the API server can only miss a signature just
 * written (the HTTP stores are read alongside) or hold one just removed (still a valid signature
 * by a trusted key). Until the watch has listed, and whenever it has failed and not yet listed
 * again, {@link list} asks the API server directly. The watch starts at the first list.
 */
export class WatchedSignatureConfigMaps {
  private readonly source: SignatureConfigMapSource;
  private readonly namespace: string;
  private readonly labelSelector: string;
  private readonly logger: Logger | undefined;
  private readonly configMaps = new Map<string, SignatureConfigMap>();
  private watcher: Watcher | undefined;
  /** The watch has listed and not failed since. */
  private current = false;
  private stopped = false;

  constructor(
    source: SignatureConfigMapSource,
    namespace: string,
    labelSelector: string,
    logger?: Logger,
  ) {
    this.source = source;
    this.namespace = namespace;
    this.labelSelector = labelSelector;
    this.logger = logger;
  }

  /** The signature ConfigMaps: the watch's copy when it is current, else a list. */
  async list(): Promise<SignatureConfigMap[]> {
    if (this.current) return [...this.configMaps.values()];
    this.startWatch();
    return await this.source.listConfigMaps(this.namespace, this.labelSelector);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.current = false;
    const watcher = this.watcher;
    this.watcher = undefined;
    await watcher?.stop();
    this.configMaps.clear();
  }

  private startWatch(): void {
    if (this.watcher !== undefined || this.stopped) return;
    const keyOf = (cm: ConfigMap): string => cm.metadata.name ?? '';
    this.watcher = this.source.watchConfigMaps(this.namespace, this.labelSelector, {
      onChange: (cm) => {
        // Only what the store reads: no managedFields or annotations kept.
        this.configMaps.set(keyOf(cm), {
          metadata: {
            ...(cm.metadata.name !== undefined ? { name: cm.metadata.name } : {}),
            ...(cm.metadata.namespace !== undefined ? { namespace: cm.metadata.namespace } : {}),
          },
          ...(cm.binaryData !== undefined ? { binaryData: cm.binaryData } : {}),
        });
      },
      onDelete: (cm) => {
        this.configMaps.delete(keyOf(cm));
      },
      onConnect: () => {
        // The informer answers onConnect after its list: the copy is whole from here on.
        if (!this.stopped) this.current = true;
      },
      onError: (err, retryInMs) => {
        this.current = false;
        this.logger?.warn('signature ConfigMap watch failed; listing them until it is back', {
          error: err instanceof Error ? err.message : String(err),
          retryInMs,
        });
      },
    });
    this.watcher.start().catch((err: unknown) => {
      this.current = false;
      this.logger?.warn('signature ConfigMap watch did not start; listing them instead', {
        error: err instanceof Error ? err.message : String(err),
      });
    });
  }
}
