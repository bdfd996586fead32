// TCP segmentation offload on send (TSO): where the route's device cuts super-segments, the engine hands the output
// runs of full-sized segments as one (TcpSegmentOut.gsoSize), the protocol stage builds them as one
// FRAME_GSO_TCPV4 | FRAME_CSUM_PARTIAL frame, and the memory wire carries them whole to the other stack. Links
// without TSO keep MSS-sized segments. The kernel as the device that cuts them: test/stack-tso-bed.test.ts.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryWire, createStack, type MemoryWireOptions, type Stack, type StackLayout, type TcpSocket } from '../src/main/index.js';
import { ByteRing, FRAME_CSUM_PARTIAL, FRAME_GSO_TCPV4, FrameRing } from '../src/shared-ring/index.js';
import {
  DropReason, ETHERNET_HEADER_BYTES, IPPROTO_TCP, TCP_FIN, TCP_PSH, createEthernetRepr, createIpv4Repr, createTcpRepr,
  finishPartialChecksum, parseEthernet, parseIpv4, parseTcp, pseudoHeaderSum,
} from '../src/wire/index.js';
import type { TcpConnection } from '../src/workers/tcp/connection.js';
import { ProtocolStage } from '../src/workers/tcp/protocol-stage.js';
import { TcpSegmentOut, type TcpOutput } from '../src/workers/tcp/types.js';
import { readPcap } from './pcap-reader.js';
import { handshake, Simulation, Sink, Source } from './tcp-sim.js';

/** What the engine handed its output: one entry per segment with text (before any cutting). */
interface Handed {
  seq: number;
  length: number;
  gsoSize: number;
  flags: number;
}

/**
 * Gives A's output TSO: it reports `limit` as its super-segment limit and cuts each super-segment into pieces of
 * gsoSize text with the same header, FIN and PSH only on the last, as Linux's tcp_gso_segment does, before the
 * simulated wire sees them (so loss hits single pieces). Returns the log of what the engine handed over.
 */
function giveTso(sim: Simulation, limit: number): Handed[] {
  const output = sim.a.output as TcpOutput;
  const wire = output.send.bind(output);
  const handed: Handed[] = [];
  output.superSegmentLimit = () => limit;
  output.send = (seg) => {
    if (seg.payloadLength > 0) handed.push({ seq: seg.seq, length: seg.payloadLength, gsoSize: seg.gsoSize, flags: seg.flags });
    if (seg.gsoSize === 0) return wire(seg);
    const { seq, flags, payloadFromHead, payloadLength, gsoSize } = seg;
    for (let done = 0; done < payloadLength; done += gsoSize) {
      const n = Math.min(gsoSize, payloadLength - done);
      seg.seq = (seq + done) >>> 0;
      seg.payloadFromHead = payloadFromHead + done;
      seg.payloadLength = n;
      seg.flags = done + n === payloadLength ? flags : flags & ~(TCP_FIN | TCP_PSH);
      wire(seg);
    }
    Object.assign(seg, { seq, flags, payloadFromHead, payloadLength });
    return true;
  };
  return handed;
}

/** Logs A's segments with text without changing what it may send. */
function logOutput(sim: Simulation): Handed[] {
  const output = sim.a.output as TcpOutput;
  const wire = output.send.bind(output);
  const handed: Handed[] = [];
  output.send = (seg) => {
    if (seg.payloadLength > 0) handed.push({ seq: seg.seq, length: seg.payloadLength, gsoSize: seg.gsoSize, flags: seg.flags });
    return wire(seg);
  };
  return handed;
}

/** Moves `bytes` from A to B (then FIN) and checks them by sha256. */
function transfer(sim: Simulation, client: TcpConnection, server: TcpConnection, bytes: number, seed: number): void {
  const source = new Source(seed, bytes);
  const sink = new Sink();
  sim.pumps.push(() => {
    if (source.fill(client.sendBuffer!) > 0) sim.a.onSendBufferWritten(sim.now, client);
    if (source.produced === bytes && !client.finRequested) sim.a.shutdown(sim.now, client);
    if (sink.drain(server.receiveBuffer!) > 0) sim.b.onReceiveBufferRead(sim.now, server);
  });
  expect(sim.run(() => sink.received === bytes && sim.eventsB.has('eof', server), 600_000)).toBe(true);
  expect(sink.digest()).toBe(source.digest());
}

