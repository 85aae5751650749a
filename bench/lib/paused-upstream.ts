import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An upstream that asks the exporter to wait (503, Retry-After: 900): the intake and footprint
 * phases measure the exporter with messages tracked but not being polled.
 */
export async function startPausedUpstream(): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const server: Server = createServer((request, response) => {
    requests += 1;
    request.resume();
    response.writeHead(503, { 'retry-after': '900', 'content-type': 'application/xml' });
    response.end('<Error><Code>503</Code><Detail>paused by the benchmark</Detail></Error>');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
