import { createSinkServer } from './sink';

/** Child-process entry for the sink backend: `SINK_PORT=1234 node sink-main.js`. */
const port = Number(process.env.SINK_PORT ?? '0');
const { server } = createSinkServer();
server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`sink listening on ${typeof address === 'object' && address ? address.port : port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
