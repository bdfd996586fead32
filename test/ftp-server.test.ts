// FtpServer against our FtpClient (and a raw control connection for what a well-behaved client never sends),
// both over node:net on 127.0.0.1: passive and active, REST, uploads, listings, explicit FTPS with session reuse,
// ABOR, connection limits, idle timeout, bad input, and attempts to leave the served tree.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile, stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FtpClient, type FtpClientOptions, type FtpCredentials } from '../src/ftp/client.js';
import { downloadToBuffer as fetch, rejection } from './helpers/ftp-assertions.js';
import { FtpError } from '../src/ftp/errors.js';
import { NetTransport } from '../src/ftp/net-transport.js';
import { ReplyParser, type FtpReply } from '../src/ftp/reply.js';
import { FtpServer, type FtpServerOptions } from '../src/ftp/server.js';

const transport = new NetTransport();
const fixture = (name: string) => readFileSync(new URL(`./fixtures/ftps/${name}`, import.meta.url));
const ca = fixture('ca.pem');
const tls = { key: fixture('server-key.pem'), cert: fixture('server-cert.pem') };
const USER: FtpCredentials = { user: 'alice', password: 'secret pass' };
const FILE = randomBytes(300_000);
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

let base: string;
let root: string;
let uploads: string;
const servers: FtpServer[] = [];
const clients: FtpClient[] = [];
const sockets: Socket[] = [];

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'ringstack-ftp-server-'));
  root = join(base, 'root');
  uploads = join(base, 'uploads');
  const outside = join(base, 'outside');
  await mkdir(join(root, 'sub'), { recursive: true });
  await mkdir(uploads);
  await mkdir(outside);
  await writeFile(join(root, 'a.bin'), FILE);
  await writeFile(join(root, 'sub', 'notes.txt'), 'one\ntwo\n');
  await writeFile(join(outside, 'secret.txt'), 'not for you');
  await symlink(outside, join(root, 'escape')); // a directory link out of the root
  await symlink(join(outside, 'secret.txt'), join(root, 'secret-link')); // a file link out of the root
  await symlink(join(root, 'a.bin'), join(root, 'inner-link')); // inside: allowed
  await symlink(join(outside, 'secret.txt'), join(uploads, 'trap')); // a planted link in the upload directory
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const server of servers.splice(0)) await server.close();
});

async function startServer(options: Partial<FtpServerOptions> = {}): Promise<{ server: FtpServer; port: number; log: string[] }> {
  const log: string[] = [];
  const server = new FtpServer({
    transport, root, upload: { dir: uploads }, users: [{ name: USER.user, password: USER.password }],
    limits: { dataConnectMs: 2000, dataIdleMs: 2000 }, log: (line) => log.push(line), ...options,
  });
  servers.push(server);
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 });
  return { server, port, log };
}

async function connectClient(port: number, credentials?: FtpCredentials, options: Partial<FtpClientOptions> = {}): Promise<FtpClient> {
  const client = await FtpClient.connect({
    transport, host: '127.0.0.1', port, timeouts: { connectMs: 2000, replyMs: 2000, dataIdleMs: 2000 }, ...options,
  });
  clients.push(client);
  await client.login(credentials);
  return client;
}



