// The CVO's own behaviour, text for text. Every expected text below is the CVO's source text
// (github.com/openshift/cluster-version-operator at 6e719331fb58, read from its repository;
// apimachinery from its vendor/ tree; library-go at v0.0.0-20260108135436-db8dbd64c462), with
// the file and line it comes from; goSprintf formats it as Go's fmt does.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { toGoArchitecture } from '../../src/controller/controller.js';
import { prune, recordTarget } from '../../src/controller/history.js';
import { cvoGatesFromFeatureGate, DEFAULT_CVO_GATES } from '../../src/controller/feature-gates.js';
import { applyNothing, applyVerdict, planReconcile } from '../../src/controller/reconcile.js';
import type { VerificationOutcome } from '../../src/controller/reconcile.js';
import { goQuote, isSemver, resolveTarget } from '../../src/controller/target.js';
import type { ClusterVerification } from '../../src/controller/verification-port.js';
import { defaultServiceConfig } from '../../src/config/service-config.js';
import type { ClusterVersion, UpdateHistory } from '../../src/kube/types.js';
import {
  CURRENT_RELEASE,
  installedClusterVersion,
  release,
  startController,
} from '../helpers/controller-fixture.js';
import { verifiedVerdict } from '../helpers/fake-release-verifier.js';

/** Go's fmt.Sprintf for the verbs the CVO's texts use: %q (strconv.Quote), %s and %v. */
function goSprintf(format: string, ...args: string[]): string {
  let i = 0;
  return format.replace(/%[qsv]/g, (verb) => {
    const arg = args[i++];
    if (arg === undefined) throw new Error(`goSprintf: no argument for ${verb} in ${format}`);
    return verb === '%q' ? goQuote(arg) : arg;
  });
}

// pkg/cvo/status.go:275
const INVALID_ONE = 'The cluster version is invalid: %s';
// pkg/cvo/status.go:277-279
const INVALID_MANY = 'The cluster version is invalid:\n';
const INVALID_ITEM = '* %s\n';
// vendor/k8s.io/apimachinery/pkg/util/validation/field/errors.go:64 (Error), :89 (a string
// value, after the type), :114 (the detail), :180, :184, :188 (the type names).
const FIELD_ERROR = '%s: %s';
const STRING_VALUE = '%s: %q';
const DETAIL = ': %s';
const REQUIRED = 'Required value';
const INVALID = 'Invalid value';
const FORBIDDEN = 'Forbidden';
// lib/validation/validation.go:36, :38, :40, :43, :48, :52
const ACCEPT_RISKS_FORBIDDEN = 'acceptRisks must not be specified';
const MUST_SPECIFY = 'must specify architecture, version, or image';
const MUST_SPECIFY_WITH_RISKS = 'must specify architecture, version, image, or acceptRisks';
const NOT_SEMVER = 'must be a semantic version (1.2.3[-...])';
const NOT_AVAILABLE = 'when image is empty the update must be an available update';
const MULTIPLE_PAYLOADS =
  'there are multiple possible payloads for this version, specify the exact image';
// lib/validation/validation.go:21-31
const UPSTREAM_INVALID = 'must be a valid URL or empty';
const CLUSTER_ID_VARIANT = 'must be an RFC4122-variant UUID';
const CLUSTER_ID_VERSION = 'must be a version-4 UUID';
// pkg/cvo/sync_worker.go:456
const PAYLOAD_LOADED = 'Payload loaded version=%q image=%q architecture=%q';
// pkg/cvo/sync_worker.go:399 and :400
const VERSION_MISMATCH = 'release image version %s does not match the expected upstream version %s';
const VERIFYING_PAYLOAD_FAILED = 'Verifying payload failed version=%q image=%q failure=%v';
// pkg/cvo/sync_worker.go:353 and :378
const RETRIEVE_FAILED = 'Retrieving payload failed version=%q image=%q failure=%s';
const LOAD_FAILED = 'Loading payload failed version=%q image=%q failure=%v';
// pkg/cvo/updatepayload.go:140
const FORCED_RISK =
  'Target release version=%q image=%q cannot be verified, but continuing anyway because the update was forced: %v';
// library-go pkg/verify/store/configmap/configmap.go:141
const LIBRARY_GO_SIGNATURE_CONFIGMAP = 'signatures-managed';

function invalidMessage(field: string, body: string, detail: string): string {
  return goSprintf(INVALID_ONE, goSprintf(FIELD_ERROR, field, body + goSprintf(DETAIL, detail)));
}
function invalidValue(field: string, value: string, detail: string): string {
  return invalidMessage(field, goSprintf(STRING_VALUE, INVALID, value), detail);
}

const IMG = (n: number): string => release(0x100 + n);
const NOW = '2026-01-01T00:00:00Z';

