// A simulated wire between two TcpEngines for tests: a virtual clock, a rate-limited drop-tail queue per direction,
// and seeded loss, reordering and duplication. Frames travel as a TcpRepr plus a copy of the payload.
import { createHash } from 'node:crypto';
import { ByteRing } from '../src/shared-ring/index.js';
import { createTcpRepr, type TcpRepr } from '../src/wire/index.js';
import { TcpEngine, type TcpEngineOptions } from '../src/workers/tcp/engine.js';
import type { TcpConnection } from '../src/workers/tcp/connection.js';
import type { TcpListener } from '../src/workers/tcp/accept.js';
import type { TcpErrorCode, TcpEventSink, TcpSegmentOut, TcpConfig } from '../src/workers/tcp/types.js';

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Frame {
  src: number;
  dst: number;
  tcp: TcpRepr;
  payload: Uint8Array;
  at: number;
  order: number;
}

export interface Impairment {
  loss: number;
  reorder: number;
  duplicate: number;
}

export interface RecordedEvent {
  kind: 'connected' | 'incoming' | 'readable' | 'writable' | 'eof' | 'error' | 'closed';
  conn?: TcpConnection;
  code?: TcpErrorCode;
}

export class EventLog implements TcpEventSink {
  events: RecordedEvent[] = [];
  onConnected(conn: TcpConnection): void { this.events.push({ kind: 'connected', conn }); }
  onIncoming(_l: TcpListener): void { this.events.push({ kind: 'incoming' }); }
  onReadable(_conn: TcpConnection): void { /* counted by the app pump */ }
  onWritable(_conn: TcpConnection): void { /* the pump writes whenever there is room */ }
  onRemoteEof(conn: TcpConnection): void { this.events.push({ kind: 'eof', conn }); }
  onError(conn: TcpConnection, code: TcpErrorCode): void { this.events.push({ kind: 'error', conn, code }); }
  onClosed(conn: TcpConnection): void { this.events.push({ kind: 'closed', conn }); }
  has(kind: RecordedEvent['kind'], conn?: TcpConnection): boolean {
    return this.events.some((e) => e.kind === kind && (conn === undefined || e.conn === conn));
  }
  codes(): TcpErrorCode[] {
    return this.events.filter((e) => e.kind === 'error').map((e) => e.code!);
  }
}

/** One direction of the wire. */
class Link {
  busyUntil = 0;
  constructor(readonly sim: Simulation) {}
}

export const ADDR_A = 0xc6120001; // 198.18.0.1
export const ADDR_B = 0xc6120002; // 198.18.0.2

export class Simulation {
  now = 0;
  readonly queue: Frame[] = [];
  private order = 0;
  readonly rand: () => number;
  readonly a: TcpEngine;
  readonly b: TcpEngine;
  readonly eventsA = new EventLog();
  readonly eventsB = new EventLog();
  readonly linkAB = new Link(this);
  readonly linkBA = new Link(this);
  impairment: Impairment = { loss: 0, reorder: 0, duplicate: 0 };
  /** Drop everything (a dead peer / cable cut). */
  blackhole = false;
  /** One-way propagation delay, link rate (bytes per ms) and queue limit (ms of backlog). */
  delayMs = 5;
  bytesPerMs = 125_000;
  maxQueueMs = 4;
  /** Called after every step: the applications. */
  pumps: Array<() => void> = [];
  sent = 0;
  dropped = 0;
  /** Sees every frame before the wire (tests may inspect or drop): return false to drop. */
  tap: ((frame: Frame) => boolean) | null = null;

  constructor(seed: number, config: Partial<TcpConfig> = {}, extra: Partial<TcpEngineOptions> = {}) {
    this.rand = mulberry32(seed);
    const secretA = new Uint8Array(32).map((_, i) => (i * 7 + seed) & 255);
    const secretB = new Uint8Array(32).map((_, i) => (i * 13 + seed + 1) & 255);
    this.a = new TcpEngine({ output: { send: (s) => this.send(s, this.linkAB) }, events: this.eventsA, config, secret: secretA, ...extra });
    this.b = new TcpEngine({ output: { send: (s) => this.send(s, this.linkBA) }, events: this.eventsB, config, secret: secretB, ...extra });
  }

