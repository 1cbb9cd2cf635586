import { STATUS_CODES } from 'node:http';

import { ResponseTooLargeError } from './transport.js';

/** An API error with its HTTP status (409 conflict, 404 not found, 403 forbidden, …). */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  /** The HTTP status, or 0 when there was no usable answer (a transport failure, a bad body). */
  readonly status: number;
  constructor(status: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
  }
}

/**
 * The API server serves no version of a resource type: its CustomResourceDefinition is not
 * installed (a ClusterImagePolicy on a cluster without TechPreviewNoUpgrade before the API went
 * GA). A list answered 404 is this error only once discovery confirmed that no version of the
 * group has the resource; a missing object, a resource served under another version, a 403 or a
 * failed discovery never are.
 */
export class ResourceNotServedError extends KubeApiError {
  /** `plural.group`, as the API server names the resource type. */
  readonly resource: string;
  constructor(what: string, resource: string, options?: { cause?: unknown }) {
    super(404, `${what}: 404 the API server does not serve ${resource} in any version`, options);
    this.resource = resource;
  }
}

/** Whether `err` says the resource type is not served at all ({@link ResourceNotServedError}). */
export function isResourceNotServed(err: unknown): err is ResourceNotServedError {
  return err instanceof ResourceNotServedError;
}

/** A kubeconfig (or in-cluster configuration) that cannot be used, with what is wrong in it. */
export class KubeConfigError extends Error {
  override readonly name = 'KubeConfigError';
}

/** Of an error answer's body, at most this much is quoted in the message. */
const MAX_QUOTED_BODY_CHARS = 4096;

/**
 * The error for a non-2xx answer to `what`: `what: <status> <body as the API server sent it>`
 * (a Status object's JSON), the body cut at {@link MAX_QUOTED_BODY_CHARS}. Not for Secrets: a
 * Secret read words its errors itself (client.ts) so that nothing it read is quoted.
 */
export function responseError(what: string, status: number, body: Buffer): KubeApiError {
  let text = body.toString('utf8');
  if (text.length > MAX_QUOTED_BODY_CHARS)
    text = `${text.slice(0, MAX_QUOTED_BODY_CHARS)}… (${String(body.length)} bytes)`;
  if (text.trim() === '') text = STATUS_CODES[status] ?? 'no body';
  return new KubeApiError(status, `${what}: ${String(status)} ${text}`);
}

/** One JSON object; a malformed answer is named by its size, never quoted. */
export function parseJsonObject(what: string, body: Buffer): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new KubeApiError(
      0,
      `${what}: the API server's answer is not JSON (${String(body.length)} bytes)`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new KubeApiError(0, `${what}: the API server's answer is not a JSON object`);
  return value as Record<string, unknown>;
}

/** A failure before or while the answer was read, as a KubeApiError with status 0. */
export function transportError(what: string, err: unknown): KubeApiError {
  if (err instanceof KubeApiError) return err;
  if (err instanceof ResponseTooLargeError)
    return new KubeApiError(0, `${what}: ${err.message}`, { cause: err });
  return new KubeApiError(0, `${what}: ${err instanceof Error ? err.message : String(err)}`, {
    cause: err,
  });
}
