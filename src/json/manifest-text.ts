import { loadAll } from 'js-yaml';

import { parseStrictJson, StrictJsonError } from './strict-json.js';

/** Why a manifest file could not be decoded; callers wrap it in their own error, naming the file. */
export class ManifestTextError extends Error {
  override readonly name = 'ManifestTextError';
}

export interface ManifestTextLimits {
  /** Characters accepted in the whole file. */
  readonly maxChars: number;
  /** Characters accepted in one JSON document. */
  readonly maxJsonChars?: number;
  readonly maxJsonDepth: number;
}

/**
 * Decodes Kubernetes manifests written as JSON or YAML (one or more documents). JSON goes through
 * the strict parser (duplicate keys rejected, as kubectl's strict decoding does); YAML is read in
 * JSON-compatible mode, so a repeated key overrides, like Go's YAML decoder.
 */
export function decodeManifestDocuments(
  text: string,
  origin: string,
  limits: ManifestTextLimits,
): unknown[] {
  if (text.length > limits.maxChars) {
    throw new ManifestTextError(`file is longer than ${limits.maxChars} characters`);
  }
  if (/^\s*[{[]/.test(text)) {
    try {
      return [
        parseStrictJson(text, {
          maxLength: limits.maxJsonChars ?? limits.maxChars,
          maxDepth: limits.maxJsonDepth,
        }),
      ];
    } catch (err) {
      if (!(err instanceof StrictJsonError)) throw err;
      throw new ManifestTextError(`invalid JSON: ${err.message}`, { cause: err });
    }
  }
  try {
    return loadAll(text, null, { json: true, filename: origin });
  } catch (err) {
    const firstLine = err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err);
    throw new ManifestTextError(`invalid YAML: ${firstLine}`, { cause: err });
  }
}
