import { describe, expect, it } from 'vitest';
import { RttEstimator } from '../src/workers/tcp/rtt.js';
import { RenoCongestionControl } from '../src/workers/tcp/reno.js';
import { CubicCongestionControl, CUBIC_BETA } from '../src/workers/tcp/cubic.js';
import { halvedSsthresh, initialWindow } from '../src/workers/tcp/congestion.js';

describe('RFC 6298 RTO', () => {
  it('starts at 1 s, follows samples, backs off and recovers', () => {
    const rtt = new RttEstimator({ initialRtoMs: 1000, minRtoMs: 200, maxRtoMs: 60_000, granularityMs: 1 });
    expect(rtt.rto).toBe(1000);
    rtt.sample(100); // SRTT 100, RTTVAR 50 → RTO = 100 + 200 = 300
    expect(rtt.srtt).toBe(100);
    expect(rtt.rttvar).toBe(50);
    expect(rtt.rto).toBe(300);
    rtt.sample(200); // RTTVAR = 37.5 + 25 = 62.5; SRTT = 87.5 + 25 = 112.5; RTO = 112.5 + 250
    expect(rtt.rttvar).toBeCloseTo(62.5);
    expect(rtt.srtt).toBeCloseTo(112.5);
    expect(rtt.rto).toBeCloseTo(362.5);
    rtt.onTimeout();
    rtt.onTimeout();
    expect(rtt.rto).toBeCloseTo(1450);
    for (let i = 0; i < 20; i++) rtt.onTimeout();
    expect(rtt.rto).toBe(60_000);
    rtt.sample(10);
    expect(rtt.rto).toBeLessThan(1000);
    expect(rtt.rto).toBeGreaterThanOrEqual(200);
    rtt.sample(-5);
    expect(rtt.samples).toBe(3);
  });
});

describe('RFC 5681 windows', () => {
  it('computes IW and ssthresh', () => {
    expect(initialWindow(1460, 10)).toBe(14600);
    expect(initialWindow(1460, 4)).toBe(4380);
    expect(initialWindow(9000, 10)).toBe(18000);
    expect(halvedSsthresh(100_000, 1460)).toBe(50_000);
    expect(halvedSsthresh(1000, 1460)).toBe(2920);
  });
  it('Reno doubles per RTT in slow start and adds one SMSS per RTT in avoidance', () => {
    const cc = new RenoCongestionControl(1000, 10);
    // One window of ACKs, one per segment: slow start doubles.
    for (let i = 0; i < 10; i++) cc.onAck(0, 1000, 10);
    expect(cc.cwnd).toBe(20_000);
    cc.onCongestionEvent(0, 20_000);
    expect(cc.ssthresh).toBe(10_000);
    cc.cwnd = cc.ssthresh;
    for (let i = 0; i < 10; i++) cc.onAck(0, 1000, 10);
    expect(cc.cwnd).toBe(11_000);
    cc.onRetransmitTimeout(0, 11_000);
    expect(cc.cwnd).toBe(1000);
    expect(cc.ssthresh).toBe(5500);
  });
});

describe('RFC 9438 CUBIC', () => {
  it('reduces by beta, then grows back towards W_max along the cubic curve', () => {
    const smss = 1000;
    const cc = new CubicCongestionControl(smss, 10);
    cc.cwnd = 100 * smss;
    cc.ssthresh = 50 * smss; // in congestion avoidance
    const ssthresh = cc.onCongestionEvent(0, 100 * smss);
    expect(ssthresh).toBe(Math.floor(100 * smss * CUBIC_BETA));
    expect(cc.wMax).toBe(100);
    cc.cwnd = ssthresh;
    // K = cbrt(W_max (1 − β) / C) = cbrt(30 / 0.4) ≈ 4.217 s
    const srtt = 100;
    let now = 0;
    let atK = 0;
    while (now <= 10_000) {
      // One RTT worth of ACKs per 100 ms.
      const segs = Math.floor(cc.cwnd / smss);
      for (let i = 0; i < segs; i++) cc.onAck(now, smss, srtt);
      now += srtt;
      if (atK === 0 && now >= 4217) atK = cc.cwnd / smss;
    }
    expect(cc.k).toBeCloseTo(Math.cbrt(30 / 0.4), 3);
    // Near K the window plateaus around W_max; well after K it probes beyond it.
    expect(atK).toBeGreaterThan(95);
    expect(atK).toBeLessThan(106);
    expect(cc.cwnd / smss).toBeGreaterThan(110);
  });
  it('applies fast convergence when the window did not reach W_max', () => {
    const cc = new CubicCongestionControl(1000, 10);
    cc.cwnd = 100_000;
    cc.onCongestionEvent(0, 100_000);
    cc.cwnd = 80_000;
    cc.onCongestionEvent(0, 80_000);
    expect(cc.wMax).toBeCloseTo((80 * (1 + CUBIC_BETA)) / 2);
    cc.onRetransmitTimeout(0, 50_000);
    expect(cc.cwnd).toBe(1000);
  });
});

describe('slow start with stretch ACKs (slowStartWindow)', () => {
  for (const make of [(smss: number) => new RenoCongestionControl(smss), (smss: number) => new CubicCongestionControl(smss)]) {
    it(`${make(1000).algorithm}: an ACK for ten segments opens ten, not two; never past ssthresh`, () => {
      const cc = make(1000);
      const before = cc.cwnd;
      cc.onAck(0, 10_000, 10); // one ACK covering a receive batch (GRO, our batched ACKs)
      expect(cc.cwnd).toBe(before + 10_000);
      cc.ssthresh = cc.cwnd + 3_000;
      cc.onAck(1, 10_000, 10);
      expect(cc.cwnd).toBe(cc.ssthresh);
    });
  }
});
