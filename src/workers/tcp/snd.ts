// The send half: processing acknowledgments (RFC 9293 §3.10.7.4 "fifth, check the ACK field"), RTT samples
// (RFC 6298 §3 Karn, RFC 7323 §4 timestamps), and the transmitter — Nagle (RFC 9293 §3.7.4, off with TCP_NODELAY),
// sender silly-window avoidance (§3.8.6.2.1), the congestion window, the persist timer and zero-window probes
// (§3.8.6.1, RFC 1122 §4.2.2.17), the retransmission timeout (RFC 6298 §5), and the loss-detection timers of
// RACK-TLP (RFC 8985; rack.ts, tlp.ts).
import { TCP_ACK, TCP_FIN, TCP_HEADER_BYTES, TCP_PSH, type TcpRepr } from '../../wire/index.js';
import type { TcpConnection } from './connection.js';
import type { TcpEngine } from './engine.js';
import { prepareSegment, sackOptionBytes, sendAck, transmit, tsNow } from './output.js';
import { firstBlockIsDsack } from './dsack.js';
import { rackMarkLossesOnTimeout } from './rack.js';
import { renoOnDuplicateAck, renoOnNewAck } from './reno-recovery.js';
import { acknowledgeSent, detectLosses, enterRecovery, recordSackBlocks, sackOnAck, sackRecoveryTransmit } from './sack-recovery.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMin } from './seq.js';
import { onLossProbeTimeout, scheduleLossProbe } from './tlp.js';
import { TcpState } from './types.js';
import { abortConnection } from './close.js';
import { beginUndoEpisode, undoOnAck, undoOnRecoveryEnd, undoOnRetransmit } from './undo.js';

/** Bytes in flight as RFC 5681 counts them (SACKed bytes excluded when SACK is on). */
export function flightSize(conn: TcpConnection): number {
  return conn.sackEnabled
    ? conn.scoreboard.unsackedBytes(conn.sndUna, conn.sndNxt)
    : Math.max(seqDiff(conn.sndNxt, conn.sndUna), 0);
}

/** Payload room of one segment now. */
export function segmentRoom(conn: TcpConnection): number {
  return conn.smss - sackOptionBytes(conn);
}

/**
 * Sends `len` bytes from `seq` (and the FIN if it follows them). Returns false if the output refused it.
 * Sequence bookkeeping: SND.NXT and HighData move only forward past what was sent. With `gsoSize` > 0 and `len`
 * above it, the segment is a super-segment the device cuts into pieces of `gsoSize` text.
 */
export function sendRange(
  engine: TcpEngine, conn: TcpConnection, now: number, seq: number, len: number, fin: boolean, gsoSize = 0,
): boolean {
  const end = seqAdd(seq, len + (fin ? 1 : 0));
  let flags = TCP_ACK;
  if (fin) flags |= TCP_FIN;
  if (len > 0 && seqAdd(seq, len) === conn.sendDataEnd) flags |= TCP_PSH;
  const seg = prepareSegment(engine, conn, now, flags, seq);
  if (len > 0) {
    seg.payloadRing = conn.sendBuffer;
    seg.payloadFromHead = seqDiff(seq, conn.sndBufSeq);
    seg.payloadLength = len;
    if (gsoSize > 0 && len > gsoSize) seg.gsoSize = gsoSize;
  }
  if (!transmit(engine, conn, now, seg)) return false;
  if (seqLt(seq, conn.sndMax)) {
    conn.retransmits++;
    engine.stats.retransmittedSegments++;
    // Karn (RFC 6298 §3): no sample from a segment that was retransmitted.
    conn.rttSeq = -1;
    undoOnRetransmit(conn, now, seq, seqMin(end, conn.sndMax));
  } else if (conn.rttSeq < 0 && !conn.tsEnabled) {
    conn.rttSeq = end;
    conn.rttSentAt = now;
  }
  // RFC 8985 §6.1: each transmission's time, for RACK.
  if (conn.sackEnabled) conn.sent.onTransmit(seq, end, now, conn.sndMax);
  if (seqGt(end, conn.sndMax)) conn.sndMax = end;
  if (conn.rtoAt < 0) {
    // RFC 6298 §5.1: arm the timer when a segment with data leaves and it is not running.
    conn.rtoAt = now + conn.rtt.rto;
    engine.schedule(conn);
  }
  return true;
}

