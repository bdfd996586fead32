import { readFileSync } from 'node:fs';
import http from 'node:http';
import tls from 'node:tls';
import { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent, fetch } from 'undici';
import { createMemoryWire, createStack, type Stack, type TcpServer } from '../src/main/index.js';

// Node's own libraries over our sockets: the stack as a drop-in network backend.
const fixture = (name: string): Buffer => readFileSync(new URL(`./fixtures/ftps/${name}`, import.meta.url));

const open: Stack[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function pair(): Promise<[Stack, Stack]> {
  const [a, b] = createMemoryWire();
  const A = await createStack({ link: a, address: '198.18.1.1/24' });
  open.push(A);
  const B = await createStack({ link: b, address: '198.18.1.2/24' });
  open.push(B);
  return [A, B];
}

function listen(server: TcpServer, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => resolve());
  });
}

describe('node libraries over TcpSocket', () => {
  it('node:tls: a TLS client on one stack talks to a TLS server on the other', async () => {
    const [A, B] = await pair();
    const context = tls.createSecureContext({ key: fixture('server-key.pem'), cert: fixture('server-cert.pem') });
    const server = B.createServer((raw) => {
      const secure = new tls.TLSSocket(raw, { isServer: true, secureContext: context });
      secure.on('data', (d: Buffer) => secure.end(`echo: ${d.toString()}`));
      secure.on('error', () => undefined);
    });
    await listen(server, 443);
    const socket = A.connect({ host: '198.18.1.2', port: 443 });
    const client = tls.connect({ socket, ca: fixture('ca.pem'), servername: '127.0.0.1', checkServerIdentity: () => undefined });
    await new Promise<void>((resolve, reject) => client.once('secureConnect', resolve).once('error', reject));
    expect(client.authorized).toBe(true);
    client.write('over ringstack');
    let reply = '';
    client.on('data', (d) => (reply += d));
    await new Promise((r) => client.on('end', r));
    expect(reply).toBe('echo: over ringstack');
    expect(client.getProtocol()).toMatch(/TLSv1\.[23]/);
  });

  it('node:http: a request through createConnection reaches an http server listening on the other stack', async () => {
    const [A, B] = await pair();
    const httpServer = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => res.end(JSON.stringify({ method: req.method, url: req.url, body })));
    });
    const server = B.createServer((socket) => httpServer.emit('connection', socket));
    await listen(server, 80);
    const response = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(
        { method: 'POST', host: '198.18.1.2', port: 80, path: '/hello', createConnection: () => A.connect({ host: '198.18.1.2', port: 80 }) as unknown as Duplex },
        (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end('payload');
    });
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ method: 'POST', url: '/hello', body: 'payload' });
  });

  it("undici's fetch runs through an Agent whose connect hands it a TcpSocket", async () => {
    const [A, B] = await pair();
    const httpServer = http.createServer((req, res) => res.end(`fetched ${req.url}`));
    const server = B.createServer((socket) => httpServer.emit('connection', socket));
    await listen(server, 8080);
    const agent = new Agent({
      connect: (options, callback) => {
        const socket = A.connect({ host: String(options.hostname), port: Number(options.port) });
        socket.once('connect', () => callback(null, socket as never));
        socket.once('error', (err) => callback(err, null));
      },
    });
    const res = await fetch('http://198.18.1.2:8080/via-undici', { dispatcher: agent });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('fetched /via-undici');
    await agent.close();
  });
});
