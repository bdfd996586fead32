// FTPS (RFC 4217) against the scripted server: explicit and implicit, certificates verified by default, and data
// connections that must resume the control connection's TLS session (as vsftpd's require_ssl_reuse demands).

import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { FtpClient, type FtpClientOptions } from '../src/ftp/client.js';
import { NetTransport } from '../src/ftp/net-transport.js';
import { FtpError } from '../src/ftp/errors.js';
import { ScriptedFtpServer, type ScriptedServerOptions } from './helpers/scripted-ftp-server.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/ftps/${name}`, import.meta.url));
const ca = fixture('ca.pem');
const tls = { key: fixture('server-key.pem'), cert: fixture('server-cert.pem'), requireSessionReuse: true };
const FILE = randomBytes(200_000);
const transport = new NetTransport();
const servers: ScriptedFtpServer[] = [];
const clients: FtpClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  for (const server of servers.splice(0)) await server.close();
});

async function start(options: ScriptedServerOptions, clientOptions: Partial<FtpClientOptions>) {
  const server = await ScriptedFtpServer.start({ files: { '/a.bin': FILE }, ...options });
  servers.push(server);
  const log: string[] = [];
  const client = await FtpClient.connect({
    transport, host: '127.0.0.1', port: server.port, timeouts: { connectMs: 2000, replyMs: 2000, dataIdleMs: 2000 },
    log: (line) => log.push(line), ...clientOptions,
  });
  clients.push(client);
  await client.login();
  return { server, client, log };
}

async function roundTrip(client: FtpClient): Promise<void> {
  const chunks: Buffer[] = [];
  await client.download('/a.bin', (chunk) => void chunks.push(Buffer.from(chunk)), { size: FILE.length });
  expect(Buffer.concat(chunks).equals(FILE)).toBe(true);
  await client.upload(FILE.subarray(0, 50_000), '/up.bin');
  const back: Buffer[] = [];
  await client.download('/up.bin', (chunk) => void back.push(Buffer.from(chunk)));
  expect(Buffer.concat(back).equals(FILE.subarray(0, 50_000))).toBe(true);
  expect((await client.list('/')).entries.map((e) => e.name).sort()).toEqual(['a.bin', 'up.bin']);
}

describe('FTPS', () => {
  it('explicit (AUTH TLS, PBSZ 0, PROT P) with TLS 1.3 session reuse on every data connection', async () => {
    const { server, client, log } = await start({ tls }, { security: 'explicit', ca });
    expect(client.tlsSocket?.getProtocol()).toBe('TLSv1.3');
    await roundTrip(client);
    expect(server.verbs().slice(0, 5)).toEqual(['AUTH', 'USER', 'PASS', 'PBSZ', 'PROT']);
    expect(log.filter((line) => line.includes('did not resume'))).toEqual([]);
    expect(server.files.get('/up.bin')?.length).toBe(50_000); // the upload ended with a proper TLS close
  });

  it('explicit with TLS 1.2 session reuse', async () => {
    const { client } = await start({ tls: { ...tls, maxVersion: 'TLSv1.2' } }, { security: 'explicit', ca });
    expect(client.tlsSocket?.getProtocol()).toBe('TLSv1.2');
    await roundTrip(client);
  });

  it('implicit (TLS from the first byte)', async () => {
    const { client } = await start({ tls: { ...tls, implicit: true } }, { security: 'implicit', ca });
    expect(client.tlsSocket?.getProtocol()).toBe('TLSv1.3');
    await roundTrip(client);
  });

  it('verifies the certificate by default; `insecure` skips it', async () => {
    const server = await ScriptedFtpServer.start({ tls });
    servers.push(server);
    let error: unknown;
    try {
      await FtpClient.connect({ transport, host: '127.0.0.1', port: server.port, security: 'explicit', timeouts: { connectMs: 2000 } });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(FtpError);
    expect((error as FtpError).kind).toBe('connection');
    expect((error as FtpError).message).toMatch(/TLS handshake failed: .*(self-signed|unable to get local issuer|unable to verify)/i);
    const { client } = await start({ tls }, { security: 'explicit', insecure: true });
    await roundTrip(client);
  });

  it('a server that refuses TLS is an error, not a silent downgrade', async () => {
    const server = await ScriptedFtpServer.start({ handlers: { AUTH: (ctx) => ctx.reply('530 Please login with USER and PASS.') } });
    servers.push(server);
    let error: unknown;
    try {
      await FtpClient.connect({ transport, host: '127.0.0.1', port: server.port, security: 'explicit', ca });
    } catch (caught) {
      error = caught;
    }
    expect((error as FtpError).message).toMatch(/server refused TLS: 530/);
  });
});
