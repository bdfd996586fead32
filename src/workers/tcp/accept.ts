// Passive open (RFC 9293 §3.10.7.2, LISTEN): a listener with a SYN queue (connections in SYN-RECEIVED) and an
// accept queue (established, not yet accepted), both bounded by the backlog; SYN cookies (syn-cookies.ts) take over
// when the SYN queue is full.
import { TCP_ACK, TCP_RST, TCP_SYN, type TcpRepr } from '../../wire/index.js';
import type { CongestionAlgorithm } from './congestion.js';
import type { TcpConnection } from './connection.js';
import type { TcpEngine } from './engine.js';
import { startSendSequence } from './connect.js';
import { applyPeerSynOptions, chooseWindowScale, mssForMtu, offerOptions } from './options.js';
import { sendControl, sendResetFor } from './output.js';
import { seqAdd } from './seq.js';
import {
  COOKIE_MSS_TABLE, cookieMssIndex, decodeCookieOptions, decodeSynCookie, encodeCookieOptions, encodeSynCookie,
} from './syn-cookies.js';
import { TcpState, type TcpBufferProvider } from './types.js';
import { armKeepalive } from './keepalive.js';
import { initialWindowClamp } from './rcv.js';

export interface ListenOptions {
  /** 0 = every local address. */
  localAddr?: number;
  port: number;
  /** Bounds the SYN queue and the accept queue each (Linux's somaxconn-capped backlog). */
  backlog?: number;
  buffers: TcpBufferProvider;
  noDelay?: boolean;
  congestion?: CongestionAlgorithm;
  keepalive?: boolean;
}

export class TcpListener {
  readonly localAddr: number;
  readonly port: number;
  readonly backlog: number;
  readonly buffers: TcpBufferProvider;
  readonly noDelay: boolean | undefined;
  readonly congestion: CongestionAlgorithm | undefined;
  readonly keepalive: boolean | undefined;
  /** Connections in SYN-RECEIVED. */
  synQueueLength = 0;
  readonly acceptQueue: TcpConnection[] = [];
  closed = false;
  userData: unknown = null;
  /** SYN-ACKs answered with a cookie, and cookies that completed a handshake. */
  cookiesSent = 0;
  cookiesAccepted = 0;
  droppedSyns = 0;

  constructor(options: ListenOptions) {
    this.localAddr = options.localAddr ?? 0;
    this.port = options.port;
    this.backlog = Math.max(options.backlog ?? 511, 1);
    this.buffers = options.buffers;
    this.noDelay = options.noDelay;
    this.congestion = options.congestion;
    this.keepalive = options.keepalive;
  }

  /** An embryonic or unaccepted connection went away. */
  forget(conn: TcpConnection): void {
    if (conn.state === TcpState.SynReceived) {
      this.synQueueLength--;
      return;
    }
    const i = this.acceptQueue.indexOf(conn);
    if (i >= 0) this.acceptQueue.splice(i, 1);
  }
}

