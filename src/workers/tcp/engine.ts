// The TCP engine of one protocol shard: connection and listener tables, the timer heap, and the calls the
// protocol stage makes — input(), onTimers(), pollAt(), flush() — plus the socket calls (connect, listen, accept,
// shutdown, close, abort, buffer notifications). Pure and clock-injected: `now` (ms) comes with every call.
import type { ByteRing } from '../../shared-ring/index.js';
import { createTcpRepr, TCP_SYN, type TcpRepr } from '../../wire/index.js';
import { listenSegment, TcpListener, type ListenOptions } from './accept.js';
import { abortConnection, closeConnection, releaseConnection, shutdownSend } from './close.js';
import type { CongestionAlgorithm, CongestionControl } from './congestion.js';
import { activeOpen, onSynTimeout, synSentSegment } from './connect.js';
import { TcpConnection } from './connection.js';
import { CubicCongestionControl } from './cubic.js';
import { flowHash, pickLocalPort, shardOfFlow } from './flow-hash.js';
import { hashFourTuple, hashKeyFromBytes, type HashKey } from './hsiphash.js';
import { tcpInfo } from './info.js';
import { synchronizedSegment } from './input.js';
import { armKeepalive, onKeepaliveTimer } from './keepalive.js';
import { mssForMtu } from './options.js';
import { sendResetFor } from './output.js';
import { initialWindowClamp, lockReceiveBuffer, onReceiveBufferRead } from './rcv.js';
import { RenoCongestionControl } from './reno.js';
import { RttEstimator, type RttConfig } from './rtt.js';
import { onLossDetectionTimers, onPersistTimeout, onRetransmitTimeout, transmitPending } from './snd.js';
import { timeWaitReusable, timeWaitSegment } from './time-wait.js';
import { nextTimerOf, TimerHeap } from './timer.js';
import {
  DEFAULT_TCP_CONFIG, TcpSegmentOut, TcpState, type TcpConfig, type TcpEventSink, type TcpInfo, type TcpOutput,
} from './types.js';

export interface TcpEngineOptions {
  output: TcpOutput;
  events: TcpEventSink;
  config?: Partial<TcpConfig>;
  /** At least 24 random bytes: keys for ISNs, SYN cookies and the flow hash (shared by all shards and RX). */
  secret?: Uint8Array;
  shard?: number;
  shardCount?: number;
  /**
   * MTU of the route to a peer, for the MSS a passive open offers (RFC 9293 §3.7.1: from the interface the
   * segments will leave by); absent or null: `config.mtu`.
   */
  routeMtu?: (remoteAddr: number) => number | null;
}

export interface ConnectOptions {
  localAddr: number;
  remoteAddr: number;
  remotePort: number;
  /** 0 or absent: pick an ephemeral port that hashes to this shard. */
  localPort?: number;
  sendBuffer: ByteRing;
  receiveBuffer: ByteRing;
  noDelay?: boolean;
  congestion?: CongestionAlgorithm;
  keepalive?: boolean;
  /** MTU of the route to the peer (defaults to the engine's). */
  mtu?: number;
  /** SO_RCVBUF set before connecting: the SYN already offers no more (0 or absent: auto-tuning). */
  receiveBufferLimit?: number;
  /**
   * The application has data or a FIN to send once the connection is established: the handshake's ACK waits for
   * it (`TcpConnection.ackWithFirstData`).
   */
  writePending?: boolean;
}

export interface TcpEngineStats {
  segmentsIn: number;
  resetsSent: number;
  resetsReceived: number;
  challengeAcks: number;
  pawsRejected: number;
  outOfWindow: number;
  synCookiesSent: number;
  synCookiesAccepted: number;
  retransmittedSegments: number;
  windowProbes: number;
  keepaliveProbes: number;
  droppedBeyondBuffer: number;
  /** Received bytes a reader on the stage's thread took straight from the frame (ByteRing.directReader). */
  bytesToReaderDirect: number;
  handshakeDeferred: number;
  wrongShard: number;
  /** D-SACK blocks sent (RFC 2883) and received. */
  dsackOut: number;
  dsackIn: number;
  /** Retransmissions a D-SACK showed needless (RFC 3708), and window reductions undone (RFC 4015). */
  spuriousRetransmits: number;
  undos: number;
  /** Segments RACK marked lost (RFC 8985 §6.2), and loss probes sent (§7.3). */
  rackLosses: number;
  tlpProbes: number;
  /** Probes whose ACK showed they repaired a loss (§7.4). */
  tlpRecoveries: number;
}

