import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { getEventListeners } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, beforeEach, describe, it } from 'node:test';

import { RegistryClient } from '../../src/registry/client.js';
import type { RegistryClientOptions, RegistryRepository } from '../../src/registry/client.js';
import { parseDockerConfig } from '../../src/registry/credentials.js';
import { isVerifyError } from '../../src/errors.js';
import type { RegistryErrorCode, VerifyError } from '../../src/errors.js';
import { OCI_INDEX, OCI_MANIFEST } from '../../src/registry/manifest.js';
import { RegistryFront, sha256Digest } from '../helpers/registry.js';
import type { FrontHandler } from '../helpers/registry.js';

// Loopback fakes for what a real registry will not do on demand: throttling, failures, hangs,
// endless bodies, redirects, the referrers API. No registry binary is needed.

const REPO_PATH = 'cvo-test/faults';
const BUNDLE_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** node:test limit for tests that would hang if a limit, timeout or abort were broken. */
const HANG_GUARD = { timeout: 8_000 };

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

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

const LAYER = randomBytes(256);
const LAYER_DIGEST = sha256Digest(LAYER);
const MANIFEST = json({
  schemaVersion: 2,
  mediaType: OCI_MANIFEST,
  config: {
    mediaType: 'application/vnd.oci.image.config.v1+json',
    digest: LAYER_DIGEST,
    size: LAYER.length,
  },
  layers: [
    {
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      digest: LAYER_DIGEST,
      size: LAYER.length,
    },
  ],
});
const MANIFEST_DIGEST = sha256Digest(MANIFEST);
const path = (kind: 'manifests' | 'blobs' | 'referrers', ref: string): string =>
  `/v2/${REPO_PATH}/${kind}/${ref}`;

function send(
  res: ServerResponse,
  status: number,
  body: Buffer,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-length': String(body.length), ...headers }).end(body);
}

/** Serves MANIFEST and LAYER; `override` answers first (return true when it did). */
function registryRoutes(
  override?: (req: IncomingMessage, res: ServerResponse) => boolean,
): FrontHandler {
  return (req, res) => {
    if (override?.(req, res) === true) return true;
    const url = (req.url ?? '').split('?')[0];
    if (url === path('manifests', MANIFEST_DIGEST) || url === path('manifests', 'v1')) {
      send(res, 200, MANIFEST, { 'content-type': OCI_MANIFEST });
    } else if (url === path('blobs', LAYER_DIGEST)) {
      send(res, 200, LAYER, { 'content-type': 'application/octet-stream' });
    } else {
      send(
        res,
        404,
        json({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }),
        {
          'content-type': 'application/json',
        },
      );
    }
    return true;
  };
}

/** The first `times` requests get `status` (with `headers`), the rest the normal routes. */
function failFirst(
  times: number,
  status: number,
  headers: Record<string, string> = {},
): FrontHandler {
  let left = times;
  return registryRoutes((_req, res) => {
    if (left <= 0) return false;
    left--;
    send(
      res,
      status,
      json({ errors: [{ code: 'UNAVAILABLE', message: `status ${status}` }] }),
      headers,
    );
    return true;
  });
}

/** An endless chunked body: only a client that stops reading at its limit finishes. */
function endless(res: ServerResponse, contentType: string): void {
  res.writeHead(200, { 'content-type': contentType });
  const chunk = Buffer.alloc(16 * 1024, 0x20);
  const pump = (): void => {
    while (!res.destroyed && res.write(chunk));
    if (!res.destroyed) res.once('drain', pump);
  };
  res.on('close', () => res.removeAllListeners('drain'));
  pump();
}

