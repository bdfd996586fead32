// Active open (RFC 9293 §3.10.1 OPEN) and the SYN-SENT state (§3.10.7.3), including simultaneous open.
import { TCP_ACK, TCP_RST, TCP_SYN, type TcpRepr } from '../../wire/index.js';
import type { TcpConnection } from './connection.js';
import type { TcpEngine } from './engine.js';
import { initialSequenceNumber } from './isn.js';
import { applyPeerSynOptions, offerOptions } from './options.js';
import { sendControl, sendResetFor, tsNow } from './output.js';
import { abortConnection } from './close.js';
import { seqAdd, seqGt, seqLe } from './seq.js';
import { TcpState } from './types.js';
import { armKeepalive } from './keepalive.js';

/**
 * Chooses the ISS (RFC 6528) and starts the send sequence space after it (RFC 9293 §3.4): the SYN takes ISS, data
 * starts at ISS + 1. Both opens, active and passive, begin with it.
 */
export function startSendSequence(engine: TcpEngine, conn: TcpConnection, now: number): void {
  conn.iss = initialSequenceNumber(engine.isnKey, now, conn.localAddr, conn.localPort, conn.remoteAddr, conn.remotePort);
  conn.sndUna = conn.iss;
  conn.sndNxt = seqAdd(conn.iss, 1);
  conn.sndMax = conn.sndNxt;
  conn.sndBufSeq = conn.sndNxt;
  conn.recoveryPoint = conn.iss;
}

export function activeOpen(engine: TcpEngine, conn: TcpConnection, now: number, mtu: number): void {
  offerOptions(conn, engine.config, mtu, conn.receiveBuffer!.capacity);
  startSendSequence(engine, conn, now);
  conn.state = TcpState.SynSent;
  sendSyn(engine, conn, now);
}

function sendSyn(engine: TcpEngine, conn: TcpConnection, now: number): void {
  sendControl(engine, conn, now, TCP_SYN, conn.iss);
  if (!conn.tsEnabled) {
    conn.rttSeq = conn.sndNxt;
    conn.rttSentAt = now;
  }
  conn.rtoAt = now + conn.rtt.rto;
  engine.schedule(conn);
}

/** The SYN (or SYN-ACK, in SYN-RECEIVED) was not answered in time. */
export function onSynTimeout(engine: TcpEngine, conn: TcpConnection, now: number): void {
  conn.rtoAt = -1;
  conn.timeoutCount++;
  const limit = conn.state === TcpState.SynSent ? engine.config.synRetries : engine.config.synAckRetries;
  if (conn.timeoutCount > limit) {
    // A passive embryo just disappears; an active open fails with ETIMEDOUT.
    abortConnection(engine, conn, now, conn.listener === null ? 'ETIMEDOUT' : null, false, true);
    return;
  }
  conn.rtt.onTimeout();
  conn.rttSeq = -1;
  conn.retransmits++;
  sendControl(engine, conn, now, conn.state === TcpState.SynSent ? TCP_SYN : TCP_SYN | TCP_ACK, conn.iss);
  conn.rtoAt = now + conn.rtt.rto;
  engine.schedule(conn);
}

/** RFC 9293 §3.10.7.3: a segment arrives in SYN-SENT. */
export function synSentSegment(engine: TcpEngine, conn: TcpConnection, now: number, tcp: TcpRepr, segLen: number, mtu: number): void {
  const hasAck = (tcp.flags & TCP_ACK) !== 0;
  if (hasAck && (seqLe(tcp.ack, conn.iss) || seqGt(tcp.ack, conn.sndMax))) {
    // First: an ACK for something we never sent.
    if (!(tcp.flags & TCP_RST)) {
      sendResetFor(engine, conn.localAddr, conn.localPort, conn.remoteAddr, conn.remotePort, tcp.flags, tcp.seq, tcp.ack, segLen);
    }
    return;
  }
  if (tcp.flags & TCP_RST) {
    // Second: a reset that acknowledges our SYN means "connection refused"; without ACK it is dropped.
    if (hasAck) abortConnection(engine, conn, now, 'ECONNREFUSED', false, true);
    return;
  }
  if (!(tcp.flags & TCP_SYN)) return;
  // Fourth: the SYN bit.
  conn.irs = tcp.seq;
  conn.rcvNxt = seqAdd(tcp.seq, 1);
  conn.rcvAdvRight = conn.rcvNxt;
  applyPeerSynOptions(conn, tcp, mtu);
  conn.cc = engine.createCongestionControl(conn.cc.algorithm, conn.smss);
  if (conn.tsEnabled) {
    conn.tsRecent = tcp.tsVal;
    conn.tsRecentAt = now;
  }
  // The window of a SYN is not scaled (RFC 7323 §2.2).
  conn.sndWnd = tcp.window;
  conn.maxSndWnd = tcp.window;
  conn.sndWl1 = tcp.seq;
  conn.sndWl2 = tcp.ack;
  conn.lastReceiveAt = now;
  if (hasAck) {
    conn.sndUna = tcp.ack;
    if (conn.tsEnabled && tcp.tsEcr !== 0) conn.rtt.sample((tsNow(conn, now) - tcp.tsEcr) | 0);
    else if (conn.rttSeq >= 0 && conn.retransmits === 0) conn.rtt.sample(now - conn.rttSentAt);
    if (conn.retransmits > 0) conn.rtt.onHandshakeRetransmitted();
    conn.rttSeq = -1;
    conn.rtoAt = -1;
    conn.timeoutCount = 0;
    conn.state = TcpState.Established;
    engine.schedule(conn);
    armKeepalive(engine, conn);
    engine.events.onConnected(conn);
    if (conn.ackWithFirstData) {
      // RFC 9293 §3.10.7.3 lets queued data go with this ACK; ours is on its way from the application, so the ACK
      // waits for it like any delayed ACK (RFC 1122 §4.2.3.2), and the application's first write carries it.
      conn.ackWithFirstData = false;
      conn.delayedAckAt = now + engine.config.delayedAckMs;
      engine.schedule(conn);
      return;
    }
    conn.ackNow = true;
    engine.flushConnection(conn, now);
    return;
  }
  // Simultaneous open: SYN-RECEIVED, answering with SYN-ACK <SEQ=ISS><ACK=RCV.NXT>.
  conn.state = TcpState.SynReceived;
  sendControl(engine, conn, now, TCP_SYN | TCP_ACK, conn.iss);
  conn.rtoAt = now + conn.rtt.rto;
  engine.schedule(conn);
}
