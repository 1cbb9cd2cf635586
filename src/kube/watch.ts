import type { Dispatcher } from 'undici';

import { KubeApiError, parseJsonObject, responseError, transportError } from './errors.js';
import { ResponseTooLargeError } from './transport.js';
import type { KubeTransport } from './transport.js';

export interface WatchHandlers<T> {
  /** An object seen for the first time, or with a new resourceVersion. */
  readonly onChange: (object: T) => void;
  /** An object deleted (a DELETED event, or gone from a relist). */
  readonly onDelete?: (object: T) => void;
  /** The watch failed; it starts again (with a fresh list) in `retryInMs`. */
  readonly onError?: (error: unknown, retryInMs: number) => void;
  /** A watch request was answered: events flow from here on. */
  readonly onConnect?: () => void;
}

export interface Watcher {
  /** Resolves once the first list and watch are established, or the first attempt failed. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Informer restarts after an error back off from this delay, doubling, up to the cap. */
export const WATCH_RESTART_BASE_MS = 500;
export const WATCH_RESTART_MAX_MS = 30_000;
/** An error after this long without one starts the backoff over. */
const WATCH_HEALTHY_RESET_MS = 60_000;
/**
 * A list is read whole: 64 MiB is far above any collection this service lists (one
 * ClusterVersion, a namespace's signature ConfigMaps) and bounds a runaway answer.
 */
export const MAX_LIST_BYTES = 64 * 1024 * 1024;
/** One watch event is one object (the API server stores at most 1.5 MiB each) and its envelope. */
export const MAX_WATCH_EVENT_BYTES = 8 * 1024 * 1024;
/**
 * A watch that sent nothing, not even a bookmark (about one a minute when asked for), for this
 * long is taken for a dead connection and opened again from the last resourceVersion.
 */
export const WATCH_IDLE_TIMEOUT_MS = 90_000;
/**
 * A watch the server closed this soon without an event waits the base delay before it is opened
 * again, so a server that closes every watch at once is not asked in a tight loop.
 */
const WATCH_MIN_LIFETIME_MS = 1_000;

interface KubeObject {
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly resourceVersion?: string;
  };
}

export interface InformerOptions<T> {
  readonly transport: KubeTransport;
  /** The collection's path, e.g. `/apis/config.openshift.io/v1/clusterversions`. */
  readonly path: string;
  /** The resource, for messages: `clusterversions`. */
  readonly resource: string;
  /** Added to the list and the watch requests (a labelSelector). */
  readonly query?: Readonly<Record<string, string>>;
  readonly handlers: WatchHandlers<T>;
  readonly now?: () => number;
  readonly maxListBytes?: number;
  readonly maxEventBytes?: number;
  readonly idleTimeoutMs?: number;
}

/** How one watch request ended without an error. */
type WatchEnd = { readonly kind: 'closed' | 'gone'; readonly events: number };

/** The idle watchdog fired. */
class WatchIdle extends Error {}

/**
 * An informer over one collection, with client-go's reflector semantics: list, then watch from the
 * list's resourceVersion (with bookmarks, which move it on while nothing changes); a watch the
 * server closes is opened again at once from the last resourceVersion; 410 Gone (the
 * resourceVersion was compacted away) relists; any other failure, an ERROR event included, is
 * reported through onError and retried with a relist after a capped exponential backoff.
 */
export function createInformer<T extends KubeObject>(options: InformerOptions<T>): Watcher {
  return new Informer(options);
}

class Informer<T extends KubeObject> implements Watcher {
  private readonly cache = new Map<string, T>();
  private resourceVersion = '';
  private stopped = true;
  private running: Promise<void> | undefined;
  private abort: AbortController | undefined;
  private wake: (() => void) | undefined;
  private delay = WATCH_RESTART_BASE_MS;
  private lastErrorAt = -Infinity;
  private readonly now: () => number;
  private readonly options: InformerOptions<T>;

  constructor(options: InformerOptions<T>) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  async start(): Promise<void> {
    if (this.running !== undefined) return;
    this.stopped = false;
    // A fresh start reports every object again, as an informer's initial list does.
    this.cache.clear();
    this.resourceVersion = '';
    let synced: () => void = () => undefined;
    const firstSync = new Promise<void>((resolve) => {
      synced = resolve;
    });
    this.running = this.run(synced);
    await firstSync;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    this.wake?.();
    await this.running;
    this.running = undefined;
  }

