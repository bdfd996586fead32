import { describe, expect, it } from 'vitest';
import { TCP_ACK, TCP_FIN, TCP_PSH, createTcpRepr, type TcpRepr } from '../src/wire/index.js';
import { MAX_COALESCED_PAYLOAD, ReceiveCoalescer } from '../src/workers/tcp/receive-coalescer.js';

interface Delivered {
  src: number;
  dst: number;
  seq: number;
  flags: number;
  payload: number[];
}

const SRC = 0xc6120001;
const DST = 0xc6120002;

/** A data segment of `len` bytes starting at `seq`, its payload (bytes seq, seq+1, ... mod 251) in a frame of its own. */
function segment(seq: number, len: number, over: Partial<TcpRepr> = {}): { tcp: TcpRepr; frame: Uint8Array } {
  const frame = new Uint8Array(54 + len);
  for (let i = 0; i < len; i++) frame[54 + i] = (seq + i) % 251;
  const tcp = createTcpRepr();
  Object.assign(tcp, {
    srcPort: 21, dstPort: 40000, seq, ack: 7000, flags: TCP_ACK, window: 512, tsPresent: true, tsVal: 100, tsEcr: 50,
    payloadOffset: 54, payloadLength: len, ...over,
  });
  return { tcp, frame };
}

function harness(): { coalescer: ReceiveCoalescer; out: Delivered[]; feed: (s: { tcp: TcpRepr; frame: Uint8Array }, src?: number) => void } {
  const out: Delivered[] = [];
  const coalescer = new ReceiveCoalescer((_now, src, dst, tcp, b) => {
    out.push({ src, dst, seq: tcp.seq, flags: tcp.flags, payload: [...b.subarray(tcp.payloadOffset, tcp.payloadOffset + tcp.payloadLength)] });
  });
  return { coalescer, out, feed: (s, src = SRC) => coalescer.input(0, src, DST, s.tcp, s.frame) };
}

const bytesFrom = (seq: number, len: number): number[] => Array.from({ length: len }, (_, i) => (seq + i) % 251);

describe('ReceiveCoalescer (receive coalescing, as Linux GRO)', () => {
  it('joins in-order segments that differ only in sequence and payload, delivering one segment at the flush', () => {
    const { coalescer, out, feed } = harness();
    for (let k = 0; k < 5; k++) feed(segment(1000 + 1448 * k, 1448));
    expect(out).toHaveLength(0); // held until the batch ends
    coalescer.flush(0);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ src: SRC, dst: DST, seq: 1000, flags: TCP_ACK });
    expect(out[0]!.payload).toEqual(bytesFrom(1000, 5 * 1448));
    expect(coalescer.joinedSegments).toBe(4);
    coalescer.flush(0);
    expect(out).toHaveLength(1); // nothing held any more
  });

  it('delivers a lone segment from its own frame, and keeps the order of what it cannot join', () => {
    const { coalescer, out, feed } = harness();
    feed(segment(1000, 1448));
    feed(segment(2448, 1448, { ack: 7001 })); // a new ACK: ends the run, starts another
    feed(segment(3896, 1448, { ack: 7001, window: 600 })); // a new window: same
    feed(segment(5344, 0, { ack: 7001, window: 600, flags: TCP_ACK | TCP_FIN })); // not data: goes through at once
    expect(out.map((d) => d.seq)).toEqual([1000, 2448, 3896, 5344]);
    coalescer.flush(0);
    expect(out).toHaveLength(4);
  });

  it('ends a run at PSH (joined), after a short segment, at the size limit, and at another flow or a gap', () => {
    const { coalescer, out, feed } = harness();
    feed(segment(0, 1000));
    feed(segment(1000, 1000, { flags: TCP_ACK | TCP_PSH }));
    feed(segment(2000, 1000)); // after the PSH: a new run
    feed(segment(3000, 500)); // short: joins, and closes the run
    feed(segment(3500, 500)); // cannot follow a short one
    feed(segment(4000, 500, {}), SRC + 1); // another host
    feed(segment(9000, 500)); // a gap in sequence
    coalescer.flush(0);
    expect(out.map((d) => [d.seq, d.payload.length, d.flags & TCP_PSH ? 'P' : ''])).toEqual([
      [0, 2000, 'P'], [2000, 1500, ''], [3500, 500, ''], [4000, 500, ''], [9000, 500, ''],
    ]);
    expect(out[0]!.payload).toEqual(bytesFrom(0, 2000));

    const big = harness();
    const n = Math.floor(MAX_COALESCED_PAYLOAD / 1448);
    for (let k = 0; k <= n; k++) big.feed(segment(1448 * k, 1448));
    big.coalescer.flush(0);
    expect(big.out.map((d) => d.payload.length)).toEqual([n * 1448, 1448]);
  });

  it('passes segments with SACK blocks, other options, or flags beyond ACK and PSH straight through', () => {
    const { coalescer, out, feed } = harness();
    const sack = segment(1000, 100, { sackBlockCount: 1 });
    feed(sack);
    feed(segment(1100, 100, { mss: 1460 }));
    feed(segment(1200, 100, { flags: TCP_ACK | 0x20 /* URG */ }));
    feed(segment(1300, 100, { flags: TCP_PSH })); // no ACK
    expect(out.map((d) => d.seq)).toEqual([1000, 1100, 1200, 1300]);
    coalescer.flush(0);
    expect(coalescer.joinedSegments).toBe(0);
  });
});
