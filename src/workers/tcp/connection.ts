// The transmission control block (RFC 9293 §3.3.1): one connection's state. Mechanisms live in their own files
// and operate on it; this file only holds the variables, grouped as the RFC names them.
import type { ByteRing } from '../../shared-ring/index.js';
import type { CongestionControl } from './congestion.js';
import type { TcpListener } from './accept.js';
import { ReceiveRanges } from './receive-ranges.js';
import { RackState } from './rack.js';
import { RttEstimator } from './rtt.js';
import { SackScoreboard } from './sack-scoreboard.js';
import { SentSegments } from './sent-segments.js';
import { TlpState } from './tlp.js';
import { UndoState } from './undo.js';
import { TcpState } from './types.js';
import { DOUBLE_NONE, DOUBLE_ZERO } from '../../wire/index.js';

/** Linux's TCP_MAX_QUICKACKS. */
export const QUICK_ACK_SEGMENTS = 16;

export class TcpConnection {
  state: TcpState = TcpState.Closed;
  /** Set by the protocol stage (socket id, ring handles...). */
  userData: unknown = null;
  /** Listener that created this connection by a passive open, until the application accepts it. */
  listener: TcpListener | null = null;
  accepted = false;

  sendBuffer: ByteRing | null = null;
  receiveBuffer: ByteRing | null = null;

  // ---- send sequence variables (RFC 9293 §3.3.1) ----
  iss = DOUBLE_ZERO;
  sndUna = DOUBLE_ZERO;
  /** Next sequence number to send; moves back to SND.UNA after a retransmission timeout (go-back-N). */
  sndNxt = DOUBLE_ZERO;
  /** Highest sequence number sent + 1 (RFC 6675's HighData). */
  sndMax = DOUBLE_ZERO;
  /** The peer's window in bytes, scale applied. */
  sndWnd = DOUBLE_ZERO;
  sndWl1 = DOUBLE_ZERO;
  sndWl2 = DOUBLE_ZERO;
  /** Largest window the peer has offered (RFC 9293 §3.8.6.2.1 SWS, RFC 5961 §5.2 MAX.SND.WND). */
  maxSndWnd = DOUBLE_ZERO;
  /** Sequence number of the first byte at the send ring's head. */
  sndBufSeq = DOUBLE_ZERO;
  /** The application closed its sending side: FIN goes after the queued bytes. */
  finRequested = false;
  /** Sequence number of our FIN once its place is fixed (negative before). */
  finSeq = DOUBLE_NONE;
  /** Effective send MSS: payload bytes per segment, options excluded (RFC 9293 §3.7.1, RFC 6691). */
  smss = 536;
  /** The MSS we advertised (what the peer may send us). */
  rcvMss = 536;
  peerMss = 536;
  /** MTU of the path (our MSS option and the clamp of the peer's). */
  mtu = 1500;
  noDelay = false;

  // ---- receive sequence variables ----
  irs = DOUBLE_ZERO;
  rcvNxt = DOUBLE_ZERO;
  /** Right edge of the window last advertised (RFC 9293 §3.8.6.2.2: never moved left). */
  rcvAdvRight = DOUBLE_ZERO;
  /** Auto-tuned clamp on the window offered (below the receive buffer's capacity). */
  rcvWindowClamp = DOUBLE_ZERO;
  readonly outOfOrder = new ReceiveRanges();
  /** Sequence number of a FIN received ahead of missing data (negative if none). */
  pendingFinSeq = DOUBLE_NONE;
  finReceived = false;
  /** The application will not read any more (close() rather than shutdown()): new data is answered with RST. */
  appClosed = false;

  // ---- options (RFC 7323, RFC 2018) ----
  sndWscale = 0;
  rcvWscale = 0;
  wscaleEnabled = false;
  tsEnabled = false;
  /** TS.Recent and when it was recorded (RFC 7323 §4.3, §5.5). */
  tsRecent = DOUBLE_ZERO;
  tsRecentAt = DOUBLE_ZERO;
  /** Per-connection offset of our TSval clock (RFC 7323 §5.4). */
  tsOffset = DOUBLE_ZERO;
  lastAckSent = DOUBLE_ZERO;
  sackEnabled = false;
  /** A duplicate to report in the next ACK's first SACK block (RFC 2883): [dsackStart, dsackEnd). */
  dsackPending = false;
  dsackStart = DOUBLE_ZERO;
  dsackEnd = DOUBLE_ZERO;

