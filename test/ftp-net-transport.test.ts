// NetTransport.prepare: a data socket made before the server names its port, connected later (or discarded);
// and the client without it (a socket API that cannot make unconnected sockets) still transfers.

import { afterEach, describe, expect, it } from 'vitest';
import { createServer, connect, type Server } from 'node:net';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { NetTransport, type SocketApi } from '../src/ftp/net-transport.js';
import { FtpClient } from '../src/ftp/client.js';
import { FtpError } from '../src/ftp/errors.js';
import { DirectReceiver, receiveData } from '../src/ftp/data-pump.js';
import { ScriptedFtpServer } from './helpers/scripted-ftp-server.js';
import { rejection } from './helpers/ftp-assertions.js';
import { serveBytes } from './helpers/byte-server.js';

let server: Server | undefined;
let ftp: ScriptedFtpServer | undefined;
afterEach(async () => {
  server?.close();
  server = undefined;
  await ftp?.close();
  ftp = undefined;
});

async function serving(data: Buffer): Promise<number> {
  const served = await serveBytes(data);
  server = served.server;
  return served.port;
}

describe('NetTransport.prepare', () => {
  it('makes the socket first and connects it later, reading through `receive`', async () => {
    const data = randomBytes(200_000);
    const port = await serving(data);
    const transport = new NetTransport();
    const direct = new DirectReceiver(16 * 1024);
    const prepared = transport.prepare?.({ timeoutMs: 2000, receive: direct, noDelay: false });
    if (prepared === undefined) throw new Error('the kernel transport prepares sockets');
    const socket = await prepared.connect('127.0.0.1', port);
    expect(socket.remotePort).toBe(port);
    const copies: Buffer[] = [];
    const result = await receiveData(socket, (chunk) => void copies.push(Buffer.from(chunk)), { overflowIsError: true, idleMs: 2000, direct });
    expect(result.bytes).toBe(data.length);
    expect(Buffer.concat(copies).equals(data)).toBe(true);
    // Once connected it is used up.
    expect((await rejection(prepared.connect('127.0.0.1', port))).kind).toBe('usage');
  });

  it('a discarded socket never connects; a refused port is a connection error', async () => {
    const port = await serving(Buffer.from('x'));
    let accepted = 0;
    server?.on('connection', () => accepted++);
    const transport = new NetTransport();
    const discarded = transport.prepare?.({ timeoutMs: 2000 });
    discarded?.discard();
    expect((await rejection(discarded?.connect('127.0.0.1', port) ?? Promise.resolve())).kind).toBe('usage');
    // A port nobody listens on: take one, then free it.
    const probe = createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const closedPort = (probe.address() as { port: number }).port;
    probe.close();
    await once(probe, 'close');
    const refused = await rejection(transport.prepare?.({ timeoutMs: 2000 }).connect('127.0.0.1', closedPort) ?? Promise.resolve());
    expect(refused.kind).toBe('connection');
    expect(refused.message).toMatch(new RegExp(`cannot connect to 127\\.0\\.0\\.1:${closedPort}`));
    // The discarded socket made no connection (a round trip to the server's accept queue settles it).
    const check = connect({ host: '127.0.0.1', port });
    await once(check, 'connect');
    check.destroy();
    await new Promise((r) => setTimeout(r, 20));
    expect(accepted).toBe(1);
  });

  it('the client falls back to connect when the socket API makes no unconnected sockets', async () => {
    const file = randomBytes(50_000);
    ftp = await ScriptedFtpServer.start({ files: { '/f': file } });
    const kernel = new NetTransport();
    const plain: SocketApi = {
      connect: (options) => connect(options.onread === undefined ? { host: options.host, port: options.port } : options),
      createServer: () => createServer() as unknown as ReturnType<SocketApi['createServer']>,
    };
    const transport = new NetTransport('plain', plain);
    expect(transport.prepare).toBeUndefined();
    expect(kernel.prepare).toBeDefined();
    const client = await FtpClient.connect({ transport, host: '127.0.0.1', port: ftp.port, keepaliveMs: 0 });
    try {
      await client.login();
      for (let i = 0; i < 3; i++) {
        const chunks: Buffer[] = [];
        await client.download('/f', (chunk) => void chunks.push(Buffer.from(chunk)), { size: file.length });
        expect(Buffer.concat(chunks).equals(file)).toBe(true);
      }
    } finally {
      await client.close();
    }
  });
});
