import { BenchClient } from './client';
import { armsFor, type Backend, type BenchContext } from './context';
import { MiB } from './report';
import { seedSmallObjects, smallLoop } from './scenarios/small';

/**
 * Warms every proxy before anything is measured: the first seconds of a Node process run unoptimised code
 * (measured here: about twice the CPU per request of the warm process), which would otherwise land in
 * whichever arm happens to go first.
 */
export async function warmUp(ctx: BenchContext, backends: Backend[]): Promise<void> {
  const timing = { warmupMs: 0, durationMs: ctx.quick ? 1_000 : 3_000 };
  for (const backend of backends) {
    const arms = armsFor(ctx, backend);
    const bucket = `bench-warmup-${ctx.runId}`;
    const direct = new BenchClient(arms[0]!.endpoint);
    await seedSmallObjects(direct, bucket);
    direct.close();
    ctx.log(`warming up the ${backend} proxies`);
    for (const arm of arms.filter((a) => a.proxy)) {
      const client = new BenchClient(arm.endpoint);
      await smallLoop(client, bucket, 'GET', 16, timing);
      await smallLoop(client, bucket, 'PUT', 16, timing, { keyPrefix: arm.name, putKeys: 64 });
      const key = `/${bucket}/large-${arm.name}`;
      const size = (ctx.quick ? 4 : 16) * MiB;
      await client.putStream(key, await client.headers('PUT', key, { 'content-length': String(size) }), size);
      await client.getCounted(key, await client.headers('GET', key));
      client.close();
    }
  }
}