export class TcpEngine {
  readonly config: TcpConfig;
  readonly output: TcpOutput;
  readonly events: TcpEventSink;
  readonly isnKey: HashKey;
  readonly cookieKey: HashKey;
  readonly flowKey: HashKey;
  private readonly tsKey: HashKey;
  readonly shard: number;
  readonly shardCount: number;
  /** The one descriptor every segment is described in. */
  readonly segment = new TcpSegmentOut();
  /** Scratch for ByteRing.spans. */
  readonly spans = new Int32Array(4);
  /** Scratch repr for rebuilding SYN options (SYN cookies). */
  readonly scratchRepr: TcpRepr = createTcpRepr();
  readonly stats: TcpEngineStats = {
    segmentsIn: 0, resetsSent: 0, resetsReceived: 0, challengeAcks: 0, pawsRejected: 0, outOfWindow: 0,
    synCookiesSent: 0, synCookiesAccepted: 0, retransmittedSegments: 0, windowProbes: 0, keepaliveProbes: 0,
    droppedBeyondBuffer: 0, bytesToReaderDirect: 0, handshakeDeferred: 0, wrongShard: 0, dsackOut: 0, dsackIn: 0, spuriousRetransmits: 0,
    undos: 0, rackLosses: 0, tlpProbes: 0, tlpRecoveries: 0,
  };

  /**
   * The connections by their ports (`portsKey`), those that share a key chained by `nextSamePorts`. One small-integer
   * key per connection: a Map per local address and port was made (and dropped) for every outgoing connection.
   */
  private readonly connections = new Map<number, TcpConnection>();
  private readonly listeners = new Map<number, TcpListener[]>();
  private readonly timers = new TimerHeap();
  private readonly blocked = new Set<TcpConnection>();
  /** Inside a receive batch: connections whose output (data, owed ACKs) waits for its end. */
  private inputBatch = false;
  /** Inside a batch of application commands: connections whose output waits for its end (`flushAfterCommands`). */
  private commandBatch = false;
  private readonly deferredOutput = new Set<TcpConnection>();
  private nextId = 1;
  private portCursor: number;
  private connectionTotal = 0;
  private challengeWindowStart = -Infinity;
  private challengeCount = 0;
  private readonly routeMtu: ((remoteAddr: number) => number | null) | undefined;
  /** Every connection's RTO bounds (one object for all of them). */
  private readonly rttConfig: RttConfig;

  constructor(options: TcpEngineOptions) {
    this.config = { ...DEFAULT_TCP_CONFIG, ...options.config };
    this.output = options.output;
    this.events = options.events;
    const secret = options.secret ?? globalThis.crypto.getRandomValues(new Uint8Array(32));
    if (secret.length < 32) throw new RangeError(`TcpEngine: the secret needs 32 bytes, got ${secret.length}`);
    this.isnKey = hashKeyFromBytes(secret.subarray(0, 8));
    this.cookieKey = hashKeyFromBytes(secret.subarray(8, 16));
    this.flowKey = hashKeyFromBytes(secret.subarray(16, 24));
    this.tsKey = hashKeyFromBytes(secret.subarray(24, 32));
    this.shard = options.shard ?? 0;
    this.shardCount = options.shardCount ?? 1;
    if (!(this.shard >= 0 && this.shard < this.shardCount)) throw new RangeError(`TcpEngine: shard ${this.shard} of ${this.shardCount}`);
    this.portCursor = hashFourTuple(this.isnKey, 0, 0, 0, 0, 0x504f5254) % 16384;
    this.routeMtu = options.routeMtu;
    this.rttConfig = { initialRtoMs: this.config.initialRtoMs, minRtoMs: this.config.minRtoMs, maxRtoMs: this.config.maxRtoMs, granularityMs: 1 };
  }

