// What the TCP fast-path work (docs/PERFORMANCE.md, "TCP over the memory wire") relies on: both ends of a
// connection size their segments from the link's MTU, and bulk data over a jumbo link arrives intact.
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryWire, createStack, type MemoryWireOptions, type Stack, type TcpSocket } from '../src/main/index.js';
import type { TcpConnection } from '../src/workers/tcp/connection.js';
import type { TcpOutput } from '../src/workers/tcp/types.js';
import { ADDR_A, ADDR_B, provider, rings, Simulation, Sink, Source } from './tcp-sim.js';
import { ByteRing } from '../src/shared-ring/index.js';
import { createTcpRepr, TCP_SYN } from '../src/wire/index.js';
import { AppCommand, createAppRecord } from '../src/workers/app-protocol.js';
import { TcpSocketLayer, type SocketLayerHost } from '../src/workers/tcp/socket-layer.js';
import type { TcpSegmentOut } from '../src/workers/tcp/types.js';
import { initialWindowClamp } from '../src/workers/tcp/rcv.js';

const open: Stack[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function pair(mtu: number, wire: MemoryWireOptions = {}): Promise<[Stack, Stack]> {
  const [a, b] = createMemoryWire({ mtu, ...wire });
  const A = await createStack({ link: a, address: '198.18.1.1/24', layout: 'inline' });
  open.push(A);
  const B = await createStack({ link: b, address: '198.18.1.2/24', layout: 'inline' });
  open.push(B);
  return [A, B];
}

async function connected(A: Stack, B: Stack, port: number): Promise<[TcpSocket, TcpSocket]> {
  const accepted = new Promise<TcpSocket>((resolve) => {
    const server = B.createServer((s) => resolve(s));
    server.listen(port);
  });
  const client = A.connect({ host: '198.18.1.2', port });
  await new Promise((r) => client.once('connect', r));
  return [client, await accepted];
}

describe('TCP segment size from the route', () => {
  for (const mtu of [1500, 9000, 65535]) {
    it(`MTU ${mtu}: the active and the passive end both send MSS = MTU − 40 − 12 (timestamps)`, async () => {
      const [A, B] = await pair(mtu);
      const [client, server] = await connected(A, B, 7000);
      const [ci, si] = await Promise.all([client.getInfo(), server.getInfo()]);
      // Each side's MSS option came from its own interface (RFC 9293 §3.7.1), not from a fixed default.
      expect(ci?.rcvMss).toBe(mtu - 40);
      expect(si?.rcvMss).toBe(mtu - 40);
      expect(ci?.sndMss).toBe(mtu - 40 - 12);
      expect(si?.sndMss).toBe(mtu - 40 - 12);
      client.destroy();
      server.destroy();
    });
  }

  it('MTU 65535: 24 MiB each way in segments of ~64 KiB arrive intact', async () => {
    const [A, B] = await pair(65535);
    const [client, server] = await connected(A, B, 7001);
    const size = 24 << 20;
    const data = Buffer.allocUnsafe(size);
    for (let i = 0; i < size; i += 4) data.writeUInt32LE(Math.imul(i, 2654435761) >>> 0, i);
    const digest = createHash('sha256').update(data).digest('hex');
    const collect = (s: TcpSocket): Promise<string> => new Promise((resolve, reject) => {
      const h = createHash('sha256');
      s.on('data', (d: Buffer) => h.update(d));
      s.on('end', () => resolve(h.digest('hex')));
      s.on('error', reject);
    });
    const atServer = collect(server);
    const atClient = collect(client);
    // Odd-sized writes: segment boundaries fall at every alignment of the rings.
    for (let off = 0; off < size; off += 777_777) {
      client.write(data.subarray(off, Math.min(size, off + 777_777)));
      server.write(data.subarray(off, Math.min(size, off + 777_777)));
    }
    client.end();
    server.end();
    expect(await atServer).toBe(digest);
    expect(await atClient).toBe(digest);
    const info = await A.stats();
    const out = info.stages.tx?.framesOut ?? info.stages.proto?.ipOut;
    // ~24 MiB in ≤ 64 KiB frames: a few hundred frames, not the ~17 000 of 1448-byte segments.
    expect(out).toBeLessThan(2000);
  }, 60_000);

  it('64 connections at once to a listening server: none waits for a socket-buffer slot (no deferred handshake)', async () => {
    const [A, B] = await pair(1500);
    const server = B.createServer((s) => {
      s.on('data', (d: Buffer) => s.end(d));
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(7002, () => r()));
    const round = (): Promise<unknown> => Promise.all(Array.from({ length: 64 }, () => new Promise<void>((resolve, reject) => {
      const c = A.connect({ host: '198.18.1.2', port: 7002 });
      c.on('error', reject);
      c.on('data', () => undefined);
      c.on('close', () => resolve());
      c.end('x');
    })));
    await round(); // the first burst may find the pool still registering its slots with the stage
    const deferred = async (): Promise<number> => Number((await B.stats()).stages.proto?.tcpHandshakeDeferred ?? 0);
    const before = await deferred();
    await round();
    // Lent slots cover a burst of 64: a deferred handshake costs the client a SYN-ACK retransmission (1 s).
    expect(await deferred()).toBe(before);
    server.close();
  });
});

describe('the protocol stage on the memory wire itself', () => {
  async function transfer(A: Stack, B: Stack, port: number): Promise<void> {
    const [client, server] = await connected(A, B, port);
    const data = Buffer.alloc(3 << 20);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + (i >> 9)) & 0xff;
    const got: Buffer[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      server.on('data', (d: Buffer) => got.push(d));
      server.on('end', () => resolve());
      server.on('error', reject);
    });
    client.end(data);
    await ended;
    expect(Buffer.concat(got).equals(data)).toBe(true);
    client.destroy();
    server.destroy();
  }

  it('with all stages in one thread, frames skip the rx and tx stages (their counters stay 0); data intact', async () => {
    const [A, B] = await pair(9000);
    await transfer(A, B, 7003);
    for (const stack of [A, B]) {
      const { stages } = await stack.stats();
      // B takes 3 MiB in ≥ 48 super-segments (TSO on the wire, ≤ 64 KiB each); A takes B's ACKs.
      expect(stages.proto?.tcpIn).toBeGreaterThan(stack === B ? 40 : 10);
      expect(stages.rx?.framesIn ?? 0).toBe(0); // loopback is the only interface left to the rx stage
      expect(stages.tx?.framesOut ?? 0).toBe(0);
    }
  });

  it('with a fault injector on the wire, frames still pass it through the rx and tx stages', async () => {
    const [A, B] = await pair(9000, { loss: 0.01, seed: 3 });
    await transfer(A, B, 7004);
    const { stages } = await A.stats();
    expect(stages.tx?.framesOut).toBeGreaterThan(300);
    expect(stages.tx?.['if1.txFaultDropped']).toBeGreaterThan(0); // ~1 % of ~350 frames
  });
});

