// The receiver's out-of-order bookkeeping. Out-of-order payload is written straight into the receive ByteRing at
// its place ahead of the tail (so the queue is bounded by the receive window by construction); this tracks which
// [start, end) sequence ranges above RCV.NXT hold data, and produces SACK blocks in RFC 2018 §4 order: the block
// holding the most recently received segment first, then the most recently changed others.
import { seqDiff, seqGt, seqLe, seqLt, seqMax, seqMin } from './seq.js';
import { emptyDoubleArray } from '../../wire/index.js';

export class ReceiveRanges {
  private starts: number[] = emptyDoubleArray();
  private ends: number[] = emptyDoubleArray();
  /** A recency stamp per range, so SACK blocks can be reported most recent first. */
  private stamps: number[] = [];
  private clock = 0;

  get count(): number {
    return this.starts.length;
  }

  /** Bytes held out of order. */
  bytes(): number {
    let total = 0;
    for (let i = 0; i < this.starts.length; i++) total += seqDiff(this.ends[i], this.starts[i]);
    return total;
  }

  /** Highest sequence number held + 1, or `fallback`. */
  highest(fallback: number): number {
    const n = this.ends.length;
    return n === 0 ? fallback : this.ends[n - 1];
  }

  clear(): void {
    this.starts.length = 0;
    this.ends.length = 0;
    this.stamps.length = 0;
  }

  /** Records [start, end) as received (merging with neighbours it touches). */
  add(start: number, end: number): void {
    if (!seqLt(start, end)) return;
    const stamp = ++this.clock;
    let i = 0;
    while (i < this.starts.length && seqLt(this.ends[i], start)) i++;
    let j = i;
    let s = start;
    let e = end;
    while (j < this.starts.length && seqLe(this.starts[j], end)) {
      s = seqMin(s, this.starts[j]);
      e = seqMax(e, this.ends[j]);
      j++;
    }
    this.starts.splice(i, j - i, s);
    this.ends.splice(i, j - i, e);
    this.stamps.splice(i, j - i, stamp);
  }

  /**
   * RCV.NXT reached `rcvNxt`: removes the ranges it covers and returns how far the contiguous data now reaches
   * (≥ rcvNxt). The caller advances RCV.NXT and the ring's tail to it.
   */
  takeContiguous(rcvNxt: number): number {
    let next = rcvNxt;
    let drop = 0;
    while (drop < this.starts.length && seqLe(this.starts[drop], next)) {
      if (seqGt(this.ends[drop], next)) next = this.ends[drop];
      drop++;
    }
    if (drop > 0) {
      this.starts.splice(0, drop);
      this.ends.splice(0, drop);
      this.stamps.splice(0, drop);
    }
    return next;
  }

  /**
   * Writes up to `max` SACK blocks (left, right pairs) into `out` from pair `at` on, most recent first; returns how
   * many. The range holding `first` (when one does) goes before the others: RFC 2883 §4 rule 4 wants the block that
   * contains a D-SACK block right after it.
   */
  fillSackBlocks(out: Uint32Array, max: number, at = 0, first?: number): number {
    const n = this.starts.length;
    let written = 0;
    const lead = first === undefined ? -1 : this.indexOf(first);
    if (lead >= 0 && max > 0) {
      out[2 * at] = this.starts[lead];
      out[2 * at + 1] = this.ends[lead];
      written++;
    }
    let lastStamp = Infinity;
    while (written < max && written < n) {
      let best = -1;
      for (let i = 0; i < n; i++) {
        if (i !== lead && this.stamps[i] < lastStamp && (best < 0 || this.stamps[i] > this.stamps[best])) best = i;
      }
      if (best < 0) break;
      out[2 * (at + written)] = this.starts[best];
      out[2 * (at + written) + 1] = this.ends[best];
      lastStamp = this.stamps[best];
      written++;
    }
    return written;
  }

  /** Index of the range holding `seq`, or -1. */
  indexOf(seq: number): number {
    for (let i = 0; i < this.starts.length; i++) {
      if (seqLt(seq, this.starts[i])) return -1;
      if (seqLt(seq, this.ends[i])) return i;
    }
    return -1;
  }

  /**
   * The first part of [start, end) already held, written to `out` as [left, right); false when none is. A segment
   * that overlaps data in the queue carries a duplicate (RFC 2883 §4).
   */
  firstOverlap(start: number, end: number, out: Uint32Array): boolean {
    for (let i = 0; i < this.starts.length; i++) {
      if (seqLe(end, this.starts[i])) return false;
      if (seqLt(start, this.ends[i])) {
        out[0] = seqMax(start, this.starts[i]);
        out[1] = seqMin(end, this.ends[i]);
        return true;
      }
    }
    return false;
  }

  toArray(): Array<[number, number]> {
    return this.starts.map((s, i) => [s, this.ends[i]]);
  }
}