  /** The MTU segments to `remoteAddr` leave with (the route's, else `config.mtu`). */
  mtuTo(remoteAddr: number): number {
    return this.routeMtu?.(remoteAddr) ?? this.config.mtu;
  }

  get connectionCount(): number {
    return this.connectionTotal;
  }

  // ---------------------------------------------------------------- the stage's calls

  /**
   * One received segment (checksum already verified). `payload[payloadOffset, +payloadLength)` is its text; it is
   * copied before this returns.
   */
  input(now: number, srcAddr: number, dstAddr: number, tcp: TcpRepr, payload: Uint8Array, payloadOffset: number, payloadLength: number): void {
    this.stats.segmentsIn++;
    let conn = this.lookup(dstAddr, tcp.dstPort, srcAddr, tcp.srcPort);
    if (conn !== undefined && conn.state === TcpState.TimeWait) {
      const listener = this.findListener(dstAddr, tcp.dstPort);
      if (timeWaitSegment(this, conn, now, tcp, payloadLength, listener !== undefined) === 'handled') return;
      releaseConnection(this, conn); // RFC 6191 reopen: the SYN goes to the listener below
      conn = undefined;
    }
    if (conn === undefined) {
      const listener = this.findListener(dstAddr, tcp.dstPort);
      if (listener !== undefined && !listener.closed) {
        listenSegment(this, listener, now, dstAddr, srcAddr, tcp, payload, payloadOffset, payloadLength);
        return;
      }
      // RFC 9293 §3.10.7.1: CLOSED. A reset answers anything but a reset.
      const occupied = payloadLength + (tcp.flags & TCP_SYN ? 1 : 0) + (tcp.flags & 1 ? 1 : 0);
      sendResetFor(this, dstAddr, tcp.dstPort, srcAddr, tcp.srcPort, tcp.flags, tcp.seq, tcp.ack, occupied);
      return;
    }
    if (conn.state === TcpState.SynSent) {
      conn.segmentsIn++;
      synSentSegment(this, conn, now, tcp, payloadLength, conn.mtu);
      return;
    }
    synchronizedSegment(this, conn, now, tcp, payload, payloadOffset, payloadLength);
  }

  /**
   * A receive batch begins (mTCP's loop: batch receive → process → batch send). Until `endInputBatch`, what the
   * segments of one connection make it send — new data released by ACKs, the ACKs owed for in-order text — goes
   * out once, after the last of them: one ACK per batch, as a receiver behind GRO/LRO acknowledges the aggregated
   * segment (RFC 9293 §3.8.6.3 lets ACKs be delayed; a batch is at most STAGE_BATCH frames — ~64 KiB at MTU
   * 1500, what Linux's GRO merges — and STAGE_BATCH_BYTES, four 64 KiB super-frames). ACKs that tell the sender
   * something at once are not held: see `deferOutput`.
   */
  beginInputBatch(): void {
    this.inputBatch = true;
  }

  /** The receive batch ended: send what its segments left owed. */
  endInputBatch(now: number): void {
    this.inputBatch = false;
    this.flushDeferred(now);
  }

  /**
   * A batch of application commands begins (one poll's worth from the app channels). Until `endCommandBatch`, what
   * a write or a half-close makes a connection send waits, so that `write(data); end()` leaves as one segment with
   * the data and the FIN (RFC 9293 §3.10.4: the FIN is sent "after all preceding SENDs", which includes with them),
   * and several writes of one tick as full segments.
   */
  beginCommandBatch(): void {
    this.commandBatch = true;
  }

  /** The command batch ended: send what its commands queued. */
  endCommandBatch(now: number): void {
    this.commandBatch = false;
    this.flushDeferred(now);
  }

