import { PassThrough, Readable } from 'node:stream';

import { holdResponseBody } from '../../src/tracking/response-hold';

async function rest(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

describe('holdResponseBody', () => {
  test('reads a small body to its end', async () => {
    const held = await holdResponseBody(
      Readable.from([Buffer.from('<a>'), Buffer.from('</a>')]),
      1024,
      10_000,
    );
    expect(held).toMatchObject({ ended: true, bytes: 7 });
    expect(Buffer.concat(held.chunks).toString()).toBe('<a></a>');
  });

  test('stops at the byte bound and leaves the rest to be read in order', async () => {
    const body = new PassThrough();
    body.write('aaaa');
    body.write('bbbb');
    const held = await holdResponseBody(body, 6, 10_000);
    expect(held.ended).toBe(false);
    expect(Buffer.concat(held.chunks).toString()).toBe('aaaabbbb');
    body.end('cccc');
    expect(await rest(body)).toBe('cccc');
  });

  test('stops at the time bound (a keep-alive answer still running) without losing bytes', async () => {
    const body = new PassThrough();
    body.write('   ');
    const held = await holdResponseBody(body, 1024, 20);
    expect(held).toMatchObject({ ended: false, bytes: 3 });
    body.end('<Result/>');
    expect(await rest(body)).toBe('<Result/>');
  });

  test('rejects when the body fails', async () => {
    const body = new PassThrough();
    const held = holdResponseBody(body, 1024, 10_000);
    body.destroy(new Error('reset'));
    await expect(held).rejects.toThrow('reset');
  });
});
