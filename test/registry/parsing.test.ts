import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';

import { isVerifyError } from '../../src/errors.js';
import type { RegistryErrorCode, VerifyError } from '../../src/errors.js';
import {
  loadDockerConfig,
  parseDockerConfig,
  RegistryCredential,
} from '../../src/registry/credentials.js';
import { selectChallenge } from '../../src/registry/auth.js';
import { parseRetryAfter, parseWwwAuthenticate } from '../../src/registry/headers.js';
import {
  computeDigest,
  DEFAULT_MAX_INDEX_MANIFESTS,
  DEFAULT_MAX_LAYERS,
  DOCKER_MANIFEST,
  OCI_INDEX,
  OCI_MANIFEST,
  parseManifest,
  toReferrersTag,
} from '../../src/registry/manifest.js';
import { Semaphore } from '../../src/registry/semaphore.js';
import {
  assertTransportAllowed,
  isLoopbackHost,
  isPlainHttpAllowed,
  registryBaseUrl,
} from '../../src/registry/transport.js';

function assertRegistryError(fn: () => unknown, code: RegistryErrorCode): VerifyError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(isVerifyError(caught), `expected a VerifyError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.area, 'registry');
  return caught;
}

describe('transport: which scheme a registry is spoken to with', () => {
  const table: [host: string, insecure: string[], expected: string][] = [
    ['quay.io', [], 'https://quay.io/'],
    ['registry.example.com:5000', [], 'https://registry.example.com:5000/'],
    ['docker.io', [], 'https://registry-1.docker.io/'],
    ['index.docker.io', [], 'https://registry-1.docker.io/'],
    ['localhost:5000', [], 'http://localhost:5000/'],
    ['127.0.0.1:5000', [], 'http://127.0.0.1:5000/'],
    ['127.8.9.10', [], 'http://127.8.9.10/'],
    ['[::1]:5000', [], 'http://[::1]:5000/'],
    ['128.0.0.1:5000', [], 'https://128.0.0.1:5000/'],
    ['localhost.example.com', [], 'https://localhost.example.com/'],
    ['registry.lab:5000', ['registry.lab'], 'http://registry.lab:5000/'],
    ['registry.lab:5000', ['registry.lab:5000'], 'http://registry.lab:5000/'],
    ['registry.lab:5001', ['registry.lab:5000'], 'https://registry.lab:5001/'],
    ['other.lab', ['registry.lab'], 'https://other.lab/'],
  ];
  for (const [host, insecure, expected] of table) {
    it(`${host} with insecureRegistries [${insecure.join(', ')}] → ${expected}`, () => {
      assert.equal(registryBaseUrl(host, insecure).href, expected);
    });
  }

  it('knows loopback hosts', () => {
    for (const host of ['localhost', '127.0.0.1', '127.255.0.1:80', '[::1]', '::1']) {
      assert.equal(isLoopbackHost(host), true, host);
    }
    for (const host of ['10.0.0.1', '::2', 'localhost.localdomain', 'quay.io', '']) {
      assert.equal(isLoopbackHost(host), false, host);
    }
  });

  it('refuses plain HTTP to a non-loopback host unless it is listed as insecure', () => {
    const url = new URL('http://registry.example.com/token');
    const err = assertRegistryError(
      () => assertTransportAllowed(url, [], 'token'),
      'INSECURE_TRANSPORT',
    );
    assert.equal(err.code, 'INSECURE_TRANSPORT');
    assert.doesNotThrow(() => assertTransportAllowed(url, ['registry.example.com'], 'token'));
    assert.doesNotThrow(() => assertTransportAllowed(new URL('http://127.0.0.1:9/x'), [], 'x'));
    assert.doesNotThrow(() => assertTransportAllowed(new URL('https://example.com/'), [], 'x'));
    assertRegistryError(
      () => assertTransportAllowed(new URL('ftp://127.0.0.1/x'), [], 'redirect'),
      'REDIRECT',
    );
    assert.equal(isPlainHttpAllowed('registry.example.com', ['other.example.com']), false);
  });
});

describe('credentials from a docker config.json or pull secret', () => {
  const basic = (user: string, password: string): string =>
    `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const auth = (user: string, password: string): string =>
    Buffer.from(`${user}:${password}`).toString('base64');
  const config = JSON.stringify({
    auths: {
      'quay.io': { auth: auth('robot', 's3cr3t:with:colons') },
      'quay.io/openshift-release-dev': { username: 'release', password: 'r3lease' },
      'https://index.docker.io/v1/': { auth: auth('hubuser', 'hubpass') },
      'http://127.0.0.1:5000/': { username: 'local', password: 'localpass' },
      'helper.example.com': {},
    },
  });

  it('matches by host, the most specific namespace first, and docker.io aliases', () => {
    const credentials = parseDockerConfig(config);
    const table: [host: string, path: string, expected: string | undefined][] = [
      ['quay.io', 'some/repo', basic('robot', 's3cr3t:with:colons')],
      ['quay.io', 'openshift-release-dev/ocp-release', basic('release', 'r3lease')],
      ['quay.io', 'openshift-release-dev-x/ocp', basic('robot', 's3cr3t:with:colons')],
      ['docker.io', 'library/busybox', basic('hubuser', 'hubpass')],
      ['registry-1.docker.io', 'library/busybox', basic('hubuser', 'hubpass')],
      ['127.0.0.1:5000', 'x', basic('local', 'localpass')],
      ['127.0.0.1:5001', 'x', undefined],
      ['helper.example.com', 'x', undefined],
      ['ghcr.io', 'x', undefined],
    ];
    for (const [host, path, expected] of table) {
      assert.equal(
        credentials.lookup(host, path)?.basicAuthorization(),
        expected,
        `${host}/${path}`,
      );
    }
  });

  it('unwraps .dockerconfigjson: a Secret with data (base64) or stringData, or a bare key', () => {
    const secrets = [
      {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'kubernetes.io/dockerconfigjson',
        data: { '.dockerconfigjson': Buffer.from(config).toString('base64') },
      },
      { kind: 'Secret', stringData: { '.dockerconfigjson': config } },
      { '.dockerconfigjson': JSON.parse(config) as unknown },
      { '.dockerconfigjson': Buffer.from(config).toString('base64') },
    ];
    for (const secret of secrets) {
      const credentials = parseDockerConfig(JSON.stringify(secret));
      assert.equal(
        credentials.lookup('quay.io', 'a/b')?.basicAuthorization(),
        basic('robot', 's3cr3t:with:colons'),
      );
    }
  });

  it('never shows a secret through inspect, JSON or string conversion', () => {
    const credentials = parseDockerConfig(config);
    const credential = credentials.lookup('quay.io', 'a');
    assert.ok(credential instanceof RegistryCredential);
    const shown = [
      inspect(credentials, { depth: Infinity, showHidden: true }),
      inspect(credential, { depth: Infinity, showHidden: true }),
      JSON.stringify({ credentials, credential }),
      String(credential),
      credentials.registries().join(' '),
    ].join('\n');
    for (const secret of [
      's3cr3t',
      'robot',
      'r3lease',
      'hubpass',
      auth('robot', 's3cr3t:with:colons'),
    ]) {
      assert.ok(!shown.includes(secret), `${secret} shown in ${shown}`);
    }
    assert.match(shown, /quay\.io/);
  });

  it('rejects malformed files with INVALID_CREDENTIALS_FILE, quoting no secret', () => {
    const table: [text: string, why: RegExp][] = [
      ['{"auths": {"quay.io": {"auth": "bm9jb2xvbg=="}}}', /not base64 of user:password/],
      ['{"auths": {"quay.io": {"username": "u"}}}', /needs "auth" or "username" and "password"/],
      ['{"auths": []}', /"auths" is not an object/],
      ['{"quay.io": {"auth": "eDp5"}}', /legacy \.dockercfg/],
      ['{"auths": {"quay.io": {"auth": "c2VjcmV0OnBhc3N3b3Jk", "auth": "x"}}}', /not valid JSON/],
      ['{"auths": {"quay.io": {"auth": "c2VjcmV0OnBhc3N3b3Jk"', /not valid JSON/],
      ['[]', /expected a JSON object/],
    ];
    for (const [text, why] of table) {
      const err = assertRegistryError(
        () => parseDockerConfig(text, 'pull.json'),
        'INVALID_CREDENTIALS_FILE',
      );
      assert.match(err.message, why);
      assert.match(err.message, /^pull\.json: /);
      assert.ok(!err.message.includes('c2VjcmV0'), err.message);
      assert.equal(err.cause, undefined);
      assert.ok(isVerifyError(err, 'INVALID_CREDENTIALS_FILE'));
    }
  });

  it('loads a file, and reports a missing one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cvo-registry-auth-'));
    try {
      const path = join(dir, 'config.json');
      await writeFile(path, config);
      const signal = AbortSignal.timeout(5_000);
      const credentials = await loadDockerConfig(path, signal);
      assert.deepEqual(credentials.registries(), [
        '127.0.0.1:5000',
        'docker.io',
        'quay.io',
        'quay.io/openshift-release-dev',
      ]);
      await assert.rejects(loadDockerConfig(join(dir, 'absent.json'), signal), (err) => {
        assert.ok(isVerifyError(err, 'INVALID_CREDENTIALS_FILE'));
        assert.match(err.message, /ENOENT/);
        return true;
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('WWW-Authenticate challenges', () => {
  const table: [header: string, expected: ReturnType<typeof parseWwwAuthenticate>][] = [
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"',
      [
        {
          scheme: 'bearer',
          params: {
            realm: 'https://auth.docker.io/token',
            service: 'registry.docker.io',
            scope: 'repository:samalba/my-app:pull,push',
          },
        },
      ],
    ],
    ['Basic realm="Registry Realm"', [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]],
    [
      'Basic realm="a", Bearer realm="https://r/t", service=svc',
      [
        { scheme: 'basic', params: { realm: 'a' } },
        { scheme: 'bearer', params: { realm: 'https://r/t', service: 'svc' } },
      ],
    ],
    [
      'BEARER Realm = "https://r/t?x=1,y=2" , Service="s\\"q"',
      [{ scheme: 'bearer', params: { realm: 'https://r/t?x=1,y=2', service: 's"q' } }],
    ],
    [
      'Negotiate abc123==, Basic realm=x',
      [
        { scheme: 'negotiate', params: {} },
        { scheme: 'basic', params: { realm: 'x' } },
      ],
    ],
    ['', []],
  ];
  for (const [header, expected] of table) {
    it(JSON.stringify(header), () => {
      const parsed = parseWwwAuthenticate(header).map((c) => ({
        scheme: c.scheme,
        params: { ...c.params },
      }));
      assert.deepEqual(parsed, expected);
    });
  }

  it('prefers Bearer with a realm, then Basic; nothing usable otherwise', () => {
    assert.deepEqual(selectChallenge('Basic realm="a", Bearer realm="https://r/t",service=s'), {
      scheme: 'bearer',
      realm: 'https://r/t',
      service: 's',
    });
    assert.deepEqual(selectChallenge('Bearer service=s, Basic realm=x'), { scheme: 'basic' });
    assert.equal(selectChallenge('Negotiate abc'), undefined);
    assert.equal(selectChallenge(undefined), undefined);
  });
});

describe('Retry-After', () => {
  const now = Date.parse('2026-03-01T12:00:00Z');
  const table: [value: string | undefined, max: number, expected: number | undefined][] = [
    ['3', 10_000, 3_000],
    ['0', 10_000, 0],
    ['120', 10_000, 10_000],
    ['Sun, 01 Mar 2026 12:00:05 GMT', 10_000, 5_000],
    ['Sun, 01 Mar 2026 11:59:00 GMT', 10_000, 0],
    ['Sun, 01 Mar 2026 13:00:00 GMT', 10_000, 10_000],
    ['-1', 10_000, undefined],
    ['1.5', 10_000, undefined],
    ['soon', 10_000, undefined],
    [undefined, 10_000, undefined],
  ];
  for (const [value, max, expected] of table) {
    it(`${JSON.stringify(value)} (cap ${max}) → ${String(expected)}`, () => {
      assert.equal(parseRetryAfter(value, now, max), expected);
    });
  }
});

describe('manifests', () => {
  const limits = { maxLayers: DEFAULT_MAX_LAYERS, maxIndexManifests: DEFAULT_MAX_INDEX_MANIFESTS };
  const blob = (n: number): { mediaType: string; digest: string; size: number } => ({
    mediaType: 'application/vnd.oci.image.layer.v1.tar',
    digest: computeDigest(Buffer.from(`layer ${n}`)),
    size: 7,
  });
  const image = (fields: Record<string, unknown> = {}): Uint8Array =>
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { ...blob(0), mediaType: 'application/vnd.oci.image.config.v1+json' },
        layers: [blob(1)],
        ...fields,
      }),
    );

  it('parses an image manifest with its subject and annotations', () => {
    const subject = { ...blob(9), mediaType: OCI_MANIFEST };
    const parsed = parseManifest(
      image({ subject, annotations: { a: 'b' }, artifactType: 'x/y' }),
      `${OCI_MANIFEST}; charset=utf-8`,
      limits,
      'm',
    );
    assert.equal(parsed.kind, 'image');
    assert.equal(parsed.mediaType, OCI_MANIFEST);
    assert.equal(parsed.kind === 'image' && parsed.layers.length, 1);
    assert.deepEqual({ ...parsed.subject }, subject);
    assert.equal(parsed.artifactType, 'x/y');
    assert.equal(parsed.annotations?.a, 'b');
  });

  it('takes the media type from the body, the Content-Type, or the shape', () => {
    const noType = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }));
    assert.equal(parseManifest(noType, 'application/json', limits, 'm').mediaType, OCI_INDEX);
    const docker = image({ mediaType: undefined });
    assert.equal(parseManifest(docker, DOCKER_MANIFEST, limits, 'm').mediaType, DOCKER_MANIFEST);
    assert.equal(parseManifest(docker, undefined, limits, 'm').mediaType, OCI_MANIFEST);
  });

  it('rejects what it must not read', () => {
    const table: [bytes: Uint8Array, contentType: string | undefined, code: RegistryErrorCode][] = [
      [image(), OCI_INDEX, 'INVALID_RESPONSE'], // body and header disagree
      [image({ schemaVersion: 1 }), undefined, 'INVALID_RESPONSE'],
      [
        image({ mediaType: 'application/vnd.docker.distribution.manifest.v1+json' }),
        undefined,
        'INVALID_RESPONSE',
      ],
      [image({ layers: [{ ...blob(1), digest: 'sha256:abc' }] }), undefined, 'INVALID_RESPONSE'],
      [image({ layers: [{ ...blob(1), size: -1 }] }), undefined, 'INVALID_RESPONSE'],
      [image({ config: undefined }), undefined, 'INVALID_RESPONSE'],
      [image({ annotations: { a: 1 } }), undefined, 'INVALID_RESPONSE'],
      [image({ manifests: [] }), undefined, 'INVALID_RESPONSE'],
      [Buffer.from('{"schemaVersion":2,"schemaVersion":2}'), undefined, 'INVALID_RESPONSE'],
      [Buffer.from('not json'), undefined, 'INVALID_RESPONSE'],
      [
        image({ layers: Array.from({ length: DEFAULT_MAX_LAYERS + 1 }, (_, i) => blob(i)) }),
        undefined,
        'TOO_MANY_LAYERS',
      ],
      [
        Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: OCI_INDEX,
            manifests: Array.from({ length: DEFAULT_MAX_INDEX_MANIFESTS + 1 }, (_, i) => ({
              ...blob(i),
              mediaType: OCI_MANIFEST,
            })),
          }),
        ),
        undefined,
        'TOO_MANY_MANIFESTS',
      ],
    ];
    for (const [bytes, contentType, code] of table) {
      assertRegistryError(() => parseManifest(bytes, contentType, limits, 'm'), code);
    }
  });

  it('accepts exactly the layer limit', () => {
    const layers = Array.from({ length: 3 }, (_, i) => blob(i));
    const limited = { ...limits, maxLayers: 3 };
    assert.equal(parseManifest(image({ layers }), undefined, limited, 'm').kind, 'image');
    const err = assertRegistryError(
      () => parseManifest(image({ layers: [...layers, blob(4)] }), undefined, limited, 'm'),
      'TOO_MANY_LAYERS',
    );
    assert.equal(err.code, 'TOO_MANY_LAYERS');
  });

  it('names the referrers tag after the digest', () => {
    const digest = computeDigest(Buffer.from('x'));
    assert.equal(toReferrersTag(digest), `sha256-${digest.slice('sha256:'.length)}`);
  });
});

