import { createNodeHopServer } from './node-hop-server';

/** Child-process entry for the Node.js reference hop: `UPSTREAM=http://127.0.0.1:P HOP_PORT=N node node-hop-main.js`. */
const upstream = new URL(process.env.UPSTREAM ?? '').origin;
const { server } = createNodeHopServer(upstream);
server.listen(Number(process.env.HOP_PORT ?? '0'), '127.0.0.1', () => {
  process.stdout.write(`node hop listening, upstream ${upstream}\n`);
});
process.on('SIGTERM', () => process.exit(0));