function cv(
  desiredUpdate?: Record<string, unknown>,
  status: Partial<NonNullable<ClusterVersion['status']>> = {},
): ClusterVersion {
  const base = installedClusterVersion([{ version: '4.17.0', image: IMG(2) }]);
  return {
    ...base,
    spec: { ...base.spec, ...(desiredUpdate ? { desiredUpdate } : {}) },
    status: { ...(base.status as NonNullable<ClusterVersion['status']>), ...status },
  };
}

const verified: VerificationOutcome = {
  verified: true,
  message: 'verified',
  details: [],
  summary: 'k: signed',
};

describe('CVO parity: spec.upstream and spec.clusterID (lib/validation/validation.go:19-31, ClearInvalidFields)', () => {
  const withSpec = (spec: Record<string, unknown>, desiredUpdate?: Record<string, unknown>) => {
    const base = cv(desiredUpdate);
    return { ...base, spec: { ...base.spec, ...spec } };
  };

  it('flags them Invalid but still resolves the update (only the invalid field is cleared)', () => {
    assert.deepEqual(resolveTarget(withSpec({ clusterID: 'x' }, { image: IMG(2) })), {
      kind: 'target',
      image: IMG(2),
      version: '',
      force: false,
      invalid: invalidValue('spec.clusterID', 'x', CLUSTER_ID_VARIANT),
    });
    assert.equal(
      (
        resolveTarget(withSpec({ clusterID: '7d1f3a34-7d1f-1c1f-9c1f-7d1f3a347d1f' })) as {
          invalid?: string;
        }
      ).invalid,
      invalidValue('spec.clusterID', '7d1f3a34-7d1f-1c1f-9c1f-7d1f3a347d1f', CLUSTER_ID_VERSION),
    );
    assert.equal(
      (resolveTarget(withSpec({ upstream: ':graph' })) as { invalid?: string }).invalid,
      invalidValue('spec.upstream', ':graph', UPSTREAM_INVALID),
    );
    assert.deepEqual(
      resolveTarget(
        withSpec(
          { upstream: 'https://api.openshift.com/api/upgrades_info/v1/graph' },
          { image: IMG(2) },
        ),
      ),
      { kind: 'target', image: IMG(2), version: '', force: false },
    );
  });

  it('lists every error in the CVO’s order when the update is invalid too', () => {
    assert.deepEqual(
      resolveTarget(withSpec({ upstream: ':graph', clusterID: 'x' }, { version: '4.17' })),
      {
        kind: 'invalid',
        message:
          INVALID_MANY +
          [
            goSprintf(
              FIELD_ERROR,
              'spec.upstream',
              goSprintf(STRING_VALUE, INVALID, ':graph') + goSprintf(DETAIL, UPSTREAM_INVALID),
            ),
            goSprintf(
              FIELD_ERROR,
              'spec.clusterID',
              goSprintf(STRING_VALUE, INVALID, 'x') + goSprintf(DETAIL, CLUSTER_ID_VARIANT),
            ),
            goSprintf(
              FIELD_ERROR,
              'spec.desiredUpdate.version',
              goSprintf(STRING_VALUE, INVALID, '4.17') + goSprintf(DETAIL, NOT_SEMVER),
            ),
          ]
            .map((e) => goSprintf(INVALID_ITEM, e))
            .join(''),
      },
    );
  });

  it('keeps Invalid True beside an accepted update, and on a reconcile with nothing to verify', () => {
    const invalid = invalidValue('spec.clusterID', 'x', CLUSTER_ID_VARIANT);
    const { status } = applyVerdict(
      withSpec({ clusterID: 'x' }, { image: IMG(2), version: '4.17.0' }),
      { kind: 'verify', image: IMG(2), version: '4.17.0', force: false, invalid },
      verified,
      { now: NOW, architecture: 'amd64' },
    );
    const byType = (type: string) => status.conditions?.find((c) => c.type === type);
    assert.deepEqual([byType('Invalid')?.status, byType('Invalid')?.message], ['True', invalid]);
    assert.equal(byType('ReleaseAccepted')?.status, 'True');
    assert.equal(status.desired.image, IMG(2));
    const settled = withSpec({ clusterID: 'x' });
    const nothing = applyNothing({ ...settled, status }, NOW, invalid);
    assert.equal(nothing, undefined, 'nothing changes: no write');
    const fixed = applyNothing({ ...settled, status }, NOW);
    assert.equal(
      fixed?.conditions?.find((c) => c.type === 'Invalid'),
      undefined,
    );
  });
});

