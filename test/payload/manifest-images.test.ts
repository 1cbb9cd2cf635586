import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { isPayloadError } from '../../src/payload/errors.js';
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

  it('reads image fields of other objects (operator CRs) and Lists, never ConfigMap or Secret data', () => {
    const found = findManifestImages(
      manifests({
        'release-manifests/cr.json': JSON.stringify({
          apiVersion: 'v1',
          kind: 'List',
          items: [
            { kind: 'Operand', metadata: { name: 'x' }, spec: { deep: [{ image: EVIL }] } },
            { kind: 'ConfigMap', metadata: { name: 'docs' }, data: { image: EVIL } },
          ],
        }),
      }),
    );
    assert.deepEqual(
      found.map((f) => [f.object, f.image]),
      [['Operand/x', EVIL]],
    );
  });

  it('fails on a manifest it cannot read, naming it', () => {
    assert.throws(
      () => findManifestImages(manifests({ 'release-manifests/bad.yaml': 'a: [unclosed' })),
      (err) => isPayloadError(err, 'INVALID_CONTENT') && /bad\.yaml/.test(err.message),
    );
  });
});

describe('imagesOutsideReferences', () => {
  it('keeps images image-references does not list, but not the release image template', () => {
    const found = [
      { path: 'p', object: 'Deployment/op', image: A },
      { path: 'p', object: 'CronJob/prune', image: EVIL },
      { path: 'p', object: 'Deployment/cvo', image: RELEASE_IMAGE_TEMPLATE },
    ];
    assert.deepEqual(
      imagesOutsideReferences(found, new Set([A])).map((f) => f.image),
      [EVIL],
    );
  });
});
