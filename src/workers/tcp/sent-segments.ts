// The sent-but-unacknowledged segments of a SACK connection, one record per transmission (gVisor's writeList,
// Linux's retransmit queue): [start, end) in sequence space, when it last left, and whether it is SACKed, deemed
// lost, or was retransmitted. RACK (RFC 8985 §6.1) needs each segment's transmission time; loss recovery needs
// the lost marks. Records cover [SND.UNA, HighData) without gaps, in sequence order; a record is split where a SACK
// block, a cumulative ACK or a retransmission cuts it (a TSO super-segment is one record until then).
import { seqDiff, seqGe, seqGt, seqLe, seqLt } from './seq.js';
import { emptyDoubleArray } from '../../wire/index.js';

export const SEGMENT_SACKED = 1;
export const SEGMENT_LOST = 2;
export const SEGMENT_RETRANSMITTED = 4;

export class SentSegments {
  private starts: number[] = emptyDoubleArray();
  private ends: number[] = emptyDoubleArray();
  private sentAt: number[] = emptyDoubleArray();
  private flagBits: number[] = [];
  /** Index of the first live record (records before it were acknowledged; compacted now and then). */
  private head = 0;
  /** Bytes marked lost and neither retransmitted since nor SACKed: RFC 6675's pipe leaves them out. */
  lostBytes = 0;
  /** No record below this sequence number is marked lost (a hint for `firstLost`). */
  private lostFrom = 0;
  /**
   * End of the highest range ever retransmitted. Records above it were each sent once, in sequence order, so their
   * transmission times rise with their sequence numbers.
   */
  retransmittedHigh = 0;
  /** The index range the last `markSacked` marked. */
  markedFrom = 0;
  markedTo = 0;

  get count(): number {
    return this.starts.length - this.head;
  }

  /** Index range of live records: `first` ≤ i < `limit`. */
  get first(): number {
    return this.head;
  }

  get limit(): number {
    return this.starts.length;
  }

  start(i: number): number {
    return this.starts[i];
  }

  end(i: number): number {
    return this.ends[i];
  }

  sentTime(i: number): number {
    return this.sentAt[i];
  }

  flags(i: number): number {
    return this.flagBits[i];
  }

  clear(): void {
    this.starts.length = 0;
    this.ends.length = 0;
    this.sentAt.length = 0;
    this.flagBits.length = 0;
    this.head = 0;
    this.lostBytes = 0;
  }

  /**
   * [seq, end) left at `now`; `highData` is HighData before it. New text gets a record; text already sent is a
   * retransmission: its records are split to fit, stamped with `now`, marked retransmitted and no longer lost.
   */
  onTransmit(seq: number, end: number, now: number, highData: number): void {
    if (!seqLt(seq, end)) return;
    if (seqLt(seq, highData) && this.count > 0) {
      const retransmittedEnd = seqLt(end, highData) ? end : highData;
      let i = this.splitAt(seq);
      const stop = this.splitAt(retransmittedEnd);
      for (; i < stop; i++) {
        const f = this.flagBits[i];
        if (f & SEGMENT_LOST) this.lostBytes -= seqDiff(this.ends[i], this.starts[i]);
        this.flagBits[i] = (f & ~SEGMENT_LOST) | SEGMENT_RETRANSMITTED;
        this.sentAt[i] = now;
      }
      if (seqGt(retransmittedEnd, this.retransmittedHigh)) this.retransmittedHigh = retransmittedEnd;
      seq = retransmittedEnd;
      if (!seqLt(seq, end)) return;
    }
    if (this.count === 0) this.retransmittedHigh = seq;
    this.starts.push(seq);
    this.ends.push(end);
    this.sentAt.push(now);
    this.flagBits.push(0);
  }

  /** The cumulative ACK reached `ack`: drops the records below it (a record it cuts keeps its upper part). */
  acknowledge(ack: number): void {
    let i = this.head;
    const n = this.starts.length;
    while (i < n && seqLe(this.ends[i], ack)) {
      if (this.flagBits[i] & SEGMENT_LOST) this.lostBytes -= seqDiff(this.ends[i], this.starts[i]);
      i++;
    }
    if (i < n && seqLt(this.starts[i], ack)) {
      if (this.flagBits[i] & SEGMENT_LOST) this.lostBytes -= seqDiff(ack, this.starts[i]);
      this.starts[i] = ack;
    }
    this.head = i;
    if (this.head === n) {
      this.clear();
    } else if (this.head > 256 && this.head * 2 > n) {
      this.starts.splice(0, this.head);
      this.ends.splice(0, this.head);
      this.sentAt.splice(0, this.head);
      this.flagBits.splice(0, this.head);
      this.head = 0;
    }
  }