function canSendData(state: number): boolean {
  return state === TcpState.Established || state === TcpState.CloseWait || state === TcpState.FinWait1
    || state === TcpState.Closing || state === TcpState.LastAck;
}

/**
 * Sends what the windows and the rules allow from SND.NXT (or, in SACK recovery, what NextSeg() picks), then any
 * ACK still owed. `force` overrides silly-window avoidance (the persist timer's override, RFC 9293 §3.8.6.2.1).
 */
export function transmitPending(engine: TcpEngine, conn: TcpConnection, now: number, force = false): void {
  if (conn.sendBuffer !== null && canSendData(conn.state)) {
    if (conn.sndMax === conn.sndUna && now - conn.lastSendAt > conn.rtt.rto && conn.segmentsOut > 0) {
      conn.cc.onIdleRestart(); // RFC 5681 §4.1
    }
    if (conn.sndWnd === 0 && seqDiff(conn.sndMax, conn.sndUna) <= 1 && hasUnsent(conn)) {
      // Zero window with at most a probe byte out: persist mode (§3.8.6.1). Pull SND.NXT back like BSD does.
      conn.sndNxt = conn.sndUna;
      conn.rtoAt = -1;
    } else if (conn.sackEnabled && (conn.inRecovery || conn.lossRecovery || conn.sent.lostBytes > 0)) {
      sackRecoveryTransmit(engine, conn, now);
    } else {
      while (transmitOne(engine, conn, now, force)) force = false;
    }
    updatePersist(engine, conn, now);
    scheduleLossProbe(engine, conn, now);
  }
  if (conn.ackNow && !conn.outputBlocked) sendAck(engine, conn, now);
}

function hasUnsent(conn: TcpConnection): boolean {
  if (seqLt(conn.sndNxt, conn.sendDataEnd)) return true;
  return conn.finSeq >= 0 && seqLe(conn.sndNxt, conn.finSeq);
}

/** One segment from SND.NXT (a super-segment where the output cuts them); false when nothing (more) may be sent now. */
function transmitOne(engine: TcpEngine, conn: TcpConnection, now: number, force: boolean): boolean {
  let seq = conn.sndNxt;
  const retransmitting = seqLt(seq, conn.sndMax);
  let limit = conn.sendDataEnd;
  if (retransmitting && conn.sackEnabled) {
    // Go-back-N after a timeout skips what the receiver holds (RFC 6675 §5.1).
    seq = conn.scoreboard.skipSacked(seq);
    conn.sndNxt = seq;
    limit = seqMin(limit, conn.scoreboard.nextSackedStart(seq, limit));
  }
  const available = Math.max(seqDiff(limit, seq), 0);
  const cwndRoom = conn.cc.cwnd - flightSize(conn);
  const windowRoom = seqDiff(seqAdd(conn.sndUna, conn.sndWnd), seq);
  const room = segmentRoom(conn);
  const allowed = Math.min(available, cwndRoom, windowRoom);
  // Retransmissions stay MSS-sized: loss recovery resends what was lost, not 64 KiB around it.
  const maxLen = allowed > room && !retransmitting ? superSegmentRoom(engine, conn, room) : room;
  let len = Math.max(Math.min(maxLen, allowed), 0);
  if (len > room && len % room !== 0 && !(seqAdd(seq, len) === conn.sendDataEnd && nagleAllows(conn))) {
    // A super-segment is a run of full-sized segments (RFC 9293 §3.8.6.2.1: each may be sent); a short last piece
    // is a small segment, and goes now only where Nagle would send it alone (as Linux's tcp_mss_split_point).
    len -= len % room;
  }
  // A full segment (or run of them) with more data behind it ends where the next one's text lands word-aligned.
  const aligned = len >= room && len % room === 0 && available > len && !retransmitting ? alignedLength(engine, conn, seq, len) : len;
  const cut = aligned < len;
  len = aligned;
  const finNext = conn.finSeq >= 0 && seqAdd(seq, len) === conn.finSeq;
  if (len === 0 && !(finNext && available === 0 && cwndRoom > 0)) return false;
  if (len > 0 && len < room && !cut && !retransmitting && !force) {
    const allQueued = seqAdd(seq, len) === conn.sendDataEnd;
    const halfWindow = len >= conn.maxSndWnd / 2 && windowRoom < available;
    if (!((allQueued && nagleAllows(conn)) || halfWindow)) return false;
  }
  if (len < 0) len = 0;
  if (!sendRange(engine, conn, now, seq, len, finNext, room)) return false;
  conn.sndNxt = seqAdd(seq, len + (finNext ? 1 : 0));
  if (len > 0 && len % room !== 0 && !cut) {
    // Minshall: the small segment is the last piece of what was sent (Linux's tcp_minshall_update).
    conn.sndSml = conn.sndNxt;
    conn.sndSmlSet = true;
  }
  return true;
}

