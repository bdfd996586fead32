import { describe, expect, it } from 'vitest';
import { ADDR_A, ADDR_B, handshake, provider, rings, segmentsHeld, Simulation, Sink, Source, type Frame } from './tcp-sim.js';
import { TCP_FIN, TCP_RST } from '../src/wire/index.js';
import type { CongestionAlgorithm } from '../src/workers/tcp/congestion.js';

function transfer(seed: number, bytes: number, loss: number, congestion: CongestionAlgorithm) {
  const sim = new Simulation(seed, { congestion });
  const { client, server } = handshake(sim);
  sim.impairment = { loss, reorder: loss > 0 ? 0.1 : 0, duplicate: loss > 0 ? 0.01 : 0 };
  const source = new Source(seed, bytes);
  const sink = new Sink();
  sim.pumps.push(() => {
    if (source.fill(client.sendBuffer!) > 0) sim.a.onSendBufferWritten(sim.now, client);
    if (source.produced === bytes && !client.finRequested) sim.a.shutdown(sim.now, client);
    if (sink.drain(server.receiveBuffer!) > 0) sim.b.onReceiveBufferRead(sim.now, server);
  });
  const ok = sim.run(() => sink.received === bytes && sim.eventsB.has('eof', server), 600_000);
  return { sim, ok, source, sink, client, server };
}

describe('TCP engine over a simulated wire', () => {
  it('completes the three-way handshake with negotiated options', () => {
    const sim = new Simulation(1);
    const { client, server } = handshake(sim);
    expect(server).not.toBeNull();
    const ci = sim.a.info(client);
    const si = sim.b.info(server);
    expect(ci.state).toBe('ESTABLISHED');
    expect(si.state).toBe('ESTABLISHED');
    expect(ci.sndMss).toBe(1460 - 12);
    expect(ci.windowScaling && ci.timestamps && ci.sack).toBe(true);
    expect(ci.rttMs).toBeGreaterThanOrEqual(10);
  });

  for (const [loss, congestion] of [[0, 'newreno'], [0.01, 'newreno'], [0.05, 'cubic'], [0.01, 'cubic']] as const) {
    it(`moves 16 MiB intact at ${loss * 100} % loss, 10 % reorder, 1 % duplication (${congestion})`, () => {
      const bytes = 16 * 1024 * 1024;
      const { ok, source, sink, sim, client } = transfer(42 + loss * 1000, bytes, loss, congestion);
      expect(ok).toBe(true);
      expect(sink.received).toBe(bytes);
      expect(sink.digest()).toBe(source.digest());
      const info = sim.a.info(client);
      if (loss > 0) expect(info.retransmits).toBeGreaterThan(0);
      expect(info.congestion).toBe(congestion);
    });
  }
});

describe('receive batches (TcpEngine.beginInputBatch)', () => {
  it('acknowledges in-order text once per batch, each segment (quick-ACK) outside one', () => {
    const batched = segmentsHeld(5, 10);
    batched.sim.b.beginInputBatch();
    batched.feed(batched.held);
    expect(batched.fromB.length).toBe(0); // nothing leaves during the batch
    batched.sim.b.endInputBatch(batched.sim.now);
    expect(batched.fromB.map((f) => f.tcp.ack)).toEqual([batched.client.sndNxt]);

    const unbatched = segmentsHeld(5, 10);
    unbatched.feed(unbatched.held);
    expect(unbatched.fromB.length).toBe(10); // a new connection quick-ACKs every segment (else every second, RFC 5681 §4.2)
  });

  it('with SACK, reports a hole once, at the end of the batch, with blocks for all that lies beyond it', () => {
    const { sim, held, fromB, feed, blocksOf, endOf } = segmentsHeld(6, 10);
    const hole = held[2].tcp.seq;
    sim.b.beginInputBatch();
    feed([...held.slice(0, 2), ...held.slice(3)]);
    expect(fromB.length).toBe(0); // nothing leaves during the batch
    sim.b.endInputBatch(sim.now);
    expect(fromB.length).toBe(1);
    expect(fromB[0].tcp.ack).toBe(hole);
    expect(blocksOf(fromB[0])).toEqual([[held[3].tcp.seq, endOf(held[9])]]);
    // The segment that fills the hole: one ACK for everything, at the end of its batch.
    sim.b.beginInputBatch();
    feed([held[2]]);
    sim.b.endInputBatch(sim.now);
    expect(fromB.length).toBe(2);
    expect(fromB[1].tcp.ack).toBe(endOf(held[9]));
    expect(fromB[1].tcp.sackBlockCount).toBe(0);
  });

  it('with SACK, says nothing of segments swapped within one batch: one cumulative ACK, no blocks', () => {
    const { sim, held, fromB, feed, endOf } = segmentsHeld(6, 10);
    sim.b.beginInputBatch();
    feed([held[0], held[2], held[1], ...held.slice(3, 7), held[8], held[7], held[9]]);
    sim.b.endInputBatch(sim.now);
    expect(fromB.map((f) => [f.tcp.ack, f.tcp.sackBlockCount])).toEqual([[endOf(held[9]), 0]]);
  });

  it('without SACK, still acknowledges each segment at once while the receive queue has a hole', () => {
    const { sim, held, fromB, feed, endOf } = segmentsHeld(6, 10, { sack: false });
    const hole = held[2].tcp.seq;
    sim.b.beginInputBatch();
    feed([...held.slice(0, 2), ...held.slice(3)]);
    // Seven duplicate ACKs for the seven segments beyond the hole, before the batch ends: the sender counts them.
    expect(fromB.length).toBe(7);
    expect(fromB.every((f) => f.tcp.ack === hole && f.tcp.sackBlockCount === 0)).toBe(true);
    sim.b.endInputBatch(sim.now);
    expect(fromB.length).toBe(7);
    // The segment that fills the hole is acknowledged at once too, for everything.
    sim.b.beginInputBatch();
    feed([held[2]]);
    expect(fromB.length).toBe(8);
    expect(fromB[7].tcp.ack).toBe(endOf(held[9]));
    sim.b.endInputBatch(sim.now);
  });
});

