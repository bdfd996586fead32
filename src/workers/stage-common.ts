/** Set by the rx stage on a frame it rejected (bad checksum, not for us): later stages skip it. */
export const FRAME_DISCARD = 0x8000;

/** Frames or records a stage handles per ring before it moves on (mTCP-style batches). */
export const STAGE_BATCH = 64;

/**
 * Bytes of frames a stage takes per ring before it moves on. With kernel super-frames (GRO/GSO, up to 64 KiB each)
 * STAGE_BATCH frames would be 4 MiB: the ACK for the batch's first segment would wait for all of it, and a sender
 * whose window is a few MiB would stall meanwhile. 256 KiB is four super-frames, or STAGE_BATCH frames at MTU 4000.
 */
export const STAGE_BATCH_BYTES = 256 * 1024;

/** Room an output ring must have before the protocol stage takes more input: one 64 KiB datagram, fragmented. */
export const OUTPUT_HEADROOM_BYTES = 160 * 1024;

/** Counters a stage exposes: flat name → number, cheap to bump, copied out for stats. */
export type StageCounters = Record<string, number>;

/** What every stage offers its host: one pass of work, and when it next needs to run. */
export interface Stage {
  /** Runs one batch; returns how much work was done (0 = idle). */
  poll(now: number): number;
  /** The earliest time this stage must run again even if nothing wakes it; Infinity if never. */
  pollAt(now: number): number;
  counters(): StageCounters;
  close(): void;
}

/** An interface as the stack's control plane describes it to every stage (structured-cloneable). */
export interface InterfaceConfig {
  readonly index: number;
  readonly name: string;
  /** Link spec (and wrappers: pcap, faults) from which the rx and tx stages build their halves of the device. */
  readonly link: import('../link/index.js').LinkSpec & import('../link/index.js').LinkWrapperOptions;
  readonly address: number;
  readonly prefixLength: number;
  readonly mtu: number;
  readonly mac: number;
  readonly needsArp: boolean;
  /** rx stage → protocol stage, and protocol stage → tx stage: one frame ring each way per interface. */
  readonly rxRing: SharedArrayBuffer;
  readonly txRing: SharedArrayBuffer;
  /** The device finishes TCP/UDP checksums (from its LinkFacts). */
  readonly txChecksumOffload?: boolean;
  /** The device cuts FRAME_GSO_TCPV4 super-segments into MSS-sized ones (TSO, from its LinkFacts). */
  readonly tso?: boolean;
}