describe('CVO parity: spec.desiredUpdate validation (lib/validation/validation.go:33-55)', () => {
  it('words an unavailable version as the CVO has since 2023, without "a previous version"', () => {
    assert.deepEqual(resolveTarget(cv({ version: '9.9.9' })), {
      kind: 'invalid',
      message: invalidValue('spec.desiredUpdate.version', '9.9.9', NOT_AVAILABLE),
    });
    assert.equal(
      NOT_AVAILABLE.includes('previous version'),
      false,
      'the wording the CVO dropped in 769040191 (2023-01-19)',
    );
  });

  it('refuses an update naming none of architecture, version and image', () => {
    for (const empty of [{}, { version: '', image: '', force: true }]) {
      assert.deepEqual(resolveTarget(cv(empty)), {
        kind: 'invalid',
        message: invalidMessage('spec.desiredUpdate', REQUIRED, MUST_SPECIFY),
      });
    }
    // With the ClusterUpdateAcceptRisks gate (shouldReconcileAcceptRisks), the message names
    // acceptRisks, and acceptRisks alone is a valid update (nothing to verify).
    assert.deepEqual(resolveTarget(cv({}), { acceptRisks: true }), {
      kind: 'invalid',
      message: invalidMessage('spec.desiredUpdate', REQUIRED, MUST_SPECIFY_WITH_RISKS),
    });
    const risks = { acceptRisks: [{ name: 'SomeInfrastructureThing' }] };
    assert.deepEqual(resolveTarget(cv(risks), { acceptRisks: true }), { kind: 'none' });
    // Without the gate acceptRisks is forbidden (validation.go:35-36), whatever else is set.
    assert.deepEqual(resolveTarget(cv({ ...risks, image: IMG(2) })), {
      kind: 'invalid',
      message: invalidMessage('spec.desiredUpdate.acceptRisks', FORBIDDEN, ACCEPT_RISKS_FORBIDDEN),
    });
  });

  it('refuses a version that is not a semantic version, with or without an image', () => {
    for (const update of [{ version: '4.17' }, { version: 'v4.17.0', image: IMG(2) }]) {
      assert.deepEqual(resolveTarget(cv(update)), {
        kind: 'invalid',
        message: invalidValue('spec.desiredUpdate.version', update.version, NOT_SEMVER),
      });
    }
  });

  it('accepts exactly what github.com/blang/semver/v4 v4.0.0 Parse accepts', () => {
    // Generated by running blang/semver v4.0.0 Parse (the CVO's go.mod:6) on each string.
    const table: Record<string, boolean> = {
      '4.17.0': true,
      '0.0.0': true,
      '4.17.0-rc.1': true,
      '4.17.0-0.nightly-2024-01-01-000000': true,
      '4.17.0+build.1': true,
      '4.17.0+001': true,
      '4.17.0+b-1.x': true,
      '4.17.0-rc.1+b.2': true,
      '4.17.0-a+b-c': true,
      '4.17.0-alpha-1': true,
      '4.17.0-0': true,
      '4.17.0-18446744073709551615': true,
      '18446744073709551615.0.0': true,
      '': false,
      '4': false,
      '4.17': false,
      'v4.17.0': false,
      ' 4.17.0': false,
      '4.17.0 ': false,
      '.4.17': false,
      '4..0': false,
      '04.17.0': false,
      '4.017.0': false,
      '4.17.00': false,
      '4.17.0.1': false,
      '4.17.x': false,
      '4.17.-1': false,
      '4.17.0-': false,
      '4.17.0+': false,
      '4.17.0-+b': false,
      '4.17.0-01': false,
      '4.17.0-rc..1': false,
      '4.17.0-rc_1': false,
      '4.17.0-ü': false,
      '4.17.0+ü': false,
      '4.17.0+build+2': false,
      '4.17.0-18446744073709551616': false,
      '18446744073709551616.0.0': false,
      '１.2.3': false,
    };
    for (const [version, valid] of Object.entries(table)) {
      assert.equal(isSemver(version), valid, JSON.stringify(version));
    }
  });

  it('refuses a version that several available updates offer', () => {
    const twice = cv(
      { version: '4.17.0' },
      {
        availableUpdates: [
          { version: '4.17.0', image: IMG(2) },
          { version: '4.17.0', image: IMG(3) },
        ],
      },
    );
    assert.deepEqual(resolveTarget(twice), {
      kind: 'invalid',
      message: invalidValue('spec.desiredUpdate.version', '4.17.0', MULTIPLE_PAYLOADS),
    });
  });

  it('quotes values as Go’s strconv.Quote does', () => {
    // Generated by running Go 1.26 strconv.Quote on each string.
    const table: [string, string][] = [
      ['4.17.0', '"4.17.0"'],
      ['a"b', '"a\\"b"'],
      ['a\\b', '"a\\\\b"'],
      ['tab\there', '"tab\\there"'],
      ['\x07\x08\x0b\x0c\r', '"\\a\\b\\v\\f\\r"'],
      ['\x00', '"\\x00"'],
      ['\x7f', '"\\x7f"'],
      ['\x1b[31m', '"\\x1b[31m"'],
      ['é', '"é"'],
      ['a\u0301', '"a\u0301"'],
      ['日本', '"日本"'],
      ['😀', '"😀"'],
      ['\u00a0', '"\\u00a0"'],
      ['\u00ad', '"\\u00ad"'],
      ['\u200b', '"\\u200b"'],
      ['\u2028', '"\\u2028"'],
      ['\ufeff', '"\\ufeff"'],
      ['\u{10ffff}', '"\\U0010ffff"'],
      ['\u{e0001}', '"\\U000e0001"'],
      // Go's JSON decoder turns a lone surrogate into U+FFFD, which Quote keeps.
      ['\ud800', '"\ufffd"'],
    ];
    for (const [input, quoted] of table)
      assert.equal(goQuote(input), quoted, JSON.stringify(input));
  });
});