/** A control connection driven by hand: write lines, read replies. */
class RawControl {
  private readonly parser = new ReplyParser();
  private readonly replies: FtpReply[] = [];
  private waiter: (() => void) | undefined;
  ended = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.replies.push(...this.parser.push(chunk));
      this.waiter?.();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.ended = true;
      this.waiter?.();
    });
  }

  static async open(port: number, localAddress?: string): Promise<RawControl> {
    const socket = netConnect({ host: '127.0.0.1', port, localAddress });
    sockets.push(socket);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new RawControl(socket);
  }

  send(line: string | Buffer): void {
    this.socket.write(typeof line === 'string' ? `${line}\r\n` : line);
  }

  async next(timeoutMs = 3000): Promise<FtpReply> {
    const deadline = Date.now() + timeoutMs;
    while (this.replies.length === 0) {
      if (this.ended) throw new Error('control connection closed');
      if (Date.now() > deadline) throw new Error('no reply');
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, 50);
      });
    }
    return this.replies.shift() as FtpReply;
  }

  async command(line: string): Promise<FtpReply> {
    this.send(line);
    return this.next();
  }

  async login(): Promise<void> {
    expect((await this.next()).code).toBe(220);
    expect((await this.command('USER anonymous')).code).toBe(331);
    expect((await this.command('PASS guest@')).code).toBe(230);
  }

  /** Waits until the server closed the connection. */
  async closed(timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      if (Date.now() > deadline) throw new Error('still open');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

describe('FtpServer with FtpClient over node:net', () => {
  it('passive: features, navigation, facts, download with equal sha256, listings in MLSD, LIST and NLST', async () => {
    const { server, port } = await startServer();
    const client = await connectClient(port);
    const features = await client.features();
    expect([...features.keys()]).toEqual(expect.arrayContaining(['EPSV', 'EPRT', 'MLST', 'MDTM', 'SIZE', 'REST', 'UTF8']));
    expect(features.has('AUTH')).toBe(false); // no TLS configured
    expect(await client.system()).toBe('UNIX Type: L8');
    expect(await client.pwd()).toBe('/');
    await client.cd('sub');
    expect(await client.pwd()).toBe('/sub');
    await client.cdup();
    expect(await client.pwd()).toBe('/');
    expect(await client.size('a.bin')).toBe(FILE.length);
    const mtime = (await stat(join(root, 'a.bin'))).mtime;
    expect((await client.lastModified('/a.bin')).getTime()).toBe(Math.floor(mtime.getTime() / 1000) * 1000);
    expect(await client.stat('/a.bin')).toMatchObject({ type: 'file', size: FILE.length });
    expect(sha256(await fetch(client, '/a.bin', { size: FILE.length }))).toBe(sha256(FILE));
    expect(sha256(await fetch(client, 'inner-link'))).toBe(sha256(FILE)); // a link that stays inside is fine

    const mlsd = await client.list('/');
    expect(mlsd.format).toBe('mlsd');
    expect(mlsd.rejected).toEqual([]);
    // The links out of the root are not listed; the upload directory appears as "upload".
    expect(mlsd.entries.map((e) => `${e.type}:${e.name}`)).toEqual(['file:a.bin', 'file:inner-link', 'directory:sub', 'directory:upload']);
    expect(mlsd.entries[0].size).toBe(FILE.length);
    const list = await client.list('/', { format: 'list' });
    expect(list.rejected).toEqual([]);
    expect(list.entries.map((e) => e.name)).toEqual(['a.bin', 'inner-link', 'sub', 'upload']);
    expect(list.entries[0].size).toBe(FILE.length);
    const nlst = await client.list('sub', { format: 'nlst' });
    expect(nlst.entries.map((e) => e.name)).toEqual(['notes.txt']);
    await client.close();
    expect(server.counters).toMatchObject({ transfersCompleted: 5, transfersFailed: 0, sessionsAccepted: 1 });
    expect(server.counters.bytesSent).toBeGreaterThan(2 * FILE.length);
  });

  it('active mode (EPRT): download, listing and upload', async () => {
    const { log } = await startServer();
    const client = await connectClient((servers[0].address() as { port: number }).port, USER, { mode: 'active' });
    expect(sha256(await fetch(client, '/a.bin', { size: FILE.length }))).toBe(sha256(FILE));
    expect((await client.list('/sub')).entries.map((e) => e.name)).toEqual(['notes.txt']);
    const data = randomBytes(123_456);
    await client.upload(data, '/upload/active.bin');
    expect(sha256(await readFile(join(uploads, 'active.bin')))).toBe(sha256(data));
    expect(log.some((line) => line.includes('> EPRT |1|127.0.0.1|'))).toBe(true);
  });

  it('REST: downloads from an offset; an offset past the end is refused', async () => {
    const { port } = await startServer();
    const client = await connectClient(port);
    const tail = await fetch(client, '/a.bin', { offset: 250_000, size: FILE.length });
    expect(tail.equals(FILE.subarray(250_000))).toBe(true);
    expect((await fetch(client, '/a.bin', { offset: FILE.length })).length).toBe(0);
    const error = await rejection(fetch(client, '/a.bin', { offset: FILE.length + 1 }));
    expect(error.code).toBe(554);
    // A ranged download stops early: the client sends ABOR, the server answers 426 + 226 and carries on.
    const middle = await fetch(client, '/a.bin', { offset: 1000, end: 2000, size: FILE.length });
    expect(middle.equals(FILE.subarray(1000, 2000))).toBe(true);
    expect(await client.pwd()).toBe('/');
  });

  it('uploads: STOR, APPE, DELE for users; anonymous and root writes refused', async () => {
    const { server, port } = await startServer();
    const anonymous = await connectClient(port);
    expect((await rejection(anonymous.upload(Buffer.from('x'), '/upload/anon.bin'))).code).toBe(550);
    const user = await connectClient(port, USER);
    expect((await rejection(user.upload(Buffer.from('x'), '/root-write.bin'))).code).toBe(550);
    expect((await rejection(user.upload(Buffer.from('x'), '/sub/x.bin'))).code).toBe(550);
    const data = randomBytes(200_000);
    await user.upload(data.subarray(0, 150_000), '/upload/u.bin');
    await user.upload(data.subarray(150_000), '/upload/u.bin', { append: true });
    expect(sha256(await fetch(user, '/upload/u.bin'))).toBe(sha256(data));
    expect(sha256(await fetch(anonymous, '/upload/u.bin'))).toBe(sha256(data)); // readable by everyone
    expect(await user.size('/upload/u.bin')).toBe(data.length);
    await user.cd('/upload');
    await user.upload(Buffer.from('replaced'), 'u.bin');
    expect(await readFile(join(uploads, 'u.bin'), 'utf8')).toBe('replaced');
    await user.remove('u.bin');
    await expect(stat(join(uploads, 'u.bin'))).rejects.toThrow();
    expect((await rejection(user.remove('/a.bin'))).code).toBe(550);
    expect((await rejection(user.remove('/upload'))).code).toBe(550);
    expect(server.counters.bytesReceived).toBe(200_000 + 'replaced'.length);
  });

  it('REST before STOR resumes an upload at that offset', async () => {
    const { port } = await startServer();
    await writeFile(join(uploads, 'resume.bin'), 'abcdefXXXX');
    const raw = await RawControl.open(port);
    expect((await raw.next()).code).toBe(220);
    expect((await raw.command(`USER ${USER.user}`)).code).toBe(331);
    expect((await raw.command(`PASS ${USER.password}`)).code).toBe(230);
    expect((await raw.command('TYPE I')).code).toBe(200);
    const dataPort = Number(/\|\|\|(\d+)\|/.exec((await raw.command('EPSV')).message)?.[1]);
    const data = netConnect({ host: '127.0.0.1', port: dataPort });
    sockets.push(data);
    await new Promise((resolve) => data.once('connect', resolve));
    expect((await raw.command('REST 6')).code).toBe(350);
    expect((await raw.command('STOR upload/resume.bin')).code).toBe(150);
    data.end('ghij');
    expect((await raw.next()).code).toBe(226);
    expect(await readFile(join(uploads, 'resume.bin'), 'utf8')).toBe('abcdefghij');
  });

  it('TYPE A converts line ends both ways', async () => {
    const { port } = await startServer();
    const client = await connectClient(port, USER);
    expect((await fetch(client, '/sub/notes.txt', { type: 'A' })).toString()).toBe('one\r\ntwo\r\n');
    await client.upload(Buffer.from('x\r\ny\r\n'), '/upload/ascii.txt', { type: 'A' });
    expect(await readFile(join(uploads, 'ascii.txt'), 'utf8')).toBe('x\ny\n');
  });

  it('explicit FTPS: TLS 1.3 and 1.2, data connections resume the control session', async () => {
    for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
      const { server, port, log } = await startServer({ tls: { ...tls, maxVersion } });
      const clientLog: string[] = [];
      const client = await connectClient(port, USER, { security: 'explicit', ca, log: (line) => clientLog.push(line) });
      expect(client.tlsSocket?.getProtocol()).toBe(maxVersion);
      expect(sha256(await fetch(client, '/a.bin', { size: FILE.length }))).toBe(sha256(FILE));
      await client.upload(FILE.subarray(0, 50_000), '/upload/tls.bin');
      expect(sha256(await readFile(join(uploads, 'tls.bin')))).toBe(sha256(FILE.subarray(0, 50_000)));
      expect((await client.list('/')).entries.length).toBe(4);
      expect(clientLog.filter((line) => line.includes('did not resume'))).toEqual([]);
      expect(log.some((line) => line.includes('> PROT P'))).toBe(true);
      expect(server.counters.transfersFailed).toBe(0);
      await client.close();
      await server.close();
    }
  });

  it('FTPS: a data connection that does not resume the session is refused (522)', async () => {
    const { port } = await startServer({ tls });
    const client = await connectClient(port, USER, { security: 'explicit', ca });
    // Wrap the transport so the data connection's TLS handshake starts a fresh session.
    const forgetful = {
      ...transport, name: 'forgetful', connect: transport.connect.bind(transport), listen: transport.listen.bind(transport),
      upgradeToTls: (socket: Parameters<typeof transport.upgradeToTls>[0], options: Parameters<typeof transport.upgradeToTls>[1]) =>
        transport.upgradeToTls(socket, { ...options, session: undefined }),
    };
    const fresh = await FtpClient.connect({ transport: forgetful, host: '127.0.0.1', port, security: 'explicit', ca, timeouts: { connectMs: 2000, replyMs: 2000, dataIdleMs: 2000 } });
    clients.push(fresh);
    await fresh.login(USER);
    const error = await rejection(fetch(fresh, '/a.bin'));
    expect(error.code).toBe(522);
    expect(sha256(await fetch(client, '/a.bin'))).toBe(sha256(FILE)); // the session-resuming client is served
  });

  it('AUTH: refused without TLS (the session goes on); commands pipelined behind AUTH TLS end the session', async () => {
    const plain = await startServer();
    const raw = await RawControl.open(plain.port);
    expect((await raw.next()).code).toBe(220);
    expect((await raw.command('AUTH TLS')).code).toBe(502);
    expect((await raw.command('NOOP')).code).toBe(200);
    const secure = await startServer({ tls });
    const eager = await RawControl.open(secure.port);
    expect((await eager.next()).code).toBe(220);
    eager.send('AUTH TLS\r\nUSER anonymous');
    expect((await eager.next()).code).toBe(421);
    await eager.closed();
  });

  it('per-address connection limit: 421 too many connections; a slot frees when a session ends', async () => {
    const { server, port } = await startServer({ limits: { maxSessionsPerAddress: 2 } });
    const first = await connectClient(port);
    await connectClient(port);
    const error = await rejection(connectClient(port));
    expect(error.code).toBe(421);
    expect(error.message).toMatch(/too many connections from your address/i);
    await first.close();
    for (let i = 0; i < 50 && server.counters.sessionsActive > 1; i++) await new Promise((r) => setTimeout(r, 20));
    await connectClient(port);
    expect(server.counters).toMatchObject({ sessionsRefused: 1, sessionsActive: 2 });
  });

  it('idle control connections are closed with 421', async () => {
    const { server, port } = await startServer({ limits: { idleMs: 300 } });
    const raw = await RawControl.open(port);
    await raw.login();
    const reply = await raw.next(2000);
    expect(reply.code).toBe(421);
    expect(reply.message).toMatch(/Timeout/);
    await raw.closed();
    expect(server.counters.sessionErrors).toBe(1);
  });

  it('bad input: overlong lines, unknown verbs, commands before login, wrong passwords', async () => {
    const { server, port } = await startServer({ limits: { maxCommandLineBytes: 512 } });
    const raw = await RawControl.open(port);
    expect((await raw.next()).code).toBe(220);
    expect((await raw.command(`RETR ${'x'.repeat(5000)}`)).code).toBe(500);
    expect((await raw.command('NOOP')).code).toBe(200); // the session goes on
    expect((await raw.command('FROB x')).code).toBe(500);
    expect((await raw.command('MKD x')).code).toBe(502);
    expect((await raw.command('RETR a.bin')).code).toBe(530);
    expect((await raw.command('PASS x')).code).toBe(503);
    expect((await raw.command('PORT 1,2,3')).code).toBe(530);
    for (let i = 0; i < 3; i++) {
      expect((await raw.command('USER alice')).code).toBe(331);
      expect((await raw.command('PASS wrong')).code).toBe(530);
    }
    expect((await raw.next()).code).toBe(421); // too many failed logins
    await raw.closed();
    expect(server.counters.loginFailures).toBe(3);
    const unknown = await RawControl.open(port);
    expect((await unknown.next()).code).toBe(220);
    expect((await unknown.command('USER nobody')).code).toBe(331);
    expect((await unknown.command('PASS secret pass')).code).toBe(530);
  });

  it('active mode refuses third-party hosts and privileged ports (RFC 2577)', async () => {
    const { server, port } = await startServer();
    const raw = await RawControl.open(port);
    await raw.login();
    expect((await raw.command('PORT 127,0,0,2,156,64')).code).toBe(504);
    expect((await raw.command('EPRT |1|198.18.0.9|40000|')).code).toBe(504);
    expect((await raw.command('PORT 127,0,0,1,0,25')).code).toBe(504);
    expect((await raw.command('EPRT |2|::1|40000|')).code).toBe(504);
    expect((await raw.command('PORT 1,2,3')).code).toBe(501);
    expect((await raw.command('RETR a.bin')).code).toBe(425); // no data connection was set up
    expect(server.counters.foreignDataConnections).toBe(4);
  });

  it('passive mode refuses a data connection from another address (port stealing) and serves the client', async () => {
    const { server, port } = await startServer();
    const raw = await RawControl.open(port);
    await raw.login();
    expect((await raw.command('TYPE I')).code).toBe(200);
    const epsv = await raw.command('EPSV');
    const dataPort = Number(/\|\|\|(\d+)\|/.exec(epsv.message)?.[1]);
    const thief = netConnect({ host: '127.0.0.1', port: dataPort, localAddress: '127.0.0.2' });
    sockets.push(thief);
    thief.on('error', () => {});
    await new Promise((resolve) => thief.once('connect', resolve));
    raw.send('RETR a.bin');
    await new Promise((resolve) => thief.once('close', resolve)); // dropped at once
    const data = netConnect({ host: '127.0.0.1', port: dataPort });
    sockets.push(data);
    const chunks: Buffer[] = [];
    data.on('data', (chunk: Buffer) => chunks.push(chunk));
    await new Promise((resolve) => data.once('end', resolve));
    expect((await raw.next()).code).toBe(150);
    expect((await raw.next()).code).toBe(226);
    expect(sha256(Buffer.concat(chunks))).toBe(sha256(FILE));
    expect(server.counters.foreignDataConnections).toBe(1);
  });

  it('no escape from the root: "..", absolute paths, links out of the root, links planted in the upload directory', async () => {
    const { port } = await startServer();
    const client = await connectClient(port, USER);
    for (const path of ['../outside/secret.txt', '../../../../etc/passwd', '/etc/passwd', 'secret-link', 'escape/secret.txt', '/sub/../../outside/secret.txt']) {
      const error = await rejection(fetch(client, path));
      expect(error.code, path).toBe(550);
      expect((await rejection(client.size(path))).code, path).toBe(550);
    }
    expect((await rejection(client.cd('escape'))).code).toBe(550);
    expect((await rejection(client.list('escape'))).code).toBe(550);
    await client.cd('../../..');
    expect(await client.pwd()).toBe('/');
    // Writing through the planted link must not touch its target.
    expect((await rejection(client.upload(Buffer.from('overwritten'), '/upload/trap'))).code).toBe(550);
    expect((await rejection(client.upload(Buffer.from('x'), '/upload/../escape/new.txt'))).code).toBe(550);
    expect(await readFile(join(base, 'outside', 'secret.txt'), 'utf8')).toBe('not for you');
    // DELE removes the link itself, never what it points to.
    await client.remove('/upload/trap');
    expect(await readFile(join(base, 'outside', 'secret.txt'), 'utf8')).toBe('not for you');
    await symlink(join(base, 'outside', 'secret.txt'), join(uploads, 'trap'));
  });

  it('close() ends every session, including one in the middle of a transfer, and leaves nothing running', async () => {
    // Larger than every socket buffer between the two, so a stalled reader really stalls the sender.
    await writeFile(join(root, 'big.bin'), Buffer.alloc(32 * 1024 * 1024, 7));
    const { server, port } = await startServer({ limits: { readChunkBytes: 64 * 1024 } });
    const idle = await RawControl.open(port);
    await idle.login();
    const client = await connectClient(port);
    // A download whose consumer stalls keeps the transfer running until close().
    let release: () => void = () => {};
    const stalled = new Promise<void>((resolve) => (release = resolve));
    const download = client.download('/big.bin', async () => stalled);
    download.catch(() => undefined);
    for (let i = 0; i < 100 && server.counters.bytesSent === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50));
    expect(server.counters.transfersCompleted).toBe(0);
    await server.close();
    release();
    expect((await idle.next()).code).toBe(421);
    await idle.closed();
    await expect(download).rejects.toBeInstanceOf(FtpError);
    expect(server.counters).toMatchObject({ sessionsActive: 0, transfersFailed: 1 });
    servers.splice(servers.indexOf(server), 1);
    await rm(join(root, 'big.bin'));
  });
});
