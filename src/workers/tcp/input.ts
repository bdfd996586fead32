// Segment arrival in SYN-RECEIVED and the synchronized states (RFC 9293 §3.10.7.4), steps in the RFC's order:
// PAWS (RFC 7323 §5.3), sequence acceptability and trimming to the window, RST with RFC 5961 §3 checks, SYN with
// RFC 5961 §4 challenge ACKs, ACK (with RFC 5961 §5 acceptability), segment text, FIN.
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type TcpRepr } from '../../wire/index.js';
import { establishPassive } from './accept.js';
import { abortConnection, releaseConnection } from './close.js';
import type { TcpConnection } from './connection.js';
import { noteDuplicate } from './dsack.js';
import type { TcpEngine } from './engine.js';
import { sendAck, sendControl, sendResetFor, tsNow } from './output.js';
import { receiveFin, receiveText, receiveWindow } from './rcv.js';
import { seqAdd, seqDiff, seqGe, seqInRange, seqLe, seqLt, seqMin } from './seq.js';
import { processAck, transmitPending } from './snd.js';
import { enterTimeWait } from './time-wait.js';
import { TcpState } from './types.js';
import { armKeepalive } from './keepalive.js';

/** RFC 7323 §5.5: TS.Recent older than 24 days is no longer a valid reference. */
const PAWS_IDLE_LIMIT_MS = 24 * 24 * 3600 * 1000;

export function synchronizedSegment(
  engine: TcpEngine,
  conn: TcpConnection,
  now: number,
  tcp: TcpRepr,
  payload: Uint8Array,
  payloadOffset: number,
  payloadLength: number,
): void {
  conn.segmentsIn++;
  let flags = tcp.flags;
  let seq = tcp.seq;
  let offset = payloadOffset;
  let len = payloadLength;

  // PAWS (RFC 7323 §5.3 R1): a timestamp older than TS.Recent marks an old duplicate.
  if (conn.tsEnabled && tcp.tsPresent && !(flags & TCP_RST) && seqLt(tcp.tsVal, conn.tsRecent)) {
    if (now - conn.tsRecentAt <= PAWS_IDLE_LIMIT_MS) {
      engine.stats.pawsRejected++;
      // An old duplicate of text we hold: report it (RFC 2883 §4, as Linux's tcp_send_dupack).
      if (len > 0 && seqLt(seq, conn.rcvNxt)) noteDuplicate(conn, seq, seqMin(seqAdd(seq, len), conn.rcvNxt));
      sendAck(engine, conn, now);
      return;
    }
  }

  // First: is the segment in the window? (RFC 9293 §3.10.7.4, the four cases.)
  const window = receiveWindow(conn);
  const occupied = len + (flags & TCP_SYN ? 1 : 0) + (flags & TCP_FIN ? 1 : 0);
  let acceptable: boolean;
  const right = seqAdd(conn.rcvNxt, window);
  if (occupied === 0) {
    acceptable = window === 0 ? seq === conn.rcvNxt : seqInRange(seq, conn.rcvNxt, right);
  } else {
    acceptable = window !== 0
      && (seqInRange(seq, conn.rcvNxt, right) || seqInRange(seqAdd(seq, occupied - 1), conn.rcvNxt, right));
  }
  if (!acceptable) {
    if (!(flags & TCP_RST)) {
      engine.stats.outOfWindow++;
      // Text wholly below RCV.NXT is a duplicate: the ACK carries it as a D-SACK block (RFC 2883 §4).
      if (len > 0 && seqLe(seqAdd(seq, len), conn.rcvNxt)) noteDuplicate(conn, seq, seqAdd(seq, len));
      sendAck(engine, conn, now);
    }
    return;
  }

  // RFC 7323 §4.3: record TS.Recent from a segment that covers Last.ACK.sent.
  if (conn.tsEnabled && tcp.tsPresent && seqLe(seq, conn.lastAckSent) && seqGe(tcp.tsVal, conn.tsRecent)) {
    conn.tsRecent = tcp.tsVal;
    conn.tsRecentAt = now;
  }
  conn.lastReceiveAt = now;
  conn.keepaliveProbesSent = 0;

  // Second: RST. RFC 5961 §3.2: only an exact RCV.NXT match resets; others in the window get a challenge ACK.
  if (flags & TCP_RST) {
    if (seq !== conn.rcvNxt) {
      challengeAck(engine, conn, now);
      return;
    }
    engine.stats.resetsReceived++;
    switch (conn.state) {
      case TcpState.SynReceived:
        // A passive open returns to LISTEN (the embryo vanishes); an active one was refused.
        abortConnection(engine, conn, now, conn.listener === null ? 'ECONNREFUSED' : null, false, true);
        return;
      case TcpState.Established:
      case TcpState.FinWait1:
      case TcpState.FinWait2:
      case TcpState.CloseWait:
        abortConnection(engine, conn, now, 'ECONNRESET', false, true);
        return;
      default:
        releaseConnection(engine, conn);
        return;
    }
  }

  // Trim to the window: text before RCV.NXT (a retransmission overlap) and beyond the right edge.
  if (seqLt(seq, conn.rcvNxt)) {
    if (flags & TCP_SYN) {
      flags &= ~TCP_SYN;
      seq = seqAdd(seq, 1);
    }
    const before = seqDiff(conn.rcvNxt, seq);
    // The part below RCV.NXT arrived before: a D-SACK block reports it (RFC 2883 §4).
    if (before > 0 && len > 0) noteDuplicate(conn, seq, seqAdd(seq, Math.min(before, len)));
    if (before > 0) {
      if (before > len) {
        // All text is old; a FIN right after it is old too if RCV.NXT is past it.
        if (before > len && flags & TCP_FIN) flags &= ~TCP_FIN;
        len = 0;
      } else {
        offset += before;
        len -= before;
      }
      seq = conn.rcvNxt;
    }
  }
  if (len > 0 && seqLt(right, seqAdd(seq, len))) {
    len = Math.max(seqDiff(right, seq), 0);
    flags &= ~TCP_FIN;
  }

  // Fourth: SYN. A retransmitted SYN in SYN-RECEIVED gets the SYN-ACK again; elsewhere RFC 5961 §4.2.
  if (flags & TCP_SYN) {
    if (conn.state === TcpState.SynReceived && tcp.seq === conn.irs) {
      sendControl(engine, conn, now, TCP_SYN | TCP_ACK, conn.iss);
    } else {
      challengeAck(engine, conn, now);
    }
    return;
  }

  // Fifth: ACK.
  if (!(flags & TCP_ACK)) return;
  const ack = tcp.ack;
  if (conn.state === TcpState.SynReceived) {
    if (!(seqLt(conn.sndUna, ack) && seqLe(ack, conn.sndMax))) {
      sendResetFor(engine, conn.localAddr, conn.localPort, conn.remoteAddr, conn.remotePort, flags, seq, ack, len);
      return;
    }
    if (!establishHandshake(engine, conn, now, tcp)) return;
  } else {
    // RFC 5961 §5.2: SND.UNA − MAX.SND.WND ≤ SEG.ACK ≤ SND.NXT, else ACK and drop.
    if (!(seqGe(ack, (conn.sndUna - conn.maxSndWnd) >>> 0) && seqLe(ack, conn.sndMax))) {
      challengeAck(engine, conn, now);
      return;
    }
    const finAcked = processAck(engine, conn, now, tcp, len);
    if (conn.released) return;
    if (finAcked) {
      if (conn.state === TcpState.FinWait1) {
        conn.state = TcpState.FinWait2;
      } else if (conn.state === TcpState.Closing) {
        enterTimeWait(engine, conn, now);
        return;
      } else if (conn.state === TcpState.LastAck) {
        releaseConnection(engine, conn);
        return;
      }
    }
  }

  // Seventh: segment text, in the states that still receive.
  if (len > 0 && !conn.finReceived
    && (conn.state === TcpState.Established || conn.state === TcpState.FinWait1 || conn.state === TcpState.FinWait2)) {
    receiveText(engine, conn, now, seq, payload, offset, len);
    if (conn.released) return;
  }

  // Eighth: FIN, processed when everything before it has arrived.
  if (flags & TCP_FIN && !conn.finReceived) {
    const finSeq = seqAdd(seq, len);
    if (finSeq === conn.rcvNxt) receiveFin(engine, conn, now);
    else conn.pendingFinSeq = finSeq;
  } else if (flags & TCP_FIN && conn.finReceived) {
    conn.ackNow = true; // a retransmitted FIN: our ACK was lost
  }
  if (conn.released || conn.state === TcpState.TimeWait) {
    if (conn.state === TcpState.TimeWait && conn.ackNow) sendAck(engine, conn, now);
    return;
  }
  // A D-SACK block goes at once (RFC 2883 §4), not at the end of the receive batch.
  if (conn.dsackPending || !engine.deferOutput(conn)) transmitPending(engine, conn, now);
  conn.filledGap = false;
}