/** A segment for a listening port with no connection (RFC 9293 §3.10.7.2). */
export function listenSegment(
  engine: TcpEngine, listener: TcpListener, now: number, localAddr: number, remoteAddr: number, tcp: TcpRepr,
  payload: Uint8Array, payloadOffset: number, segLen: number,
): void {
  if (tcp.flags & TCP_RST) return;
  if (tcp.flags & TCP_ACK) {
    if (!(tcp.flags & TCP_SYN) && engine.config.synCookies && completeCookieHandshake(engine, listener, now, localAddr, remoteAddr, tcp, payload, payloadOffset, segLen)) {
      return;
    }
    sendResetFor(engine, localAddr, tcp.dstPort, remoteAddr, tcp.srcPort, tcp.flags, tcp.seq, tcp.ack, segLen);
    return;
  }
  if (!(tcp.flags & TCP_SYN)) return;
  if (listener.acceptQueue.length >= listener.backlog) {
    // Nowhere to put the connection once established: drop the SYN, the peer retries (as Linux does).
    listener.droppedSyns++;
    return;
  }
  if (listener.synQueueLength >= listener.backlog) {
    if (engine.config.synCookies) sendCookieSynAck(engine, listener, now, localAddr, remoteAddr, tcp);
    else listener.droppedSyns++;
    return;
  }
  const conn = engine.createConnection(localAddr, tcp.dstPort, remoteAddr, tcp.srcPort, listener.congestion);
  conn.listener = listener;
  listener.synQueueLength++;
  conn.mtu = engine.mtuTo(remoteAddr);
  offerOptions(conn, engine.config, conn.mtu, listener.buffers.receiveCapacity);
  conn.rcvWindowClamp = initialWindowClamp(engine.config.initialReceiveWindow, conn.rcvMss, listener.buffers.receiveCapacity);
  applyPeerSynOptions(conn, tcp, conn.mtu);
  conn.cc = engine.createCongestionControl(conn.cc.algorithm, conn.smss);
  applyListenerSettings(engine, conn, listener);
  conn.irs = tcp.seq;
  conn.rcvNxt = seqAdd(tcp.seq, 1);
  conn.rcvAdvRight = conn.rcvNxt;
  if (conn.tsEnabled) {
    conn.tsRecent = tcp.tsVal;
    conn.tsRecentAt = now;
  }
  startSendSequence(engine, conn, now);
  conn.sndWnd = tcp.window;
  conn.maxSndWnd = tcp.window;
  conn.sndWl1 = tcp.seq;
  conn.lastReceiveAt = now;
  conn.state = TcpState.SynReceived;
  sendControl(engine, conn, now, TCP_SYN | TCP_ACK, conn.iss);
  if (!conn.tsEnabled) {
    conn.rttSeq = conn.sndNxt;
    conn.rttSentAt = now;
  }
  conn.rtoAt = now + conn.rtt.rto;
  engine.schedule(conn);
}

function applyListenerSettings(engine: TcpEngine, conn: TcpConnection, listener: TcpListener): void {
  conn.noDelay = listener.noDelay ?? engine.config.noDelay;
  if (listener.keepalive ?? engine.config.keepalive) engine.setKeepAlive(conn, true);
}

/**
 * SYN-RECEIVED → ESTABLISHED for a passive open: get buffers and a place in the accept queue. False if either is
 * unavailable now; the ACK is then ignored and the SYN-ACK retransmission drives a retry.
 */
export function establishPassive(engine: TcpEngine, conn: TcpConnection, now: number): boolean {
  const listener = conn.listener;
  if (listener === null) return true;
  if (listener.closed || listener.acceptQueue.length >= listener.backlog) return false;
  const buffers = listener.buffers.allocate(conn);
  if (buffers === null) return false;
  conn.sendBuffer = buffers.sendBuffer;
  conn.receiveBuffer = buffers.receiveBuffer;
  listener.synQueueLength--;
  conn.state = TcpState.Established;
  conn.timeoutCount = 0;
  listener.acceptQueue.push(conn);
  armKeepalive(engine, conn);
  if (listener.acceptQueue.length === 1) engine.events.onIncoming(listener);
  void now;
  return true;
}

function sendCookieSynAck(engine: TcpEngine, listener: TcpListener, now: number, localAddr: number, remoteAddr: number, syn: TcpRepr): void {
  const peerMss = syn.mss >= 0 ? syn.mss : 536;
  const mssIndex = cookieMssIndex(Math.min(peerMss, mssForMtu(engine.mtuTo(remoteAddr))));
  const cookie = encodeSynCookie(engine.cookieKey, now, localAddr, syn.dstPort, remoteAddr, syn.srcPort, syn.seq, mssIndex);
  const seg = engine.segment;
  seg.connection = null;
  seg.srcAddr = localAddr;
  seg.dstAddr = remoteAddr;
  seg.srcPort = syn.dstPort;
  seg.dstPort = syn.srcPort;
  seg.seq = cookie;
  seg.ack = seqAdd(syn.seq, 1);
  seg.flags = TCP_SYN | TCP_ACK;
  seg.window = Math.min(listener.buffers.receiveCapacity, engine.config.initialReceiveWindow, 65_535);
  seg.urgent = 0;
  seg.mss = COOKIE_MSS_TABLE[mssIndex];
  // Without timestamps there is nowhere to remember window scale and SACK: the connection goes without them.
  const ts = engine.config.timestamps && syn.tsPresent;
  seg.tsPresent = ts;
  seg.windowScale = ts && engine.config.windowScaling && syn.windowScale >= 0 ? chooseWindowScale(listener.buffers.receiveCapacity) : -1;
  seg.sackPermitted = ts && engine.config.sack && syn.sackPermitted;
  if (ts) {
    const clock = (Math.floor(now) + engine.timestampOffset(localAddr, syn.dstPort, remoteAddr, syn.srcPort)) >>> 0;
    const options = encodeCookieOptions(seg.windowScale >= 0 ? syn.windowScale : -1, seg.sackPermitted);
    // Keep the clock monotonic: replace the low bits, stepping back one tick of 32 if that would jump ahead.
    let tsVal = ((clock & ~31) | options) >>> 0;
    if (tsVal > clock) tsVal = (tsVal - 32) >>> 0;
    seg.tsVal = tsVal;
    seg.tsEcr = syn.tsVal;
  } else {
    seg.tsVal = 0;
    seg.tsEcr = 0;
  }
  seg.sackBlockCount = 0;
  seg.payloadRing = null;
  seg.payloadFromHead = 0;
  seg.payloadLength = 0;
  listener.cookiesSent++;
  engine.stats.synCookiesSent++;
  engine.output.send(seg);
}

