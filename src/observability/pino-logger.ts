import { pino } from 'pino';
import type { DestinationStream } from 'pino';

import type { Logger } from './logger.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Keys whose values never reach a log line, at any depth pino redacts. */
const REDACT = [
  'authorization',
  'token',
  'password',
  '*.authorization',
  '*.token',
  '*.password',
  'headers.authorization',
  'req.headers.authorization',
];

/**
 * A pino logger behind the project's Logger port: JSON lines, a level, credentials redacted,
 * and `child()` for request-scoped fields such as the request id.
 */
export interface PinoLogger extends Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): PinoLogger;
}

export function createPinoLogger(level: LogLevel, destination?: DestinationStream): PinoLogger {
  const base = pino(
    {
      level,
      redact: { paths: REDACT, censor: '[redacted]' },
      base: { service: 'cvo-update-verifier' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
  return wrap(base);
}

function wrap(p: pino.Logger): PinoLogger {
  return {
    debug: (m, f) => {
      p.debug(f ?? {}, m);
    },
    info: (m, f) => {
      p.info(f ?? {}, m);
    },
    warn: (m, f) => {
      p.warn(f ?? {}, m);
    },
    error: (m, f) => {
      p.error(f ?? {}, m);
    },
    child: (fields) => wrap(p.child(fields)),
  };
}
