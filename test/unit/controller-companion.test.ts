import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { CompanionConditionType, CompanionController } from '../../src/controller/companion.js';
import { VerdictRecord } from '../../src/controller/verdict-record.js';
import type { ClusterVersion } from '../../src/kube/types.js';
import { installedClusterVersion, release } from '../helpers/controller-fixture.js';
import { FakeReleaseVerifier } from '../helpers/fake-release-verifier.js';
import { ManualClock, settle } from '../helpers/manual-clock.js';
import { MemoryKube } from '../helpers/memory-kube.js';
import { silentLogger } from '../../src/observability/logger.js';

const NS = 'cvo-update-verifier';
const STATE = 'cvo-update-verifier-state';
const SIGNED = release(2);
const UNSIGNED = release(3);

async function start(): Promise<{
  kube: MemoryKube;
  clock: ManualClock;
  verifier: FakeReleaseVerifier;
  controller: CompanionController;
  record: VerdictRecord;
  idle: () => Promise<void>;
}> {
  const clock = new ManualClock();
  const kube = new MemoryKube({ clock });
  await kube.createClusterVersion(
    installedClusterVersion([
      { version: '4.17.0', image: SIGNED },
      { version: '4.17.1', image: UNSIGNED },
    ]),
  );
  const verifier = new FakeReleaseVerifier();
  verifier.accept(SIGNED);
  const record = new VerdictRecord(kube, NS, STATE);
  const controller = new CompanionController({
    kube,
    verifier,
    record,
    logger: silentLogger,
    clock,
    recheckBaseMs: 1000,
    recheckMaxMs: 8000,
  });
  const idle = async (): Promise<void> => {
    await settle();
    await controller.idle();
    await settle();
  };
  await controller.start();
  await idle();
  return { kube, clock, verifier, controller, record, idle };
}

/** Everything of status but our own condition types. */
function cvoOwned(cv: ClusterVersion): unknown {
  return {
    ...cv.status,
    conditions: (cv.status?.conditions ?? []).filter((c) => !c.type.startsWith('UpdateVerifier')),
  };
}

