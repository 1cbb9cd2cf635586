import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { createKubePort, KubeApiError, WATCH_RESTART_BASE_MS } from '../../src/kube/client.js';
import type { Watcher } from '../../src/kube/client.js';
import type { ClusterVersion } from '../../src/kube/types.js';

// The ClusterVersion informer against a loopback server that answers the list and watch requests
// as the API server does (JSON list, then newline-delimited watch events), scripted per test to
// produce what a real API server does only at its own time: 410 Gone, bookmarks, closes, and
// answers no API server sends (an oversized or malformed event).

const PATH = '/apis/config.openshift.io/v1/clusterversions';
const WATCH_EVENT_LIMIT = 8 * 1024 * 1024;

function cv(name: string, resourceVersion: string): ClusterVersion {
  return {
    apiVersion: 'config.openshift.io/v1',
    kind: 'ClusterVersion',
    metadata: { name, resourceVersion },
    spec: { clusterID: name },
  };
}

interface OpenWatch {
  readonly query: URLSearchParams;
  readonly res: ServerResponse;
  closed: boolean;
}

/** Answers lists from a queue (the last answer repeats) and holds watches open for the test. */
class ScriptedApiServer {
  readonly server: Server;
  readonly watches: OpenWatch[] = [];
  lists = 0;
  listAnswers: { status: number; body: unknown }[] = [];
  /** Status of the next watch requests (200 streams). */
  watchStatus = 200;