const LIMIT = 65535 - 20; // what the protocol stage reports for a TSO interface: the IP total length's bound

describe('super-segments from the engine (TcpOutput.superSegmentLimit)', () => {
  for (const mtu of [1500, 9000]) {
    it(`MTU ${mtu}: runs of whole MSS-sized segments, gsoSize = the effective send MSS, under 64 KiB; data intact`, () => {
      const sim = new Simulation(11, { mtu });
      const { client, server } = handshake(sim, 80, 1 << 20);
      const handed = giveTso(sim, LIMIT);
      const bytes = 6 << 20;
      transfer(sim, client, server, bytes, 3);
      const smss = sim.a.info(client).sndMss; // MTU − 40 − 12: timestamps on, no SACK blocks without loss
      expect(smss).toBe(mtu - 52);
      const pieces = Math.floor((LIMIT - 32) / smss); // 45 × 1448 or 7 × 8948, as Linux's TSO frames
      const supers = handed.filter((h) => h.gsoSize > 0);
      expect(supers.length).toBeGreaterThan(bytes / (pieces * smss) / 2);
      for (const s of supers) {
        expect(s.gsoSize).toBe(smss);
        expect(s.length).toBeGreaterThan(smss);
        expect(s.length).toBeLessThanOrEqual(pieces * smss);
        expect(20 + 32 + s.length).toBeLessThanOrEqual(65535);
      }
      expect(Math.max(...supers.map((s) => s.length))).toBe(pieces * smss); // the window opened to whole ones
      // Nothing was lost: every byte was handed over once, and most of them inside super-segments.
      expect(handed.reduce((n, h) => n + h.length, 0)).toBe(bytes);
      expect(supers.reduce((n, h) => n + h.length, 0) / bytes).toBeGreaterThan(0.5); // the ACK clock also frees single segments
      expect(handed.filter((h) => h.gsoSize === 0).every((h) => h.length <= smss)).toBe(true);
      expect(sim.a.info(client).segmentsOut).toBeGreaterThanOrEqual(bytes / smss); // counted as the pieces that left
    });
  }

  it('an output without TSO (no limit, or a limit under two segments) gets MSS-sized segments only', () => {
    for (const limit of [undefined, 0, 2000]) {
      const sim = new Simulation(12);
      const { client, server } = handshake(sim, 80, 1 << 20);
      const handed = limit === undefined ? logOutput(sim) : giveTso(sim, limit);
      transfer(sim, client, server, 2 << 20, 4);
      const smss = sim.a.info(client).sndMss;
      expect(handed.length).toBeGreaterThan((2 << 20) / smss - 1);
      expect(handed.every((h) => h.gsoSize === 0 && h.length <= smss)).toBe(true);
    }
  });

  it('with 2 % of the pieces lost, 16 MiB arrive intact: SACK and the RTO work by sequence numbers; resends are MSS-sized', () => {
    const sim = new Simulation(13);
    const { client, server } = handshake(sim, 80, 1 << 20);
    const handed = giveTso(sim, LIMIT);
    sim.impairment = { loss: 0.02, reorder: 0.05, duplicate: 0.01 };
    transfer(sim, client, server, 16 << 20, 5);
    const info = sim.a.info(client);
    expect(info.retransmits).toBeGreaterThan(10);
    expect(handed.filter((h) => h.gsoSize > 0).length).toBeGreaterThan(50);
    let highest = handed[0].seq;
    let resends = 0;
    for (const h of handed) {
      if (((h.seq - highest) | 0) < 0) {
        resends++;
        expect(h.gsoSize).toBe(0);
        expect(h.length).toBeLessThanOrEqual(info.sndMss);
      } else {
        highest = (h.seq + h.length) >>> 0;
      }
    }
    expect(resends).toBeGreaterThan(10);
  });

  it('Nagle (Minshall): a short last piece rides along only while no earlier small segment is unacknowledged', () => {
    // A fresh connection: its initial window (ten segments) takes both writes below.
    const sim2 = new Simulation(14);
    const pair = handshake(sim2, 80, 1 << 20);
    const handed2 = giveTso(sim2, LIMIT);
    const smss = sim2.a.info(pair.client).sndMss;
    const write = (n: number): void => {
      pair.client.sendBuffer!.write(new Uint8Array(n).fill(7), 0, n);
      sim2.a.onSendBufferWritten(sim2.now, pair.client);
    };
    write(3 * smss + 100); // nothing small in flight: three full pieces and the 100-byte tail go at once
    expect(handed2.map((h) => [h.length, h.gsoSize])).toEqual([[3 * smss + 100, smss]]);
    write(3 * smss + 100); // the 100-byte piece before is unacknowledged: the full pieces go, the tail waits
    expect(handed2.map((h) => [h.length, h.gsoSize])).toEqual([[3 * smss + 100, smss], [3 * smss, smss]]);
    expect(handed2[1].flags & TCP_PSH).toBe(0); // more is queued behind it
    const sink = new Sink();
    sim2.pumps.push(() => {
      if (sink.drain(pair.server.receiveBuffer!) > 0) sim2.b.onReceiveBufferRead(sim2.now, pair.server);
    });
    // The ACK of the first tail releases the second one (with PSH: it ends what was written).
    expect(sim2.run(() => sink.received === 6 * smss + 200, 5000)).toBe(true);
    expect(handed2.length).toBe(3);
    expect(handed2[2].length).toBe(100);
    expect(handed2[2].flags & TCP_PSH).toBe(TCP_PSH);
  });
});

