// SACK-based loss recovery, RFC 6675, with loss *detection* by RACK (RFC 8985 §6; IsLost() is RACK's lost mark):
// what each ACK of a SACK connection does — D-SACKs (undo, RFC 3708; the reordering window, RFC 8985 §6.2 step 4),
// the tail loss probe's verdict (§7.4), leaving recovery at RecoveryPoint, RACK's loss marks, entering recovery —
// and the transmitter during recovery: under the pipe estimate (SetPipe), what NextSeg() picks.
import type { TcpConnection } from './connection.js';
import type { TcpEngine } from './engine.js';
import { rackDetectLoss, rackMayDetect, rackOnDelivered, rackOnRecoveryExit, rackUpdateReorderWindow } from './rack.js';
import { growWindow } from './reno-recovery.js';
import { SEGMENT_SACKED } from './sent-segments.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqMin } from './seq.js';
import { segmentRoom, sendRange } from './snd.js';
import { lossProbeOnAck } from './tlp.js';
import { beginUndoEpisode, continueUndoEpisode, undoOnDsack, undoOnRecoveryEnd } from './undo.js';
import { emptyDoubleArray } from '../../wire/index.js';

/**
 * RFC 6675 §4 SetPipe(): the octets in flight — sent, not cumulatively acknowledged, not SACKed, not deemed lost
 * (a retransmission puts a lost segment back in flight).
 */
export function pipe(conn: TcpConnection): number {
  return Math.max(seqDiff(conn.sndMax, conn.sndUna) - conn.scoreboard.sackedBytes - conn.sent.lostBytes, 0);
}

/** Scratch for the newly SACKed ranges of one ACK. */
const newlySacked: number[] = emptyDoubleArray();

/**
 * The SACK blocks of an ACK (RFC 2018): records them in the scoreboard, marks the segments they newly cover and
 * lets RACK learn from them (RFC 8985 §6.2 steps 1–3). `highAck` is the ACK's cumulative point (if it advanced).
 * Returns the newly SACKed bytes.
 */
export function recordSackBlocks(conn: TcpConnection, now: number, highAck: number, blocks: Uint32Array, count: number): number {
  newlySacked.length = 0;
  const added = conn.scoreboard.update(highAck, conn.sndMax, blocks, count, newlySacked);
  const sent = conn.sent;
  for (let k = 0; k < newlySacked.length; k += 2) {
    sent.markSacked(newlySacked[k], newlySacked[k + 1]);
    // No timestamp check for a SACKed retransmission: the receiver echoes TS.Recent, which out-of-order text does
    // not update (RFC 7323 §4.3), so the echo predates even the retransmission; min_RTT alone judges it.
    for (let i = sent.markedFrom; i < sent.markedTo; i++) rackOnDelivered(conn, sent, i, now, -1);
  }
  return added;
}

/** The cumulative ACK reached `ack`: RACK learns from the segments it delivers, which then leave the list. */
export function acknowledgeSent(conn: TcpConnection, now: number, ack: number, tsEcr: number): void {
  const sent = conn.sent;
  for (let i = sent.first, n = sent.limit; i < n && seqLe(sent.end(i), ack); i++) {
    if (!(sent.flags(i) & SEGMENT_SACKED)) rackOnDelivered(conn, sent, i, now, tsEcr);
  }
  sent.acknowledge(ack);
}

/**
 * Every ACK of a SACK connection, after its blocks and cumulative point were recorded. `acked`: bytes it
 * cumulatively acknowledged; `dsackLeft`/`dsackRight`: its D-SACK block (right -1: none); `dupAck`: it neither
 * advanced nor SACKed anything.
 */
export function sackOnAck(
  engine: TcpEngine,
  conn: TcpConnection,
  now: number,
  acked: number,
  dsackLeft: number,
  dsackRight: number,
  dupAck: boolean,
  flightBefore: number,
): void {
  if (dsackRight >= 0) undoOnDsack(engine, conn, now, dsackLeft, dsackRight);
  rackUpdateReorderWindow(conn, dsackRight >= 0);
  lossProbeOnAck(engine, conn, now, conn.sndUna, dsackRight, dupAck);
  if (conn.inRecovery || conn.lossRecovery) {
    if (seqGe(conn.sndUna, conn.recoveryPoint)) {
      // RFC 6675 §5 (A): recovery ends when RecoveryPoint is cumulatively acknowledged; after a fast recovery cwnd
      // is ssthresh, after a timeout it grew by slow start from one segment (RFC 5681 §3.1).
      if (conn.inRecovery) conn.cc.cwnd = Math.min(conn.cc.cwnd, conn.cc.ssthresh);
      conn.inRecovery = false;
      conn.lossRecovery = false;
      conn.dupAcks = 0;
      conn.cc.onRecoveryExit(now);
      rackOnRecoveryExit(conn);
      undoOnRecoveryEnd(conn);
    } else if (conn.lossRecovery && acked > 0) {
      growWindow(conn, now, acked, flightBefore);
    }
  } else if (acked > 0) {
    conn.dupAcks = 0;
    growWindow(conn, now, acked, flightBefore);
  } else if (dupAck) {
    conn.dupAcks++;
  }
  detectLosses(engine, conn, now);
  if (!conn.inRecovery && !conn.lossRecovery && conn.sent.lostBytes > 0) enterRecovery(engine, conn, now, flightBefore);
}

