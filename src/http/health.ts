import type { IncomingMessage, ServerResponse } from 'node:http';

import type { ServiceMetrics } from '../observability/metrics.js';

export interface HealthAppOptions {
  /** Liveness: the process can do work (its event loop answers). */
  readonly live: () => boolean;
  /** Readiness, with the reason shown when not ready. */
  readonly ready: () => { ready: boolean; reason: string };
  readonly metrics: ServiceMetrics;
}

/**
 * Plain-HTTP probes and metrics: GET (or HEAD) /healthz, /readyz, /metrics; anything else 404.
 * A bare node:http handler: every replica serves these, and express (with its dependency tree)
 * is loaded only by the HTTPS webhook app, when that server is configured.
 */
export function createHealthHandler(
  options: HealthAppOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const send = (
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    type: string,
    body: string,
  ): void => {
    res.statusCode = status;
    res.setHeader('content-type', type);
    res.setHeader('content-length', Buffer.byteLength(body));
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  const text = 'text/plain; charset=utf-8';
  return (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(req, res, 404, text, 'not found\n');
      return;
    }
    switch (path) {
      case '/healthz': {
        const live = options.live();
        send(req, res, live ? 200 : 500, text, live ? 'ok\n' : 'not live\n');
        return;
      }
      case '/readyz': {
        const { ready, reason } = options.ready();
        send(req, res, ready ? 200 : 503, text, `${reason}\n`);
        return;
      }
      case '/metrics':
        options.metrics.registry.metrics().then(
          (body) => {
            send(req, res, 200, options.metrics.registry.contentType, body);
          },
          (err: unknown) => {
            send(req, res, 500, text, `metrics: ${String(err)}\n`);
          },
        );
        return;
      default:
        send(req, res, 404, text, 'not found\n');
    }
  };
}