  // ---- retransmission and congestion (RFC 6298, 5681, 6582, 6675) ----
  rtt: RttEstimator;
  cc: CongestionControl;
  readonly scoreboard = new SackScoreboard();
  dupAcks = 0;
  inRecovery = false;
  /** RecoveryPoint (RFC 6675) / recover (RFC 6582). */
  recoveryPoint = DOUBLE_ZERO;
  /** SACK connections: every segment sent and not yet acknowledged, with its send time and marks (RFC 8985 §6.1). */
  readonly sent = new SentSegments();
  readonly rack = new RackState();
  readonly tlp = new TlpState();
  readonly undo = new UndoState();
  /** Recovery after a retransmission timeout on a SACK connection: lost marks drive what is resent (Linux's Loss). */
  lossRecovery = false;
  /** Karn timing of one segment when timestamps are off: its end sequence and send time (negative = none). */
  rttSeq = DOUBLE_NONE;
  rttSentAt = DOUBLE_ZERO;
  /** Consecutive retransmission timeouts (RFC 9293 §3.8.3 R1/R2 counting). */
  timeoutCount = 0;
  lastSendAt = DOUBLE_ZERO;
  lastReceiveAt = DOUBLE_ZERO;

  // ---- timers: absolute times in ms, negative = not armed (set to -1; DOUBLE_NONE to start, see wire/double-field.ts) ----
  rtoAt = DOUBLE_NONE;
  persistAt = DOUBLE_NONE;
  persistBackoff = 0;
  delayedAckAt = DOUBLE_NONE;
  /** RACK's reordering timer (RFC 8985 §6.2 step 5) and the tail loss probe's PTO (§7.2). */
  rackAt = DOUBLE_NONE;
  tlpAt = DOUBLE_NONE;
  /** End of the last sub-MSS segment sent (Minshall's Nagle variant); meaningful once one was sent. */
  sndSml = DOUBLE_ZERO;
  sndSmlSet = false;
  /**
   * Data segments still to be acknowledged at once (Linux's quick-ACK mode): at the start and after an idle spell
   * the sender is in slow start or window-limited, and a delayed ACK would stall it for delayedAckMs.
   */
  quickAcks = QUICK_ACK_SEGMENTS;
  /** When in-order data last arrived (for re-entering quick-ACK mode after idle). */
  lastDataAt = -Infinity;
  keepaliveAt = DOUBLE_NONE;
  timeWaitAt = DOUBLE_NONE;
  /** When this connection entered TIME-WAIT. */
  timeWaitSince = DOUBLE_ZERO;
  /** The due time of this connection's live entry in the engine's timer heap (Infinity = none). */
  scheduledAt = Infinity;

  keepaliveEnabled = false;
  keepaliveIdleMs = 0;
  keepaliveIntervalMs = 0;
  keepaliveProbesMax = 0;
  keepaliveProbesSent = 0;

  // ---- ACK policy (RFC 9293 §3.8.6.3, RFC 5681 §4.2) ----
  /** An ACK must go out at the next opportunity. */
  ackNow = false;
  /** Full-sized segments received since the last ACK. */
  unackedSegments = 0;
  /** The segment being processed filled a hole in the receive queue: its ACK goes at once, even in a batch. */
  filledGap = false;
  /**
   * Set by a connect whose application has data waiting: the ACK of the SYN-ACK is delayed (at most delayedAckMs)
   * so that it leaves with that data, as Linux does while a writer waits for the handshake (sk_write_pending).
   */
  ackWithFirstData = false;
  /** The output refused a segment: retry on flush. */
  outputBlocked = false;

  // ---- auto-tuning (Linux's DRS shape): bytes delivered since `tuneStart` ----
  /** SO_RCVBUF was set: `rcvWindowClamp` is the application's, auto-tuning leaves it alone. */
  rcvBufferLocked = false;
  tuneBytes = 0;
  tuneStart = DOUBLE_ZERO;

  // ---- counters for TcpInfo ----
  retransmits = 0;
  timeouts = 0;
  fastRecoveries = 0;
  segmentsOut = 0;
  segmentsIn = 0;
  bytesAcked = 0;
  bytesReceived = 0;
  dsackIn = 0;
  spuriousRetransmits = 0;
  undos = 0;
  rackLosses = 0;
  tlpProbes = 0;

  /** Set when the application has been told the connection is over. */
  closedReported = false;
  /** Removed from the engine's tables. */
  released = false;
  /** The next connection under the same key of the engine's table (`portsKey`), or null. */
  nextSamePorts: TcpConnection | null = null;

  constructor(
    readonly id: number,
    readonly localAddr: number,
    readonly localPort: number,
    readonly remoteAddr: number,
    readonly remotePort: number,
    rtt: RttEstimator,
    cc: CongestionControl,
  ) {
    this.rtt = rtt;
    this.cc = cc;
  }

  /** Bytes the application has written that are still in the send ring (sent or not). */
  get queuedBytes(): number {
    return this.sendBuffer === null ? 0 : this.sendBuffer.readableBytes();
  }

  /** Sequence number just after the last byte the application has queued. */
  get sendDataEnd(): number {
    return (this.sndBufSeq + this.queuedBytes) >>> 0;
  }
}
