import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { setCondition } from '../../src/controller/conditions.js';
import { markVerified, MAX_HISTORY, recordTarget } from '../../src/controller/history.js';
import { CONDITION_REASONS } from '../../src/controller/reasons.js';
import {
  applyVerdict,
  forcedRiskMessage,
  fullError,
  planReconcile,
  retrievePayloadFailedMessage,
} from '../../src/controller/reconcile.js';
import type {
  PayloadResult,
  VerdictContext,
  VerificationOutcome,
} from '../../src/controller/reconcile.js';
import { RecheckScheduler } from '../../src/controller/recheck-scheduler.js';
import { resolveTarget } from '../../src/controller/target.js';
import { RETRY_BASE_MS, RETRY_MAX_MS, WorkQueue } from '../../src/controller/work-queue.js';
import type { ClusterVersion, UpdateHistory } from '../../src/kube/types.js';
import { ManualClock, settle } from '../helpers/manual-clock.js';

const IMG = (n: number): string =>
  `quay.io/ocp/release@sha256:${String(n).repeat(64).slice(0, 64)}`;
const NOW = '2026-01-01T00:00:00Z';

function cv(
  desiredUpdate?: ClusterVersion['spec']['desiredUpdate'],
  status: Partial<ClusterVersion['status']> = {},
): ClusterVersion {
  return {
    apiVersion: 'config.openshift.io/v1',
    kind: 'ClusterVersion',
    metadata: { name: 'version', generation: 3 },
    spec: {
      clusterID: '7d1f3a34-7d1f-4c1f-9c1f-7d1f3a347d1f',
      ...(desiredUpdate ? { desiredUpdate } : {}),
    },
    status: {
      desired: { version: '4.16.0', image: IMG(1) },
      observedGeneration: 1,
      versionHash: 'h',
      availableUpdates: [{ version: '4.17.0', image: IMG(2) }],
      history: [],
      conditions: [],
      ...status,
    },
  };
}

/** applyVerdict's context: the CVO on amd64. */
function ctx(payload?: PayloadResult): VerdictContext {
  return { now: NOW, architecture: 'amd64', payload };
}

const refused: VerificationOutcome = {
  verified: false,
  code: 'NOT_SIGNED',
  message: `unable to verify sha256:x against keyrings: k`,
  details: ['store a: 404', 'store b: 500'],
  summary: 'no signature found',
};
const verified: VerificationOutcome = {
  verified: true,
  message: 'verified',
  details: [],
  summary: 'k: signed by Release',
};

describe('resolveTarget', () => {
  it('takes an image as given, looks versions up in availableUpdates only, and flags the rest', () => {
    assert.deepEqual(resolveTarget(cv({ image: IMG(3), force: true })), {
      kind: 'target',
      image: IMG(3),
      version: '',
      force: true,
    });
    assert.deepEqual(resolveTarget(cv({ version: '4.17.0' })), {
      kind: 'target',
      image: IMG(2),
      version: '4.17.0',
      force: false,
    });
    // A version only the history knows is valid to the CVO, which then finds no update and
    // keeps its current release (cvo parity: test/unit/cvo-parity.test.ts).
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
    const invalid = resolveTarget(cv({ version: '9.9.9' }));
    assert.equal(invalid.kind, 'invalid');
    assert.match(
      (invalid as { message: string }).message,
      /spec\.desiredUpdate\.version: Invalid value: "9\.9\.9": when image is empty/,
    );
    assert.equal(resolveTarget(cv()).kind, 'none');
  });
});

describe('planReconcile', () => {
  it('does nothing for a target status already shows as accepted, and verifies anything else', () => {
    const accepted = cv(
      { image: IMG(2) },
      {
        desired: { version: '', image: IMG(2) },
        history: [
          {
            state: 'Partial',
            startedTime: NOW,
            completionTime: null,
            image: IMG(2),
            verified: true,
          },
        ],
        conditions: [{ type: 'ReleaseAccepted', status: 'True', lastTransitionTime: NOW }],
      },
    );
    assert.equal(planReconcile(accepted).kind, 'nothing');
    const refusedBefore = cv(
      { image: IMG(2) },
      { conditions: [{ type: 'ReleaseAccepted', status: 'False', lastTransitionTime: NOW }] },
    );
    assert.equal(planReconcile(refusedBefore).kind, 'verify');
  });
});

