import { startProxy, type RunningProxy } from '../src/app';
import { loadConfig, type ProxyConfig } from '../src/config';
import {
  staticCredentials,
  type CredentialHealth,
  type CredentialSource,
  type Side,
} from '../src/credentials';
import { createLogger } from '../src/log';
import { createMetrics } from '../src/metrics';
import { OFFLINE_ENV } from './offline-config';

/** Static keys whose health the test sets. */
function fakeCredentials(side: Side): CredentialSource & { state: CredentialHealth } {
  const base = staticCredentials(side, { accessKeyId: `${side}-key`, secretAccessKey: `${side}-secret` });
  const source = {
    ...base,
    state: { ok: true, kind: 'refreshing' } as CredentialHealth,
    health: () => source.state,
  };
  return source;
}

const expired = (at: string): CredentialHealth => ({
  ok: false,
  kind: 'refreshing',
  expiresAt: at,
  reason: `expired at ${at}; last fetch failed: Error: 500`,
  failures: 3,
});

describe('/readyz', () => {
  const main = fakeCredentials('main');
  const mirror = fakeCredentials('mirror');
  let proxy: RunningProxy;

  beforeAll(async () => {
    const loaded = loadConfig({ ...OFFLINE_ENV, LISTEN_ADDR: '127.0.0.1:0', ADMIN_ADDR: '127.0.0.1:0' });
    const config: ProxyConfig = {
      ...loaded,
      main: { ...loaded.main, credentials: main },
      mirror: { ...loaded.mirror, credentials: mirror },
    };
    const tracker = {
      sink: { record: () => undefined },
      start: () => Promise.resolve(),
      stop: () => Promise.resolve(),
    };
    proxy = await startProxy(config, createLogger('off'), createMetrics(), tracker);
  });

  afterAll(() => proxy.shutdown());

  const readyz = async (): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await fetch(`http://127.0.0.1:${proxy.adminAddress.port}/readyz`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  test("expired mirror credentials keep the pod ready (its readiness is the app's); the details say so", async () => {
    main.state = { ok: true, kind: 'refreshing' };
    mirror.state = expired('2030-01-01T00:00:00.000Z');
    const { status, body } = await readyz();
    expect(status).toBe(200);
    expect(body).toMatchObject({
      ready: true,
      credentials: {
        main: { ok: true },
        mirror: {
          ok: false,
          reason: expect.stringMatching(/^expired at 2030-01-01T00:00:00.000Z/) as string,
        },
      },
    });
  });

  test('expired main credentials make it not ready: every request of the app would fail', async () => {
    main.state = expired('2030-01-01T00:00:00.000Z');
    mirror.state = { ok: true, kind: 'refreshing' };
    const { status, body } = await readyz();
    expect(status).toBe(503);
    expect(body).toMatchObject({ ready: false, credentials: { main: { ok: false }, mirror: { ok: true } } });
  });
});
