import type { ClusterVersion } from '../kube/types.js';

/**
 * The ClusterVersion history as a table, newest first, with the VERIFIED column `oc adm upgrade`
 * never shows and each entry's accepted risks below it.
 */
export function formatHistoryTable(cv: ClusterVersion): string {
  const history = cv.status?.history ?? [];
  const rows = history.map((h) => [
    h.state,
    h.startedTime,
    h.completionTime ?? '-',
    h.version === undefined || h.version === '' ? '-' : h.version,
    String(h.verified),
    h.image,
  ]);
  const header = ['STATE', 'STARTED', 'COMPLETED', 'VERSION', 'VERIFIED', 'IMAGE'];
  const widths = header.map((_, i) =>
    Math.max(header[i]?.length ?? 0, ...rows.map((r) => r[i]?.length ?? 0)),
  );
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ');
  const out = [line(header)];
  history.forEach((h, i) => {
    out.push(line(rows[i] ?? []));
    if (h.acceptedRisks !== undefined && h.acceptedRisks !== '')
      out.push(`    accepted risk: ${h.acceptedRisks}`);
  });
  return `${out.join('\n')}\n`;
}

/** One line per condition this service cares about. */
export function formatConditions(
  cv: ClusterVersion,
  types: readonly string[] = ['ReleaseAccepted', 'ReleaseVerified', 'PayloadVerified', 'Invalid'],
): string {
  const lines: string[] = [];
  for (const type of types) {
    const c = cv.status?.conditions?.find((x) => x.type === type);
    if (c === undefined) continue;
    const message = c.message !== undefined && c.message !== '' ? `: ${c.message}` : '';
    lines.push(`${type}=${c.status} (${c.reason ?? ''})${message}`);
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