describe('applyVerdict', () => {
  const plan = { kind: 'verify' as const, image: IMG(2), version: '4.17.0', force: false };

  describe('when the payload names its version (release-metadata)', () => {
    const payload = (version: string): VerdictContext => ({
      now: NOW,
      architecture: 'amd64',
      release: { kind: 'loaded', version },
    });

    it('refuses a version the payload contradicts, forced or not, in the CVO words', () => {
      for (const force of [false, true]) {
        const spoofed = { ...plan, version: '4.99.0', force };
        const { status, events } = applyVerdict(
          cv({ image: IMG(2), version: '4.99.0', force }),
          spoofed,
          verified,
          payload('4.17.0'),
        );
        const accepted = status.conditions?.find((c) => c.type === 'ReleaseAccepted');
        assert.equal(accepted?.status, 'False');
        assert.equal(accepted?.reason, 'VerifyPayloadVersion');
        assert.equal(
          accepted?.message,
          `Verifying payload failed version="4.99.0" image="${IMG(2)}" failure=release image version 4.17.0 does not match the expected upstream version 4.99.0`,
        );
        assert.deepEqual(status.history, []);
        assert.ok(events.some((e) => e.reason === 'VerifyPayloadVersionFailed'));
      }
    });

    it('says PayloadVerified False with its own reason when nothing was covered', () => {
      const { status } = applyVerdict(
        cv({ image: IMG(2) }),
        plan,
        verified,
        ctx({
          mode: 'warn',
          verified: false,
          nothingCovered: true,
          message: 'none of the 3 component images of 4.17.0 is covered by a ClusterImagePolicy',
        }),
      );
      const condition = status.conditions?.find((c) => c.type === 'PayloadVerified');
      assert.equal(condition?.status, 'False');
      assert.equal(condition?.reason, 'NoComponentsCovered');
    });

    it('records the payload version when only an image was requested', () => {
      const { status } = applyVerdict(
        cv({ image: IMG(2) }),
        { ...plan, version: '' },
        verified,
        payload('4.17.0'),
      );
      assert.equal(status.desired.version, '4.17.0');
      assert.equal(status.history?.[0]?.version, '4.17.0');
    });

    it('reports an unverified, unforced target as not verified first, as the CVO orders the steps', () => {
      const { status } = applyVerdict(
        cv({ image: IMG(2), version: '4.99.0' }),
        { ...plan, version: '4.99.0' },
        refused,
        payload('4.17.0'),
      );
      assert.equal(
        status.conditions?.find((c) => c.type === 'ReleaseAccepted')?.reason,
        'RetrievePayload',
      );
    });
  });

  it('refuses an unverified, unforced target in the CVO words without touching desired or history', () => {
    const { status, events } = applyVerdict(cv({ image: IMG(2) }), plan, refused, ctx());
    const accepted = status.conditions?.find((c) => c.type === 'ReleaseAccepted');
    assert.equal(accepted?.status, 'False');
    assert.equal(accepted?.reason, 'RetrievePayload');
    assert.equal(
      accepted?.message,
      `Retrieving payload failed version="4.17.0" image="${IMG(2)}" failure=The update cannot be verified: ${refused.message}`,
    );
    assert.equal(status.desired.image, IMG(1));
    assert.deepEqual(status.history, []);
    assert.deepEqual(events, [
      {
        type: 'Warning',
        reason: 'RetrievePayloadFailed',
        message: retrievePayloadFailedMessage(
          '4.17.0',
          IMG(2),
          `${refused.message} // store a: 404 // store b: 500`,
        ),
      },
    ]);
    assert.equal(status.conditions?.find((c) => c.type === 'ReleaseVerified')?.reason, 'NotSigned');
    assert.equal(status.observedGeneration, 3);
  });

  it('accepts a forced target with verified: false and the accepted risk', () => {
    const { status, events } = applyVerdict(
      cv({ image: IMG(2), force: true }),
      { ...plan, force: true },
      refused,
      ctx(),
    );
    assert.equal(status.history?.[0]?.verified, false);
    assert.equal(
      status.history?.[0]?.acceptedRisks,
      forcedRiskMessage('4.17.0', IMG(2), refused.message),
    );
    assert.equal(status.desired.image, IMG(2));
    assert.equal(events[0]?.type, 'Warning');
  });

  it('accepts a verified target: Partial entry, previous closed, ReleaseAccepted=True', () => {
    const previous: UpdateHistory = {
      state: 'Partial',
      startedTime: 'earlier',
      completionTime: null,
      image: IMG(1),
      version: '4.16.0',
      verified: true,
    };
    const { status, events } = applyVerdict(
      cv({ image: IMG(2) }, { history: [previous] }),
      plan,
      verified,
      ctx(),
    );
    assert.deepEqual(status.history?.[0], {
      state: 'Partial',
      startedTime: NOW,
      completionTime: null,
      version: '4.17.0',
      image: IMG(2),
      verified: true,
    });
    assert.equal(status.history?.[1]?.completionTime, NOW);
    assert.equal(
      status.history?.[1]?.state,
      'Partial',
      'this service never marks entries Completed',
    );
    assert.equal(status.conditions?.find((c) => c.type === 'ReleaseAccepted')?.status, 'True');
    assert.deepEqual(status.desired, { version: '4.17.0', image: IMG(2) });
    assert.equal(events[0]?.reason, 'ReleaseVerified');
  });

  it('joins the long form with " // " and no newlines', () => {
    assert.equal(fullError({ ...refused, details: ['a\nb'] }), `${refused.message} // a // b`);
  });
});

