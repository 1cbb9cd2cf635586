import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { load } from 'js-yaml';

import { runCli } from '../../src/cli/main.js';
import { parsePublishedState } from '../../src/controller/state-publisher.js';
import type { PublishedState } from '../../src/controller/state-publisher.js';
import { BY_TAG_FORCED_WARNING, BY_TAG_REFUSED } from '../../src/image/oc-messages.js';
import type { ClusterVersion } from '../../src/kube/types.js';
import type { Service } from '../../src/main.js';
import { repoRoot } from '../helpers/fixtures.js';
import { startTestCluster } from '../helpers/local-cluster.js';
import type { TestCluster } from '../helpers/local-cluster.js';
import {
  condition,
  CURRENT,
  digestOf,
  installRootOfTrust,
  REPO,
  ReleaseSigner,
  requestUpdate,
  runService,
  seed,
  waitFor,
} from './harness.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const STATE = { namespace: 'cvo-update-verifier', name: 'cvo-update-verifier-state' };

async function cli(args: string[], env: Record<string, string>): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env,
    cwd: repoRoot,
  });
  return { code, stdout, stderr };
}

/** The built executable as a user runs it (the test command builds dist/ first). */
async function binary(args: string[], env: Record<string, string>): Promise<Run> {
  if (!existsSync(join(repoRoot, 'dist', 'cli', 'main.js'))) {
    throw new Error('dist/ is missing: the test command runs `npm run build` before the tests');
  }
  return new Promise((resolve) => {
    execFile(
      join(repoRoot, 'bin', 'cvo-verifier'),
      args,
      { encoding: 'utf8', env },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('cvo-verifier upgrade, history and status on a real control plane', () => {
  let tc: TestCluster | undefined;
  let skip: string | undefined;
  let signer: ReleaseSigner;
  let service: Service | undefined;
  let home: string;
  let env: Record<string, string>;
  const logs: string[] = [];
  const v4170 = `${REPO}@${digestOf(1)}`;
  const v4171 = `${REPO}@${digestOf(3)}`;
  const unsigned = `${REPO}@${digestOf(2)}`;
  const unlisted = `${REPO}@${digestOf(4)}`;
  const byTag = `${REPO}:4.17.9-x86_64`;

  before(async () => {
    // An empty HOME: no ~/.kube/config can stand in for the cluster under test.
    home = await mkdtemp(join(tmpdir(), 'cvo-cli-home-'));
    const started = await startTestCluster();
    if ('skip' in started) {
      skip = started.skip;
      return;
    }
    tc = started;
    env = { KUBECONFIG: tc.cluster.kubeconfig, HOME: home };
    signer = await ReleaseSigner.create();
    await installRootOfTrust(tc.admin, signer);
    await signer.publish(digestOf(1));
    await signer.publish(digestOf(3));
    await signer.publish(digestOf(4));
    await seed(tc, [
      { version: '4.17.0', image: v4170 },
      { version: '4.17.1', image: v4171 },
    ]);
    // A long first re-check delay, so the scheduled re-check is still pending when status reads it.
    service = await runService(
      tc.cluster.kubeconfig,
      { recheckBaseMs: 60_000, recheckMaxMs: 120_000 },
      logs,
    );
  });

  after(async () => {
    if (process.env.E2E_LOGS === '1') process.stderr.write(logs.join(''));
    await service?.stop();
    await signer?.close();
    await tc?.stop();
    await rm(home, { recursive: true, force: true });
  });

  const cluster = (t: { skip: (m: string) => void }): TestCluster | undefined => {
    if (tc === undefined) t.skip(skip ?? 'no cluster');
    return tc;
  };

  /** Polls the published state until `predicate` holds. */
  async function waitForState(
    c: TestCluster,
    predicate: (s: PublishedState) => boolean,
    what: string,
  ): Promise<PublishedState> {
    const deadline = Date.now() + 20_000;
    let last: PublishedState | undefined;
    while (Date.now() < deadline) {
      last = parsePublishedState(await c.admin.getConfigMap(STATE.namespace, STATE.name));
      if (last !== undefined && predicate(last)) return last;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`timed out waiting for ${what}; last state: ${JSON.stringify(last, null, 2)}`);
  }

  it('prints --help for every command with the exit codes', async () => {
    for (const command of ['upgrade', 'history', 'status']) {
      const r = await cli([command, '--help'], {});
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^Usage: cvo-verifier ${command} `));
      assert.match(r.stdout, /Exit codes: 0 /);
      assert.match(r.stdout, /--kubeconfig PATH/);
      const viaHelp = await cli(['help', command], {});
      assert.equal(viaHelp.stdout, r.stdout);
    }
    const top = await cli(['--help'], {});
    assert.match(top.stdout, /upgrade {11}show or request a cluster update/);
  });

  it('exits 2 with a clear message when no cluster is configured', async () => {
    for (const args of [['upgrade'], ['history'], ['status', '-o', 'json']]) {
      const r = await cli(args, { HOME: home });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(
        r.stderr,
        /^error: no cluster configured: pass --kubeconfig PATH, set KUBECONFIG/,
      );
      assert.equal(r.stdout, '');
    }
    const badContext = await cli(['history', '--context', 'nope'], {
      KUBECONFIG: join(home, 'missing.kubeconfig'),
      HOME: home,
    });
    assert.equal(badContext.code, 2);
    assert.match(badContext.stderr, /^error: cannot load the cluster configuration: /);
  });

  it('summarises the cluster like oc adm upgrade', async (t) => {
    const c = cluster(t);
    if (!c) return;
    const r = await cli(['upgrade'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        `Cluster version is ${CURRENT.version}`,
        '',
        'Upstream is unset, so the cluster will use an appropriate default.',
        'Channel: stable-4.17',
        '',
        'Recommended updates:',
        '',
        '  VERSION     IMAGE',
        `  4.17.1      ${v4171}`,
        `  4.17.0      ${v4170}`,
        '',
      ].join('\n'),
    );
  });

  it('refuses a by-tag --to-image without --force: oc text, exit 1, nothing patched', async (t) => {
    const c = cluster(t);
    if (!c) return;
    const before = await c.admin.getClusterVersion('version');
    const r = await cli(['upgrade', '--to-image', byTag], env);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `error: ${BY_TAG_REFUSED}\n`);
    assert.match(
      r.stderr,
      /^error: --to-image must be a by-digest pull spec, unless --force is also set, because release images that are not accessed via digest cannot be verified by the cluster/,
    );
    assert.equal(r.stdout, '');
    const after = await c.admin.getClusterVersion('version');
    assert.equal(after.metadata.resourceVersion, before.metadata.resourceVersion);
    assert.equal(after.spec.desiredUpdate, undefined);
  });

  it('refuses a target that is not a recommended update without --allow-explicit-upgrade', async (t) => {
    const c = cluster(t);
    if (!c) return;
    const before = await c.admin.getClusterVersion('version');
    const r = await cli(['upgrade', '--to-image', unlisted], env);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      'error: the update is not one of the possible targets: 4.17.1, 4.17.0. specify --allow-explicit-upgrade to continue with the update.\n',
    );
    const unknown = await cli(['upgrade', '--to', '9.9.9'], env);
    assert.equal(unknown.code, 1);
    assert.equal(
      unknown.stderr,
      'error: the update is not one of the possible targets: 4.17.1, 4.17.0. specify --to-image to continue with the update.\n',
    );
    const after = await c.admin.getClusterVersion('version');
    assert.equal(after.metadata.resourceVersion, before.metadata.resourceVersion);
  });

  it('--to VERSION patches the looked-up target and the service accepts it as verified', async (t) => {
    const c = cluster(t);
    if (!c) return;
    const r = await cli(['upgrade', '--to', '4.17.0'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      `Requested update to 4.17.0\ninfo: spec.desiredUpdate is now version="4.17.0" image="${v4170}" force=false\n`,
    );
    assert.equal(r.stderr, '');
    const cv = await waitFor(c.admin, (x) => x.status?.desired.image === v4170, 'desired 4.17.0');
    assert.deepEqual(cv.spec.desiredUpdate, {
      architecture: '',
      version: '4.17.0',
      image: v4170,
      force: false,
    });
    const history = await cli(['history', '-o', 'json'], env);
    assert.equal(history.code, 0, history.stderr);
    const [head] = JSON.parse(history.stdout) as { image: string; verified: boolean }[];
    assert.equal(head?.image, v4170);
    assert.equal(head?.verified, true);
    const again = await cli(['upgrade', '--to', '4.17.0'], env);
    assert.equal(again.code, 0);
    assert.equal(again.stdout, 'info: Cluster is already at version 4.17.0\n');
  });

  it('accepts an unlisted target with --allow-explicit-upgrade, warning as oc does', async (t) => {
    const c = cluster(t);
    if (!c) return;
    const r = await cli(['upgrade', '--to-image', unlisted, '--allow-explicit-upgrade'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stderr,
      'warning: The requested upgrade image is not one of the available updates. You have used --allow-explicit-upgrade for the update to proceed anyway\n',
    );
    assert.match(
      r.stdout,
      new RegExp(`^Requested update to release image ${escapeRe(unlisted)}\n`),
    );
    const cv = await waitFor(c.admin, (x) => x.status?.desired.image === unlisted, 'unlisted');
    assert.deepEqual(cv.spec.desiredUpdate, {
      architecture: '',
      version: '',
      image: unlisted,
      force: false,
    });
    assert.equal(cv.status?.history?.[0]?.verified, true);
  });

  it('with --force a by-tag target warns, is patched, and the service records the forced acceptance', async (t) => {
    const c = cluster(t);
    if (!c) return;
    const r = await cli(
      ['upgrade', '--to-image', byTag, '--force', '--allow-explicit-upgrade'],
      env,
    );
    assert.equal(r.code, 0, r.stderr);
    const warnings = r.stderr.trimEnd().split('\n');
    assert.equal(
      warnings[0],
      'warning: Using by-tag pull specs is dangerous, and while we still allow it in combination with --force for backward compatibility, it would be much safer to pass a by-digest pull spec instead',
    );
    assert.ok(
      warnings.every((w) => w.startsWith('warning: ')),
      r.stderr,
    );
    assert.ok(
      warnings.some((w) => w.startsWith('warning: --force overrides cluster verification')),
    );
    assert.match(r.stdout, new RegExp(`^Requested update to release image ${escapeRe(byTag)}\n`));
    const cv = await waitFor(c.admin, (x) => x.status?.desired.image === byTag, 'forced by-tag');
    assert.deepEqual(cv.spec.desiredUpdate, {
      architecture: '',
      version: '',
      image: byTag,
      force: true,
    });
    const head = cv.status?.history?.[0];
    assert.equal(head?.verified, false);
    assert.equal(
      head?.acceptedRisks,
      `Target release version="" image="${byTag}" cannot be verified, but continuing anyway because the update was forced: release images that are not accessed via digest cannot be verified`,
    );
  });

  it('status shows the evidence and the next re-check of a forced unsigned release', async (t) => {
    const c = cluster(t);
    if (!c) return;
    const r = await cli(
      ['upgrade', '--to-image', unsigned, '--force', '--allow-explicit-upgrade'],
      env,
    );
    assert.equal(r.code, 0, r.stderr);
    const cv = await waitFor(c.admin, (x) => x.status?.desired.image === unsigned, 'forced');
    assert.equal(cv.status?.history?.[0]?.verified, false);
    const state = await waitForState(
      c,
      (s) =>
        s.verdicts.some((v) => v.image === unsigned) &&
        s.rechecks.some((x) => x.kind === 'history' && x.image === unsigned),
      'published verdict and re-check',
    );

    const text = await cli(['status'], env);
    assert.equal(text.code, 0, text.stderr);
    const out = text.stdout;
    assert.match(
      out,
      new RegExp(`^Requested update: version="" image="${escapeRe(unsigned)}" force=true\n`),
    );
    assert.match(out, /\nReleaseAccepted=True \(PayloadLoaded\): Payload loaded/);
    assert.match(out, /\nReleaseVerified=False \(NotSigned\): /);
    assert.match(
      out,
      new RegExp(
        `\nVerdict for ${escapeRe(unsigned)}: not verified \\(NOT_SIGNED\\), checked .+ \\(\\d{4}-\\d\\d-\\d\\dT[^)]+Z\\)\n  unable to verify ${digestOf(2)} against keyrings: verifier-public-key-e2e\n`,
      ),
    );
    assert.match(out, /\n {2}Evidence:\n/);
    assert.match(out, /\n {4}.*signature-1: 404 Not Found/);
    const recheck = state.rechecks.find((x) => x.image === unsigned);
    assert.ok(recheck);
    assert.match(
      out,
      new RegExp(
        `\n  history entry ${escapeRe(unsigned)}: next attempt in (\\d+m)?(\\d+s)? \\(${escapeRe(recheck.nextAt)}\\), 0 attempts so far\n`,
      ),
    );
    // The by-tag entry cannot be verified at all, so it is never re-checked.
    assert.doesNotMatch(out, new RegExp(`history entry ${escapeRe(byTag)}`));

    const json = await cli(['status', '-o', 'json'], env);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as {
      conditions: unknown[];
      desiredUpdate: unknown;
      target: unknown;
      verdict: { image: string; verified: boolean; code: string; details: string[] } | null;
      rechecks: unknown[] | null;
      state: { found: boolean; readable: boolean };
    };
    const now = await c.admin.getClusterVersion('version');
    // Invalid is absent for a valid request: the CVO removes it (pkg/cvo/status.go:291-293).
    assert.deepEqual(
      report.conditions,
      ['ReleaseAccepted', 'ReleaseVerified', 'Invalid'].flatMap((type) => {
        const found = now.status?.conditions?.find((x) => x.type === type);
        return found === undefined ? [] : [found];
      }),
    );
    assert.equal(
      report.conditions.some((x) => (x as { type: string }).type === 'Invalid'),
      false,
    );
    assert.deepEqual(report.desiredUpdate, now.spec.desiredUpdate);
    assert.deepEqual(report.target, { image: unsigned, version: '', force: true });
    assert.equal(report.verdict?.image, unsigned);
    assert.equal(report.verdict.verified, false);
    assert.equal(report.verdict.code, 'NOT_SIGNED');
    assert.ok(report.verdict.details.some((d) => d.includes('404')));
    assert.deepEqual(report.rechecks, state.rechecks);
    assert.equal(report.state.found, true);
    assert.equal(report.state.readable, true);

    const yaml = await cli(['status', '--output', 'yaml'], env);
    assert.equal(yaml.code, 0, yaml.stderr);
    assert.deepEqual(load(yaml.stdout), report);
  });

  it('history prints the table with VERIFIED and accepted risks, and the same data as JSON and YAML', async (t) => {
    const c = cluster(t);
    if (!c) return;
    const cv: ClusterVersion = await c.admin.getClusterVersion('version');
    const history = cv.status?.history ?? [];
    assert.equal(history.length, 5);

    const table = await cli(['history'], env);
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^STATE +STARTED +COMPLETED +VERSION +VERIFIED +IMAGE$/);
    const rows = lines.filter((l) => /^(Partial|Completed) /.test(l));
    assert.deepEqual(
      rows.map((l) => l.split(/ +/).filter((x) => x !== '')),
      history.map((h) => [
        h.state,
        h.startedTime,
        h.completionTime ?? '-',
        h.version === undefined || h.version === '' ? '-' : h.version,
        String(h.verified),
        h.image,
      ]),
    );
    assert.equal(
      lines.filter((l) => l.startsWith('    accepted risk: Target release version=""')).length,
      2,
    );

    const json = await cli(['history', '--output', 'json'], env);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), history);
    const yaml = await cli(['history', '-o', 'yaml'], env);
    assert.equal(yaml.code, 0, yaml.stderr);
    assert.deepEqual(load(yaml.stdout), history);

    // status and history agree on the verdict for the current target.
    const status = JSON.parse((await cli(['status', '-o', 'json'], env)).stdout) as {
      verdict: { image: string; verified: boolean };
    };
    assert.equal(status.verdict.image, history[0]?.image);
    assert.equal(status.verdict.verified, history[0]?.verified);
  });

  it('status says so when the state ConfigMap is missing', async (t) => {
    const c = cluster(t);
    if (!c) return;
    const text = await cli(['status', '--state-configmap', 'cvo-update-verifier/absent'], env);
    assert.equal(text.code, 0, text.stderr);
    assert.match(
      text.stdout,
      /\nNo verifier state: ConfigMap cvo-update-verifier\/absent not found \(the service is not running, or no replica is leading\)\.\n$/,
    );
    const json = await cli(
      ['status', '--state-configmap', 'cvo-update-verifier/absent', '-o', 'json'],
      env,
    );
    const report = JSON.parse(json.stdout) as {
      verdict: unknown;
      rechecks: unknown;
      state: unknown;
    };
    assert.equal(report.verdict, null);
    assert.equal(report.rechecks, null);
    assert.deepEqual(report.state, {
      configMap: 'cvo-update-verifier/absent',
      found: false,
      readable: false,
    });
  });

  it('--clear removes desiredUpdate and says what was cleared; a second --clear has nothing to do', async (t) => {
    const c = cluster(t);
    if (!c) return;
    const r = await cli(['upgrade', '--clear'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      `Cleared the update field, still at ${unsigned}\ninfo: removed spec.desiredUpdate version="" image="${unsigned}" force=true\n`,
    );
    const cv = await c.admin.getClusterVersion('version');
    assert.equal(cv.spec.desiredUpdate, undefined);
    assert.equal(cv.status?.desired.image, unsigned, 'clearing never moves status.desired');

    // oc: `info: No update in progress` on stdout, exit 0, nothing patched.
    const again = await cli(['upgrade', '--clear'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, 'info: No update in progress\n');
    assert.equal(again.stderr, '');
    // The generation moves with every spec change (status writes of the service do not move it).
    assert.equal(
      (await c.admin.getClusterVersion('version')).metadata.generation,
      cv.metadata.generation,
    );
    const status = await cli(['status'], env);
    assert.match(status.stdout, /^No update requested \(spec\.desiredUpdate is not set\)\.\n/);
  });

  it('the built executable exits 1 for a refusal, 0 for data and 2 without a cluster', async (t) => {
    const c = cluster(t);
    if (!c) return;
    const base: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home };
    const refused = await binary(['upgrade', '--to-image', byTag], {
      ...base,
      KUBECONFIG: c.cluster.kubeconfig,
    });
    assert.equal(refused.code, 1, refused.stderr);
    assert.equal(refused.stderr, `error: ${BY_TAG_REFUSED}\n`);
    const history = await binary(['history', '-o', 'json'], {
      ...base,
      KUBECONFIG: c.cluster.kubeconfig,
    });
    assert.equal(history.code, 0, history.stderr);
    assert.equal((JSON.parse(history.stdout) as unknown[]).length, 5);
    const noCluster = await binary(['status'], base);
    assert.equal(noCluster.code, 2);
    assert.match(noCluster.stderr, /^error: no cluster configured/);
    const usage = await binary(['upgrade', '--bogus'], base);
    assert.equal(usage.code, 2);
  });

  it('a conditional update that is not recommended needs --allow-not-recommended', async (t) => {
    const c = cluster(t);
    if (!c) return;
    const risky = `${REPO}@${digestOf(5)}`;
    await signer.publish(digestOf(5));
    const at = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const conditionalUpdates = [
      {
        release: { version: '4.17.2', image: risky },
        risks: [
          {
            name: 'KnownIssue',
            message: 'Nodes may not drain.',
            url: 'https://example.com/known-issue',
            matchingRules: [{ type: 'Always' }],
          },
        ],
        conditions: [
          {
            type: 'Recommended',
            status: 'False',
            reason: 'KnownIssue',
            message: 'Nodes may not drain.',
            lastTransitionTime: at,
          },
        ],
      },
    ];
    // The service writes status too; retry on a conflict with a fresh object.
    for (let attempt = 1; ; attempt++) {
      const cv = await c.admin.getClusterVersion('version');
      if (cv.status === undefined) throw new Error('seeded status missing');
      try {
        await c.admin.replaceClusterVersionStatus({
          ...cv,
          status: { ...cv.status, conditionalUpdates },
        });
        break;
      } catch (err) {
        if (attempt >= 5) throw err;
      }
    }

    const summary = await cli(['upgrade'], env);
    assert.equal(summary.code, 0, summary.stderr);
    assert.match(
      summary.stdout,
      /\nAdditional updates which are not recommended for your cluster configuration are available, to view those re-run the command with --include-not-recommended\.\n$/,
    );
    const detailed = await cli(['upgrade', '--include-not-recommended'], env);
    assert.match(
      detailed.stdout,
      new RegExp(
        `\nUpdates with known issues:\n\n  Version: 4\\.17\\.2\n  Image: ${escapeRe(risky)}\n  Reason: KnownIssue\n  Message: Nodes may not drain\\.\n$`,
      ),
    );

    const refused = await cli(['upgrade', '--to', '4.17.2'], env);
    assert.equal(refused.code, 1);
    assert.equal(
      refused.stderr,
      'error: the update 4.17.2 is not one of the recommended updates, but is available as a conditional update. To accept the Recommended=False risk and to proceed with update use --allow-not-recommended.\n  Reason: KnownIssue\n  Message: Nodes may not drain.\n',
    );
    assert.equal((await c.admin.getClusterVersion('version')).spec.desiredUpdate, undefined);

    const allowed = await cli(['upgrade', '--to', '4.17.2', '--allow-not-recommended'], env);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal(
      allowed.stderr,
      'warning: with --allow-not-recommended you have accepted the risks with 4.17.2 and bypassed Recommended=False KnownIssue: Nodes may not drain.\n',
    );
    assert.match(allowed.stdout, /^Requested update to 4\.17\.2\n/);
    const cv = await waitFor(c.admin, (x) => x.status?.desired.image === risky, 'conditional');
    assert.deepEqual(cv.spec.desiredUpdate, {
      architecture: '',
      version: '4.17.2',
      image: risky,
      force: false,
    });
    assert.equal(cv.status?.history?.[0]?.verified, true);
  });

  /** Rewrites status (as the CVO would), retrying when the service wrote in between. */
  async function editStatus(
    c: TestCluster,
    edit: (status: NonNullable<ClusterVersion['status']>) => void,
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const cv = await c.admin.getClusterVersion('version');
      if (cv.status === undefined) throw new Error('seeded status missing');
      edit(cv.status);
      try {
        await c.admin.replaceClusterVersionStatus(cv);
        return;
      } catch (err) {
        if (attempt >= 5) throw err;
      }
    }
  }

  const generation = async (c: TestCluster): Promise<number | undefined> =>
    (await c.admin.getClusterVersion('version')).metadata.generation;

  it('a tag beside a digest is refused without --force; with it, matched by digest', async (t) => {
    const c = cluster(t);
    if (!c) return;
    const tagged = `${REPO}:4.17.1-x86_64@${digestOf(3)}`;
    const before = await generation(c);
    const refused = await cli(['upgrade', '--to-image', tagged], env);
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr, `error: ${BY_TAG_REFUSED}\n`);
    assert.equal(refused.stdout, '');
    assert.equal(await generation(c), before, 'nothing patched');

    const forced = await cli(['upgrade', '--to-image', tagged, '--force'], env);
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual(forced.stderr.trimEnd().split('\n'), [
      `warning: ${BY_TAG_FORCED_WARNING}`,
      'warning: --force overrides cluster verification of your supplied release image and waives any update precondition failures. Only use this if you are testing unsigned release images or you are working around a known bug in the cluster-version operator and you have verified the authenticity of the provided image yourself.',
    ]);
    // oc's targetMatch: the digest is what verification checks, so 4.17.1 is the target.
    assert.match(forced.stdout, /^Requested update to 4\.17\.1\n/);
    const cv = await waitFor(c.admin, (x) => x.status?.desired.image === tagged, 'tag@digest');
    assert.deepEqual(cv.spec.desiredUpdate, {
      architecture: '',
      version: '4.17.1',
      image: tagged,
      force: true,
    });
    assert.equal(cv.status?.history?.[0]?.verified, true, 'the digest is signed');
  });

  it("oc's client-side guards: Failing and Progressing refuse until --allow-upgrade-with-warnings; --to-multi-arch", async (t) => {
    const c = cluster(t);
    if (!c) return;
    await editStatus(c, (status) => {
      status.conditions = [
        ...(status.conditions ?? []).filter((x) => !['Failing', 'Progressing'].includes(x.type)),
        {
          type: 'Failing',
          status: 'True',
          reason: 'ClusterOperatorDegraded',
          message: 'Cluster operator etcd is degraded',
          lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        },
        {
          type: 'Progressing',
          status: 'True',
          reason: 'ClusterOperatorUpdating',
          message: 'Working towards 4.17.1: 106 of 845 done (12% complete)\nwaiting on etcd',
          lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        },
      ];
    });
    const at = (await c.admin.getClusterVersion('version')).status?.desired;
    assert.equal(at?.version, '4.17.1');
    const guards =
      'the cluster is experiencing an error reconciling "4.17.1":\n\n  Reason: ClusterOperatorDegraded\n  Message: Cluster operator etcd is degraded\n\n' +
      'the cluster is already upgrading:\n\n  Reason: ClusterOperatorUpdating\n  Message: Working towards 4.17.1: 106 of 845 done (12% complete)\n  waiting on etcd';
    const before = await generation(c);
    for (const args of [['--to', '4.17.0'], ['--to-multi-arch']]) {
      const r = await cli(['upgrade', ...args], env);
      assert.equal(r.code, 1, args.join(' '));
      assert.equal(
        r.stderr,
        `error: ${guards}\n\nIf you want to upgrade anyway, use --allow-upgrade-with-warnings.\n`,
      );
      assert.equal(r.stdout, '');
    }
    assert.equal(await generation(c), before, 'nothing patched');

    const bypass = await cli(['upgrade', '--to-multi-arch', '--allow-upgrade-with-warnings'], env);
    assert.equal(bypass.code, 0, bypass.stderr);
    assert.equal(bypass.stderr, `warning: --allow-upgrade-with-warnings is bypassing: ${guards}\n`);
    assert.equal(
      bypass.stdout,
      'Requested update to multi cluster architecture\ninfo: spec.desiredUpdate is now version="4.17.1" image="" force=false architecture=Multi\n',
    );
    const cv = await c.admin.getClusterVersion('version');
    assert.deepEqual(cv.spec.desiredUpdate, {
      architecture: 'Multi',
      version: '4.17.1',
      image: '',
      force: false,
    });
    // The service resolves Multi as the CVO does: the current version's available update.
    await waitFor(c.admin, (x) => x.status?.desired.image === v4171, 'Multi resolved to 4.17.1');

    const again = await cli(['upgrade', '--to-multi-arch', '--allow-upgrade-with-warnings'], env);
    assert.equal(again.code, 1);
    assert.equal(
      again.stderr,
      'error: info: Update to multi cluster architecture has already been requested\n',
    );
    await editStatus(c, (status) => {
      status.conditions = (status.conditions ?? []).filter(
        (x) => !['Failing', 'Progressing'].includes(x.type),
      );
    });
  });

  it('--to-latest requests the highest available update; with none it is already at the latest', async (t) => {
    const c = cluster(t);
    if (!c) return;
    // oc's own example spells it --to-latest=true.
    const r = await cli(['upgrade', '--to-latest=true'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(
      r.stdout,
      `Requested update to 4.17.1\ninfo: spec.desiredUpdate is now version="4.17.1" image="${v4171}" force=false\n`,
    );
    // As oc marshals the update: the Multi request before is blanked.
    assert.deepEqual((await c.admin.getClusterVersion('version')).spec.desiredUpdate, {
      architecture: '',
      version: '4.17.1',
      image: v4171,
      force: false,
    });

    await editStatus(c, (status) => {
      status.availableUpdates = null;
    });
    const before = await generation(c);
    const latest = await cli(['upgrade', '--to-latest'], env);
    assert.equal(latest.code, 0, latest.stderr);
    assert.equal(
      latest.stdout,
      'info: Cluster is already at the latest available version 4.17.1\n',
    );
    assert.equal(latest.stderr, '');
    assert.equal(await generation(c), before, 'nothing patched');

    const risky = `${REPO}@${digestOf(5)}`;
    const withRisks = await cli(['upgrade', '--to-latest', '--allow-not-recommended'], env);
    assert.equal(withRisks.code, 0, withRisks.stderr);
    assert.equal(
      withRisks.stderr,
      'warning: with --allow-not-recommended you have accepted the risks with 4.17.2 and bypassed Recommended=False KnownIssue: Nodes may not drain.\n',
    );
    assert.match(withRisks.stdout, /^Requested update to 4\.17\.2\n/);
    await waitFor(c.admin, (x) => x.status?.desired.image === risky, 'latest conditional');
  });

  it("--clear keeps acceptRisks; the service's Invalid is a client-side guard too", async (t) => {
    const c = cluster(t);
    if (!c) return;
    const risky = `${REPO}@${digestOf(5)}`;
    // Without the ClusterUpdateAcceptRisks feature gate, the service (as the CVO) says Invalid.
    await requestUpdate(c, { acceptRisks: [{ name: 'KnownIssue' }] });
    const cv = await waitFor(
      c.admin,
      (x) => condition(x, 'Invalid')?.status === 'True',
      'Invalid for acceptRisks',
    );
    const invalid = condition(cv, 'Invalid');
    const refused = await cli(['upgrade', '--to-image', unlisted, '--allow-explicit-upgrade'], env);
    assert.equal(refused.code, 1);
    // The target is found first (the warning), then the guards refuse.
    assert.equal(
      refused.stderr,
      'warning: The requested upgrade image is not one of the available updates. You have used --allow-explicit-upgrade for the update to proceed anyway\n' +
        `error: the cluster version object is invalid, you must correct the invalid state first:\n\n  Reason: ${invalid?.reason ?? ''}\n  Message: ${(invalid?.message ?? '').replaceAll('\n', '\n  ')}\n\nIf you want to upgrade anyway, use --allow-upgrade-with-warnings.\n`,
    );

    const before = await c.admin.getClusterVersion('version');
    assert.equal(before.status?.desired.image, risky);
    const cleared = await cli(['upgrade', '--clear'], env);
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.equal(
      cleared.stdout,
      `Cleared the update field, still at 4.17.2\ninfo: removed spec.desiredUpdate version="4.17.2" image="${risky}" force=false; kept acceptRisks=KnownIssue\n`,
    );
    assert.deepEqual((await c.admin.getClusterVersion('version')).spec.desiredUpdate, {
      architecture: '',
      version: '',
      image: '',
      force: false,
      acceptRisks: [{ name: 'KnownIssue' }],
    });

    await requestUpdate(c, null);
    await waitFor(c.admin, (x) => condition(x, 'Invalid') === undefined, 'Invalid removed');
    const nothing = await cli(['upgrade', '--clear'], env);
    assert.equal(nothing.code, 0, nothing.stderr);
    assert.equal(nothing.stdout, 'info: No update in progress\n');
  });
});

function escapeRe(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
