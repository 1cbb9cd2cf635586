import { isIPv4, isIPv6 } from 'node:net';

/**
 * What the CVO's validation asks of Go's parsers, for spec.upstream and spec.clusterID
 * (lib/validation/validation.go:19-31): whether net/url's Parse fails (Go 1.26), and the variant
 * and version github.com/google/uuid v1.6.0's Parse gives. Ported from their sources and judged
 * by them in test/interop/differential-go-parsers.test.ts. In the core: release-metadata's url is
 * checked with the same parser (cincinnati.ParseMetadata).
 */

/**
 * The variant and version of what google/uuid's Parse returns. The CVO ignores Parse's error:
 * Parse fills the UUID's bytes in order and returns what it had when it failed (the Nil UUID
 * for a wrong length), so a value that is not a UUID can still read as an RFC 4122 version 4.
 */
export function goUuid(text: string): { readonly rfc4122: boolean; readonly version: number } {
  const bytes = uuidBytes(Buffer.from(text, 'utf8'));
  const variantByte = bytes[8] ?? 0;
  return { rfc4122: (variantByte & 0xc0) === 0x80, version: (bytes[6] ?? 0) >> 4 };
}

function uuidBytes(input: Buffer): Uint8Array {
  const uuid = new Uint8Array(16);
  let s = input;
  switch (s.length) {
    case 36:
      break;
    case 36 + 9:
      if (s.subarray(0, 9).toString('latin1').toLowerCase() !== 'urn:uuid:') return uuid;
      s = s.subarray(9);
      break;
    case 36 + 2:
      // Braces are not checked: the first byte is skipped, the last never read.
      s = s.subarray(1);
      break;
    case 32:
      for (let i = 0; i < 16; i++) {
        const v = xtob(s[i * 2], s[i * 2 + 1]);
        if (v === undefined) return uuid;
        uuid[i] = v;
      }
      return uuid;
    default:
      return uuid;
  }
  const dash = 0x2d;
  if (s[8] !== dash || s[13] !== dash || s[18] !== dash || s[23] !== dash) return uuid;
  const offsets = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
  for (const [i, x] of offsets.entries()) {
    const v = xtob(s[x], s[x + 1]);
    if (v === undefined) return uuid;
    uuid[i] = v;
  }
  return uuid;
}

function xtob(a: number | undefined, b: number | undefined): number | undefined {
  const hi = hexValue(a);
  const lo = hexValue(b);
  return hi === undefined || lo === undefined ? undefined : (hi << 4) | lo;
}

function hexValue(c: number | undefined): number | undefined {
  if (c === undefined) return undefined;
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return undefined;
}

/** Whether Go's url.Parse returns an error for `text`. */
export function goUrlParseFails(text: string): boolean {
  const [beforeFragment, fragment] = cut(text, '#');
  if (parseFails(beforeFragment)) return true;
  return fragment !== undefined && fragment !== '' && escapeFails(fragment, 'other');
}

function parseFails(raw: string): boolean {
  // eslint-disable-next-line no-control-regex -- stringContainsCTLByte
  if (/[\u0000-\u001f\u007f]/.test(raw)) return true;
  if (raw === '*') return false;
  const scheme = getScheme(raw);
  if (scheme === MISSING_SCHEME) return true;
  let rest = scheme === undefined ? raw : raw.slice(scheme.length + 1);
  [rest] = cut(rest, '?');
  if (!rest.startsWith('/')) {
    // A rootless path after a scheme is opaque: nothing else is checked.
    if (scheme !== undefined) return false;
    const [segment] = cut(rest, '/');
    if (segment.includes(':')) return true;
  }
  if ((scheme !== undefined || !rest.startsWith('///')) && rest.startsWith('//')) {
    let authority = rest.slice(2);
    rest = '';
    const slash = authority.indexOf('/');
    if (slash >= 0) {
      rest = authority.slice(slash);
      authority = authority.slice(0, slash);
    }
    if (authorityFails(authority)) return true;
  }
  return escapeFails(rest, 'other');
}

const MISSING_SCHEME: unique symbol = Symbol('missing protocol scheme');

