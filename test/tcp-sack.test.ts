import { describe, expect, it } from 'vitest';
import { SackScoreboard } from '../src/workers/tcp/sack-scoreboard.js';
import { ReceiveRanges } from '../src/workers/tcp/receive-ranges.js';
import { SEGMENT_RETRANSMITTED, SEGMENT_SACKED, SentSegments } from '../src/workers/tcp/sent-segments.js';

function blocks(...pairs: Array<[number, number]>): Uint32Array {
  const out = new Uint32Array(8);
  pairs.forEach(([l, r], i) => {
    out[2 * i] = l >>> 0;
    out[2 * i + 1] = r >>> 0;
  });
  return out;
}

describe('SACK scoreboard (RFC 6675)', () => {
  const base = 0xffff_f000; // crosses the 2^32 wrap
  const at = (n: number) => (base + n) >>> 0;
  it('merges blocks, ignores invalid ones and answers IsLost', () => {
    const sb = new SackScoreboard();
    const high = at(20_000);
    expect(sb.update(at(0), high, blocks([at(2000), at(3000)]), 1)).toBe(1000);
    expect(sb.update(at(0), high, blocks([at(4000), at(5000)], [at(2500), at(4000)]), 2)).toBe(2000);
    expect(sb.toArray()).toEqual([[at(2000), at(5000)]]);
    // Beyond highData, empty and fully-acked blocks are ignored.
    expect(sb.update(at(0), high, blocks([at(30_000), at(31_000)], [at(7000), at(7000)], [at(0) - 100, at(0)]), 3)).toBe(0);
    // Only 3000 bytes SACKed in one range: with SMSS 1000, > 2·SMSS → bytes below are lost.
    expect(sb.isLost(at(0), 1000)).toBe(true);
    expect(sb.isLost(at(2500), 1000)).toBe(false); // SACKed
    expect(sb.isLost(at(6000), 1000)).toBe(false);
    expect(sb.lossBoundary(1000, -1)).toBe(at(2000));
    expect(sb.unsackedBytes(at(0), at(6000))).toBe(3000);
    expect(sb.skipSacked(at(2100))).toBe(at(5000));
    expect(sb.nextSackedStart(at(0), at(6000))).toBe(at(2000));
    // Cumulative ACK into the middle of a range trims it.
    sb.advance(at(3000));
    expect(sb.toArray()).toEqual([[at(3000), at(5000)]]);
    expect(sb.sackedBytes).toBe(2000);
    sb.advance(at(6000));
    expect(sb.rangeCount).toBe(0);
    expect(sb.sackedBytes).toBe(0);
  });
  it('counts DupThresh discontiguous ranges as loss even when small', () => {
    const sb = new SackScoreboard();
    sb.update(0, 100_000, blocks([1000, 1100], [2000, 2100], [3000, 3100]), 3);
    expect(sb.isLost(0, 1460)).toBe(true);
    expect(sb.isLost(1500, 1460)).toBe(false);
    expect(sb.lossBoundary(1460, -1)).toBe(1000);
  });
});

describe('receive ranges (out-of-order queue bookkeeping)', () => {
  it('merges, reports the most recent block first and hands back contiguous data', () => {
    const rr = new ReceiveRanges();
    rr.add(3000, 4000);
    rr.add(6000, 7000);
    rr.add(1000, 2000);
    const out = new Uint32Array(8);
    expect(rr.fillSackBlocks(out, 4)).toBe(3);
    expect(Array.from(out.subarray(0, 6))).toEqual([1000, 2000, 6000, 7000, 3000, 4000]);
    rr.add(2000, 3000); // joins the first two
    expect(rr.toArray()).toEqual([[1000, 4000], [6000, 7000]]);
    expect(rr.fillSackBlocks(out, 1)).toBe(1);
    expect(Array.from(out.subarray(0, 2))).toEqual([1000, 4000]);
    expect(rr.takeContiguous(500)).toBe(500);
    expect(rr.takeContiguous(1000)).toBe(4000);
    expect(rr.toArray()).toEqual([[6000, 7000]]);
    expect(rr.bytes()).toBe(1000);
    expect(rr.highest(0)).toBe(7000);
  });
});

describe('sent segments (RFC 8985 §6.1 per-transmission records)', () => {
  const base = 0xffff_f000; // crosses the 2^32 wrap
  const at = (n: number) => (base + n) >>> 0;
  it('splits records where SACKs and retransmissions cut them, and keeps the lost bytes right', () => {
    const sent = new SentSegments();
    sent.onTransmit(at(0), at(3000), 1, at(0)); // a 3-piece super-segment
    sent.onTransmit(at(3000), at(4000), 2, at(3000));
    sent.markSacked(at(1000), at(2000));
    expect(sent.toArray()).toEqual([[at(0), at(1000), 0], [at(1000), at(2000), SEGMENT_SACKED], [at(2000), at(3000), 0], [at(3000), at(4000), 0]]);
    expect([sent.markedFrom, sent.markedTo].map((i) => i - sent.first)).toEqual([1, 2]);
    sent.markLost(sent.first);
    sent.markLost(sent.first + 2);
    expect(sent.lostBytes).toBe(2000);
    expect(sent.start(sent.firstLost())).toBe(at(0));
    // Retransmitting half of the first record: that half is in flight again, the rest still lost.
    sent.onTransmit(at(0), at(500), 5, at(4000));
    expect(sent.lostBytes).toBe(1500);
    expect(sent.flags(sent.first)).toBe(SEGMENT_RETRANSMITTED);
    expect(sent.sentTime(sent.first)).toBe(5);
    expect(sent.retransmittedHigh).toBe(at(500));
    expect(sent.start(sent.firstLost())).toBe(at(500));
    // A cumulative ACK into a lost record takes its acknowledged part out of the lost bytes.
    sent.acknowledge(at(700));
    expect(sent.lostBytes).toBe(1300);
    expect(sent.start(sent.first)).toBe(at(700));
    sent.markSacked(at(2000), at(2500));
    expect(sent.lostBytes).toBe(800);
    sent.clearLost();
    expect(sent.firstLost()).toBe(-1);
    sent.acknowledge(at(4000));
    expect(sent.count).toBe(0);
    expect(sent.lostBytes).toBe(0);
  });

  it('a scoreboard update names the newly SACKed parts only', () => {
    const sb = new SackScoreboard();
    const newly: number[] = [];
    sb.update(0, 100_000, blocks([2000, 3000], [5000, 6000]), 2, newly);
    expect(newly).toEqual([2000, 3000, 5000, 6000]);
    newly.length = 0;
    expect(sb.update(0, 100_000, blocks([1000, 7000]), 1, newly)).toBe(4000);
    expect(newly).toEqual([1000, 2000, 3000, 5000, 6000, 7000]);
  });
});
