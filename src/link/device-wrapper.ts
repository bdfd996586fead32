import type { FrameRing } from '../shared-ring/index.js';
import type { FrameSource, LinkDevice, LinkOffloads, LinkWait } from './device.js';

/**
 * A device that wraps another (smoltcp's phy wrappers): it shows the inner device's facts and passes every call
 * through; a wrapper overrides what it changes (the fault injector, the pcap writer), and may advertise fewer
 * offloads than the inner device has (`offloads`).
 */
export class WrappedDevice implements LinkDevice {
  readonly name: string;
  readonly mtu: number;
  readonly mac: number;
  readonly needsArp: boolean;
  readonly offloads: LinkOffloads;
  readonly wait: LinkWait;

  constructor(protected readonly inner: LinkDevice, offloads: LinkOffloads = inner.offloads) {
    this.name = inner.name;
    this.mtu = inner.mtu;
    this.mac = inner.mac;
    this.needsArp = inner.needsArp;
    this.offloads = offloads;
    this.wait = inner.wait;
  }

  receive(into: FrameRing, maxFrames: number, now: number, maxBytes?: number): number {
    return this.inner.receive(into, maxFrames, now, maxBytes);
  }

  transmit(from: FrameRing, maxFrames: number, now: number): number {
    return this.inner.transmit(from, maxFrames, now);
  }

  pollAt(now: number): number {
    return this.inner.pollAt(now);
  }

  counters(): Readonly<Record<string, number>> {
    return this.inner.counters();
  }

  close(): void {
    this.inner.close();
  }
}

/**
 * The inner device without TSO (`ethtool -K dev tso off`): the protocol stage then sends MSS-sized segments only.
 * Frames still pass straight through; what changes is what the stage is told it may hand over.
 */
export class WithoutTso extends WrappedDevice {
  constructor(inner: LinkDevice) {
    super(inner, { ...inner.offloads, tso: false });
  }

  /** TSO is about sending: received frames may still be read in place. */
  directReceive(): FrameSource | null {
    return this.inner.directReceive?.() ?? null;
  }
}