  /** Sends what the connections held back during a batch (input or commands) owe. */
  private flushDeferred(now: number): void {
    if (this.deferredOutput.size === 0) return;
    for (const conn of this.deferredOutput) if (!conn.released) this.flushConnection(conn, now);
    this.deferredOutput.clear();
  }

  /** After a command queued data or a FIN: send now, or at the end of the command batch if one is open. */
  flushAfterCommand(conn: TcpConnection, now: number): void {
    if (this.commandBatch) this.deferredOutput.add(conn);
    else this.flushConnection(conn, now);
  }

  /** What a command batch holds for `conn` goes before anything that ends it (a RST follows the data written). */
  private flushHeld(conn: TcpConnection, now: number): void {
    if (this.deferredOutput.delete(conn)) this.flushConnection(conn, now);
  }

  /**
   * Whether `conn`'s output after a segment may wait for the end of the batch. Without SACK, not while the receive
   * queue has a hole: every out-of-order segment and the one filling a gap are acknowledged at once (RFC 5681
   * §4.2), since such a sender counts duplicate ACKs. With SACK (RFC 6675, RFC 8985) the sender reads the blocks,
   * not the count, so the batch's one ACK reports its holes a few microseconds later — and none at all where two
   * CPUs delivering into one packet ring swapped frames the same batch puts back in order. Acknowledged at once,
   * such a swap made the sender resend a segment we had (585 spurious retransmissions in 450 MB, its `ss -ti`).
   */
  deferOutput(conn: TcpConnection): boolean {
    if (!this.inputBatch || (!conn.sackEnabled && (conn.outOfOrder.count > 0 || conn.filledGap))) return false;
    this.deferredOutput.add(conn);
    return true;
  }

  /** When `onTimers` should next run (ms, absolute), or Infinity. */
  pollAt(): number {
    return this.timers.peek();
  }

  /** Runs every timer due by `now`. */
  onTimers(now: number): void {
    for (;;) {
      const entry = this.timers.popDue(now);
      if (entry === null) return;
      const conn = entry.conn;
      if (conn.released || entry.at !== conn.scheduledAt) continue;
      conn.scheduledAt = Infinity;
      this.runTimers(conn, now);
      if (!conn.released) this.schedule(conn);
    }
  }

  /** Retry connections whose output was refused (call when the output has room again). */
  flush(now: number): void {
    if (this.blocked.size === 0) return;
    const pending = [...this.blocked];
    this.blocked.clear();
    for (const conn of pending) {
      conn.outputBlocked = false;
      if (!conn.released) this.flushConnection(conn, now);
    }
  }

  // ---------------------------------------------------------------- the socket calls

  connect(now: number, options: ConnectOptions): TcpConnection {
    let localPort = options.localPort ?? 0;
    if (localPort === 0) {
      localPort = pickLocalPort(
        this.flowKey, options.localAddr, options.remoteAddr, options.remotePort, this.shard, this.shardCount,
        this.portCursor++, (port) => this.portTaken(now, options.localAddr, port, options.remoteAddr, options.remotePort),
        this.config.ephemeralPortFirst, this.config.ephemeralPortLast,
      );
      if (localPort < 0) throw new Error('EADDRNOTAVAIL: no free local port for this destination');
    } else if (this.portTaken(now, options.localAddr, localPort, options.remoteAddr, options.remotePort)) {
      throw new Error(`EADDRINUSE: ${localPort} is in use for this destination`);
    }
    const conn = this.createConnection(options.localAddr, localPort, options.remoteAddr, options.remotePort, options.congestion);
    conn.mtu = options.mtu ?? this.config.mtu;
    conn.sendBuffer = options.sendBuffer;
    conn.receiveBuffer = options.receiveBuffer;
    conn.rcvWindowClamp = initialWindowClamp(this.config.initialReceiveWindow, mssForMtu(conn.mtu), options.receiveBuffer.capacity);
    if (options.receiveBufferLimit) lockReceiveBuffer(conn, options.receiveBufferLimit);
    conn.noDelay = options.noDelay ?? this.config.noDelay;
    conn.accepted = true;
    conn.ackWithFirstData = options.writePending ?? false;
    if (options.keepalive ?? this.config.keepalive) this.setKeepAlive(conn, true);
    activeOpen(this, conn, now, conn.mtu);
    return conn;
  }