describe('CVO parity: finding the update (pkg/cvo/updatepayload.go:441-470)', () => {
  it('looks a version up in status.availableUpdates only', () => {
    assert.deepEqual(resolveTarget(cv({ version: '4.17.0', force: true })), {
      kind: 'target',
      image: IMG(2),
      version: '4.17.0',
      force: true,
    });
  });

  it('finds no update for a version only the history knows (valid: validation.go:69-75), so the CVO keeps its release', () => {
    const rollback = cv(
      { version: '4.15.0' },
      {
        history: [
          {
            state: 'Completed',
            startedTime: NOW,
            completionTime: NOW,
            version: '4.15.0',
            image: IMG(5),
            verified: true,
          },
        ],
      },
    );
    assert.deepEqual(resolveTarget(rollback), { kind: 'none' });
    assert.equal(planReconcile(rollback).kind, 'nothing');
  });

  it('does not look in conditionalUpdates: a version offered only there needs its image', () => {
    const conditional = cv(
      { version: '4.17.2' },
      { conditionalUpdates: [{ release: { version: '4.17.2', image: IMG(4) } }] },
    );
    assert.deepEqual(resolveTarget(conditional), {
      kind: 'invalid',
      message: invalidValue('spec.desiredUpdate.version', '4.17.2', NOT_AVAILABLE),
    });
  });

  it('resolves architecture Multi to the multi payload of the current version (updatepayload.go:449-453)', () => {
    const multi = cv(
      { architecture: 'Multi', version: '4.17.0' },
      // Validation still counts the requested version (validation.go:44-53).
      {
        availableUpdates: [
          { version: '4.17.0', image: IMG(2) },
          { version: CURRENT_RELEASE.version, image: IMG(6) },
        ],
      },
    );
    assert.deepEqual(resolveTarget(multi), {
      kind: 'target',
      image: IMG(6),
      version: CURRENT_RELEASE.version,
      force: false,
    });
    // On a cluster already multi, the requested version is looked up as usual.
    const already = cv(
      { architecture: 'Multi', version: '4.17.0' },
      { desired: { ...CURRENT_RELEASE, architecture: 'Multi' } },
    );
    assert.equal((resolveTarget(already) as { image: string }).image, IMG(2));
  });
});

