import { NO_OFFLOADS, type LinkDriver, type LinkOffloads, type LinkSpec } from './device.js';
import { RingDevice, ringForRole, roleReceives, roleTransmits } from './ring-device.js';

/**
 * One end of an in-memory Ethernet wire between two stacks in one process: it receives from one frame ring and
 * transmits into the other; the other end has them the other way round. Faults, if any, are in `spec.faults`
 * (applied by the registry's wrapper to frames this end transmits, so each direction is impaired once).
 */
export interface MemoryLinkSpec extends LinkSpec {
  readonly driver: 'memory';
  readonly name?: string;
  readonly receiveRing: SharedArrayBuffer;
  readonly transmitRing: SharedArrayBuffer;
  readonly mac: number;
  readonly mtu: number;
  /**
   * Frames may cross with their TCP checksum unfinished (CSUM_PARTIAL) and are trusted on arrival, as Linux's veth
   * does: no wire can damage them. createMemoryWire turns it off when the wire corrupts frames. With it the wire
   * also carries TCP super-segments whole (TSO on the sender, GRO on the receiver), as a veth between two Linux
   * stacks does; a fault injector on the wire takes TSO away again (it would drop or delay 64 KiB as one frame).
   */
  readonly checksumOffload?: boolean;
}

/** Memory carries frames intact: checksums need not be computed for it (virtio's NEEDS_CSUM / DATA_VALID). */
export const INTACT_MEDIUM_OFFLOADS: LinkOffloads = Object.freeze({ rxChecksum: true, txChecksum: true, tso: false, gro: false });

/**
 * A wire between two of our stacks: intact, and a TCP super-segment crosses it whole (FRAME_GSO_TCPV4 is kept in the
 * record) — the receiving stack takes it as one segment, as Linux takes a GRO-merged one. Nothing on the way cuts it.
 */
export const STACK_TO_STACK_OFFLOADS: LinkOffloads = Object.freeze({ rxChecksum: true, txChecksum: true, tso: true, gro: true });

export const memoryDriver: LinkDriver = {
  name: 'memory',
  create(spec, role) {
    const s = spec as MemoryLinkSpec;
    if (!(s.receiveRing instanceof SharedArrayBuffer) || !(s.transmitRing instanceof SharedArrayBuffer)) {
      throw new TypeError('memory link: receiveRing and transmitRing must be SharedArrayBuffers (use createMemoryWire)');
    }
    return new RingDevice({
      name: s.name ?? 'mem0',
      mtu: s.mtu,
      mac: s.mac,
      needsArp: true,
      offloads: s.checksumOffload ? STACK_TO_STACK_OFFLOADS : NO_OFFLOADS,
      receiveRing: ringForRole(s.receiveRing, roleReceives(role)),
      transmitRing: ringForRole(s.transmitRing, roleTransmits(role)),
      direct: true,
    });
  },
};
