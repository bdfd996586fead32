// RACK, time-based loss detection (RFC 8985 §6): a segment is lost when a segment sent sufficiently later was
// delivered — later by more than the reordering window, which starts at min_RTT/4 and grows while D-SACKs show
// that retransmissions were needless (§6.2 step 4). It replaces RFC 6675's DupThresh for SACK connections; RFC
// 6675's NextSeg() still picks what to send, with IsLost() read from RACK's marks. Pure: time comes in as `now`.
import type { TcpConnection } from './connection.js';
import { tsNow } from './output.js';
import { DUP_THRESH } from './sack-scoreboard.js';
import { SEGMENT_LOST, SEGMENT_RETRANSMITTED, SEGMENT_SACKED, sentAfter, type SentSegments } from './sent-segments.js';
import { seqGe, seqGt, seqLt } from './seq.js';
import { DOUBLE_NONE, DOUBLE_ZERO } from '../../wire/index.js';

/** §6.2 step 4: D-SACK-free recoveries after which the reordering window falls back to min_RTT/4. */
const REO_WND_PERSIST = 16;

/** A connection's RACK variables (RFC 8985 §5.2). Times are in ms on the engine's clock. */
export class RackState {
  /** RACK.xmit_ts and RACK.end_seq: the most recently sent segment delivered so far (xmitAt < 0: none yet). */
  xmitAt = DOUBLE_NONE;
  endSeq = DOUBLE_ZERO;
  /** RACK.rtt: the RTT of that segment. */
  rtt = DOUBLE_ZERO;
  /** RACK.min_RTT, from the samples of segments never retransmitted. */
  minRtt = Infinity;
  /** RACK.fack: the highest sequence number delivered (meaningful once `fackSet`). */
  fack = DOUBLE_ZERO;
  fackSet = false;
  /** RACK.reordering_seen: a segment was delivered below one delivered before it, without a retransmission. */
  reorderingSeen = false;
  reoWndMult = 1;
  reoWndPersist = 0;
  /** RACK.dsack_round: SND.NXT when the window last grew for a D-SACK (negative: none, a sequence number otherwise). */
  dsackRound = DOUBLE_NONE;
}

/**
 * §6.2 steps 1–3 for record `i` of `sent`, just delivered (cumulatively or by SACK). `tsEcr` is the ACK's echoed
 * timestamp, or -1 without one.
 */
export function rackOnDelivered(conn: TcpConnection, sent: SentSegments, i: number, now: number, tsEcr: number): void {
  const rack = conn.rack;
  const end = sent.end(i);
  const sentAt = sent.sentTime(i);
  const retransmitted = (sent.flags(i) & SEGMENT_RETRANSMITTED) !== 0;
  // Step 3: a segment delivered below the highest one delivered, and never retransmitted, was reordered.
  if (!rack.fackSet || seqGt(end, rack.fack)) {
    rack.fack = end;
    rack.fackSet = true;
  } else if (seqLt(end, rack.fack) && !retransmitted) {
    rack.reorderingSeen = true;
  }
  // Step 2, with step 1's min_RTT: a retransmitted segment's sample is ambiguous unless it is surely of the
  // retransmission (RFC 7323 echo newer than the original, or at least min_RTT after it).
  const rtt = now - sentAt;
  if (retransmitted) {
    if (tsEcr >= 0 && seqLt(tsEcr, tsNow(conn, sentAt))) return;
    if (rtt < rack.minRtt) return;
  } else if (rtt < rack.minRtt) {
    rack.minRtt = rtt;
  }
  if (rack.xmitAt < 0 || sentAfter(sentAt, end, rack.xmitAt, rack.endSeq)) {
    rack.xmitAt = sentAt;
    rack.endSeq = end;
    rack.rtt = rtt;
  }
}

