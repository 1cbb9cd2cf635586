/** A structured logger: one JSON object per line. Replaced by pino with the HTTP surface. */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** A logger whose lines all carry `fields` (request ids); loggers without it log plainly. */
  child?(fields: Record<string, unknown>): Logger;
}

export function createJsonLogger(
  write: (line: string) => void,
  base: Record<string, unknown> = {},
): Logger {
  const log = (level: string, message: string, fields?: Record<string, unknown>): void => {
    write(
      `${JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...base, ...fields })}\n`,
    );
  };
  return {
    info: (m, f) => {
      log('info', m, f);
    },
    warn: (m, f) => {
      log('warn', m, f);
    },
    error: (m, f) => {
      log('error', m, f);
    },
  };
}

export const silentLogger: Logger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