describe('history', () => {
  it('keeps at most 100 entries and flips verified by image', () => {
    let h: UpdateHistory[] = [];
    for (let i = 0; i < 130; i++)
      h = recordTarget(
        h,
        { version: `4.${String(i)}.0`, image: IMG(i) },
        i % 2 === 0,
        String(i),
        '',
      );
    assert.equal(h.length, MAX_HISTORY);
    assert.equal(h[0]?.startedTime, '129');
    const { history, changed } = markVerified(h, IMG(129));
    assert.equal(changed, true);
    assert.ok(history.filter((e) => e.image === IMG(129)).every((e) => e.verified));
    assert.equal(markVerified(history, IMG(129)).changed, false);
  });
});

describe('conditions', () => {
  it('keeps lastTransitionTime while the status does not change', () => {
    const a = setCondition([], { type: 'X', status: 'True', reason: 'A' }, 't1');
    const b = setCondition(a, { type: 'X', status: 'True', reason: 'B' }, 't2');
    const c = setCondition(b, { type: 'X', status: 'False', reason: 'C' }, 't3');
    assert.deepEqual(
      [b[0]?.lastTransitionTime, b[0]?.reason, c[0]?.lastTransitionTime],
      ['t1', 'B', 't3'],
    );
  });

  it('has a CamelCase reason for every error code', () => {
    for (const reason of Object.values(CONDITION_REASONS)) assert.match(reason, /^[A-Z][A-Za-z]+$/);
  });
});

describe('WorkQueue', () => {
  it('coalesces adds and re-runs a key added while it is processed, never concurrently', async () => {
    const runs: string[] = [];
    let active = 0;
    let maxActive = 0;
    let release: (() => void) | undefined;
    const queue = new WorkQueue(
      async (key) => {
        active++;
        maxActive = Math.max(maxActive, active);
        runs.push(key);
        if (runs.length === 1) await new Promise<void>((r) => (release = r));
        active--;
      },
      () => undefined,
    );
    queue.add('a');
    queue.add('a'); // running: marks dirty
    queue.add('b');
    queue.add('b'); // queued: coalesced
    await settle();
    release?.();
    await queue.idle();
    assert.deepEqual(runs, ['a', 'b', 'a']);
    assert.equal(maxActive, 1);
  });
});

