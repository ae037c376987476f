import type { LogLevel } from '../src/config';
import { createLogger, type Logger, type Secrets } from '../src/log';

const SECRET = 'hunter2-very-secret';

/** A logger whose JSON lines land in an array instead of stdout. */
function capture(secrets: Secrets = [SECRET]): {
  logger: Logger;
  lines: () => Record<string, unknown>[];
} {
  const out: string[] = [];
  const logger = createLogger('info', secrets, (line) => out.push(line));
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
    // Neither fits the type; a JavaScript caller (or an `any`) could still pass them.
    logger.error(new Error(`top ${SECRET}`) as unknown as string);
    logger.error('with meta', new Error(`meta ${SECRET}`) as unknown as Record<string, unknown>);
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

describe('log lines and levels', () => {
  test('a level prints itself and the more severe ones; off prints nothing', () => {
    const printed = (level: LogLevel): string[] => {
      const out: string[] = [];
      const logger = createLogger(level, [], (line) => out.push(line));
      for (const name of ['debug', 'info', 'warn', 'error'] as const) logger[name](name, {});
      return out.map((l) => (JSON.parse(l) as { level: string }).level);
    };
    expect(printed('debug')).toEqual(['debug', 'info', 'warn', 'error']);
    expect(printed('warn')).toEqual(['warn', 'error']);
    expect(printed('error')).toEqual(['error']);
    expect(printed('off')).toEqual([]);
  });

  test('each line is one JSON object whose level, message and timestamp metadata cannot replace', () => {
    const out: string[] = [];
    createLogger('info', [], (line) => out.push(line)).info('hello', {
      level: 'x',
      message: 'y',
      n: 1n,
      a: 1,
    });
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/^\{.*\}\n$/);
    const line = JSON.parse(out[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'info', message: 'hello', n: '1', a: 1 });
    expect(new Date(line.timestamp as string).toISOString()).toBe(line.timestamp);
  });
});
