import { isJsonObject, parseStrictJson } from '../json/strict-json.js';

/** One challenge of a `WWW-Authenticate` header; the scheme is lowercased, as are param names. */
export interface AuthChallenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

/** The longest header we parse; real challenges are a few hundred bytes. */
const MAX_CHALLENGE_LENGTH = 8 * 1024;
const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/**
 * Parses `WWW-Authenticate` (RFC 7235): one or more comma-separated challenges, each a scheme
 * and `name=value` / `name="quoted"` parameters. Token68 forms are skipped; unquoted values run
 * to the next comma, as some registries leave URLs unquoted.
 */
export function parseWwwAuthenticate(header: string): AuthChallenge[] {
  const text = header.slice(0, MAX_CHALLENGE_LENGTH);
  const challenges: { scheme: string; params: Record<string, string> }[] = [];
  let pos = 0;
  const skip = (chars: RegExp): void => {
    while (pos < text.length && chars.test(text.charAt(pos))) pos++;
  };
  const token = (): string => {
    const start = pos;
    while (pos < text.length && TOKEN_CHAR.test(text.charAt(pos))) pos++;
    return text.slice(start, pos);
  };
  /** Whether a `name=` parameter (not `==`-padded token68) starts at `pos`. */
  const paramAhead = (): boolean => {
    const match = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+[ \t]*=(?!=)/.exec(text.slice(pos, pos + 256));
    return match !== null;
  };

  while (pos < text.length) {
    skip(/[\s,]/);
    const scheme = token();
    if (scheme === '') {
      pos++;
      continue;
    }
    const params: Record<string, string> = Object.create(null) as Record<string, string>;
    challenges.push({ scheme: scheme.toLowerCase(), params });
    for (;;) {
      skip(/[ \t]/);
      if (!paramAhead()) {
        // token68 or nothing: skip to the next comma.
        while (pos < text.length && text.charAt(pos) !== ',') pos++;
        break;
      }
      const name = token().toLowerCase();
      skip(/[ \t]/);
      pos++; // '='
      skip(/[ \t]/);
      let value = '';
      if (text.charAt(pos) === '"') {
        pos++;
        while (pos < text.length && text.charAt(pos) !== '"') {
          if (text.charAt(pos) === '\\') pos++;
          value += text.charAt(pos);
          pos++;
        }
        pos++;
      } else {
        const start = pos;
        while (pos < text.length && text.charAt(pos) !== ',' && !/\s/.test(text.charAt(pos))) pos++;
        value = text.slice(start, pos);
      }
      params[name] = value;
      skip(/[ \t]/);
      if (text.charAt(pos) !== ',') break;
      pos++;
      skip(/[\s]/);
      if (!paramAhead()) break;
    }
  }
  return challenges;
}

/** Retry-After values beyond this are treated as this (they would outlast any reconcile). */
export const DEFAULT_MAX_RETRY_AFTER_MS = 10_000;

/**
 * `Retry-After` in milliseconds from `now`: delay-seconds or an HTTP date, capped at `maxMs`;
 * undefined when absent or unparseable. A date in the past means 0.
 */
export function parseRetryAfter(
  value: string | undefined,
  now: number,
  maxMs: number = DEFAULT_MAX_RETRY_AFTER_MS,
): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  let ms: number;
  if (/^\d+$/.test(trimmed)) {
    ms = Number(trimmed) * 1000;
  } else {
    // HTTP-date (IMF-fixdate and the obsolete forms Date.parse also reads); needs a weekday or
    // month name, so a bare number with a fraction or sign is not read as a date.
    if (!/[a-z]/i.test(trimmed)) return undefined;
    const at = Date.parse(trimmed);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  return Math.min(Math.max(ms, 0), maxMs);
}

/** Error codes and the first message of a distribution error body (`{"errors":[…]}`). */
export function parseErrorBody(body: Uint8Array): { codes: string[]; message?: string } {
  let document;
  try {
    document = parseStrictJson(Buffer.from(body).toString('utf8'), { maxLength: body.length + 1 });
  } catch {
    return { codes: [] };
  }
  if (!isJsonObject(document) || !Array.isArray(document.errors)) return { codes: [] };
  const codes: string[] = [];
  let message: string | undefined;
  for (const entry of document.errors) {
    if (!isJsonObject(entry)) continue;
    if (typeof entry.code === 'string') codes.push(entry.code.toUpperCase());
    if (message === undefined && typeof entry.message === 'string') message = entry.message;
  }
  return message === undefined ? { codes } : { codes, message };
}

/** Keeps untrusted server text short and on one line before it goes into a message. */
export function sanitizeServerText(text: string, maxLength = 200): string {
  // eslint-disable-next-line no-control-regex -- stripping control characters is the point
  const clean = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return clean.length > maxLength ? `${clean.slice(0, maxLength)}…` : clean;
}
