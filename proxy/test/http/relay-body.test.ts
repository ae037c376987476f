import { PassThrough, Writable } from 'node:stream';

import { relayBody } from '../../src/http/relay-body';
import { holdResponseBody } from '../../src/tracking/response-hold';

/** The app's side of a response: collects what it was sent; `slow` acknowledges each write a tick late. */
function app(opts: { slow?: boolean } = {}): Writable & { text(): string } {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    highWaterMark: opts.slow ? 1 : 16 * 1024,
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      if (opts.slow) setImmediate(done);
      else done();
    },
  });
  return Object.assign(sink, { text: () => Buffer.concat(chunks).toString() });
}

/** What the handler does with a tracked answer: hold its start, send that, relay the rest. */
async function holdThenRelay(body: PassThrough, maxBytes: number, maxWaitMs: number, to = app()) {
  const held = await holdResponseBody(body, maxBytes, maxWaitMs);
  for (const chunk of held.chunks) to.write(chunk);
  return { held, to, relayed: relayBody(body, to) };
}

describe('relaying the rest of an answer after the hold', () => {
  test('a hold stopped by its time bound (main slower than the bound): the rest still reaches the app', async () => {
    const body = new PassThrough();
    const { held, to, relayed } = await holdThenRelay(body, 1024, 20);
    expect(held).toMatchObject({ ended: false, bytes: 0 });
    body.end('<CopyObjectResult/>');
    expect(await relayed).toBe(19);
    expect(to.text()).toBe('<CopyObjectResult/>');
  });

  test('a hold stopped by its byte bound: the rest follows the held bytes in order', async () => {
    const body = new PassThrough();
    body.write('<Comp');
    const { held, to, relayed } = await holdThenRelay(body, 5, 10_000);
    expect(held).toMatchObject({ ended: false, bytes: 5 });
    body.end('leteMultipartUploadResult/>');
    expect(await relayed).toBe(27);
    expect(to.text()).toBe('<CompleteMultipartUploadResult/>');
  });

  test('an app slower than main: the held bytes fill its buffer, the rest waits for drain, nothing is lost', async () => {
    const body = new PassThrough();
    body.write('a'.repeat(10));
    const { to, relayed } = await holdThenRelay(body, 10, 10_000, app({ slow: true }));
    expect(to.writableNeedDrain).toBe(true);
    for (let i = 0; i < 100; i++) body.write('b'.repeat(100));
    body.end();
    expect(await relayed).toBe(10_000);
    expect(to.text()).toBe('a'.repeat(10) + 'b'.repeat(10_000));
  });
});
