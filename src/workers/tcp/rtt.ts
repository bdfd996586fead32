// RFC 6298 retransmission timeout: smoothed RTT and variance from samples (§2), Karn's rule (§3: callers take no
// sample from a retransmitted segment unless timestamps disambiguate it, RFC 7323 §4), and exponential backoff on
// each timeout (§5.5), undone by the next valid sample.

import { DOUBLE_ZERO } from '../../wire/index.js';

export interface RttConfig {
  /** RTO before any sample (RFC 6298 §2.1: 1 s). */
  initialRtoMs: number;
  /** Lower bound (RFC 6298 §2.4 says 1 s; Linux uses 200 ms). */
  minRtoMs: number;
  /** Upper bound (RFC 6298 §2.5: at least 60 s). */
  maxRtoMs: number;
  /** Clock granularity G of §2 (our timestamps tick in ms). */
  granularityMs: number;
}

export const DEFAULT_RTT_CONFIG: RttConfig = { initialRtoMs: 1000, minRtoMs: 200, maxRtoMs: 120_000, granularityMs: 1 };

export class RttEstimator {
  /** Smoothed RTT in ms; 0 until the first sample. */
  srtt = DOUBLE_ZERO;
  rttvar = DOUBLE_ZERO;
  /** The last raw sample, and the smallest seen (CUBIC and receive auto-tuning use them). */
  latest = DOUBLE_ZERO;
  min = Infinity;
  samples = 0;
  /** How many times the current RTO has been doubled. */
  backoff = 0;
  private baseRto: number;

  constructor(private readonly config: RttConfig = DEFAULT_RTT_CONFIG) {
    this.baseRto = config.initialRtoMs;
  }

  /** The timeout to arm now, backoff included. */
  get rto(): number {
    return Math.min(this.baseRto * 2 ** this.backoff, this.config.maxRtoMs);
  }

  /** RFC 6298 §2.2–2.3 with K = 4, alpha = 1/8, beta = 1/4. */
  sample(rttMs: number): void {
    if (!(rttMs >= 0) || !Number.isFinite(rttMs)) return;
    const r = Math.max(rttMs, 0);
    if (this.samples === 0) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    this.samples++;
    this.latest = r;
    if (r < this.min) this.min = r;
    const { granularityMs, minRtoMs, maxRtoMs } = this.config;
    this.baseRto = Math.min(Math.max(this.srtt + Math.max(granularityMs, 4 * this.rttvar), minRtoMs), maxRtoMs);
    // §5.7 note: a new sample after a backoff restores the computed RTO.
    this.backoff = 0;
  }

  /** §5.5: double the RTO after a retransmission timeout (bounded by maxRtoMs in `rto`). */
  onTimeout(): void {
    if (this.rto < this.config.maxRtoMs) this.backoff++;
  }

  /**
   * §5.7: when the SYN or SYN-ACK was retransmitted and no sample exists, the RTO once data flows must be 3 s.
   */
  onHandshakeRetransmitted(): void {
    if (this.samples === 0) {
      this.baseRto = Math.max(this.baseRto, 3000);
      this.backoff = 0;
    }
  }
}