/**
 * Minshall's variant of Nagle (draft-minshall-nagle, as Linux; RFC 9293 §3.7.4 with TCP_NODELAY turning it off):
 * hold a small segment only while an earlier small segment is unacknowledged. Plain Nagle also holds the partial
 * segment at the end of every buffer refill behind full ones, and with a delayed ACK on the other side that stalls
 * the stream for delayedAckMs.
 */
function nagleAllows(conn: TcpConnection): boolean {
  const smallInFlight = conn.sndSmlSet && seqGt(conn.sndSml, conn.sndUna);
  return conn.noDelay || !smallInFlight || conn.finRequested;
}

/**
 * The most text one segment may carry: `room` (one MSS of text), or, when the route's device cuts super-segments
 * (TSO), as many whole `room`s as fit under the output's limit with this header — each piece the device cuts is
 * then an MSS-sized segment with the same header (RFC 9293 §3.7.1; timestamps copied to every piece are fine:
 * RFC 7323 §5.3 PAWS accepts equal TSvals). At least two pieces, or it is not worth a super-segment.
 */
function superSegmentRoom(engine: TcpEngine, conn: TcpConnection, room: number): number {
  const limit = engine.output.superSegmentLimit?.(conn.remoteAddr) ?? 0;
  if (limit <= 0) return room;
  const header = TCP_HEADER_BYTES + (conn.tsEnabled ? 12 : 0) + sackOptionBytes(conn);
  const pieces = Math.floor((limit - header) / room);
  return pieces >= 2 ? pieces * room : room;
}

/**
 * The length of a full segment from `seq`, shortened by at most 7 bytes so that the segment after it starts at a
 * send-ring address with the phase (mod 8) its text will have in the output's frame: V8 copies between two shared
 * buffers word by word only when they agree mod 8 (docs/PERFORMANCE.md). Once aligned, segments of a multiple of
 * 8 keep it. Sending less than the MSS with more queued is always allowed; such a segment is not "small" for Nagle.
 */
function alignedLength(engine: TcpEngine, conn: TcpConnection, seq: number, len: number): number {
  const ring = conn.sendBuffer;
  if (ring === null || engine.output.textPhase === undefined || len < 64) return len;
  const phase = engine.output.textPhase(20 + (conn.tsEnabled ? 12 : 0) + sackOptionBytes(conn));
  if (phase < 0) return len;
  const spans = engine.spans;
  ring.spans(seqDiff(seqAdd(seq, len), conn.sndBufSeq), 1, spans);
  return len - ((spans[0] - phase) & 7);
}

/** Arm the persist timer when data waits, nothing is in flight and nothing could be sent; disarm otherwise. */
function updatePersist(engine: TcpEngine, conn: TcpConnection, now: number): void {
  const idle = conn.sndMax === conn.sndUna || (conn.sndWnd === 0 && seqDiff(conn.sndMax, conn.sndUna) <= 1);
  if (idle && hasUnsent(conn)) {
    if (conn.persistAt < 0) {
      const base = Math.max(conn.rtt.rto, engine.config.minRtoMs);
      conn.persistAt = now + Math.min(base * 2 ** conn.persistBackoff, engine.config.maxPersistMs);
      engine.schedule(conn);
    }
  } else {
    conn.persistAt = -1;
    conn.persistBackoff = 0;
  }
}

/** The persist timer fired: probe a zero window with one byte, or override SWS avoidance. */
export function onPersistTimeout(engine: TcpEngine, conn: TcpConnection, now: number): void {
  conn.persistAt = -1;
  if (conn.sendBuffer === null || !canSendData(conn.state) || !hasUnsent(conn)) return;
  conn.persistBackoff++;
  if (conn.sndWnd === 0) {
    engine.stats.windowProbes++;
    const seq = conn.sndUna;
    if (seqLt(seq, conn.sendDataEnd)) {
      // One byte of new data beyond the window (RFC 9293 §3.8.6.1); the receiver acks it or re-states window 0.
      if (sendRange(engine, conn, now, seq, 1, false)) conn.sndNxt = seqAdd(seq, 1);
      conn.rtoAt = -1; // the persist timer, not the RTO, governs probes
    } else {
      sendRange(engine, conn, now, seq, 0, true);
      conn.sndNxt = seqAdd(seq, 1);
    }
    const base = Math.max(conn.rtt.rto, engine.config.minRtoMs);
    conn.persistAt = now + Math.min(base * 2 ** conn.persistBackoff, engine.config.maxPersistMs);
    engine.schedule(conn);
    return;
  }
  transmitPending(engine, conn, now, true);
}

