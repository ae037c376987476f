import { loadConfig } from '../../proxy/src/config';
import { ANNOTATIONS } from '../src/annotations';
import { parseConfig } from '../src/config';
import { parseByteRate, parseMirrorConcurrency } from '../src/mirror-pacing';
import type { Pod } from '../src/pod';
import { injectedProxyOf } from './fixtures';

const CONCURRENCY = 'MIRROR_CONCURRENCY';
const CATCHUP = 'MIRROR_CATCHUP_BYTES_PER_SECOND';

function pod(annotations: Record<string, string> = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', annotations: { [ANNOTATIONS.inject]: 'true', ...annotations } },
    spec: { containers: [{ name: 'app', image: 'busybox' }] },
  };
}

function injected(annotations: Record<string, string>, config: Record<string, string> = {}) {
  const { proxy, warnings } = injectedProxyOf(pod(annotations), config);
  return { env: Object.fromEntries((proxy.env ?? []).map((e) => [e.name, e.value])), warnings };
}

describe('the values', () => {
  test.each([
    ['1', '1'],
    ['16', '16'],
    ['256', '256'],
    ['0', undefined],
    ['257', undefined],
    ['016', undefined],
    ['1.5', undefined],
    ['-4', undefined],
    ['8 ', undefined],
  ])('mirror concurrency %j → %j', (v, want) => {
    expect(parseMirrorConcurrency(v)).toBe(want);
  });

  test.each([
    ['0', '0'],
    ['8388608', '8388608'],
    ['32Mi', String(32 * 1024 * 1024)],
    ['512Ki', String(512 * 1024)],
    ['1Gi', String(1024 ** 3)],
    ['50M', '50000000'],
    ['100k', '100000'],
    ['100Gi', String(100 * 1024 ** 3)],
    ['101Gi', undefined],
    ['1.5Mi', undefined],
    ['32MiB', undefined],
    ['32mi', undefined],
    ['-1', undefined],
    ['', undefined],
  ])('catch-up byte rate %j → %j', (v, want) => {
    expect(parseByteRate(v)).toBe(want);
  });

  test('every value the webhook passes on, the proxy takes as the same number', () => {
    const required = {
      MAIN_ACCESS_KEY: 'k',
      MAIN_SECRET_KEY: 's',
      MIRROR_S3_ENDPOINT: 'http://mirror.local:7480',
      MIRROR_ACCESS_KEY: 'k',
      MIRROR_SECRET_KEY: 's',
      POSTGRES_URL: 'postgres://u:p@db:5432/postgres',
    };
    for (const v of ['1', '256']) {
      expect(loadConfig({ ...required, [CONCURRENCY]: parseMirrorConcurrency(v) }).mirrorConcurrency).toBe(
        Number(v),
      );
    }
    for (const [v, bytes] of [
      ['0', 0],
      ['32Mi', 32 * 1024 * 1024],
      ['100Gi', 100 * 1024 ** 3],
    ] as const) {
      const config = loadConfig({ ...required, [CATCHUP]: parseByteRate(v) });
      expect(config.mirrorCatchupBytesPerSecond).toBe(bytes);
    }
  });
});

describe('injected proxies', () => {
  test('unset: the proxy gets neither variable and keeps its own defaults', () => {
    const { env } = injected({});
    expect(env).not.toHaveProperty(CONCURRENCY);
    expect(env).not.toHaveProperty(CATCHUP);
  });

  test('the cluster default, in bytes; a pod annotation over it; an empty annotation keeps the default', () => {
    const cluster = { [CONCURRENCY]: '8', [CATCHUP]: '4Mi' };
    expect(injected({}, cluster).env).toMatchObject({ [CONCURRENCY]: '8', [CATCHUP]: '4194304' });
    const own = injected(
      { [ANNOTATIONS.mirrorConcurrency]: ' 32 ', [ANNOTATIONS.mirrorCatchupBytesPerSecond]: '0' },
      cluster,
    );
    expect(own.env).toMatchObject({ [CONCURRENCY]: '32', [CATCHUP]: '0' });
    expect(own.warnings).toEqual([]);
    const onlyPod = injected({ [ANNOTATIONS.mirrorCatchupBytesPerSecond]: '64Mi' });
    expect(onlyPod.env[CATCHUP]).toBe(String(64 * 1024 * 1024));
    expect(onlyPod.env).not.toHaveProperty(CONCURRENCY);
    const empty = injected(
      { [ANNOTATIONS.mirrorConcurrency]: '', [ANNOTATIONS.mirrorCatchupBytesPerSecond]: ' ' },
      cluster,
    );
    expect(empty.env).toMatchObject({ [CONCURRENCY]: '8', [CATCHUP]: '4194304' });
  });

  test('an invalid annotation is ignored with a warning that says what is valid; the cluster default stays', () => {
    const bad = injected(
      { [ANNOTATIONS.mirrorConcurrency]: '1000', [ANNOTATIONS.mirrorCatchupBytesPerSecond]: '32MB' },
      { [CATCHUP]: '16Mi' },
    );
    expect(bad.env).not.toHaveProperty(CONCURRENCY);
    expect(bad.env[CATCHUP]).toBe(String(16 * 1024 * 1024));
    expect(bad.warnings).toEqual([
      `annotation ${ANNOTATIONS.mirrorConcurrency}="1000" is invalid and was ignored: use a whole number from 1 to 256`,
      `annotation ${ANNOTATIONS.mirrorCatchupBytesPerSecond}="32MB" is invalid and was ignored: use bytes per second, ` +
        'a whole number or a quantity such as 32Mi (0: never give way)',
    ]);
  });

  test('a rate so low that a backlog barely drains is taken, with a warning (most likely MiB/s was meant)', () => {
    const low = injected({ [ANNOTATIONS.mirrorCatchupBytesPerSecond]: '8' });
    expect(low.env[CATCHUP]).toBe('8');
    expect(low.warnings).toEqual([
      `annotation ${ANNOTATIONS.mirrorCatchupBytesPerSecond} is 8 bytes per second: a backlog barely drains ` +
        'while the app is busy (for MiB per second write e.g. 8Mi)',
    ]);
    for (const fine of ['0', '64Ki', '8Mi']) {
      expect(injected({ [ANNOTATIONS.mirrorCatchupBytesPerSecond]: fine }).warnings).toEqual([]);
    }
    // The cluster's own low rate is the admin's choice: no warning on every pod, nor one that blames a pod's
    // invalid value for it.
    expect(
      injected({ [ANNOTATIONS.mirrorCatchupBytesPerSecond]: '32MB' }, { [CATCHUP]: '1000' }).warnings,
    ).toEqual([
      `annotation ${ANNOTATIONS.mirrorCatchupBytesPerSecond}="32MB" is invalid and was ignored: use bytes per second, ` +
        'a whole number or a quantity such as 32Mi (0: never give way)',
    ]);
    expect(injected({}, { [CATCHUP]: '1000' }).warnings).toEqual([]);
    expect(
      injected({ [ANNOTATIONS.mirrorCatchupBytesPerSecond]: '' }, { [CATCHUP]: '1000' }).warnings,
    ).toEqual([]);
  });

  test('an invalid config key is a configuration error naming the key', () => {
    const r = parseConfig({ [CONCURRENCY]: '0', [CATCHUP]: 'fast' });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toContain(`${CONCURRENCY} must be a whole number from 1 to 256, got "0"`);
    expect(r.errors).toContain(
      `${CATCHUP} must be bytes per second, a whole number or a quantity such as 32Mi (0: never give way), got "fast"`,
    );
  });
});