describe('segments cut for word-aligned copies (TcpOutput.textPhase)', () => {
  for (const mtu of [1500, 9001]) {
    it(`MTU ${mtu}: every segment after the first starts at the output's text phase in the send ring; data intact`, () => {
      const sim = new Simulation(5, { mtu });
      const textPhase = (headerLength: number): number => (18 + 14 + 20 + headerLength) & 7;
      (sim.a.output as TcpOutput).textPhase = textPhase;
      const listener = sim.b.listen({ port: 80, buffers: provider(), backlog: 4 });
      const client = sim.a.connect(sim.now, { localAddr: ADDR_A, remoteAddr: ADDR_B, remotePort: 80, ...rings() });
      let server: TcpConnection | null = null;
      sim.run(() => (server ??= sim.b.accept(listener)) !== null && sim.eventsA.has('connected', client), 5000);
      const accepted = server as unknown as TcpConnection;
      const firstByte = (client.iss + 1) >>> 0; // the send ring starts at position 0: stream offset = address − 256
      const starts: number[] = [];
      const lengths: number[] = [];
      sim.tap = (frame) => {
        if (frame.src === ADDR_A && frame.payload.length > 0) {
          starts.push(((frame.tcp.seq - firstByte) >>> 0) & 7);
          lengths.push(frame.payload.length);
        }
        return true;
      };
      const bytes = 4 << 20;
      const source = new Source(9, bytes);
      const sink = new Sink();
      sim.pumps.push(() => {
        if (source.fill(client.sendBuffer!) > 0) sim.a.onSendBufferWritten(sim.now, client);
        if (source.produced === bytes && !client.finRequested) sim.a.shutdown(sim.now, client);
        if (sink.drain(accepted.receiveBuffer!) > 0) sim.b.onReceiveBufferRead(sim.now, accepted);
      });
      expect(sim.run(() => sink.received === bytes && sim.eventsB.has('eof', accepted), 600_000)).toBe(true);
      expect(sink.digest()).toBe(source.digest());
      const phase = textPhase(32); // timestamps on, no SACK blocks without loss
      expect(starts.length).toBeGreaterThan(100);
      expect(starts.slice(1).every((s) => s === phase)).toBe(true);
      // A cut costs at most 7 bytes: nearly all segments are within 7 bytes of the MSS (the rest are the partial
      // ones sent when the sender had no more queued), none above it.
      const smss = sim.a.info(client).sndMss;
      const nearlyFull = lengths.filter((n) => n >= smss - 7 && n <= smss).length;
      expect(nearlyFull / lengths.length).toBeGreaterThan(0.9);
      expect(Math.max(...lengths)).toBeLessThanOrEqual(smss);
    });
  }
});

