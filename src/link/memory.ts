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
   * does: no wire can damage them. createMemoryWire turns it off when the wire corrupts frames.
   */
  readonly checksumOffload?: boolean;
}

/** Memory carries frames intact: checksums need not be computed for it (virtio's NEEDS_CSUM / DATA_VALID). */
export const INTACT_MEDIUM_OFFLOADS: LinkOffloads = Object.freeze({ rxChecksum: true, txChecksum: true, tso: false, gro: false });

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
      offloads: s.checksumOffload ? INTACT_MEDIUM_OFFLOADS : NO_OFFLOADS,
      receiveRing: ringForRole(s.receiveRing, roleReceives(role)),
      transmitRing: ringForRole(s.transmitRing, roleTransmits(role)),
      direct: true,
    });
  },
};
