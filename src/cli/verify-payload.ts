import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

import { isVerifyError } from '../errors.js';
import { parseReleasePullspec } from '../image/pullspec.js';
import type { DigestPullspec } from '../image/pullspec.js';
import { mirrorSources, parseMirrorConfig } from '../mirrors/mirrors.js';
import type { MirrorRule } from '../mirrors/mirrors.js';
import { findManifestImages, imagesOutsideReferences } from '../payload/manifest-images.js';
import type { ManifestImage } from '../payload/manifest-images.js';
import {
  nothingCovered,
  payloadVerified,
  summarize,
  verifyComponents,
} from '../payload/payload-verifier.js';
import type { ComponentResult, PayloadSummary } from '../payload/payload-verifier.js';
import { readReleasePayload } from '../payload/release-image.js';
import type { ReleasePayload } from '../payload/release-image.js';
import { dedupeComponents } from '../payload/release-content.js';
import type { RegistryClient } from '../registry/client.js';
import { ConfigError, ExitCode, UsageError } from './usage-error.js';
import { durationFlag, intFlag, loadPolicies, registryClientFromFlags } from './verify.js';
import type { CommandIo } from './verify.js';

export const VERIFY_PAYLOAD_HELP = `Usage: cvo-verifier verify-payload PULLSPEC --policy PATH... [options]

Reads a release image (by digest) and verifies every component image it lists in
release-manifests/image-references against the ClusterImagePolicies that cover it, as CRI-O
will when nodes pull them during the update: before the update starts.

Options:
  --policy PATH              ClusterImagePolicy YAML/JSON (repeatable, at least one)
  --mirrors PATH             ImageDigestMirrorSet / ImageContentSourcePolicy YAML/JSON
                             (repeatable): images are read from their mirrors, identities are
                             matched on the logical names
  --platform OS/ARCH[/VARIANT]
                             the instance of a manifest list a node of that platform pulls,
                             chosen as containers/image's ChooseInstance chooses (variant
                             order, zstd instances first in OCI indexes; default linux/amd64;
                             linux/arm64 prefers a plain arm64 entry, linux/arm64/v8 a v8
                             one; CRI-O on an arm64 node asks for linux/arm64/v8)
  --all-platforms            verify every instance a node could pull (not attestations)
  --concurrency N            components verified at once (default 16)
  --insecure-registry HOST   allow plain HTTP to HOST[:port] (loopback always may)
  --authfile PATH            registry credentials (docker config.json or a pull secret)
  --ca-bundle PATH           extra PEM CA certificates for registries
  --timeout DURATION         overall time budget (default 5m)
  --request-timeout DURATION time for one registry request (default 10s)
  --output text|json         output format (default text)
  -h, --help                 show this help

Each component is verified, unsigned, invalid (a signature that does not verify, with the
reason), not covered by any policy, or error (the registry could not answer).
Exit codes: 0 every covered component verified; 1 any unsigned, invalid or error;
2 usage or configuration error (including a release image that cannot be read).
`;

interface PlatformReport {
  readonly platform?: string;
  readonly manifestDigest: string;
  readonly version: string;
  readonly source: string;
  readonly summary: PayloadSummary;
  readonly components: readonly ComponentResult[];
  /** Images the manifests would run that image-references does not list: checked by nobody. */
  readonly outsideReferences: readonly ManifestImage[];
}

