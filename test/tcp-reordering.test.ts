// Reordering robustness: D-SACK on receive (RFC 2883), spurious-retransmission detection and undo (RFC 3708,
// RFC 3522, RFC 4015), RACK-TLP (RFC 8985). Engines over the simulated wire of tcp-sim.ts, on its virtual clock.
import { describe, expect, it } from 'vitest';
import { ADDR_A, ADDR_B, handshake, segmentsHeld, Simulation, Sink, Source, type Frame } from './tcp-sim.js';
import type { TcpConnection } from '../src/workers/tcp/connection.js';
import type { CongestionAlgorithm } from '../src/workers/tcp/congestion.js';
import type { TcpConfig } from '../src/workers/tcp/types.js';

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

/** A bulk transfer A → B over the simulated wire; returns when B has it all and the FIN. */
function transfer(seed: number, bytes: number, impairment: { loss: number; reorder: number; duplicate: number }, config: Partial<TcpConfig>) {
  const sim = new Simulation(seed, config);
  const { client, server } = handshake(sim);
  sim.impairment = impairment;
  const source = new Source(seed, bytes);
  const sink = new Sink();
  sim.pumps.push(() => {
    if (source.fill(client.sendBuffer!) > 0) sim.a.onSendBufferWritten(sim.now, client);
    if (source.produced === bytes && !client.finRequested) sim.a.shutdown(sim.now, client);
    if (sink.drain(server.receiveBuffer!) > 0) sim.b.onReceiveBufferRead(sim.now, server);
  });
  const start = sim.now;
  const ok = sim.run(() => sink.received === bytes && sim.eventsB.has('eof', server), 600_000);
  return { sim, ok, source, sink, client, server, ms: sim.now - start };
}

describe('reordering without loss (RACK reordering window, D-SACK undo)', () => {
  for (const congestion of ['newreno', 'cubic'] as const) {
    it(`16 MiB with 10 % of segments 0.5–3.5 ms late: few retransmissions, each undone (${congestion})`, () => {
      const bytes = 16 << 20;
      const { ok, sim, source, sink, client, server, ms } = transfer(21, bytes, { loss: 0, reorder: 0.1, duplicate: 0 }, { congestion });
      expect(ok).toBe(true);
      expect(sink.digest()).toBe(source.digest());
      const info = sim.a.info(client);
      // ~1 200 segments arrive late; DupThresh alone resent hundreds of them and halved the window each time.
      expect(info.retransmits).toBeGreaterThan(0);
      expect(info.retransmits).toBeLessThan(40);
      expect(info.rackLosses).toBeLessThan(40);
      // Every retransmission was needless, the receiver said so, and the reductions were taken back.
      expect(info.dsackIn).toBeGreaterThanOrEqual(info.retransmits - 2);
      expect(info.spuriousRetransmits).toBeGreaterThanOrEqual(info.retransmits - 2);
      expect(info.undos).toBeGreaterThan(0);
      expect(info.undos).toBeGreaterThanOrEqual(info.fastRecoveries - 1);
      expect(info.timeouts).toBe(0);
      expect(client.rack.reorderingSeen).toBe(true);
      expect(client.rack.reoWndMult).toBeGreaterThan(1);
      expect(sim.b.stats.dsackOut).toBe(info.dsackIn);
      expect(server.state).toBeGreaterThan(0);
      // 256 KiB rings at ~10 ms RTT allow ~200 Mbit/s: reordering must not cost more than a quarter of it.
      expect((bytes * 8) / ms / 1000).toBeGreaterThan(150);
    });
  }
});

/** The applications: B reads everything; `send(n)` has A write n more bytes, as the ring takes them. */
function pump(sim: Simulation, client: TcpConnection, server: TcpConnection) {
  const sink = new Sink();
  const chunk = new Uint8Array(65536);
  let owed = 0;
  sim.pumps.push(() => {
    let wrote = 0;
    while (owed > 0) {
      const n = client.sendBuffer!.write(chunk, 0, Math.min(owed, chunk.length));
      if (n === 0) break;
      owed -= n;
      wrote += n;
    }
    if (wrote > 0) sim.a.onSendBufferWritten(sim.now, client);
    if (sink.drain(server.receiveBuffer!) > 0) sim.b.onReceiveBufferRead(sim.now, server);
  });
  return { sink, send: (n: number) => { owed += n; } };
}