describe('the protocol stage builds super-segments', () => {
  const SRC = 0xc6120001; // 198.18.0.1
  const DST = 0xc6120002;

  /** A protocol stage with one L3 interface (no ARP) and a send ring holding `text`. */
  function stageWith(tso: boolean, text: Uint8Array): { stage: ProtocolStage; tx: FrameRing; seg: TcpSegmentOut } {
    const stage = new ProtocolStage(0);
    const rx = FrameRing.create(1 << 20);
    const tx = FrameRing.create(1 << 20);
    stage.attachInterface({
      index: 1, name: 'test0', address: SRC, prefixLength: 24, mtu: 1500, mac: 0, needsArp: false,
      rxRing: rx.buffer as SharedArrayBuffer, txRing: tx.buffer as SharedArrayBuffer, txChecksumOffload: true, tso,
    }, 0);
    const ring = ByteRing.create(1 << 17, { shared: false });
    ring.write(text, 0, text.length);
    const seg = new TcpSegmentOut();
    Object.assign(seg, {
      srcAddr: SRC, dstAddr: DST, srcPort: 40000, dstPort: 80, seq: 0xfffff000, ack: 1234, flags: 0x10 | TCP_PSH | TCP_FIN,
      window: 512, tsPresent: true, tsVal: 77, tsEcr: 66, payloadRing: ring, payloadFromHead: 0, payloadLength: text.length,
      gsoSize: 1448,
    });
    return { stage, tx, seg };
  }

  const text = new Uint8Array(10_000).map((_, i) => (i * 7 + (i >> 8)) & 0xff);
  const eth = createEthernetRepr();
  const ip = createIpv4Repr();
  const tcp = createTcpRepr();

  it('on a TSO interface: one frame, GSO_TCPV4 | CSUM_PARTIAL, gsoSize, the whole IP length, the seed over it all', () => {
    const { stage, tx, seg } = stageWith(true, text);
    expect(stage.tcpSuperSegmentLimit(DST)).toBe(65515);
    expect(stage.sendTcpSegment(seg)).toBe(true);
    stage.poll(0); // publishes the tx ring
    const off = tx.peek();
    expect(off).toBeGreaterThanOrEqual(0);
    expect(tx.flags).toBe(FRAME_GSO_TCPV4 | FRAME_CSUM_PARTIAL);
    expect(tx.gsoSize).toBe(1448);
    expect(tx.csumStart).toBe(ETHERNET_HEADER_BYTES + 20);
    const len = tx.frameLength;
    expect(len).toBe(14 + 20 + 32 + text.length);
    expect(parseEthernet(tx.bytes, off, len, eth)).toBe(DropReason.Ok);
    expect(parseIpv4(tx.bytes, eth.payloadOffset, eth.payloadLength, ip, true)).toBe(DropReason.Ok);
    expect(ip.totalLength).toBe(20 + 32 + text.length);
    expect(ip.dontFragment).toBe(true);
    // The device finishes the checksum from the seed: over the whole segment it must come out right.
    const b = tx.bytes.slice();
    finishPartialChecksum(b, off + tx.csumStart, len - tx.csumStart, off + tx.csumStart + tx.csumOffset, false);
    expect(parseTcp(b, ip.payloadOffset, ip.payloadLength, tcp, pseudoHeaderSum(SRC, DST, IPPROTO_TCP, ip.payloadLength))).toBe(DropReason.Ok);
    expect(tcp.seq).toBe(0xfffff000);
    expect(tcp.flags & (TCP_FIN | TCP_PSH)).toBe(TCP_FIN | TCP_PSH);
    expect(Buffer.from(b.subarray(tcp.payloadOffset, tcp.payloadOffset + tcp.payloadLength)).equals(Buffer.from(text))).toBe(true);
    tx.next();
    expect(tx.peek()).toBe(-1); // one frame, nothing else
    expect(stage.counters().tcpSuperSegmentsOut).toBe(1);
    expect(stage.counters().tcpSuperSegmentPieces).toBe(7);
  });

  it('without TSO on the route it cuts the super-segment itself: MSS-sized segments, FIN and PSH on the last only', () => {
    const { stage, tx, seg } = stageWith(false, text);
    expect(stage.tcpSuperSegmentLimit(DST)).toBe(0);
    expect(stage.sendTcpSegment(seg)).toBe(true);
    stage.poll(0); // publishes the tx ring
    const got: number[] = [];
    let seq = 0xfffff000;
    const out: Uint8Array[] = [];
    for (let off = tx.peek(); off >= 0; off = tx.peek()) {
      expect(tx.flags & FRAME_GSO_TCPV4).toBe(0);
      const b = tx.bytes.slice();
      const len = tx.frameLength;
      if (tx.flags & FRAME_CSUM_PARTIAL) finishPartialChecksum(b, off + tx.csumStart, len - tx.csumStart, off + tx.csumStart + tx.csumOffset, false);
      expect(parseEthernet(b, off, len, eth)).toBe(DropReason.Ok);
      expect(parseIpv4(b, eth.payloadOffset, eth.payloadLength, ip, true)).toBe(DropReason.Ok);
      expect(ip.totalLength).toBeLessThanOrEqual(1500);
      expect(parseTcp(b, ip.payloadOffset, ip.payloadLength, tcp, pseudoHeaderSum(SRC, DST, IPPROTO_TCP, ip.payloadLength))).toBe(DropReason.Ok);
      expect(tcp.seq).toBe(seq);
      seq = (seq + tcp.payloadLength) >>> 0;
      got.push(tcp.flags & (TCP_FIN | TCP_PSH));
      out.push(b.slice(tcp.payloadOffset, tcp.payloadOffset + tcp.payloadLength));
      tx.next();
    }
    expect(got).toEqual([0, 0, 0, 0, 0, 0, TCP_FIN | TCP_PSH]);
    expect(Buffer.concat(out).equals(Buffer.from(text))).toBe(true);
    // The engine's descriptor is as it was handed over (the engine records what it sent from it).
    expect([seg.seq, seg.payloadLength, seg.gsoSize, seg.flags & TCP_FIN]).toEqual([0xfffff000, text.length, 1448, TCP_FIN]);
    expect(stage.counters().tcpSuperSegmentsCutHere).toBe(1);
  });
});

