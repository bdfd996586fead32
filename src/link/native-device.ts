// A LinkDevice over a handle of the native addon (packet socket or TAP fd): the addon moves whole batches
// between the kernel and the frame ring; this class only hands it the ring positions and adopts the new ones.
import type { FrameRing } from '../shared-ring/index.js';
import type { FrameSource, LinkDevice, LinkOffloads, LinkWait } from './device.js';
import type { NativeBinding, NativeHandle } from './native.js';
import { PacketRxRing } from './packet-rx-ring.js';

export interface NativeDeviceOptions {
  readonly name: string;
  readonly mtu: number;
  readonly mac: number;
  readonly offloads: LinkOffloads;
  /** False for a transmit-only instance: nothing arrives, so there is no fd to sleep on. */
  readonly receives: boolean;
  /** A receiving packet socket with a TPACKET_V2 ring: it can be read in place (directReceive). */
  readonly inPlaceRing?: boolean;
}

/** How long frames the kernel refused with EAGAIN wait before they are offered again (ms). */
const TRANSMIT_RETRY_MS = 1;

export class NativeDevice implements LinkDevice {
  readonly name: string;
  readonly mtu: number;
  readonly mac: number;
  readonly needsArp = true;
  readonly offloads: LinkOffloads;
  readonly wait: LinkWait;
  // [own position, other side's position]: reused for every batch, so a batch allocates nothing.
  private readonly cursor = new Uint32Array(2);
  private closed = false;
  private readonly inPlaceRing: boolean;
  private inPlace: PacketRxRing | null = null;
  /** When to offer the kernel again the frames it last refused for now (socket buffer full); Infinity: none left. */
  private retryTransmitAt = Infinity;

  constructor(
    private readonly binding: NativeBinding,
    private readonly handle: NativeHandle,
    options: NativeDeviceOptions,
  ) {
    this.name = options.name;
    this.mtu = options.mtu;
    this.mac = options.mac;
    this.offloads = options.offloads;
    this.wait = options.receives ? { kind: 'fd', fd: binding.handleInfo(handle).fd } : { kind: 'none' };
    this.inPlaceRing = options.receives && options.inPlaceRing === true;
  }

  directReceive(): FrameSource | null {
    if (!this.inPlaceRing || this.closed) return null;
    this.inPlace ??= new PacketRxRing(this.binding.packetRxRing(this.handle));
    return this.inPlace;
  }

  receive(into: FrameRing, maxFrames: number, _now?: number, maxBytes?: number): number {
    const cursor = this.cursor;
    cursor[0] = into.producerPosition();
    cursor[1] = into.headForProducer();
    const frames = this.binding.receiveFrames(this.handle, into.bytes, cursor, maxFrames, maxBytes);
    if (frames > 0) into.producerAdvance(cursor[0]);
    return frames;
  }

  transmit(from: FrameRing, maxFrames: number, now: number): number {
    const cursor = this.cursor;
    cursor[0] = from.consumerPosition();
    const tail = (cursor[1] = from.tailForConsumer());
    const frames = this.binding.transmitFrames(this.handle, from.bytes, cursor, maxFrames);
    // Also when no frame went out but a wrap marker was stepped over.
    if (cursor[0] !== from.consumerPosition()) from.consumerAdvance(cursor[0]);
    // Stopped short of the tail with the batch not used up: the kernel would block (EAGAIN). Nothing wakes a thread
    // when it has room again, so try again a little later rather than at once (a spin) or never (a stall).
    this.retryTransmitAt = frames < maxFrames && cursor[0] !== tail ? now + TRANSMIT_RETRY_MS : Infinity;
    return frames;
  }

  /**
   * The kernel holds whatever we have not taken and the fd wakes us for that; only frames the kernel refused for
   * now (transmit) need a timer.
   */
  pollAt(): number {
    return this.retryTransmitAt;
  }

  counters(): Readonly<Record<string, number>> {
    if (this.closed) return {};
    const counters = { ...this.binding.handleCounters(this.handle) };
    const inPlace = this.inPlace?.counters;
    if (inPlace) {
      // Frames read in place never pass the addon's receive path: count them as it would have.
      counters.rxFrames += inPlace.rxFrames;
      counters.rxBytes += inPlace.rxBytes;
      counters.rxTruncated += inPlace.rxTruncated;
      return { ...counters, rxReadInPlace: inPlace.rxFrames };
    }
    return counters;
  }

  close(): void {
    this.closed = true;
    this.binding.closeHandle(this.handle);
  }
}

/** What the kernel does for us with and without virtio-net headers, on a packet socket or a TAP device. */
export function nativeOffloads(kind: 'packet' | 'tap', vnetHdr: boolean): LinkOffloads {
  if (vnetHdr) return { rxChecksum: true, txChecksum: true, tso: true, gro: true };
  // A packet socket still says (tp_status) when a local sender never computed the checksum, and hands over a
  // peer's GSO super-frames as they are; a TAP without vnet headers gets segmented, checksummed frames.
  return kind === 'packet'
    ? { rxChecksum: true, txChecksum: false, tso: false, gro: true }
    : { rxChecksum: false, txChecksum: false, tso: false, gro: false };
}
