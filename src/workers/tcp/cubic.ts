// RFC 9438 CUBIC. Window growth in congestion avoidance follows W_cubic(t) = C·(t − K)³ + W_max (§4.2) with a
// Reno-friendly floor W_est (§4.3); the multiplicative decrease is β_cubic = 0.7 with fast convergence (§4.6, §4.7).
// Windows are computed in segments, as the RFC writes them, and stored in bytes.
import { initialWindow, slowStartWindow, type CongestionControl } from './congestion.js';

/** §5.1 constants. */
export const CUBIC_C = 0.4;
export const CUBIC_BETA = 0.7;
const ALPHA_CUBIC = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

export class CubicCongestionControl implements CongestionControl {
  readonly algorithm = 'cubic' as const;
  cwnd: number;
  ssthresh = 0x7fffffff;
  /** W_max in segments: the window just before the last reduction (§4.2). */
  wMax = 0;
  /** K in seconds (§4.2 eq. 2). */
  k = 0;
  /** Start of the current congestion-avoidance epoch in ms; -1 when no epoch is running. */
  epochStart = -1;
  /** cwnd at the start of the epoch, in segments (cwnd_epoch). */
  private cwndEpoch = 0;
  /** The Reno-friendly estimate in segments (§4.3). */
  private wEst = 0;
  /** Fractional segments of growth not yet applied. */
  private pendingSegments = 0;
  private readonly iw: number;

  constructor(readonly smss: number, initialWindowSegments = 10) {
    this.iw = initialWindow(smss, initialWindowSegments);
    this.cwnd = this.iw;
  }

  /** W_cubic(t) in segments, t in seconds (§4.2 eq. 1). */
  windowAt(tSeconds: number): number {
    const d = tSeconds - this.k;
    return CUBIC_C * d * d * d + this.wMax;
  }

  onAck(nowMs: number, ackedBytes: number, srttMs: number): void {
    if (this.cwnd < this.ssthresh) {
      // §4.10: slow start as in RFC 5681 (HyStart++ is optional and not used).
      this.cwnd = slowStartWindow(this.cwnd, this.ssthresh, ackedBytes);
      return;
    }
    const cwndSeg = this.cwnd / this.smss;
    if (this.epochStart < 0) {
      // First ACK of a congestion-avoidance epoch (§4.2): K from W_max and the window we start from.
      this.epochStart = nowMs;
      this.cwndEpoch = cwndSeg;
      this.wEst = cwndSeg;
      if (this.wMax <= cwndSeg) {
        this.wMax = cwndSeg;
        this.k = 0;
      } else {
        this.k = Math.cbrt((this.wMax - cwndSeg) / CUBIC_C);
      }
    }
    const ackedSegments = ackedBytes / this.smss;
    // §4.3: W_est grows like Reno with alpha_cubic, and with alpha 1 once it passes W_max.
    const alpha = this.wEst >= this.wMax ? 1 : ALPHA_CUBIC;
    this.wEst += (alpha * ackedSegments) / cwndSeg;

    const t = (nowMs - this.epochStart) / 1000;
    const rtt = (srttMs > 0 ? srttMs : 100) / 1000;
    const wCubic = this.windowAt(t);
    let growthSegments: number;
    if (wCubic < this.wEst) {
      // Reno-friendly region (§4.3): follow the estimate.
      growthSegments = Math.max(this.wEst - cwndSeg, 0);
    } else {
      // Concave or convex region (§4.4, §4.5): target = W_cubic(t + RTT), clamped to [cwnd, 1.5·cwnd].
      const target = Math.min(Math.max(this.windowAt(t + rtt), cwndSeg), 1.5 * cwndSeg);
      growthSegments = ((target - cwndSeg) / cwndSeg) * ackedSegments;
    }
    this.pendingSegments += growthSegments;
    if (this.pendingSegments >= 1 / this.smss) {
      const bytes = Math.floor(this.pendingSegments * this.smss);
      this.cwnd += bytes;
      this.pendingSegments -= bytes / this.smss;
    }
  }

  onCongestionEvent(_nowMs: number, _flightSize: number): number {
    const cwndSeg = this.cwnd / this.smss;
    // §4.7 fast convergence: release bandwidth when the window did not reach the previous W_max.
    this.wMax = cwndSeg < this.wMax ? (cwndSeg * (1 + CUBIC_BETA)) / 2 : cwndSeg;
    // §4.6: ssthresh = cwnd · β_cubic, at least 2 segments.
    this.ssthresh = Math.max(Math.floor(this.cwnd * CUBIC_BETA), 2 * this.smss);
    this.epochStart = -1;
    this.pendingSegments = 0;
    return this.ssthresh;
  }

  onRetransmitTimeout(nowMs: number, flightSize: number): void {
    // §4.8: a timeout is a congestion event too, then cwnd restarts from one segment (RFC 5681 LW).
    this.onCongestionEvent(nowMs, flightSize);
    this.cwnd = this.smss;
  }

  onRecoveryExit(): void {
    this.epochStart = -1;
  }

  onIdleRestart(): void {
    this.cwnd = Math.min(this.cwnd, this.iw);
    this.epochStart = -1;
  }

  /** §4.9: the state a spurious congestion event may restore. */
  private readonly prior = { cwnd: 0, ssthresh: 0, wMax: 0, k: 0, epochStart: -1, cwndEpoch: 0, wEst: 0 };

  markUndoPoint(): void {
    const p = this.prior;
    p.cwnd = this.cwnd;
    p.ssthresh = this.ssthresh;
    p.wMax = this.wMax;
    p.k = this.k;
    p.epochStart = this.epochStart;
    p.cwndEpoch = this.cwndEpoch;
    p.wEst = this.wEst;
  }

  undo(): void {
    // §4.9: a spurious congestion event restores the window and the curve it was on.
    const p = this.prior;
    if (this.cwnd < p.cwnd) this.cwnd = p.cwnd;
    this.ssthresh = Math.max(this.ssthresh, p.ssthresh);
    this.wMax = p.wMax;
    this.k = p.k;
    this.epochStart = p.epochStart;
    this.cwndEpoch = p.cwndEpoch;
    this.wEst = p.wEst;
    this.pendingSegments = 0;
  }
}
