/** The longest duration a timer can wait: 2^31-1 ms. */
export const MAX_DURATION_MS = 2_147_483_647;

/** Parses Go-style durations as `oc` and the CVO print them: `30s`, `1m30s`, `500ms`, `2h`. */
export function parseDuration(text: string): number {
  const units: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    total += Number(m[1]) * (units[m[2] ?? ''] ?? 0);
    matched = re.lastIndex;
  }
  if (text.length === 0 || matched !== text.length || total <= 0) {
    throw new RangeError(
      `invalid duration ${JSON.stringify(text)}: use a positive value like 30s, 2m or 1m30s`,
    );
  }
  // A Node timer holds at most 2^31-1 ms (~24.8 days); a longer one fires at once.
  if (total > MAX_DURATION_MS) {
    throw new RangeError(`invalid duration ${JSON.stringify(text)}: at most 596h (24.8 days)`);
  }
  return total;
}
