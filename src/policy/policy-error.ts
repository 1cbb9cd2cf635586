/**
 * Closed codes for ClusterImagePolicy / ImagePolicy input problems. They are separate from
 * VerifyErrorCode because a bad policy file is a configuration error, never a verdict.
 */
export type PolicyErrorCode =
  /** The text is not YAML/JSON, or exceeds a size limit. */
  | 'INVALID_DOCUMENT'
  /** A document is not a ClusterImagePolicy, ImagePolicy or a List of them. */
  | 'UNSUPPORTED_KIND'
  /** The object breaks a schema or CEL rule of the CRD (see `issues`). */
  | 'INVALID_POLICY'
  /** Two documents name the same object. */
  | 'DUPLICATE_OBJECT';

/** One schema or CEL failure, named by its field path as the API server does. */
export interface PolicyIssue {
  /** e.g. `spec.policy.rootOfTrust.publicKey.keyData` */
  readonly path: string;
  readonly message: string;
}

/** A policy input problem: `source` names the file and document, `issues` the fields. */
export class PolicyError extends Error {
  override readonly name = 'PolicyError';
  readonly code: PolicyErrorCode;
  /** `file` or `file#N` (N counts documents from 1; list items add `.items[i]`). */
  readonly source: string;
  readonly issues: readonly PolicyIssue[];

  constructor(
    code: PolicyErrorCode,
    source: string,
    issues: readonly PolicyIssue[],
    options?: { cause?: unknown },
  ) {
    super(`${source}: ${issues.map((i) => formatIssue(i)).join('; ')}`, options);
    this.code = code;
    this.source = source;
    this.issues = issues;
  }
}

/** `path: message`, or the bare message when the issue concerns the whole document. */
export function formatIssue(issue: PolicyIssue): string {
  return issue.path === '' ? issue.message : `${issue.path}: ${issue.message}`;
}

export function isPolicyError(err: unknown, code?: PolicyErrorCode): err is PolicyError {
  return err instanceof PolicyError && (code === undefined || err.code === code);
}