/** SYN-RECEIVED → ESTABLISHED (RFC 9293 §3.10.7.4 fifth, SYN-RECEIVED case). */
function establishHandshake(engine: TcpEngine, conn: TcpConnection, now: number, tcp: TcpRepr): boolean {
  if (!establishPassive(engine, conn, now)) {
    engine.stats.handshakeDeferred++;
    return false;
  }
  conn.sndUna = tcp.ack;
  if (seqLt(conn.sndNxt, conn.sndUna)) conn.sndNxt = conn.sndUna;
  if (conn.tsEnabled && tcp.tsPresent && tcp.tsEcr !== 0) conn.rtt.sample((tsNow(conn, now) - tcp.tsEcr) | 0);
  else if (conn.rttSeq >= 0 && conn.retransmits === 0) conn.rtt.sample(now - conn.rttSentAt);
  if (conn.retransmits > 0) conn.rtt.onHandshakeRetransmitted();
  conn.rttSeq = -1;
  conn.sndWnd = tcp.window * 2 ** conn.sndWscale;
  conn.maxSndWnd = Math.max(conn.maxSndWnd, conn.sndWnd);
  conn.sndWl1 = tcp.seq;
  conn.sndWl2 = tcp.ack;
  conn.rtoAt = conn.sndMax === conn.sndUna ? -1 : now + conn.rtt.rto;
  conn.timeoutCount = 0;
  if (conn.finRequested) conn.state = TcpState.FinWait1; // closed while the handshake was in progress
  else conn.state = TcpState.Established;
  if (conn.listener === null) {
    // Simultaneous open completes here for the active side.
    armKeepalive(engine, conn);
    engine.events.onConnected(conn);
  }
  engine.schedule(conn);
  return true;
}

/** RFC 5961 §7: ACK <SEQ=SND.NXT><ACK=RCV.NXT>, within the engine-wide rate limit. */
export function challengeAck(engine: TcpEngine, conn: TcpConnection, now: number): void {
  if (!engine.allowChallengeAck(now)) return;
  engine.stats.challengeAcks++;
  sendAck(engine, conn, now);
}

