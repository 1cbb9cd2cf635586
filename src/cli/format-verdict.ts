import { SATISFIED_DETAIL } from '../verify/verdict.js';
import type { ReleaseVerdict } from '../verify/verdict.js';

/** The `--output json` shape: image, digest, verified and one entry per check, plus detail. */
export function toJsonVerdict(verdict: ReleaseVerdict): Record<string, unknown> {
  return {
    image: verdict.image,
    digest: verdict.digest,
    verified: verdict.verified,
    ...(verdict.code !== undefined ? { code: verdict.code } : {}),
    message: verdict.message,
    checks: verdict.checks.map((c) => ({
      kind: c.kind,
      ...(c.kind === 'gpg' ? { keyring: c.keyring } : { policy: c.policy, scope: c.scope }),
      verified: c.verified,
      ...(c.code !== undefined ? { code: c.code } : {}),
      reason: c.reason,
      evidence: c.evidence,
    })),
    stores: verdict.stores,
    details: verdict.details,
    cached: verdict.cached,
    durationMs: Math.round(verdict.durationMs),
  };
}

/** A human explanation: the verdict first, then per keyring what satisfied it or why nothing did. */
export function formatVerdictText(verdict: ReleaseVerdict): string {
  const lines: string[] = [];
  lines.push(`Release: ${verdict.image}`);
  if (verdict.verified) {
    lines.push(`Result:  VERIFIED${verdict.cached ? ' (cached)' : ''}`);
  } else {
    lines.push('Result:  NOT VERIFIED');
    lines.push(`Reason:  ${verdict.message}`);
  }
  for (const check of verdict.checks) {
    lines.push('');
    const state = check.verified ? 'satisfied' : 'NOT satisfied';
    if (check.kind === 'sigstore') {
      lines.push(`  sigstore policy ${check.policy} (scope ${check.scope}): ${state}`);
      lines.push(`    ${check.reason}`);
      continue;
    }
    lines.push(`  ${check.kind} keyring ${check.keyring}: ${state}`);
    lines.push(`    ${check.reason}`);
    for (const e of check.evidence) {
      const mark = e.outcome === 'verified' ? 'ok ' : 'bad';
      lines.push(
        `    [${mark}] ${e.location}: ${e.message}${e.identity !== undefined ? ` (identity ${e.identity})` : ''}`,
      );
    }
  }
  if (verdict.stores.length > 0) {
    lines.push('');
    lines.push('  Signature stores:');
    for (const s of verdict.stores) {
      // A read stopped because the release was verified is no failure: say so plainly.
      const end =
        s.end === undefined
          ? ''
          : s.end.reason === 'aborted' && s.end.detail === SATISFIED_DETAIL
            ? `; stopped reading: ${SATISFIED_DETAIL}`
            : `; ${s.end.reason}: ${s.end.detail}`;
      lines.push(
        `    ${s.store}: ${s.signaturesRead} signature(s) read, ${s.errors.length} error(s)${end}`,
      );
      for (const e of s.errors) lines.push(`      ${e.code}: ${e.message}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
