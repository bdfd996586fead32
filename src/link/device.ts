import type { FrameRing } from '../shared-ring/index.js';

/** What a device finishes for us in hardware (or the kernel does for a packet socket / TAP with vnet headers). */
export interface LinkOffloads {
  /** Received frames may carry FRAME_CSUM_VALID (checksum verified) or FRAME_CSUM_PARTIAL (never computed). */
  readonly rxChecksum: boolean;
  /** Frames may be handed over with FRAME_CSUM_PARTIAL: the device finishes the checksum. */
  readonly txChecksum: boolean;
  /** Frames may be handed over as FRAME_GSO_TCPV4 super-segments: the device cuts them (TSO). */
  readonly tso: boolean;
  /** Received frames may be super-segments larger than the MTU (GRO/LRO on the peer side). */
  readonly gro: boolean;
}

export const NO_OFFLOADS: LinkOffloads = Object.freeze({ rxChecksum: false, txChecksum: false, tso: false, gro: false });

/**
 * How the stage that owns a device sleeps until it may have frames to receive.
 * - `doorbell`: the device is fed by a ring; it writes the given doorbell id into that ring so the producer wakes us.
 * - `fd`: a kernel file descriptor to poll (packet socket, TAP) through the native addon.
 * - `none`: nothing arrives on its own (e.g. loopback: frames only appear when we transmit).
 */
export type LinkWait =
  | { readonly kind: 'doorbell'; attach(doorbellId: number): void }
  | { readonly kind: 'fd'; readonly fd: number }
  | { readonly kind: 'none' };

/**
 * A network device as a stage sees it: batched receive into a frame ring and batched transmit from one.
 * Lives in the thread of the stage that owns it; built from a `LinkSpec` by a registered driver.
 * Times are milliseconds on the stack's clock, passed in (never read inside).
 */
export interface LinkDevice {
  readonly name: string;
  /** Largest IP packet (L3) the link carries; the Ethernet header comes on top. */
  readonly mtu: number;
  /** 48-bit MAC address as a number (0 for links without one, e.g. loopback). */
  readonly mac: number;
  /** False for links that need no neighbour resolution (loopback, point-to-point L3). */
  readonly needsArp: boolean;
  readonly offloads: LinkOffloads;
  readonly wait: LinkWait;
  /**
   * Moves up to `maxFrames` received frames, and up to `maxBytes` of ring space (default: no limit; a budget below
   * the largest frame may take nothing), into `into` (as its producer; the caller publishes).
   */
  receive(into: FrameRing, maxFrames: number, now: number, maxBytes?: number): number;
  /** Sends up to `maxFrames` frames from `from` (as its consumer; the caller releases). Returns frames taken. */
  transmit(from: FrameRing, maxFrames: number, now: number): number;
  /** The earliest time the device wants `receive` called even if nothing woke us (held frames); Infinity if never. */
  pollAt(now: number): number;
  /** Frames the device dropped itself, by reason (counters for stats). */
  counters(): Readonly<Record<string, number>>;
  /**
   * The medium itself as frame rings, when it is nothing but rings (a memory wire): a host that runs the rx, protocol
   * and tx stages in one thread lets the protocol stage build frames straight into `transmit` and parse them straight
   * from `receive`, skipping the stages' copies. Absent or null: frames go through the rx and tx stages. Wrappers
   * (fault injector, pcap writer) do not offer it, so everything they see still passes them.
   */
  directRings?(): DirectRings | null;
  /**
   * Received frames in memory this thread may read in place (a packet socket's PACKET_RX_RING): a host that runs the
   * rx and protocol stages in one thread lets the protocol stage parse them there, one copy less. Once taken, the
   * device's own `receive` must not be called again. Absent or null: frames go through the rx stage.
   */
  directReceive?(): FrameSource | null;
  close(): void;
}

/**
 * Frames a consumer reads in place, one at a time — what a FrameRing offers its consumer: `peek` gives the offset
 * of the next frame in `bytes` (or -1) and sets `frameLength` and `flags` (FRAME_* record flags); `next` is done
 * with it; `release` ends a batch.
 */
export interface FrameSource {
  readonly bytes: Uint8Array;
  readonly frameLength: number;
  readonly flags: number;
  peek(): number;
  next(): void;
  release(): void;
}

/** A device's own rings: this thread consumes `receive` and produces into `transmit`. */
export interface DirectRings {
  readonly receive: FrameRing;
  readonly transmit: FrameRing;
}

/** Plain, structured-cloneable description of a link; crosses to the stage's thread, where a driver builds it. */
export interface LinkSpec {
  readonly driver: string;
  /** For drivers not built in: a module URL whose default export is a `LinkDriver`, imported where the stage runs. */
  readonly module?: string;
  readonly [parameter: string]: unknown;
}

/**
 * Which halves of a device a thread needs. In the `three` layout the rx stage and the tx stage live in different
 * threads and each builds its own instance from the same spec: `receive` opens what receives, `transmit` only what
 * sends (a packet socket bound to protocol 0 receives nothing), so no frame is received twice.
 */
export type LinkRole = 'receive' | 'transmit' | 'both';

export interface LinkDriver {
  readonly name: string;
  create(spec: LinkSpec, role: LinkRole): LinkDevice | Promise<LinkDevice>;
}
