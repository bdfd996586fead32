// The engine's boundary: states, configuration, the segment descriptor handed to the output, the event sink, and
// the buffer provider for passive opens. The protocol stage implements TcpOutput and TcpEventSink.
import type { ByteRing } from '../../shared-ring/index.js';
import { DOUBLE_ZERO, type TcpEmitFields } from '../../wire/index.js';
import type { CongestionAlgorithm } from './congestion.js';
import type { TcpConnection } from './connection.js';
import type { TcpListener } from './accept.js';
import { EPHEMERAL_PORT_FIRST, EPHEMERAL_PORT_LAST } from './flow-hash.js';

/** RFC 9293 §3.3.2 connection states (LISTEN lives on TcpListener). */
export const TcpState = {
  Closed: 0,
  Listen: 1,
  SynSent: 2,
  SynReceived: 3,
  Established: 4,
  FinWait1: 5,
  FinWait2: 6,
  CloseWait: 7,
  Closing: 8,
  LastAck: 9,
  TimeWait: 10,
} as const;
export type TcpState = (typeof TcpState)[keyof typeof TcpState];

const stateNames = ['CLOSED', 'LISTEN', 'SYN-SENT', 'SYN-RECEIVED', 'ESTABLISHED', 'FIN-WAIT-1', 'FIN-WAIT-2',
  'CLOSE-WAIT', 'CLOSING', 'LAST-ACK', 'TIME-WAIT'] as const;
export type TcpStateName = (typeof stateNames)[number];
export function tcpStateName(state: TcpState): TcpStateName {
  return stateNames[state];
}

/** Errors reported to the application, with Node's `err.code` names. */
export type TcpErrorCode = 'ECONNREFUSED' | 'ECONNRESET' | 'ETIMEDOUT' | 'EHOSTUNREACH' | 'ENETUNREACH' | 'ECONNABORTED'
  | 'EPIPE';

export interface TcpConfig {
  /** Link MTU used for our MSS option (MSS = MTU − 40) and to clamp the peer's (RFC 9293 §3.7.1). */
  mtu: number;
  /** Maximum segment lifetime; TIME-WAIT lasts 2·MSL (RFC 9293 §3.4.2). */
  mslMs: number;
  initialRtoMs: number;
  minRtoMs: number;
  maxRtoMs: number;
  /** SYN retransmissions before ETIMEDOUT (Linux tcp_syn_retries). */
  synRetries: number;
  /** SYN-ACK retransmissions before an embryonic connection is dropped. */
  synAckRetries: number;
  /** Data retransmissions before ETIMEDOUT (RFC 9293 §3.8.3 R2; Linux tcp_retries2). */
  maxRetries: number;
  /** Delayed-ACK timeout (RFC 9293 §3.8.6.3: < 0.5 s). */
  delayedAckMs: number;
  initialWindowSegments: number;
  congestion: CongestionAlgorithm;
  /** Offer and accept window scaling, timestamps and SACK (RFC 7323, RFC 2018). */
  windowScaling: boolean;
  timestamps: boolean;
  sack: boolean;
  noDelay: boolean;
  /** Keepalive (RFC 9293 §3.8.4): off unless enabled per connection or here. */
  keepalive: boolean;
  keepaliveIdleMs: number;
  keepaliveIntervalMs: number;
  keepaliveProbes: number;
  /** Upper bound of the persist timer's backoff (RFC 1122 §4.2.2.17). */
  maxPersistMs: number;
  /** RFC 5961 §7: challenge ACKs allowed per second, engine-wide. */
  challengeAckLimit: number;
  /** Reuse a TIME-WAIT 4-tuple for an outgoing connection this long after it entered TIME-WAIT, if it used timestamps. */
  timeWaitReuseMs: number;
  /** Initial receive-window clamp for auto-tuning; it grows with the measured rate up to the buffer's size. */
  initialReceiveWindow: number;
  /** SYN cookies when a listener's SYN queue is full (RFC 4987 §3.6). */
  synCookies: boolean;
  /** Local port range for outgoing connections (flow-hash.ts: Linux's, 32768–60999). */
  ephemeralPortFirst: number;
  ephemeralPortLast: number;
}

export const DEFAULT_TCP_CONFIG: TcpConfig = {
  mtu: 1500,
  mslMs: 30_000,
  initialRtoMs: 1000,
  minRtoMs: 200,
  maxRtoMs: 120_000,
  synRetries: 6,
  synAckRetries: 5,
  maxRetries: 15,
  delayedAckMs: 40,
  initialWindowSegments: 10,
  congestion: 'newreno',
  windowScaling: true,
  timestamps: true,
  sack: true,
  noDelay: false,
  keepalive: false,
  keepaliveIdleMs: 7_200_000,
  keepaliveIntervalMs: 75_000,
  keepaliveProbes: 9,
  maxPersistMs: 60_000,
  challengeAckLimit: 1000,
  timeWaitReuseMs: 1000,
  initialReceiveWindow: 65_535,
  synCookies: true,
  ephemeralPortFirst: EPHEMERAL_PORT_FIRST,
  ephemeralPortLast: EPHEMERAL_PORT_LAST,
};