describe('CompanionController (in-memory API, manual clock)', () => {
  it('records a requested release and sets only its own condition, nothing the CVO owns', async () => {
    const f = await start();
    const before = await f.kube.getClusterVersion('version');
    await f.kube.mergePatchClusterVersion('version', {
      spec: { desiredUpdate: { version: '4.17.0', image: SIGNED } },
    });
    await f.idle();
    const cv = await f.kube.getClusterVersion('version');
    assert.deepEqual(cvoOwned(cv), cvoOwned(before), 'history, desired, CVO conditions untouched');
    const c = cv.status?.conditions?.find((x) => x.type === CompanionConditionType.ReleaseVerified);
    assert.equal(c?.status, 'True');
    const [entry] = await f.record.read();
    assert.equal(entry?.image, SIGNED);
    assert.equal(entry.verified, true);
    assert.equal(entry.forced, false);
    await f.controller.stop();
  });

  it('decides a later edit the watch delivered before the answer to its own status write arrived', async () => {
    const f = await start();
    const replace = f.kube.replaceClusterVersionStatus.bind(f.kube);
    let raced = false;
    f.kube.replaceClusterVersionStatus = async (cv) => {
      const written = await replace(cv);
      if (!raced) {
        raced = true;
        await f.kube.mergePatchClusterVersion('version', {
          spec: { desiredUpdate: { version: '4.17.1', image: UNSIGNED } },
        });
        await settle();
      }
      return written;
    };
    await f.kube.mergePatchClusterVersion('version', {
      spec: { desiredUpdate: { version: '4.17.0', image: SIGNED } },
    });
    await f.idle();
    assert.equal(raced, true);
    const images = (await f.record.read()).map((v) => v.image);
    assert.ok(images.includes(UNSIGNED), `the later edit was decided: ${images.join(', ')}`);
    const cv = await f.kube.getClusterVersion('version');
    const c = cv.status?.conditions?.find((x) => x.type === CompanionConditionType.ReleaseVerified);
    assert.equal(c?.status, 'False', "the condition is the later target's");
    await f.controller.stop();
  });

  it('records a forced, unverifiable release with the accepted risk, and flips it when a re-check verifies', async () => {
    const f = await start();
    await f.kube.mergePatchClusterVersion('version', {
      spec: { desiredUpdate: { version: '4.17.1', image: UNSIGNED, force: true } },
    });
    await f.idle();
    let [entry] = await f.record.read();
    assert.equal(entry?.verified, false);
    assert.match(
      entry?.acceptedRisk ?? '',
      /^Target release version="4\.17\.1" image=".*" cannot be verified, but continuing anyway because the update was forced: /,
    );
    const cv = await f.kube.getClusterVersion('version');
    assert.equal(
      cv.status?.conditions?.find((x) => x.type === CompanionConditionType.ReleaseVerified)?.status,
      'False',
    );
    assert.equal(f.controller.pendingRechecks().length, 1);

    f.verifier.accept(UNSIGNED);
    await f.clock.advance(1000);
    await f.idle();
    await settle();
    [entry] = await f.record.read();
    assert.equal(entry?.verified, true);
    assert.ok(entry.verifiedAt !== undefined);
    const after = await f.kube.getClusterVersion('version');
    assert.equal(
      after.status?.conditions?.find((x) => x.type === CompanionConditionType.ReleaseVerified)
        ?.status,
      'True',
    );
    assert.ok(f.kube.events().some((e) => e.reason === 'ReleaseVerified'));
    await f.controller.stop();
  });

  it('writes its condition again when another writer drops it (with backoff while it keeps happening), and does not verify again', async () => {
    const f = await start();
    await f.kube.mergePatchClusterVersion('version', {
      spec: { desiredUpdate: { version: '4.17.0', image: SIGNED } },
    });
    await f.idle();
    const calls = f.verifier.calls.length;
    // The CVO's conflict retry: its status computed from an older copy, without our condition.
    const drop = async (): Promise<void> => {
      const cv = await f.kube.getClusterVersion('version');
      await f.kube.replaceClusterVersionStatus({
        ...cv,
        status: {
          ...(cv.status as NonNullable<ClusterVersion['status']>),
          conditions: (cv.status?.conditions ?? []).filter(
            (x) => !x.type.startsWith('UpdateVerifier'),
          ),
        },
      });
    };
    await drop();
    await f.idle();
    const repaired = await f.kube.getClusterVersion('version');
    assert.ok(
      repaired.status?.conditions?.some((x) => x.type === CompanionConditionType.ReleaseVerified),
    );
    assert.equal(f.controller.stats.repairs, 1);
    assert.equal(f.verifier.calls.length, calls, 'the record answers; nothing is verified again');

    // Dropped again at once: the next repair waits (0.5 s, doubling), no write storm.
    await drop();
    await f.idle();
    const waiting = await f.kube.getClusterVersion('version');
    assert.ok(!waiting.status?.conditions?.some((x) => x.type.startsWith('UpdateVerifier')));
    await f.clock.advance(500);
    await f.idle();
    const again = await f.kube.getClusterVersion('version');
    assert.ok(again.status?.conditions?.some((x) => x.type.startsWith('UpdateVerifier')));
    assert.equal(f.controller.stats.repairs, 2);
    await f.controller.stop();
  });

  it('on 409 reads the object again and re-applies only its own condition', async () => {
    const f = await start();
    f.verifier.accept(SIGNED);
    // Another writer gets in between the companion's read and its write, once.
    f.kube.before('update', 'clusterversions/status', async () => {
      const cv = await f.kube.getClusterVersion('version');
      await f.kube.replaceClusterVersionStatus({
        ...cv,
        status: {
          ...(cv.status as NonNullable<ClusterVersion['status']>),
          conditions: [
            ...(cv.status?.conditions ?? []),
            { type: 'Progressing', status: 'True', lastTransitionTime: '2026-01-01T00:00:00Z' },
          ],
        },
      });
    });
    await f.kube.mergePatchClusterVersion('version', {
      spec: { desiredUpdate: { version: '4.17.0', image: SIGNED } },
    });
    await f.idle();
    const cv = await f.kube.getClusterVersion('version');
    const types = (cv.status?.conditions ?? []).map((x) => x.type);
    assert.ok(types.includes('Progressing'), 'the other writer’s condition stays');
    assert.ok(types.includes(CompanionConditionType.ReleaseVerified));
    assert.equal(f.controller.stats.conflicts, 1);
    await f.controller.stop();
  });
});
