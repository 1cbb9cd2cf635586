import { decodeManifestDocuments, ManifestTextError } from '../json/manifest-text.js';
import { PolicyError } from './policy-error.js';
import type { PolicyObject } from './types.js';
import { validatePolicyObject } from './validate.js';

/**
 * Largest policy file accepted. An object holds at most 256 scopes of 512 characters and five
 * 8 KiB base64 fields (~150 KiB); etcd caps objects at 1.5 MiB. 4 MiB leaves room for Lists.
 */
export const MAX_POLICY_FILE_CHARS = 4 * 1024 * 1024;
/** Most objects read from one file (documents plus List items). */
export const MAX_POLICY_OBJECTS_PER_FILE = 1000;
/** JSON nesting is at most ~8 levels in these schemas; 64 rejects pathological input early. */
const MAX_JSON_DEPTH = 64;

const LIST_KINDS = new Set(['List', 'ClusterImagePolicyList', 'ImagePolicyList']);

/** What one file yields: every valid object and every error, so all problems are reported. */
export interface ParsedPolicyFile {
  readonly objects: readonly PolicyObject[];
  readonly errors: readonly PolicyError[];
}

function decodeDocuments(text: string, origin: string): unknown[] {
  try {
    return decodeManifestDocuments(text, origin, {
      maxChars: MAX_POLICY_FILE_CHARS,
      maxJsonDepth: MAX_JSON_DEPTH,
    });
  } catch (err) {
    if (!(err instanceof ManifestTextError)) throw err;
    throw new PolicyError('INVALID_DOCUMENT', origin, [{ path: '', message: err.message }], {
      cause: err.cause,
    });
  }
}

function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses YAML or JSON text holding ClusterImagePolicy / ImagePolicy objects: single objects,
 * multi-document YAML, and v1 Lists (`List`, `ClusterImagePolicyList`, `ImagePolicyList`).
 * Empty documents are skipped. Each object is validated by `validatePolicyObject`; failures
 * are collected per object, named `origin#N` (and `.items[i]` inside Lists).
 */
export function parsePolicyText(text: string, origin: string): ParsedPolicyFile {
  let documents: unknown[];
  try {
    documents = decodeDocuments(text, origin);
  } catch (err) {
    if (err instanceof PolicyError) return { objects: [], errors: [err] };
    throw err;
  }
  const objects: PolicyObject[] = [];
  const errors: PolicyError[] = [];
  const candidates: { value: unknown; source: string }[] = [];
  for (const [i, doc] of documents.entries()) {
    const source = documents.length === 1 ? origin : `${origin}#${i + 1}`;
    if (doc === null || doc === undefined) continue;
    if (isRecord(doc) && typeof doc.kind === 'string' && LIST_KINDS.has(doc.kind)) {
      if (!Array.isArray(doc.items)) {
        errors.push(
          new PolicyError('INVALID_DOCUMENT', source, [
            { path: 'items', message: 'Required value: a List must hold an items array' },
          ]),
        );
        continue;
      }
      for (const [j, item] of (doc.items as unknown[]).entries())
        candidates.push({ value: item, source: `${source}.items[${j}]` });
    } else {
      candidates.push({ value: doc, source });
    }
    if (candidates.length > MAX_POLICY_OBJECTS_PER_FILE) {
      errors.push(
        new PolicyError('INVALID_DOCUMENT', origin, [
          { path: '', message: `more than ${MAX_POLICY_OBJECTS_PER_FILE} objects` },
        ]),
      );
      return { objects: [], errors };
    }
  }
  for (const { value, source } of candidates) {
    try {
      objects.push(validatePolicyObject(value, source));
    } catch (err) {
      if (err instanceof PolicyError) errors.push(err);
      else throw err;
    }
  }
  return { objects, errors };
}