  /** [left, right) was newly SACKed: marks its records (split to fit); `markedFrom`/`markedTo` give their indexes. */
  markSacked(left: number, right: number): void {
    if (this.count === 0) {
      this.markedFrom = this.markedTo = 0;
      return;
    }
    const from = this.splitAt(left);
    const to = this.splitAt(right);
    for (let i = from; i < to; i++) {
      const f = this.flagBits[i];
      if (f & SEGMENT_LOST) this.lostBytes -= seqDiff(this.ends[i], this.starts[i]);
      this.flagBits[i] = (f & ~SEGMENT_LOST) | SEGMENT_SACKED;
    }
    this.markedFrom = from;
    this.markedTo = to;
  }

  /** A peer reneged (RFC 2018 §8): forget every SACKed mark. */
  clearSacked(): void {
    for (let i = this.head; i < this.starts.length; i++) this.flagBits[i] &= ~SEGMENT_SACKED;
  }

  /** Marks record i lost (it must be neither SACKed nor lost). */
  markLost(i: number): void {
    this.flagBits[i] |= SEGMENT_LOST;
    this.lostBytes += seqDiff(this.ends[i], this.starts[i]);
    if (seqLt(this.starts[i], this.lostFrom) || this.lostBytes === seqDiff(this.ends[i], this.starts[i])) this.lostFrom = this.starts[i];
  }

  /** Unmarks every lost record (an undo: the losses were not). */
  clearLost(): void {
    for (let i = this.head; i < this.starts.length; i++) this.flagBits[i] &= ~SEGMENT_LOST;
    this.lostBytes = 0;
  }

  /** Index of the first record marked lost, or -1. */
  firstLost(): number {
    if (this.lostBytes === 0) return -1;
    let i = this.indexOf(this.lostFrom);
    if (i < 0) i = this.head;
    for (; i < this.starts.length; i++) {
      if (this.flagBits[i] & SEGMENT_LOST) {
        this.lostFrom = this.starts[i];
        return i;
      }
    }
    return -1;
  }

  /** Index of the record holding `seq`, or -1. */
  indexOf(seq: number): number {
    let lo = this.head;
    let hi = this.starts.length - 1;
    if (hi < lo || seqLt(seq, this.starts[lo]) || seqGe(seq, this.ends[hi])) return -1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (seqLe(this.starts[mid], seq)) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /**
   * Makes `seq` a record boundary (splitting the record that holds it) and returns the index of the record that
   * starts there — or the first record after it, or `limit`, or `first` when `seq` lies below every record.
   */
  private splitAt(seq: number): number {
    const n = this.starts.length;
    if (n === this.head || seqLe(seq, this.starts[this.head])) return this.head;
    if (seqGe(seq, this.ends[n - 1])) return n;
    const i = this.indexOf(seq);
    if (this.starts[i] === seq) return i;
    // [start, seq) stays at i, [seq, end) is inserted after it with the same time and marks.
    this.starts.splice(i + 1, 0, seq);
    this.ends.splice(i + 1, 0, this.ends[i]);
    this.sentAt.splice(i + 1, 0, this.sentAt[i]);
    this.flagBits.splice(i + 1, 0, this.flagBits[i]);
    this.ends[i] = seq;
    return i + 1;
  }

  /** For tests and diagnostics: the records as [start, end, flags]. */
  toArray(): Array<[number, number, number]> {
    const out: Array<[number, number, number]> = [];
    for (let i = this.head; i < this.starts.length; i++) out.push([this.starts[i], this.ends[i], this.flagBits[i]]);
    return out;
  }
}

/** Whether a transmission at (t1, end1) happened after one at (t2, end2) (RFC 8985 §6.2 RACK_sent_after). */
export function sentAfter(t1: number, end1: number, t2: number, end2: number): boolean {
  return t1 > t2 || (t1 === t2 && seqGt(end1, end2));
}