describe('two stacks on the memory wire with TSO', () => {
  const open: Stack[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  async function pair(mtu: number, layout: StackLayout, wire: MemoryWireOptions, tso = true): Promise<[Stack, Stack]> {
    const [a, b] = createMemoryWire({ mtu, ...wire });
    const A = await createStack({ link: tso ? a : { ...a, tso: false }, address: '198.18.1.1/24', layout });
    open.push(A);
    const B = await createStack({ link: b, address: '198.18.1.2/24', layout });
    open.push(B);
    return [A, B];
  }

  /** Sends `bytes` from A to B over one connection; resolves with both sides' sha256. */
  async function send(A: Stack, B: Stack, port: number, bytes: number): Promise<{ sent: string; received: string }> {
    const data = Buffer.alloc(bytes);
    for (let i = 0; i < bytes; i++) data[i] = (i * 131 + (i >> 11)) & 0xff;
    const received = new Promise<string>((resolve, reject) => {
      B.createServer((s: TcpSocket) => {
        const hash = createHash('sha256');
        s.on('data', (d: Buffer) => hash.update(d));
        s.on('end', () => resolve(hash.digest('hex')));
        s.on('error', reject);
      }).listen(port);
    });
    const client = A.connect({ host: '198.18.1.2', port });
    await new Promise((r) => client.once('connect', r));
    client.end(data);
    const digest = await received;
    client.destroy();
    return { sent: createHash('sha256').update(data).digest('hex'), received: digest };
  }

  const BYTES = 8 << 20;
  const cases: { title: string; mtu: number; layout: StackLayout; wire: MemoryWireOptions; tso: boolean; superSegments: boolean }[] = [
    { title: 'MTU 1500, inline (the protocol stages share the wire rings)', mtu: 1500, layout: 'inline', wire: {}, tso: true, superSegments: true },
    { title: 'MTU 9000, inline', mtu: 9000, layout: 'inline', wire: {}, tso: true, superSegments: true },
    { title: 'MTU 1500, layout three (through the rx and tx stages and their rings)', mtu: 1500, layout: 'three', wire: {}, tso: true, superSegments: true },
    { title: 'MTU 1500, the sender\'s link with tso: false', mtu: 1500, layout: 'inline', wire: {}, tso: false, superSegments: false },
    { title: 'MTU 1500, a wire with 0.1 % loss (the fault injector advertises no TSO)', mtu: 1500, layout: 'inline', wire: { loss: 0.001, seed: 7 }, tso: true, superSegments: false },
  ];
  it('a pcap of the sender\'s link shows the super-frames, as tcpdump on a Linux sender does', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ringstack-tso-'));
    const file = join(dir, 'a.pcap');
    const [a, b] = createMemoryWire({ mtu: 1500 });
    const A = await createStack({ link: a, address: '198.18.1.1/24', layout: 'inline', pcap: file });
    open.push(A);
    const B = await createStack({ link: b, address: '198.18.1.2/24', layout: 'inline' });
    open.push(B);
    const { sent, received } = await send(A, B, 7101, 2 << 20);
    expect(received).toBe(sent);
    await A.close(); // flushes the writer
    const frames = readPcap(readFileSync(file)).packets;
    const big = frames.filter((f) => f.originalLength > 1514);
    expect(big.length).toBeGreaterThan((2 << 20) / 65536 / 2);
    // Whole: the IPv4 total length of each is its frame's length less the Ethernet header.
    for (const f of big) expect(f.data.length === f.originalLength && ((f.data[16] << 8) | f.data[17]) === f.originalLength - 14).toBe(true);
    rmSync(dir, { recursive: true, force: true });
  });

  for (const c of cases) {
    it(`${c.title}: ${BYTES >> 20} MiB intact, ${c.superSegments ? 'in super-segments far above the MTU' : 'in MSS-sized segments'}`, async () => {
      const [A, B] = await pair(c.mtu, c.layout, c.wire, c.tso);
      const { sent, received } = await send(A, B, 7100, BYTES);
      expect(received).toBe(sent);
      const a = (await A.stats()).stages;
      const b = (await B.stats()).stages;
      const supers = a.proto?.tcpSuperSegmentsOut ?? 0;
      // B's protocol stage counts each TCP segment it took: the mean text per segment is what crossed the wire.
      const meanText = BYTES / (b.proto?.tcpIn ?? 1);
      if (c.superSegments) {
        expect(supers).toBeGreaterThan(BYTES / 65536 / 2);
        expect(a.proto?.tcpSuperSegmentPieces ?? 0).toBeGreaterThan(BYTES / c.mtu / 2);
        expect(meanText).toBeGreaterThan(4 * c.mtu);
        if (c.layout === 'three') {
          // The frames crossed A's tx stage and B's rx stage as super-frames too.
          expect(a.tx?.framesOut ?? 0).toBeLessThan(BYTES / c.mtu / 4);
          expect(b.rx?.framesIn ?? 0).toBeLessThan(BYTES / c.mtu / 2);
        }
      } else {
        expect(supers).toBe(0);
        expect(meanText).toBeLessThanOrEqual(c.mtu - 52);
      }
    });
  }
});