  private async run(synced: () => void): Promise<void> {
    // A watch found too old straight after the relist a 410 caused: a server answering so every
    // time is an error, backed off like one rather than asked again in a tight loop.
    let relistedForGone = false;
    while (!this.stopped) {
      const abort = new AbortController();
      this.abort = abort;
      try {
        if (this.resourceVersion === '') await this.list(abort.signal);
        const openedAt = this.now();
        const end = await this.watch(abort.signal, synced);
        if (end.kind === 'gone') {
          // The ERROR event itself is one of the events counted.
          if (relistedForGone && end.events <= 1)
            throw new KubeApiError(
              410,
              `watch ${this.options.resource}: 410 Gone for the resourceVersion a list just returned`,
            );
          relistedForGone = true;
          this.resourceVersion = '';
          continue;
        }
        relistedForGone = false;
        if (end.events === 0 && this.now() - openedAt < WATCH_MIN_LIFETIME_MS)
          await this.sleep(WATCH_RESTART_BASE_MS);
      } catch (err) {
        if (this.halted()) break;
        synced();
        relistedForGone = false;
        this.resourceVersion = '';
        // Consecutive failures back off; a watch that stayed healthy for a while starts over.
        const now = this.now();
        if (now - this.lastErrorAt > WATCH_HEALTHY_RESET_MS) this.delay = WATCH_RESTART_BASE_MS;
        this.lastErrorAt = now;
        const wait = this.delay;
        this.delay = Math.min(this.delay * 2, WATCH_RESTART_MAX_MS);
        this.options.handlers.onError?.(err, wait);
        await this.sleep(wait);
      }
    }
    synced();
  }

  /** stop() may have run during an await (a read TypeScript would narrow away). */
  private halted(): boolean {
    return this.stopped;
  }

  private async sleep(ms: number): Promise<void> {
    if (this.stopped) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = undefined;
  }

  private async list(signal: AbortSignal): Promise<void> {
    const what = `list ${this.options.resource}`;
    const limit = this.options.maxListBytes ?? MAX_LIST_BYTES;
    let res;
    try {
      res = await this.options.transport.request(
        {
          method: 'GET',
          path: this.options.path,
          ...(this.options.query !== undefined ? { query: this.options.query } : {}),
          signal,
        },
        limit,
      );
    } catch (err) {
      throw transportError(what, err);
    }
    if (res.status < 200 || res.status > 299) throw responseError(what, res.status, res.body);
    const list = parseJsonObject(what, res.body) as {
      metadata?: { resourceVersion?: unknown };
      items?: unknown;
    };
    if (!Array.isArray(list.items) && list.items !== undefined && list.items !== null)
      throw new KubeApiError(0, `${what}: the answer's items is not a list`);
    const items = ((list.items ?? []) as unknown[]).map((item) => this.checkObject(what, item));
    const keys = new Set(items.map((item) => keyOf(item)));
    for (const [key, old] of [...this.cache]) {
      if (!keys.has(key)) {
        this.cache.delete(key);
        this.options.handlers.onDelete?.(old);
      }
    }
    for (const item of items) this.upsert(item);
    const rv = list.metadata?.resourceVersion;
    this.resourceVersion = typeof rv === 'string' ? rv : '';
  }

  private async watch(signal: AbortSignal, synced: () => void): Promise<WatchEnd> {
    const what = `watch ${this.options.resource}`;
    let res: Dispatcher.ResponseData;
    try {
      res = await this.options.transport.stream({
        method: 'GET',
        path: this.options.path,
        query: {
          ...this.options.query,
          watch: 'true',
          allowWatchBookmarks: 'true',
          ...(this.resourceVersion !== '' ? { resourceVersion: this.resourceVersion } : {}),
        },
        signal,
      });
    } catch (err) {
      throw transportError(what, err);
    }
    if (res.statusCode === 410) {
      await res.body.dump();
      return { kind: 'gone', events: 0 };
    }
    if (res.statusCode !== 200) {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (size < 64 * 1024) chunks.push(chunk);
        size += chunk.length;
      }
      throw responseError(what, res.statusCode, Buffer.concat(chunks));
    }
    this.options.handlers.onConnect?.();
    synced();