  constructor() {
    this.server = createServer((req, res) => {
      this.answer(req, res);
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${String((this.server.address() as AddressInfo).port)}`;
  }

  get current(): OpenWatch {
    const w = this.watches.at(-1);
    assert.ok(w !== undefined, 'no watch was opened');
    return w;
  }

  send(type: string, object: unknown): void {
    this.current.res.write(`${JSON.stringify({ type, object })}\n`);
  }

  reset(): void {
    for (const w of this.watches) w.res.destroy();
    this.watches.length = 0;
    this.lists = 0;
    this.listAnswers = [];
    this.watchStatus = 200;
  }

  async close(): Promise<void> {
    this.reset();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private answer(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    assert.equal(url.pathname, PATH);
    res.setHeader('content-type', 'application/json');
    if (url.searchParams.get('watch') === 'true') {
      if (this.watchStatus !== 200) {
        res
          .writeHead(this.watchStatus)
          .end(JSON.stringify({ kind: 'Status', code: this.watchStatus, message: 'too old' }));
        this.watchStatus = 200;
        return;
      }
      const watch: OpenWatch = { query: url.searchParams, res, closed: false };
      res.on('close', () => (watch.closed = true));
      res.writeHead(200);
      res.flushHeaders();
      this.watches.push(watch);
      return;
    }
    this.lists++;
    const next = this.listAnswers.length > 1 ? this.listAnswers.shift() : this.listAnswers[0];
    assert.ok(next !== undefined, 'no list answer scripted');
    res.writeHead(next.status).end(JSON.stringify(next.body));
  }
}

function list(
  resourceVersion: string,
  ...items: ClusterVersion[]
): { status: number; body: unknown } {
  return {
    status: 200,
    body: { kind: 'ClusterVersionList', metadata: { resourceVersion }, items },
  };
}

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('watchClusterVersions (list, then watch)', () => {
  const api = new ScriptedApiServer();
  let server = '';
  let events: string[] = [];
  let errors: { err: unknown; retryInMs: number }[] = [];
  let connects = 0;
  let watcher: Watcher | undefined;

  before(async () => {
    server = await api.listen();
  });
  beforeEach(async () => {
    await watcher?.stop();
    watcher = undefined;
    api.reset();
    events = [];
    errors = [];
    connects = 0;
  });
  after(async () => {
    await watcher?.stop();
    await api.close();
  });

  async function start(): Promise<Watcher> {
    const kube = createKubePort({
      contextName: 'x',
      cluster: { name: 'c', server },
      user: { name: 'u', token: 'tok' },
    });
    watcher = kube.watchClusterVersions({
      onChange: (o) =>
        events.push(`change ${o.metadata.name ?? ''}@${o.metadata.resourceVersion ?? ''}`),
      onDelete: (o) => events.push(`delete ${o.metadata.name ?? ''}`),
      onError: (err, retryInMs) => errors.push({ err, retryInMs }),
      onConnect: () => connects++,
    });
    await watcher.start();
    return watcher;
  }

  it('lists, then watches from the list with bookmarks asked for', async () => {
    api.listAnswers = [list('10', cv('a', '1'), cv('b', '2'))];
    await start();
    assert.deepEqual(events, ['change a@1', 'change b@2']);
    assert.equal(connects, 1);
    assert.equal(api.current.query.get('resourceVersion'), '10');
    assert.equal(api.current.query.get('allowWatchBookmarks'), 'true');
    api.send('MODIFIED', cv('a', '11'));
    api.send('MODIFIED', cv('a', '11'));
    api.send('DELETED', cv('b', '12'));
    api.send('ADDED', cv('c', '13'));
    await until(() => events.length === 5, 'the events');
    // The same resourceVersion twice is one change.
    assert.deepEqual(events.slice(2), ['change a@11', 'delete b', 'change c@13']);
    assert.deepEqual(errors, []);
  });

  describe('when the resourceVersion is too old (410 Gone)', () => {
    it('relists on an ERROR event: changed objects are changes, vanished ones deletes, and no error is reported', async () => {
      api.listAnswers = [list('10', cv('a', '1'), cv('b', '2')), list('20', cv('a', '5'))];
      await start();
      api.send('ERROR', {
        kind: 'Status',
        code: 410,
        reason: 'Expired',
        message: 'too old resource version',
      });
      await until(() => api.watches.length === 2, 'the watch after the relist');
      assert.equal(api.lists, 2);
      assert.deepEqual(events, ['change a@1', 'change b@2', 'delete b', 'change a@5']);
      assert.equal(api.current.query.get('resourceVersion'), '20');
      assert.equal(api.watches[0]?.closed, true);
      assert.deepEqual(errors, []);
    });

    it('reports a 410 straight after the relist a 410 caused as an error, and backs off', async () => {
      api.listAnswers = [list('10', cv('a', '1'))];
      await start();
      api.send('ERROR', { kind: 'Status', code: 410, message: 'too old' });
      await until(() => api.watches.length === 2, 'the watch after the relist');
      api.send('ERROR', { kind: 'Status', code: 410, message: 'too old' });
      await until(() => errors.length === 1, 'the error');
      assert.equal((errors[0]?.err as KubeApiError).status, 410);
      assert.equal(errors[0]?.retryInMs, WATCH_RESTART_BASE_MS);
      assert.equal(api.lists, 2);
    });

    it('relists on a 410 answer to the watch request', async () => {
      api.listAnswers = [list('10', cv('a', '1')), list('30', cv('a', '1'))];
      await start();
      api.watchStatus = 410;
      api.current.res.end();
      await until(() => api.watches.length === 2, 'the watch after the relist');
      assert.equal(api.lists, 2);
      assert.equal(api.current.query.get('resourceVersion'), '30');
      // Unchanged by the relist: no second change.
      assert.deepEqual(events, ['change a@1']);
      assert.deepEqual(errors, []);
    });
  });

  describe('when the server closes a watch', () => {
    it('opens it again at once from the last bookmark, without a relist', async () => {
      api.listAnswers = [list('10', cv('a', '1'))];
      await start();
      api.send('BOOKMARK', { kind: 'ClusterVersion', metadata: { resourceVersion: '15' } });
      api.current.res.end();
      const closedAt = Date.now();
      await until(() => api.watches.length === 2, 'the watch opened again');
      assert.ok(Date.now() - closedAt < WATCH_RESTART_BASE_MS, 'opened again at once');
      assert.equal(api.current.query.get('resourceVersion'), '15');
      assert.equal(api.lists, 1);
      assert.equal(connects, 2);
      assert.deepEqual(events, ['change a@1']);
      assert.deepEqual(errors, []);
    });
  });

  describe('when an answer cannot be used', () => {
    it(`refuses an event longer than ${String(WATCH_EVENT_LIMIT)} bytes, backs off and relists`, async () => {
      api.listAnswers = [list('10', cv('a', '1'))];
      await start();
      // No newline: the limit holds for a line still being read.
      api.current.res.write(`{"type":"MODIFIED","object":{"pad":"${'x'.repeat(WATCH_EVENT_LIMIT)}`);
      await until(() => errors.length === 1, 'the error');
      const [first] = errors;
      assert.ok(first?.err instanceof KubeApiError);
      assert.equal(first.err.status, 0);
      assert.match(
        first.err.message,
        /^watch clusterversions: an event is larger than 8388608 bytes$/,
      );
      assert.equal(first.retryInMs, WATCH_RESTART_BASE_MS);
      await until(() => api.watches.length === 2, 'the watch after the backoff');
      assert.equal(api.lists, 2);
      assert.equal(api.watches[0]?.closed, true);
    });

    it('reports an event that is not JSON by its size, never its content', async () => {
      api.listAnswers = [list('10', cv('a', '1'))];
      await start();
      const line = '{"type":"MODIFIED","object":{"secret":"hunter2"';
      api.current.res.write(`${line}\n`);
      await until(() => errors.length === 1, 'the error');
      const message = (errors[0]?.err as Error).message;
      assert.equal(
        message,
        `watch clusterversions: the API server's answer is not JSON (${String(line.length)} bytes)`,
      );
    });

    it('reports an ERROR event other than 410 with its status, and backs off doubling on consecutive failures', async () => {
      api.listAnswers = [
        list('10', cv('a', '1')),
        { status: 500, body: { kind: 'Status', code: 500, message: 'etcd is sad' } },
        list('20', cv('a', '1')),
      ];
      await start();
      api.send('ERROR', { kind: 'Status', code: 500, message: 'internal error' });
      await until(() => api.watches.length === 2, 'the watch after two failures');
      assert.deepEqual(
        errors.map((e) => [(e.err as KubeApiError).status, (e.err as Error).message, e.retryInMs]),
        [
          [500, 'watch clusterversions: 500 internal error', WATCH_RESTART_BASE_MS],
          [
            500,
            'list clusterversions: 500 {"kind":"Status","code":500,"message":"etcd is sad"}',
            WATCH_RESTART_BASE_MS * 2,
          ],
        ],
      );
      assert.equal(api.lists, 3);
    });
  });

  it('ends an open watch at once when stopped', async () => {
    api.listAnswers = [list('10', cv('a', '1'))];
    const w = await start();
    const stoppedAt = Date.now();
    await w.stop();
    assert.ok(Date.now() - stoppedAt < 1000);
    await until(() => api.current.closed, 'the watch request to close');
    await sleep(WATCH_RESTART_BASE_MS + 100);
    assert.equal(api.watches.length, 1, 'not opened again');
  });
});
