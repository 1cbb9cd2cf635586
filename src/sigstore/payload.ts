import { VerifyError } from '../errors.js';
import { parseDigest } from '../image/pullspec.js';
import { isJsonObject, parseStrictJson } from '../json/strict-json.js';
import type { JsonValue } from '../json/strict-json.js';

/** The layer media type of a cosign "simple signing" payload. */
export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
/** `critical.type` of every cosign image signature. */
export const COSIGN_SIGNATURE_TYPE = 'cosign container image signature';
/**
 * A payload is a few hundred bytes, plus user annotations under `optional`. 64 KiB bounds the
 * blob fetch and the parse while leaving room for generous annotations.
 */
export const MAX_PAYLOAD_BYTES = 64 * 1024;

/** What a verified payload claims. Still untrusted until compared with the image and policy. */
export interface CosignPayload {
  readonly dockerReference: string;
  readonly dockerManifestDigest: string;
  /** `optional.creator`, when present. */
  readonly creator?: string;
  /** `optional.timestamp` (Unix seconds), when present. */
  readonly timestamp?: number;
  /** The `optional` object (user annotations included); null when cosign wrote `null`. */
  readonly optional: { readonly [key: string]: JsonValue } | null;
}

type JsonObject = { readonly [key: string]: JsonValue };

/** Strict UTF-8; one decode call per payload (not streaming), so one decoder serves them all. */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Parses a simple signing payload strictly (containers/image semantics): exactly `critical`
 * and `optional` at the top; exactly `type`, `image`, `identity` in `critical`, each with its
 * one field; duplicate keys and invalid UTF-8 refused. Call only on bytes whose signature has
 * verified: the parser is not the first line of defence.
 */
export function parseCosignPayload(bytes: Uint8Array, maxBytes = MAX_PAYLOAD_BYTES): CosignPayload {
  const invalid = (why: string, cause?: unknown): never => {
    throw new VerifyError(
      'PAYLOAD_INVALID',
      `cosign payload: ${why}`,
      cause === undefined ? {} : { cause },
    );
  };
  if (bytes.length > maxBytes) {
    throw new VerifyError(
      'PAYLOAD_OVERSIZE',
      `cosign payload: ${bytes.length} bytes exceed the limit of ${maxBytes}`,
    );
  }
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch (err) {
    return invalid('not valid UTF-8', err);
  }
  let document: JsonValue;
  try {
    document = parseStrictJson(text, { maxLength: maxBytes });
  } catch (err) {
    return invalid(`not valid JSON: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  const exactly = (
    value: JsonValue | undefined,
    fields: readonly string[],
    where: string,
  ): JsonObject => {
    if (!isJsonObject(value)) return invalid(`${where} is not an object`);
    for (const key of Object.keys(value)) {
      if (!fields.includes(key)) invalid(`unknown field ${JSON.stringify(key)} in ${where}`);
    }
    for (const field of fields) {
      if (!(field in value)) invalid(`${where}.${field} is missing`);
    }
    return value;
  };
  const top = exactly(document, ['critical', 'optional'], 'the payload');
  const critical = exactly(top.critical, ['identity', 'image', 'type'], 'critical');
  if (typeof critical.type !== 'string') return invalid('critical.type is not a string');
  if (critical.type !== COSIGN_SIGNATURE_TYPE) {
    throw new VerifyError(
      'PAYLOAD_WRONG_TYPE',
      `cosign payload: critical.type ${JSON.stringify(critical.type.slice(0, 100))} is not ${JSON.stringify(COSIGN_SIGNATURE_TYPE)}`,
    );
  }
  const image = exactly(critical.image, ['docker-manifest-digest'], 'critical.image');
  const digest = image['docker-manifest-digest'];
  if (typeof digest !== 'string')
    return invalid('critical.image.docker-manifest-digest is not a string');
  try {
    parseDigest(digest);
  } catch (err) {
    return invalid('critical.image.docker-manifest-digest is not a valid digest', err);
  }
  const identity = exactly(critical.identity, ['docker-reference'], 'critical.identity');
  const reference = identity['docker-reference'];
  if (typeof reference !== 'string')
    return invalid('critical.identity.docker-reference is not a string');

  // cosign writes `"optional": null` when there are no annotations.
  const optional = top.optional;
  if (optional !== null && !isJsonObject(optional))
    return invalid('optional is neither an object nor null');
  let creator: string | undefined;
  let timestamp: number | undefined;
  if (optional !== null) {
    if ('creator' in optional) {
      if (typeof optional.creator !== 'string') return invalid('optional.creator is not a string');
      creator = optional.creator;
    }
    if ('timestamp' in optional) {
      if (typeof optional.timestamp !== 'number' || !Number.isSafeInteger(optional.timestamp)) {
        return invalid('optional.timestamp is not an integer');
      }
      timestamp = optional.timestamp;
    }
  }
  return {
    dockerReference: reference,
    dockerManifestDigest: digest,
    ...(creator !== undefined ? { creator } : {}),
    ...(timestamp !== undefined ? { timestamp } : {}),
    optional,
  };
}