describe('CVO parity: status written for a verdict', () => {
  const plan = { kind: 'verify' as const, image: IMG(2), version: '4.17.0', force: false };

  it('says the payload architecture in ReleaseAccepted=True: Multi from release-metadata, else the runtime GOARCH', () => {
    const runtime = applyVerdict(cv({ image: IMG(2), version: '4.17.0' }), plan, verified, {
      now: NOW,
      architecture: 'arm64',
    });
    assert.equal(
      runtime.status.conditions?.find((c) => c.type === 'ReleaseAccepted')?.message,
      goSprintf(PAYLOAD_LOADED, '4.17.0', IMG(2), 'arm64'),
    );
    const multi = applyVerdict(cv({ image: IMG(2), version: '4.17.0' }), plan, verified, {
      now: NOW,
      architecture: 'arm64',
      release: { kind: 'loaded', version: '4.17.0', architecture: 'Multi' },
    });
    assert.equal(
      multi.status.conditions?.find((c) => c.type === 'ReleaseAccepted')?.message,
      goSprintf(PAYLOAD_LOADED, '4.17.0', IMG(2), 'Multi'),
    );
    // runtime.GOARCH names, from Node's process.arch.
    assert.deepEqual(['x64', 'arm64', 'ppc64', 's390x', 'ia32'].map(toGoArchitecture), [
      'amd64',
      'arm64',
      'ppc64le',
      's390x',
      '386',
    ]);
  });

  it('takes an image-only request’s version from release-metadata (sync_worker.go:395-397) and refuses one it contradicts (:398-400)', () => {
    const imageOnly = { ...plan, version: '' };
    const release = { kind: 'loaded' as const, version: '4.17.0' };
    const { status } = applyVerdict(
      cv({ image: IMG(9) }),
      { ...imageOnly, image: IMG(9) },
      verified,
      {
        now: NOW,
        architecture: 'amd64',
        release,
      },
    );
    assert.equal(status.desired.version, '4.17.0');
    assert.equal(status.history?.[0]?.version, '4.17.0');
    assert.equal(
      status.conditions?.find((c) => c.type === 'ReleaseAccepted')?.message,
      goSprintf(PAYLOAD_LOADED, '4.17.0', IMG(9), 'amd64'),
    );
    const spoofed = applyVerdict(
      cv({ image: IMG(2), version: '4.99.0' }),
      { ...plan, version: '4.99.0' },
      verified,
      {
        now: NOW,
        architecture: 'amd64',
        release,
      },
    );
    const accepted = spoofed.status.conditions?.find((c) => c.type === 'ReleaseAccepted');
    assert.equal(accepted?.reason, 'VerifyPayloadVersion');
    assert.equal(
      accepted?.message,
      goSprintf(
        VERIFYING_PAYLOAD_FAILED,
        '4.99.0',
        IMG(2),
        goSprintf(VERSION_MISMATCH, '4.17.0', '4.99.0'),
      ),
    );
  });

  it('fills what the payload left blank from the available update of the same digest (cvo.go:1013-1024)', () => {
    const offered = cv(
      { image: IMG(2).replace('quay.io', 'mirror.example') },
      {
        availableUpdates: [
          {
            version: '4.17.0',
            image: IMG(2),
            url: 'https://access.redhat.com/errata/RHSA-2026:0001',
            channels: ['fast-4.17', 'stable-4.17'],
          },
        ],
      },
    );
    const mirrored = IMG(2).replace('quay.io', 'mirror.example');
    const { status } = applyVerdict(offered, { ...plan, image: mirrored, version: '' }, verified, {
      now: NOW,
      architecture: 'amd64',
    });
    assert.deepEqual(status.desired, {
      version: '4.17.0',
      image: mirrored,
      url: 'https://access.redhat.com/errata/RHSA-2026:0001',
      channels: ['fast-4.17', 'stable-4.17'],
    });
  });

  it('keeps the payload’s url and channels over the available update’s (cvo.go:980-981, "to avoid clobbering data from payload.LoadUpdate")', () => {
    const offered = cv(
      { image: IMG(2) },
      {
        availableUpdates: [
          {
            version: '4.17.0',
            image: IMG(2),
            url: 'https://graph.example/errata',
            channels: ['fast-4.17'],
          },
        ],
      },
    );
    const { status } = applyVerdict(offered, { ...plan, version: '' }, verified, {
      now: NOW,
      architecture: 'amd64',
      release: {
        kind: 'loaded',
        version: '4.17.0',
        url: 'https://payload.example/errata',
        channels: ['candidate-4.17', 'stable-4.17'],
      },
    });
    assert.deepEqual(status.desired, {
      version: '4.17.0',
      image: IMG(2),
      url: 'https://payload.example/errata',
      channels: ['candidate-4.17', 'stable-4.17'],
    });
  });

  it('refuses a release whose payload cannot be retrieved or loaded, forced or not, in the CVO words (enforce, the default)', () => {
    for (const force of [false, true]) {
      for (const [stage, reason, format] of [
        ['retrieve', 'RetrievePayload', RETRIEVE_FAILED],
        ['load', 'LoadPayload', LOAD_FAILED],
      ] as const) {
        const { status, events } = applyVerdict(
          cv({ image: IMG(2), version: '4.17.0', force }),
          { ...plan, force },
          verified,
          {
            now: NOW,
            architecture: 'amd64',
            release: { kind: 'unreadable', stage, mode: 'enforce', message: 'why' },
          },
        );
        const accepted = status.conditions?.find((c) => c.type === 'ReleaseAccepted');
        assert.deepEqual(
          [accepted?.status, accepted?.reason, accepted?.message],
          ['False', reason, goSprintf(format, '4.17.0', IMG(2), 'why')],
        );
        assert.equal(status.desired.image, CURRENT_RELEASE.image, 'not accepted');
        assert.deepEqual(status.history, cv({}).status?.history);
        assert.ok(events.some((e) => e.reason === `${reason}Failed` && e.type === 'Warning'));
      }
    }
  });

  it('warn: accepts a verified release whose metadata cannot be read, says so in a Warning, and takes the version from the request', () => {
    const { status, events } = applyVerdict(
      cv({ image: IMG(2), version: '4.17.0' }),
      plan,
      verified,
      {
        now: NOW,
        architecture: 'amd64',
        release: {
          kind: 'unreadable',
          stage: 'retrieve',
          mode: 'warn',
          message: 'registry quay.io: connection refused\nsecond line',
        },
      },
    );
    assert.equal(status.conditions?.find((c) => c.type === 'ReleaseAccepted')?.status, 'True');
    assert.equal(status.desired.version, '4.17.0');
    const warning = events.find((e) => e.reason === 'ReleaseMetadataUnreadable');
    assert.equal(warning?.type, 'Warning');
    assert.equal(
      warning?.message,
      `Reading release metadata failed version="4.17.0" image="${IMG(2)}" failure=registry quay.io: connection refused // second line: the version is taken from the request or the available updates and not checked against the payload`,
    );
  });

  it('words a forced risk with the requested version, before the payload is read (updatepayload.go:140)', () => {
    const refused: VerificationOutcome = {
      ...verified,
      verified: false,
      code: 'NOT_SIGNED',
      message: 'unable to verify',
    };
    const { status } = applyVerdict(
      cv({ image: IMG(2), force: true }),
      { ...plan, version: '', force: true },
      refused,
      {
        now: NOW,
        architecture: 'amd64',
        release: { kind: 'loaded', version: '4.17.0' },
      },
    );
    assert.equal(
      status.history?.[0]?.acceptedRisks,
      goSprintf(FORCED_RISK, '', IMG(2), 'unable to verify'),
    );
    assert.equal(status.history?.[0]?.version, '4.17.0');
  });
});

