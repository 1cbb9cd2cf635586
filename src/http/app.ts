import { randomUUID } from 'node:crypto';

import express from 'express';
import type { Express, NextFunction, Request, Response } from 'express';

import type { ServiceMetrics } from '../observability/metrics.js';
import type { Logger } from '../observability/logger.js';
import { MAX_ADMISSION_BODY_BYTES, reviewClusterVersion } from './admission.js';
import type { AdmissionOptions, AdmissionReview } from './admission.js';

export interface VerifyApiOptions {
  /** Verifies a pullspec with the service's engine. */
  readonly verify: (
    image: string,
    signal: AbortSignal,
  ) => Promise<Record<string, unknown> & { verified: boolean }>;
  /** TokenReview: the caller behind a bearer token. */
  readonly authenticate: (
    token: string,
  ) => Promise<{ username: string; groups: string[] } | undefined>;
  /** SubjectAccessReview: may this caller POST /v1/verify? */
  readonly authorize: (user: { username: string; groups: string[] }) => Promise<boolean>;
  readonly budgetMs: number;
}

export interface WebhookAppOptions {
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
  readonly admission: AdmissionOptions;
  /** The verify API; absent (the default) means POST /v1/verify answers 404. */
  readonly verifyApi?: VerifyApiOptions;
}

/** Largest verify API request: `{"image": "<pullspec>"}`. */
const MAX_VERIFY_BODY_BYTES = 16 * 1024;

type RequestWithLog = Request & { log?: Logger };

/**
 * The HTTPS app: the ClusterVersion admission webhook and the optional verify API. Every request
 * gets an id (X-Request-Id, or a new one) that its log lines carry.
 */
export function createWebhookApp(options: WebhookAppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use((req: RequestWithLog, res, next) => {
    const header = req.get('x-request-id');
    const id = header !== undefined && /^[\w.-]{1,128}$/.test(header) ? header : randomUUID();
    res.setHeader('x-request-id', id);
    req.log = options.logger.child?.({ requestId: id }) ?? options.logger;
    next();
  });

  app.post(
    '/validate-clusterversion',
    express.json({ limit: MAX_ADMISSION_BODY_BYTES, strict: true }),
    async (req: RequestWithLog, res) => {
      const started = performance.now();
      const body = req.body as { kind?: unknown; apiVersion?: unknown } | undefined;
      if (body?.kind !== 'AdmissionReview' || body.apiVersion !== 'admission.k8s.io/v1') {
        res.status(400).json({ error: 'expected an admission.k8s.io/v1 AdmissionReview' });
        return;
      }
      const review = body as AdmissionReview;
      const decision = await reviewClusterVersion(review, options.admission);
      const seconds = (performance.now() - started) / 1000;
      options.metrics.recordAdmission(
        decision.response.allowed ? 'allowed' : 'denied',
        decision.reason,
        seconds,
      );
      // Whoever reaches the port writes these fields: only bounded, plain strings are logged.
      req.log?.info('admission review', {
        uid: loggable(decision.response.uid),
        user: loggable(review.request?.userInfo?.username),
        allowed: decision.response.allowed,
        reason: decision.reason,
        durationMs: Math.round(seconds * 1000),
      });
      res.json({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: decision.response,
      });
    },
  );

  app.post(
    '/v1/verify',
    express.json({ limit: MAX_VERIFY_BODY_BYTES, strict: true }),
    async (req: RequestWithLog, res) => {
      const api = options.verifyApi;
      if (api === undefined) {
        res
          .status(404)
          .json({ error: 'the verify API is disabled (serve --verify-api enables it)' });
        return;
      }
      const auth = req.get('authorization') ?? '';
      const token = /^Bearer (\S+)$/.exec(auth)?.[1];
      if (token === undefined) {
        res
          .status(401)
          .set('www-authenticate', 'Bearer')
          .json({ error: 'a bearer token is required' });
        return;
      }
      const user = await api.authenticate(token);
      if (user === undefined) {
        res.status(401).set('www-authenticate', 'Bearer').json({ error: 'the token is not valid' });
        return;
      }
      if (!(await api.authorize(user))) {
        req.log?.warn('verify API forbidden', { user: user.username });
        res.status(403).json({ error: `${user.username} may not POST /v1/verify` });
        return;
      }
      const body = req.body as { image?: unknown } | undefined;
      if (
        typeof body?.image !== 'string' ||
        body.image.length === 0 ||
        body.image.length > 4096 ||
        Object.keys(body).length !== 1
      ) {
        res.status(400).json({ error: 'expected {"image": "<pullspec>"} and nothing else' });
        return;
      }
      const verdict = await api.verify(body.image, AbortSignal.timeout(api.budgetMs));
      req.log?.info('verify API', {
        user: user.username,
        image: body.image,
        verified: verdict.verified,
      });
      res.json(verdict);
    },
  );

  // Malformed JSON, oversized bodies and thrown errors: a JSON answer, never a stack trace.
  app.use((err: unknown, req: RequestWithLog, res: Response, _next: NextFunction) => {
    const status =
      typeof (err as { status?: unknown }).status === 'number'
        ? (err as { status: number }).status
        : 500;
    req.log?.warn('request failed', {
      status,
      error: err instanceof Error ? err.message : String(err),
    });
    res.status(status).json({
      error: status === 500 ? 'internal error' : err instanceof Error ? err.message : 'bad request',
    });
  });
  return app;
}

/** Longest caller-supplied string written to a log line. */
const MAX_LOGGED_FIELD = 128;

/** A caller-supplied value as a log field: a string, control characters replaced, bounded. */
export function loggable(value: unknown): string {
  if (typeof value !== 'string') return '(not a string)';
  // eslint-disable-next-line no-control-regex -- removing control characters is the point
  const clean = value.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > MAX_LOGGED_FIELD ? `${clean.slice(0, MAX_LOGGED_FIELD)}…` : clean;
}