/** RACK's step 5 and its reordering timer; counts what it marked. */
export function detectLosses(engine: TcpEngine, conn: TcpConnection, now: number): void {
  if (!rackMayDetect(conn)) {
    conn.rackAt = -1;
    return;
  }
  const marked = rackDetectLoss(conn, now);
  conn.rackLosses += marked;
  engine.stats.rackLosses += marked;
  if (conn.rackAt >= 0) engine.schedule(conn);
}

/**
 * RFC 6675 §5 step 4, entered on RACK's first loss mark: RecoveryPoint = HighData; (4.2) ssthresh and cwnd fall —
 * unless the loss is of data sent before the last reduction's RecoveryPoint, which that reduction answered
 * (RFC 6582 §3.2 step 2's rule); (4.3) the first lost segment goes out regardless of pipe.
 */
export function enterRecovery(engine: TcpEngine, conn: TcpConnection, now: number, flight: number): void {
  const first = conn.sent.firstLost();
  if (first < 0) return;
  const lostStart = conn.sent.start(first);
  if (seqGe(lostStart, conn.recoveryPoint)) {
    beginUndoEpisode(conn);
    conn.cc.cwnd = conn.cc.onCongestionEvent(now, flight);
    conn.fastRecoveries++;
  } else {
    continueUndoEpisode(conn);
  }
  conn.inRecovery = true;
  conn.recoveryPoint = conn.sndMax;
  conn.tlpAt = -1;
  retransmitAt(engine, conn, now, lostStart, conn.sent.end(first));
}

/** Resends the start of [seq, end) — one segment's worth, and the FIN if it lies there. */
function retransmitAt(engine: TcpEngine, conn: TcpConnection, now: number, seq: number, end: number): boolean {
  const dataEnd = seqMin(end, conn.sendDataEnd);
  const len = Math.max(Math.min(segmentRoom(conn), seqDiff(dataEnd, seq)), 0);
  const fin = conn.finSeq >= 0 && seqAdd(seq, len) === conn.finSeq && seqGt(conn.sndMax, conn.finSeq) && seqGt(end, conn.finSeq);
  if (len === 0 && !fin) return false;
  return sendRange(engine, conn, now, seq, len, fin);
}

/**
 * §5 (C): while cwnd − pipe ≥ 1 SMSS, send what NextSeg() (§4) picks: rule 1, the first segment deemed lost;
 * rule 2, new data. Rule 3 (resending what is not yet deemed lost) is left to RACK's timer and the loss probe.
 */
export function sackRecoveryTransmit(engine: TcpEngine, conn: TcpConnection, now: number): void {
  const sent = conn.sent;
  for (let guard = 0; guard < 1024; guard++) {
    if (conn.cc.cwnd - pipe(conn) < conn.smss) return;
    const lost = sent.firstLost();
    if (lost >= 0) {
      if (!retransmitAt(engine, conn, now, sent.start(lost), sent.end(lost))) return;
      continue;
    }
    const seq = conn.sndMax;
    const available = seqDiff(conn.sendDataEnd, seq);
    const windowRoom = seqDiff(seqAdd(conn.sndUna, conn.sndWnd), seq);
    const len = Math.min(segmentRoom(conn), available, windowRoom);
    if (len > 0) {
      const fin = conn.finSeq >= 0 && seqAdd(seq, len) === conn.finSeq;
      if (!sendRange(engine, conn, now, seq, len, fin)) return;
    } else if (seq === conn.finSeq) {
      if (!sendRange(engine, conn, now, seq, 0, true)) return; // the FIN, alone, after all the data
    } else {
      return;
    }
    conn.sndNxt = conn.sndMax;
  }
}
