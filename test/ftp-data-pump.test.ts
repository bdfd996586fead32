// receiveData over real loopback TCP: backpressure from a slow consumer, the idle timeout (which a slow consumer
// must not trigger), a connection lost midway, a range that stops early, abort; and a segmented download into
// /dev/null (no resume state, no read-back hash, but the byte count is checked).

import { afterEach, describe, expect, it } from 'vitest';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { DirectReceiver, receiveData } from '../src/ftp/data-pump.js';
import { FtpError } from '../src/ftp/errors.js';
import { FtpClient } from '../src/ftp/client.js';
import { NetTransport } from '../src/ftp/net-transport.js';
import { segmentedDownload } from '../src/ftp/segmented.js';
import { resumeStatePath } from '../src/ftp/resume-state.js';
import { ScriptedFtpServer } from './helpers/scripted-ftp-server.js';
import { serveBytes } from './helpers/byte-server.js';

let server: Server | undefined;
let ftp: ScriptedFtpServer | undefined;
afterEach(async () => {
  server?.close();
  server = undefined;
  await ftp?.close();
  ftp = undefined;
});

/** A connected pair: `serve` gets the server's end; resolves to the client's end. */
async function pair(serve: (socket: Socket) => void): Promise<Socket> {
  server = createServer((socket) => {
    socket.on('error', () => undefined); // the client side resets connections on purpose
    serve(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const client = connect(address.port, '127.0.0.1');
  await once(client, 'connect');
  return client;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function failure(promise: Promise<unknown>): Promise<FtpError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(FtpError);
    return error as FtpError;
  }
  throw new Error('expected a rejection');
}

describe('receiveData', () => {
  it('pauses for a consumer that returns a promise, and never calls it twice at once', async () => {
    const data = randomBytes(4 * 1024 * 1024);
    const socket = await pair((s) => s.end(data));
    const received: Buffer[] = [];
    let busy = false;
    let overlapped = false;
    let slowCalls = 0;
    const result = await receiveData(
      socket,
      (chunk) => {
        if (busy) overlapped = true;
        received.push(chunk);
        if (received.length % 8 !== 0) return undefined; // most chunks are queued without waiting
        busy = true;
        slowCalls++;
        return sleep(2).then(() => {
          busy = false;
        });
      },
      { overflowIsError: true, idleMs: 2000, limit: data.length },
    );
    expect(overlapped).toBe(false);
    expect(slowCalls).toBeGreaterThan(0);
    expect(result).toEqual({ bytes: data.length, stoppedEarly: false });
    expect(Buffer.concat(received).equals(data)).toBe(true);
  });

  it('times out a silent server, but not while the consumer holds the socket paused', async () => {
    const silent = await pair(() => undefined);
    const idle = await failure(receiveData(silent, () => undefined, { overflowIsError: true, idleMs: 150 }));
    expect(idle.kind).toBe('timeout');
    expect(idle.message).toMatch(/idle for 150 ms \(received 0 bytes\)/);
    expect(silent.destroyed).toBe(true);

    const slow = await pair((s) => s.end(Buffer.alloc(1000, 7)));
    const result = await receiveData(slow, () => sleep(400), { overflowIsError: true, idleMs: 150 });
    expect(result.bytes).toBe(1000);
  });

  it('reports a connection lost midway with the byte count', async () => {
    const socket = await pair((s) => {
      s.write(Buffer.alloc(70_000, 1), () => setTimeout(() => s.resetAndDestroy(), 20));
    });
    const error = await failure(receiveData(socket, () => undefined, { overflowIsError: true, idleMs: 2000 }));
    expect(error.kind).toBe('connection');
    expect(error.message).toMatch(/data connection failed after 70000 bytes/);
  });

  it('stops at a soft limit (a range end) and closes the socket; a hard limit is a protocol error', async () => {
    const data = randomBytes(300_000);
    const soft = await pair((s) => s.end(data));
    const chunks: Buffer[] = [];
    const result = await receiveData(soft, (chunk) => void chunks.push(chunk), { overflowIsError: false, idleMs: 2000, limit: 123_457 });
    expect(result).toEqual({ bytes: 123_457, stoppedEarly: true });
    expect(Buffer.concat(chunks).equals(data.subarray(0, 123_457))).toBe(true);
    expect(soft.destroyed).toBe(true);

    const hard = await pair((s) => s.end(data));
    const error = await failure(receiveData(hard, () => undefined, { overflowIsError: true, idleMs: 2000, limit: 1000 }));
    expect(error.kind).toBe('protocol');
    expect(error.message).toMatch(/more than the 1000 bytes expected/);
  });

  it('stops when the signal fires', async () => {
    const socket = await pair((s) => s.write(Buffer.alloc(10, 1)));
    const controller = new AbortController();
    const receiving = receiveData(socket, () => undefined, { overflowIsError: true, idleMs: 5000, signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const error = await failure(receiving);
    expect(error.kind).toBe('aborted');
    expect(socket.destroyed).toBe(true);
  });
});

describe('receiveData into a caller-owned buffer (NetTransport with `receive`)', () => {
  it('keeps what arrived before it took over, pauses for the consumer, and delivers every byte in order', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 5);
    server = createServer((s) => {
      s.on('error', () => undefined);
      s.end(data); // at once: some of it arrives before receiveData runs
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    const direct = new DirectReceiver(64 * 1024);
    const socket = await new NetTransport().connect({ host: '127.0.0.1', port: address.port, timeoutMs: 2000, receive: direct });
    let dataEvents = 0;
    socket.on('data', () => dataEvents++);
    await sleep(30);
    const copies: Buffer[] = [];
    let calls = 0;
    const result = await receiveData(
      socket,
      (chunk) => {
        copies.push(Buffer.from(chunk)); // a view of the reused buffer: copy it
        return ++calls % 5 === 0 ? sleep(1) : undefined;
      },
      { overflowIsError: true, idleMs: 2000, direct },
    );
    expect(result).toEqual({ bytes: data.length, stoppedEarly: false });
    expect(Buffer.concat(copies).equals(data)).toBe(true);
    expect(dataEvents).toBe(0);
    expect(copies.some((c) => c.length === 64 * 1024)).toBe(true);
  });

  it('a connection that ended before the reader took over: every byte, then the end', async () => {
    const data = randomBytes(3000);
    const served = await serveBytes(data);
    server = served.server;
    const direct = new DirectReceiver(1024);
    const socket = await new NetTransport().connect({ host: '127.0.0.1', port: served.port, timeoutMs: 2000, receive: direct });
    await once(socket, 'end'); // read through `direct`: the stream ends with nothing buffered, before any reader
    expect(socket.readableEnded).toBe(true);
    const copies: Buffer[] = [];
    const result = await receiveData(socket, (chunk) => void copies.push(Buffer.from(chunk)), { overflowIsError: true, idleMs: 2000, direct });
    expect(result).toEqual({ bytes: data.length, stoppedEarly: false });
    expect(Buffer.concat(copies).equals(data)).toBe(true);
  });

  it('reads where readInto says once the reader took over, and hands on views of those buffers', async () => {
    const data = randomBytes(2 * 1024 * 1024 + 7);
    const served = await serveBytes(data);
    server = served.server;
    const target = Buffer.alloc(data.length);
    let fill = 0;
    const direct = new DirectReceiver(4096, () => target.subarray(fill));
    const socket = await new NetTransport().connect({ host: '127.0.0.1', port: served.port, timeoutMs: 2000, receive: direct });
    let inPlace = 0;
    const result = await receiveData(socket, (chunk) => {
      if (chunk.buffer === target.buffer && chunk.byteOffset === target.byteOffset + fill) inPlace += chunk.length;
      else target.set(chunk, fill); // read before the reader took over, into the receiver's own buffer
      fill += chunk.length;
    }, { overflowIsError: true, idleMs: 2000, direct });
    expect(result).toEqual({ bytes: data.length, stoppedEarly: false });
    expect(target.equals(data)).toBe(true);
    expect(inPlace).toBeGreaterThan(data.length / 2);
  });

  it('one buffer shared by transfers in turn: a late read of the old receiver never reaches the new one', () => {
    const buffer = new Uint8Array(16);
    const old = new DirectReceiver(buffer);
    const seenByOld: string[] = [];
    old.take((length) => {
      seenByOld.push(Buffer.from(buffer.subarray(0, length)).toString());
      return true;
    });
    buffer.set(Buffer.from('first'));
    expect(old.onData(5, buffer)).toBe(true);
    old.release();
    const next = new DirectReceiver(buffer);
    expect(next.nextBuffer()).toBe(buffer);
    buffer.set(Buffer.from('stale'));
    old.onData(5, buffer); // a read the old connection still delivers: copied aside in the old receiver only
    buffer.set(Buffer.from('early'));
    next.onData(5, buffer); // the next connection's data before its reader took over
    const early = next.take(() => true);
    expect(early.map((chunk) => chunk.toString())).toEqual(['early']);
    expect(seenByOld).toEqual(['first']);
  });
});

describe('segmentedDownload into /dev/null', () => {
  it('fetches every byte over 3 connections, writes no resume state and reports no hash', async () => {
    const file = randomBytes(1_500_000);
    ftp = await ScriptedFtpServer.start({ files: { '/f.bin': file }, features: ['XSHA256'] });
    const port = ftp.port;
    const log: string[] = [];
    const result = await segmentedDownload({
      connect: async (signal) => {
        const client = await FtpClient.connect({ transport: new NetTransport(), host: '127.0.0.1', port, signal, keepaliveMs: 0 });
        await client.login();
        return client;
      },
      remotePath: '/f.bin',
      localPath: '/dev/null',
      segments: 3,
      minSegmentBytes: 100_000,
      stateIntervalMs: 5,
      log: (line) => log.push(line),
    });
    expect(result.size).toBe(file.length);
    expect(result.fetched).toBe(file.length);
    expect(result.connections).toBe(3);
    expect(result.sha256).toBeUndefined();
    expect(result.remoteHash).toBeUndefined();
    expect(log.join('\n')).toMatch(/not a regular file: the server's hash cannot be checked/);
    expect(existsSync(resumeStatePath('/dev/null'))).toBe(false);
  });
});