  listen(options: ListenOptions): TcpListener {
    if (!(options.port > 0 && options.port <= 65535)) throw new RangeError(`listen: bad port ${options.port}`);
    const list = this.listeners.get(options.port) ?? [];
    const localAddr = options.localAddr ?? 0;
    if (list.some((l) => l.localAddr === localAddr || l.localAddr === 0 || localAddr === 0)) {
      throw new Error(`EADDRINUSE: port ${options.port} already has a listener`);
    }
    const listener = new TcpListener(options);
    list.push(listener);
    this.listeners.set(options.port, list);
    return listener;
  }

  /** Stops listening; connections still in its queues are reset (as close() on a listening socket does). */
  closeListener(now: number, listener: TcpListener): void {
    listener.closed = true;
    const list = this.listeners.get(listener.port);
    if (list !== undefined) {
      const rest = list.filter((l) => l !== listener);
      if (rest.length === 0) this.listeners.delete(listener.port);
      else this.listeners.set(listener.port, rest);
    }
    for (const conn of [...listener.acceptQueue]) abortConnection(this, conn, now, null, true, false);
    const embryonic: TcpConnection[] = [];
    for (const first of this.connections.values()) {
      for (let conn: TcpConnection | null = first; conn !== null; conn = conn.nextSamePorts) {
        if (conn.listener === listener && conn.state === TcpState.SynReceived) embryonic.push(conn);
      }
    }
    for (const conn of embryonic) abortConnection(this, conn, now, null, true, false);
  }

  /** The next established connection of the accept queue, or null. */
  accept(listener: TcpListener): TcpConnection | null {
    const conn = listener.acceptQueue.shift();
    if (conn === undefined) return null;
    conn.accepted = true;
    return conn;
  }

  /** The application wrote into the send ring. */
  onSendBufferWritten(now: number, conn: TcpConnection): void {
    if (!conn.released) this.flushAfterCommand(conn, now);
  }

  /** The application read from the receive ring (may open the window). */
  onReceiveBufferRead(now: number, conn: TcpConnection): void {
    if (!conn.released) onReceiveBufferRead(this, conn, now);
  }

  /** Half-close (FIN after queued data). */
  shutdown(now: number, conn: TcpConnection): void {
    if (!conn.released) shutdownSend(this, conn, now);
  }

  /** Close both directions (FIN, or RST if received data was left unread). */
  close(now: number, conn: TcpConnection): void {
    if (conn.released) return;
    this.flushHeld(conn, now);
    closeConnection(this, conn, now);
  }

  /** Reset the connection (Node's `destroy()`). */
  abort(now: number, conn: TcpConnection): void {
    if (conn.released) return;
    this.flushHeld(conn, now);
    abortConnection(this, conn, now, null, true, false);
  }

  /** An ICMP error or ARP failure for this connection: fatal only before it is established (RFC 1122 §4.2.3.9). */
  onNetworkError(now: number, conn: TcpConnection, code: 'EHOSTUNREACH' | 'ENETUNREACH' | 'ECONNREFUSED'): void {
    if (conn.released) return;
    if (conn.state === TcpState.SynSent || conn.state === TcpState.SynReceived) abortConnection(this, conn, now, code, false, true);
  }

  setNoDelay(now: number, conn: TcpConnection, noDelay: boolean): void {
    conn.noDelay = noDelay;
    if (noDelay && !conn.released) this.flushConnection(conn, now);
  }

