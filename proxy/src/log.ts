import winston from 'winston';
import type { LogLevel } from './config';

export type Logger = winston.Logger;

/** Replaces every occurrence of a secret in any string field, however the secret got there. */
function redactor(secrets: string[]) {
  const live = secrets.filter((s) => s.length >= 4);
  const scrub = (value: unknown): unknown => {
    if (typeof value === 'string') {
      let out = value;
      for (const secret of live) out = out.split(secret).join('[REDACTED]');
      return out;
    }
    return value;
  };
  return winston.format((info) => {
    for (const key of Object.keys(info)) info[key] = scrub(info[key]);
    return info;
  })();
}

/** JSON logs on stdout, one object per line. */
export function createLogger(level: LogLevel, secrets: string[] = []): Logger {
  return winston.createLogger({
    level: level === 'off' ? 'error' : level,
    silent: level === 'off',
    format: winston.format.combine(
      winston.format.timestamp(),
      winston.format.errors({ stack: false }),
      redactor(secrets),
      winston.format.json(),
    ),
    transports: [new winston.transports.Console()],
  });
}
