// The receive half: placing segment text in the receive ring (in order or ahead of the tail — the out-of-order
// queue is bounded by the ring, hence by the window), the window we offer with receiver-side silly-window
// avoidance (RFC 9293 §3.8.6.2.2) and RFC 7323 §2.3 scaling, delayed ACKs (RFC 9293 §3.8.6.3, RFC 5681 §4.2),
// FIN arrival, and receive-buffer auto-tuning.
import { QUICK_ACK_SEGMENTS, type TcpConnection } from './connection.js';
import { noteDuplicate } from './dsack.js';
import type { TcpEngine } from './engine.js';
import { seqAdd, seqDiff, seqMax } from './seq.js';
import { TcpState } from './types.js';
import { enterTimeWait } from './time-wait.js';
import { abortConnection } from './close.js';

/** Scratch for the duplicated part of a segment. */
const overlap = new Uint32Array(2);

/** Capacity of the ring this connection receives into (or will, for an embryonic passive open). */
export function receiveCapacity(conn: TcpConnection): number {
  if (conn.receiveBuffer !== null) return conn.receiveBuffer.capacity;
  if (conn.listener !== null) return conn.listener.buffers.receiveCapacity;
  return 65_535;
}

/** The smallest SO_RCVBUF honoured (Linux's SOCK_MIN_RCVBUF is about as much): the window still opens in steps. */
export const MIN_RECEIVE_BUFFER = 2048;

/** The most the window may ever offer: a locked SO_RCVBUF, else the ring (auto-tuning grows the clamp up to it). */
function receiveLimit(conn: TcpConnection): number {
  const capacity = receiveCapacity(conn);
  return conn.rcvBufferLocked ? Math.min(conn.rcvWindowClamp, capacity) : capacity;
}

/** SO_RCVBUF: at most `bytes` received and unread (within [MIN_RECEIVE_BUFFER, the ring]); auto-tuning stops. */
export function lockReceiveBuffer(conn: TcpConnection, bytes: number): void {
  conn.rcvBufferLocked = true;
  conn.rcvWindowClamp = Math.min(Math.max(bytes, MIN_RECEIVE_BUFFER), receiveCapacity(conn));
}

/**
 * The window clamp before auto-tuning has measured anything: the configured initial window, but at least ten of our
 * segments (Linux's initial receive window, matching RFC 6928's initial congestion window), within the ring. At MTU
 * 65535 a 64 KiB window is less than one segment, and the sender's SWS avoidance then waits for its persist timer.
 */
export function initialWindowClamp(initialReceiveWindow: number, rcvMss: number, capacity: number): number {
  return Math.min(Math.max(initialReceiveWindow, 10 * rcvMss), capacity);
}

/**
 * Bytes we could take from RCV.NXT on: free ring space, within the auto-tuning clamp (a window size), or within a
 * locked SO_RCVBUF, which also counts what the application has not read yet (a buffer size, as on Linux).
 */
export function receiveSpace(conn: TcpConnection): number {
  const ring = conn.receiveBuffer;
  if (ring === null) return Math.min(receiveCapacity(conn), conn.rcvWindowClamp);
  const free = ring.writableBytes(); // we produce into it: this reads the app's head fresh
  if (conn.rcvBufferLocked) return Math.max(Math.min(free, conn.rcvWindowClamp - (ring.capacity - free)), 0);
  return Math.min(free, conn.rcvWindowClamp);
}

/** The window of a SYN or SYN-ACK: unscaled, at most 65535 (RFC 7323 §2.2). */
export function synWindow(_engine: TcpEngine, conn: TcpConnection): number {
  return Math.min(receiveSpace(conn), 65_535);
}

/** The 16-bit window field to send now. */
export function advertisedWindowField(conn: TcpConnection): number {
  let window = receiveSpace(conn);
  const offered = Math.max(seqDiff(conn.rcvAdvRight, conn.rcvNxt), 0);
  if (window <= offered) {
    // Never move the right edge left (RFC 9293 §3.8.6.2.2, RFC 7323 §2.4).
    window = offered;
  } else {
    // Receiver SWS avoidance: open the window only by at least min(buffer / 2, MSS).
    const step = Math.min(receiveLimit(conn) / 2, conn.rcvMss);
    if (window - offered < step) window = offered;
  }
  const field = Math.floor(window / 2 ** conn.rcvWscale);
  return Math.min(field, 65_535);
}

/** Records the right edge a sent window field promised. */
export function commitAdvertisedWindow(conn: TcpConnection, field: number): void {
  conn.rcvAdvRight = seqMax(conn.rcvAdvRight, seqAdd(conn.rcvNxt, field * 2 ** conn.rcvWscale));
}

/** The window the peer may fill: from RCV.NXT to the right edge we advertised (RCV.WND). */
export function receiveWindow(conn: TcpConnection): number {
  return Math.max(seqDiff(conn.rcvAdvRight, conn.rcvNxt), 0);
}

/**
 * Segment text already trimmed to the window (RFC 9293 §3.10.7.4, "seventh, process the segment text"): place it
 * and decide how soon to acknowledge.
 */
