// A packet socket's TPACKET_V2 receive ring (the kernel's PACKET_RX_RING, mapped into this process) read in place:
// the protocol stage parses each frame where the kernel wrote it and hands the slots back at the end of its batch,
// instead of the addon copying every frame into a FrameRing first (one 64 KiB copy per super-frame less). Slots go
// back in release(), as a FrameRing's space does, so a frame stays readable until its batch ends. The layout is the
// kernel's (include/uapi/linux/if_packet.h): each slot starts with a struct tpacket2_hdr, then a struct sockaddr_ll,
// then (with PACKET_VNET_HDR) a struct virtio_net_hdr right before the frame at tp_mac.
import { FRAME_CSUM_PARTIAL, FRAME_CSUM_VALID, FRAME_GSO_TCPV4 } from '../shared-ring/index.js';
import type { FrameSource } from './device.js';

/** struct tpacket2_hdr: tp_status u32 @0, tp_len u32 @4, tp_snaplen u32 @8, tp_mac u16 @12. */
const TP_LEN = 4;
const TP_SNAPLEN = 8;
const TP_MAC = 12;
/** sockaddr_ll follows the header at TPACKET_ALIGN(sizeof(struct tpacket2_hdr)) = 32; sll_pkttype is its byte 10. */
const SLL_PKTTYPE = 32 + 10;
const PACKET_OUTGOING = 4;
const TP_STATUS_KERNEL = 0;
const TP_STATUS_USER = 1;
/** A local sender never computed the checksum (CHECKSUM_PARTIAL), or the device verified it. */
const TP_STATUS_CSUMNOTREADY = 8;
const TP_STATUS_CSUM_VALID = 0x80;
/** struct virtio_net_hdr (host byte order): flags u8 @0, gso_type u8 @1, hdr_len @2, gso_size @4, csum_start @6, csum_offset @8. */
const VNET_HDR_BYTES = 10;
const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
const VIRTIO_NET_HDR_F_DATA_VALID = 2;
const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
const VIRTIO_NET_HDR_GSO_ECN = 0x80;

export interface PacketRxRingCounters {
  rxFrames: number;
  rxBytes: number;
  rxTruncated: number;
}

/** What the addon's packetRxRing returns. */
export interface PacketRxRingMapping {
  readonly buffer: ArrayBuffer;
  readonly frameSize: number;
  readonly frameCount: number;
  /** The slot the kernel fills next, as far as the addon had read. */
  readonly frameIndex: number;
  readonly vnetHdr: boolean;
}

/**
 * The ring as a FrameSource (the interface FrameRing offers its consumer). The frame flags say what the kernel said
 * of the checksum, as the addon's copy path would have put them in the record (native/ringstack_native.c,
 * meta_from_vnet / meta_from_tp_status). Frames we sent ourselves (PACKET_OUTGOING) and frames cut short by the slot
 * size are skipped, the latter counted.
 */
export class PacketRxRing implements FrameSource {
  readonly bytes: Uint8Array;
  readonly counters: PacketRxRingCounters = { rxFrames: 0, rxBytes: 0, rxTruncated: 0 };
  /** The current frame's length and flags (valid after peek() returned an offset). */
  frameLength = 0;
  flags = 0;
  private readonly words: Int32Array;
  private readonly view: DataView;
  private readonly frameSize: number;
  private readonly frameCount: number;
  private readonly vnetHdr: boolean;
  /** The next slot to look at. */
  private index: number;
  /** The first slot read or skipped and not yet handed back, and how many are (they end at `index`). */
  private heldIndex: number;
  private held = 0;
  /** Byte offset of the slot peek() found ready, or -1. */
  private slot = -1;

  constructor(mapping: PacketRxRingMapping) {
    this.bytes = new Uint8Array(mapping.buffer);
    this.words = new Int32Array(mapping.buffer);
    this.view = new DataView(mapping.buffer);
    this.frameSize = mapping.frameSize;
    this.frameCount = mapping.frameCount;
    this.vnetHdr = mapping.vnetHdr;
    this.index = mapping.frameIndex;
    this.heldIndex = mapping.frameIndex;
  }

  /** Offset of the next frame's first byte in `bytes`, or -1 when the kernel has filled no slot yet. */
  peek(): number {
    for (;;) {
      if (this.held === this.frameCount) return -1; // every slot is ours: nothing new until release()
      const slot = this.index * this.frameSize;
      // The kernel writes the frame, then the status (smp_wmb): read the status first, as a synchronising load.
      const status = Atomics.load(this.words, slot >>> 2);
      if ((status & TP_STATUS_USER) === 0) return -1;
      const view = this.view;
      const length = view.getUint32(slot + TP_LEN, true);
      const captured = view.getUint32(slot + TP_SNAPLEN, true);
      const frame = slot + view.getUint16(slot + TP_MAC, true);
      if (this.bytes[slot + SLL_PKTTYPE] === PACKET_OUTGOING || captured < length) {
        if (captured < length) this.counters.rxTruncated++;
        this.advance();
        continue;
      }
      this.slot = slot;
      this.frameLength = length;
      this.flags = this.vnetHdr ? this.vnetFlags(frame - VNET_HDR_BYTES) : status & (TP_STATUS_CSUMNOTREADY | TP_STATUS_CSUM_VALID) ? FRAME_CSUM_VALID : 0;
      this.counters.rxFrames++;
      this.counters.rxBytes += length;
      return frame;
    }
  }

  /** Steps past the frame peek() returned; its slot stays ours (and its bytes readable) until release(). */
  next(): void {
    if (this.slot < 0) throw new Error('PacketRxRing.next without a frame from peek');
    this.advance();
    this.slot = -1;
  }

  /**
   * Hands every slot read or skipped since the last release back to the kernel, in ring order. The kernel drops
   * what arrives while the slot at its head is still ours, so a consumer releases after each batch (at most a
   * batch of slots is held: STAGE_BATCH frames of a ring of hundreds).
   */
  release(): void {
    for (; this.held > 0; this.held--) {
      Atomics.store(this.words, (this.heldIndex * this.frameSize) >>> 2, TP_STATUS_KERNEL);
      this.heldIndex = this.heldIndex + 1 === this.frameCount ? 0 : this.heldIndex + 1;
    }
  }

  private advance(): void {
    this.index = this.index + 1 === this.frameCount ? 0 : this.index + 1;
    this.held++;
  }

  private vnetFlags(at: number): number {
    const b = this.bytes;
    const vnetFlags = b[at];
    let flags = 0;
    if (vnetFlags & VIRTIO_NET_HDR_F_NEEDS_CSUM) flags |= FRAME_CSUM_PARTIAL;
    if (vnetFlags & VIRTIO_NET_HDR_F_DATA_VALID) flags |= FRAME_CSUM_VALID;
    if ((b[at + 1] & ~VIRTIO_NET_HDR_GSO_ECN) === VIRTIO_NET_HDR_GSO_TCPV4) flags |= FRAME_GSO_TCPV4;
    return flags;
  }
}
