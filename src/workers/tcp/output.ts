// Filling the shared segment descriptor and handing it to the stage's output (RFC 9293 §3.10.7 "send ..." steps).
// Every segment we send with ACK set carries the current RCV.NXT and window, so sending one also satisfies any
// pending or delayed ACK; that bookkeeping is done here once.
import { TCP_ACK, TCP_RST, TCP_SYN } from '../../wire/index.js';
import type { TcpConnection } from './connection.js';
import { fillSackOption, sackBlocksToSend } from './dsack.js';
import type { TcpEngine } from './engine.js';
import { advertisedWindowField, commitAdvertisedWindow, synWindow } from './rcv.js';
import type { TcpSegmentOut } from './types.js';
import { seqAdd, seqMax } from './seq.js';

/** Our timestamp clock for a connection: milliseconds plus its offset (RFC 7323 §5.4). */
export function tsNow(conn: TcpConnection, now: number): number {
  return (Math.floor(now) + conn.tsOffset) >>> 0;
}

/** Fills the descriptor for a segment of `conn`; the payload is added by the caller. */
export function prepareSegment(engine: TcpEngine, conn: TcpConnection, now: number, flags: number, seq: number): TcpSegmentOut {
  const seg = engine.segment;
  seg.connection = conn;
  seg.srcAddr = conn.localAddr;
  seg.dstAddr = conn.remoteAddr;
  seg.srcPort = conn.localPort;
  seg.dstPort = conn.remotePort;
  seg.seq = seq >>> 0;
  seg.ack = flags & TCP_ACK ? conn.rcvNxt : 0;
  seg.flags = flags;
  seg.urgent = 0;
  seg.mss = -1;
  seg.windowScale = -1;
  seg.sackPermitted = false;
  seg.sackBlockCount = 0;
  seg.tsPresent = conn.tsEnabled;
  seg.tsVal = conn.tsEnabled ? tsNow(conn, now) : 0;
  seg.tsEcr = conn.tsEnabled && flags & TCP_ACK ? conn.tsRecent : 0;
  seg.payloadRing = null;
  seg.payloadFromHead = 0;
  seg.payloadLength = 0;
  seg.gsoSize = 0;
  if (flags & TCP_SYN) {
    // RFC 7323 §2.2: the window of a SYN is never scaled; options go only on SYNs.
    seg.window = synWindow(engine, conn);
    seg.mss = conn.rcvMss;
    if (conn.wscaleEnabled) seg.windowScale = conn.rcvWscale;
    seg.sackPermitted = conn.sackEnabled;
  } else if (flags & TCP_RST && !(flags & TCP_ACK)) {
    seg.window = 0;
  } else {
    seg.window = advertisedWindowField(conn);
    if (conn.sackEnabled && (conn.outOfOrder.count > 0 || conn.dsackPending)) {
      // RFC 2018 §4: report the most recent blocks, after a D-SACK block if one is owed (RFC 2883 §4).
      seg.sackBlockCount = fillSackOption(conn, seg.sackBlocks);
    }
  }
  return seg;
}

/** Bytes of SACK option a segment of `conn` would carry now (they come out of the payload room, RFC 6691). */
export function sackOptionBytes(conn: TcpConnection): number {
  const blocks = sackBlocksToSend(conn);
  return blocks === 0 ? 0 : 4 + 8 * blocks;
}

/** Hands the prepared descriptor to the output; on success records what the peer now knows. */
export function transmit(engine: TcpEngine, conn: TcpConnection, now: number, seg: TcpSegmentOut): boolean {
  if (!engine.output.send(seg)) {
    conn.outputBlocked = true;
    engine.markBlocked(conn);
    return false;
  }
  // A super-segment leaves the device as several segments; count those, as Linux's tcpi_segs_out does.
  conn.segmentsOut += seg.gsoSize > 0 ? Math.ceil(seg.payloadLength / seg.gsoSize) : 1;
  conn.lastSendAt = now;
  if (seg.flags & TCP_ACK) {
    if (conn.dsackPending && !(seg.flags & (TCP_SYN | TCP_RST))) {
      // Each duplicate is reported in one ACK only (RFC 2883 §4 rule 2).
      conn.dsackPending = false;
      engine.stats.dsackOut++;
    }
    conn.lastAckSent = conn.rcvNxt;
    conn.ackNow = false;
    conn.unackedSegments = 0;
    conn.delayedAckAt = -1;
    if (!(seg.flags & TCP_SYN)) commitAdvertisedWindow(conn, seg.window);
    else conn.rcvAdvRight = seqMax(conn.rcvAdvRight, seqAdd(conn.rcvNxt, seg.window));
  }
  return true;
}

/** A segment without payload (ACK, SYN, FIN, RST, probes). */
export function sendControl(engine: TcpEngine, conn: TcpConnection, now: number, flags: number, seq: number): boolean {
  return transmit(engine, conn, now, prepareSegment(engine, conn, now, flags, seq));
}

/** An ACK for the current RCV.NXT (RFC 9293 §3.10.7.4: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>). */
export function sendAck(engine: TcpEngine, conn: TcpConnection, now: number): boolean {
  return sendControl(engine, conn, now, TCP_ACK, conn.sndNxt);
}

/**
 * A reset answering a segment that has no connection (RFC 9293 §3.10.7.1): if it had ACK, <SEQ=SEG.ACK><CTL=RST>;
 * otherwise <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. Never in answer to a RST.
 */
export function sendResetFor(
  engine: TcpEngine,
  localAddr: number,
  localPort: number,
  remoteAddr: number,
  remotePort: number,
  segFlags: number,
  segSeq: number,
  segAck: number,
  segLen: number,
): boolean {
  if (segFlags & TCP_RST) return false;
  const seg = engine.segment;
  seg.connection = null;
  seg.srcAddr = localAddr;
  seg.dstAddr = remoteAddr;
  seg.srcPort = localPort;
  seg.dstPort = remotePort;
  if (segFlags & TCP_ACK) {
    seg.seq = segAck >>> 0;
    seg.ack = 0;
    seg.flags = TCP_RST;
  } else {
    seg.seq = 0;
    seg.ack = (segSeq + segLen) >>> 0;
    seg.flags = TCP_RST | TCP_ACK;
  }
  seg.window = 0;
  seg.urgent = 0;
  seg.mss = -1;
  seg.windowScale = -1;
  seg.sackPermitted = false;
  seg.sackBlockCount = 0;
  seg.tsPresent = false;
  seg.tsVal = 0;
  seg.tsEcr = 0;
  seg.payloadRing = null;
  seg.payloadFromHead = 0;
  seg.payloadLength = 0;
  seg.gsoSize = 0;
  engine.stats.resetsSent++;
  return engine.output.send(seg);
}
