import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryWire, createStack, type MemoryWireOptions, type Stack, type StackLayout, type TcpServer, type TcpSocket } from '../src/main/index.js';

const open: Stack[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function pair(layout: StackLayout, wire: MemoryWireOptions = {}, socketBufferBytes?: number): Promise<[Stack, Stack]> {
  const [a, b] = createMemoryWire(wire);
  const A = await createStack({ link: a, address: '198.18.1.1/24', layout, socketBufferBytes });
  open.push(A);
  const B = await createStack({ link: b, address: '198.18.1.2/24', layout, socketBufferBytes });
  open.push(B);
  return [A, B];
}

function listen(server: TcpServer, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => resolve());
  });
}

/** Deterministic bytes: a counter run through a multiplier, so offsets are visible in any mismatch. */
function pattern(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = seed >>> 0;
  for (let i = 0; i < size; i += 4) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    b.writeUInt32LE(x, Math.min(i, size - 4) >= 0 ? Math.min(i, size - 4) : 0);
  }
  return b;
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Everything a socket receives until EOF, hashed on the way, with the byte count. */
function drain(socket: TcpSocket): Promise<{ bytes: number; sha256: string }> {
  const h = createHash('sha256');
  let bytes = 0;
  return new Promise((resolve, reject) => {
    socket.on('data', (d: Buffer) => {
      h.update(d);
      bytes += d.length;
    });
    socket.on('end', () => resolve({ bytes, sha256: h.digest('hex') }));
    socket.on('error', reject);
  });
}

/** Writes `size` bytes in 1 MiB pieces (respecting backpressure), then ends; returns the sha256 written. */
async function sendAll(socket: TcpSocket, size: number, seed: number): Promise<string> {
  const h = createHash('sha256');
  const piece = pattern(Math.min(size, 1 << 20), seed);
  for (let sent = 0; sent < size; ) {
    const n = Math.min(piece.length, size - sent);
    const chunk = piece.subarray(0, n);
    h.update(chunk);
    sent += n;
    if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r));
  }
  socket.end();
  return h.digest('hex');
}

/** Both directions at once over one connection; resolves with the four hashes. */
async function exchange(A: Stack, B: Stack, size: number, port: number): Promise<void> {
  const server = B.createServer({ allowHalfOpen: true });
  const accepted = new Promise<TcpSocket>((resolve) => server.once('connection', resolve));
  await listen(server, port);
  const client = A.connect({ host: '198.18.1.2', port, allowHalfOpen: true });
  const peer = await accepted;
  const [sentAB, sentBA, gotB, gotA] = await Promise.all([sendAll(client, size, 1), sendAll(peer, size, 2), drain(peer), drain(client)]);
  expect(gotB).toEqual({ bytes: size, sha256: sentAB });
  expect(gotA).toEqual({ bytes: size, sha256: sentBA });
  server.close();
}

