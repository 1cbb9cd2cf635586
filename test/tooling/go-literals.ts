/**
 * Go's string literals in a Go source file, as the compiler reads them: interpreted and raw,
 * comments and rune literals skipped, `"a" + "b"` concatenations joined. Used by the optional
 * differential run against oc (test/interop/differential-oc-upgrade.optional.ts) to find every
 * text of an oc source given at run time.
 */

export interface GoLiteral {
  readonly value: string;
  /** Offsets in the source: the opening quote and just after the closing one. */
  readonly start: number;
  readonly end: number;
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\\': '\\',
  "'": "'",
  '"': '"',
};

/** The escape at `src[i]` (just after a backslash): its value and the index after it. */
function goEscape(src: string, i: number): [string, number] {
  const c = src[i] ?? '';
  const simple = SIMPLE_ESCAPES[c];
  if (simple !== undefined) return [simple, i + 1];
  const hex = { x: 2, u: 4, U: 8 }[c];
  if (hex !== undefined) {
    return [String.fromCodePoint(parseInt(src.slice(i + 1, i + 1 + hex), 16)), i + 1 + hex];
  }
  if (/[0-7]/.test(c)) return [String.fromCharCode(parseInt(src.slice(i, i + 3), 8)), i + 3];
  throw new Error(`unknown Go escape \\${c} at ${String(i)}`);
}

export function goStringLiterals(src: string): GoLiteral[] {
  const found: GoLiteral[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === '/' && src[i + 1] === '/') {
      const eol = src.indexOf('\n', i);
      i = eol === -1 ? src.length : eol;
    } else if (c === '/' && src[i + 1] === '*') {
      i = src.indexOf('*/', i + 2) + 2;
    } else if (c === "'") {
      i++;
      while (src[i] !== "'") i = src[i] === '\\' ? goEscape(src, i + 1)[1] : i + 1;
      i++;
    } else if (c === '`') {
      const close = src.indexOf('`', i + 1);
      found.push({ value: src.slice(i + 1, close).replaceAll('\r', ''), start: i, end: close + 1 });
      i = close + 1;
    } else if (c === '"') {
      const start = i;
      let value = '';
      i++;
      while (src[i] !== '"') {
        if (src[i] === '\\') {
          const [ch, next] = goEscape(src, i + 1);
          value += ch;
          i = next;
        } else {
          value += src.charAt(i);
          i++;
        }
      }
      i++;
      found.push({ value, start, end: i });
    } else {
      i++;
    }
  }
  const joined: GoLiteral[] = [];
  for (const literal of found) {
    const previous = joined.at(-1);
    const between = src.slice(previous?.end ?? 0, literal.start).replace(/\/\/[^\n]*/g, '');
    if (previous !== undefined && /^\s*\+\s*$/.test(between)) {
      joined[joined.length - 1] = {
        value: previous.value + literal.value,
        start: previous.start,
        end: literal.end,
      };
    } else {
      joined.push(literal);
    }
  }
  return joined;
}
