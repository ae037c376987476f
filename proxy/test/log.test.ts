import { PassThrough } from 'node:stream';
import winston from 'winston';

import { createLogger, type Secrets } from '../src/log';

const SECRET = 'hunter2-very-secret';

/** A logger whose JSON lines land in an array instead of stdout. */
function capture(secrets: Secrets = [SECRET]): {
  logger: winston.Logger;
  lines: () => Record<string, unknown>[];
} {
  const logger = createLogger('info', secrets);
  const out: string[] = [];
  const stream = new PassThrough();
  stream.on('data', (c: Buffer) => out.push(...c.toString('utf8').split('\n').filter(Boolean)));
  logger.clear().add(new winston.transports.Stream({ stream }));
  return { logger, lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('log redaction', () => {
  test('secrets given as a function are read at each line (credentials fetched at run time)', () => {
    let secrets: string[] = [];
    const { logger, lines } = capture(() => secrets);
    logger.info('fetched', { key: 'temporary-secret-1' });
    secrets = ['temporary-secret-1'];
    logger.info('fetched', { key: 'temporary-secret-1' });
    expect(lines().map((l) => l.key)).toEqual(['temporary-secret-1', '[REDACTED]']);
  });

  test('top-level string fields and the message are redacted', () => {
    const { logger, lines } = capture();
    logger.info(`boom ${SECRET}`, { error: `x${SECRET}y` });
    expect(lines()[0]).toMatchObject({ message: 'boom [REDACTED]', error: 'x[REDACTED]y' });
  });

  test('secrets nested in objects and arrays are redacted, without touching the caller objects', () => {
    const { logger, lines } = capture();
    const meta = { req: { headers: { authorization: `AWS4 ${SECRET}` }, list: ['a', { deep: SECRET }] } };
    logger.warn('nested', meta);
    const line = JSON.stringify(lines()[0]);
    expect(line).not.toContain(SECRET);
    expect(lines()[0]).toMatchObject({
      req: { headers: { authorization: 'AWS4 [REDACTED]' }, list: ['a', { deep: '[REDACTED]' }] },
    });
    expect(meta.req.headers.authorization).toBe(`AWS4 ${SECRET}`);
  });

  test('an Error inside the metadata logs its message, redacted', () => {
    const { logger, lines } = capture();
    const err = Object.assign(new Error(`denied for ${SECRET}`), { Code: `c-${SECRET}` });
    logger.error('upstream failed', { cause: err });
    expect(JSON.stringify(lines()[0])).not.toContain(SECRET);
    expect(lines()[0]).toMatchObject({ cause: { message: 'denied for [REDACTED]', Code: 'c-[REDACTED]' } });
  });

  test('a logged Error (as the message or as meta) is redacted', () => {
    const { logger, lines } = capture();
    logger.error(new Error(`top ${SECRET}`));
    logger.error('with meta', new Error(`meta ${SECRET}`));
    for (const line of lines()) expect(JSON.stringify(line)).not.toContain(SECRET);
  });

  test('cycles and very deep values do not throw and leak nothing', () => {
    const { logger, lines } = capture();
    const cyclic: Record<string, unknown> = { s: SECRET };
    cyclic.self = cyclic;
    let deep: Record<string, unknown> = { s: SECRET };
    for (let i = 0; i < 100; i++) deep = { d: deep };
    logger.info('odd shapes', { cyclic, deep });
    const line = JSON.stringify(lines()[0]);
    expect(line).not.toContain(SECRET);
    expect(lines()[0]).toMatchObject({ cyclic: { s: '[REDACTED]', self: '[Circular]' } });
  });

  test('values serialized through toJSON (a URL) are redacted too', () => {
    const { logger, lines } = capture();
    logger.info('endpoint', { url: new URL(`https://user:${SECRET}@example.com/`) });
    expect(JSON.stringify(lines()[0])).not.toContain(SECRET);
  });
});