/** §6.2 step 4, per ACK: the reordering window grows by min_RTT/4 for each round trip that brings a D-SACK. */
export function rackUpdateReorderWindow(conn: TcpConnection, dsack: boolean): void {
  const rack = conn.rack;
  if (rack.dsackRound >= 0 && seqGe(conn.sndUna, rack.dsackRound)) rack.dsackRound = -1;
  if (rack.dsackRound < 0 && dsack) {
    rack.dsackRound = conn.sndNxt;
    rack.reoWndMult++;
    rack.reoWndPersist = REO_WND_PERSIST;
  }
}

/** §6.2 step 4: fast or RTO recovery ended; after 16 without D-SACK the window shrinks back. */
export function rackOnRecoveryExit(conn: TcpConnection): void {
  const rack = conn.rack;
  if (--rack.reoWndPersist <= 0) rack.reoWndMult = 1;
}

/** RACK.reo_wnd now (§6.2 step 4, RACK_update_reo_wnd's value). */
export function reorderWindow(conn: TcpConnection): number {
  const rack = conn.rack;
  if (!rack.reorderingSeen) {
    // Before any reordering is seen, act as DupThresh would: at once in recovery or with DupThresh SACKed segments.
    if (conn.inRecovery || conn.lossRecovery) return 0;
    if (conn.scoreboard.sackedBytes >= DUP_THRESH * conn.smss) return 0;
  }
  const minRtt = Number.isFinite(rack.minRtt) ? rack.minRtt : 0;
  const srtt = conn.rtt.samples > 0 ? conn.rtt.srtt : Infinity;
  return Math.min((rack.reoWndMult * minRtt) / 4, srtt);
}

/** Whether step 5 can find anything: some segment is SACKed, or a retransmission is outstanding. */
export function rackMayDetect(conn: TcpConnection): boolean {
  return conn.rack.xmitAt >= 0 && conn.sent.count > 0
    && (conn.scoreboard.rangeCount > 0 || seqGt(conn.sent.retransmittedHigh, conn.sndUna));
}

/**
 * §6.2 step 5 (RACK_detect_loss): marks lost every segment not delivered that was sent before the most recently
 * delivered one by more than RACK.rtt + reo_wnd ago. Returns how many it marked, and leaves in `conn.rackAt` when
 * to look again (the reordering timer, §6.2 step 5's RACK_detect_loss_and_arm_timer), or -1.
 */
export function rackDetectLoss(conn: TcpConnection, now: number): number {
  const rack = conn.rack;
  const sent = conn.sent;
  conn.rackAt = -1;
  if (rack.xmitAt < 0) return 0;
  const reoWnd = reorderWindow(conn);
  let timeout = 0;
  let marked = 0;
  for (let i = sent.first, n = sent.limit; i < n; i++) {
    if (sent.flags(i) & (SEGMENT_SACKED | SEGMENT_LOST)) continue;
    const sentAt = sent.sentTime(i);
    if (!sentAfter(rack.xmitAt, rack.endSeq, sentAt, sent.end(i))) {
      // Above every retransmission, records leave in sequence order: none further was sent earlier.
      if (seqGe(sent.start(i), sent.retransmittedHigh)) break;
      continue;
    }
    const remaining = sentAt + rack.rtt + reoWnd - now;
    if (remaining <= 0) {
      sent.markLost(i);
      marked++;
    } else if (remaining > timeout) {
      timeout = remaining;
    }
  }
  if (timeout > 0) conn.rackAt = now + timeout;
  return marked;
}

/**
 * §6.3: the RTO fired. Marks lost the segment at SND.UNA and every other not delivered that was sent at least
 * RACK.rtt + reo_wnd ago; returns how many it marked.
 */
export function rackMarkLossesOnTimeout(conn: TcpConnection, now: number): number {
  const sent = conn.sent;
  const horizon = now - conn.rack.rtt - reorderWindow(conn);
  let marked = 0;
  for (let i = sent.first, n = sent.limit; i < n; i++) {
    if (sent.flags(i) & (SEGMENT_SACKED | SEGMENT_LOST)) continue;
    if (sent.start(i) === conn.sndUna || sent.sentTime(i) <= horizon) {
      sent.markLost(i);
      marked++;
    }
  }
  conn.rackAt = -1;
  return marked;
}
