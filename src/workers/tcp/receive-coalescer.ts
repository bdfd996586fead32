// Receive coalescing (what Linux's GRO does for TCP, net/ipv4/tcp_offload.c tcp_gro_receive): within one receive
// batch, consecutive in-order data segments of one connection that differ in nothing but their sequence number
// and payload are joined into one segment before TCP sees them. Each frame's checksum has been verified already;
// TCP then runs its per-segment work (RFC 9293 §3.10.7.4 checks, ACK processing, timestamps, ACK policy) once per
// joined run instead of once per MTU-sized frame, as it does for a GSO super-frame a vnet header delivers whole.
// A run ends at the batch's end, at a segment that does not fit, at PSH (after it joins), or when it holds
// MAX_COALESCED_PAYLOAD bytes. The first segment is held in place (the frame stays valid until the batch releases
// its slots); from the second on the payloads are copied into one buffer.
import { DOUBLE_ZERO, TCP_ACK, TCP_PSH, copyTcpRepr, createTcpRepr, type TcpRepr } from '../../wire/index.js';
import { copyBytes } from '../../shared-ring/index.js';

/** Bytes of payload one joined segment may carry: what a GSO super-frame carries at most. */
export const MAX_COALESCED_PAYLOAD = 65_535 - 40;

/** Where a joined (or single) segment goes: TCP input, with the payload at `tcp.payloadOffset` in `b`. */
export type CoalescedSink = (now: number, src: number, dst: number, tcp: TcpRepr, b: Uint8Array) => void;

export class ReceiveCoalescer {
  private readonly held: TcpRepr = createTcpRepr();
  /** The held run's addresses (IPv4 addresses above 2^30 are doubles: wire/double-field.ts). */
  private heldSrc = DOUBLE_ZERO;
  private heldDst = DOUBLE_ZERO;
  /** The held run's segment count, and the payload bytes of its first segment (the run's segment size). */
  private count = 0;
  private segmentSize = 0;
  /** The last joined segment was shorter than the first: nothing may follow it. */
  private closed = false;
  /** The first segment's frame (payload at held.payloadOffset) while the run has one segment. */
  private firstFrame: Uint8Array | null = null;
  /** The joined payload from the second segment on. */
  private readonly joined = new Uint8Array(MAX_COALESCED_PAYLOAD);
  /** Segments that joined a run (for the stage's counters). */
  joinedSegments = 0;

  constructor(private readonly sink: CoalescedSink) {}

  /**
   * A verified TCP segment from `b`: joins the held run, or ends it (delivering it) and starts a new one, or goes
   * straight to the sink when it cannot be coalesced.
   */
  input(now: number, src: number, dst: number, tcp: TcpRepr, b: Uint8Array): void {
    if (!coalescable(tcp)) {
      this.flush(now);
      this.sink(now, src, dst, tcp, b);
      return;
    }
    if (this.count > 0 && this.fits(src, dst, tcp)) {
      this.join(tcp, b);
      if ((tcp.flags & TCP_PSH) !== 0) this.flush(now);
      return;
    }
    this.flush(now);
    copyTcpRepr(tcp, this.held);
    this.heldSrc = src;
    this.heldDst = dst;
    this.count = 1;
    this.segmentSize = tcp.payloadLength;
    this.closed = false;
    this.firstFrame = b;
    if ((tcp.flags & TCP_PSH) !== 0) this.flush(now);
  }

  /** Delivers the held run, if any (at the end of each receive batch, before the frames are released). */
  flush(now: number): void {
    if (this.count === 0) return;
    const b = this.count === 1 ? this.firstFrame! : this.joined;
    this.count = 0;
    this.firstFrame = null;
    this.sink(now, this.heldSrc, this.heldDst, this.held, b);
  }

  private fits(src: number, dst: number, tcp: TcpRepr): boolean {
    const h = this.held;
    return !this.closed && src === this.heldSrc && dst === this.heldDst && tcp.srcPort === h.srcPort && tcp.dstPort === h.dstPort
      && tcp.seq === ((h.seq + h.payloadLength) >>> 0) && tcp.ack === h.ack && tcp.window === h.window
      && tcp.tsPresent === h.tsPresent && tcp.tsVal === h.tsVal && tcp.tsEcr === h.tsEcr
      && tcp.payloadLength <= this.segmentSize && h.payloadLength + tcp.payloadLength <= MAX_COALESCED_PAYLOAD;
  }

  private join(tcp: TcpRepr, b: Uint8Array): void {
    const h = this.held;
    if (this.count === 1) {
      copyBytes(this.joined, 0, this.firstFrame!, h.payloadOffset, h.payloadLength);
      h.payloadOffset = 0;
      this.firstFrame = null;
    }
    copyBytes(this.joined, h.payloadLength, b, tcp.payloadOffset, tcp.payloadLength);
    h.payloadLength += tcp.payloadLength;
    h.flags |= tcp.flags & TCP_PSH;
    if (tcp.payloadLength < this.segmentSize) this.closed = true;
    this.count++;
    this.joinedSegments++;
  }
}

/** Data with ACK (and PSH) only, and no option but timestamps: the segments Linux's GRO would join. */
function coalescable(tcp: TcpRepr): boolean {
  return (tcp.flags & ~TCP_PSH) === TCP_ACK && tcp.payloadLength > 0 && tcp.sackBlockCount === 0 && tcp.mss < 0
    && tcp.windowScale < 0 && !tcp.sackPermitted && tcp.unknownOptionCount === 0;
}