/** net/url getScheme: the scheme, none, or MISSING_SCHEME for a leading colon. */
function getScheme(raw: string): string | typeof MISSING_SCHEME | undefined {
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charAt(i);
    if (/[a-zA-Z]/.test(c)) continue;
    if (/[0-9+.-]/.test(c)) {
      if (i === 0) return undefined;
      continue;
    }
    if (c === ':') return i === 0 ? MISSING_SCHEME : raw.slice(0, i);
    return undefined;
  }
  return undefined;
}

function authorityFails(authority: string): boolean {
  const at = authority.lastIndexOf('@');
  if (hostFails(at < 0 ? authority : authority.slice(at + 1))) return true;
  if (at < 0) return false;
  const userinfo = authority.slice(0, at);
  if (!/^[A-Za-z0-9\-._:~!$&'()*+,;=%@]*$/.test(userinfo)) return true;
  const [user, password] = cut(userinfo, ':');
  return escapeFails(user, 'other') || (password !== undefined && escapeFails(password, 'other'));
}

/**
 * parseHost as the CVO runs it: its go.mod says go 1.25, so GODEBUG keeps `urlstrictcolons=0`
 * (Go 1.26 made strict colons the default for modules that say go 1.26): the port is what
 * follows the last colon, for http and https too.
 */
function hostFails(host: string): boolean {
  const open = host.lastIndexOf('[');
  if (open > 0) return true;
  if (open === 0) {
    const close = host.lastIndexOf(']');
    if (close < 0) return true;
    const colonPort = host.slice(close + 1);
    if (!validOptionalPort(colonPort) || escapeFails(colonPort, 'host')) return true;
    const hostname = host.slice(1, close);
    const zone = hostname.indexOf('%25');
    let address: string;
    if (zone >= 0) {
      if (escapeFails(hostname.slice(0, zone), 'host')) return true;
      if (escapeFails(hostname.slice(zone), 'zone')) return true;
      address = `${unescape(hostname.slice(0, zone))}%${unescape(hostname.slice(zone + 3))}`;
    } else {
      if (escapeFails(hostname, 'host')) return true;
      address = unescape(hostname);
    }
    return !isIpv6Literal(address);
  }
  const last = host.lastIndexOf(':');
  if (last !== -1 && !validOptionalPort(host.slice(last))) return true;
  return escapeFails(host, 'host');
}

/** netip.ParseAddr accepting an IPv6 address (zone allowed, non-empty), not an IPv4 one. */
function isIpv6Literal(address: string): boolean {
  const percent = address.indexOf('%');
  const ip = percent >= 0 ? address.slice(0, percent) : address;
  if (percent >= 0 && percent === address.length - 1) return false;
  if (isIPv4(ip)) return false;
  return isIPv6(ip);
}

function validOptionalPort(port: string): boolean {
  return port === '' || /^:[0-9]*$/.test(port);
}

const HOST_CHARACTER = /[A-Za-z0-9\-_.~!$&'()*+,;=:[\]<>"]/;

/** net/url unescape's checks in `mode`: `host` and `zone` also police plain characters. */
function escapeFails(s: string, mode: 'host' | 'zone' | 'other'): boolean {
  for (let i = 0; i < s.length;) {
    const c = s.charAt(i);
    if (c === '%') {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) return true;
      const value = parseInt(hex, 16);
      if (mode === 'host' && value < 0x80 && hex !== '25') return true;
      if (mode === 'zone' && hex !== '25' && value !== 0x20 && !hostByteAllowed(value)) return true;
      i += 3;
      continue;
    }
    if ((mode === 'host' || mode === 'zone') && c.charCodeAt(0) < 0x80 && !HOST_CHARACTER.test(c)) {
      return true;
    }
    i++;
  }
  return false;
}

function hostByteAllowed(value: number): boolean {
  return value >= 0x80 ? false : HOST_CHARACTER.test(String.fromCharCode(value));
}

function unescape(s: string): string {
  return s.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) =>
    String.fromCharCode(parseInt(hex, 16)),
  );
}

function cut(s: string, separator: string): [string, string | undefined] {
  const i = s.indexOf(separator);
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + separator.length)];
}
