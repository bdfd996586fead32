// The sender's SACK scoreboard (RFC 6675 §3, §4): which bytes above the cumulative ACK the receiver reported holding
// (RFC 2018 blocks), kept as sorted, disjoint [start, end) sequence ranges. It answers RFC 6675's questions —
// IsLost(), the octet counts SetPipe() needs, where the next hole is — without per-octet state.
import { seqDiff, seqGt, seqLe, seqLt, seqMax, seqMin } from './seq.js';
import { emptyDoubleArray } from '../../wire/index.js';

/** RFC 6675 §2 DupThresh. */
export const DUP_THRESH = 3;

export class SackScoreboard {
  /** Range starts and ends (sequence numbers), sorted by start; ranges never touch or overlap. */
  private starts: number[] = emptyDoubleArray();
  private ends: number[] = emptyDoubleArray();
  /** Total SACKed bytes held. */
  sackedBytes = 0;

  get rangeCount(): number {
    return this.starts.length;
  }

  rangeStart(i: number): number {
    return this.starts[i];
  }

  rangeEnd(i: number): number {
    return this.ends[i];
  }

  clear(): void {
    this.starts.length = 0;
    this.ends.length = 0;
    this.sackedBytes = 0;
  }

  /** Highest SACKed sequence number + 1, or `fallback` when nothing is SACKed. */
  highestSacked(fallback: number): number {
    const n = this.ends.length;
    return n === 0 ? fallback : this.ends[n - 1];
  }

  /**
   * Records the SACK blocks of one ACK (RFC 2018 §3) and drops everything at or below `highAck`. Blocks outside
   * (highAck, highData] or empty are ignored (RFC 2018 §8; D-SACK blocks below highAck carry nothing we use).
   * Returns the number of newly SACKed bytes; `newly`, when given, receives the newly SACKed ranges as
   * (start, end) pairs.
   */
  update(highAck: number, highData: number, blocks: Uint32Array, blockCount: number, newly?: number[]): number {
    this.advance(highAck);
    let added = 0;
    for (let i = 0; i < blockCount; i++) {
      let left = blocks[2 * i];
      const right = blocks[2 * i + 1];
      if (!seqLt(left, right) || seqLe(right, highAck) || seqGt(right, highData)) continue;
      if (seqLt(left, highAck)) left = highAck;
      added += this.insert(left, right, newly);
    }
    return added;
  }

  /** Forget ranges below the new cumulative ACK (RFC 6675 §4 Update(): cumulatively ACKed data leaves the board). */
  advance(highAck: number): void {
    let drop = 0;
    while (drop < this.starts.length && seqLe(this.ends[drop], highAck)) {
      this.sackedBytes -= seqDiff(this.ends[drop], this.starts[drop]);
      drop++;
    }
    if (drop > 0) {
      this.starts.splice(0, drop);
      this.ends.splice(0, drop);
    }
    if (this.starts.length > 0 && seqLt(this.starts[0], highAck)) {
      this.sackedBytes -= seqDiff(highAck, this.starts[0]);
      this.starts[0] = highAck;
    }
  }

  private insert(left: number, right: number, newly?: number[]): number {
    const starts = this.starts;
    const ends = this.ends;
    // First range that ends at or after `left` (it may touch or overlap the new one).
    let i = 0;
    while (i < starts.length && seqLt(ends[i], left)) i++;
    let j = i;
    let newLeft = left;
    let newRight = right;
    let covered = 0;
    // The parts of [left, right) no range held yet: the gaps between the ranges it meets.
    let cursor = left;
    while (j < starts.length && seqLe(starts[j], right)) {
      if (newly !== undefined && seqLt(cursor, starts[j])) newly.push(cursor, starts[j]);
      if (seqGt(ends[j], cursor)) cursor = ends[j];
      newLeft = seqMin(newLeft, starts[j]);
      newRight = seqMax(newRight, ends[j]);
      covered += seqDiff(ends[j], starts[j]);
      j++;
    }
    if (newly !== undefined && seqLt(cursor, right)) newly.push(cursor, right);
    const added = seqDiff(newRight, newLeft) - covered;
    starts.splice(i, j - i, newLeft);
    ends.splice(i, j - i, newRight);
    this.sackedBytes += added;
    return added;
  }

  isSacked(seq: number): boolean {
    for (let i = 0; i < this.starts.length; i++) {
      if (seqLt(seq, this.starts[i])) return false;
      if (seqLt(seq, this.ends[i])) return true;
    }
    return false;
  }

  /** `seq` itself when it is not SACKed, else the end of the SACKed range that holds it. */
  skipSacked(seq: number): number {
    for (let i = 0; i < this.starts.length; i++) {
      if (seqLt(seq, this.starts[i])) return seq;
      if (seqLt(seq, this.ends[i])) return this.ends[i];
    }
    return seq;
  }

  /** Start of the first SACKed range above `seq` (exclusive bound of the hole at seq), or `fallback`. */
  nextSackedStart(seq: number, fallback: number): number {
    for (let i = 0; i < this.starts.length; i++) if (seqGt(this.starts[i], seq)) return this.starts[i];
    return fallback;
  }

  /** Bytes in [from, to) that are not SACKed. */
  unsackedBytes(from: number, to: number): number {
    if (!seqLt(from, to)) return 0;
    let total = seqDiff(to, from);
    for (let i = 0; i < this.starts.length; i++) {
      const s = seqMax(this.starts[i], from);
      const e = seqMin(this.ends[i], to);
      if (seqLt(s, e)) total -= seqDiff(e, s);
    }
    return total;
  }

  /** SACKed bytes in [from, to). */
  sackedBytesIn(from: number, to: number): number {
    return seqLt(from, to) ? seqDiff(to, from) - this.unsackedBytes(from, to) : 0;
  }

  /**
   * The loss boundary: every unSACKed octet below it satisfies RFC 6675's IsLost() — DupThresh discontiguous SACKed
   * ranges above it, or more than (DupThresh − 1)·SMSS SACKed bytes above it. Because IsLost() only gets truer as
   * the sequence number falls, one boundary describes it completely. Returns `none` when no octet is lost.
   */
  lossBoundary(smss: number, none: number): number {
    let bytes = 0;
    for (let i = this.starts.length - 1, blocks = 1; i >= 0; i--, blocks++) {
      bytes += seqDiff(this.ends[i], this.starts[i]);
      if (blocks >= DUP_THRESH || bytes > (DUP_THRESH - 1) * smss) return this.starts[i];
    }
    return none;
  }

  /** RFC 6675 §4 IsLost(SeqNum). */
  isLost(seq: number, smss: number): boolean {
    const boundary = this.lossBoundary(smss, seq);
    return seqLt(seq, boundary) && !this.isSacked(seq);
  }

  /** For tests and diagnostics: the ranges as [start, end] pairs. */
  toArray(): Array<[number, number]> {
    return this.starts.map((s, i) => [s, this.ends[i]]);
  }
}

