import { decodeManifestDocuments, ManifestTextError } from '../json/manifest-text.js';
import { PayloadError } from './errors.js';

/**
 * Every container image the payload's manifests would run, so that none escapes the component
 * check: the CVO applies every manifest in `release-manifests/`, not only what image-references
 * lists. Pod templates of the workload kinds are read exactly; any other object contributes every
 * string field named `image` (operator CRs name their operand images that way). ConfigMap and
 * Secret data are text, not images, and are not searched.
 */
export interface ManifestImage {
  readonly path: string;
  /** `Kind/name` of the object naming the image. */
  readonly object: string;
  readonly image: string;
}

/** A manifest file is a few hundred KiB at most; a payload's are a few MiB in all. */
export const MAX_MANIFEST_FILE_CHARS = 4 * 1024 * 1024;
const MAX_MANIFEST_DEPTH = 64;
/** Images collected per payload: thousands would be no release. */
export const MAX_MANIFEST_IMAGES = 10_000;

/** The CVO substitutes this template with the release image itself when it applies a manifest. */
export const RELEASE_IMAGE_TEMPLATE = '{{.ReleaseImage}}';

const WORKLOAD_POD_SPEC: Readonly<Record<string, readonly string[]>> = {
  Pod: ['spec'],
  Deployment: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};
const CONTAINER_LISTS = ['containers', 'initContainers', 'ephemeralContainers'];
const TEXT_KINDS = new Set(['ConfigMap', 'Secret']);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function at(value: unknown, path: readonly string[]): unknown {
  let current = value;
  for (const key of path) current = isObject(current) ? current[key] : undefined;
  return current;
}

function podImages(spec: unknown): string[] {
  const out: string[] = [];
  for (const list of CONTAINER_LISTS) {
    const containers = at(spec, [list]);
    if (!Array.isArray(containers)) continue;
    for (const c of containers) {
      const image = isObject(c) ? c.image : undefined;
      if (typeof image === 'string') out.push(image);
    }
  }
  return out;
}

function imageFields(value: unknown, out: string[], depth = 0): void {
  if (depth > MAX_MANIFEST_DEPTH) return;
  if (Array.isArray(value)) {
    for (const item of value) imageFields(item, out, depth + 1);
    return;
  }
  if (!isObject(value)) return;
  for (const [key, child] of Object.entries(value)) {
    if (key === 'image' && typeof child === 'string') out.push(child);
    else imageFields(child, out, depth + 1);
  }
}

/** The images every object of every manifest names; a manifest that cannot be read fails. */
export function findManifestImages(manifests: ReadonlyMap<string, Buffer>): ManifestImage[] {
  const found: ManifestImage[] = [];
  for (const path of [...manifests.keys()].sort()) {
    const body = manifests.get(path);
    if (body === undefined) continue;
    let documents: unknown[];
    try {
      documents = decodeManifestDocuments(body.toString('utf8'), path, {
        maxChars: MAX_MANIFEST_FILE_CHARS,
        maxJsonDepth: MAX_MANIFEST_DEPTH,
      });
    } catch (err) {
      if (!(err instanceof ManifestTextError)) throw err;
      throw new PayloadError('INVALID_CONTENT', `${path}: ${err.message}`, { cause: err });
    }
    for (const document of documents) {
      const items =
        isObject(document) && Array.isArray(document.items) ? document.items : [document];
      for (const item of items) {
        if (!isObject(item)) continue;
        const kind = typeof item.kind === 'string' ? item.kind : '?';
        const name =
          typeof at(item, ['metadata', 'name']) === 'string'
            ? (at(item, ['metadata', 'name']) as string)
            : '?';
        if (TEXT_KINDS.has(kind)) continue;
        const podSpecPath = WORKLOAD_POD_SPEC[kind];
        const images: string[] = [];
        if (podSpecPath !== undefined) images.push(...podImages(at(item, podSpecPath)));
        else imageFields(item, images);
        for (const image of images) {
          found.push({ path, object: `${kind}/${name}`, image });
          if (found.length > MAX_MANIFEST_IMAGES) {
            throw new PayloadError(
              'INVALID_CONTENT',
              `the payload's manifests name more than ${MAX_MANIFEST_IMAGES} images`,
            );
          }
        }
      }
    }
  }
  return found;
}

/**
 * The images the manifests run that image-references does not list (and that are not the
 * release image itself, through the CVO's template): each would reach the nodes unchecked.
 */
export function imagesOutsideReferences(
  found: readonly ManifestImage[],
  references: ReadonlySet<string>,
): ManifestImage[] {
  return found.filter((f) => f.image !== RELEASE_IMAGE_TEMPLATE && !references.has(f.image));
}
