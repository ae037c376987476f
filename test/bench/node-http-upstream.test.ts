import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { UpstreamCancel } from '../../proxy/src/http/upstream-cancel';
import { NodeHttpUpstream } from './node-http-upstream';

test('takes the exchange’s cancel as its signal: a request goes through, and a cancel aborts one in flight', async () => {
  let hung!: () => void;
  const hanging = new Promise<void>((resolve) => (hung = resolve));
  let cut!: () => void;
  const cutOff = new Promise<void>((resolve) => (cut = resolve));
  const server = http.createServer((req, res) => {
    if (req.url !== '/hang') return void res.end('ok');
    req.socket.on('close', () => cut()); // never answered: only the cancel ends it
    hung();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const upstream = new NodeHttpUpstream();
  const get = (path: string, signal: UpstreamCancel) =>
    upstream.request({ origin, path, method: 'GET', headers: {}, body: null, signal });
  try {
    const answer = await get('/ok', new UpstreamCancel());
    let text = '';
    for await (const chunk of answer.body) text += String(chunk);
    expect([answer.statusCode, text]).toEqual([200, 'ok']);

    const cancel = new UpstreamCancel();
    const pending = get('/hang', cancel);
    await hanging;
    cancel.abort(new Error('client went away'));
    await expect(pending).rejects.toThrow();
    await cutOff;
  } finally {
    await upstream.close();
    server.close();
  }
});
