import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

import { parseDuration } from '../config/duration.js';
import { isVerifyError } from '../errors.js';
import { parseReleasePullspec } from '../image/pullspec.js';
import type { DigestPullspec } from '../image/pullspec.js';
import type { SignatureStore } from '../stores/store.js';
import type { PolicyObject } from '../policy/types.js';
import type { RegistryClient } from '../registry/client.js';
import type { GpgReleaseVerifier } from '../verify/gpg-verifier.js';
import type { SigstoreConfig } from '../verify/sigstore-checks.js';
import { refusedVerdict } from '../verify/verdict.js';
import type { ReleaseVerdict } from '../verify/verdict.js';
import { formatVerdictText, toJsonVerdict } from './format-verdict.js';
import { ConfigError, ExitCode, UsageError } from './usage-error.js';

// Only what a refusal needs is imported up front: a by-tag pullspec is refused in a few
// milliseconds of start-up, without loading OpenPGP, the stores, the registry client or the
// Sigstore stack (the rest is imported once a verification will run).

export const VERIFY_HELP = `Usage: cvo-verifier verify PULLSPEC [options]

Decides whether a release image may be trusted: with a root of trust, the way the
cluster-version operator does (every keyring satisfied by a GPG signature for exactly this
digest); with --policy, as CRI-O does (the ClusterImagePolicies of the most specific scope
covering the image). Every check that applies must pass, and at least one must apply.

Options:
  --root-of-trust PATH       ConfigMap (YAML/JSON, one or more documents) annotated
                             release.openshift.io/verification-config-map, or a directory of
                             release manifests holding one
  --signature-store URL      extra store (http, https or file), read before the ConfigMap's
                             store-* entries; repeatable
  --timeout DURATION         overall time budget (default 30s)
  --request-timeout DURATION time for one signature request (default 10s)
  --max-signatures N         signature-N entries read per store (default 9)
  --max-signature-size BYTES largest signature accepted (default 51200)
  --ca-bundle PATH           extra PEM CA certificates for HTTPS stores and registries
  --policy PATH              ClusterImagePolicy YAML/JSON (repeatable): the policies whose
                             scope covers the image must all pass (cosign .sig signatures and
                             v3 bundle referrers; PublicKey, FulcioCAWithRekor and PKI roots of
                             trust)
  --insecure-registry HOST   allow plain HTTP to HOST[:port] (loopback always may)
  --authfile PATH            registry credentials (docker config.json or a pull secret)
  --serial                   read stores one after another instead of in parallel
  --output text|json|yaml    output format (default text)
  -h, --help                 show this help

Exit codes: 0 verified; 1 not verified (by-tag and invalid digests included);
2 usage or configuration error.
Environment: HTTPS_PROXY, HTTP_PROXY, NO_PROXY select a proxy for HTTP stores.
`;

export interface CommandIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** Whether stderr is a terminal (progress bars are drawn only then). */
  readonly stderrIsTTY?: boolean;
}

