// The congestion-window half of congestion control, behind one interface so a connection can pick NewReno
// (RFC 5681 + RFC 6582) or CUBIC (RFC 9438). Loss *detection* and recovery (which segments to resend, when to
// leave recovery) live in reno-recovery.ts and sack-recovery.ts; this only decides how big cwnd is.

export type CongestionAlgorithm = 'newreno' | 'cubic';

export interface CongestionControl {
  readonly algorithm: CongestionAlgorithm;
  /** Congestion window in bytes. */
  cwnd: number;
  /** Slow-start threshold in bytes (RFC 5681 §3.1: initially arbitrarily high). */
  ssthresh: number;
  /** Sender MSS in bytes (SMSS). */
  readonly smss: number;
  /** New data was cumulatively acknowledged outside loss recovery (RFC 5681 §3.1). */
  onAck(nowMs: number, ackedBytes: number, srttMs: number): void;
  /**
   * Loss detected by duplicate ACKs or SACK (a congestion event): lower ssthresh. Returns the new ssthresh; the
   * recovery algorithm sets cwnd from it.
   */
  onCongestionEvent(nowMs: number, flightSize: number): number;
  /** Retransmission timeout (RFC 5681 §3.1 eq. 4 and "LW"): ssthresh from the flight, cwnd = one segment. */
  onRetransmitTimeout(nowMs: number, flightSize: number): void;
  /** Loss recovery ended with a full ACK (RFC 6582 §3.2 step 3). */
  onRecoveryExit(nowMs: number): void;
  /** RFC 5681 §4.1: after an idle period longer than the RTO, restart from min(IW, cwnd). */
  onIdleRestart(): void;
  /** A window reduction is about to begin: remember the state before it (undo.ts opens the episode). */
  markUndoPoint(): void;
  /**
   * The reduction since `markUndoPoint` was spurious (RFC 3708, RFC 3522): cwnd and ssthresh go back to at least
   * what they were (Linux's tcp_undo_cwnd_reduction; RFC 9438 §4.9 for CUBIC's own state).
   */
  undo(): void;
}

/** RFC 5681 §3.1 (eq. 4): ssthresh = max(FlightSize / 2, 2·SMSS). */
export function halvedSsthresh(flightSize: number, smss: number): number {
  return Math.max(Math.floor(flightSize / 2), 2 * smss);
}

/**
 * The initial window: RFC 6928's IW10 by default (min(10·MSS, max(2·MSS, 14600))), or RFC 5681 §3.1's
 * min(4·SMSS, max(2·SMSS, 4380)) when `segments` is 4 or less.
 */
export function initialWindow(smss: number, segments: number): number {
  if (segments <= 4) return Math.min(4 * smss, Math.max(2 * smss, 4380));
  return Math.min(segments * smss, Math.max(2 * smss, 14600));
}

/**
 * The window after slow start grows it for an ACK of `ackedBytes` (RFC 5681 §3.1 with RFC 3465 byte counting),
 * at most to ssthresh. Without RFC 3465 §2.2's L = 2·SMSS: receivers behind GRO/LRO — and ours, which
 * acknowledges each receive batch once — send stretch ACKs covering many segments, and with L the window grew by
 * about two segments per round trip instead of doubling. Linux's tcp_slow_start counts every acknowledged segment
 * the same way.
 */
export function slowStartWindow(cwnd: number, ssthresh: number, ackedBytes: number): number {
  return Math.min(cwnd + ackedBytes, Math.max(ssthresh, cwnd));
}
