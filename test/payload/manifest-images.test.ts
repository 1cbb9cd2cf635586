import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { isVerifyError } from '../../src/errors.js';
import {
  findManifestImages,
  imagesOutsideReferences,
  RELEASE_IMAGE_TEMPLATE,
} from '../../src/payload/manifest-images.js';

const A = `quay.io/ocp/art@sha256:${'a'.repeat(64)}`;
const B = `quay.io/ocp/art@sha256:${'b'.repeat(64)}`;
const EVIL = `evil.example.com/miner@sha256:${'e'.repeat(64)}`;

function manifests(files: Record<string, string>): Map<string, Buffer> {
  return new Map(Object.entries(files).map(([k, v]) => [k, Buffer.from(v)]));
}

describe('findManifestImages', () => {
  it('reads pod templates of every workload kind, init and ephemeral containers included', () => {
    const found = findManifestImages(
      manifests({
        'release-manifests/0000_50_a.yaml': [
          'apiVersion: apps/v1',
          'kind: Deployment',
          'metadata: {name: op}',
          'spec:',
          '  template:',
          '    spec:',
          `      initContainers: [{name: init, image: "${B}"}]`,
          `      containers: [{name: op, image: "${A}"}]`,
          '---',
          'apiVersion: batch/v1',
          'kind: CronJob',
          'metadata: {name: prune}',
          'spec:',
          '  jobTemplate:',
          '    spec:',
          '      template:',
          '        spec:',
          `          containers: [{name: prune, image: "${EVIL}"}]`,
        ].join('\n'),
        'release-manifests/0000_90_cvo.yaml': [
          'apiVersion: apps/v1',
          'kind: DaemonSet',
          'metadata: {name: cvo}',
          'spec: {template: {spec: {containers: [{name: cvo, image: "{{.ReleaseImage}}"}]}}}',
        ].join('\n'),
      }),
    );
    assert.deepEqual(
      found.map((f) => [f.object, f.image]),
      [
        ['Deployment/op', A],
        ['Deployment/op', B],
        ['CronJob/prune', EVIL],
        ['DaemonSet/cvo', RELEASE_IMAGE_TEMPLATE],
      ],
    );
  });

  it('reads image fields of other objects (operator CRs) and Lists; ConfigMap text only for digests', () => {
    const found = findManifestImages(
      manifests({
        'release-manifests/cr.json': JSON.stringify({
          apiVersion: 'v1',
          kind: 'List',
          items: [
            { kind: 'Operand', metadata: { name: 'x' }, spec: { deep: [{ image: EVIL }] } },
            { kind: 'ConfigMap', metadata: { name: 'docs' }, data: { image: 'see the docs' } },
          ],
        }),
      }),
    );
    assert.deepEqual(
      found.map((f) => [f.object, f.image]),
      [['Operand/x', EVIL]],
    );
  });

  // Found by review: images travel in env vars, args, ConfigMaps operators read, MachineConfig
  // osImageURL, ImageStream tags, related-image lists under other keys.
  it('finds a by-digest pullspec in any string field, whatever carries it', () => {
    const found = findManifestImages(
      manifests({
        'release-manifests/0000_70_network.yaml': [
          'kind: Deployment',
          'metadata: {name: network-operator}',
          'spec:',
          '  template:',
          '    spec:',
          '      containers:',
          `      - {name: op, image: "${A}", env: [{name: OVN_IMAGE, value: "${EVIL}"}], args: ["--images=x=${B}"]}`,
        ].join('\n'),
        'release-manifests/0000_80_osimage.yaml': [
          'kind: ConfigMap',
          'metadata: {name: machine-config-osimageurl}',
          `data: {baseOSContainerImage: "${EVIL}"}`,
          '---',
          'kind: MachineConfig',
          'metadata: {name: rebase}',
          `spec: {osImageURL: "${EVIL}"}`,
          '---',
          'kind: ImageStream',
          'metadata: {name: tools}',
          `spec: {tags: [{name: t, from: {kind: DockerImage, name: "${EVIL}"}}]}`,
        ].join('\n'),
      }),
    );
    assert.deepEqual(
      found.map((f) => `${f.object} ${f.image}`).sort(),
      [
        `ConfigMap/machine-config-osimageurl ${EVIL}`,
        `Deployment/network-operator ${A}`,
        `Deployment/network-operator ${B}`,
        `Deployment/network-operator ${EVIL}`,
        `ImageStream/tools ${EVIL}`,
        `MachineConfig/rebase ${EVIL}`,
      ].sort(),
    );
  });

  it('fails on a manifest it cannot read, naming it', () => {
    assert.throws(
      () => findManifestImages(manifests({ 'release-manifests/bad.yaml': 'a: [unclosed' })),
      (err) => isVerifyError(err, 'INVALID_CONTENT') && /bad\.yaml/.test(err.message),
    );
  });
});

describe('imagesOutsideReferences', () => {
  it('keeps images image-references does not list; the release image template only in manifests/', () => {
    const found = [
      { path: 'release-manifests/p', object: 'Deployment/op', image: A },
      { path: 'release-manifests/p', object: 'CronJob/prune', image: EVIL },
      {
        path: 'manifests/0000_00_cvo.yaml',
        object: 'Deployment/cvo',
        image: RELEASE_IMAGE_TEMPLATE,
      },
      // release-manifests/ are applied as written: the text itself would be the image.
      { path: 'release-manifests/q', object: 'Deployment/q', image: RELEASE_IMAGE_TEMPLATE },
    ];
    assert.deepEqual(
      imagesOutsideReferences(found, new Set([A])).map((f) => f.image),
      [EVIL, RELEASE_IMAGE_TEMPLATE],
    );
  });

  it('refuses template actions in manifests/ other than the two plain fields (review finding)', () => {
    for (const action of [
      '{{"evil.io/x@sha256:0"}}',
      '{{printf "%s" .ReleaseImage}}',
      '{{if .X}}',
    ]) {
      assert.throws(
        () =>
          findManifestImages(
            manifests({
              'manifests/0000_00_x.yaml': `kind: Deployment\nmetadata: {name: x}\nspec: {template: {spec: {containers: [{name: x, image: '${action}'}]}}}\n`,
            }),
          ),
        (err) => isVerifyError(err, 'INVALID_CONTENT') && /template action/.test(err.message),
        action,
      );
    }
    const ok = findManifestImages(
      manifests({
        'manifests/0000_00_cvo.yaml': `kind: Deployment\nmetadata: {name: cvo, annotations: {p: '{{ .ClusterProfile }}'}}\nspec: {template: {spec: {containers: [{name: cvo, image: '{{ .ReleaseImage }}'}]}}}\n`,
      }),
    );
    assert.deepEqual(imagesOutsideReferences(ok, new Set()), []);
  });
});