  /**
   * SO_RCVBUF: `bytes` > 0 fixes the most the window offers (within the ring) and turns auto-tuning off, as a
   * locked SO_RCVBUF does on Linux; 0 hands the window back to auto-tuning. A smaller limit never moves the right
   * edge already offered to the left (RFC 9293 §3.8.6.2.2); a larger one is announced at once.
   */
  setReceiveBuffer(now: number, conn: TcpConnection, bytes: number): void {
    if (bytes > 0) lockReceiveBuffer(conn, bytes);
    else conn.rcvBufferLocked = false;
    if (!conn.released) onReceiveBufferRead(this, conn, now);
  }

  setKeepAlive(conn: TcpConnection, enable: boolean, idleMs?: number, intervalMs?: number, probes?: number): void {
    conn.keepaliveEnabled = enable;
    conn.keepaliveIdleMs = idleMs ?? this.config.keepaliveIdleMs;
    conn.keepaliveIntervalMs = intervalMs ?? this.config.keepaliveIntervalMs;
    conn.keepaliveProbesMax = probes ?? this.config.keepaliveProbes;
    conn.keepaliveProbesSent = 0;
    armKeepalive(this, conn);
  }

  info(conn: TcpConnection): TcpInfo {
    return tcpInfo(conn);
  }

  /** The flow hash RX steers by (local = the segment's destination). */
  flowHashOf(localAddr: number, localPort: number, remoteAddr: number, remotePort: number): number {
    return flowHash(this.flowKey, localAddr, localPort, remoteAddr, remotePort);
  }

  /** Whether a segment to (localAddr, localPort) from (remoteAddr, remotePort) belongs on this shard. */
  ownsFlow(localAddr: number, localPort: number, remoteAddr: number, remotePort: number): boolean {
    return shardOfFlow(this.flowHashOf(localAddr, localPort, remoteAddr, remotePort), this.shardCount) === this.shard;
  }

  // ---------------------------------------------------------------- used by the mechanisms

  createConnection(localAddr: number, localPort: number, remoteAddr: number, remotePort: number, congestion?: CongestionAlgorithm): TcpConnection {
    const rtt = new RttEstimator(this.rttConfig);
    const algorithm = congestion ?? this.config.congestion;
    const conn = new TcpConnection(this.nextId++, localAddr, localPort, remoteAddr, remotePort, rtt,
      this.createCongestionControl(algorithm, mssForMtu(this.config.mtu)));
    conn.mtu = this.config.mtu;
    conn.tsOffset = this.timestampOffset(localAddr, localPort, remoteAddr, remotePort);
    conn.tuneStart = 0;
    const key = portsKey(localPort, remotePort);
    conn.nextSamePorts = this.connections.get(key) ?? null; // first in its chain: lookups find it before any other
    this.connections.set(key, conn);
    this.connectionTotal++;
    return conn;
  }

  createCongestionControl(algorithm: CongestionAlgorithm, smss: number): CongestionControl {
    return algorithm === 'cubic'
      ? new CubicCongestionControl(smss, this.config.initialWindowSegments)
      : new RenoCongestionControl(smss, this.config.initialWindowSegments);
  }

  /** A per-4-tuple timestamp offset (RFC 7323 §5.4): stable across incarnations so PAWS keeps working. */
  timestampOffset(localAddr: number, localPort: number, remoteAddr: number, remotePort: number): number {
    return hashFourTuple(this.tsKey, localAddr, localPort, remoteAddr, remotePort, 0);
  }

  remove(conn: TcpConnection): void {
    if (conn.released) return;
    conn.released = true;
    this.blocked.delete(conn);
    const key = portsKey(conn.localPort, conn.remotePort);
    const first = this.connections.get(key);
    if (first === conn) {
      if (conn.nextSamePorts === null) this.connections.delete(key);
      else this.connections.set(key, conn.nextSamePorts);
    } else {
      let prev = first ?? null;
      while (prev !== null && prev.nextSamePorts !== conn) prev = prev.nextSamePorts;
      if (prev === null) return;
      prev.nextSamePorts = conn.nextSamePorts;
    }
    conn.nextSamePorts = null;
    this.connectionTotal--;
  }

