import { loadConfig } from '../../proxy/src/config';
import {
  JOURNAL_CAP_BYTES,
  MIN_SPOOL_BYTES,
  quantityBytes,
  stateBudget,
  stateBudgetEnv,
} from '../src/state-budget';

const Mi = 2 ** 20;
const Gi = 2 ** 30;

describe('quantityBytes', () => {
  test.each([
    ['1Gi', Gi],
    ['256Mi', 256 * Mi],
    ['1.5Gi', 1.5 * Gi],
    ['64Ki', 64 * 1024],
    ['500M', 500e6],
    ['2G', 2e9],
    ['1k', 1000],
    ['1e9', 1e9],
    ['1E3', 1000],
    ['+7', 7],
    ['.5Ki', 512],
    ['1500m', 1],
    ['1Ei', Number.MAX_SAFE_INTEGER],
  ])('%s is %d bytes', (q, bytes) => {
    expect(quantityBytes(q)).toBe(bytes);
  });

  test.each(['', 'lots', '1 GB', '1gi', '1Mb', '-1Gi', '1ki'])('%j is not a quantity', (q) => {
    expect(quantityBytes(q)).toBeUndefined();
  });
});

describe('stateBudget', () => {
  test('the default 1Gi: journal at its 256 MiB cap, 640 MiB spool, 160 MiB per upload', () => {
    expect(stateBudget('1Gi')).toEqual({
      journalMaxBytes: 256 * Mi,
      spoolMaxBytes: 640 * Mi,
      spoolMaxObjectBytes: 160 * Mi,
    });
  });

  test('256Mi (the former default): journal and spool share what is left after the headroom', () => {
    expect(stateBudget('256Mi')).toEqual({
      journalMaxBytes: 112 * Mi,
      spoolMaxBytes: 112 * Mi,
      spoolMaxObjectBytes: 28 * Mi,
    });
  });

  test('no limit: nothing derived, nothing injected (the proxy defaults apply)', () => {
    expect(stateBudget('')).toBeUndefined();
    expect(stateBudgetEnv('')).toEqual([]);
  });

  test('a volume too small for a useful spool turns the spool off and keeps the journal', () => {
    expect(stateBudget('2Mi')).toEqual({
      journalMaxBytes: 896 * 1024,
      spoolMaxBytes: 0,
      spoolMaxObjectBytes: 1,
    });
    expect(stateBudget('1')).toMatchObject({ journalMaxBytes: 1, spoolMaxBytes: 0 });
  });

  test('for every size the bounds together stay below sizeLimit, with an eighth to spare, and the proxy accepts them', () => {
    // A volume below a block holds nothing anyway (not even the instance id); from 1Ki on the bounds fit.
    const sizes = ['1Ki', '1Mi', '1500Ki', '2Mi', '3Mi', '10Mi', '64Mi', '100M', '256Mi', '300Mi'];
    sizes.push('512Mi', '600M', '1Gi', '1.5Gi', '2Gi', '10Gi', '100Gi', '1Ti', '1e12', '1Pi');
    for (let i = 0; i < 200; i++) sizes.push(String(Math.floor(Math.random() * 64 * Gi) + 1024));
    for (const size of sizes) {
      const limit = quantityBytes(size)!;
      const b = stateBudget(size)!;
      expect([size, b.journalMaxBytes + b.spoolMaxBytes <= (limit * 7) / 8]).toEqual([size, true]);
      expect(b.journalMaxBytes).toBeGreaterThanOrEqual(1);
      expect(b.journalMaxBytes).toBeLessThanOrEqual(JOURNAL_CAP_BYTES);
      expect(b.spoolMaxBytes === 0 || b.spoolMaxBytes >= MIN_SPOOL_BYTES).toBe(true);
      if (b.spoolMaxBytes > 0) expect(b.spoolMaxObjectBytes).toBeLessThanOrEqual(b.spoolMaxBytes);
      const env = Object.fromEntries(stateBudgetEnv(size).map((e) => [e.name, e.value]));
      const proxy = loadConfig({
        MAIN_ACCESS_KEY: 'a',
        MAIN_SECRET_KEY: 'b',
        MIRROR_S3_ENDPOINT: 'http://m',
        MIRROR_ACCESS_KEY: 'c',
        MIRROR_SECRET_KEY: 'd',
        POSTGRES_URL: 'postgres://h/db',
        ...env,
      });
      expect(proxy).toMatchObject({
        journalMaxBytes: b.journalMaxBytes,
        spoolMaxBytes: b.spoolMaxBytes,
        spoolMaxObjectBytes: b.spoolMaxObjectBytes,
      });
    }
  });
});
