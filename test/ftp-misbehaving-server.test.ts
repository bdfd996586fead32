// The pitfalls a hostile or broken server can throw at the client: each must end in a clear FtpError (never a
// hang: every wait below is bounded by the short timeouts given to the client), with bounded memory.

import { afterEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { once } from 'node:events';
import { FtpClient, type FtpClientOptions } from '../src/ftp/client.js';
import { NetTransport } from '../src/ftp/net-transport.js';
import { FtpError } from '../src/ftp/errors.js';
import { ScriptedFtpServer, type ScriptedServerOptions } from './helpers/scripted-ftp-server.js';
import { rejection } from './helpers/ftp-assertions.js';

const transport = new NetTransport();
const servers: ScriptedFtpServer[] = [];
const clients: FtpClient[] = [];
const TIMEOUTS = { connectMs: 600, replyMs: 600, dataIdleMs: 400 };

afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  for (const server of servers.splice(0)) await server.close();
});

async function setup(options: ScriptedServerOptions, clientOptions: Partial<FtpClientOptions> = {}) {
  const server = await ScriptedFtpServer.start(options);
  servers.push(server);
  const log: string[] = [];
  const client = await FtpClient.connect({
    transport, host: '127.0.0.1', port: server.port, timeouts: TIMEOUTS, keepaliveMs: 0,
    log: (line) => log.push(line), ...clientOptions,
  });
  clients.push(client);
  await client.login();
  return { server, client, log };
}

async function collect(client: FtpClient, path: string, options: Parameters<FtpClient['download']>[2] = {}) {
  const chunks: Buffer[] = [];
  await client.download(path, (chunk) => void chunks.push(Buffer.from(chunk)), options);
  return Buffer.concat(chunks);
}

const FILE = randomBytes(100_000);

