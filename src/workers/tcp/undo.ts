// Spurious retransmissions and their undo. Each window reduction (a fast recovery, a retransmission timeout) opens
// an undo episode that remembers the window before it (the congestion control keeps its own prior state). The
// episode's retransmissions were all needless when D-SACKs report every one of them (RFC 3708 §3), or when the ACK
// that first covers the first retransmission echoes a timestamp older than it (Eifel detection, RFC 3522 §3;
// Linux's tcp_packet_delayed). Then the reduction is undone as Linux does (RFC 4015's response restores less):
// cwnd and ssthresh at least what they were, lost marks cleared, and after a timeout new data follows (RFC 4015
// §4 step 4: SND.NXT = SND.MAX).
import type { TcpConnection } from './connection.js';
import type { TcpEngine } from './engine.js';
import { tsNow } from './output.js';
import { seqGe, seqGt, seqLt } from './seq.js';
import { DOUBLE_NONE, DOUBLE_ZERO, emptyDoubleArray } from '../../wire/index.js';

/** Retransmissions an episode tracks; beyond them D-SACK undo is given up for the episode (Eifel still works). */
const MAX_TRACKED = 256;

export class UndoState {
  /** An episode is open. */
  active = false;
  /** The retransmitted ranges of the episode not yet reported by a D-SACK, as (start, end) pairs. */
  readonly pending: number[] = emptyDoubleArray();
  /** More retransmissions than `MAX_TRACKED`: D-SACKs cannot prove them all needless. */
  overflow = false;
  /** Retransmissions so far, and TSval and end of the first one (negative: none yet). */
  retransmissions = 0;
  firstTsVal = DOUBLE_NONE;
  firstEnd = DOUBLE_ZERO;
  /** The Eifel check ran for this episode. */
  eifelDone = false;
  /** After recovery: the episode closes once SND.UNA reaches this (negative while recovery lasts). */
  closeAt = DOUBLE_NONE;
  /** The latest retransmitted ranges, in or out of an episode (counting spurious ones, RFC 3708 §3). */
  readonly recent: number[] = emptyDoubleArray();
}

/** A window reduction is about to happen: open an episode unless this one continues a reduction still open. */
export function beginUndoEpisode(conn: TcpConnection): void {
  const undo = conn.undo;
  if (undo.active && undo.closeAt < 0) return;
  undo.active = true;
  undo.pending.length = 0;
  undo.overflow = false;
  undo.retransmissions = 0;
  undo.firstTsVal = -1;
  undo.eifelDone = false;
  undo.closeAt = -1;
  conn.cc.markUndoPoint();
}

/** A recovery without a reduction of its own (its loss predates the last one): the last episode goes on. */
export function continueUndoEpisode(conn: TcpConnection): void {
  if (conn.undo.active) conn.undo.closeAt = -1;
}

/** A retransmission of [seq, end) left. */
export function undoOnRetransmit(conn: TcpConnection, now: number, seq: number, end: number): void {
  const undo = conn.undo;
  const recent = undo.recent;
  if (recent.length >= 2 * MAX_TRACKED) recent.splice(0, 2);
  recent.push(seq, end);
  if (!undo.active || undo.closeAt >= 0) return;
  if (undo.retransmissions++ === 0) {
    undo.firstTsVal = conn.tsEnabled ? tsNow(conn, now) : -1;
    undo.firstEnd = end;
  }
  if (undo.pending.length >= 2 * MAX_TRACKED) undo.overflow = true;
  else undo.pending.push(seq, end);
}

/** Recovery ended: the episode stays open one more round trip, for D-SACKs still on their way. */
export function undoOnRecoveryEnd(conn: TcpConnection): void {
  if (conn.undo.active) conn.undo.closeAt = conn.sndMax;
}

/** RFC 3708 §3: a D-SACK block [left, right) arrived. Returns true if it undid the episode's reduction. */
export function undoOnDsack(engine: TcpEngine, conn: TcpConnection, now: number, left: number, right: number): boolean {
  const undo = conn.undo;
  // One retransmitted segment per MSS the block covers: a range retransmitted twice needs two reports. A block
  // over data never retransmitted reports a duplicate made by the network.
  const segments = Math.max(1, Math.ceil(((right - left) >>> 0) / conn.smss));
  const spurious = removeCovered(undo.recent, left, right, segments);
  conn.spuriousRetransmits += spurious;
  engine.stats.spuriousRetransmits += spurious;
  if (!undo.active) return false;
  removeCovered(undo.pending, left, right, segments);
  if (undo.pending.length === 0 && undo.retransmissions > 0 && !undo.overflow) {
    undoReduction(engine, conn, now);
    return true;
  }
  return false;
}

/**
 * An ACK advanced SND.UNA: Eifel detection on the first one covering the first retransmission (RFC 3522 §3.2),
 * and the end of an episode whose last round trip is over.
 */
export function undoOnAck(engine: TcpEngine, conn: TcpConnection, now: number, tsPresent: boolean, tsEcr: number): boolean {
  const undo = conn.undo;
  if (!undo.active) return false;
  if (!undo.eifelDone && undo.firstTsVal >= 0 && seqGe(conn.sndUna, undo.firstEnd)) {
    undo.eifelDone = true;
    if (tsPresent && tsEcr !== 0 && seqLt(tsEcr, undo.firstTsVal)) {
      // The echo predates the retransmission: the original reached the peer. (Counted spurious when its D-SACK
      // comes, which it will, the retransmission arriving as a duplicate.)
      undoReduction(engine, conn, now);
      return true;
    }
  }
  if (undo.closeAt >= 0 && seqGe(conn.sndUna, undo.closeAt)) undo.active = false;
  return false;
}

/** Removes up to `max` of the (start, end) pairs in `ranges` that overlap [left, right); returns how many. */
function removeCovered(ranges: number[], left: number, right: number, max: number): number {
  let removed = 0;
  for (let k = 0; k < ranges.length && removed < max; ) {
    if (seqLt(ranges[k], right) && seqGt(ranges[k + 1], left)) {
      ranges.splice(k, 2);
      removed++;
    } else {
      k += 2;
    }
  }
  return removed;
}

function undoReduction(engine: TcpEngine, conn: TcpConnection, _now: number): void {
  conn.undo.active = false;
  // NewReno's fast recovery inflates cwnd by a segment per duplicate ACK (RFC 6582 §3.2 step 4): deflate first, as
  // its full ACK would, so the undo restores the window from before the recovery and not the inflated one.
  if (conn.inRecovery && !conn.sackEnabled) conn.cc.cwnd = Math.min(conn.cc.cwnd, conn.cc.ssthresh);
  conn.cc.undo();
  conn.undos++;
  engine.stats.undos++;
  conn.inRecovery = false;
  conn.lossRecovery = false;
  conn.dupAcks = 0;
  conn.sent.clearLost();
  // RFC 4015 §4 step 4: after a spurious timeout, go on with new data instead of sending everything again.
  if (seqLt(conn.sndNxt, conn.sndMax)) conn.sndNxt = conn.sndMax;
}
