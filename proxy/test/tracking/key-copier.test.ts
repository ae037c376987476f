import { Readable } from 'node:stream';

import { createMetrics } from '../../src/metrics';
import { DEFAULT_COPIER_OPTIONS } from '../../src/mirror/copier';
import { createKeyCopier } from '../../src/tracking/key-copier';
import { fakeCopyClients, FakeS3 } from '../mirror/fake-s3';

const MiB = 1024 * 1024;

function setup() {
  const main = new FakeS3('b');
  const mirror = new FakeS3('b');
  const body = Buffer.alloc(2 * MiB, 3);
  main.put('b', 'k', body);
  main.getBody = (o) => Readable.from([o.body.subarray(0, MiB), o.body.subarray(MiB)]);
  const asked: number[] = [];
  const metrics = createMetrics();
  const copyKey = createKeyCopier({
    clients: fakeCopyClients(main, mirror).clients,
    spool: undefined,
    options: () => DEFAULT_COPIER_OPTIONS,
    catchUpPacing: { waitMs: (streamed) => (asked.push(streamed), streamed > 0 ? 5 : 0) },
    metrics,
  });
  const gaveWay = async () =>
    (await metrics.registry.getSingleMetric('s3mirror_mirror_gave_way_seconds_total')!.get()).values[0]
      ?.value;
  return { copyKey, mirror, body, asked, gaveWay };
}

test('a catch-up copy gives way as the pacing says, and the time it waited is counted', async () => {
  const { copyKey, mirror, body, asked, gaveWay } = setup();
  expect(await copyKey('b', 'k', { catchingUp: true })).toMatchObject({ exists: true, size: body.length });
  expect(mirror.object('b', 'k')?.body.equals(body)).toBe(true);
  expect(asked).toEqual([0, MiB]);
  expect(await gaveWay()).toBeCloseTo(0.005);
});

test("a fresh write's copy never asks", async () => {
  const { copyKey, mirror, body, asked, gaveWay } = setup();
  expect(await copyKey('b', 'k')).toMatchObject({ exists: true, size: body.length });
  expect(await copyKey('b', 'k', { keepMissing: true })).toMatchObject({ exists: true });
  expect(mirror.object('b', 'k')?.body.equals(body)).toBe(true);
  expect(asked).toEqual([]);
  expect(await gaveWay()).toBe(0);
});
