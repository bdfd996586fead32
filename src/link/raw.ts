// The `raw` driver: the stack behind raw IP sockets of the host kernel (the npm raw-socket package), an L3 link.
//
// raw-socket works only on the main thread (it registers its poll watcher on the main loop and is not
// context-aware: in a worker it receives nothing and crashes the process at exit). So its I/O runs on the main
// thread (RawSocketPump, raw-socket-pump.ts), which feeds a pair of frame rings; the stages consume them like the
// memory wire, through this driver. Frames carry a synthesized Ethernet header (zero MACs, type IPv4) so every
// stage handles them as it handles any frame; the link needs no ARP.
//
// What the kernel does meanwhile: a raw socket only sees packets the kernel delivers locally, so the stack's
// address must be one of the host's own. The kernel processes every such packet as well: it answers a TCP segment
// for which it has no socket with a reset (killing our connections), a UDP datagram to a port it has no socket
// for with ICMP port unreachable, and an echo request with its own reply. docs/RAW-LINK.md has the iptables rules
// that stop those, matching the kernel's packets by the absence of the mark our sends carry (SO_MARK).
import type { LinkDriver, LinkSpec } from './device.js';
import { RingDevice, ringForRole, roleReceives, roleTransmits } from './ring-device.js';

export type RawProtocol = 'icmp' | 'udp' | 'tcp';

/** What a user passes (`{ driver: 'raw' }`, or `--link raw` on the command line). */
export interface RawLinkSpec extends LinkSpec {
  readonly driver: 'raw';
  /** The IP MTU of the kernel's route to the peers (default 1500): with IP_HDRINCL the kernel never fragments. */
  readonly mtu?: number;
  /** IP protocols to receive, one raw socket each (default all three). */
  readonly protocols?: readonly RawProtocol[];
  /**
   * SO_MARK on every packet the stack sends (default RAW_LINK_DEFAULT_MARK; 0: none), so firewall rules can tell
   * the kernel's own resets and errors from ours. Setting a mark needs CAP_NET_ADMIN.
   */
  readonly mark?: number;
  /** SO_BINDTODEVICE: receive only what arrives on this interface (default: any). */
  readonly device?: string;
}

/** The same link once its main-thread half runs: the rings the stages use. Made by RawSocketPump. */
export interface RawRingLinkSpec extends LinkSpec {
  readonly driver: 'raw';
  readonly name: string;
  readonly mtu: number;
  /** Main thread → stages: received IP packets behind a synthesized Ethernet header. */
  readonly receiveRing: SharedArrayBuffer;
  /** Stages → main thread: frames whose IP packets the main thread sends. */
  readonly transmitRing: SharedArrayBuffer;
}

export const RAW_LINK_DEFAULT_MARK = 0x72737472; // "rstr"
export const RAW_LINK_PROTOCOLS: Readonly<Record<RawProtocol, number>> = { icmp: 1, tcp: 6, udp: 17 };

/** True for a raw spec whose main-thread half has not been started yet (no rings). */
export function isUnopenedRawSpec(spec: LinkSpec): spec is RawLinkSpec {
  return spec.driver === 'raw' && !(spec.receiveRing instanceof SharedArrayBuffer);
}

export const rawDriver: LinkDriver = {
  name: 'raw',
  create(spec, role) {
    if (isUnopenedRawSpec(spec)) {
      throw new Error(
        'raw link: raw-socket runs only on the main thread; createStack opens it there and hands the stages its ' +
          'rings. Pass { driver: "raw" } to createStack (or --link raw), not to a stage directly.',
      );
    }
    const s = spec as RawRingLinkSpec;
    return new RingDevice({
      name: s.name,
      mtu: s.mtu,
      mac: 0,
      needsArp: false,
      receiveRing: ringForRole(s.receiveRing, roleReceives(role)),
      transmitRing: ringForRole(s.transmitRing, roleTransmits(role)),
    });
  },
};
