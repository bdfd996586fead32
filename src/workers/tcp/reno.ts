// RFC 5681 §3.1 slow start and congestion avoidance, with appropriate byte counting (RFC 3465; no L limit, see
// slowStartWindow) so delayed and stretch ACKs do not slow the growth; the window reduction on loss is RFC 5681 eq. 4. NewReno's recovery
// (RFC 6582) is in reno-recovery.ts.
import { halvedSsthresh, initialWindow, slowStartWindow, type CongestionControl } from './congestion.js';

export class RenoCongestionControl implements CongestionControl {
  readonly algorithm = 'newreno' as const;
  cwnd: number;
  ssthresh = 0x7fffffff;
  /** Bytes acknowledged since cwnd last grew by one SMSS in congestion avoidance (RFC 5681 §3.1, byte counting). */
  private bytesAckedInAvoidance = 0;
  private readonly iw: number;

  constructor(readonly smss: number, initialWindowSegments = 10) {
    this.iw = initialWindow(smss, initialWindowSegments);
    this.cwnd = this.iw;
  }

  onAck(_nowMs: number, ackedBytes: number, _srttMs: number): void {
    if (this.cwnd < this.ssthresh) {
      this.cwnd = slowStartWindow(this.cwnd, this.ssthresh, ackedBytes);
      return;
    }
    // Congestion avoidance: one SMSS per cwnd of acknowledged bytes (RFC 5681 §3.1, the byte-counting variant).
    this.bytesAckedInAvoidance += ackedBytes;
    if (this.bytesAckedInAvoidance >= this.cwnd) {
      this.bytesAckedInAvoidance -= this.cwnd;
      this.cwnd += this.smss;
    }
  }

  onCongestionEvent(_nowMs: number, flightSize: number): number {
    this.ssthresh = halvedSsthresh(flightSize, this.smss);
    this.bytesAckedInAvoidance = 0;
    return this.ssthresh;
  }

  onRetransmitTimeout(_nowMs: number, flightSize: number): void {
    this.ssthresh = halvedSsthresh(flightSize, this.smss);
    this.cwnd = this.smss;
    this.bytesAckedInAvoidance = 0;
  }

  onRecoveryExit(): void {
    this.bytesAckedInAvoidance = 0;
  }

  onIdleRestart(): void {
    this.cwnd = Math.min(this.cwnd, this.iw);
  }

  private priorCwnd = 0;
  private priorSsthresh = 0;

  markUndoPoint(): void {
    this.priorCwnd = this.cwnd;
    this.priorSsthresh = this.ssthresh;
  }

  undo(): void {
    this.cwnd = Math.max(this.cwnd, this.priorCwnd);
    this.ssthresh = Math.max(this.ssthresh, this.priorSsthresh);
    this.bytesAckedInAvoidance = 0;
  }
}
