import { VerifyError } from '../errors.js';
import { isJsonObject, parseStrictJson, StrictJsonError } from '../json/strict-json.js';
import type { JsonValue } from '../json/strict-json.js';

/** The "atomic container signature" payload, as the CVO and containers/image define it. */
export interface AtomicSignaturePayload {
  readonly type: string;
  readonly digest: string;
  readonly identity: string;
  readonly creator?: string;
  readonly timestamp?: number;
}

export const ATOMIC_SIGNATURE_TYPE = 'atomic container signature';

/**
 * Parses the signed payload strictly (unknown or duplicate fields rejected) and checks it the way
 * the CVO does: type, a non-empty identity, and the digest equal to the release's. Run this only
 * on bytes whose signature has been verified.
 */
export function checkAtomicPayload(
  data: Uint8Array,
  expectedDigest: string,
): AtomicSignaturePayload {
  let root: JsonValue;
  try {
    root = parseStrictJson(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch (err) {
    const reason =
      err instanceof StrictJsonError || err instanceof TypeError ? err.message : String(err);
    throw new VerifyError('PAYLOAD_INVALID_JSON', `the signature is not valid JSON: ${reason}`, {
      cause: err,
    });
  }
  const critical = field(root, 'critical', ['critical', 'optional'], '');
  const type =
    critical === undefined
      ? undefined
      : field(critical, 'type', ['type', 'image', 'identity'], 'critical.');
  const image =
    critical === undefined
      ? undefined
      : field(critical, 'image', ['type', 'image', 'identity'], 'critical.');
  const identity =
    critical === undefined
      ? undefined
      : field(critical, 'identity', ['type', 'image', 'identity'], 'critical.');
  const digest =
    image === undefined
      ? undefined
      : field(image, 'docker-manifest-digest', ['docker-manifest-digest'], 'critical.image.');
  const reference =
    identity === undefined
      ? undefined
      : field(identity, 'docker-reference', ['docker-reference'], 'critical.identity.');
  const optional = isJsonObject(root) ? root.optional : undefined;
  let creator: string | undefined;
  let timestamp: number | undefined;
  if (optional !== undefined) {
    const c = field(optional, 'creator', ['creator', 'timestamp'], 'optional.');
    const t = field(optional, 'timestamp', ['creator', 'timestamp'], 'optional.');
    if (c !== undefined && typeof c !== 'string') invalid('optional.creator must be a string');
    if (t !== undefined && (typeof t !== 'number' || !Number.isInteger(t)))
      invalid('optional.timestamp must be an integer');
    creator = typeof c === 'string' ? c : undefined;
    timestamp = typeof t === 'number' ? t : undefined;
  }
  for (const [name, value] of [
    ['critical.type', type],
    ['critical.image.docker-manifest-digest', digest],
    ['critical.identity.docker-reference', reference],
  ] as const) {
    if (value !== undefined && typeof value !== 'string') invalid(`${name} must be a string`);
  }
  // The CVO's checks and messages, in its order (parity).
  if (type !== ATOMIC_SIGNATURE_TYPE)
    throw new VerifyError('PAYLOAD_WRONG_TYPE', 'signature is not the correct type');
  if (typeof reference !== 'string' || reference.length === 0) {
    throw new VerifyError('PAYLOAD_NO_IDENTITY', 'signature must have an identity');
  }
  if (digest !== expectedDigest)
    throw new VerifyError('PAYLOAD_DIGEST_MISMATCH', 'signature digest does not match');
  return {
    type,
    digest,
    identity: reference,
    ...(creator !== undefined ? { creator } : {}),
    ...(timestamp !== undefined ? { timestamp } : {}),
  };
}

function invalid(reason: string): never {
  throw new VerifyError('PAYLOAD_INVALID_JSON', `the signature is not valid JSON: ${reason}`);
}

/** Reads `name` from an object whose keys must all be in `allowed`. */
function field(
  value: JsonValue,
  name: string,
  allowed: readonly string[],
  path: string,
): JsonValue | undefined {
  if (!isJsonObject(value)) invalid(`${path || 'the payload'} must be an object`);
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) invalid(`unknown field ${JSON.stringify(path + key)}`);
  }
  return value[name];
}