describe('command batches (TcpEngine.beginCommandBatch)', () => {
  function written(sim: Simulation, client: ReturnType<typeof handshake>['client']): Frame[] {
    const fromA: Frame[] = [];
    sim.tap = (f) => {
      if (f.src === ADDR_A) fromA.push(f);
      return true;
    };
    client.sendBuffer!.write(new Uint8Array([1, 2, 3]), 0, 3);
    return fromA;
  }

  it('sends a write and the half-close of one batch as one segment with the data and FIN', () => {
    const sim = new Simulation(7);
    const { client } = handshake(sim);
    const fromA = written(sim, client);
    sim.a.beginCommandBatch();
    sim.a.onSendBufferWritten(sim.now, client);
    sim.a.shutdown(sim.now, client);
    expect(fromA.length).toBe(0);
    sim.a.endCommandBatch(sim.now);
    expect(fromA.map((f) => [f.payload.length, f.tcp.flags & TCP_FIN])).toEqual([[3, TCP_FIN]]);
  });

  it('sends the written data before the RST of an abort in the same batch', () => {
    const sim = new Simulation(8);
    const { client } = handshake(sim);
    const fromA = written(sim, client);
    sim.a.beginCommandBatch();
    sim.a.onSendBufferWritten(sim.now, client);
    sim.a.abort(sim.now, client);
    sim.a.endCommandBatch(sim.now);
    expect(fromA.map((f) => [f.payload.length, f.tcp.flags & TCP_RST])).toEqual([[3, 0], [0, TCP_RST]]);
  });
});

describe('a connect with data waiting (ConnectOptions.writePending)', () => {
  function connectWithDataWaiting(sim: Simulation) {
    sim.b.listen({ port: 80, buffers: provider(), backlog: 16 });
    const client = sim.a.connect(sim.now, { localAddr: ADDR_A, remoteAddr: ADDR_B, remotePort: 80, ...rings(), writePending: true });
    const fromA: Frame[] = [];
    sim.tap = (f) => {
      if (f.src === ADDR_A) fromA.push(f);
      return true;
    };
    sim.run(() => sim.eventsA.has('connected', client), 5000);
    return { client, fromA };
  }

  it('sends the ACK of the SYN-ACK with the first data', () => {
    const sim = new Simulation(9);
    const { client, fromA } = connectWithDataWaiting(sim);
    expect(fromA.length).toBe(0); // connected, the SYN-ACK not acknowledged yet
    client.sendBuffer!.write(new Uint8Array([1]), 0, 1);
    sim.a.onSendBufferWritten(sim.now, client);
    expect(fromA.map((f) => [f.payload.length, f.tcp.ack])).toEqual([[1, client.rcvNxt]]);
  });

  it('sends it alone once the delayed-ACK time has passed without data', () => {
    const sim = new Simulation(10);
    const { client, fromA } = connectWithDataWaiting(sim);
    const connectedAt = sim.now;
    sim.run(() => fromA.length > 0, 1000);
    expect(fromA[0].payload.length).toBe(0);
    expect(fromA[0].tcp.ack).toBe(client.rcvNxt);
    expect(sim.now - connectedAt).toBeGreaterThanOrEqual(sim.a.config.delayedAckMs);
  });
});