export async function runVerify(argv: readonly string[], io: CommandIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        'root-of-trust': { type: 'string' },
        'signature-store': { type: 'string', multiple: true },
        timeout: { type: 'string' },
        'request-timeout': { type: 'string' },
        'max-signatures': { type: 'string' },
        'max-signature-size': { type: 'string' },
        'ca-bundle': { type: 'string' },
        policy: { type: 'string', multiple: true },
        'insecure-registry': { type: 'string', multiple: true },
        authfile: { type: 'string' },
        serial: { type: 'boolean' },
        output: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    io.stdout(VERIFY_HELP);
    return ExitCode.Verified;
  }
  const output = values.output ?? 'text';
  if (output !== 'text' && output !== 'json' && output !== 'yaml')
    throw new UsageError(`--output must be text, json or yaml, not ${JSON.stringify(output)}`);
  if (positionals.length !== 1) throw new UsageError('verify takes exactly one PULLSPEC');
  const image = positionals[0] ?? '';
  const budgetMs = durationFlag('--timeout', values.timeout, 30_000);
  const requestTimeoutMs = durationFlag('--request-timeout', values['request-timeout'], 10_000);
  const maxSignatures = intFlag('--max-signatures', values['max-signatures'], 9, 1, 100);
  const maxSignatureBytes = intFlag(
    '--max-signature-size',
    values['max-signature-size'],
    50 * 1024,
    1,
    16 * 1024 * 1024,
  );

  const print = async (verdict: ReleaseVerdict): Promise<number> => {
    io.stdout(
      output === 'json'
        ? `${JSON.stringify(toJsonVerdict(verdict), null, 2)}\n`
        : output === 'yaml'
          ? (await import('js-yaml')).dump(toJsonVerdict(verdict), { noRefs: true, lineWidth: -1 })
          : formatVerdictText(verdict),
    );
    return verdict.verified ? ExitCode.Verified : ExitCode.NotVerified;
  };

  // A by-tag or malformed pullspec can never be verified, whatever the configuration (CVO order).
  // Parsed once here; the verifier gets the typed value.
  let release: DigestPullspec;
  try {
    release = parseReleasePullspec(image);
  } catch (err) {
    if (
      isVerifyError(err, 'NOT_BY_DIGEST') ||
      isVerifyError(err, 'INVALID_DIGEST') ||
      isVerifyError(err, 'INVALID_PULLSPEC')
    ) {
      return print(refusedVerdict(image, err));
    }
    throw err;
  }

  const policyFiles = values.policy ?? [];
  if (values['root-of-trust'] === undefined && policyFiles.length === 0) {
    throw new UsageError(
      'no root of trust and no image policy: pass --root-of-trust PATH (a ConfigMap annotated release.openshift.io/verification-config-map, or a release-manifests directory) and/or --policy PATH (ClusterImagePolicy YAML/JSON)',
    );
  }
  const [
    { loadRootOfTrust },
    { createStoreFromUrl },
    { createHttpDispatcher },
    { GpgReleaseVerifier },
    { verifyRelease },
  ] = await Promise.all([
    import('../gpg/root-of-trust.js'),
    import('../stores/create-store.js'),
    import('../stores/http-store.js'),
    import('../verify/gpg-verifier.js'),
    import('../verify/release-verifier.js'),
  ]);
  let gpg: GpgReleaseVerifier | undefined;
  let sigstore: SigstoreConfig | undefined;
  let client: RegistryClient | undefined;
  try {
    const extraCa =
      values['ca-bundle'] !== undefined ? await readFile(values['ca-bundle'], 'utf8') : undefined;
    if (values['root-of-trust'] !== undefined) {
      const rootOfTrust = await loadRootOfTrust(values['root-of-trust']);
      const dispatcher = createHttpDispatcher({
        ...(extraCa !== undefined ? { extraCa } : {}),
        ...proxyFromEnv(io.env),
      });
      const storeOptions = {
        baseDir: io.cwd,
        dispatcher,
        maxSignatures,
        maxSignatureBytes,
        requestTimeoutMs,
      };
      const urls = [...(values['signature-store'] ?? []), ...rootOfTrust.stores.map((s) => s.url)];
      const stores: SignatureStore[] = urls.map((url) => createStoreFromUrl(url, storeOptions));
      for (const warning of rootOfTrust.warnings) io.stderr(`warning: ${warning}\n`);
      gpg = new GpgReleaseVerifier({
        trust: rootOfTrust,
        stores,
        budgetMs,
        mode: values.serial === true ? 'serial' : 'parallel',
      });
    }
    if (policyFiles.length > 0) {
      const policies = await loadPolicies(policyFiles);
      client = await registryClientFromFlags(
        {
          authfile: values.authfile,
          insecureRegistries: values['insecure-registry'],
          extraCa,
        },
        { requestTimeoutMs },
      );
      sigstore = { policies, client };
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new ConfigError(err instanceof Error ? err.message : String(err));
  }
  try {
    return await print(
      await verifyRelease(
        release,
        { ...(gpg !== undefined ? { gpg } : {}), ...(sigstore !== undefined ? { sigstore } : {}) },
        AbortSignal.timeout(budgetMs),
      ),
    );
  } finally {
    await client?.close();
  }
}

/** A registry client from the shared flags: --authfile, --insecure-registry, --ca-bundle. */
export async function registryClientFromFlags(
  flags: {
    readonly authfile: string | undefined;
    readonly insecureRegistries: readonly string[] | undefined;
    readonly extraCa: string | undefined;
  },
  options: { readonly requestTimeoutMs: number; readonly maxConcurrentRequests?: number },
): Promise<RegistryClient> {
  const [{ RegistryClient }, { loadDockerConfig }] = await Promise.all([
    import('../registry/client.js'),
    import('../registry/credentials.js'),
  ]);
  const credentials =
    flags.authfile !== undefined
      ? await loadDockerConfig(flags.authfile, AbortSignal.timeout(options.requestTimeoutMs))
      : undefined;
  return new RegistryClient({
    ...(credentials !== undefined ? { credentials } : {}),
    insecureRegistries: flags.insecureRegistries ?? [],
    ...(flags.extraCa !== undefined ? { extraCa: flags.extraCa } : {}),
    ...options,
  });
}

/** Reads ClusterImagePolicy/ImagePolicy files; any invalid object is a configuration error naming it. */
export async function loadPolicies(files: readonly string[]): Promise<PolicyObject[]> {
  const { parsePolicyText } = await import('../policy/parse.js');
  const objects: PolicyObject[] = [];
  const problems: string[] = [];
  for (const file of files) {
    const parsed = parsePolicyText(await readFile(file, 'utf8'), file);
    objects.push(...parsed.objects);
    problems.push(...parsed.errors.map((e) => e.message));
  }
  if (problems.length > 0) throw new ConfigError(`invalid image policy: ${problems.join('; ')}`);
  return objects;
}

function proxyFromEnv(env: Readonly<Record<string, string | undefined>>): {
  httpProxy?: string;
  httpsProxy?: string;
  noProxy?: string;
} {
  const pick = (...names: string[]): string | undefined =>
    names.map((n) => env[n]).find((v) => v !== undefined && v !== '');
  const httpProxy = pick('HTTP_PROXY', 'http_proxy');
  const httpsProxy = pick('HTTPS_PROXY', 'https_proxy');
  const noProxy = pick('NO_PROXY', 'no_proxy');
  return {
    ...(httpProxy !== undefined ? { httpProxy } : {}),
    ...(httpsProxy !== undefined ? { httpsProxy } : {}),
    ...(noProxy !== undefined ? { noProxy } : {}),
  };
}

export function durationFlag(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  try {
    return parseDuration(value);
  } catch (err) {
    throw new UsageError(`${name}: ${(err as Error).message}`);
  }
}

export function intFlag(
  name: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`${name} must be an integer from ${min} to ${max}`);
  return n;
}
