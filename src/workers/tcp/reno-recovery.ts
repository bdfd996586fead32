// Loss recovery without SACK: RFC 5681 §3.2 fast retransmit / fast recovery with RFC 6582 NewReno's handling of
// partial acknowledgments, so several losses in one window are repaired without a timeout.
import type { TcpConnection } from './connection.js';
import type { TcpEngine } from './engine.js';
import { DUP_THRESH } from './sack-scoreboard.js';
import { seqDiff, seqGe, seqGt, seqMin } from './seq.js';
import { segmentRoom, sendRange } from './snd.js';
import { beginUndoEpisode, undoOnRecoveryEnd } from './undo.js';

/** Retransmit the first unacknowledged segment (RFC 5681 §3.2 step 2, RFC 6582 §3.2 step 5). */
export function retransmitFirstUnacked(engine: TcpEngine, conn: TcpConnection, now: number): void {
  const end = seqMin(conn.sndMax, conn.sendDataEnd);
  const len = Math.min(segmentRoom(conn), Math.max(seqDiff(end, conn.sndUna), 0));
  const fin = conn.finSeq >= 0 && (conn.sndUna + len) >>> 0 === conn.finSeq && seqGt(conn.sndMax, conn.finSeq);
  if (len > 0 || fin) sendRange(engine, conn, now, conn.sndUna, len, fin);
}

export function renoOnDuplicateAck(engine: TcpEngine, conn: TcpConnection, now: number, flight: number): void {
  conn.dupAcks++;
  if (conn.inRecovery) {
    // RFC 6582 §3.2 step 4 / RFC 5681 step 4: each further duplicate inflates cwnd by one SMSS.
    conn.cc.cwnd += conn.smss;
    return;
  }
  // RFC 6582 §3.2 step 2: only start a new recovery once the previous one's "recover" point is acknowledged.
  if (conn.dupAcks === DUP_THRESH && seqGt(conn.sndUna, conn.recoveryPoint)) {
    conn.inRecovery = true;
    conn.fastRecoveries++;
    conn.recoveryPoint = conn.sndMax;
    beginUndoEpisode(conn);
    const ssthresh = conn.cc.onCongestionEvent(now, flight);
    retransmitFirstUnacked(engine, conn, now);
    conn.cc.cwnd = ssthresh + DUP_THRESH * conn.smss;
  }
}

export function renoOnNewAck(engine: TcpEngine, conn: TcpConnection, now: number, acked: number, flightBefore: number): void {
  conn.dupAcks = 0;
  if (!conn.inRecovery) {
    growWindow(conn, now, acked, flightBefore);
    return;
  }
  if (seqGe(conn.sndUna, conn.recoveryPoint)) {
    // Full acknowledgment (RFC 6582 §3.2 step 3): deflate to min(ssthresh, max(FlightSize, SMSS) + SMSS).
    const flight = Math.max(seqDiff(conn.sndMax, conn.sndUna), 0);
    conn.cc.cwnd = Math.min(conn.cc.ssthresh, Math.max(flight, conn.smss) + conn.smss);
    conn.inRecovery = false;
    conn.cc.onRecoveryExit(now);
    undoOnRecoveryEnd(conn);
    return;
  }
  // Partial acknowledgment (step 5): resend the next hole, deflate by what was acked, add back one SMSS.
  retransmitFirstUnacked(engine, conn, now);
  conn.cc.cwnd = Math.max(conn.cc.cwnd - acked + (acked >= conn.smss ? conn.smss : 0), conn.smss);
}

/** cwnd grows only while the connection is using it (RFC 7661's idea; avoids inflating an app-limited window). */
export function growWindow(conn: TcpConnection, now: number, acked: number, flightBefore: number): void {
  const cc = conn.cc;
  const limited = cc.cwnd < cc.ssthresh ? flightBefore * 2 >= cc.cwnd : flightBefore + conn.smss >= cc.cwnd;
  if (limited) cc.onAck(now, acked, conn.rtt.srtt);
}