export function receiveText(
  engine: TcpEngine,
  conn: TcpConnection,
  now: number,
  seq: number,
  payload: Uint8Array,
  payloadOffset: number,
  length: number,
): void {
  const ring = conn.receiveBuffer;
  if (ring === null) return;
  if (conn.appClosed) {
    // Data for an application that closed without reading: RFC 9293 §3.10.4 / RFC 2525 §2.17 say reset.
    abortConnection(engine, conn, now, 'ECONNRESET', true, false);
    return;
  }
  const ahead = seqDiff(seq, conn.rcvNxt);
  // In order, nothing queued: a reader on this thread waiting with a buffer takes what it can straight from here.
  const reader = ahead === 0 && conn.outOfOrder.count === 0 ? ring.directReader() : undefined;
  const taken = reader !== undefined ? reader.take(payload, payloadOffset, length) : 0;
  if (taken > 0) engine.stats.bytesToReaderDirect += taken;
  if (taken < length && !ring.writeAt(ahead, payload, payloadOffset + taken, length - taken)) {
    // Beyond the free space (only if the peer overran our window): drop, and say where we are.
    engine.stats.droppedBeyondBuffer++;
    conn.ackNow = true;
    if (taken === 0) return;
    length = taken; // the reader has the first part: that much arrived
  }
  if (conn.outOfOrder.count > 0 && conn.outOfOrder.firstOverlap(seq, seqAdd(seq, length), overlap)) {
    // Text we already queued out of order came again: a D-SACK block tells the sender (RFC 2883 §4).
    noteDuplicate(conn, overlap[0], overlap[1]);
  }
  if (ahead !== 0) {
    // RFC 5681 §4.2: an out-of-order segment is acknowledged at once (a duplicate ACK carrying SACK blocks).
    conn.outOfOrder.add(seq, seqAdd(seq, length));
    conn.ackNow = true;
    return;
  }
  const filledGap = conn.outOfOrder.count > 0;
  conn.filledGap = filledGap;
  const next = conn.outOfOrder.takeContiguous(seqAdd(seq, length));
  const delivered = seqDiff(next, conn.rcvNxt);
  ring.advanceTail(delivered - taken);
  conn.rcvNxt = next;
  conn.bytesReceived += delivered;
  autoTune(conn, now, delivered);
  engine.events.onReadable(conn);
  // After an idle spell the sender restarts from a small window (RFC 5681 §4.1): acknowledge at once again.
  if (now - conn.lastDataAt > conn.rtt.rto) conn.quickAcks = QUICK_ACK_SEGMENTS;
  conn.lastDataAt = now;
  if (filledGap || seqDiff(conn.rcvNxt, conn.lastAckSent) >= 2 * conn.rcvMss) {
    // RFC 5681 §4.2: ACK when a gap is filled, and at least every second full-sized segment.
    conn.ackNow = true;
  } else if (conn.quickAcks > 0) {
    // RFC 5681 §4.2 allows delaying; during slow start a delayed ACK only stalls the sender (Linux's quick-ACK).
    conn.quickAcks--;
    conn.ackNow = true;
  } else if (conn.delayedAckAt < 0) {
    conn.delayedAckAt = now + engine.config.delayedAckMs;
    engine.schedule(conn);
  }
  if (conn.pendingFinSeq >= 0 && conn.pendingFinSeq === conn.rcvNxt) receiveFin(engine, conn, now);
}

/**
 * Receive auto-tuning: each RTT, let the window offer at least twice what the application consumed in the last
 * one (the sender needs a window of one bandwidth-delay product; twice absorbs growth), up to the ring's size.
 */
function autoTune(conn: TcpConnection, now: number, delivered: number): void {
  if (conn.rcvBufferLocked) return; // SO_RCVBUF was set: the application chose the window
  conn.tuneBytes += delivered;
  const rtt = conn.rtt.samples > 0 ? Math.max(conn.rtt.srtt, 1) : 0;
  if (rtt === 0 || now - conn.tuneStart < rtt) return;
  const capacity = receiveCapacity(conn);
  const wanted = Math.min(2 * conn.tuneBytes, capacity);
  if (wanted > conn.rcvWindowClamp) conn.rcvWindowClamp = wanted;
  conn.tuneBytes = 0;
  conn.tuneStart = now;
}

/** "Eighth, check the FIN bit" (RFC 9293 §3.10.7.4) once RCV.NXT has reached it. */
export function receiveFin(engine: TcpEngine, conn: TcpConnection, now: number): void {
  if (conn.finReceived) return;
  conn.finReceived = true;
  conn.pendingFinSeq = -1;
  conn.rcvNxt = seqAdd(conn.rcvNxt, 1);
  conn.ackNow = true;
  engine.events.onRemoteEof(conn);
  switch (conn.state) {
    case TcpState.SynReceived:
    case TcpState.Established:
      conn.state = TcpState.CloseWait;
      break;
    case TcpState.FinWait1:
      // Our FIN not yet acknowledged: simultaneous close.
      conn.state = TcpState.Closing;
      break;
    case TcpState.FinWait2:
      enterTimeWait(engine, conn, now);
      break;
    default:
      break;
  }
}

/** The application read from the receive ring: send a window update if the window opened enough. */
export function onReceiveBufferRead(engine: TcpEngine, conn: TcpConnection, now: number): void {
  if (conn.state !== TcpState.Established && conn.state !== TcpState.FinWait1 && conn.state !== TcpState.FinWait2) return;
  if (conn.finReceived) return;
  const offered = receiveWindow(conn);
  const field = advertisedWindowField(conn);
  if (field * 2 ** conn.rcvWscale > offered) {
    conn.ackNow = true;
    engine.flushConnection(conn, now);
  }
}