describe('TCP over the memory wire', () => {
  for (const layout of ['single', 'rx+proto', 'three', 'inline'] as const) {
    it(`moves 16 MiB each way with equal sha256 (layout ${layout})`, async () => {
      const [A, B] = await pair(layout);
      await exchange(A, B, 16 << 20, 5001);
      // 'data' sockets too take received bytes straight from the frame when stage and socket share the thread.
      for (const stack of [A, B]) {
        const direct = (await stack.stats()).stages.proto?.tcpBytesToReaderDirect ?? 0;
        if (layout === 'inline') expect(direct).toBeGreaterThan(0);
        else expect(direct).toBe(0);
      }
    });
  }

  // Lossy runs under the virtual clock: retransmission timeouts cost no wall time.
  for (const [loss, reorder, duplicate] of [[0, 0, 0], [0.01, 0.1, 0.01], [0.05, 0.1, 0.01]]) {
    it(`moves 256 MiB each way at ${loss * 100} % loss, ${reorder * 100} % reorder, ${duplicate * 100} % duplication (virtual clock)`, async () => {
      const [A, B] = await pair('inline', { loss, reorder, duplicate, seed: 1234 });
      await exchange(A, B, 256 << 20, 5002);
      const sa = await A.stats();
      if (loss > 0) expect(sa.stages.proto.tcpRetransmittedSegments).toBeGreaterThan(0);
    }, 300_000);
  }

  it('refuses a connection to a closed port with ECONNREFUSED', async () => {
    const [A] = await pair('inline');
    const c = A.connect({ host: '198.18.1.2', port: 4242 });
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => c.once('error', resolve));
    expect(err.code).toBe('ECONNREFUSED');
  });

  it('reports EHOSTUNREACH when ARP finds nobody, and ENETUNREACH without a route', async () => {
    const [A] = await pair('inline');
    const lonely = A.connect({ host: '198.18.1.77', port: 80 });
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => lonely.once('error', resolve));
    expect(err.code).toBe('EHOSTUNREACH');
    const nowhere = A.connect({ host: '10.9.9.9', port: 80 });
    const err2 = await new Promise<NodeJS.ErrnoException>((resolve) => nowhere.once('error', resolve));
    expect(err2.code).toBe('ENETUNREACH');
  });

  it('half-closes both ways: each side keeps sending after the other ended', async () => {
    const [A, B] = await pair('inline');
    const server = B.createServer({ allowHalfOpen: true }, (s) => {
      s.on('end', () => {
        s.write('late reply after your FIN');
        s.end();
      });
      s.resume();
    });
    await listen(server, 7000);
    const c = A.connect({ host: '198.18.1.2', port: 7000, allowHalfOpen: true });
    c.end('request');
    let reply = '';
    c.on('data', (d) => (reply += d));
    await new Promise((r) => c.on('end', r));
    expect(reply).toBe('late reply after your FIN');
  });

  it('a slow reader closes the window and loses nothing', async () => {
    const [A, B] = await pair('inline', {}, 256 << 10);
    const server = B.createServer();
    const accepted = new Promise<TcpSocket>((resolve) => server.once('connection', resolve));
    await listen(server, 7001);
    const c = A.connect({ host: '198.18.1.2', port: 7001 });
    const size = 4 << 20; // 16 × the 256 KiB receive ring
    const sent = sendAll(c, size, 9);
    const peer = await accepted;
    peer.pause();
    await new Promise((r) => A.clock.setTimer(30_000, () => r(undefined))); // 30 s of virtual time, nobody reading
    const info = await c.getInfo();
    expect(info?.sndWnd).toBe(0);
    const got = drain(peer);
    peer.resume();
    expect((await got).sha256).toBe(await sent);
    expect((await A.stats()).stages.proto.tcpWindowProbes).toBeGreaterThan(0);
  });

  it('SO_RCVBUF bounds what a connection holds unread (its SYN included), SO_SNDBUF what waits to be acknowledged', async () => {
    const [A, B] = await pair('inline');
    const RCVBUF = 20_000, SNDBUF = 30_000, SIZE = 1 << 20;
    const server = B.createServer({ allowHalfOpen: true });
    const accepted = new Promise<TcpSocket>((resolve) => server.once('connection', resolve));
    await listen(server, 7004);
    const c = A.connect({ host: '198.18.1.2', port: 7004, allowHalfOpen: true });
    expect(c.getsockopt('SO_RCVBUF')).toBe(4 << 20); // unset: the most auto-tuning may offer, the ring
    c.setsockopt('SO_RCVBUF', RCVBUF); // before the connection has a slot: it must go with the SYN
    c.setsockopt('SO_SNDBUF', SNDBUF);
    expect([c.getsockopt('SO_RCVBUF'), c.getsockopt('SO_SNDBUF')]).toEqual([RCVBUF, SNDBUF]);
    expect(() => c.setsockopt('SO_SNDBUF', -1)).toThrow(RangeError);
    const peer = await accepted;
    peer.setsockopt('SO_RCVBUF', RCVBUF); // after the handshake: B may still take what its SYN-ACK offered
    // Both ways at once, nobody reading on either side yet.
    const sentToA = sendAll(peer, SIZE, 11);
    const sentToB = sendAll(c, SIZE, 12);
    await new Promise((r) => A.clock.setTimer(30_000, () => r(undefined)));
    const [infoA, infoB] = [await c.getInfo(), await peer.getInfo()];
    // A's ring holds what A received minus what its stream already pulled: never more than SO_RCVBUF.
    expect(infoA!.bytesReceived - c.readableLength).toBeLessThanOrEqual(RCVBUF);
    expect(infoA!.bytesReceived).toBeLessThan(SIZE / 4);
    expect(infoB!.sndWnd).toBe(0);
    // A's send ring holds written but unacknowledged bytes: never more than SO_SNDBUF.
    expect(infoA!.bytesAcked).toBeLessThanOrEqual(65_535 + RCVBUF);
    expect(c.bytesWritten - infoA!.bytesAcked).toBeLessThanOrEqual(SNDBUF);
    expect(c.bytesWritten).toBeLessThan(SIZE / 4);
    // Lifting the limits lets everything through, intact.
    c.setsockopt('SO_RCVBUF', 4 << 20);
    c.setsockopt('SO_SNDBUF', 4 << 20);
    peer.setsockopt('SO_RCVBUF', 4 << 20);
    const [gotA, gotB] = await Promise.all([drain(c), drain(peer)]);
    expect(gotA).toEqual({ bytes: SIZE, sha256: await sentToA });
    expect(gotB).toEqual({ bytes: SIZE, sha256: await sentToB });
  });

  it('a small SO_RCVBUF still carries a stream through: the window reopens as the application reads', async () => {
    const [A, B] = await pair('inline');
    const SIZE = 2 << 20;
    const server = B.createServer((s) => void sendAll(s, SIZE, 31).then((h) => (sentHash = h)));
    let sentHash = '';
    await listen(server, 7006);
    const c = A.connect({ host: '198.18.1.2', port: 7006 });
    c.setsockopt('SO_RCVBUF', 16_384);
    const got = await drain(c);
    expect(got).toEqual({ bytes: SIZE, sha256: sentHash });
    // Never more than 16 KiB in flight towards us, so at least 128 segments (TSO would send 64 KiB ones otherwise).
    expect((await A.stats()).stages.proto?.tcpSegmentsIn).toBeGreaterThanOrEqual(SIZE / 16_384);
  });

  it('a small SO_SNDBUF still carries a stream through: room reopens as ACKs arrive', async () => {
    const [A, B] = await pair('inline');
    const SIZE = 2 << 20;
    const server = B.createServer({ allowHalfOpen: true });
    const accepted = new Promise<TcpSocket>((resolve) => server.once('connection', resolve));
    await listen(server, 7007);
    const c = A.connect({ host: '198.18.1.2', port: 7007, allowHalfOpen: true });
    c.setsockopt('SO_SNDBUF', 16_384);
    const sent = sendAll(c, SIZE, 41);
    expect(await drain(await accepted)).toEqual({ bytes: SIZE, sha256: await sent });
  });

  it('onread (as net.connect): reads land in one caller buffer, no data events; pausing from the callback loses nothing', async () => {
    const [A, B] = await pair('inline');
    const SIZE = 3 << 20;
    const server = B.createServer((s) => void sendAll(s, SIZE, 21).then((h) => (sentHash = h)));
    let sentHash = '';
    await listen(server, 7005);
    const buffer = new Uint8Array(10_000);
    const h = createHash('sha256');
    let received = 0, calls = 0, dataEvents = 0, pauses = 0;
    const c = A.connect({
      host: '198.18.1.2', port: 7005,
      onread: {
        buffer,
        callback: (n, b) => {
          expect(b).toBe(buffer);
          h.update(b.subarray(0, n));
          received += n;
          calls++;
          if (calls % 50 !== 0) return true;
          pauses++;
          A.clock.setTimer(5, () => c.resume()); // the reader stalls now and then
          return false;
        },
      },
    });
    c.on('data', () => dataEvents++);
    await new Promise((r) => c.once('end', r));
    expect(received).toBe(SIZE);
    expect(h.digest('hex')).toBe(sentHash);
    expect(dataEvents).toBe(0);
    expect(calls).toBeGreaterThanOrEqual(SIZE / buffer.length);
    expect(pauses).toBeGreaterThan(0);
    expect(c.bytesRead).toBe(SIZE);
  });

  it.each(['inline', 'single'] as const)(
    'onread with a buffer function (%s): bytes reach the caller\'s buffer in order, straight from the frame when the stage shares the thread',
    async (layout) => {
      const [A, B] = await pair(layout, {}, 128 * 1024); // a window the stalls fill in part, not the whole file
      const SIZE = 4 << 20;
      let sentHash = '';
      const server = B.createServer((s) => void sendAll(s, SIZE, 33).then((h) => (sentHash = h)));
      await listen(server, 7006);
      // A writer's staging area, as PositionedWriter.space(): each read goes after the bytes accepted so far.
      const staging = new Uint8Array(96 * 1024);
      let fill = 0, offered: Uint8Array | null = null, received = 0, calls = 0;
      const h = createHash('sha256');
      const c = A.connect({
        host: '198.18.1.2', port: 7006,
        onread: {
          buffer: () => {
            if (fill === staging.length) fill = 0;
            offered = staging.subarray(fill);
            return offered;
          },
          callback: (n, b) => {
            expect(b).toBe(offered); // the buffer the function gave, whichever path filled it
            h.update(b.subarray(0, n));
            fill += n;
            received += n;
            if (++calls % 25 !== 0) return true;
            A.clock.setTimer(3, () => c.resume()); // stalls now and then: bytes queue in the ring meanwhile
            return false;
          },
        },
      });
      await new Promise((r) => c.once('end', r));
      expect(received).toBe(SIZE);
      expect(h.digest('hex')).toBe(sentHash);
      const direct = (await A.stats()).stages.proto?.tcpBytesToReaderDirect ?? 0;
      if (layout === 'inline') {
        expect(direct).toBeGreaterThan(SIZE / 8); // 1.9 MB measured
        expect(direct).toBeLessThan(SIZE); // what came during a stall, or past the offered buffer, went through the ring
      } else {
        expect(direct).toBe(0); // the stage runs on another thread: every byte goes through the ring
      }
    },
  );

  it('onread whose buffer function throws: that socket fails with the error, the stack goes on', async () => {
    const [A, B] = await pair('inline');
    const server = B.createServer((s) => {
      s.on('error', () => undefined); // the failed reader's close resets the first connection (unread bytes)
      s.end(pattern(1 << 20, 5));
    });
    await listen(server, 7008);
    let calls = 0;
    const c = A.connect({
      host: '198.18.1.2', port: 7008,
      onread: {
        buffer: () => {
          if (++calls > 3) throw new Error('no buffer for you');
          return new Uint8Array(4096);
        },
        callback: () => true,
      },
    });
    const err = await new Promise<Error>((resolve) => c.once('error', resolve));
    expect(err.message).toBe('no buffer for you');
    const again = A.connect({ host: '198.18.1.2', port: 7008 });
    expect(await drain(again)).toEqual({ bytes: 1 << 20, sha256: sha256(pattern(1 << 20, 5)) });
  });

  it('runs 1 000 sequential connect/transfer/close cycles and 200 concurrent connections', async () => {
    const [A, B] = await pair('inline');
    const server = B.createServer((s) => s.pipe(s)); // echo
    await listen(server, 7002);
    const roundTrip = (i: number): Promise<string> => new Promise((resolve, reject) => {
      const c = A.connect({ host: '198.18.1.2', port: 7002 });
      let got = '';
      c.on('data', (d) => (got += d));
      c.on('end', () => resolve(got));
      c.on('error', reject);
      c.end(`cycle ${i}`);
    });
    for (let i = 0; i < 1000; i++) expect(await roundTrip(i)).toBe(`cycle ${i}`);
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => roundTrip(10_000 + i)));
    results.forEach((r, i) => expect(r).toBe(`cycle ${10_000 + i}`));
  }, 120_000);

  it('keeps TIME-WAIT for 2·MSL on the side that closed first, then forgets the connection', async () => {
    const [A, B] = await pair('inline');
    const server = B.createServer((s) => s.resume());
    await listen(server, 7003);
    const c = A.connect({ host: '198.18.1.2', port: 7003 });
    await new Promise((r) => c.on('connect', r));
    c.end();
    c.resume();
    await new Promise((r) => c.on('close', r));
    await new Promise((r) => A.clock.setTimer(1000, () => r(undefined)));
    expect((await A.stats()).stages.proto.tcpConnections).toBe(1); // TIME-WAIT (RFC 9293 §3.6.1)
    expect((await B.stats()).stages.proto.tcpConnections).toBe(0); // the passive closer is done after LAST-ACK
    await new Promise((r) => A.clock.setTimer(60_000, () => r(undefined))); // 2·MSL with MSL = 30 s
    expect((await A.stats()).stages.proto.tcpConnections).toBe(0);
  });

  it('keepalive detects a dead peer (ETIMEDOUT)', async () => {
    const [A, B] = await pair('inline');
    const server = B.createServer((s) => s.resume());
    await listen(server, 7004);
    const c = A.connect({ host: '198.18.1.2', port: 7004 });
    await new Promise((r) => c.on('connect', r));
    c.setKeepAlive(true, 10_000);
    await B.close(); // the peer vanishes without a word
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => c.once('error', resolve));
    expect(err.code).toBe('ETIMEDOUT');
    expect((await A.stats()).stages.proto.tcpKeepaliveProbes).toBeGreaterThan(0);
  });
});
