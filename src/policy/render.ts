import { dump } from 'js-yaml';

import { scopeMirrorEndpoints } from '../mirrors/mirrors.js';
import type { MirrorRule } from '../mirrors/mirrors.js';
import { decodeBase64Field } from './pem.js';
import { parsePolicyText } from './parse.js';
import { PolicyError } from './policy-error.js';
import { effectivePolicies } from './scope.js';
import type { ScopeConflict } from './scope.js';
import type { PolicyObject, RootOfTrust, SignedIdentity } from './types.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** What `/etc/containers/policy.json` holds before any policy: the MCO's template. */
const INSECURE_ACCEPT_ANYTHING = { type: 'insecureAcceptAnything' } as const;

/** Canonical base64 of the decoded bytes, as Go re-marshals a []byte field. */
function reencode(base64: string): string {
  const bytes = decodeBase64Field(base64);
  // Validated objects only reach here; a failure is a programming error.
  if (bytes === undefined) throw new Error('unreachable: invalid base64 in a validated policy');
  return bytes.toString('base64');
}

function signedIdentityJson(identity: SignedIdentity | undefined): Json {
  const match = identity ?? { matchPolicy: 'MatchRepoDigestOrExact' as const };
  switch (match.matchPolicy) {
    case 'MatchRepoDigestOrExact':
      return { type: 'matchRepoDigestOrExact' };
    case 'MatchRepository':
      return { type: 'matchRepository' };
    case 'ExactRepository':
      return { type: 'exactRepository', dockerRepository: match.exactRepository.repository };
    case 'RemapIdentity':
      return {
        type: 'remapIdentity',
        prefix: match.remapIdentity.prefix,
        signedPrefix: match.remapIdentity.signedPrefix,
      };
  }
}

/**
 * One `sigstoreSigned` requirement, with fields in containers/image's marshalling order
 * (keyData, fulcio, rekorPublicKeyData, pki, signedIdentity) and data inline as base64.
 */
export function toPolicyRequirement(
  rootOfTrust: RootOfTrust,
  signedIdentity?: SignedIdentity,
): Json {
  const out: Record<string, Json> = { type: 'sigstoreSigned' };
  switch (rootOfTrust.policyType) {
    case 'PublicKey':
      out.keyData = reencode(rootOfTrust.publicKey.keyData);
      if (rootOfTrust.publicKey.rekorKeyData !== undefined)
        out.rekorPublicKeyData = reencode(rootOfTrust.publicKey.rekorKeyData);
      break;
    case 'FulcioCAWithRekor': {
      const f = rootOfTrust.fulcioCAWithRekor;
      out.fulcio = {
        caData: reencode(f.fulcioCAData),
        oidcIssuer: f.fulcioSubject.oidcIssuer,
        subjectEmail: f.fulcioSubject.signedEmail,
      };
      out.rekorPublicKeyData = reencode(f.rekorKeyData);
      break;
    }
    case 'PKI': {
      const p = rootOfTrust.pki;
      const pki: Record<string, Json> = { caRootsData: reencode(p.caRootsData) };
      if (p.caIntermediatesData !== undefined)
        pki.caIntermediatesData = reencode(p.caIntermediatesData);
      if (p.pkiCertificateSubject.email !== undefined)
        pki.subjectEmail = p.pkiCertificateSubject.email;
      if (p.pkiCertificateSubject.hostname !== undefined)
        pki.subjectHostname = p.pkiCertificateSubject.hostname;
      out.pki = pki;
      break;
    }
  }
  out.signedIdentity = signedIdentityJson(signedIdentity);
  return out;
}

/**
 * The containers policy.json for these policies: `default` stays `insecureAcceptAnything` (as
 * the MCO leaves it); `transports.docker` has one entry per scope (sorted) listing every
 * policy's requirement for it (all must be satisfied). Two-space indented JSON, trailing newline.
 */