describe('RegistryClient against misbehaving loopback registries', () => {
  let front: RegistryFront;
  let repo: RegistryRepository;
  const clients: RegistryClient[] = [];
  const client = (options: RegistryClientOptions = {}): RegistryClient => {
    const created = new RegistryClient({ minRetryDelayMs: 5, maxRetryDelayMs: 20, ...options });
    clients.push(created);
    return created;
  };

  before(async () => {
    front = await RegistryFront.start();
    repo = { host: front.host, path: REPO_PATH };
  });
  beforeEach(() => front.reset());
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await front.close();
  });

  describe('retries', () => {
    it('retries a 429 after the Retry-After seconds, then succeeds', HANG_GUARD, async () => {
      front.handler = failFirst(1, 429, { 'retry-after': '1' });
      const started = performance.now();
      const result = await client().getManifest(repo, MANIFEST_DIGEST, { signal: signal() });
      const elapsed = performance.now() - started;
      assert.equal(result.status, 'found');
      assert.equal(front.requests.length, 2);
      assert.ok(elapsed >= 950, `waited ${Math.round(elapsed)} ms, Retry-After said 1 s`);
    });

    it('caps a long Retry-After', HANG_GUARD, async () => {
      front.handler = failFirst(1, 503, { 'retry-after': '3600' });
      const result = await client({ maxRetryAfterMs: 50 }).getManifest(repo, 'v1', {
        signal: signal(),
      });
      assert.equal(result.status, 'found');
      assert.equal(front.requests.length, 2);
    });

    it('retries a 500 up to the limit, then reports it', HANG_GUARD, async () => {
      front.handler = failFirst(Infinity, 500);
      const err = await rejectsWith(
        client({ retries: 2 }).getBlob(repo, { digest: LAYER_DIGEST }, { signal: signal() }),
        'HTTP_STATUS',
      );
      assert.equal(err.status, 500);
      assert.equal(err.code, 'HTTP_STATUS');
      assert.match(err.message, /answered 500 \(UNAVAILABLE: status 500\) \(after 3 attempts\)/);
      assert.equal(front.requests.length, 3);
    });

    it('retries a connection reset, not a refused TLS handshake', HANG_GUARD, async () => {
      let first = true;
      front.handler = registryRoutes((req) => {
        if (!first) return false;
        first = false;
        req.socket.destroy();
        return true;
      });
      const result = await client().getManifest(repo, 'v1', { signal: signal() });
      assert.equal(result.status, 'found');
      assert.equal(front.requests.length, 2);

      // A redirect to HTTPS on a plain-HTTP port: the TLS handshake fails, and would again.
      front.reset();
      front.handler = registryRoutes((req, res) => {
        if (!(req.url ?? '').includes('/blobs/')) return false;
        res.writeHead(307, { location: `https://${front.host}/tls` }).end();
        return true;
      });
      const err = await rejectsWith(
        client().getBlob(repo, { digest: LAYER_DIGEST }, { signal: signal() }),
        'NETWORK',
      );
      assert.equal(err.retryable, false, err.message);
      assert.equal(front.requests.length, 1);
    });

    for (const [status, code] of [
      [401, 'UNAUTHORIZED'],
      [403, 'DENIED'],
      [400, 'HTTP_STATUS'],
      [405, 'HTTP_STATUS'],
    ] as const) {
      it(`does not retry a ${status} (${code})`, HANG_GUARD, async () => {
        front.handler = failFirst(Infinity, status);
        const err = await rejectsWith(client().getManifest(repo, 'v1', { signal: signal() }), code);
        assert.equal(err.status, status);
        assert.equal(front.requests.length, 1);
      });
    }
  });

  describe('not found', () => {
    it('reads MANIFEST_UNKNOWN / NAME_UNKNOWN in a 4xx body as not found', async () => {
      for (const code of ['MANIFEST_UNKNOWN', 'NAME_UNKNOWN']) {
        front.handler = registryRoutes((_req, res) => {
          send(res, 400, json({ errors: [{ code, message: 'x' }] }));
          return true;
        });
        const result = await client().getManifest(repo, 'v1', { signal: signal() });
        assert.equal(result.status, 'not-found');
        assert.match(result.status === 'not-found' ? result.detail : '', new RegExp(code));
      }
    });
  });

  describe('size limits while streaming', () => {
    it('rejects a manifest over the limit announced by Content-Length', async () => {
      front.handler = registryRoutes((req, res) => {
        if (!(req.url ?? '').includes('/manifests/')) return false;
        send(res, 200, Buffer.alloc(8 * 1024, 0x20), { 'content-type': OCI_MANIFEST });
        return true;
      });
      const err = await rejectsWith(
        client({ maxManifestBytes: 4 * 1024 }).getManifest(repo, 'v1', { signal: signal() }),
        'OVERSIZE',
      );
      assert.equal(err.code, 'OVERSIZE');
      assert.match(err.message, /8192 bytes exceed the limit of 4096/);
    });

    it(
      'stops reading an endless manifest without Content-Length at the limit',
      HANG_GUARD,
      async () => {
        front.handler = registryRoutes((req, res) => {
          if (!(req.url ?? '').includes('/manifests/')) return false;
          endless(res, OCI_MANIFEST);
          return true;
        });
        await rejectsWith(
          client({ maxManifestBytes: 64 * 1024 }).getManifest(repo, 'v1', { signal: signal() }),
          'OVERSIZE',
        );
      },
    );

    it('stops reading an endless blob at the limit (default 4 MiB)', HANG_GUARD, async () => {
      front.handler = registryRoutes((req, res) => {
        if (!(req.url ?? '').includes('/blobs/')) return false;
        endless(res, 'application/octet-stream');
        return true;
      });
      const err = await rejectsWith(
        client().getBlob(repo, { digest: LAYER_DIGEST }, { signal: signal() }),
        'OVERSIZE',
      );
      assert.match(err.message, /4194304/);
    });

    it('refuses a blob whose descriptor is over the limit without fetching it', async () => {
      front.handler = registryRoutes();
      await rejectsWith(
        client({ maxBlobBytes: 100 }).getBlob(
          repo,
          { digest: LAYER_DIGEST, size: 256 },
          { signal: signal() },
        ),
        'OVERSIZE',
      );
      assert.equal(front.requests.length, 0);
    });

    it('rejects a blob whose size differs from its descriptor', async () => {
      front.handler = registryRoutes();
      await rejectsWith(
        client().getBlob(
          repo,
          { digest: LAYER_DIGEST, size: LAYER.length - 1 },
          { signal: signal() },
        ),
        'DIGEST_MISMATCH',
      );
    });
  });

  describe('streamed blobs (release layers)', () => {
    const collect = async (chunks: AsyncIterable<Uint8Array>): Promise<Buffer> => {
      const parts: Uint8Array[] = [];
      for await (const chunk of chunks) parts.push(chunk);
      return Buffer.concat(parts);
    };

    it('streams a blob whose content matches its digest', async () => {
      front.handler = registryRoutes();
      let got: Buffer | undefined;
      await client().streamBlob(
        repo,
        { digest: LAYER_DIGEST, size: LAYER.length },
        {
          signal: signal(),
          consume: async (chunks) => {
            got = await collect(chunks);
          },
        },
      );
      assert.deepEqual(got, LAYER);
    });

    it('fails the last read of a substituted blob, so the consumer never completes', async () => {
      front.handler = registryRoutes((req, res) => {
        if (!(req.url ?? '').includes('/blobs/')) return false;
        send(res, 200, Buffer.from(LAYER.map((b) => b ^ 1)), {
          'content-type': 'application/octet-stream',
        });
        return true;
      });
      let completed = false;
      await rejectsWith(
        client().streamBlob(
          repo,
          { digest: LAYER_DIGEST },
          {
            signal: signal(),
            consume: async (chunks) => {
              await collect(chunks);
              completed = true;
            },
          },
        ),
        'DIGEST_MISMATCH',
      );
      assert.equal(completed, false);
    });

    it('fails when the consumer stops before the end (the digest was never checked)', async () => {
      front.handler = registryRoutes();
      await rejectsWith(
        client().streamBlob(
          repo,
          { digest: LAYER_DIGEST },
          {
            signal: signal(),
            consume: async (chunks) => {
              for await (const chunk of chunks) {
                assert.ok(chunk.length > 0);
                break;
              }
            },
          },
        ),
        'DIGEST_MISMATCH',
      );
    });

    it('stops an endless streamed blob at its limit', HANG_GUARD, async () => {
      front.handler = registryRoutes((req, res) => {
        if (!(req.url ?? '').includes('/blobs/')) return false;
        endless(res, 'application/octet-stream');
        return true;
      });
      await rejectsWith(
        client().streamBlob(
          repo,
          { digest: LAYER_DIGEST },
          { signal: signal(), maxBytes: 1024 * 1024, consume: (chunks) => collect(chunks).then() },
        ),
        'OVERSIZE',
      );
    });

    it('passes through what the consumer throws, unretried', async () => {
      front.handler = registryRoutes();
      const failure = new Error('the consumer refused the layer');
      let calls = 0;
      await assert.rejects(
        client().streamBlob(
          repo,
          { digest: LAYER_DIGEST },
          {
            signal: signal(),
            consume: () => {
              calls++;
              return Promise.reject(failure);
            },
          },
        ),
        (err) => err === failure,
      );
      assert.equal(calls, 1);
    });
  });

  describe('the OCI 1.1 referrers API', () => {
    const referrers = [
      {
        mediaType: OCI_MANIFEST,
        digest: sha256Digest(Buffer.from('a')),
        size: 10,
        artifactType: BUNDLE_TYPE,
      },
      {
        mediaType: OCI_MANIFEST,
        digest: sha256Digest(Buffer.from('b')),
        size: 11,
        artifactType: 'application/spdx+json',
      },
    ];

    it('uses the endpoint, passes artifactType, and filters even when the registry did not', async () => {
      front.handler = registryRoutes((req, res) => {
        if (!(req.url ?? '').startsWith(path('referrers', MANIFEST_DIGEST))) return false;
        send(res, 200, json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: referrers }), {
          'content-type': OCI_INDEX,
        });
        return true;
      });
      const result = await client().getReferrers(repo, MANIFEST_DIGEST, {
        signal: signal(),
        artifactType: BUNDLE_TYPE,
      });
      assert.equal(result.source, 'api');
      assert.deepEqual(
        result.referrers.map((r) => r.digest),
        [referrers[0]!.digest],
      );
      assert.deepEqual(
        front.requests.map((r) => r.url),
        [`${path('referrers', MANIFEST_DIGEST)}?artifactType=${encodeURIComponent(BUNDLE_TYPE)}`],
      );
    });

    it('falls back to the tag when the endpoint answers 404', async () => {
      front.handler = registryRoutes();
      const result = await client().getReferrers(repo, MANIFEST_DIGEST, { signal: signal() });
      assert.deepEqual(result, { source: 'tag', referrers: [] });
      assert.deepEqual(
        front.requests.map((r) => r.url),
        [path('referrers', MANIFEST_DIGEST), path('manifests', MANIFEST_DIGEST.replace(':', '-'))],
      );
    });

    it('rejects an endpoint answer that is not an index', async () => {
      front.handler = registryRoutes((req, res) => {
        if (!(req.url ?? '').startsWith(path('referrers', MANIFEST_DIGEST))) return false;
        send(res, 200, MANIFEST, { 'content-type': OCI_MANIFEST });
        return true;
      });
      await rejectsWith(
        client().getReferrers(repo, MANIFEST_DIGEST, { signal: signal() }),
        'INVALID_RESPONSE',
      );
    });
  });

  describe('connections and concurrency', () => {
    it('keeps no more requests in flight than its limit', HANG_GUARD, async () => {
      front.handler = registryRoutes((_req, res) => {
        setTimeout(() => send(res, 200, LAYER), 40);
        return true;
      });
      const limited = client({ maxConcurrentRequests: 3 });
      const blobs = await Promise.all(
        Array.from({ length: 12 }, () =>
          limited.getBlob(repo, { digest: LAYER_DIGEST }, { signal: signal() }),
        ),
      );
      assert.equal(blobs.length, 12);
      assert.equal(front.requests.length, 12);
      assert.equal(front.maxInFlight, 3);
    });

    it('reuses keep-alive connections for sequential requests', async () => {
      front.handler = registryRoutes();
      const reused = client();
      for (let i = 0; i < 10; i++) {
        await reused.getManifest(repo, MANIFEST_DIGEST, { signal: signal() });
      }
      assert.equal(front.requests.length, 10);
      // undici may open a second socket while the first is being returned to the pool.
      assert.ok(front.connections <= 2, `${front.connections} connections for 10 requests`);
    });
  });

  describe('timeouts and aborts', () => {
    const hang = registryRoutes(() => true);

    it(
      'gives up on a request after the per-request timeout, without retrying',
      HANG_GUARD,
      async () => {
        front.handler = hang;
        const err = await rejectsWith(
          client({ requestTimeoutMs: 200 }).getManifest(repo, 'v1', { signal: signal() }),
          'TIMEOUT',
        );
        assert.equal(err.code, 'TIMEOUT');
        assert.equal(front.requests.length, 1);
      },
    );

    it(
      "stops when the caller's signal aborts, also while waiting for a permit",
      HANG_GUARD,
      async () => {
        front.handler = hang;
        const controller = new AbortController();
        const single = client({ maxConcurrentRequests: 1 });
        const running = single.getManifest(repo, 'v1', { signal: controller.signal });
        const queued = single.getBlob(
          repo,
          { digest: LAYER_DIGEST },
          { signal: controller.signal },
        );
        setTimeout(() => controller.abort(), 50);
        const [first, second] = await Promise.allSettled([running, queued]);
        for (const settled of [first, second]) {
          assert.equal(settled.status, 'rejected');
          assert.ok(isVerifyError(settled.reason, 'ABORTED'), String(settled.reason));
          assert.equal(settled.reason.code, 'ABORTED');
        }
        assert.equal(front.requests.length, 1);
      },
    );

    it("leaves no listener on the caller's signal once its requests have ended", async () => {
      front.handler = registryRoutes((req, res) => {
        if ((req.url ?? '').endsWith('/v404')) {
          send(res, 404, json({ errors: [{ code: 'MANIFEST_UNKNOWN' }] }));
          return true;
        }
        return false;
      });
      const outer = new AbortController();
      const shared = client();
      for (let i = 0; i < 20; i++) {
        await shared.getManifest(repo, 'v1', { signal: outer.signal });
        await shared.getBlob(repo, { digest: LAYER_DIGEST }, { signal: outer.signal });
        const missing = await shared.getManifest(repo, 'v404', { signal: outer.signal });
        assert.equal(missing.status, 'not-found');
      }
      await rejectsWith(
        shared.getBlob(repo, { digest: sha256Digest(json('absent')) }, { signal: outer.signal }),
        'BLOB_NOT_FOUND',
      );
      assert.equal(getEventListeners(outer.signal, 'abort').length, 0);
    });

    it('stops waiting for a Retry-After when the caller aborts', HANG_GUARD, async () => {
      front.handler = failFirst(Infinity, 429, { 'retry-after': '5' });
      const started = performance.now();
      await rejectsWith(
        client().getManifest(repo, 'v1', { signal: AbortSignal.timeout(200) }),
        'ABORTED',
      );
      assert.ok(performance.now() - started < 2_000);
    });
  });

  describe('redirects and transport', () => {
    let storage: RegistryFront;
    before(async () => {
      storage = await RegistryFront.start();
    });
    after(() => storage.close());

    it('follows a blob redirect to another origin without the credentials', async () => {
      storage.reset();
      storage.handler = (_req, res) => {
        send(res, 200, LAYER);
        return true;
      };
      const authorization = `Basic ${Buffer.from('robot:pw').toString('base64')}`;
      front.handler = registryRoutes((req, res) => {
        if (req.headers.authorization !== authorization) {
          send(res, 401, json({ errors: [{ code: 'UNAUTHORIZED' }] }), {
            'www-authenticate': 'Basic realm="x"',
          });
          return true;
        }
        if (!(req.url ?? '').includes('/blobs/')) return false;
        res.writeHead(307, { location: `${storage.url}/store/layer?X-Signature=abc` }).end();
        return true;
      });
      const credentials = parseDockerConfig(
        JSON.stringify({ auths: { [front.host]: { username: 'robot', password: 'pw' } } }),
      );
      const bytes = await client({ credentials }).getBlob(
        repo,
        { digest: LAYER_DIGEST },
        { signal: signal() },
      );
      assert.deepEqual(Buffer.from(bytes), LAYER);
      assert.deepEqual(storage.requests, [
        { method: 'GET', url: '/store/layer?X-Signature=abc', authorization: undefined },
      ]);
    });

    it('refuses a redirect to plain HTTP on a non-loopback host, and does not quote its query', async () => {
      front.handler = registryRoutes((req, res) => {
        if (!(req.url ?? '').includes('/blobs/')) return false;
        res
          .writeHead(302, { location: 'http://storage.example.invalid/layer?X-Signature=secret' })
          .end();
        return true;
      });
      const err = await rejectsWith(
        client().getBlob(repo, { digest: LAYER_DIGEST }, { signal: signal() }),
        'INSECURE_TRANSPORT',
      );
      assert.doesNotMatch(err.message, /secret/);
    });

    it('stops after too many redirects', async () => {
      front.handler = registryRoutes((req, res) => {
        res.writeHead(302, { location: req.url ?? '/' }).end();
        return true;
      });
      await rejectsWith(
        client({ maxRedirects: 2 }).getManifest(repo, 'v1', { signal: signal() }),
        'REDIRECT',
      );
      assert.equal(front.requests.length, 3);
    });

    it('refuses a token realm over plain HTTP on a non-loopback host', async () => {
      front.handler = registryRoutes((_req, res) => {
        send(res, 401, json({ errors: [{ code: 'UNAUTHORIZED' }] }), {
          'www-authenticate': 'Bearer realm="http://auth.example.invalid/token",service="x"',
        });
        return true;
      });
      await rejectsWith(
        client().getManifest(repo, 'v1', { signal: signal() }),
        'INSECURE_TRANSPORT',
      );
    });

    it('rejects invalid references before any request', async () => {
      const c = client();
      await rejectsWith(c.getManifest(repo, 'bad tag', { signal: signal() }), 'INVALID_REFERENCE');
      await rejectsWith(
        c.getManifest(repo, 'sha256:abc', { signal: signal() }),
        'INVALID_REFERENCE',
      );
      await rejectsWith(
        c.getManifest({ ...repo, path: 'Upper/Case' }, 'v1', { signal: signal() }),
        'INVALID_REFERENCE',
      );
      await rejectsWith(c.getReferrers(repo, 'md5:abc', { signal: signal() }), 'INVALID_REFERENCE');
      assert.equal(front.requests.length, 0);
    });
  });
});
