import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { SERVE_HELP, toServiceConfig } from '../../src/cli/serve.js';
import { SHUTDOWN_DEADLINE_MS } from '../../src/cli/process.js';
import { UsageError } from '../../src/cli/usage-error.js';
import { MAX_SHUTDOWN_DELAY_MS } from '../../src/config/service-config.js';
import type { ServiceConfig } from '../../src/config/service-config.js';
import { parseDuration } from '../../src/config/duration.js';

// Defaults live in one place (src/config/service-config.ts); serve's help must state the values
// the service actually starts with.

/** Each help default, as the help states it, and how to read the same value from the config. */
const CHECKED: Readonly<Record<string, (c: ServiceConfig, stated: string) => boolean>> = {
  'root-of-trust-configmap': (c, s) => s === `${c.rootOfTrust.namespace}/${c.rootOfTrust.name}`,
  'event-namespace': (c, s) => s === c.eventNamespace,
  'leader-elect': (c, s) => s === String(c.leaderElection.enabled),
  'leader-election-namespace': (c, s) => s === c.leaderElection.namespace,
  timeout: (c, s) => parseDuration(s) === c.budgetMs,
  'reconcile-timeout': (c, s) => parseDuration(s) === c.reconcileBudgetMs,
  'recheck-base': (c, s) => parseDuration(s) === c.recheckBaseMs,
  'recheck-max': (c, s) => parseDuration(s) === c.recheckMaxMs,
  'bind-address': (c, s) => s === c.http?.bindAddress,
  'health-port': (c, s) => s === String(c.http?.healthPort),
  'webhook-port': (c, s) => s === String(c.http?.webhookPort),
  'webhook-verify-mode': (c, s) => s === c.http?.webhookVerifyMode,
  'webhook-timeout': (c, s) => parseDuration(s) === c.http?.webhookBudgetMs,
  'shutdown-delay': (c, s) => parseDuration(s) === c.http?.shutdownDelayMs,
  'payload-verification': (c, s) => s === c.payloadVerification,
  'release-metadata': (c, s) => s === c.releaseMetadata,
  mode: (c, s) => s === c.mode,
};
/** Defaults that are not part of the service configuration, with the reason. */
const NOT_CONFIG: Readonly<Record<string, string>> = {
  identity: 'hostname-pid is computed per process',
  'log-level': 'the logger is made by the command, before the configuration',
  'webhook-client-names': 'no default list: any name the client CA vouches for',
};

/** `--flag …  text (default X…)`, continuation lines joined to their flag. */
function statedDefaults(help: string): Map<string, string> {
  const found = new Map<string, string>();
  let flag: string | undefined;
  for (const line of help.split('\n')) {
    const start = /^\s+--([a-z-]+)/.exec(line);
    if (start) flag = start[1];
    else if (!/^\s{20,}/.test(line)) flag = undefined;
    const stated = /\(default:? ([^):, ]+)/.exec(line);
    if (flag !== undefined && stated?.[1] !== undefined) found.set(flag, stated[1]);
  }
  return found;
}

describe('serve: the help states the defaults the service starts with', () => {
  const config = toServiceConfig({}, {}, {});
  const stated = statedDefaults(SERVE_HELP);

  it('finds the stated defaults', () => {
    assert.ok(stated.size >= 12, [...stated.keys()].join(', '));
  });

  for (const [flag, value] of stated) {
    it(`--${flag} (default ${value})`, () => {
      if (flag in NOT_CONFIG) return;
      const check = CHECKED[flag];
      assert.ok(check, `--${flag} states a default that this test does not compare: add it`);
      assert.ok(
        check(config, value),
        `--${flag}: help says ${value}, the service starts with another value`,
      );
    });
  }
});

describe('serve: budgets a timer can hold, in an order that can work', () => {
  it('refuses a duration longer than a Node timer holds (it would fire at once)', () => {
    assert.throws(
      () => toServiceConfig({}, { 'reconcile-timeout': '600h' }, {}),
      /--reconcile-timeout: invalid duration "600h": at most 596h/,
    );
    assert.equal(
      toServiceConfig({}, { 'reconcile-timeout': '596h' }, {}).reconcileBudgetMs,
      596 * 3_600_000,
    );
  });

  it('refuses a reconcile budget shorter than one verification budget', () => {
    assert.throws(
      () => toServiceConfig({}, { timeout: '1m', 'reconcile-timeout': '30s' }, {}),
      /--reconcile-timeout must be at least --timeout/,
    );
    assert.equal(
      toServiceConfig({}, { timeout: '1m', 'reconcile-timeout': '1m' }, {}).reconcileBudgetMs,
      60_000,
    );
  });
});

describe('serve: --shutdown-delay', () => {
  const delay = (value: string): number | undefined =>
    toServiceConfig({}, { 'shutdown-delay': value }, {}).http?.shutdownDelayMs;

  for (const [value, ms] of [
    ['5s', 5_000],
    ['1500ms', 1_500],
    ['20s', 20_000],
    ['0', 0],
    ['0s', 0],
    ['0ms', 0],
  ] as const) {
    it(`takes ${value} as ${String(ms)} ms`, () => {
      assert.equal(delay(value), ms);
    });
  }

  for (const [value, message] of [
    ['-1s', /--shutdown-delay: invalid duration "-1s"/],
    ['5', /--shutdown-delay: invalid duration "5"/],
    ['soon', /--shutdown-delay: invalid duration "soon"/],
    ['', /--shutdown-delay: invalid duration ""/],
    ['20001ms', /--shutdown-delay must be at most 20s/],
    ['1m', /--shutdown-delay must be at most 20s/],
  ] as const) {
    it(`refuses ${JSON.stringify(value)} as a usage error`, () => {
      assert.throws(
        () => delay(value),
        (err: unknown) => err instanceof UsageError && message.test(err.message),
      );
    });
  }

  it('keeps the longest delay inside the process shutdown deadline, with room to close', () => {
    // Longer, and the deadline would exit the process (143) before the servers close.
    assert.ok(MAX_SHUTDOWN_DELAY_MS + 5_000 <= SHUTDOWN_DEADLINE_MS);
  });
});
