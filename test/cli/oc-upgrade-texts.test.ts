import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { OC_UPGRADE_TEXTS } from '../../src/cli/upgrade.js';
import { BY_TAG_FORCED_WARNING, BY_TAG_REFUSED } from '../../src/image/oc-messages.js';
import { repoRoot } from '../helpers/fixtures.js';

// Every text `cvo-verifier upgrade` shares with `oc adm upgrade` is one of oc's own string
// literals, read from a pinned, verbatim copy of its source (testdata/oc-upgrade/SOURCE), and
// written the way oc writes it: the call before the literal says the stream (o.Out is stdout,
// o.ErrOut stderr, an error goes to stderr through kcmdutil.CheckErr with exit code 1) and
// whether a newline is added (Fprintln).

const OC_SOURCE = readFileSync(
  join(repoRoot, 'test', 'cli', 'testdata', 'oc-upgrade', 'upgrade.go'),
  'utf8',
);

interface GoLiteral {
  readonly value: string;
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

/**
 * Go's string literals in `src` (interpreted and raw; comments and rune literals skipped), with
 * `"a" + "b"` concatenations joined, as the compiler sees them.
 */
function goStringLiterals(src: string): GoLiteral[] {
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

const LITERALS = goStringLiterals(OC_SOURCE);

/** The code just before a literal, whitespace collapsed: the call it is an argument of. */
function callBefore(literal: GoLiteral): string {
  return OC_SOURCE.slice(Math.max(0, literal.start - 80), literal.start)
    .replace(/\s+/g, ' ')
    .trimEnd();
}

const STDOUT = 'fmt.Fprintf(o.Out,';
const STDOUT_LINE = 'fmt.Fprintln(o.Out,';
const STDERR = 'fmt.Fprintf(o.ErrOut,';
const STDERR_LINE = 'fmt.Fprintln(o.ErrOut,';
const ERROR = 'fmt.Errorf(';
const PART = 'fmt.Sprintf(';

/** How oc uses each text: the call the literal is the format (or value) of. */
const HOW_OC_WRITES: Readonly<Record<keyof typeof OC_UPGRADE_TEXTS, string>> = {
  clearWithOthers: ERROR,
  multiArchWithOthers: ERROR,
  toAndToImage: ERROR,
  toNotSemver: ERROR,
  invalidPullspec: ERROR,
  noRepository: ERROR,
  noTagOrDigest: ERROR,
  byTagForced: STDERR_LINE,
  byTagRefused: ERROR,
  noUpdateInProgress: STDOUT,
  cancelFailed: ERROR,
  cleared: STDOUT,
  cancelled: STDOUT,
  multiArchAlreadyRequested: ERROR,
  guardsRefused: ERROR,
  guardsBypassed: STDERR,
  force: STDERR_LINE,
  multiArchRequested: STDOUT_LINE,
  alreadyAtVersion: STDOUT,
  alreadyAtImage: STDOUT,
  availableMatchFailed: STDERR,
  conditionalMatchFailed: STDERR,
  conditionalRefused: ERROR,
  conditionalAccepted: STDERR,
  explicit: STDERR_LINE,
  nextStep: PART,
  cannotRefresh: ERROR,
  noRecommendedOrConditional: ERROR,
  alreadyLatest: STDOUT,
  noRecommended: ERROR,
  notPossibleTarget: ERROR,
  requestedVersion: STDOUT,
  requestedImage: STDOUT,
  upgradeFailed: ERROR,
  guardInvalid: PART,
  guardFailing: PART,
  guardFailingNoTarget: 'target =',
  guardProgressing: PART,
};

/**
 * Literals of oc's Complete and of Run's requesting branches that cvo-verifier does not print,
 * and why. Anything else there must be one of OC_UPGRADE_TEXTS: a new oc text fails this test.
 */
const NOT_OURS: Readonly<Record<string, string>> = {
  version: "the ClusterVersion's name (CLUSTER_VERSION_NAME)",
  'No cluster version information available - you must be connected to an OpenShift version 4 server to fetch the current version':
    'printed by readClusterVersion in src/cli/history.ts for every cluster command',
  'failed to marshal update: %v':
    'encoding/json cannot fail on this struct; JSON.stringify neither',
  '{"spec":{"desiredUpdate":%s}}': 'the merge patch document, built as an object',
  '{"spec":{"desiredUpdate": %s}}': 'the merge patch document, built as an object',
  'marshal ClusterVersion patch: %v':
    'encoding/json cannot fail on this struct; JSON.stringify neither',
  '': 'comparisons with the empty string',
  'unable to calculate a target update': "unreachable: the switch's other cases cover every case",
  '--to-image': 'an argument of nextStep',
  '--allow-explicit-upgrade': 'an argument of nextStep',
  the: 'an argument of nextStep',
  an: 'an argument of nextStep',
  ', ': 'the separator of notPossibleTarget',
  '\n': 'the separator of the failed guards (checkForUpgrade)',
  '\n\n': 'the separator of the failed guards (checkForUpgrade)',
  '\n  ': 'the indentation of multi-line messages',
  Recommended: "the conditional update's condition type",
  Failing: 'the condition type (clusterStatusFailing)',
  Invalid: 'the condition type',
  Multi: 'configv1.ClusterVersionArchitectureMulti',
};

describe("oc adm upgrade's texts, from oc's source", () => {
  const values = new Set(LITERALS.map((l) => l.value));

  for (const [name, text] of Object.entries(OC_UPGRADE_TEXTS)) {
    const how = HOW_OC_WRITES[name as keyof typeof OC_UPGRADE_TEXTS];
    it(`${name} is oc's literal, written with ${how}`, () => {
      const uses = LITERALS.filter((l) => l.value === text);
      assert.ok(uses.length > 0, `oc's upgrade.go has no string literal ${JSON.stringify(text)}`);
      for (const use of uses) {
        assert.ok(
          callBefore(use).endsWith(how),
          `${name}: oc writes it with …${callBefore(use).slice(-40)}, not ${how}`,
        );
      }
    });
  }

  it("src/image/oc-messages.ts's by-tag texts are oc's", () => {
    assert.ok(values.has(BY_TAG_REFUSED));
    assert.ok(values.has(`warning: ${BY_TAG_FORCED_WARNING}`));
  });

  it("every literal of oc's Complete and requesting Run branches is ours or explained", () => {
    const from = OC_SOURCE.indexOf('func (o *Options) Complete(');
    // Run's last case prints the summary, which cvo-verifier extends (formatUpgradeSummary).
    const summary = OC_SOURCE.indexOf('\n\tdefault:\n', from);
    const patchFrom = OC_SOURCE.indexOf('func patchDesiredUpdate(');
    const guardsFrom = OC_SOURCE.indexOf('func checkForUpgrade(');
    const guardsTo = OC_SOURCE.indexOf('\n}\n', guardsFrom);
    assert.ok(from > 0 && summary > from && patchFrom > 0 && guardsFrom > 0);
    const ranges: [number, number][] = [
      [from, summary],
      [guardsFrom, guardsTo],
      [patchFrom, OC_SOURCE.length],
    ];
    const ours = new Set<string>(Object.values(OC_UPGRADE_TEXTS));
    const unexplained = LITERALS.filter((l) => ranges.some(([a, b]) => l.start > a && l.end < b))
      .map((l) => l.value)
      .filter((v) => !ours.has(v) && NOT_OURS[v] === undefined);
    assert.deepEqual(unexplained, []);
  });

  it("reads Go's literals as the compiler does", () => {
    const src = [
      'x := "a\\n\\"b\\x41\\u00e9" + // joined',
      '\t"c" // "not a literal"',
      "r := '\"'",
      'y := `raw\\n`',
    ].join('\n');
    assert.deepEqual(
      goStringLiterals(src).map((l) => l.value),
      ['a\n"bAéc', 'raw\\n'],
    );
  });
});
