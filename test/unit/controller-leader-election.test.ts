import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { LeaderElector } from '../../src/controller/leader-election.js';
import type { Clock } from '../../src/controller/clock.js';
import { KubeApiError } from '../../src/kube/client.js';
import { ManualClock, settle } from '../helpers/manual-clock.js';
import { MemoryKube } from '../helpers/memory-kube.js';

const NAMESPACE = 'cvo-update-verifier';
const LEASE = 'cvo-update-verifier-leader';
// The service's defaults.
const LEASE_DURATION_MS = 15_000;
const RENEW_INTERVAL_MS = 5_000;
const RETRY_INTERVAL_MS = 2_000;

interface Candidate {
  readonly elector: LeaderElector;
  readonly transitions: string[];
}

function candidate(kube: MemoryKube, identity: string, clock: Clock): Candidate {
  const transitions: string[] = [];
  const elector = new LeaderElector({
    kube,
    namespace: NAMESPACE,
    name: LEASE,
    identity,
    leaseDurationMs: LEASE_DURATION_MS,
    renewIntervalMs: RENEW_INTERVAL_MS,
    retryIntervalMs: RETRY_INTERVAL_MS,
    clock,
    onStartedLeading: () => transitions.push('started'),
    onStoppedLeading: () => transitions.push('stopped'),
  });
  return { elector, transitions };
}

/** MicroTime as the API server stores it. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

describe('LeaderElector (in-memory API, manual clock)', () => {
  it('takes a free lease and renews it every renew interval', async () => {
    const clock = new ManualClock();
    const kube = new MemoryKube({ clock });
    const a = candidate(kube, 'a', clock);
    a.elector.start();
    await settle();
    assert.equal(a.elector.isLeader, true);
    assert.deepEqual(a.transitions, ['started']);
    let lease = await kube.getLease(NAMESPACE, LEASE);
    assert.equal(lease?.spec?.holderIdentity, 'a');
    assert.equal(lease?.spec?.leaseDurationSeconds, 15);
    assert.equal(lease?.spec?.renewTime, microTime(clock.now()));

    await clock.advance(RENEW_INTERVAL_MS - 1);
    assert.equal((await kube.getLease(NAMESPACE, LEASE))?.spec?.renewTime, lease?.spec?.renewTime);
    await clock.advance(1);
    lease = await kube.getLease(NAMESPACE, LEASE);
    assert.equal(lease?.spec?.renewTime, microTime(clock.now()));
    assert.equal(lease?.spec?.leaseTransitions, 0);
    await a.elector.stop();
  });

  describe('when the leader stops renewing (crashed)', () => {
    it('lets a standby take over once the lease has not changed for its duration, as the standby saw it', async () => {
      const kube = new MemoryKube();
      // Separate clocks: the crashed leader's never moves again.
      const a = candidate(kube, 'a', new ManualClock());
      a.elector.start();
      await settle();
      const clock = new ManualClock();
      const b = candidate(kube, 'b', clock);
      b.elector.start();
      await settle();
      assert.equal(b.elector.isLeader, false);

      await clock.advance(LEASE_DURATION_MS - 1_000);
      assert.equal(b.elector.isLeader, false, 'took over a lease that had not expired');
      await clock.advance(RETRY_INTERVAL_MS);
      assert.equal(b.elector.isLeader, true);
      const lease = await kube.getLease(NAMESPACE, LEASE);
      assert.equal(lease?.spec?.holderIdentity, 'b');
      assert.equal(lease?.spec?.leaseTransitions, 1);
      assert.equal(lease?.spec?.acquireTime, microTime(clock.now()));
      await b.elector.stop();
    });
  });

  describe('when a renewal loses a write race', () => {
    it('stops leading at once', async () => {
      const clock = new ManualClock();
      const kube = new MemoryKube({ clock });
      const a = candidate(kube, 'a', clock);
      a.elector.start();
      await settle();
      // Between the leader's read and its write, someone else takes the lease.
      kube.before('update', 'leases', async () => {
        const lease = await kube.getLease(NAMESPACE, LEASE);
        assert.ok(lease);
        await kube.replaceLease(NAMESPACE, {
          ...lease,
          spec: { ...lease.spec, holderIdentity: 'intruder' },
        });
      });
      await clock.advance(RENEW_INTERVAL_MS);
      assert.equal(a.elector.isLeader, false);
      assert.deepEqual(a.transitions, ['started', 'stopped']);
      assert.equal((await kube.getLease(NAMESPACE, LEASE))?.spec?.holderIdentity, 'intruder');
      await a.elector.stop();
    });
  });

  describe('when the API server stops answering', () => {
    it('keeps leading only while its last renewal is valid', async () => {
      const clock = new ManualClock();
      const kube = new MemoryKube({ clock });
      const errors: unknown[] = [];
      const a = new LeaderElector({
        kube,
        namespace: NAMESPACE,
        name: LEASE,
        identity: 'a',
        leaseDurationMs: LEASE_DURATION_MS,
        renewIntervalMs: RENEW_INTERVAL_MS,
        retryIntervalMs: RETRY_INTERVAL_MS,
        clock,
        onStartedLeading: () => undefined,
        onStoppedLeading: () => undefined,
        onError: (err) => errors.push(err),
      });
      a.start();
      await settle();
      assert.equal(a.isLeader, true);
      kube.before(
        'get',
        'leases',
        () => {
          throw new KubeApiError(503, 'get lease: 503 unavailable');
        },
        Infinity,
      );
      await clock.advance(LEASE_DURATION_MS - 1);
      assert.equal(a.isLeader, true, 'gave up before its renewal expired');
      assert.equal(a.inContact, true);
      await clock.advance(1);
      assert.equal(a.isLeader, false);
      assert.equal(a.inContact, false);
      assert.equal(errors.length, 3);
      await a.stop();
    });
  });

  describe('when the leader stops', () => {
    it('releases the lease so a standby takes over at its next try, not after the lease duration', async () => {
      const clock = new ManualClock();
      const kube = new MemoryKube({ clock });
      const a = candidate(kube, 'a', clock);
      const b = candidate(kube, 'b', clock);
      a.elector.start();
      await settle();
      b.elector.start();
      await settle();
      assert.deepEqual([a.elector.isLeader, b.elector.isLeader], [true, false]);
      await a.elector.stop();
      assert.deepEqual(a.transitions, ['started', 'stopped']);
      assert.equal((await kube.getLease(NAMESPACE, LEASE))?.spec?.holderIdentity, '');
      await clock.advance(RETRY_INTERVAL_MS);
      assert.equal(b.elector.isLeader, true);
      assert.equal(clock.pending, 1, 'the stopped elector left a timer behind');
      await b.elector.stop();
      assert.equal(clock.pending, 0);
    });
  });
});