describe('RecheckScheduler', () => {
  it('backs off exponentially up to the cap and stops when a check reports done', async () => {
    const clock = new ManualClock();
    const start = clock.now();
    const calls: number[] = [];
    let doneAfter = 4;
    const scheduler = new RecheckScheduler({
      baseMs: 10,
      maxMs: 40,
      clock,
      run: () => {
        calls.push(clock.now() - start);
        return Promise.resolve(--doneAfter === 0);
      },
    });
    assert.deepEqual(
      [0, 1, 2, 3, 10].map((n) => scheduler.delayFor(n)),
      [10, 20, 40, 40, 40],
    );
    scheduler.sync(['k']);
    assert.deepEqual(scheduler.list(), [{ key: 'k', attempts: 0, nextAt: new Date(start + 10) }]);
    await clock.advance(9);
    assert.deepEqual(calls, [], 'ran before its delay');
    await clock.advance(1000);
    assert.deepEqual(calls, [10, 30, 70, 110]);
    assert.deepEqual(scheduler.list(), []);
    assert.equal(clock.pending, 0, 'a finished key keeps no timer');
    scheduler.sync(['x', 'y']);
    scheduler.sync(['y']);
    assert.deepEqual(
      scheduler.list().map((e) => e.key),
      ['y'],
    );
    await scheduler.stop();
    assert.deepEqual(scheduler.list(), []);
    assert.equal(clock.pending, 0);
  });

  describe('when stopped while a re-check runs', () => {
    it('waits for it, and schedules nothing after', async () => {
      const clock = new ManualClock();
      let finish: ((done: boolean) => void) | undefined;
      let runs = 0;
      const scheduler = new RecheckScheduler({
        baseMs: 10,
        clock,
        run: () => {
          runs++;
          return new Promise<boolean>((resolve) => (finish = resolve));
        },
      });
      scheduler.sync(['k']);
      await clock.advance(10);
      assert.equal(runs, 1);
      let stopped = false;
      const stopping = scheduler.stop().then(() => (stopped = true));
      await settle();
      assert.equal(stopped, false, 'stop() returned while a re-check was still running');
      finish?.(false);
      await stopping;
      assert.equal(clock.pending, 0, 'a stopped scheduler scheduled the key again');
      await clock.advance(60_000);
      assert.equal(runs, 1);
    });
  });
});

describe('WorkQueue retries', () => {
  it('retries a key whose handler threw, with backoff, until it succeeds', async () => {
    const clock = new ManualClock();
    let calls = 0;
    const errors: unknown[] = [];
    const queue = new WorkQueue(
      () => {
        calls++;
        return calls < 3 ? Promise.reject(new Error(`transient ${calls}`)) : Promise.resolve();
      },
      (_key, err) => errors.push(err),
      { clock },
    );
    queue.add('version');
    await settle();
    assert.equal(calls, 1);
    assert.deepEqual(clock.pendingDelays(), [RETRY_BASE_MS]);
    await clock.advance(RETRY_BASE_MS);
    assert.equal(calls, 2, 'the failed key was not retried after the base delay');
    assert.deepEqual(clock.pendingDelays(), [2 * RETRY_BASE_MS], 'the delay did not double');
    await clock.advance(2 * RETRY_BASE_MS);
    assert.equal(calls, 3);
    assert.equal(errors.length, 2);
    assert.equal(clock.pending, 0);
    await clock.advance(RETRY_MAX_MS * 2);
    assert.equal(calls, 3, 'a key that succeeded must not run again');
    await queue.stop();
  });

  it('cancels a pending retry on stop', async () => {
    const clock = new ManualClock();
    let calls = 0;
    const queue = new WorkQueue(
      () => {
        calls++;
        return Promise.reject(new Error('down'));
      },
      () => undefined,
      { clock },
    );
    queue.add('version');
    await settle();
    await queue.stop();
    assert.equal(clock.pending, 0);
    await clock.advance(RETRY_MAX_MS);
    assert.equal(calls, 1);
  });
});