    const body = res.body;
    const idleMs = this.options.idleTimeoutMs ?? WATCH_IDLE_TIMEOUT_MS;
    let idle: NodeJS.Timeout | undefined;
    const resetIdle = (): void => {
      if (idle !== undefined) clearTimeout(idle);
      idle = setTimeout(() => body.destroy(new WatchIdle()), idleMs);
    };
    const maxLine = this.options.maxEventBytes ?? MAX_WATCH_EVENT_BYTES;
    let pending: Buffer[] = [];
    let pendingSize = 0;
    let events = 0;
    try {
      resetIdle();
      for await (const chunk of body as AsyncIterable<Buffer>) {
        resetIdle();
        let start = 0;
        for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
          const part = chunk.subarray(start, nl);
          start = nl + 1;
          if (pendingSize + part.length > maxLine) throw new ResponseTooLargeError(maxLine);
          const line = pendingSize > 0 ? Buffer.concat([...pending, part]) : part;
          pending = [];
          pendingSize = 0;
          if (line.length === 0) continue;
          events++;
          if (this.event(what, line) === 'gone') {
            body.destroy();
            return { kind: 'gone', events };
          }
        }
        const rest = chunk.subarray(start);
        if (pendingSize + rest.length > maxLine) throw new ResponseTooLargeError(maxLine);
        if (rest.length > 0) {
          pending.push(rest);
          pendingSize += rest.length;
        }
      }
      // A clean end (the server's watch timeout); a cut-off last line is dropped, and the watch
      // resumes from the last whole event.
      return { kind: 'closed', events };
    } catch (err) {
      if (err instanceof WatchIdle) return { kind: 'closed', events };
      body.destroy();
      if (err instanceof ResponseTooLargeError)
        throw new KubeApiError(0, `${what}: an event is larger than ${String(maxLine)} bytes`);
      if (err instanceof KubeApiError) throw err;
      throw transportError(what, err);
    } finally {
      if (idle !== undefined) clearTimeout(idle);
    }
  }

  /** Applies one watch event; 'gone' when the server says the resourceVersion is too old. */
  private event(what: string, line: Buffer): 'gone' | undefined {
    const event = parseJsonObject(what, line) as { type?: unknown; object?: unknown };
    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED': {
        const object = this.checkObject(what, event.object);
        this.upsert(object);
        this.advance(object);
        return undefined;
      }
      case 'DELETED': {
        const object = this.checkObject(what, event.object);
        const key = keyOf(object);
        if (this.cache.delete(key)) this.options.handlers.onDelete?.(object);
        this.advance(object);
        return undefined;
      }
      case 'BOOKMARK':
        // Only metadata.resourceVersion is meaningful in a bookmark.
        this.advance(this.checkObject(what, event.object));
        return undefined;
      case 'ERROR': {
        const status = (
          typeof event.object === 'object' && event.object !== null ? event.object : {}
        ) as { code?: unknown; message?: unknown };
        const code = typeof status.code === 'number' ? status.code : 0;
        if (code === 410) return 'gone';
        const message = typeof status.message === 'string' ? status.message : 'an ERROR event';
        throw new KubeApiError(code, `${what}: ${String(code)} ${message.slice(0, 4096)}`);
      }
      default:
        throw new KubeApiError(0, `${what}: an event of unknown type`);
    }
  }

  private checkObject(what: string, object: unknown): T {
    if (
      typeof object !== 'object' ||
      object === null ||
      Array.isArray(object) ||
      typeof (object as KubeObject).metadata !== 'object'
    )
      throw new KubeApiError(0, `${what}: an object without metadata`);
    return object as T;
  }

  private advance(object: T): void {
    const rv = object.metadata?.resourceVersion;
    if (typeof rv === 'string' && rv !== '') this.resourceVersion = rv;
  }

  private upsert(object: T): void {
    const key = keyOf(object);
    const old = this.cache.get(key);
    this.cache.set(key, object);
    const rv = object.metadata?.resourceVersion;
    if (old !== undefined && rv !== undefined && old.metadata?.resourceVersion === rv) return;
    this.options.handlers.onChange(object);
  }
}

function keyOf(object: KubeObject): string {
  return `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
}
