import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FtpClient } from '../src/ftp/client.js';
import { NetTransport } from '../src/ftp/net-transport.js';
import { FtpError } from '../src/ftp/errors.js';
import { segmentedDownload, type SegmentedDownloadOptions } from '../src/ftp/segmented.js';
import { resumeStatePath } from '../src/ftp/resume-state.js';
import { ScriptedFtpServer, type ScriptedServerOptions } from './helpers/scripted-ftp-server.js';
import { rejection } from './helpers/ftp-assertions.js';

const FILE = randomBytes(2 * 1024 * 1024 + 12345);
const SHA = createHash('sha256').update(FILE).digest('hex');
const transport = new NetTransport();
let dir: string;
let server: ScriptedFtpServer | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ringstack-seg-'));
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  await rm(dir, { recursive: true, force: true });
});

async function run(serverOptions: ScriptedServerOptions, options: Partial<SegmentedDownloadOptions> = {}) {
  server ??= await ScriptedFtpServer.start({ files: { '/big.bin': FILE }, ...serverOptions });
  const port = server.port;
  const log: string[] = [];
  const result = await segmentedDownload({
    connect: async (signal) => {
      const client = await FtpClient.connect({
        transport, host: '127.0.0.1', port, signal, keepaliveMs: 0,
        timeouts: { connectMs: 2000, replyMs: 2000, dataIdleMs: 2000 },
      });
      try {
        await client.login();
      } catch (error) {
        client.destroy();
        throw error;
      }
      return client;
    },
    remotePath: '/big.bin',
    localPath: join(dir, 'big.bin'),
    segments: 4,
    minSegmentBytes: 128 * 1024,
    retryDelayMs: 20,
    log: (line) => log.push(line),
    ...options,
  });
  return { result, log };
}

