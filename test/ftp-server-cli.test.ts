// `ringstack serve` in-process: usage errors, the transport message, and a served session end to end (listening
// line, a download by our client, Ctrl-C stops it with exit 0 and the counters).

import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT, commands, runCli } from '../src/main/cli.js';
import { FtpClient } from '../src/ftp/client.js';
import { NetTransport } from '../src/ftp/net-transport.js';

function io(signal = new AbortController().signal) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return { io: { stdout, stderr, signal }, out: () => out, err: () => err };
}

describe('ringstack serve', () => {
  it('is in the command table; without --kernel it asks for the stack to serve on (--link, --ip), exit 2', async () => {
    expect(Object.keys(commands)).toContain('serve');
    const run = io();
    expect(await runCli(['serve', '/tmp'], run.io)).toBe(EXIT.usage);
    expect(run.err()).toMatch(/without --kernel the FTP commands run on our stack: give --link and --ip/);
  });

  it('refuses bad options with exit 2 and a missing directory with a clear message', async () => {
    for (const args of [['--port', '70000'], ['--user', 'nopassword'], ['--tls-cert', 'x.pem'], ['--max-per-ip', '0']]) {
      const run = io();
      expect(await runCli(['serve', '/tmp', '--kernel', ...args], run.io), args.join(' ')).toBe(EXIT.usage);
    }
    const run = io();
    expect(await runCli(['serve', '/nonexistent/dir', '--kernel', '--port', '0'], run.io)).toBe(EXIT.connection);
    expect(run.err()).toMatch(/root directory \/nonexistent\/dir/);
  });

  it('serves until interrupted, then exits 0 with its counters', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ringstack-serve-cli-'));
    try {
      await writeFile(join(dir, 'hello.txt'), 'hello over FTP\n');
      const stop = new AbortController();
      const run = io(stop.signal);
      const exit = runCli(['serve', dir, '--kernel', '--port', '0', '--json', '--user', 'bob:pw:with:colons'], run.io);
      for (let i = 0; i < 200 && !run.out().includes('\n'); i++) await new Promise((r) => setTimeout(r, 10));
      const listening = JSON.parse(run.out().split('\n')[0]) as { event: string; host: string; port: number };
      expect(listening).toMatchObject({ event: 'listening', host: '127.0.0.1' });
      expect(run.err()).toMatch(new RegExp(`listening on 127\\.0\\.0\\.1:${listening.port} .*transport kernel`));
      const client = await FtpClient.connect({ transport: new NetTransport(), host: '127.0.0.1', port: listening.port, timeouts: { connectMs: 2000, replyMs: 2000, dataIdleMs: 2000 } });
      await client.login({ user: 'bob', password: 'pw:with:colons' });
      const chunks: Buffer[] = [];
      await client.download('hello.txt', (chunk) => void chunks.push(Buffer.from(chunk)));
      expect(Buffer.concat(chunks).toString()).toBe('hello over FTP\n');
      stop.abort();
      expect(await exit).toBe(EXIT.ok);
      client.destroy();
      const closed = JSON.parse(run.out().trim().split('\n')[1]) as { event: string; counters: Record<string, number> };
      expect(closed).toMatchObject({ event: 'closed', counters: { sessionsAccepted: 1, transfersCompleted: 1, bytesSent: 15 } });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
