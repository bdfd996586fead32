import { afterEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { FtpClient, type FtpClientOptions } from '../src/ftp/client.js';
import { downloadToBuffer as collect, rejection } from './helpers/ftp-assertions.js';
import { NetTransport } from '../src/ftp/net-transport.js';
import { ScriptedFtpServer } from './helpers/scripted-ftp-server.js';

const transport = new NetTransport();
const servers: ScriptedFtpServer[] = [];
const clients: FtpClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  for (const server of servers.splice(0)) await server.close();
});

async function setup(
  serverOptions: Parameters<typeof ScriptedFtpServer.start>[0] = {},
  clientOptions: Partial<FtpClientOptions> = {},
): Promise<{ server: ScriptedFtpServer; client: FtpClient }> {
  const server = await ScriptedFtpServer.start(serverOptions);
  servers.push(server);
  const client = await FtpClient.connect({
    transport, host: '127.0.0.1', port: server.port,
    timeouts: { connectMs: 2000, replyMs: 2000, dataIdleMs: 1000 },
    ...clientOptions,
  });
  clients.push(client);
  await client.login();
  return { server, client };
}



const FILE = randomBytes(300_000);

describe('FtpClient against a well-behaved server', () => {
  it('logs in, reads features, and runs the simple commands', async () => {
    const { server, client } = await setup({ files: { '/pub/a.bin': FILE } });
    expect((await client.features()).has('MLST')).toBe(true);
    expect(await client.system()).toBe('UNIX Type: L8');
    expect(await client.pwd()).toBe('/');
    await client.cd('pub');
    await client.cdup();
    expect(await client.size('/pub/a.bin')).toBe(FILE.length);
    expect((await client.lastModified('/pub/a.bin')).toISOString()).toBe('2024-01-01T12:00:00.000Z');
    expect(await client.mkdir('/new "dir"')).toBe('/new "dir"');
    await client.rename('/pub/a.bin', '/pub/b.bin');
    await client.remove('/pub/b.bin');
    await client.rmdir('/x');
    await client.noop();
    expect(server.verbs()).toEqual(expect.arrayContaining(['USER', 'PASS', 'FEAT', 'OPTS', 'TYPE', 'SIZE', 'RNFR', 'RNTO', 'DELE']));
    await client.close();
    expect(server.verbs().at(-1)).toBe('QUIT');
  });

  it('downloads over EPSV, with REST, and lists with MLSD, LIST and NLST', async () => {
    const { server, client } = await setup({ files: { '/pub/a.bin': FILE, '/pub/sub/x': Buffer.from('x') } });
    expect((await collect(client, '/pub/a.bin', { size: FILE.length })).equals(FILE)).toBe(true);
    expect((await collect(client, '/pub/a.bin', { offset: 1000, size: FILE.length })).equals(FILE.subarray(1000))).toBe(true);
    expect(server.log.some((line) => line.endsWith('REST 1000'))).toBe(true);
    const mlsd = await client.list('/pub');
    expect(mlsd.format).toBe('mlsd');
    expect(mlsd.entries.map((e) => [e.name, e.type, e.size])).toEqual([['a.bin', 'file', FILE.length], ['sub', 'directory', 0]]);
    const list = await client.list('/pub', { format: 'list' });
    expect(list.entries.map((e) => e.name)).toEqual(['a.bin', 'sub']);
    const nlst = await client.list('/pub', { format: 'nlst' });
    expect(nlst.entries.map((e) => e.name)).toEqual(['a.bin', 'sub']);
    expect(server.verbs().filter((v) => v === 'EPSV').length).toBe(5);
  });

  it('stops at a range end, aborts the rest and stays usable', async () => {
    const { server, client } = await setup({ files: { '/a.bin': FILE }, chunkSize: 8192, chunkDelayMs: 1 });
    const part = await collect(client, '/a.bin', { offset: 5000, end: 20_000, size: FILE.length });
    expect(part.equals(FILE.subarray(5000, 20_000))).toBe(true);
    expect(server.verbs()).toContain('ABOR');
    expect(await client.size('/a.bin')).toBe(FILE.length);
    expect((await collect(client, '/a.bin')).equals(FILE)).toBe(true);
  });

  it('falls back from EPSV to PASV once and remembers it', async () => {
    const { server, client } = await setup({
      files: { '/a': FILE },
      handlers: { EPSV: (ctx) => ctx.reply('502 EPSV not implemented.') },
    });
    await collect(client, '/a');
    await collect(client, '/a');
    expect(server.verbs().filter((v) => v === 'EPSV')).toHaveLength(1);
    expect(server.verbs().filter((v) => v === 'PASV')).toHaveLength(2);
  });

  it('uses active mode with EPRT, and PORT when EPRT is refused', async () => {
    const { server, client } = await setup({ files: { '/a': FILE } }, { mode: 'active' });
    expect((await collect(client, '/a')).equals(FILE)).toBe(true);
    expect(server.verbs()).toContain('EPRT');
    const second = await setup(
      { files: { '/a': FILE }, handlers: { EPRT: (ctx) => ctx.reply('500 EPRT not understood') } },
      { mode: 'active' },
    );
    expect((await collect(second.client, '/a')).equals(FILE)).toBe(true);
    expect((await collect(second.client, '/a')).equals(FILE)).toBe(true);
    expect(second.server.verbs().filter((v) => v === 'EPRT')).toHaveLength(1);
    expect(second.server.verbs().filter((v) => v === 'PORT')).toHaveLength(2);
  });

  it('uploads with STOR and APPE, and downloads the result', async () => {
    const { server, client } = await setup();
    const result = await client.upload(FILE, '/up.bin');
    expect(result.bytes).toBe(FILE.length);
    expect(result.reply?.code).toBe(226);
    await client.upload(Buffer.from('tail'), '/up.bin', { append: true });
    expect(server.files.get('/up.bin')?.equals(Buffer.concat([FILE, Buffer.from('tail')]))).toBe(true);
    expect((await collect(client, '/up.bin')).length).toBe(FILE.length + 4);
  });

  it('sends NOOP during a long transfer and reads the late replies', async () => {
    const { server, client } = await setup(
      { files: { '/slow': FILE }, chunkSize: 4096, chunkDelayMs: 4 },
      { keepaliveMs: 60 },
    );
    expect((await collect(client, '/slow')).equals(FILE)).toBe(true);
    const noops = server.verbs().filter((v) => v === 'NOOP').length;
    expect(noops).toBeGreaterThan(0);
    // The connection is in sync: the next command gets its own reply, not a NOOP's.
    expect(await client.size('/slow')).toBe(FILE.length);
  });

  it('reports login failure without the password', async () => {
    const server = await ScriptedFtpServer.start({ users: { bob: 'right' } });
    servers.push(server);
    const client = await FtpClient.connect({ transport, host: '127.0.0.1', port: server.port });
    clients.push(client);
    const error = await rejection(client.login({ user: 'bob', password: 's3cret-pw' }));
    expect(error.kind).toBe('reply');
    expect(error.code).toBe(530);
    expect(error.message).toMatch(/login failed for user "bob"/);
    expect(error.message).not.toContain('s3cret-pw');
    await client.login({ user: 'bob', password: 'right' });
  });

  it('takes an AbortSignal and stays usable after aborting', async () => {
    const { client } = await setup({ files: { '/slow': FILE }, chunkSize: 4096, chunkDelayMs: 5 });
    const controller = new AbortController();
    let received = 0;
    const pending = client.download('/slow', (chunk) => {
      received += chunk.length;
      if (received > 20_000) controller.abort();
    }, { signal: controller.signal });
    const error = await rejection(pending);
    expect(error.kind).toBe('aborted');
    expect(await client.size('/slow')).toBe(FILE.length);
  });
});
