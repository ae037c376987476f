import winston from 'winston';

export type Logger = winston.Logger;

/** Structured JSON logs on stdout. Pod specs and certificates are never logged, only names and counts. */
export function createLogger(level: 'debug' | 'info' | 'warn' | 'error'): Logger {
  return winston.createLogger({
    level,
    defaultMeta: { component: 's3-mirror-webhook' },
    format: winston.format.combine(
      winston.format.timestamp(),
      winston.format.errors({ stack: false }),
      winston.format.json(),
    ),
    transports: [new winston.transports.Console()],
  });
}