/**
 * One segment to send, reused for every segment (copy what you need before returning from `send`). It carries
 * the header fields `emitTcpHeader` takes, the IPv4 addresses, and the payload as a range of the connection's send
 * ByteRing: read it with `payloadRing.spans(payloadFromHead, payloadLength, out)` and fuse the checksum with the copy.
 */
export class TcpSegmentOut implements TcpEmitFields {
  srcAddr = DOUBLE_ZERO;
  dstAddr = DOUBLE_ZERO;
  srcPort = 0;
  dstPort = 0;
  seq = DOUBLE_ZERO;
  ack = DOUBLE_ZERO;
  flags = 0;
  /** The 16-bit window field, already scaled down. */
  window = 0;
  urgent = 0;
  mss = -1;
  windowScale = -1;
  sackPermitted = false;
  sackBlockCount = 0;
  readonly sackBlocks = new Uint32Array(8);
  tsPresent = false;
  tsVal = DOUBLE_ZERO;
  tsEcr = DOUBLE_ZERO;
  payloadRing: ByteRing | null = null;
  /** Offset of the payload's first byte from the send ring's head (the head is the oldest unacknowledged byte). */
  payloadFromHead = 0;
  payloadLength = 0;
  /**
   * Text bytes of each segment the device cuts this one into (TSO: a FRAME_GSO_TCPV4 super-segment, every piece
   * with this header, FIN and PSH only on the last); 0 for a segment that leaves as it is.
   */
  gsoSize = 0;
  /** The connection sending, or null for a reset answering a segment that matched none. */
  connection: TcpConnection | null = null;
}

export interface TcpOutput {
  /** Queue one segment; false if the output is full (the engine retries on `flush`). */
  send(segment: TcpSegmentOut): boolean;
  /**
   * Where (address mod 8) the output puts the text of a segment whose TCP header is `headerLength` bytes, if it
   * builds frames in a buffer it knows. The engine then ends full-sized segments where the next one's text sits at
   * the same phase in the send ring, so the copy between the rings runs word-wise. Absent: segments are cut at
   * the MSS.
   */
  textPhase?(headerLength: number): number;
  /**
   * The longest TCP segment (header and text, ≤ 65515 so the IP total length fits) the output takes toward `dst`
   * as one super-segment, cut by the device into pieces of `gsoSize` text (TSO); 0 when every segment leaves as it
   * is built. Absent: 0.
   */
  superSegmentLimit?(dst: number): number;
}

export interface TcpEventSink {
  /** The three-way handshake of an active open completed. */
  onConnected(conn: TcpConnection): void;
  /** A listener's accept queue went from empty to non-empty. */
  onIncoming(listener: TcpListener): void;
  /** New bytes were published in the receive ring. */
  onReadable(conn: TcpConnection): void;
  /** Acknowledged bytes were released from the send ring. */
  onWritable(conn: TcpConnection): void;
  /** The peer sent FIN: no more bytes will arrive (after those already readable). */
  onRemoteEof(conn: TcpConnection): void;
  /** An error ends the connection; `onClosed` follows. */
  onError(conn: TcpConnection, code: TcpErrorCode): void;
  /** The connection is finished for the application (it may linger in TIME-WAIT without its buffers). */
  onClosed(conn: TcpConnection): void;
}

/** Socket buffers for a connection a listener accepts; null when none can be had now (the handshake is retried). */
export interface TcpBufferProvider {
  /** Capacity of the receive rings it hands out: sizes the window of the SYN-ACK. */
  readonly receiveCapacity: number;
  allocate(conn: TcpConnection): { sendBuffer: ByteRing; receiveBuffer: ByteRing } | null;
}

/** A TCP_INFO-like snapshot. */
export interface TcpInfo {
  state: TcpStateName;
  congestion: CongestionAlgorithm;
  rttMs: number;
  rttVarMs: number;
  minRttMs: number;
  rtoMs: number;
  cwnd: number;
  ssthresh: number;
  sndMss: number;
  rcvMss: number;
  sndWnd: number;
  rcvWnd: number;
  unackedBytes: number;
  retransmits: number;
  timeouts: number;
  fastRecoveries: number;
  /** D-SACK blocks received (RFC 2883), retransmissions shown needless by them or by timestamps (RFC 3708, RFC
   * 3522), window reductions undone, segments RACK marked lost (RFC 8985 §6), loss probes sent (§7). */
  dsackIn: number;
  spuriousRetransmits: number;
  undos: number;
  rackLosses: number;
  tlpProbes: number;
  segmentsOut: number;
  segmentsIn: number;
  bytesAcked: number;
  bytesReceived: number;
  windowScaling: boolean;
  timestamps: boolean;
  sack: boolean;
  inRecovery: boolean;
}