export async function runVerifyPayload(argv: readonly string[], io: CommandIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        policy: { type: 'string', multiple: true },
        mirrors: { type: 'string', multiple: true },
        platform: { type: 'string' },
        'all-platforms': { type: 'boolean' },
        concurrency: { type: 'string' },
        'insecure-registry': { type: 'string', multiple: true },
        authfile: { type: 'string' },
        'ca-bundle': { type: 'string' },
        timeout: { type: 'string' },
        'request-timeout': { type: 'string' },
        output: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    io.stdout(VERIFY_PAYLOAD_HELP);
    return ExitCode.Verified;
  }
  const output = values.output ?? 'text';
  if (output !== 'text' && output !== 'json')
    throw new UsageError(`--output must be text or json, not ${JSON.stringify(output)}`);
  if (positionals.length !== 1) throw new UsageError('verify-payload takes exactly one PULLSPEC');
  const policyFiles = values.policy ?? [];
  if (policyFiles.length === 0)
    throw new UsageError('verify-payload needs at least one --policy (ClusterImagePolicy)');
  if (
    values.platform !== undefined &&
    !/^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/.test(values.platform)
  )
    throw new UsageError(
      `--platform must be OS/ARCH[/VARIANT], not ${JSON.stringify(values.platform)}`,
    );
  const budgetMs = durationFlag('--timeout', values.timeout, 300_000);
  const requestTimeoutMs = durationFlag('--request-timeout', values['request-timeout'], 10_000);
  const concurrency = intFlag('--concurrency', values.concurrency, 16, 1, 256);

  let release: DigestPullspec;
  try {
    release = parseReleasePullspec(positionals[0] ?? '');
  } catch (err) {
    if (isVerifyError(err)) throw new UsageError(err.message);
    throw err;
  }

  let client: RegistryClient;
  let policies;
  const rules: MirrorRule[] = [];
  try {
    policies = await loadPolicies(policyFiles);
    for (const file of values.mirrors ?? []) {
      rules.push(...parseMirrorConfig(await readFile(file, 'utf8'), file));
    }
    const extraCa =
      values['ca-bundle'] !== undefined ? await readFile(values['ca-bundle'], 'utf8') : undefined;
    client = await registryClientFromFlags(
      { authfile: values.authfile, insecureRegistries: values['insecure-registry'], extraCa },
      { requestTimeoutMs, maxConcurrentRequests: concurrency },
    );
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new ConfigError(err instanceof Error ? err.message : String(err));
  }

  const signal = AbortSignal.timeout(budgetMs);
  const sourcesFor = (pullspec: DigestPullspec) => mirrorSources(rules, pullspec);
  const started = performance.now();
  try {
    let payloads: ReleasePayload[];
    try {
      payloads = await readReleasePayload(client, release, {
        signal,
        sources: sourcesFor(release),
        ...(values.platform !== undefined ? { platform: values.platform } : {}),
        ...(values['all-platforms'] === true ? { allPlatforms: true } : {}),
      });
    } catch (err) {
      if (isVerifyError(err) && err.code !== 'ABORTED') {
        io.stderr(`error: cannot read release ${release.raw}: ${err.message}\n`);
        return ExitCode.Usage;
      }
      throw err;
    }
    const reports: PlatformReport[] = [];
    for (const payload of payloads) {
      let outsideReferences: ManifestImage[];
      try {
        outsideReferences = imagesOutsideReferences(
          findManifestImages(payload.manifests),
          new Set(payload.references.components.map((c) => c.pullspec.raw)),
        );
      } catch (err) {
        if (!isVerifyError(err)) throw err;
        io.stderr(`error: cannot read the manifests of ${release.raw}: ${err.message}\n`);
        return ExitCode.Usage;
      }
      const components = dedupeComponents(payload.references.components);
      const progress = new ProgressBar(io, output === 'text' && io.stderrIsTTY === true);
      const results = await verifyComponents(components, {
        client,
        policies,
        sourcesFor,
        concurrency,
        signal,
        onProgress: (done, total) => {
          progress.update(done, total, payload.platform);
        },
      });
      progress.finish();
      reports.push({
        ...(payload.platform !== undefined ? { platform: payload.platform } : {}),
        manifestDigest: payload.manifestDigest,
        version: payload.metadata.version,
        source: payload.source,
        summary: summarize(results),
        components: results,
        outsideReferences,
      });
    }
    const verified = reports.every(
      (r) => payloadVerified(r.summary) && r.outsideReferences.length === 0,
    );
    const durationMs = Math.round(performance.now() - started);
    io.stdout(
      output === 'json'
        ? `${JSON.stringify({ release: release.raw, verified, durationMs, platforms: reports }, null, 2)}\n`
        : formatText(release.raw, reports, verified, durationMs),
    );
    return verified ? ExitCode.Verified : ExitCode.NotVerified;
  } finally {
    await client.close();
  }
}