describe('spurious fast retransmissions are undone (RFC 3708 D-SACK, RFC 3522 Eifel)', () => {
  /**
   * After a warm-up, holds back the first data segment of the next flight until A retransmits it; then lets the
   * original arrive, and the retransmission too (D-SACK) or not (Eifel alone can tell).
   */
  function delayedSegment(congestion: CongestionAlgorithm, dropRetransmission: boolean, config: Partial<TcpConfig> = {}) {
    const sim = new Simulation(31, { congestion, ...config });
    const { client, server } = handshake(sim);
    const { sink, send } = pump(sim, client, server);
    send(400_000);
    sim.run(() => sink.received === 400_000, 10_000);
    const cwnd = client.cc.cwnd;
    const ssthresh = client.cc.ssthresh;
    let held: Frame | null = null;
    let retransmitted = false;
    sim.tap = (f) => {
      if (f.src !== ADDR_A || f.payload.length === 0) return true;
      if (held === null) {
        held = f;
        return false;
      }
      if (!retransmitted && f.tcp.seq === held.tcp.seq) {
        retransmitted = true;
        sim.inject({ src: held.src, dst: held.dst, tcp: held.tcp, payload: held.payload });
        return !dropRetransmission;
      }
      return true;
    };
    send(200_000);
    // Until everything is acknowledged and the wire is empty (a D-SACK may come after the last new ACK).
    const ok = sim.run(() => sink.received === 600_000 && client.sndUna === client.sndMax && sim.queue.length === 0, 10_000);
    return { sim, client, ok, cwnd, ssthresh, retransmitted };
  }

  for (const congestion of ['newreno', 'cubic'] as const) {
    it(`a D-SACK for the only retransmission restores cwnd and ssthresh (${congestion})`, () => {
      const { client, ok, cwnd, ssthresh, retransmitted } = delayedSegment(congestion, false);
      expect(ok).toBe(true);
      expect(retransmitted).toBe(true);
      expect(client.fastRecoveries).toBe(1);
      expect(client.retransmits).toBe(1);
      expect(client.dsackIn).toBe(1);
      expect(client.spuriousRetransmits).toBe(1);
      expect(client.undos).toBe(1);
      expect(client.inRecovery).toBe(false);
      expect(client.cc.cwnd).toBeGreaterThanOrEqual(cwnd);
      expect(client.cc.ssthresh).toBeGreaterThanOrEqual(ssthresh);
    });

    it(`without a D-SACK, the echoed timestamp shows the original arrived: undone too (${congestion})`, () => {
      const { client, ok, cwnd, retransmitted } = delayedSegment(congestion, true);
      expect(ok).toBe(true);
      expect(retransmitted).toBe(true);
      expect(client.fastRecoveries).toBe(1);
      expect(client.dsackIn).toBe(0);
      expect(client.undos).toBe(1);
      expect(client.cc.cwnd).toBeGreaterThanOrEqual(cwnd);
    });
  }

  it('without SACK, NewReno\'s fast retransmit is undone by the timestamp echo, its inflated window deflated', () => {
    const { client, ok, cwnd, ssthresh, retransmitted } = delayedSegment('newreno', false, { sack: false });
    expect(ok).toBe(true);
    expect(retransmitted).toBe(true);
    expect(client.sackEnabled).toBe(false);
    expect(client.fastRecoveries).toBe(1);
    expect(client.undos).toBe(1);
    expect(client.inRecovery).toBe(false);
    expect(client.cc.cwnd).toBeGreaterThanOrEqual(cwnd);
    expect(client.cc.ssthresh).toBe(ssthresh);
  });

  it('a real loss is not undone', () => {
    const sim = new Simulation(33);
    const { client, server } = handshake(sim);
    const { sink, send } = pump(sim, client, server);
    send(400_000);
    sim.run(() => sink.received === 400_000, 10_000);
    const cwnd = client.cc.cwnd;
    let dropped = false;
    sim.tap = (f) => {
      if (dropped || f.src !== ADDR_A || f.payload.length === 0) return true;
      dropped = true;
      return false;
    };
    send(200_000);
    expect(sim.run(() => sink.received === 600_000 && client.sndUna === client.sndMax && sim.queue.length === 0, 10_000)).toBe(true);
    expect(client.fastRecoveries).toBe(1);
    expect(client.undos).toBe(0);
    expect(client.spuriousRetransmits).toBe(0);
    expect(client.cc.cwnd).toBeLessThan(cwnd);
  });
});