describe('misbehaving servers', () => {
  it('PASV naming another host: connects to the control peer instead (RFC 2577)', async () => {
    for (const pasvAddress of ['0.0.0.0', '10.9.8.7', '203.0.113.50']) {
      const { client, log } = await setup({
        files: { '/a': FILE }, pasvAddress,
        handlers: { EPSV: (ctx) => ctx.reply('500 no EPSV') },
      });
      expect((await collect(client, '/a')).equals(FILE)).toBe(true);
      expect(log.some((line) => line.includes(`PASV named ${pasvAddress}`) && line.includes('127.0.0.1'))).toBe(true);
    }
  });

  it('226 before the data: waits for the data and checks the size', async () => {
    const { client } = await setup({
      files: { '/a': FILE },
      handlers: {
        RETR: async (ctx) => {
          ctx.reply('150 here it comes');
          const data = await ctx.openData();
          ctx.reply('226 Transfer complete (said too early).');
          await new Promise((r) => setTimeout(r, 50));
          await ctx.server.sendData(data, FILE);
        },
      },
    });
    expect((await collect(client, '/a', { size: FILE.length })).equals(FILE)).toBe(true);
    expect(await client.size('/a')).toBe(FILE.length);
  });

  it('a 2xx with no 1xx at all is accepted (data may still flow)', async () => {
    const { client } = await setup({
      files: { '/a': FILE },
      handlers: {
        RETR: async (ctx) => {
          const data = await ctx.openData();
          await ctx.server.sendData(data, FILE);
          ctx.reply('226 done');
        },
      },
    });
    expect((await collect(client, '/a')).equals(FILE)).toBe(true);
  });

  it('150 and no data on the passive connection: data idle timeout, then the client is resynchronised', async () => {
    const { client, server } = await setup({
      files: { '/a': FILE },
      handlers: {
        RETR: async (ctx) => {
          ctx.reply('150 opening');
          await ctx.openData(); // accepted, never written, never closed
          await new Promise((r) => setTimeout(r, 700));
          ctx.reply('426 Connection closed; transfer aborted.');
        },
      },
    });
    const error = await rejection(collect(client, '/a'));
    expect(error.kind).toBe('timeout');
    expect(error.message).toMatch(/data connection idle for 400 ms/);
    expect(server.verbs()).toContain('ABOR');
    expect(client.closed).toBe(false);
    expect(await client.size('/a')).toBe(FILE.length);
  });

  it('a data connection reset before the 150: a connection error, no crash, the client resynchronised', async () => {
    const { client, server } = await setup({
      files: { '/a': FILE },
      handlers: {
        RETR: async (ctx) => {
          const data = await ctx.openData();
          await new Promise((r) => setTimeout(r, 30)); // the client has its connection
          data.resetAndDestroy(); // and it errors while nobody reads it yet
          await new Promise((r) => setTimeout(r, 100));
          ctx.reply('150 opening');
          ctx.reply('426 Connection closed; transfer aborted.');
        },
      },
    });
    const error = await rejection(collect(client, '/a'));
    expect(error.kind).toBe('connection');
    expect(server.verbs()).toContain('ABOR');
    expect(client.closed).toBe(false);
    expect(await client.size('/a')).toBe(FILE.length);
  });

  it('150 and no data connection in active mode: accept timeout', async () => {
    const { client } = await setup({
      files: { '/a': FILE },
      handlers: { RETR: (ctx) => ctx.reply('150 opening (but never connecting)') },
    }, { mode: 'active' });
    const error = await rejection(collect(client, '/a'));
    expect(error.kind).toBe('timeout');
    expect(error.message).toMatch(/waiting for the server's data connection/);
  });

  it('no reply at all after the data: reply timeout, not a hang', async () => {
    const { client } = await setup({
      files: { '/a': FILE },
      handlers: {
        RETR: async (ctx) => {
          ctx.reply('150 ok');
          await ctx.server.sendData(await ctx.openData(), FILE);
          // and never a 226, nor answers to ABOR/NOOP
          ctx.server.handlers = { ...ctx.server.handlers, ABOR: () => undefined, NOOP: () => undefined };
        },
      },
    });
    const error = await rejection(collect(client, '/a'));
    expect(error.kind).toBe('timeout');
    expect(error.message).toMatch(/no reply to RETR within 600 ms after the data ended/);
    expect(client.closed).toBe(true); // could not resynchronise: dropped rather than guessed
  });

  it('odd multi-line replies are parsed; a malformed line is a protocol error', async () => {
    const { client } = await setup({
      handlers: {
        SYST: (ctx) => ctx.raw('215-first\r\n215-dash: not the end\r\n  215x\r\n123 still inside\r\n215 UNIX\r\n'),
        PWD: (ctx) => ctx.raw('257 "/"\r\nthis is not a reply\r\n'),
      },
    });
    expect(await client.system()).toBe('first\n215-dash: not the end\n  215x\n123 still inside\nUNIX');
    await client.pwd();
    const error = await rejection(client.noop());
    expect(error.kind).toBe('protocol');
    expect(error.message).toMatch(/malformed control reply line: "this is not a reply"/);
  });

  it('an overlong reply line ends the connection with a clear error (bounded memory)', async () => {
    const { client } = await setup(
      { handlers: { SYST: (ctx) => ctx.raw(`215 ${'x'.repeat(100_000)}`) } },
      { replyLimits: { maxLineBytes: 1024 } },
    );
    const error = await rejection(client.system());
    expect(error.kind).toBe('protocol');
    expect(error.message).toMatch(/longer than 1024 bytes/);
    expect(client.closed).toBe(true);
  });

  it('an endless multi-line reply is bounded too', async () => {
    const { client } = await setup(
      { handlers: { SYST: (ctx) => { ctx.raw('215-start\r\n'); for (let i = 0; i < 5000; i++) ctx.raw(` line ${i}\r\n`); } } },
      { replyLimits: { maxReplyBytes: 16_384 } },
    );
    expect((await rejection(client.system())).message).toMatch(/larger than 16384 bytes/);
  });

  it('listing names with ../ or CR/LF are rejected, not returned', async () => {
    const listing = [
      'type=file;size=3; good.txt',
      'type=file;size=3; ../../etc/passwd',
      'type=file;size=3; /abs/path',
      'type=file;size=3; evil\rname',
      'type=file;size=3; also\u0000bad',
      '',
    ].join('\r\n');
    const { client } = await setup({
      handlers: {
        MLSD: async (ctx) => {
          ctx.reply('150 listing');
          await ctx.server.sendData(await ctx.openData(), Buffer.from(listing));
          ctx.reply('226 ok');
        },
      },
    });
    const result = await client.list('/');
    expect(result.entries.map((e) => e.name)).toEqual(['good.txt']);
    expect(result.rejected).toHaveLength(4);
    expect(result.rejected.every((r) => r.reason.startsWith('unsafe name'))).toBe(true);
  });

  it('an endless listing is cut at the limit', async () => {
    const { client } = await setup({
      handlers: {
        LIST: async (ctx) => {
          ctx.reply('150 listing');
          await ctx.server.sendData(await ctx.openData(), Buffer.alloc(200_000, 'a\r\n'));
          ctx.reply('226 ok');
        },
      },
    }, { maxListingBytes: 50_000 });
    const error = await rejection(client.list('/', { format: 'list' }));
    expect(error.message).toMatch(/listing larger than 50000 bytes/);
  });

  it('more bytes than SIZE said: protocol error, and nothing past SIZE reaches the sink', async () => {
    const { client } = await setup({
      files: { '/a': FILE },
      handlers: { SIZE: (ctx) => ctx.reply(`213 ${FILE.length - 1000}`) },
    });
    const size = await client.size('/a');
    let received = 0;
    const error = await rejection(client.download('/a', (chunk) => void (received += chunk.length), { size }));
    expect(error.kind).toBe('protocol');
    expect(error.message).toMatch(/more than the 99000 bytes expected/);
    expect(received).toBeLessThanOrEqual(size);
    expect(await client.size('/a')).toBe(size); // resynchronised
  });

  it('fewer bytes than SIZE said with a 226: verify error', async () => {
    const { client } = await setup({
      files: { '/a': FILE },
      handlers: { SIZE: (ctx) => ctx.reply(`213 ${FILE.length + 1000}`) },
    });
    const size = await client.size('/a');
    const error = await rejection(collect(client, '/a', { size }));
    expect(error.kind).toBe('verify');
    expect(error.message).toMatch(/ended \/a at byte 100000 \(226 Transfer complete\.\) but SIZE said 101000/);
  });

  it('425 and 426 are clear reply errors', async () => {
    const { client } = await setup({
      files: { '/a': FILE },
      handlers: {
        RETR: async (ctx) => {
          if (ctx.arg === '/a') {
            ctx.reply("425 Can't open data connection.");
            await (await ctx.openData()).destroy();
            return;
          }
          ctx.reply('150 ok');
          const data = await ctx.openData();
          data.write(FILE.subarray(0, 1000));
          data.end();
          ctx.reply('426 Connection closed; transfer aborted.');
        },
      },
    });
    const e425 = await rejection(collect(client, '/a'));
    expect([e425.kind, e425.code]).toEqual(['reply', 425]);
    expect(e425.message).toMatch(/could not open the data connection/);
    const e426 = await rejection(collect(client, '/b'));
    expect([e426.kind, e426.code]).toEqual(['reply', 426]);
    expect(e426.message).toMatch(/aborted the data connection/);
    await client.noop();
  });

  it('421 at any time closes the client with a clear error', async () => {
    const { client } = await setup({
      handlers: { SIZE: (ctx) => { ctx.reply('421 Timeout.'); ctx.session.socket.end(); } },
    });
    const error = await rejection(client.size('/a'));
    expect([error.kind, error.code]).toEqual(['connection', 421]);
    expect(client.closed).toBe(true);
    const after = await rejection(client.noop());
    expect(after.code).toBe(421);
  });

  it('421 on connect (too many connections) is a connection error', async () => {
    const server = await ScriptedFtpServer.start({ handlers: { GREETING: (ctx) => ctx.reply('421 Too many connections.') } });
    servers.push(server);
    const error = await rejection(FtpClient.connect({ transport, host: '127.0.0.1', port: server.port, timeouts: TIMEOUTS }));
    expect([error.kind, error.code]).toEqual(['connection', 421]);
  });

  it('a silent server: greeting timeout; a refused port: connection error', async () => {
    const silent: Server = createServer(() => undefined);
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const port = (silent.address() as { port: number }).port;
    try {
      const error = await rejection(FtpClient.connect({ transport, host: '127.0.0.1', port, timeouts: TIMEOUTS }));
      expect(error.kind).toBe('timeout');
      expect(error.message).toMatch(/server greeting timed out after 600 ms/);
    } finally {
      silent.close();
    }
    const refused = await rejection(FtpClient.connect({ transport, host: '127.0.0.1', port, timeouts: TIMEOUTS }));
    expect(refused.kind).toBe('connection');
  });

  it('a file name with CR/LF is refused before anything is sent', async () => {
    const { client, server } = await setup({ files: { '/a': FILE } });
    const before = server.log.length;
    const error = await rejection(client.cd('a\r\nDELE /a'));
    expect(error.kind).toBe('usage');
    expect(server.log.length).toBe(before);
    expect(server.files.has('/a')).toBe(true);
  });
});
