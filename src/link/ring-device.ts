import { FrameRing } from '../shared-ring/index.js';
import { NO_OFFLOADS, type DirectRings, type LinkDevice, type LinkOffloads, type LinkRole, type LinkWait } from './device.js';

/** Moves up to `maxFrames` records from `from` (as consumer) to `into` (as producer), header fields included. */
export function moveFrames(from: FrameRing, into: FrameRing, maxFrames: number, maxBytes = Infinity): number {
  let moved = 0;
  let bytes = 0;
  while (moved < maxFrames && bytes < maxBytes) {
    const src = from.peek();
    if (src < 0) break;
    const len = from.frameLength;
    const dst = into.reserve(len);
    if (dst < 0) break; // the other side is full: leave the frame where it is (backpressure, not loss)
    // Both offsets are record+18, so source and destination agree mod 8 and the copy runs word-wise.
    into.bytes.set(from.bytes.subarray(src, src + len), dst);
    into.commit(len, from.flags, from.port, from.gsoSize, from.csumStart, from.csumOffset, from.aux);
    from.next();
    moved++;
    bytes += len;
  }
  return moved;
}

export interface RingDeviceOptions {
  readonly name: string;
  readonly mtu: number;
  readonly mac: number;
  readonly needsArp: boolean;
  /** Ring this device receives from (frames arriving), or null in a transmit-only instance. */
  readonly receiveRing: FrameRing | null;
  /** Ring this device transmits into, or null in a receive-only instance. */
  readonly transmitRing: FrameRing | null;
  readonly offloads?: LinkOffloads;
  /** Offer the two rings for direct use (`LinkDevice.directRings`); only where they are distinct ends of a wire. */
  readonly direct?: boolean;
}

/**
 * A device whose medium is a pair of frame rings: the memory wire between two stacks and loopback (where both
 * rings are the same one). Frames keep their record header, so offload flags cross the wire unchanged.
 */
export class RingDevice implements LinkDevice {
  readonly name: string;
  readonly mtu: number;
  readonly mac: number;
  readonly needsArp: boolean;
  readonly offloads: LinkOffloads;
  readonly wait: LinkWait;
  private readonly receiveRing: FrameRing | null;
  private readonly transmitRing: FrameRing | null;
  private framesReceived = 0;
  private framesTransmitted = 0;
  private readonly direct: DirectRings | null;

  constructor(options: RingDeviceOptions) {
    this.name = options.name;
    this.mtu = options.mtu;
    this.mac = options.mac;
    this.needsArp = options.needsArp;
    this.offloads = options.offloads ?? NO_OFFLOADS;
    this.receiveRing = options.receiveRing;
    this.transmitRing = options.transmitRing;
    const receiveRing = this.receiveRing;
    const transmitRing = this.transmitRing;
    this.direct = options.direct && receiveRing && transmitRing ? { receive: receiveRing, transmit: transmitRing } : null;
    this.wait = {
      kind: 'doorbell',
      // The owner's doorbell wakes it both when frames arrive and when a full wire drains.
      attach(doorbellId: number) {
        receiveRing?.setConsumerDoorbell(doorbellId);
        transmitRing?.setProducerDoorbell(doorbellId);
      },
    };
  }

  receive(into: FrameRing, maxFrames: number, _now?: number, maxBytes?: number): number {
    const ring = this.receiveRing;
    if (!ring) return 0;
    const moved = moveFrames(ring, into, maxFrames, maxBytes);
    if (moved > 0) ring.release();
    this.framesReceived += moved;
    return moved;
  }

  transmit(from: FrameRing, maxFrames: number): number {
    const ring = this.transmitRing;
    if (!ring) return 0;
    const moved = moveFrames(from, ring, maxFrames);
    if (moved > 0) ring.publish();
    this.framesTransmitted += moved;
    return moved;
  }

  pollAt(): number {
    return Infinity;
  }

  directRings(): DirectRings | null {
    return this.direct;
  }

  counters(): Readonly<Record<string, number>> {
    return { framesReceived: this.framesReceived, framesTransmitted: this.framesTransmitted };
  }

  close(): void {
    // The rings belong to whoever made the wire; closing one instance must not end the other stage's half.
  }
}

export function ringForRole(buffer: SharedArrayBuffer | ArrayBuffer, wanted: boolean): FrameRing | null {
  return wanted ? FrameRing.attach(buffer) : null;
}

export function roleReceives(role: LinkRole): boolean {
  return role !== 'transmit';
}

export function roleTransmits(role: LinkRole): boolean {
  return role !== 'receive';
}
