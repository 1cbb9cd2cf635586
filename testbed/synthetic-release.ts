import { randomBytes } from 'node:crypto';

import { OCI_MANIFEST } from '../src/registry/manifest.js';
import {
  createTestKey,
  makeCosignPayload,
  makeSignatureLayer,
  pushCosignSignatures,
} from './cosign-signer.js';
import type { TestKey } from './cosign-signer.js';
import { pushBlob, pushManifest } from './local-registry.js';
import type { PushedDescriptor, PushTarget } from './local-registry.js';
import { gzip, makeTar } from './tar-writer.js';
import type { TarEntryInput } from './tar-writer.js';

const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

/** How one component of a synthetic release is signed and stored. */
export type ComponentKind =
  /** Signed with the release key (a legacy cosign `.sig`). */
  | 'signed'
  /** No signature at all (the 4.12.0 "etcd" case). */
  | 'unsigned'
  /** Signed, but with another key. */
  | 'wrong-key'
  /** Pushed and signed only in the mirror repository, under the logical name. */
  | 'mirror-only';

export interface SyntheticReleaseOptions {
  readonly target: PushTarget;
  /** `127.0.0.1:PORT` as pullspecs name it. */
  readonly host: string;
  readonly key: TestKey;
  /** Component count (default 190, as a 4.17 release). */
  readonly components?: number;
  /** Component kinds by tag name; every other component is `signed`. */
  readonly kinds?: Readonly<Record<string, ComponentKind>>;
  readonly componentRepo?: string;
  readonly mirrorRepo?: string;
  readonly releaseRepo?: string;
  readonly version?: string;
  /** Extra entries written into the release-manifests layer (e.g. hostile ones). */
  readonly extraEntries?: readonly TarEntryInput[];
  /** Changes the compressed release-manifests layer before it is pushed (e.g. truncates it). */
  readonly transformLayer?: (gzipped: Buffer) => Buffer;
  /** Release-manifests files besides image-references and release-metadata. */
  readonly manifests?: Readonly<Record<string, string>>;
}

export interface SyntheticComponent {
  readonly tag: string;
  readonly kind: ComponentKind;
  /** The logical pullspec the release lists. */
  readonly pullspec: string;
  readonly digest: string;
}

export interface SyntheticRelease {
  readonly pullspec: string;
  readonly digest: string;
  readonly version: string;
  readonly components: readonly SyntheticComponent[];
  readonly componentRepo: string;
  readonly mirrorRepo: string;
}

/** Component tag names: a few real ones first (etcd among them), then numbered ones. */
export function componentTags(count: number): string[] {
  const named = ['etcd', 'cli', 'machine-config-operator', 'cluster-version-operator', 'installer'];
  return Array.from(
    { length: count },
    (_, i) => named[i] ?? `component-${String(i).padStart(3, '0')}`,
  );
}

/**
 * Builds and pushes a release image like OpenShift's: ~190 component images in one repository
 * (each a distinct manifest over a shared layer), their cosign signatures, and a release image
 * whose top layer holds `release-manifests/image-references` (an ImageStream listing the
 * components by digest) and `release-metadata`.
 */