describe('CVO parity: the Invalid condition (pkg/cvo/status.go:271-293)', () => {
  it('is set True for an invalid request and removed, not set False, once the request is valid or gone', async () => {
    const f = await startController({}, [{ version: '4.17.0', image: IMG(2) }]);
    f.verifier.accept(IMG(2));
    await f.request({ version: '9.9.9' });
    const invalid = await f.condition('Invalid');
    assert.deepEqual(
      [invalid?.status, invalid?.reason, invalid?.message],
      [
        'True',
        'InvalidClusterVersion',
        invalidValue('spec.desiredUpdate.version', '9.9.9', NOT_AVAILABLE),
      ],
    );
    await f.request({ version: '4.17.0' });
    assert.equal(await f.condition('Invalid'), undefined);
    assert.equal(
      (await f.condition('ReleaseAccepted'))?.message,
      goSprintf(PAYLOAD_LOADED, '4.17.0', IMG(2), toGoArchitecture(process.arch)),
    );

    await f.request({ version: '4.17' });
    assert.equal(
      (await f.condition('Invalid'))?.message,
      invalidValue('spec.desiredUpdate.version', '4.17', NOT_SEMVER),
    );
    await f.request(null);
    assert.equal(await f.condition('Invalid'), undefined);
    await f.controller.stop();
  });

  it('counts the generation as observed on the Invalid path too, and when there is nothing to verify (cvo.go:832-884, status.go:205)', async () => {
    const f = await startController({ architecture: 'amd64' });
    await f.request({ version: '9.9.9' });
    let now = await f.clusterVersion();
    assert.equal((await f.condition('Invalid'))?.status, 'True');
    assert.equal(now.status?.observedGeneration, now.metadata.generation);
    await f.request(null);
    now = await f.clusterVersion();
    assert.equal(await f.condition('Invalid'), undefined);
    assert.equal(now.status?.observedGeneration, now.metadata.generation);
    await f.controller.stop();
  });

  it('is removed when a valid version finds no update (the CVO keeps its release)', async () => {
    const f = await startController({ architecture: 'amd64' });
    await f.request({ version: '4.17.0' });
    assert.equal((await f.condition('Invalid'))?.status, 'True');
    // 4.16.0 is in history only: valid, and nothing to verify.
    await f.request({ version: CURRENT_RELEASE.version });
    assert.equal(await f.condition('Invalid'), undefined);
    assert.equal(f.verifier.calls.length, 0);
    await f.controller.stop();
  });

  it('takes an image-only request’s version from the release metadata the port read', async () => {
    const f = await startController({ architecture: 'amd64' });
    const withPayload: ClusterVerification = {
      ...verifiedVerdict(IMG(7)),
      release: { kind: 'loaded', version: '4.17.3' },
    };
    f.verifier.behave(IMG(7), { kind: 'verdict', verification: withPayload });
    await f.request({ image: IMG(7) });
    const cvNow = await f.clusterVersion();
    assert.deepEqual(cvNow.status?.desired, { version: '4.17.3', image: IMG(7) });
    assert.equal(cvNow.status?.history?.[0]?.version, '4.17.3');
    assert.equal(
      (await f.condition('ReleaseAccepted'))?.message,
      goSprintf(PAYLOAD_LOADED, '4.17.3', IMG(7), 'amd64'),
    );
    await f.controller.stop();
  });
});