/** RFC 6298 §5.4–5.7 and RFC 5681 §3.1: the retransmission timer fired in a synchronized state. */
export function onRetransmitTimeout(engine: TcpEngine, conn: TcpConnection, now: number): void {
  // RFC 8985 §7.2: a PTO capped to the RTO's expiry stands in for it; the probe goes and re-arms the RTO.
  if (conn.tlpAt >= 0 && conn.tlpAt <= now && canSendData(conn.state) && onLossProbeTimeout(engine, conn, now)) return;
  conn.rtoAt = -1;
  if (conn.sndMax === conn.sndUna) return;
  conn.timeoutCount++;
  conn.timeouts++;
  if (conn.timeoutCount > engine.config.maxRetries) {
    abortConnection(engine, conn, now, 'ETIMEDOUT', false, true);
    return;
  }
  beginUndoEpisode(conn);
  conn.cc.onRetransmitTimeout(now, flightSize(conn));
  // RFC 6675 §5.1: a timeout ends fast recovery; no new one until HighData at this moment is acked.
  conn.inRecovery = false;
  conn.lossRecovery = true;
  conn.recoveryPoint = conn.sndMax;
  conn.dupAcks = 0;
  conn.tlp.endSeq = -1;
  conn.tlpAt = -1;
  if (conn.timeoutCount >= 2) {
    // A peer may renege on SACKed data (RFC 2018 §8): after a second timeout without progress, forget the SACKs.
    conn.scoreboard.clear();
    conn.sent.clearSacked();
  }
  // With SACK, RACK marks what to resend (RFC 8985 §6.3) and recovery resends it under cwnd, skipping what the
  // receiver holds; without, go back to SND.UNA (RFC 5681 §3.1, RFC 9293 §3.8.1).
  if (conn.sackEnabled) rackMarkLossesOnTimeout(conn, now);
  else conn.sndNxt = conn.sndUna;
  conn.rttSeq = -1;
  conn.rtt.onTimeout();
  transmitPending(engine, conn, now, true);
  if (conn.rtoAt < 0 && conn.sndMax !== conn.sndUna && conn.sndWnd > 0) {
    conn.rtoAt = now + conn.rtt.rto;
    engine.schedule(conn);
  }
}

/**
 * An acceptable ACK in a synchronized state (RFC 9293 §3.10.7.4 fifth). `segLen` is the segment's text length.
 * Returns true if it acknowledged our FIN.
 */
