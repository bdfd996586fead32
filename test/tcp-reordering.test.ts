// Reordering robustness: D-SACK on receive (RFC 2883), spurious-retransmission detection and undo (RFC 3708,
// RFC 3522, RFC 4015), RACK-TLP (RFC 8985). Engines over the simulated wire of tcp-sim.ts, on its virtual clock.
import { describe, expect, it } from 'vitest';
import { ADDR_A, ADDR_B, provider, rings, Simulation, Sink, Source, type Frame } from './tcp-sim.js';
import type { TcpConnection } from '../src/workers/tcp/connection.js';
import type { CongestionAlgorithm } from '../src/workers/tcp/congestion.js';
import type { TcpConfig } from '../src/workers/tcp/types.js';

function handshake(sim: Simulation, port = 80) {
  const listener = sim.b.listen({ port, buffers: provider(), backlog: 16 });
  const client = sim.a.connect(sim.now, { localAddr: ADDR_A, remoteAddr: ADDR_B, remotePort: port, ...rings() });
  let server: TcpConnection | null = null;
  sim.run(() => {
    server ??= sim.b.accept(listener);
    return server !== null && sim.eventsA.has('connected', client);
  }, 5000);
  if (server === null) throw new Error('no connection');
  return { client, server: server as TcpConnection };
}

/** `count` full segments from A, held back from the wire, and every segment B sends from then on. */
function segmentsHeld(seed: number, count: number) {
  const sim = new Simulation(seed);
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
  expect(held.length).toBe(count);
  const feed = (frames: Frame[]) => {
    for (const f of frames) sim.b.input(sim.now, f.src, f.dst, f.tcp, f.payload, 0, f.payload.length);
  };
  const blocksOf = (f: Frame): Array<[number, number]> =>
    Array.from({ length: f.tcp.sackBlockCount }, (_, i) => [f.tcp.sackBlocks[2 * i], f.tcp.sackBlocks[2 * i + 1]]);
  const endOf = (f: Frame) => (f.tcp.seq + f.payload.length) >>> 0;
  return { sim, client, server, held, fromB, feed, blocksOf, endOf, mss };
}

describe('D-SACK on receive (RFC 2883)', () => {
  it('reports a segment that arrives twice below RCV.NXT in the first block of the next ACK, once', () => {
    const { sim, server, held, fromB, feed, blocksOf, endOf } = segmentsHeld(11, 4);
    feed(held);
    const before = fromB.length;
    feed([held[1]]);
    expect(fromB.length).toBe(before + 1); // acknowledged at once
    const ack = fromB[fromB.length - 1];
    expect(ack.tcp.ack).toBe(endOf(held[3]));
    expect(blocksOf(ack)).toEqual([[held[1].tcp.seq, endOf(held[1])]]);
    expect(sim.b.stats.dsackOut).toBe(1);
    // Reported once (rule 2): nothing is owed after that ACK; a newer duplicate gets its own block.
    expect(server.dsackPending).toBe(false);
    feed([held[3]]);
    expect(blocksOf(fromB[fromB.length - 1])).toEqual([[held[3].tcp.seq, endOf(held[3])]]);
    expect(sim.b.stats.dsackOut).toBe(2);
  });

  it('reports only the old part of a segment that straddles RCV.NXT', () => {
    const { held, fromB, feed, blocksOf, endOf } = segmentsHeld(12, 3);
    feed(held.slice(0, 2));
    // A segment made of the second half of segment 1 and the first half of segment 2.
    const a = held[1];
    const b = held[2];
    const half = a.payload.length >> 1;
    const payload = new Uint8Array(a.payload.length);
    payload.set(a.payload.subarray(half), 0);
    payload.set(b.payload.subarray(0, a.payload.length - half), a.payload.length - half);
    const tcp = { ...a.tcp, seq: (a.tcp.seq + half) >>> 0, sackBlocks: a.tcp.sackBlocks.slice() };
    feed([{ ...a, tcp, payload }]);
    const ack = fromB[fromB.length - 1];
    expect(ack.tcp.ack).toBe((tcp.seq + payload.length) >>> 0);
    expect(blocksOf(ack)[0]).toEqual([tcp.seq, endOf(a)]);
  });

  it('reports a duplicate of queued out-of-order text, with the range holding it second (rule 4)', () => {
    const { held, fromB, feed, blocksOf, endOf } = segmentsHeld(13, 8);
    feed([held[0], ...held.slice(2, 5), ...held.slice(6)]); // holes at 1 and 5
    feed([held[3]]);
    const ack = fromB[fromB.length - 1];
    expect(ack.tcp.ack).toBe(endOf(held[0]));
    const blocks = blocksOf(ack);
    expect(blocks[0]).toEqual([held[3].tcp.seq, endOf(held[3])]);
    expect(blocks[1]).toEqual([held[2].tcp.seq, endOf(held[4])]);
    expect(blocks[2]).toEqual([held[6].tcp.seq, endOf(held[7])]);
    expect(blocks.length).toBe(3); // beside timestamps, 3 blocks fit
  });
});
