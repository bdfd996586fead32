// SACK-based loss recovery, RFC 6675: entering recovery on DupThresh duplicate ACKs or when IsLost(HighACK + 1),
// sending under the pipe estimate (SetPipe) what NextSeg() picks, and leaving at RecoveryPoint.
import type { TcpConnection } from './connection.js';
import type { TcpEngine } from './engine.js';
import { growWindow } from './reno-recovery.js';
import { DUP_THRESH } from './sack-scoreboard.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLt, seqMax, seqMin } from './seq.js';
import { segmentRoom, sendRange } from './snd.js';

/** RFC 6675 §4 SetPipe(): octets not lost and not SACKed, plus octets retransmitted, in [HighACK, HighData). */
export function pipe(conn: TcpConnection): number {
  const sb = conn.scoreboard;
  const boundary = sb.lossBoundary(conn.smss, conn.sndUna);
  const notLost = sb.unsackedBytes(seqMax(boundary, conn.sndUna), conn.sndMax);
  const retransmitted = sb.unsackedBytes(conn.sndUna, seqMin(conn.highRxt, conn.sndMax));
  return notLost + retransmitted;
}

/** Any ACK on a SACK connection; `duplicate` per RFC 6675 §2 (ack = HighACK, new SACK data, data outstanding). */
export function sackOnAck(
  engine: TcpEngine,
  conn: TcpConnection,
  now: number,
  acked: number,
  _newlySacked: number,
  duplicate: boolean,
  flightBefore: number,
): void {
  if (conn.inRecovery) {
    if (seqGe(conn.sndUna, conn.recoveryPoint)) {
      // §5 (A): recovery ends when RecoveryPoint is cumulatively acknowledged; cwnd stays at ssthresh.
      conn.inRecovery = false;
      conn.dupAcks = 0;
      conn.cc.cwnd = conn.cc.ssthresh;
      conn.cc.onRecoveryExit(now);
    }
    return; // the transmitter sends under the pipe rule
  }
  if (acked > 0) {
    conn.dupAcks = 0;
    growWindow(conn, now, acked, flightBefore);
  } else if (duplicate) {
    conn.dupAcks++;
  }
  // §5 (C.2) / step 4: start recovery, but not inside the previous one's sequence range.
  const lost = conn.scoreboard.rangeCount > 0 && conn.scoreboard.isLost(conn.sndUna, conn.smss);
  if ((conn.dupAcks >= DUP_THRESH || lost) && seqGt(conn.sndUna, conn.recoveryPoint) && conn.sndMax !== conn.sndUna) {
    conn.inRecovery = true;
    conn.fastRecoveries++;
    conn.recoveryPoint = conn.sndMax;
    // (4.2) ssthresh = cwnd = FlightSize / 2 (or CUBIC's β); (4.3) the first loss goes out regardless of pipe.
    conn.cc.cwnd = conn.cc.onCongestionEvent(now, flightBefore);
    conn.highRxt = conn.sndUna;
    const hole = conn.scoreboard.skipSacked(conn.sndUna);
    const holeEnd = conn.scoreboard.nextSackedStart(hole, conn.sndMax);
    retransmitAt(engine, conn, now, hole, holeEnd);
  }
}

function retransmitAt(engine: TcpEngine, conn: TcpConnection, now: number, seq: number, holeEnd: number): boolean {
  const dataEnd = seqMin(holeEnd, conn.sendDataEnd);
  const len = Math.max(Math.min(segmentRoom(conn), seqDiff(dataEnd, seq)), 0);
  const fin = conn.finSeq >= 0 && seqAdd(seq, len) === conn.finSeq && seqGt(conn.sndMax, conn.finSeq) && seqGt(holeEnd, conn.finSeq);
  if (len === 0 && !fin) return false;
  if (!sendRange(engine, conn, now, seq, len, fin)) return false;
  const end = seqAdd(seq, len + (fin ? 1 : 0));
  if (seqGt(end, conn.highRxt)) conn.highRxt = end;
  return true;
}

/** §5 (C): while cwnd − pipe ≥ 1 SMSS, send the segment NextSeg() (§4) chooses. */
export function sackRecoveryTransmit(engine: TcpEngine, conn: TcpConnection, now: number): void {
  const sb = conn.scoreboard;
  for (let guard = 0; guard < 1024; guard++) {
    if (conn.cc.cwnd - pipe(conn) < conn.smss) return;
    const boundary = sb.lossBoundary(conn.smss, conn.sndUna);
    const highestSacked = sb.highestSacked(conn.sndUna);
    const candidate = sb.skipSacked(seqMax(conn.highRxt, conn.sndUna));
    // Rule 1: the first unSACKed, not yet retransmitted octet that IsLost().
    if (seqLt(candidate, boundary) && seqLt(candidate, highestSacked)) {
      if (!retransmitAt(engine, conn, now, candidate, sb.nextSackedStart(candidate, conn.sndMax))) return;
      continue;
    }
    // Rule 2: new data, if the receiver's window allows.
    const seq = conn.sndMax;
    const available = seqDiff(conn.sendDataEnd, seq);
    const windowRoom = seqDiff(seqAdd(conn.sndUna, conn.sndWnd), seq);
    const len = Math.min(segmentRoom(conn), available, windowRoom);
    if (len > 0) {
      const fin = conn.finSeq >= 0 && seqAdd(seq, len) === conn.finSeq;
      if (!sendRange(engine, conn, now, seq, len, fin)) return;
      conn.sndNxt = conn.sndMax;
      continue;
    }
    // Rule 3: an unSACKed octet below the highest SACKed one, even if not yet deemed lost.
    if (seqLt(candidate, highestSacked)) {
      if (!retransmitAt(engine, conn, now, candidate, sb.nextSackedStart(candidate, conn.sndMax))) return;
      continue;
    }
    return;
  }
}