describe('retransmission timeouts on a SACK connection', () => {
  it('a spurious timeout (ACKs held past the RTO) is undone by the echoed timestamps, and nothing more is resent', () => {
    const sim = new Simulation(61);
    const { client, server } = handshake(sim);
    const { sink, send } = pump(sim, client, server);
    send(400_000);
    sim.run(() => sink.received === 400_000 && client.sndUna === client.sndMax, 10_000);
    const cwnd = client.cc.cwnd;
    const heldAcks: Frame[] = [];
    let holding = true;
    sim.tap = (f) => {
      if (!holding || f.src !== ADDR_B) return true;
      heldAcks.push(f);
      return false;
    };
    send(100_000);
    expect(sim.run(() => client.timeouts === 1, 5_000)).toBe(true);
    expect(client.lossRecovery).toBe(true);
    expect(client.cc.cwnd).toBe(client.smss);
    holding = false;
    for (const f of heldAcks) sim.inject({ src: f.src, dst: f.dst, tcp: f.tcp, payload: f.payload });
    expect(sim.run(() => sink.received === 500_000 && client.sndUna === client.sndMax && sim.queue.length === 0, 10_000)).toBe(true);
    expect(client.undos).toBe(1);
    expect(client.timeouts).toBe(1);
    // A loss probe first (§7: PTO ≈ 2·SRTT), then the timeout's one segment: no go-back-N after the undo (RFC 4015).
    expect(client.tlpProbes).toBe(1);
    expect(client.retransmits).toBe(2);
    expect(client.lossRecovery).toBe(false);
    expect(client.cc.cwnd).toBeGreaterThanOrEqual(cwnd);
  });

  it('a real timeout resends only what the receiver lacks, then leaves loss recovery', () => {
    const sim = new Simulation(62);
    const { client, server } = handshake(sim);
    const { sink, send } = pump(sim, client, server);
    send(400_000);
    sim.run(() => sink.received === 400_000 && client.sndUna === client.sndMax, 10_000);
    // Lose the first and the last segments of the next flight, and every ACK until the timeout.
    let seen = 0;
    let firstSeq = -1;
    sim.tap = (f) => {
      if (client.timeouts > 0) return true;
      if (f.src === ADDR_B) return false;
      if (f.payload.length === 0) return true;
      seen++;
      if (firstSeq < 0) firstSeq = f.tcp.seq;
      return seen !== 1 && seen !== 20;
    };
    send(20 * client.smss);
    expect(sim.run(() => sink.received === 400_000 + 20 * client.smss && client.sndUna === client.sndMax, 10_000)).toBe(true);
    expect(client.timeouts).toBe(1);
    expect(client.undos).toBe(0);
    // The two lost segments and nothing the receiver held (it SACKed them once the ACKs flowed again).
    expect(client.retransmits).toBeLessThanOrEqual(3);
    expect(client.lossRecovery).toBe(false);
  });
});

describe('RACK: loss detected by time, not by counting (RFC 8985 §6)', () => {
  it('a lost segment with only two behind it is resent after the reordering window, not the RTO', () => {
    const { sim, client, held, feed } = segmentsHeld(41, 3);
    const server = sim.b;
    void server;
    // Deliver the 2nd and 3rd segments; the 1st is lost. DupThresh (3) is never reached.
    sim.tap = null;
    for (const f of held.slice(1)) sim.inject({ src: f.src, dst: f.dst, tcp: f.tcp, payload: f.payload });
    const start = sim.now;
    const resent: number[] = [];
    sim.tap = (f) => {
      if (f.src === ADDR_A && f.payload.length > 0) resent.push(f.tcp.seq);
      return true;
    };
    void feed;
    expect(sim.run(() => client.sndUna === client.sndMax, 5_000)).toBe(true);
    expect(resent).toEqual([held[0].tcp.seq]);
    expect(client.timeouts).toBe(0);
    expect(client.rackLosses).toBe(1);
    // One RTT for the SACKs, then min_RTT/4 of reordering window: far below the 200 ms minimum RTO.
    expect(sim.now - start).toBeLessThan(3 * client.rtt.srtt);
  });
});

describe('tail loss probe (RFC 8985 §7)', () => {
  /** Ten segments leave; the last `lost` never arrive. */
  function lostTail(lost: number, config: Partial<TcpConfig> = {}) {
    const { sim, client, held } = segmentsHeld(51, 10, config);
    sim.tap = null;
    for (const f of held.slice(0, 10 - lost)) sim.inject({ src: f.src, dst: f.dst, tcp: f.tcp, payload: f.payload });
    const cwnd = client.cc.cwnd;
    const start = sim.now;
    expect(sim.run(() => client.sndUna === client.sndMax, 5_000)).toBe(true);
    return { client, cwnd, ms: sim.now - start };
  }

  it('a lost tail of two: one probe draws a SACK, RACK resends the rest, well before the RTO', () => {
    const { client, ms } = lostTail(2);
    expect(client.tlpProbes).toBe(1);
    expect(client.timeouts).toBe(0);
    expect(client.retransmits).toBe(2);
    expect(client.rackLosses).toBe(1);
    // ~2 SRTT of probe timeout and two round trips, against a 200 ms minimum RTO.
    expect(ms).toBeLessThan(6 * client.rtt.srtt);
  });

  it('a lost last segment: the probe goes instead of the RTO, and the window is kept', () => {
    const { client, cwnd } = lostTail(1);
    expect(client.tlpProbes).toBe(1);
    expect(client.timeouts).toBe(0);
    expect(client.retransmits).toBe(1);
    expect(client.cc.cwnd).toBeGreaterThanOrEqual(cwnd);
  });

  it('without SACK there is no probe: the same loss costs an RTO', () => {
    const { client } = lostTail(1, { sack: false });
    expect(client.tlpProbes).toBe(0);
    expect(client.timeouts).toBe(1);
  });
});
