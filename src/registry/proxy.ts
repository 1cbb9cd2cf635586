import { BlockList, isIP } from 'node:net';
import { rootCertificates } from 'node:tls';

import { Agent, Dispatcher, ProxyAgent } from 'undici';

/**
 * Proxies as a cluster's `Proxy` object (status.httpProxy, httpsProxy, noProxy) or the
 * HTTP_PROXY / HTTPS_PROXY / NO_PROXY environment variables give them. Proxy URLs may carry
 * `user:password@`: they are secrets (see {@link describeProxySettings}).
 */
export interface ProxySettings {
  readonly httpProxy?: string;
  readonly httpsProxy?: string;
  readonly noProxy?: string;
}

/** Chooses the proxy for a request URL; undefined to connect directly. */
export type ProxyFunc = (url: URL) => URL | undefined;

interface Matcher {
  match(host: string, port: string, ip: string | undefined): boolean;
}

/**
 * The proxy selection of Go's golang.org/x/net/http/httpproxy (Config.ProxyFunc), which the
 * cluster-version operator builds its transport from (pkg/cvo/egress.go getTransport): https URLs
 * use httpsProxy, http URLs httpProxy; `localhost` and loopback addresses are never proxied;
 * noProxy is a comma-separated list of `*`, IP addresses and CIDRs, `host`, `.host` and `*.host`
 * (each optionally with `:port`), a domain matching its subdomains too. A proxy without a scheme
 * is taken as `http://`; one that still does not parse is ignored, as Go ignores it.
 */
export function createProxyFunc(settings: ProxySettings): ProxyFunc {
  const httpProxy = parseProxy(settings.httpProxy);
  const httpsProxy = parseProxy(settings.httpsProxy);
  const { ipMatchers, domainMatchers } = parseNoProxy(settings.noProxy ?? '');
  return (url) => {
    const proxy =
      url.protocol === 'https:' ? httpsProxy : url.protocol === 'http:' ? httpProxy : undefined;
    if (proxy === undefined) return undefined;
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const port = url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80';
    if (!useProxy(host.toLowerCase(), port, ipMatchers, domainMatchers)) return undefined;
    return proxy;
  };
}

function parseProxy(value: string | undefined): URL | undefined {
  if (value === undefined || value === '') return undefined;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url === undefined || url.host === '') {
    try {
      return new URL(`http://${value}`);
    } catch {
      return undefined;
    }
  }
  return url;
}

function useProxy(
  host: string,
  port: string,
  ipMatchers: readonly Matcher[],
  domainMatchers: readonly Matcher[],
): boolean {
  if (host === '') return true;
  if (host === 'localhost') return false;
  const ip = isIP(host) !== 0 ? host : undefined;
  if (ip !== undefined && isLoopbackIp(ip)) return false;
  if (ip !== undefined && ipMatchers.some((m) => m.match(host, port, ip))) return false;
  return !domainMatchers.some((m) => m.match(host, port, ip));
}

function isLoopbackIp(ip: string): boolean {
  const loopback = new BlockList();
  loopback.addSubnet('127.0.0.0', 8, 'ipv4');
  loopback.addAddress('::1', 'ipv6');
  return loopback.check(ip, isIP(ip) === 6 ? 'ipv6' : 'ipv4');
}

function parseNoProxy(noProxy: string): { ipMatchers: Matcher[]; domainMatchers: Matcher[] } {
  const all: Matcher = { match: () => true };
  const ipMatchers: Matcher[] = [];
  const domainMatchers: Matcher[] = [];
  for (const raw of noProxy.split(',')) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return { ipMatchers: [all], domainMatchers: [all] };
    const cidr = parseCidr(entry);
    if (cidr !== undefined) {
      ipMatchers.push({ match: (_h, _p, ip) => ip !== undefined && cidr.check(ip, ipFamily(ip)) });
      continue;
    }
    const split = splitHostPort(entry) ?? { host: entry, port: '' };
    const port = split.port;
    let host = split.host;
    if (host === '') continue;
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    if (isIP(host) !== 0) {
      const listed = new BlockList();
      listed.addAddress(host, ipFamily(host));
      ipMatchers.push({
        match: (_h, p, ip) =>
          ip !== undefined && listed.check(ip, ipFamily(ip)) && (port === '' || port === p),
      });
      continue;
    }
    if (host.startsWith('*.')) host = host.slice(1);
    const matchHost = !host.startsWith('.');
    const suffix = matchHost ? `.${host}` : host;
    domainMatchers.push({
      match: (h, p, ip) =>
        ip === undefined &&
        (h.endsWith(suffix) || (matchHost && h === suffix.slice(1))) &&
        (port === '' || port === p),
    });
  }
  return { ipMatchers, domainMatchers };
}

function ipFamily(ip: string): 'ipv4' | 'ipv6' {
  return isIP(ip) === 6 ? 'ipv6' : 'ipv4';
}