export function processAck(engine: TcpEngine, conn: TcpConnection, now: number, tcp: TcpRepr, segLen: number): boolean {
  const ack = tcp.ack;
  const advanced = seqDiff(ack, conn.sndUna);
  const window = tcp.window * 2 ** conn.sndWscale;
  const flightBefore = flightSize(conn);
  const windowChanged = window !== conn.sndWnd;
  // Window update rule (RFC 9293 §3.10.7.4): only from a newer segment, or the same one acking more.
  if (seqLt(conn.sndWl1, tcp.seq) || (conn.sndWl1 === tcp.seq && seqLe(conn.sndWl2, ack))) {
    conn.sndWnd = window;
    conn.sndWl1 = tcp.seq;
    conn.sndWl2 = ack;
    if (window > conn.maxSndWnd) conn.maxSndWnd = window;
  }
  const tsEcr = conn.tsEnabled && tcp.tsPresent && tcp.tsEcr !== 0 ? tcp.tsEcr : -1;
  let newlySacked = 0;
  let dsackRight = -1;
  if (conn.sackEnabled && tcp.sackBlockCount > 0) {
    if (firstBlockIsDsack(ack, tcp.sackBlocks, tcp.sackBlockCount)) {
      dsackRight = tcp.sackBlocks[1];
      conn.dsackIn++;
      engine.stats.dsackIn++;
    }
    newlySacked = recordSackBlocks(conn, now, advanced > 0 ? ack : conn.sndUna, tcp.sackBlocks, tcp.sackBlockCount);
  }
  let finAcked = false;
  if (advanced > 0) {
    let dataAcked = advanced;
    if (conn.finSeq >= 0 && seqGt(ack, conn.finSeq)) {
      finAcked = true;
      dataAcked--;
    }
    dataAcked = Math.min(dataAcked, seqDiff(conn.sendDataEnd, conn.sndUna));
    if (dataAcked > 0 && conn.sendBuffer !== null) {
      conn.sendBuffer.advanceHead(dataAcked);
      conn.sndBufSeq = seqAdd(conn.sndBufSeq, dataAcked);
      conn.bytesAcked += dataAcked;
    }
    if (conn.sackEnabled) acknowledgeSent(conn, now, ack, tsEcr);
    conn.sndUna = ack;
    if (seqLt(conn.sndNxt, ack)) conn.sndNxt = ack;
    conn.scoreboard.advance(ack);
    takeRttSample(conn, now, tcp, ack);
    conn.timeoutCount = 0;
    conn.persistBackoff = 0;
    // RFC 6298 §5.2–5.3: stop when all is acknowledged, else restart.
    conn.rtoAt = conn.sndMax === conn.sndUna ? -1 : now + conn.rtt.rto;
    engine.schedule(conn);
    undoOnAck(engine, conn, now, tcp.tsPresent, tcp.tsEcr);
    if (conn.sackEnabled) {
      sackOnAck(engine, conn, now, advanced, dsackLeft(tcp, dsackRight), dsackRight, false, flightBefore);
    } else {
      if (conn.lossRecovery && seqGe(ack, conn.recoveryPoint)) {
        // The data outstanding at the timeout is all acknowledged (RFC 6582 §3.2's recover point).
        conn.lossRecovery = false;
        undoOnRecoveryEnd(conn);
      }
      renoOnNewAck(engine, conn, now, advanced, flightBefore);
    }
    if (dataAcked > 0) engine.events.onWritable(conn);
  } else if (advanced === 0 && conn.sndMax !== conn.sndUna) {
    // RFC 5681 §2 duplicate ACK (RFC 6675 §2: or one that SACKs new data).
    const duplicate = segLen === 0 && !(tcp.flags & 0x03) && !windowChanged;
    if (conn.sackEnabled) {
      sackOnAck(engine, conn, now, 0, dsackLeft(tcp, dsackRight), dsackRight, duplicate && newlySacked === 0, flightBefore);
    } else if (duplicate) {
      renoOnDuplicateAck(engine, conn, now, flightBefore);
    }
  }
  return finAcked;
}

function dsackLeft(tcp: TcpRepr, dsackRight: number): number {
  return dsackRight >= 0 ? tcp.sackBlocks[0] : -1;
}

/** The RACK reordering timer (RFC 8985 §6.2 step 5) and the loss probe timer (§7.3), when due. */
export function onLossDetectionTimers(engine: TcpEngine, conn: TcpConnection, now: number): void {
  if (conn.rackAt >= 0 && conn.rackAt <= now) {
    conn.rackAt = -1;
    if (conn.sackEnabled && conn.sndMax !== conn.sndUna && canSendData(conn.state)) {
      detectLosses(engine, conn, now);
      if (!conn.inRecovery && !conn.lossRecovery && conn.sent.lostBytes > 0) enterRecovery(engine, conn, now, flightSize(conn));
      transmitPending(engine, conn, now);
    }
  }
  if (conn.tlpAt >= 0 && conn.tlpAt <= now) {
    if (canSendData(conn.state)) onLossProbeTimeout(engine, conn, now);
    else conn.tlpAt = -1;
  }
}

function takeRttSample(conn: TcpConnection, now: number, tcp: TcpRepr, ack: number): void {
  if (conn.tsEnabled && tcp.tsPresent && tcp.tsEcr !== 0) {
    // RFC 7323 §4.1: any ACK advancing SND.UNA gives a sample from the echoed timestamp.
    const sample = (tsNow(conn, now) - tcp.tsEcr) | 0;
    if (sample >= 0) conn.rtt.sample(sample);
  } else if (conn.rttSeq >= 0 && seqLe(conn.rttSeq, ack)) {
    conn.rtt.sample(now - conn.rttSentAt);
    conn.rttSeq = -1;
  }
}