  private send(seg: TcpSegmentOut, link: Link): boolean {
    const tcp = createTcpRepr();
    tcp.srcPort = seg.srcPort; tcp.dstPort = seg.dstPort; tcp.seq = seg.seq; tcp.ack = seg.ack; tcp.flags = seg.flags;
    tcp.window = seg.window; tcp.mss = seg.mss; tcp.windowScale = seg.windowScale; tcp.sackPermitted = seg.sackPermitted;
    tcp.sackBlockCount = seg.sackBlockCount; tcp.sackBlocks.set(seg.sackBlocks);
    tcp.tsPresent = seg.tsPresent; tcp.tsVal = seg.tsVal; tcp.tsEcr = seg.tsEcr;
    const payload = new Uint8Array(seg.payloadLength);
    if (seg.payloadLength > 0) {
      const n = seg.payloadRing!.peekAt(seg.payloadFromHead, payload, 0, seg.payloadLength);
      if (n !== seg.payloadLength) throw new Error(`payload outside the send ring: ${n} of ${seg.payloadLength}`);
    }
    tcp.payloadLength = payload.length;
    const frame: Frame = { src: seg.srcAddr, dst: seg.dstAddr, tcp, payload, at: 0, order: 0 };
    this.sent++;
    if (this.tap !== null && !this.tap(frame)) return true;
    const size = payload.length + 60;
    const start = Math.max(this.now, link.busyUntil);
    if (this.blackhole || start - this.now > this.maxQueueMs || this.rand() < this.impairment.loss) {
      this.dropped++;
      return true;
    }
    link.busyUntil = start + size / this.bytesPerMs;
    let at = link.busyUntil + this.delayMs;
    if (this.rand() < this.impairment.reorder) at += 0.5 + this.rand() * 3;
    this.enqueue({ ...frame, at });
    if (this.rand() < this.impairment.duplicate) this.enqueue({ ...frame, at: at + this.rand() * 2 });
    return true;
  }

  private enqueue(frame: Frame): void {
    frame.order = this.order++;
    // Keep the queue sorted by time (then order); insertion from the back is cheap since most frames go last.
    let i = this.queue.length;
    while (i > 0 && (this.queue[i - 1].at > frame.at)) i--;
    this.queue.splice(i, 0, frame);
  }

  /** Inject a frame as if it came from the wire now. */
  inject(frame: Omit<Frame, 'at' | 'order'>): void {
    this.enqueue({ ...frame, at: this.now, order: 0 });
  }

  private deliver(frame: Frame): void {
    const engine = frame.dst === ADDR_A ? this.a : this.b;
    engine.input(this.now, frame.src, frame.dst, frame.tcp, frame.payload, 0, frame.payload.length);
  }

  /** Advance the virtual clock event by event until `done()` or `limitMs` of virtual time pass. */
  run(done: () => boolean, limitMs: number): boolean {
    const end = this.now + limitMs;
    for (const pump of this.pumps) pump();
    while (!done()) {
      const next = Math.min(this.queue.length > 0 ? this.queue[0].at : Infinity, this.a.pollAt(), this.b.pollAt());
      if (next === Infinity || next > end) {
        this.now = end;
        return done();
      }
      this.now = Math.max(this.now, next);
      while (this.queue.length > 0 && this.queue[0].at <= this.now) this.deliver(this.queue.shift()!);
      this.a.onTimers(this.now);
      this.b.onTimers(this.now);
      for (const pump of this.pumps) pump();
    }
    return true;
  }
}

export function rings(sendCapacity = 256 * 1024, receiveCapacity = 256 * 1024): { sendBuffer: ByteRing; receiveBuffer: ByteRing } {
  return {
    sendBuffer: ByteRing.create(sendCapacity, { shared: false }),
    receiveBuffer: ByteRing.create(receiveCapacity, { shared: false }),
  };
}

export function provider(capacity = 256 * 1024) {
  return { receiveCapacity: capacity, allocate: () => rings(capacity, capacity) };
}