/** Go's net.ParseCIDR: `address/prefix`, the prefix within the family's bits. */
function parseCidr(entry: string): BlockList | undefined {
  const slash = entry.indexOf('/');
  if (slash === -1) return undefined;
  const address = entry.slice(0, slash);
  const bits = entry.slice(slash + 1);
  const family = isIP(address);
  if (family === 0 || !/^\d{1,3}$/.test(bits)) return undefined;
  const prefix = Number(bits);
  if (prefix > (family === 6 ? 128 : 32)) return undefined;
  const list = new BlockList();
  list.addSubnet(address, prefix, family === 6 ? 'ipv6' : 'ipv4');
  return list;
}

/** Go's net.SplitHostPort for `host:port` and `[v6]:port`; undefined without a port. */
function splitHostPort(entry: string): { host: string; port: string } | undefined {
  if (entry.startsWith('[')) {
    const end = entry.indexOf(']');
    if (end === -1 || entry[end + 1] !== ':') return undefined;
    return { host: entry.slice(0, end + 1), port: entry.slice(end + 2) };
  }
  const colon = entry.lastIndexOf(':');
  if (colon === -1 || entry.indexOf(':') !== colon) return undefined;
  return { host: entry.slice(0, colon), port: entry.slice(colon + 1) };
}

/** A proxy URL fit for messages and logs: scheme, host and port only. */
export function describeProxyUrl(url: URL): string {
  return `${url.protocol}//${url.host}`;
}

/** Proxy settings fit for logs: each proxy's scheme, host and port only; noProxy as is. */
export function describeProxySettings(settings: ProxySettings): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of ['httpProxy', 'httpsProxy'] as const) {
    const url = parseProxy(settings[key]);
    if (url !== undefined) out[key] = describeProxyUrl(url);
  }
  if (settings.noProxy !== undefined && settings.noProxy !== '') out.noProxy = settings.noProxy;
  return out;
}

export interface ProxyDispatcherOptions {
  /** No proxy at all when undefined or when neither httpProxy nor httpsProxy is set. */
  readonly proxy?: ProxySettings;
  /** PEM CA certificates trusted in addition to the system's, for origins and proxies alike. */
  readonly extraCa?: string;
  readonly keepAliveTimeoutMs?: number;
  /** Connections per origin. */
  readonly connections?: number;
}

/**
 * One dispatcher that connects directly or through the proxy {@link createProxyFunc} chooses for
 * each request's origin: HTTPS origins through a CONNECT tunnel, plain HTTP origins as
 * absolute-form requests to the proxy (as Go's net/http does). An `https://` proxy is spoken to
 * over TLS with the same CAs.
 */
export function createProxyDispatcher(options: ProxyDispatcherOptions = {}): Dispatcher {
  const tls = options.extraCa !== undefined ? { ca: [...rootCertificates, options.extraCa] } : {};
  const pool = {
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 10_000,
    connections: options.connections ?? 16,
  };
  const direct = new Agent({ ...pool, connect: tls });
  const proxy = options.proxy;
  if (proxy === undefined || ((proxy.httpProxy ?? '') === '' && (proxy.httpsProxy ?? '') === '')) {
    return direct;
  }
  return new ProxyRoutingDispatcher(direct, createProxyFunc(proxy), (uri) => {
    return new ProxyAgent({ ...pool, uri, requestTls: tls, proxyTls: tls });
  });
}

/** Routes each request to the direct agent or to the agent of its proxy. */
class ProxyRoutingDispatcher extends Dispatcher {
  readonly #direct: Dispatcher;
  readonly #proxyFor: ProxyFunc;
  readonly #create: (uri: string) => Dispatcher;
  readonly #viaProxy = new Map<string, Dispatcher>();

  constructor(direct: Dispatcher, proxyFor: ProxyFunc, create: (uri: string) => Dispatcher) {
    super();
    this.#direct = direct;
    this.#proxyFor = proxyFor;
    this.#create = create;
  }

  override dispatch(
    options: Dispatcher.DispatchOptions,
    handler: Dispatcher.DispatchHandler,
  ): boolean {
    const origin = options.origin instanceof URL ? options.origin : new URL(options.origin ?? '');
    const proxy = this.#proxyFor(origin);
    if (proxy === undefined) return this.#direct.dispatch(options, handler);
    let agent = this.#viaProxy.get(proxy.href);
    if (agent === undefined) {
      agent = this.#create(proxy.href);
      this.#viaProxy.set(proxy.href, agent);
    }
    return agent.dispatch(options, handler);
  }

  override close(callback: () => void): void;
  override close(): Promise<void>;
  override close(callback?: () => void): Promise<void> | undefined {
    const done = Promise.all(this.#all().map((d) => d.close())).then(() => undefined);
    if (callback === undefined) return done;
    void done.then(callback, callback);
    return undefined;
  }

  override destroy(err: Error | null, callback: () => void): void;
  override destroy(callback: () => void): void;
  override destroy(err?: Error | null): Promise<void>;
  override destroy(
    first?: Error | null | (() => void),
    second?: () => void,
  ): Promise<void> | undefined {
    const err = typeof first === 'function' ? null : (first ?? null);
    const callback = typeof first === 'function' ? first : second;
    const done = Promise.all(this.#all().map((d) => d.destroy(err))).then(() => undefined);
    if (callback === undefined) return done;
    void done.then(callback, callback);
    return undefined;
  }

  #all(): Dispatcher[] {
    return [this.#direct, ...this.#viaProxy.values()];
  }
}