/** The final ACK of a cookie handshake: rebuild the connection from the cookie, straight into ESTABLISHED. */
function completeCookieHandshake(
  engine: TcpEngine, listener: TcpListener, now: number, localAddr: number, remoteAddr: number, tcp: TcpRepr,
  payload: Uint8Array, payloadOffset: number, segLen: number,
): boolean {
  const peerIsn = (tcp.seq - 1) >>> 0;
  const cookie = (tcp.ack - 1) >>> 0;
  const mssIndex = decodeSynCookie(engine.cookieKey, now, localAddr, tcp.dstPort, remoteAddr, tcp.srcPort, peerIsn, cookie);
  if (mssIndex < 0) return false;
  if (listener.acceptQueue.length >= listener.backlog) return true; // valid, but no room: drop, the peer retries
  const conn = engine.createConnection(localAddr, tcp.dstPort, remoteAddr, tcp.srcPort, listener.congestion);
  conn.listener = listener;
  conn.mtu = engine.mtuTo(remoteAddr);
  offerOptions(conn, engine.config, conn.mtu, listener.buffers.receiveCapacity);
  const ts = engine.config.timestamps && tcp.tsPresent;
  const decoded = ts ? decodeCookieOptions(tcp.tsEcr) : { peerWindowScale: -1, sackPermitted: false };
  // Re-create the SYN's options as the cookie recorded them.
  const synView = engine.scratchRepr;
  synView.mss = COOKIE_MSS_TABLE[mssIndex];
  synView.windowScale = decoded.peerWindowScale;
  synView.tsPresent = ts;
  synView.sackPermitted = decoded.sackPermitted;
  applyPeerSynOptions(conn, synView, conn.mtu);
  conn.cc = engine.createCongestionControl(conn.cc.algorithm, conn.smss);
  applyListenerSettings(engine, conn, listener);
  conn.rcvWindowClamp = initialWindowClamp(engine.config.initialReceiveWindow, conn.rcvMss, listener.buffers.receiveCapacity);
  conn.irs = peerIsn;
  conn.rcvNxt = tcp.seq;
  conn.rcvAdvRight = conn.rcvNxt;
  conn.iss = cookie;
  conn.sndUna = tcp.ack;
  conn.sndNxt = tcp.ack;
  conn.sndMax = tcp.ack;
  conn.sndBufSeq = tcp.ack;
  conn.recoveryPoint = cookie;
  conn.sndWnd = tcp.window * 2 ** conn.sndWscale;
  conn.maxSndWnd = conn.sndWnd;
  conn.sndWl1 = tcp.seq;
  conn.sndWl2 = tcp.ack;
  if (ts) {
    conn.tsRecent = tcp.tsVal;
    conn.tsRecentAt = now;
  }
  conn.lastReceiveAt = now;
  conn.state = TcpState.SynReceived;
  listener.synQueueLength++;
  if (!establishPassive(engine, conn, now)) {
    engine.remove(conn);
    listener.synQueueLength--;
    return true;
  }
  listener.cookiesAccepted++;
  engine.stats.synCookiesAccepted++;
  // The ACK may carry data: process it as an ESTABLISHED segment.
  engine.processSynchronized(conn, now, tcp, payload, payloadOffset, segLen);
  return true;
}