  /** (Re)inserts the connection's earliest timer into the heap if it is earlier than its live entry. */
  schedule(conn: TcpConnection): void {
    const at = nextTimerOf(conn);
    if (at < conn.scheduledAt) {
      conn.scheduledAt = at;
      this.timers.push(at, conn);
    }
  }

  markBlocked(conn: TcpConnection): void {
    this.blocked.add(conn);
  }

  /** Send what can be sent and any ACK owed. */
  flushConnection(conn: TcpConnection, now: number): void {
    if (conn.released || conn.outputBlocked) return;
    transmitPending(this, conn, now);
    this.schedule(conn);
  }

  /** RFC 5961 §7: at most `challengeAckLimit` challenge ACKs per second. */
  allowChallengeAck(now: number): boolean {
    if (now - this.challengeWindowStart >= 1000) {
      this.challengeWindowStart = now;
      this.challengeCount = 0;
    }
    return this.challengeCount++ < this.config.challengeAckLimit;
  }

  /** Run a synchronized-state segment for a connection created outside `input` (a SYN-cookie handshake). */
  processSynchronized(conn: TcpConnection, now: number, tcp: TcpRepr, payload: Uint8Array, offset: number, length: number): void {
    synchronizedSegment(this, conn, now, tcp, payload, offset, length);
  }

  private runTimers(conn: TcpConnection, now: number): void {
    if (conn.timeWaitAt >= 0 && conn.timeWaitAt <= now) {
      conn.timeWaitAt = -1;
      releaseConnection(this, conn);
      return;
    }
    if (conn.rtoAt >= 0 && conn.rtoAt <= now) {
      if (conn.state === TcpState.SynSent || conn.state === TcpState.SynReceived) onSynTimeout(this, conn, now);
      else onRetransmitTimeout(this, conn, now);
      if (conn.released) return;
    }
    if (conn.persistAt >= 0 && conn.persistAt <= now) {
      onPersistTimeout(this, conn, now);
      if (conn.released) return;
    }
    onLossDetectionTimers(this, conn, now);
    if (conn.delayedAckAt >= 0 && conn.delayedAckAt <= now) {
      conn.delayedAckAt = -1;
      conn.ackNow = true;
      this.flushConnection(conn, now);
    }
    if (conn.keepaliveAt >= 0 && conn.keepaliveAt <= now) onKeepaliveTimer(this, conn, now);
  }

  /** The connection of a 4-tuple, if any (ICMP errors and ARP failures name connections by their segments). */
  findConnection(localAddr: number, localPort: number, remoteAddr: number, remotePort: number): TcpConnection | undefined {
    return this.lookup(localAddr, localPort, remoteAddr, remotePort);
  }

  private lookup(localAddr: number, localPort: number, remoteAddr: number, remotePort: number): TcpConnection | undefined {
    for (let c = this.connections.get(portsKey(localPort, remotePort)) ?? null; c !== null; c = c.nextSamePorts) {
      if (c.localPort === localPort && c.remotePort === remotePort && c.localAddr === localAddr && c.remoteAddr === remoteAddr) return c;
    }
    return undefined;
  }

  private findListener(localAddr: number, port: number): TcpListener | undefined {
    const list = this.listeners.get(port);
    if (list === undefined) return undefined;
    for (const l of list) if (l.localAddr === localAddr) return l;
    for (const l of list) if (l.localAddr === 0) return l;
    return undefined;
  }

  /** Is this 4-tuple (or the port, by a listener) taken? A reusable TIME-WAIT tuple is released and reported free. */
  private portTaken(now: number, localAddr: number, port: number, remoteAddr: number, remotePort: number): boolean {
    if (this.listeners.has(port)) return true;
    const existing = this.lookup(localAddr, port, remoteAddr, remotePort);
    if (existing === undefined) return false;
    if (timeWaitReusable(this, existing, now)) {
      releaseConnection(this, existing);
      return false;
    }
    return true;
  }
}

/** The connection table's key: both ports in under 2^30 (a small integer for V8, no boxed number per lookup). */
function portsKey(localPort: number, remotePort: number): number {
  return (localPort << 14) ^ remotePort;
}