describe('CVO parity: history (pkg/cvo/status.go:64-155, pkg/cvo/status_history.go)', () => {
  type Row = `${'C' | 'P'} ${string}`;
  const toHistory = (rows: readonly Row[]): UpdateHistory[] =>
    rows.map((row) => ({
      state: row.startsWith('C') ? 'Completed' : 'Partial',
      version: row.slice(2),
      image: `img-${row.slice(2)}`,
      startedTime: NOW,
      completionTime: null,
      verified: false,
    }));
  const toRows = (history: readonly UpdateHistory[]): string[] =>
    history.map((h) => `${h.state === 'Completed' ? 'C' : 'P'} ${h.version ?? ''}`);

  // pkg/cvo/status_history_test.go:21-166, Test_prune's table as the CVO wrote it.
  const cases: { name: string; history: Row[]; maxHistory: number; want: Row[] }[] = [
    {
      name: 'partial update within a minor transition',
      history: [
        'C 4.6.3',
        'C 4.5.3',
        'C 4.4.3',
        'C 4.3.3',
        'C 4.3.2',
        'C 4.3.1',
        'C 4.2.1',
        'P 4.1.4',
        'P 4.1.3',
        'P 4.1.2',
        'C 4.1.1',
      ],
      maxHistory: 10,
      want: [
        'C 4.6.3',
        'C 4.5.3',
        'C 4.4.3',
        'C 4.3.3',
        'C 4.3.2',
        'C 4.3.1',
        'C 4.2.1',
        'P 4.1.4',
        'P 4.1.3',
        'C 4.1.1',
      ],
    },
    {
      name: 'partial update within a z-stream transition',
      history: [
        'C 4.5.3',
        'C 4.4.3',
        'C 4.4.3',
        'C 4.4.2',
        'C 4.1.10',
        'C 4.1.9',
        'C 4.1.4',
        'P 4.1.3',
        'C 4.1.2',
        'P 4.0.1',
        'C 4.0.1',
      ],
      maxHistory: 10,
      want: [
        'C 4.5.3',
        'C 4.4.3',
        'C 4.4.3',
        'C 4.4.2',
        'C 4.1.10',
        'C 4.1.9',
        'C 4.1.4',
        'C 4.1.2',
        'P 4.0.1',
        'C 4.0.1',
      ],
    },
    {
      name: 'prune oldest not in mostImportantWeight set',
      history: [
        'C 4.11.0',
        'C 4.10.0',
        'C 4.9.0',
        'C 4.8.0',
        'C 4.7.0',
        'C 4.6.0',
        'C 4.5.0',
        'C 4.4.0',
        'C 4.3.0',
        'C 4.2.0',
        'C 4.1.0',
      ],
      maxHistory: 10,
      want: [
        'C 4.11.0',
        'C 4.10.0',
        'C 4.9.0',
        'C 4.8.0',
        'C 4.7.0',
        'C 4.6.0',
        'C 4.5.0',
        'C 4.4.0',
        'C 4.3.0',
        'C 4.1.0',
      ],
    },
    {
      name: 'prune only partial not in mostImportantWeight set',
      history: [
        'C 4.11.0',
        'P 4.10.0',
        'C 4.9.0',
        'C 4.8.0',
        'C 4.7.0',
        'P 4.6.0',
        'C 4.5.0',
        'C 4.4.0',
        'C 4.3.0',
        'C 4.2.0',
        'C 4.1.0',
      ],
      maxHistory: 10,
      want: [
        'C 4.11.0',
        'P 4.10.0',
        'C 4.9.0',
        'C 4.8.0',
        'C 4.7.0',
        'C 4.5.0',
        'C 4.4.0',
        'C 4.3.0',
        'C 4.2.0',
        'C 4.1.0',
      ],
    },
    {
      name: 'prune the z-stream partial over the minor partial',
      history: [
        'C 4.11.0',
        'C 4.10.0',
        'C 4.9.0',
        'C 4.8.0',
        'C 4.6.1',
        'P 4.6.1',
        'C 4.6.0',
        'C 4.4.0',
        'P 4.3.0',
        'C 4.2.0',
        'C 4.1.0',
      ],
      maxHistory: 10,
      want: [
        'C 4.11.0',
        'C 4.10.0',
        'C 4.9.0',
        'C 4.8.0',
        'C 4.6.1',
        'C 4.6.0',
        'C 4.4.0',
        'P 4.3.0',
        'C 4.2.0',
        'C 4.1.0',
      ],
    },
  ];
  for (const c of cases) {
    it(`prunes as Test_prune: ${c.name}`, () => {
      assert.deepEqual(toRows(prune(toHistory(c.history), c.maxHistory)), c.want);
    });
  }

  it('keeps the initial install entry when the 101st entry is added (status_history.go:49, :80-83)', () => {
    // The installed release, then 99 completed z-streams of one minor, newest first.
    const history = toHistory([
      ...Array.from({ length: 99 }, (_, i): Row => `C 4.2.${String(98 - i)}`),
      'C 4.1.0',
    ]);
    const next = recordTarget(history, { version: '4.3.0', image: 'img-4.3.0' }, true, NOW, '');
    assert.equal(next.length, 100);
    assert.deepEqual(next.at(-1)?.version, '4.1.0', 'the initial install entry was pruned');
    // Result of the CVO's prune on the same 101 entries (run from status_history.go): the
    // least interesting entry, 4.2.1, goes.
    assert.deepEqual(toRows(next).slice(95), [
      'C 4.2.4',
      'C 4.2.3',
      'C 4.2.2',
      'C 4.2.0',
      'C 4.1.0',
    ]);
    assert.deepEqual(toRows(next).slice(0, 2), ['P 4.3.0', 'C 4.2.98']);
  });

  it('merges a target equal to the newest entry into it instead of adding a duplicate (status.go:94-106)', () => {
    const head: UpdateHistory = {
      state: 'Partial',
      startedTime: 'earlier',
      completionTime: null,
      version: '',
      image: IMG(2),
      verified: false,
      acceptedRisks: 'old risk',
    };
    // Same image: merged, the version filled in, the accepted risks replaced (here by none).
    const merged = recordTarget([head], { version: '4.17.0', image: IMG(2) }, true, NOW, '');
    assert.deepEqual(merged, [
      {
        state: 'Partial',
        startedTime: 'earlier',
        completionTime: null,
        version: '4.17.0',
        image: IMG(2),
        verified: true,
      },
    ]);
    // Another image and version: a new entry, the previous one closed.
    const added = recordTarget(merged, { version: '4.17.1', image: IMG(3) }, false, NOW, 'r');
    assert.deepEqual(
      added.map((h) => [h.image, h.version, h.verified, h.completionTime, h.acceptedRisks]),
      [
        [IMG(3), '4.17.1', false, null, 'r'],
        [IMG(2), '4.17.0', true, NOW, undefined],
      ],
    );
  });
});

