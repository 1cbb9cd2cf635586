/**
 * A strict JSON parser for untrusted signature payloads. Unlike JSON.parse it rejects duplicate
 * object keys (two parsers reading different values from one payload is a classic signature
 * bypass) and enforces size and depth limits. Values are returned as plain JS values.
 */
export type JsonValue =
  null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export class StrictJsonError extends Error {
  override readonly name = 'StrictJsonError';
}

export interface StrictJsonOptions {
  /** Bytes of text accepted at most. */
  readonly maxLength?: number;
  /** Nesting of objects and arrays accepted at most. */
  readonly maxDepth?: number;
}

/** Atomic and cosign payloads are a few hundred bytes; 64 KiB leaves ample room. */
export const DEFAULT_MAX_JSON_LENGTH = 64 * 1024;
const DEFAULT_MAX_DEPTH = 32;

export function parseStrictJson(text: string, options: StrictJsonOptions = {}): JsonValue {
  const maxLength = options.maxLength ?? DEFAULT_MAX_JSON_LENGTH;
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  if (text.length > maxLength)
    throw new StrictJsonError(`document is longer than ${maxLength} characters`);
  let pos = 0;

  const fail = (what: string): never => {
    throw new StrictJsonError(`${what} at offset ${pos}`);
  };
  const skipWhitespace = (): void => {
    while (pos < text.length) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) pos++;
      else break;
    }
  };

  const parseString = (): string => {
    // JSON.parse decodes escapes exactly; we only find the closing quote and check controls.
    const start = pos;
    pos++;
    while (pos < text.length) {
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        pos++;
        return JSON.parse(text.slice(start, pos)) as string;
      }
      if (c === 0x5c) pos += 2;
      else if (c < 0x20) fail('control character in string');
      else pos++;
    }
    return fail('unterminated string');
  };

  const parseValue = (depth: number): JsonValue => {
    skipWhitespace();
    const c = text[pos];
    if (c === '{') {
      if (depth >= maxDepth) fail('nesting too deep');
      pos++;
      const out: Record<string, JsonValue> = Object.create(null) as Record<string, JsonValue>;
      const seen = new Set<string>();
      skipWhitespace();
      if (text[pos] === '}') {
        pos++;
        return out;
      }
      for (;;) {
        skipWhitespace();
        if (text[pos] !== '"') fail('expected a string key');
        const key = parseString();
        if (seen.has(key)) fail(`duplicate key ${JSON.stringify(key)}`);
        seen.add(key);
        skipWhitespace();
        if (text[pos] !== ':') fail('expected ":"');
        pos++;
        out[key] = parseValue(depth + 1);
        skipWhitespace();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === '}') {
          pos++;
          return out;
        }
        fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      if (depth >= maxDepth) fail('nesting too deep');
      pos++;
      const out: JsonValue[] = [];
      skipWhitespace();
      if (text[pos] === ']') {
        pos++;
        return out;
      }
      for (;;) {
        out.push(parseValue(depth + 1));
        skipWhitespace();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === ']') {
          pos++;
          return out;
        }
        fail('expected "," or "]"');
      }
    }
    if (c === '"') return parseString();
    const literal = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(
      text.slice(pos, pos + 400),
    );
    if (!literal) return fail('unexpected character');
    pos += literal[0].length;
    return JSON.parse(literal[0]) as JsonValue;
  };

  const value = parseValue(0);
  skipWhitespace();
  if (pos !== text.length) fail('unexpected data after the document');
  return value;
}

export function isJsonObject(value: JsonValue | undefined): value is { [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
