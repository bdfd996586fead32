import { describe, expect, it } from 'vitest';
import { SackScoreboard } from '../src/workers/tcp/sack-scoreboard.js';
import { ReceiveRanges } from '../src/workers/tcp/receive-ranges.js';

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