export function renderPolicyJson(byScope: ReadonlyMap<string, readonly PolicyObject[]>): string {
  const docker: Record<string, Json> = {};
  for (const [scope, policies] of byScope) {
    docker[scope] = policies.map((p) =>
      toPolicyRequirement(p.spec.policy.rootOfTrust, p.spec.policy.signedIdentity),
    );
  }
  const transports: Record<string, Json> = {};
  if (Object.keys(docker).length > 0) transports.docker = docker;
  transports['docker-daemon'] = { '': [{ ...INSECURE_ACCEPT_ANYTHING }] };
  return `${JSON.stringify({ default: [{ ...INSECURE_ACCEPT_ANYTHING }], transports }, null, 2)}\n`;
}

/**
 * The registries.d YAML: `docker: <scope>: use-sigstore-attachments: true` for every scope and,
 * with mirror rules (ImageDigestMirrorSets / ImageContentSourcePolicies), for the mirror
 * endpoints images of those scopes are read from, as the MCO writes it; keys sorted.
 */
export function renderRegistriesD(
  scopes: Iterable<string>,
  mirrors: readonly MirrorRule[] = [],
): string {
  const keys = new Set<string>();
  for (const scope of scopes) {
    keys.add(scope);
    for (const endpoint of scopeMirrorEndpoints(mirrors, scope)) keys.add(endpoint);
  }
  const docker: Record<string, { 'use-sigstore-attachments': true }> = {};
  for (const key of [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)))
    docker[key] = { 'use-sigstore-attachments': true };
  return dump({ docker }, { lineWidth: -1, noRefs: true, sortKeys: false });
}

/** Input of `renderPolicies`: a file's name (used in messages) and its text. */
export interface PolicyFile {
  readonly name: string;
  readonly text: string;
}

export interface RenderedPolicies {
  /** Empty when `errors` is non-empty: nothing is rendered from partly invalid input. */
  readonly policyJson: string;
  /** Empty when `errors` is non-empty. */
  readonly registriesD: string;
  readonly conflicts: readonly ScopeConflict[];
  readonly errors: readonly PolicyError[];
  /** Every valid object read, in input order. */
  readonly policies: readonly PolicyObject[];
}

function objectKey(p: PolicyObject, namespace: string | undefined): string {
  return p.kind === 'ClusterImagePolicy'
    ? `ClusterImagePolicy ${p.name}`
    : `ImagePolicy ${p.namespace ?? namespace ?? ''}/${p.name}`;
}

/**
 * Parses, validates and renders ClusterImagePolicy / ImagePolicy files the way the Machine
 * Config Operator writes them: `policy.json` and the registries.d file. With `namespace`, the
 * ImagePolicies of that namespace are merged in (the MCO's per-namespace CRI-O policy);
 * without it only ClusterImagePolicies are rendered. ImagePolicy scopes covered by a
 * ClusterImagePolicy scope are dropped and returned as `conflicts`. Pure: no I/O.
 */
export function renderPolicies(
  files: readonly PolicyFile[],
  namespace?: string,
  mirrors: readonly MirrorRule[] = [],
): RenderedPolicies {
  const policies: PolicyObject[] = [];
  const errors: PolicyError[] = [];
  const seen = new Map<string, string>();
  for (const file of files) {
    const parsed = parsePolicyText(file.text, file.name);
    errors.push(...parsed.errors);
    for (const p of parsed.objects) {
      const key = objectKey(p, namespace);
      const first = seen.get(key);
      if (first !== undefined) {
        errors.push(
          new PolicyError('DUPLICATE_OBJECT', p.source, [
            {
              path: 'metadata.name',
              message: `Duplicate value: ${key} is also defined in ${first}`,
            },
          ]),
        );
        continue;
      }
      seen.set(key, p.source);
      policies.push(p);
    }
  }
  const effective = effectivePolicies(policies, namespace);
  if (errors.length > 0)
    return { policyJson: '', registriesD: '', conflicts: effective.conflicts, errors, policies };
  return {
    policyJson: renderPolicyJson(effective.byScope),
    registriesD: renderRegistriesD(effective.byScope.keys(), mirrors),
    conflicts: effective.conflicts,
    errors,
    policies,
  };
}
