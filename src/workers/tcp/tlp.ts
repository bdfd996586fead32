// Tail Loss Probe (RFC 8985 §7): when a flight's tail is lost, no later segment is delivered to let RACK notice,
// and only the RTO would. A probe timeout (PTO) of about two RTTs sends one segment — new data, or the last one
// again — so the ACK it draws out starts RACK's recovery instead (§7.3); that ACK also tells whether the probe
// repaired a loss, which then lowers the window once (§7.4).
import type { TcpConnection } from './connection.js';
import type { TcpEngine } from './engine.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqMax, seqMin } from './seq.js';
import { segmentRoom, sendRange } from './snd.js';
import { DOUBLE_NONE } from '../../wire/index.js';

/** §7.2 WCDelAckT: the longest a receiver may delay an ACK (RFC 9293 §3.8.6.3's bound). */
export const WORST_CASE_DELAYED_ACK_MS = 200;
/** A floor under the PTO (Linux's TCP_TIMEOUT_MIN at HZ=1000) where the RTT rounds to nothing. */
export const MIN_PTO_MS = 2;

export class TlpState {
  /** TLP.end_seq: SND.NXT after the probe (negative: no probe outstanding). */
  endSeq = DOUBLE_NONE;
  /** TLP.is_retrans: the probe resent data rather than sending new data. */
  isRetransmission = false;
}

/**
 * §7.2: (re)arm the PTO after sending or on an ACK, where a probe could help: a SACK connection in the open state
 * with data in flight, no probe outstanding and no reordering timer pending. Otherwise it is disarmed.
 */
export function scheduleLossProbe(engine: TcpEngine, conn: TcpConnection, now: number): void {
  if (!conn.sackEnabled || conn.inRecovery || conn.lossRecovery || conn.tlp.endSeq >= 0 || conn.rackAt >= 0
    || conn.sndMax === conn.sndUna || conn.rtoAt < now + MIN_PTO_MS || seqGt(conn.sndMax, conn.sndNxt)) {
    // (an RTO about to fire needs no probe before it)
    conn.tlpAt = -1;
    return;
  }
  let pto: number;
  if (conn.rtt.samples > 0) {
    pto = 2 * conn.rtt.srtt;
    // One segment in flight: its ACK may be delayed (§7.2).
    if (seqDiff(conn.sndMax, conn.sndUna) <= conn.smss) pto += WORST_CASE_DELAYED_ACK_MS;
  } else {
    pto = 1000;
  }
  conn.tlpAt = Math.min(now + Math.max(pto, MIN_PTO_MS), conn.rtoAt);
  engine.schedule(conn);
}

/** §7.3: the PTO fired. Sends one probe and re-arms the RTO (not the PTO); false if no probe could go. */
export function onLossProbeTimeout(engine: TcpEngine, conn: TcpConnection, now: number): boolean {
  conn.tlpAt = -1;
  if (!conn.sackEnabled || conn.inRecovery || conn.lossRecovery || conn.tlp.endSeq >= 0 || conn.sndMax === conn.sndUna
    || conn.sendBuffer === null) return false;
  const room = segmentRoom(conn);
  const available = seqDiff(conn.sendDataEnd, conn.sndMax);
  const windowRoom = seqDiff(seqAdd(conn.sndUna, conn.sndWnd), conn.sndMax);
  let sent: boolean;
  let retransmission: boolean;
  if (available > 0 && windowRoom > 0) {
    // A segment never sent, if the receiver's window takes it.
    const len = Math.min(room, available, windowRoom);
    const fin = conn.finSeq >= 0 && seqAdd(conn.sndMax, len) === conn.finSeq;
    sent = sendRange(engine, conn, now, conn.sndMax, len, fin);
    if (sent) conn.sndNxt = conn.sndMax;
    retransmission = false;
  } else {
    // Else the last segment sent, again (with the FIN if it went with it).
    const finSent = conn.finSeq >= 0 && seqGt(conn.sndMax, conn.finSeq);
    const dataEnd = seqMin(conn.sndMax, conn.sendDataEnd);
    const seq = seqMax(conn.sndUna, (dataEnd - room) >>> 0);
    const len = Math.max(seqDiff(dataEnd, seq), 0);
    if (len === 0 && !finSent) return false;
    sent = sendRange(engine, conn, now, seq, len, finSent);
    retransmission = true;
  }
  if (!sent) return false;
  conn.tlp.endSeq = conn.sndMax;
  conn.tlp.isRetransmission = retransmission;
  conn.tlpProbes++;
  engine.stats.tlpProbes++;
  conn.rtoAt = now + conn.rtt.rto;
  engine.schedule(conn);
  return true;
}

/**
 * §7.4 (with Linux's tcp_process_tlp_ack): the ACK that covers the probe says whether it repaired a loss. `dsackEnd`
 * is the right edge of the ACK's D-SACK block (-1: none); `dupAck` an ACK that neither advanced nor SACKed anything.
 */
export function lossProbeOnAck(
  engine: TcpEngine, conn: TcpConnection, now: number, ack: number, dsackEnd: number, dupAck: boolean,
): void {
  const tlp = conn.tlp;
  if (tlp.endSeq < 0 || !seqGe(ack, tlp.endSeq)) return;
  if (!tlp.isRetransmission) {
    tlp.endSeq = -1; // a probe of new data was delivered
  } else if (dsackEnd >= 0 && dsackEnd === tlp.endSeq) {
    tlp.endSeq = -1; // the original and the probe both arrived: nothing was lost
  } else if (seqGt(ack, tlp.endSeq)) {
    // The probe repaired a loss: one reduction, as for a recovery (§7.4.2), but none to come.
    tlp.endSeq = -1;
    const ssthresh = conn.cc.onCongestionEvent(now, Math.max(seqDiff(conn.sndMax, conn.sndUna), 0));
    conn.cc.cwnd = Math.min(conn.cc.cwnd, Math.max(ssthresh, conn.smss));
    conn.cc.onRecoveryExit(now);
    engine.stats.tlpRecoveries++;
  } else if (dupAck) {
    tlp.endSeq = -1; // a plain duplicate ACK: the original and the probe both arrived
  }
}