describe('window scale of a passive open', () => {
  it('a SYN that finds no lent slot is answered with the scale of the slots the app registered, not of 64 KiB', () => {
    const sent: { flags: number; windowScale: number }[] = [];
    const host: SocketLayerHost = {
      sendTcpSegment: (seg: TcpSegmentOut) => {
        sent.push({ flags: seg.flags, windowScale: seg.windowScale });
        return true;
      },
      routeTo: () => ({ source: ADDR_B, mtu: 1500 }),
      emit: () => undefined,
    };
    const layer = new TcpSocketLayer(host);
    const channel = { id: 1 };
    // 256 KiB rings registered, none lent for accepts yet (the app lends them after 'listening').
    layer.attachSlots(channel, 0, [[ByteRing.create(256 << 10).buffer as SharedArrayBuffer, ByteRing.create(256 << 10).buffer as SharedArrayBuffer]]);
    const listen = { ...createAppRecord(), op: AppCommand.TcpListen, id: 7, address: 0, port: 80, value: 16 };
    layer.command(channel, listen, 0, new Uint8Array(0));
    const syn = createTcpRepr();
    Object.assign(syn, { srcPort: 40000, dstPort: 80, seq: 1000, flags: TCP_SYN, window: 65535, mss: 1460, windowScale: 7, sackPermitted: true, tsPresent: true, tsVal: 1 });
    layer.input(0, ADDR_A, ADDR_B, syn, new Uint8Array(0));
    const synAck = sent.find((seg) => (seg.flags & TCP_SYN) !== 0);
    // 256 KiB needs a shift of 3 to be offered whole (RFC 7323 §2.3); a 64 KiB guess gave 1, a 128 KiB window for life.
    expect(synAck?.windowScale).toBe(3);
  });
});

describe('initial receive window with jumbo segments', () => {
  it('is the configured one, but at least ten segments, within the ring', () => {
    expect(initialWindowClamp(65_535, 1460, 256 << 10)).toBe(65_535);
    expect(initialWindowClamp(65_535, 8960, 256 << 10)).toBe(89_600);
    expect(initialWindowClamp(65_535, 65_495, 256 << 10)).toBe(256 << 10);
    expect(initialWindowClamp(65_535, 1460, 16 << 10)).toBe(16 << 10);
  });

  it('MTU 65535: the first MiB needs no persist-timer kick (a 64 KiB window is under one segment)', () => {
    const sim = new Simulation(11, { mtu: 65_535 });
    const listener = sim.b.listen({ port: 80, buffers: provider(), backlog: 4 });
    const client = sim.a.connect(sim.now, { localAddr: ADDR_A, remoteAddr: ADDR_B, remotePort: 80, ...rings() });
    let server: TcpConnection | null = null;
    sim.run(() => (server ??= sim.b.accept(listener)) !== null && sim.eventsA.has('connected', client), 5000);
    const accepted = server as unknown as TcpConnection;
    const start = sim.now;
    const bytes = 1 << 20;
    const source = new Source(3, bytes);
    const sink = new Sink();
    sim.pumps.push(() => {
      if (source.fill(client.sendBuffer!) > 0) sim.a.onSendBufferWritten(sim.now, client);
      if (sink.drain(accepted.receiveBuffer!) > 0) sim.b.onReceiveBufferRead(sim.now, accepted);
    });
    expect(sim.run(() => sink.received === bytes, 5000)).toBe(true);
    expect(sink.digest()).toBe(source.digest());
    // 1 MiB at the simulated 1 Gbit/s is ~9 ms plus round trips; a persist timer (≥ 200 ms) would show.
    expect(sim.now - start).toBeLessThan(100);
    expect(sim.a.stats.windowProbes).toBe(0);
  });
});
