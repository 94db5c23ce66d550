import { pino, type Logger, type DestinationStream } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger };

/**
 * JSON logs (pino). Secrets never reach a log line: the redact paths cover
 * the fields that could carry them, wherever a caller puts them.
 */
export function createLogger(opts: { level: LogLevel; service: string }, destination?: DestinationStream): Logger {
  return pino({
    level: opts.level,
    base: { service: opts.service },
    redact: {
      paths: [
        'secret', '*.secret', 'nodeSecret', '*.nodeSecret', 'turnSecret', '*.turnSecret',
        'credential', '*.credential', 'password', '*.password', 'authorization', '*.authorization',
        'req.headers.authorization', 'req.headers["x-pow"]',
      ],
      censor: '[redacted]',
    },
  }, destination);
}