const STATUS_LABEL: Readonly<Record<ComponentResult['status'], string>> = {
  verified: 'verified',
  unsigned: 'UNSIGNED',
  invalid: 'INVALID',
  'not-covered': 'not covered',
  error: 'ERROR',
};

function formatText(
  release: string,
  reports: readonly PlatformReport[],
  verified: boolean,
  durationMs: number,
): string {
  const lines: string[] = [];
  for (const report of reports) {
    const { summary } = report;
    lines.push(
      `Release ${report.version} (${release}${report.platform !== undefined ? `, ${report.platform}` : ''})`,
      `${summary.total} component images: ${summary.verified} verified, ${summary.unsigned} unsigned, ${summary.invalid} invalid, ${summary.errors} errors, ${summary.notCovered} not covered by any policy`,
    );
    const failing = report.components.filter(
      (c) => c.status !== 'verified' && c.status !== 'not-covered',
    );
    if (failing.length > 0) lines.push('', 'Components that would fail when nodes pull them:');
    for (const c of failing) {
      lines.push(
        `  ${STATUS_LABEL[c.status]}  ${c.tags.join(',')}  ${c.pullspec}`,
        `      ${c.reason}`,
      );
    }
    if (report.outsideReferences.length > 0) {
      lines.push(
        '',
        'Images the manifests would run that image-references does not list (unchecked):',
      );
      for (const o of report.outsideReferences.slice(0, 20)) {
        lines.push(`  ${o.object}  ${o.image}  (${o.path})`);
      }
      if (report.outsideReferences.length > 20)
        lines.push(`  … and ${report.outsideReferences.length - 20} more`);
    }
    const uncovered = report.components.filter((c) => c.status === 'not-covered');
    if (uncovered.length > 0) {
      lines.push(
        '',
        `Not covered by any policy (not checked): ${uncovered
          .slice(0, 5)
          .map((c) => c.tags.join(','))
          .join(', ')}${uncovered.length > 5 ? ` and ${uncovered.length - 5} more` : ''}`,
      );
    }
    lines.push('');
  }
  const nothingChecked = reports.every((r) => nothingCovered(r.summary));
  lines.push(
    verified
      ? `Payload verified: every covered component image has a valid signature (${durationMs} ms).`
      : reports.some((r) => r.outsideReferences.length > 0)
        ? `Payload NOT verified: its manifests run images outside image-references (${durationMs} ms).`
        : nothingChecked
          ? `Payload NOT verified: no component image is covered by a policy, so nothing was checked (${durationMs} ms).`
          : `Payload NOT verified: the update would stall on the components above (${durationMs} ms).`,
  );
  return `${lines.join('\n')}\n`;
}

/** A one-line progress bar on stderr, drawn only on a terminal and at most every 100 ms. */
class ProgressBar {
  private readonly io: CommandIo;
  private readonly enabled: boolean;
  private last = 0;
  private drawn = false;

  constructor(io: CommandIo, enabled: boolean) {
    this.io = io;
    this.enabled = enabled;
  }

  update(done: number, total: number, platform: string | undefined): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (done < total && now - this.last < 100) return;
    this.last = now;
    const width = 30;
    const filled = total === 0 ? width : Math.round((done / total) * width);
    this.io.stderr(
      `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} components${platform !== undefined ? ` (${platform})` : ''}`,
    );
    this.drawn = true;
  }

  finish(): void {
    if (this.drawn) this.io.stderr('\n');
  }
}
