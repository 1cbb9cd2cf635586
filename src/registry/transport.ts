import { isIP } from 'node:net';

import { VerifyError } from '../errors.js';

/** Host names under which Docker Hub is known; its API lives on registry-1.docker.io. */
export const DOCKER_HUB_ALIASES: readonly string[] = [
  'docker.io',
  'index.docker.io',
  'registry-1.docker.io',
  'registry.hub.docker.com',
];
const DOCKER_HUB_API_HOST = 'registry-1.docker.io';

/** `docker.io` for any Docker Hub alias, else the host (with port) lowercased. */
export function canonicalRegistryHost(host: string): string {
  const lower = host.toLowerCase();
  return DOCKER_HUB_ALIASES.includes(lower) ? 'docker.io' : lower;
}

/** True for `localhost`, 127.0.0.0/8 and ::1 (with or without brackets and port). */
export function isLoopbackHost(host: string): boolean {
  let hostname: string;
  try {
    // A bare IPv6 address has no port; the URL parser wants it in brackets.
    hostname = new URL(`http://${isIP(host) === 6 ? `[${host}]` : host}`).hostname;
  } catch {
    return false;
  }
  const bare = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1';
  return false;
}

/**
 * Whether `host` (`name[:port]`) is listed in `insecureRegistries`: an entry with a port matches
 * that port only, an entry without one matches the host on any port.
 */
export function isInsecureRegistry(host: string, insecureRegistries: readonly string[]): boolean {
  let url: URL;
  try {
    url = new URL(`http://${host}`);
  } catch {
    return false;
  }
  return insecureRegistries.some((entry) => {
    let listed: URL;
    try {
      listed = new URL(`http://${entry.trim()}`);
    } catch {
      return false;
    }
    return listed.port === '' ? listed.hostname === url.hostname : listed.host === url.host;
  });
}

/** Plain HTTP is allowed only to loopback hosts and to hosts listed as insecure. */
export function isPlainHttpAllowed(host: string, insecureRegistries: readonly string[]): boolean {
  return isLoopbackHost(host) || isInsecureRegistry(host, insecureRegistries);
}

/**
 * The base URL of the distribution API for a registry host: HTTPS, except plain HTTP for
 * loopback and insecure-listed hosts (they are spoken to over HTTP only, there is no TLS
 * attempt first). Docker Hub aliases go to registry-1.docker.io.
 */
export function registryBaseUrl(host: string, insecureRegistries: readonly string[]): URL {
  const canonical = canonicalRegistryHost(host);
  const apiHost = canonical === 'docker.io' ? DOCKER_HUB_API_HOST : canonical;
  const scheme = isPlainHttpAllowed(apiHost, insecureRegistries) ? 'http' : 'https';
  try {
    return new URL(`${scheme}://${apiHost}/`);
  } catch (err) {
    throw new VerifyError('INVALID_REFERENCE', `invalid registry host ${JSON.stringify(host)}`, {
      cause: err,
    });
  }
}

/**
 * Checks a URL the client is about to use but did not choose itself (a token realm, a redirect
 * target): http(s) only, and plain HTTP only where {@link isPlainHttpAllowed}.
 */
export function assertTransportAllowed(
  url: URL,
  insecureRegistries: readonly string[],
  what: string,
): void {
  if (url.protocol === 'https:') return;
  if (url.protocol !== 'http:') {
    throw new VerifyError(
      'REDIRECT',
      `${what}: unsupported URL scheme ${JSON.stringify(url.protocol)}`,
    );
  }
  if (!isPlainHttpAllowed(url.host, insecureRegistries)) {
    throw new VerifyError(
      'INSECURE_TRANSPORT',
      `${what}: refusing plain HTTP to ${url.host}, which is neither a loopback host nor listed ` +
        'in insecureRegistries',
    );
  }
}
