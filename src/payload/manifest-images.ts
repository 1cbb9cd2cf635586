import { decodeManifestDocuments, ManifestTextError } from '../json/manifest-text.js';
import { VerifyError } from '../errors.js';

/**
 * Every container image the payload's manifests would run, so that none escapes the component
 * check: the CVO applies every manifest in `release-manifests/`, not only what image-references
 * lists. Pod templates of the workload kinds are read exactly; any other object contributes every
 * string field named `image` (operator CRs name their operand images that way), except ConfigMap
 * and Secret data; and in every object, every by-digest pullspec inside any string counts.
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

/**
 * The CVO renders `manifests/` (its own) through Go's text/template before applying them, with
 * these two fields; `release-manifests/` are applied as written. `{{.ReleaseImage}}` is the
 * release image itself, verified on its own.
 */
export const RELEASE_IMAGE_TEMPLATE = '{{.ReleaseImage}}';
const UNDERSTOOD_TEMPLATE_ACTIONS = new Set(['{{.ReleaseImage}}', '{{.ClusterProfile}}']);
const TEMPLATED_DIR = 'manifests/';
const TEMPLATE_ACTION_RE = /\{\{[\s\S]*?\}\}/g;

/**
 * Template actions the CVO would evaluate in a templated manifest: anything but the two plain
 * fields could build an image name no scan can see (`{{printf …}}`, a quoted literal), so it is
 * refused.
 */
function checkTemplateActions(path: string, text: string): void {
  for (const match of text.matchAll(TEMPLATE_ACTION_RE)) {
    const action = match[0].replace(/\s+/g, '');
    if (!UNDERSTOOD_TEMPLATE_ACTIONS.has(action)) {
      throw new VerifyError(
        'INVALID_CONTENT',
        `${path}: template action ${JSON.stringify(match[0].slice(0, 80))} would be evaluated by the cluster-version operator; only {{.ReleaseImage}} and {{.ClusterProfile}} are understood here`,
      );
    }
  }
}

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
/** Kinds whose `image`-named fields are text, not images (their strings are still scanned). */
const TEXT_KINDS = new Set(['ConfigMap', 'Secret']);
/**
 * A by-digest pullspec inside any string (env values, args, ConfigMap data such as the
 * machine-config operator's OS image, MachineConfig osImageURL, ImageStream tags, operator
 * related images): payload manifests name the images they run by digest, substituted from
 * image-references, so every such pullspec must be one of them, whatever field carries it.
 */
const DIGEST_PULLSPEC_RE =
  /(?:localhost|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(?::[0-9]+)?\/[a-z0-9]+(?:(?:[._]|__|-+|\/)[a-z0-9]+)*@sha256:[a-f0-9]{64}/g;
/** Strings scanned per object, and characters per string: manifests are small. */
const MAX_SCANNED_STRING_CHARS = 1024 * 1024;

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

function digestPullspecs(value: unknown, out: string[], depth = 0): void {
  if (depth > MAX_MANIFEST_DEPTH) return;
  if (typeof value === 'string') {
    for (const match of value.slice(0, MAX_SCANNED_STRING_CHARS).matchAll(DIGEST_PULLSPEC_RE))
      out.push(match[0]);
    return;
  }
  if (Array.isArray(value)) {
    for (const item of value) digestPullspecs(item, out, depth + 1);
    return;
  }
  if (!isObject(value)) return;
  for (const [key, child] of Object.entries(value)) {
    digestPullspecs(key, out, depth + 1);
    digestPullspecs(child, out, depth + 1);
  }
}

/** The images every object of every manifest names; a manifest that cannot be read fails. */
export function findManifestImages(manifests: ReadonlyMap<string, Buffer>): ManifestImage[] {
  const found: ManifestImage[] = [];
  for (const path of [...manifests.keys()].sort()) {
    const body = manifests.get(path);
    if (body === undefined) continue;
    let text = body.toString('utf8');
    if (path.startsWith(TEMPLATED_DIR)) {
      checkTemplateActions(path, text);
      // Spaced spellings render the same: read them as the one the check below exempts.
      text = text.replace(/\{\{\s*\.ReleaseImage\s*\}\}/g, RELEASE_IMAGE_TEMPLATE);
    }
    let documents: unknown[];
    try {
      documents = decodeManifestDocuments(text, path, {
        maxChars: MAX_MANIFEST_FILE_CHARS,
        maxJsonDepth: MAX_MANIFEST_DEPTH,
      });
    } catch (err) {
      if (!(err instanceof ManifestTextError)) throw err;
      throw new VerifyError('INVALID_CONTENT', `${path}: ${err.message}`, { cause: err });
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
        const podSpecPath = WORKLOAD_POD_SPEC[kind];
        const images: string[] = [];
        if (podSpecPath !== undefined) images.push(...podImages(at(item, podSpecPath)));
        else if (!TEXT_KINDS.has(kind)) imageFields(item, images);
        digestPullspecs(item, images);
        for (const image of new Set(images)) {
          found.push({ path, object: `${kind}/${name}`, image });
          if (found.length > MAX_MANIFEST_IMAGES) {
            throw new VerifyError(
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
  return found.filter(
    (f) =>
      !(f.image === RELEASE_IMAGE_TEMPLATE && f.path.startsWith(TEMPLATED_DIR)) &&
      !references.has(f.image),
  );
}