describe('CVO parity: the signature cache ConfigMap', () => {
  it('is library-go’s, which the CVO reads and writes', () => {
    assert.equal(defaultServiceConfig({}).signatureCacheName, LIBRARY_GO_SIGNATURE_CONFIGMAP);
  });
});

describe('CVO parity: feature gates (pkg/featuregates/featuregates.go CvoGatesFromFeatureGate)', () => {
  const gate = (version: string, enabled: string[], disabled: string[] = []) => ({
    apiVersion: 'config.openshift.io/v1',
    kind: 'FeatureGate',
    metadata: { name: 'cluster' },
    status: {
      featureGates: [
        {
          version,
          enabled: enabled.map((name) => ({ name })),
          disabled: disabled.map((name) => ({ name })),
        },
      ],
    },
  });

  it('reads only the entry of the version asked for, enabled then disabled', () => {
    const both = gate(
      '4.16.0',
      ['ClusterUpdateAcceptRisks', 'ImageStreamImportMode', 'Other'],
      ['ImageStreamImportMode'],
    );
    assert.deepEqual(cvoGatesFromFeatureGate(both, '4.16.0'), {
      acceptRisks: true,
      statusReleaseArchitecture: false,
      known: true,
    });
    assert.deepEqual(cvoGatesFromFeatureGate(both, '4.17.0'), DEFAULT_CVO_GATES);
    assert.deepEqual(cvoGatesFromFeatureGate(undefined, '4.16.0'), DEFAULT_CVO_GATES);
    assert.deepEqual(
      cvoGatesFromFeatureGate({ status: { featureGates: 'x' } }, '4.16.0'),
      DEFAULT_CVO_GATES,
    );
  });

  it('the controller reads the FeatureGate at the cluster’s version: acceptRisks valid under ClusterUpdateAcceptRisks, desired.architecture under ImageStreamImportMode', async () => {
    let featureGate: unknown = gate(CURRENT_RELEASE.version, []);
    const f = await startController(
      {
        architecture: 'amd64',
        featureGates: { getFeatureGate: () => Promise.resolve(featureGate) },
      },
      [{ version: '4.17.0', image: IMG(2) }],
    );
    const risks = [{ name: 'SomeInfrastructureThing' }];
    await f.request({ version: '4.17.0', image: IMG(2), acceptRisks: risks });
    assert.equal(
      (await f.condition('Invalid'))?.message,
      invalidMessage('spec.desiredUpdate.acceptRisks', FORBIDDEN, ACCEPT_RISKS_FORBIDDEN),
    );
    // The gate turned on for this version: the same request is valid and verified.
    featureGate = gate(CURRENT_RELEASE.version, [
      'ClusterUpdateAcceptRisks',
      'ImageStreamImportMode',
    ]);
    f.verifier.behave(IMG(2), {
      kind: 'verdict',
      verification: {
        ...verifiedVerdict(IMG(2)),
        release: { kind: 'loaded', version: '4.17.0', architecture: 'Multi' },
      },
    });
    await f.request({
      version: '4.17.0',
      image: IMG(2),
      acceptRisks: [...risks, { name: 'Another' }],
    });
    assert.equal(await f.condition('Invalid'), undefined);
    const accepted = await f.clusterVersion();
    assert.equal(accepted.status?.desired.image, IMG(2));
    assert.equal(accepted.status?.desired.architecture, 'Multi', 'StatusReleaseArchitecture');
    await f.controller.stop();
  });
});