describe('segmentedDownload', () => {
  it('splits a file over 4 connections and reassembles it exactly', async () => {
    let lastProgress = 0;
    const { result } = await run({ chunkSize: 16 * 1024 }, { onProgress: (done, total) => {
      expect(done).toBeGreaterThanOrEqual(lastProgress);
      expect(total).toBe(FILE.length);
      lastProgress = done;
    } });
    expect(result.connections).toBe(4);
    expect(result.sha256).toBe(SHA);
    expect(result.fetched).toBe(FILE.length);
    expect(lastProgress).toBe(FILE.length);
    expect((await readFile(join(dir, 'big.bin'))).equals(FILE)).toBe(true);
    expect(existsSync(resumeStatePath(join(dir, 'big.bin')))).toBe(false);
    const rests = server?.log.filter((line) => line.includes(' REST ')) ?? [];
    expect(rests.length).toBeGreaterThanOrEqual(3);
  });

  it('does not split a small file', async () => {
    const small = randomBytes(100_000);
    server = await ScriptedFtpServer.start({ files: { '/big.bin': small } });
    const { result } = await run({});
    expect([result.connections, result.ranges]).toEqual([1, 1]);
    expect((await readFile(join(dir, 'big.bin'))).equals(small)).toBe(true);
    expect(server.totalSessions).toBe(1);
  });

  it('downloads into a character device (/dev/null): every byte taken, no hash, no state file', async () => {
    const { result } = await run({ chunkSize: 16 * 1024 }, { localPath: '/dev/null' });
    expect(result.fetched).toBe(FILE.length);
    expect(result.connections).toBe(4);
    expect(result.sha256).toBeUndefined();
    expect(existsSync(resumeStatePath('/dev/null'))).toBe(false);
  });

  it('handles an empty file', async () => {
    server = await ScriptedFtpServer.start({ files: { '/big.bin': Buffer.alloc(0) } });
    const { result } = await run({});
    expect(result.size).toBe(0);
    expect((await stat(join(dir, 'big.bin'))).size).toBe(0);
  });

  it('"421 too many connections" lowers N and finishes', async () => {
    const { result, log } = await run({ maxSessions: 2, chunkSize: 16 * 1024, chunkDelayMs: 1 });
    expect(result.sha256).toBe(SHA);
    expect(log.some((line) => /421 Too many connections.*continuing with/.test(line))).toBe(true);
  });

  it('a data connection killed midway is retried with REST from the last written byte', async () => {
    let killed = 0;
    const { result, log } = await run({
      chunkSize: 32 * 1024,
      handlers: {
        RETR: async (ctx) => {
          if (killed >= 2) return ctx.standard();
          killed++;
          const offset = ctx.session.restOffset;
          ctx.session.restOffset = 0;
          ctx.reply('150 ok');
          const data = await ctx.openData();
          data.write(FILE.subarray(offset, offset + 100_000));
          await new Promise((r) => setTimeout(r, 20));
          data.destroy();
          ctx.reply('426 Failure writing network stream.');
        },
      },
    }, { segments: 1 });
    expect(result.retries).toBe(2);
    expect(result.sha256).toBe(SHA);
    expect(log.some((line) => /426.*retry 1\/5 in 20 ms from byte 100000/.test(line))).toBe(true);
    expect(server?.log.some((line) => line.endsWith('REST 200000'))).toBe(true);
  });

  it('keeps the partial file and state when aborted, and resumes from them', async () => {
    const controller = new AbortController();
    const first = run({ chunkSize: 16 * 1024, chunkDelayMs: 2 }, {
      signal: controller.signal,
      onProgress: (done) => {
        if (done > FILE.length / 3) controller.abort();
      },
    });
    const error = await rejection(first);
    expect(error.kind).toBe('aborted');
    const state = JSON.parse(await readFile(resumeStatePath(join(dir, 'big.bin')), 'utf8')) as { remaining: { start: number; end: number }[] };
    const missing = state.remaining.reduce((sum, r) => sum + r.end - r.start, 0);
    expect(missing).toBeGreaterThan(0);
    expect(missing).toBeLessThan(FILE.length);
    // The bytes the state says are present really are.
    const partial = await readFile(join(dir, 'big.bin'));
    let position = 0;
    for (const range of [...state.remaining].sort((a, b) => a.start - b.start)) {
      expect(partial.subarray(position, range.start).equals(FILE.subarray(position, range.start))).toBe(true);
      position = range.end;
    }
    server!.options = { ...server!.options, chunkDelayMs: 0 };
    const { result, log } = await run({});
    expect(log.some((line) => line.startsWith('resuming:'))).toBe(true);
    expect(result.resumedBytes).toBe(FILE.length - missing);
    expect(result.fetched).toBe(missing);
    expect(result.sha256).toBe(SHA);
    expect(existsSync(resumeStatePath(join(dir, 'big.bin')))).toBe(false);
  });

  it('starts over when the remote file changed since the state was written', async () => {
    const controller = new AbortController();
    await rejection(run({ chunkSize: 16 * 1024, chunkDelayMs: 2 }, {
      signal: controller.signal, onProgress: (done) => done > 100_000 && controller.abort(),
    }));
    const changed = randomBytes(FILE.length + 1);
    server!.files.set('/big.bin', changed);
    const { result, log } = await run({});
    expect(log.some((line) => line.includes('does not match'))).toBe(true);
    expect(result.resumedBytes).toBe(0);
    expect((await readFile(join(dir, 'big.bin'))).equals(changed)).toBe(true);
  });

  it('verifies the server hash when offered (XSHA256), and fails on a mismatch', async () => {
    let hash = SHA;
    const features = ['EPSV', 'SIZE', 'MDTM', 'REST STREAM', 'XSHA256'];
    const handlers = { XSHA256: (ctx: { reply(text: string): void }) => ctx.reply(`213 ${hash}`) };
    const { result } = await run({ features, handlers });
    expect(result.remoteHash).toEqual({ algorithm: 'sha256', hex: SHA });
    hash = 'ab'.repeat(32);
    const error = await rejection(run({ features, handlers }));
    expect(error.kind).toBe('verify');
    expect(error.message).toMatch(/the server says abab/);
  });

  it('never reports success when the server sends fewer bytes than SIZE', async () => {
    const error = await rejection(run({ handlers: { SIZE: (ctx) => ctx.reply(`213 ${FILE.length + 10}`) } }, { segments: 1, maxRetries: 1 }));
    expect(error.kind).toBe('verify');
    expect(existsSync(resumeStatePath(join(dir, 'big.bin')))).toBe(true);
  });

  it('fails clearly for a missing file, writing nothing', async () => {
    const error = await rejection(run({}, { remotePath: '/nope' }));
    expect([error.kind, error.code]).toEqual(['reply', 550]);
    expect(existsSync(join(dir, 'big.bin'))).toBe(false);
  });
});
