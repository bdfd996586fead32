import { FrameRing } from '../shared-ring/index.js';
import { validateFaultOptions, type FaultOptions, type MemoryLinkSpec } from '../link/index.js';

export interface MemoryWireOptions {
  /** IP MTU of the wire (default 1500; up to 65535). */
  readonly mtu?: number;
  /** Probability (0..1) that a frame is lost, duplicated, held back so later ones overtake it, or has a bit flipped. */
  readonly loss?: number;
  readonly duplicate?: number;
  readonly reorder?: number;
  readonly corrupt?: number;
  /** One-way delay in ms. */
  readonly delayMs?: number;
  /** Rate limit in bits per second. */
  readonly rateBps?: number;
  /** Seed of the impairments: the same seed repeats the same run. */
  readonly seed?: number;
  /** Bytes each direction can hold in flight (default 8 MiB). */
  readonly ringBytes?: number;
}

/** A memory wire's end, ready for `createStack({ link })`. */
export type MemoryWireEnd = MemoryLinkSpec & { readonly faults?: FaultOptions };

let wiresMade = 0;

/**
 * Two ends of an in-memory Ethernet wire, for two stacks in one process. Each direction is a frame ring; the
 * impairments apply to each direction once, each with its own seed derived from `seed`.
 */
export function createMemoryWire(options: MemoryWireOptions = {}): [MemoryWireEnd, MemoryWireEnd] {
  const mtu = options.mtu ?? 1500;
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new RangeError(`mtu must be an integer from 68 to 65535, got ${String(mtu)}`);
  const faults: FaultOptions = {
    loss: options.loss, duplicate: options.duplicate, reorder: options.reorder, corrupt: options.corrupt,
    delayMs: options.delayMs, rateBps: options.rateBps, seed: options.seed ?? 1,
  };
  validateFaultOptions(faults);
  const ringBytes = options.ringBytes ?? 8 << 20;
  const aToB = FrameRing.create(ringBytes).buffer as SharedArrayBuffer;
  const bToA = FrameRing.create(ringBytes).buffer as SharedArrayBuffer;
  const wire = ++wiresMade;
  // Locally administered unicast MACs: 02:72:73:WW:WW:0E (E = end 1 or 2).
  const mac = (end: number): number => 0x027273000000 + (wire & 0xffff) * 0x100 + end;
  const seed = faults.seed ?? 1;
  // A wire that flips bits needs real checksums to catch them; any other wire carries frames intact.
  const checksumOffload = !options.corrupt;
  return [
    { driver: 'memory', name: 'mem0', receiveRing: bToA, transmitRing: aToB, mac: mac(1), mtu, checksumOffload, faults: { ...faults, seed, direction: 'transmit' } },
    { driver: 'memory', name: 'mem0', receiveRing: aToB, transmitRing: bToA, mac: mac(2), mtu, checksumOffload, faults: { ...faults, seed: seed + 0x5bd1e995, direction: 'transmit' } },
  ];
}
