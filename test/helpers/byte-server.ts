import { once } from 'node:events';
import { createServer, type Server } from 'node:net';

/** A node:net server on 127.0.0.1 that sends `data` to every connection and ends it; close it when done. */
export async function serveBytes(data: Buffer): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => {
    s.on('error', () => undefined);
    s.end(data);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { server, port: address.port };
}