describe('Semaphore', () => {
  it('holds at most its limit and hands permits over in order', async () => {
    const semaphore = new Semaphore(2);
    const signal = new AbortController().signal;
    const order: number[] = [];
    const first = await semaphore.acquire(signal);
    const second = await semaphore.acquire(signal);
    const third = semaphore.acquire(signal).then((release) => {
      order.push(3);
      return release;
    });
    const fourth = semaphore.acquire(signal).then((release) => {
      order.push(4);
      return release;
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(order, []);
    first();
    first(); // a second release is a no-op
    (await third)();
    second();
    (await fourth)();
    assert.deepEqual(order, [3, 4]);
  });

  it('lets an aborted waiter go without taking a permit', async () => {
    const semaphore = new Semaphore(1);
    const release = await semaphore.acquire(new AbortController().signal);
    const controller = new AbortController();
    const waiting = semaphore.acquire(controller.signal);
    controller.abort(new Error('stop'));
    await assert.rejects(waiting, /stop/);
    release();
    const again = await semaphore.acquire(AbortSignal.timeout(1_000));
    again();
  });
});

describe('pull secrets as the cluster holds them', () => {
  it('skips an entry with an empty "auth" (written beside an email) instead of refusing the file', () => {
    const creds = parseDockerConfig(
      JSON.stringify({
        auths: {
          'cloud.example': { auth: '', email: 'ops@example.com' },
          'quay.io': { auth: Buffer.from('robot:pw').toString('base64') },
        },
      }),
      'pull-secret',
    );
    assert.deepEqual(creds.registries(), ['quay.io']);
  });

  it('fingerprints credential sets so that no registry key can forge another set', () => {
    const basic = (user: string, pass: string): string =>
      Buffer.from(`${user}:${pass}`).toString('base64');
    const forged = parseDockerConfig(
      JSON.stringify({
        auths: { [`a/x\nBasic ${basic('u', 'p')}\nb`]: { auth: basic('v', 'q') } },
      }),
    );
    const real = parseDockerConfig(
      JSON.stringify({ auths: { 'a/x': { auth: basic('u', 'p') }, b: { auth: basic('v', 'q') } } }),
    );
    assert.notEqual(forged.fingerprint(), real.fingerprint());
  });
});
