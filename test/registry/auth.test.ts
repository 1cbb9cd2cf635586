import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { inspect } from 'node:util';

import { RegistryClient } from '../../src/registry/client.js';
import type { RegistryRepository } from '../../src/registry/client.js';
import { loadDockerConfig, parseDockerConfig } from '../../src/registry/credentials.js';
import { isVerifyError } from '../../src/errors.js';
import type { RegistryErrorCode, VerifyError } from '../../src/errors.js';
import {
  findRegistryBinary,
  pushImage,
  RegistryFront,
  TestRegistry,
  TokenServer,
} from '../helpers/registry.js';
import type { PushedImage } from '../helpers/registry.js';

const REPO_PATH = 'cvo-test/private';
const USER = 'cvo-puller';
const binary = await findRegistryBinary();
const skip = 'skip' in binary ? binary.skip : false;

const signal = (): AbortSignal => AbortSignal.timeout(10_000);

async function rejectsWith(
  promise: Promise<unknown>,
  code: RegistryErrorCode,
): Promise<VerifyError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(isVerifyError(caught), `expected a VerifyError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.area, code === 'ABORTED' ? 'common' : 'registry');
  return caught;
}

/** Every rendering of an error a log line could use: message, stack, causes, JSON. */
function renderings(err: Error): string {
  return [
    err.message,
    err.stack ?? '',
    inspect(err, { depth: Infinity, showHidden: true }),
    JSON.stringify(err),
  ].join('\n');
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

function configJson(host: string, user: string, password: string): string {
  const auth = Buffer.from(`${user}:${password}`).toString('base64');
  return JSON.stringify({ auths: { [host]: { auth } } });
}

describe('RegistryClient authentication against real registries', { skip }, () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cvo-registry-auth-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  describe('Basic auth (docker-registry with htpasswd)', () => {
    const password = randomBytes(12).toString('hex');
    let registry: TestRegistry;
    let repo: RegistryRepository;
    let image: PushedImage;
    let front: RegistryFront;

    before(async () => {
      assert.ok('path' in binary);
      registry = await TestRegistry.start(binary.path, {
        kind: 'htpasswd',
        username: USER,
        password,
      });
      repo = { host: registry.host, path: REPO_PATH };
      image = await pushImage(
        { url: registry.url, authorization: basic(USER, password) },
        REPO_PATH,
        'v1',
      );
      front = await RegistryFront.start(registry.url);
    });
    beforeEach(() => front.reset());
    after(async () => {
      await front.close();
      await registry.stop();
    });

    it('reads with the credentials of a config.json file', async () => {
      const path = join(dir, 'config.json');
      await writeFile(path, configJson(`https://${registry.host}/`, USER, password));
      const client = new RegistryClient({ credentials: await loadDockerConfig(path, signal()) });
      try {
        const result = await client.getManifest(repo, 'v1', { signal: signal() });
        assert.equal(result.status === 'found' && result.digest, image.manifest.digest);
        const blob = await client.getBlob(repo, image.layers[0]!, { signal: signal() });
        assert.equal(blob.length, image.layers[0]!.size);
      } finally {
        await client.close();
      }
    });

    it('sends credentials up front once the registry has asked for them', async () => {
      const credentials = parseDockerConfig(configJson(front.host, USER, password));
      const client = new RegistryClient({ credentials });
      try {
        const proxied = { host: front.host, path: REPO_PATH };
        await client.getManifest(proxied, 'v1', { signal: signal() });
        await client.getManifest(proxied, image.manifest.digest, { signal: signal() });
        assert.deepEqual(
          front.requests.map((r) => r.authorization === undefined),
          [true, false, false],
          'anonymous, challenged, then authenticated directly',
        );
      } finally {
        await client.close();
      }
    });

    it('answers 401 without credentials with UNAUTHORIZED, not retried', async () => {
      const client = new RegistryClient({ minRetryDelayMs: 1 });
      try {
        const err = await rejectsWith(
          client.getManifest({ host: front.host, path: REPO_PATH }, 'v1', { signal: signal() }),
          'UNAUTHORIZED',
        );
        assert.equal(err.status, 401);
        assert.match(err.message, /no credentials are configured/);
        assert.equal(front.requests.length, 1);
      } finally {
        await client.close();
      }
    });

    it('refuses a wrong password without putting any credential in the error', async () => {
      const wrong = `wrong-${randomBytes(8).toString('hex')}`;
      const path = join(dir, 'wrong.json');
      await writeFile(path, configJson(registry.host, USER, wrong));
      const client = new RegistryClient({ credentials: await loadDockerConfig(path, signal()) });
      try {
        const err = await rejectsWith(
          client.getManifest(repo, 'v1', { signal: signal() }),
          'UNAUTHORIZED',
        );
        assert.match(err.message, /refused the credentials configured for/);
        const shown = renderings(err);
        for (const secret of [
          wrong,
          password,
          USER,
          basic(USER, wrong),
          Buffer.from(`${USER}:${wrong}`).toString('base64'),
        ]) {
          assert.ok(!shown.includes(secret), `error shows ${secret}: ${shown}`);
        }
      } finally {
        await client.close();
      }
    });
  });

  describe('Bearer tokens (docker-registry with token auth and a loopback token server)', () => {
    const password = randomBytes(12).toString('hex');
    let tokens: TokenServer;
    let registry: TestRegistry;
    let repo: RegistryRepository;
    let image: PushedImage;

    before(async () => {
      assert.ok('path' in binary);
      tokens = await TokenServer.start();
      registry = await TestRegistry.start(binary.path, tokens.registryAuth());
      repo = { host: registry.host, path: REPO_PATH };
      const push = tokens.mint([
        { type: 'repository', name: REPO_PATH, actions: ['pull', 'push'] },
      ]);
      image = await pushImage(
        { url: registry.url, authorization: `Bearer ${push}` },
        REPO_PATH,
        'v1',
      );
    });
    beforeEach(() => {
      tokens.requests.length = 0;
      tokens.users = { [USER]: password };
    });
    after(async () => {
      await registry.stop();
      await tokens.close();
    });

    it('fetches a pull token for the repository, sending the registry credentials to the realm', async () => {
      const credentials = parseDockerConfig(configJson(registry.host, USER, password));
      const client = new RegistryClient({ credentials });
      try {
        const result = await client.getManifest(repo, 'v1', { signal: signal() });
        assert.equal(result.status === 'found' && result.digest, image.manifest.digest);
        assert.deepEqual(tokens.requests, [
          { service: tokens.service, scopes: [`repository:${REPO_PATH}:pull`], user: USER },
        ]);
      } finally {
        await client.close();
      }
    });

    it('caches the token until shortly before it expires', async () => {
      let now = Date.now();
      const credentials = parseDockerConfig(configJson(registry.host, USER, password));
      const client = new RegistryClient({ credentials, now: () => now });
      try {
        await client.getManifest(repo, 'v1', { signal: signal() });
        await client.getBlob(repo, image.layers[0]!, { signal: signal() });
        await client.getManifest(repo, image.manifest.digest, { signal: signal() });
        assert.equal(tokens.requests.length, 1, 'one token for three requests');
        now += (tokens.expiresInS - 5) * 1000; // inside the expiry margin
        await client.getManifest(repo, 'v1', { signal: signal() });
        assert.equal(tokens.requests.length, 2, 'a fresh token near expiry');
      } finally {
        await client.close();
      }
    });

    it('shares one token request between concurrent requests', async () => {
      const credentials = parseDockerConfig(configJson(registry.host, USER, password));
      const client = new RegistryClient({ credentials });
      try {
        await client.getManifest(repo, 'v1', { signal: signal() });
        tokens.requests.length = 0;
        // A second repository needs its own scope; four requests at once ask for it once.
        const other = { ...repo, path: 'cvo-test/other' };
        const results = await Promise.all(
          Array.from({ length: 4 }, () => client.getManifest(other, 'v1', { signal: signal() })),
        );
        assert.ok(results.every((r) => r.status === 'not-found'));
        assert.deepEqual(
          tokens.requests.map((r) => r.scopes),
          [['repository:cvo-test/other:pull']],
        );
      } finally {
        await client.close();
      }
    });

    it('reports a token server refusing the credentials as UNAUTHORIZED, secrets unshown', async () => {
      const wrong = `wrong-${randomBytes(8).toString('hex')}`;
      const credentials = parseDockerConfig(configJson(registry.host, USER, wrong));
      const client = new RegistryClient({ credentials, minRetryDelayMs: 1 });
      try {
        const err = await rejectsWith(
          client.getManifest(repo, 'v1', { signal: signal() }),
          'UNAUTHORIZED',
        );
        assert.match(err.message, /token server answered 401/);
        assert.equal(tokens.requests.length, 1, 'a refused token is not retried');
        const shown = renderings(err);
        for (const secret of [wrong, USER, basic(USER, wrong)]) {
          assert.ok(!shown.includes(secret), `error shows ${secret}: ${shown}`);
        }
      } finally {
        await client.close();
      }
    });

    it('pulls anonymously when the token server grants anonymous tokens', async () => {
      tokens.users = undefined;
      const client = new RegistryClient();
      try {
        const result = await client.getManifest(repo, 'v1', { signal: signal() });
        assert.equal(result.status, 'found');
        assert.equal(tokens.requests[0]?.user, undefined);
      } finally {
        await client.close();
      }
    });
  });
});
