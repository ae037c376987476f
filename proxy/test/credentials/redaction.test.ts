import {
  fetchedSecrets,
  RefreshingCredentials,
  startCredentials,
  staticCredentials,
} from '../../src/credentials';
import { createLogger } from '../../src/log';
import { createMetrics } from '../../src/metrics';

describe('startCredentials with fetchedSecrets (the path main.ts and the resync CLI share)', () => {
  test('fetched secrets are redacted from every later log line; both failure counters start at 0', async () => {
    const secrets = fetchedSecrets(['configured-secret']);
    const lines: string[] = [];
    const logger = createLogger('info', secrets.values, (line) => lines.push(line.trimEnd()));
    const metrics = createMetrics();
    const main = new RefreshingCredentials(
      'main',
      () => () =>
        Promise.resolve({
          accessKeyId: 'AKIAFETCHED',
          secretAccessKey: 'fetched-secret-key',
          sessionToken: 'fetched-session-token',
          expiration: new Date(Date.now() + 60 * 60_000),
        }),
    );
    const mirror = staticCredentials('mirror', { accessKeyId: 'm', secretAccessKey: 'configured-secret' });
    await startCredentials([main, mirror], logger, metrics, secrets.add);
    logger.warn('an error echoing a request', {
      error: 'signed with fetched-secret-key and fetched-session-token and configured-secret',
    });
    await new Promise((resolve) => setImmediate(resolve));
    main.stop();
    const text = lines.join('\n');
    expect(text).toContain('an error echoing a request');
    expect(text).toContain('[REDACTED]');
    expect(text).not.toMatch(/fetched-secret-key|fetched-session-token|configured-secret/);
    expect(text).toContain('AKIAFETCHED'); // the key id is not a secret: it says which key signs
    const counter = await metrics.credentialsRefreshFailures.get();
    expect(counter.values.map((v) => [v.labels.side, v.value]).sort()).toEqual([
      ['main', 0],
      ['mirror', 0],
    ]);
  });

  test('a holder keeps its newest two sets redacted; older ones drop out', () => {
    const secrets = fetchedSecrets([]);
    for (const n of [1, 2, 3]) secrets.add('main', [`secret-${n}`, `token-${n}`]);
    secrets.add('mirror base identity', ['base-secret', '']);
    expect([...secrets.values()].sort()).toEqual([
      'base-secret',
      'secret-2',
      'secret-3',
      'token-2',
      'token-3',
    ]);
  });
});
