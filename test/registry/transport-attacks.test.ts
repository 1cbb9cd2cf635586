/**
 * From the issue-14 review (5461104): per-request AbortController + timer instead of
 * AbortSignal.timeout/any; manifest-by-tag hashed once. Expected to pass (what held): the timer
 * still covers the body, the caller's abort still stops a body mid-stream, a Docker-Content-Digest
 * that is not the body's is refused, and nothing is left on the caller's signal.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { after, before, beforeEach, describe, it } from 'node:test';

import { isVerifyError } from '../../src/errors.js';
import { RegistryClient } from '../../src/registry/client.js';
import type { RegistryRepository } from '../../src/registry/client.js';
import { OCI_MANIFEST } from '../../src/registry/manifest.js';
import { RegistryFront, sha256Digest } from '../helpers/registry.js';

const GUARD = { timeout: 8_000 };
const REPO = 'cvo-review/transport';
const LAYER = randomBytes(64 * 1024);
const LAYER_DIGEST = sha256Digest(LAYER);
const MANIFEST = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: LAYER_DIGEST,
      size: LAYER.length,
    },
    layers: [],
  }),
);

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(isVerifyError(err), String(err));
    return err.code;
  }
  return 'resolved';
}

describe('review: registry transport', () => {
  let front: RegistryFront;
  let repo: RegistryRepository;
  const clients: RegistryClient[] = [];
  const client = (requestTimeoutMs = 300): RegistryClient => {
    const c = new RegistryClient({ requestTimeoutMs, minRetryDelayMs: 5, maxRetryDelayMs: 20 });
    clients.push(c);
    return c;
  };
  before(async () => {
    front = await RegistryFront.start();
    repo = { host: front.host, path: REPO };
  });
  beforeEach(() => front.reset());
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await front.close();
  });

  it(
    'times out a body that stalls after its headers (the timer covers the body)',
    GUARD,
    async () => {
      front.handler = (_req, res) => {
        res.writeHead(200, { 'content-length': String(LAYER.length) });
        res.write(LAYER.subarray(0, 1000)); // then nothing
        return true;
      };
      const outer = new AbortController();
      assert.equal(
        await code(client().getBlob(repo, { digest: LAYER_DIGEST }, { signal: outer.signal })),
        'TIMEOUT',
      );
      assert.equal(getEventListeners(outer.signal, 'abort').length, 0);
    },
  );

  it('times out a streamed blob that stalls, and the consumer never completes', GUARD, async () => {
    front.handler = (_req, res) => {
      res.writeHead(200, { 'content-length': String(LAYER.length) });
      res.write(LAYER.subarray(0, 1000));
      return true;
    };
    let completed = false;
    const result = await code(
      client().streamBlob(
        repo,
        { digest: LAYER_DIGEST },
        {
          signal: new AbortController().signal,
          consume: async (chunks) => {
            // Drained without looking: the stall, not the content, is under test.
            for await (const chunk of chunks) assert.ok(chunk.length >= 0);
            completed = true;
          },
        },
      ),
    );
    assert.equal(result, 'TIMEOUT');
    assert.equal(completed, false);
  });

  it('stops a body mid-stream when the caller aborts', GUARD, async () => {
    front.handler = (_req, res) => {
      res.writeHead(200, { 'content-length': String(LAYER.length) });
      res.write(LAYER.subarray(0, 1000));
      return true;
    };
    const outer = new AbortController();
    setTimeout(() => outer.abort(), 50);
    assert.equal(
      await code(client(5_000).getBlob(repo, { digest: LAYER_DIGEST }, { signal: outer.signal })),
      'ABORTED',
    );
  });

  it('refuses a manifest by tag whose Docker-Content-Digest is another valid digest', async () => {
    front.handler = (_req, res) => {
      res
        .writeHead(200, {
          'content-type': OCI_MANIFEST,
          'content-length': String(MANIFEST.length),
          'docker-content-digest': sha256Digest(Buffer.from('something else')),
        })
        .end(MANIFEST);
      return true;
    };
    assert.equal(
      await code(client().getManifest(repo, 'v1', { signal: AbortSignal.timeout(5000) })),
      'DIGEST_MISMATCH',
    );
  });

  it('refuses a Docker-Content-Digest with surrounding junk or upper case', async () => {
    for (const header of [
      `${sha256Digest(MANIFEST)}x`,
      sha256Digest(MANIFEST).toUpperCase(),
      `sha256:${'0'.repeat(64)}`,
    ]) {
      front.handler = (_req, res) => {
        res
          .writeHead(200, {
            'content-type': OCI_MANIFEST,
            'content-length': String(MANIFEST.length),
            'docker-content-digest': header,
          })
          .end(MANIFEST);
        return true;
      };
      assert.notEqual(
        await code(client().getManifest(repo, 'v1', { signal: AbortSignal.timeout(5000) })),
        'resolved',
        header,
      );
    }
  });
});