export async function pushSyntheticRelease(
  options: SyntheticReleaseOptions,
): Promise<SyntheticRelease> {
  const { target, host } = options;
  const componentRepo = options.componentRepo ?? 'ocp/release-art-dev';
  const mirrorRepo = options.mirrorRepo ?? 'mirror/release-art-dev';
  const releaseRepo = options.releaseRepo ?? 'ocp/release';
  const version = options.version ?? '4.17.0';
  const otherKey = createTestKey('p256');

  // One push per repository, shared by the components pushed together: eight concurrent uploads
  // of the same blob made docker-registry answer DIGEST_INVALID now and then.
  const layers = new Map<string, Promise<PushedDescriptor>>();
  const sharedLayer = randomBytes(64);
  const layerIn = (repo: string): Promise<PushedDescriptor> => {
    let layer = layers.get(repo);
    if (layer === undefined) {
      layer = pushBlob(target, repo, sharedLayer, 'application/vnd.oci.image.layer.v1.tar');
      layers.set(repo, layer);
    }
    return layer;
  };

  const nonce = randomBytes(8).toString('hex');
  const components: SyntheticComponent[] = [];
  const tags = componentTags(options.components ?? 190);
  // Pushed a few at a time: the registry is local, the machine small.
  const work = tags.map((tag) => async () => {
    const kind = options.kinds?.[tag] ?? 'signed';
    const repo = kind === 'mirror-only' ? mirrorRepo : componentRepo;
    const layer = await layerIn(repo);
    const config = await pushBlob(
      target,
      repo,
      Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          // A nonce keeps each release's components distinct even in a shared repository.
          config: { Labels: { 'io.openshift.release.operator': tag, nonce } },
          rootfs: { type: 'layers', diff_ids: [layer.digest] },
        }),
      ),
      OCI_CONFIG,
    );
    const manifest = await pushManifest(target, repo, undefined, {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config,
      layers: [layer],
    });
    const logical = `${host}/${componentRepo}`;
    if (kind !== 'unsigned') {
      const signer = kind === 'wrong-key' ? otherKey : options.key;
      const payload = makeCosignPayload(`${logical}@${manifest.digest}`, manifest.digest);
      await pushCosignSignatures(target, repo, manifest, [makeSignatureLayer(signer, payload)]);
    }
    components.push({
      tag,
      kind,
      pullspec: `${logical}@${manifest.digest}`,
      digest: manifest.digest,
    });
  });
  for (let i = 0; i < work.length; i += 8) {
    await Promise.all(work.slice(i, i + 8).map((run) => run()));
  }
  components.sort((a, b) => tags.indexOf(a.tag) - tags.indexOf(b.tag));

  const imageReferences = {
    kind: 'ImageStream',
    apiVersion: 'image.openshift.io/v1',
    metadata: { name: version, creationTimestamp: null },
    spec: {
      lookupPolicy: { local: false },
      tags: components.map((c) => ({
        name: c.tag,
        annotations: { 'io.openshift.build.commit.id': '0'.repeat(40) },
        from: { kind: 'DockerImage', name: c.pullspec },
        generation: null,
        importPolicy: {},
        referencePolicy: { type: 'Source' },
      })),
    },
    status: { dockerImageRepository: '' },
  };
  const metadata = {
    kind: 'cincinnati-metadata-v0',
    version,
    previous: ['4.16.0', '4.16.1'],
    metadata: { url: `https://access.redhat.com/errata/RHSA-2024:0000` },
  };
  const entries: TarEntryInput[] = [
    { name: 'release-manifests/', type: 'dir' },
    { name: 'release-manifests/image-references', body: JSON.stringify(imageReferences) },
    { name: 'release-manifests/release-metadata', body: JSON.stringify(metadata) },
    ...Object.entries(options.manifests ?? {}).map(([name, body]) => ({
      name: `release-manifests/${name}`,
      body,
    })),
    ...(options.extraEntries ?? []),
  ];
  let gzipped = gzip(makeTar(entries));
  if (options.transformLayer !== undefined) gzipped = options.transformLayer(gzipped);
  const base = await pushBlob(
    target,
    releaseRepo,
    gzip(makeTar([{ name: 'usr/bin/cvo', body: 'x' }])),
    LAYER_GZIP,
  );
  const top = await pushBlob(target, releaseRepo, gzipped, LAYER_GZIP);
  const config = await pushBlob(
    target,
    releaseRepo,
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Labels: { 'io.openshift.release': version } },
        rootfs: { type: 'layers', diff_ids: [base.digest, top.digest] },
      }),
    ),
    OCI_CONFIG,
  );
  const release = await pushManifest(target, releaseRepo, version, {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config,
    layers: [base, top],
  });
  return {
    pullspec: `${host}/${releaseRepo}@${release.digest}`,
    digest: release.digest,
    version,
    components,
    componentRepo,
    mirrorRepo,
  };
}