/** A deterministic byte source and a sha256 of what was produced. */
export class Source {
  private readonly rand: () => number;
  private readonly hash = createHash('sha256');
  private readonly chunk = new Uint8Array(65536);
  produced = 0;
  private pending = 0;
  private pendingOffset = 0;
  constructor(seed: number, readonly total: number) {
    this.rand = mulberry32(seed);
  }
  /** Writes as much as fits into `ring`; returns bytes written. */
  fill(ring: ByteRing): number {
    let written = 0;
    while (this.produced < this.total) {
      if (this.pending === 0) {
        const n = Math.min(this.chunk.length, this.total - this.produced - 0);
        for (let i = 0; i < n; i += 4) {
          const v = (this.rand() * 4294967296) >>> 0;
          this.chunk[i] = v; this.chunk[i + 1] = v >>> 8; this.chunk[i + 2] = v >>> 16; this.chunk[i + 3] = v >>> 24;
        }
        this.pending = n;
        this.pendingOffset = 0;
      }
      const w = ring.write(this.chunk, this.pendingOffset, Math.min(this.pending, this.total - this.produced));
      if (w === 0) break;
      this.hash.update(this.chunk.subarray(this.pendingOffset, this.pendingOffset + w));
      this.pendingOffset += w;
      this.pending -= w;
      this.produced += w;
      written += w;
    }
    return written;
  }
  digest(): string {
    return this.hash.digest('hex');
  }
}

export class Sink {
  private readonly hash = createHash('sha256');
  private readonly buf = new Uint8Array(65536);
  received = 0;
  /** Reads everything readable (at most `budget` bytes); returns bytes read. */
  drain(ring: ByteRing, budget = Infinity): number {
    let total = 0;
    while (total < budget) {
      const n = ring.read(this.buf, 0, Math.min(this.buf.length, budget - total));
      if (n === 0) break;
      this.hash.update(this.buf.subarray(0, n));
      total += n;
    }
    this.received += total;
    return total;
  }
  digest(): string {
    return this.hash.digest('hex');
  }
}

/** A listener on B and a connection from A, run until both ends are established. */
export function handshake(sim: Simulation, port = 80, bufferBytes = 256 * 1024): { client: TcpConnection; server: TcpConnection } {
  const listener = sim.b.listen({ port, buffers: provider(bufferBytes), backlog: 16 });
  const client = sim.a.connect(sim.now, { localAddr: ADDR_A, remoteAddr: ADDR_B, remotePort: port, ...rings(bufferBytes, bufferBytes) });
  let server: TcpConnection | null = null;
  sim.run(() => {
    server ??= sim.b.accept(listener);
    return server !== null && sim.eventsA.has('connected', client);
  }, 5000);
  if (server === null) throw new Error('no connection');
  return { client, server: server as TcpConnection };
}

/**
 * `count` full segments from A, held back from the wire (the test feeds them to B itself, with `feed`), and every
 * segment B sends from then on.
 */
export function segmentsHeld(seed: number, count: number, config: Partial<TcpConfig> = {}) {
  const sim = new Simulation(seed, config);
  const { client, server } = handshake(sim);
  const held: Frame[] = [];
  const fromB: Frame[] = [];
  sim.tap = (f) => {
    if (f.src === ADDR_A && f.payload.length > 0) {
      held.push(f);
      return false;
    }
    if (f.src === ADDR_B) fromB.push(f);
    return true;
  };
  const mss = sim.a.info(client).sndMss;
  client.sendBuffer!.write(new Uint8Array(count * mss), 0, count * mss);
  sim.a.onSendBufferWritten(sim.now, client);
  if (held.length !== count) throw new Error(`A sent ${held.length} segments, not ${count}`);
  const feed = (frames: Frame[]) => {
    for (const f of frames) sim.b.input(sim.now, f.src, f.dst, f.tcp, f.payload, 0, f.payload.length);
  };
  const blocksOf = (f: Frame): Array<[number, number]> =>
    Array.from({ length: f.tcp.sackBlockCount }, (_, i) => [f.tcp.sackBlocks[2 * i], f.tcp.sackBlocks[2 * i + 1]]);
  const endOf = (f: Frame) => (f.tcp.seq + f.payload.length) >>> 0;
  return { sim, client, server, held, fromB, feed, blocksOf, endOf, mss };
}

