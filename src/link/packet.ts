// The `packet` driver: an AF_PACKET socket on a real (or veth) Ethernet interface, through the native addon.
// Receives through a PACKET_RX_RING (TPACKET_V2 by default, V3 or recvmmsg on request) and sends with sendmmsg
// and PACKET_QDISC_BYPASS, both straight between the kernel and our frame rings.
import type { LinkDriver, LinkRole, LinkSpec } from './device.js';
import { NativeDevice, nativeOffloads } from './native-device.js';
import { netnsPath, requireNative, type InterfaceFacts, type NativeBinding, type NativeRxMode } from './native.js';

export interface PacketLinkSpec extends LinkSpec {
  readonly driver: 'packet';
  /** Interface name, or 'auto': the first interface that is up, not loopback, and Ethernet (OSKit's open_first_ether_if). */
  readonly ifname: string;
  /** Network namespace by name (`ip netns`) or path; the socket is made there, the thread stays where it is. */
  readonly netns?: string;
  /** PACKET_VNET_HDR: offload state (partial checksums, TCPv4 super-frames) both ways. Default false. */
  readonly vnetHdr?: boolean;
  /** Receive path; default 'v2' (no block retire delay). */
  readonly rxRing?: 'v2' | 'v3' | 'recvmmsg';
  /**
   * PACKET_QDISC_BYPASS; default on without vnet headers, off with them: a bypassing send drops (ENOBUFS) any
   * super-frame the kernel would have to cut in software because the device lacks TSO (dev_direct_xmit), and
   * a 64 KiB super-frame pays the qdisc once for ~45 segments anyway.
   */
  readonly qdiscBypass?: boolean;
  /** Ring geometry: see PacketOpenOptions in native.ts. frameCount defaults to DEFAULT_RX_FRAMES. */
  readonly frameSize?: number;
  readonly frameCount?: number;
  readonly blockSize?: number;
  readonly blockCount?: number;
}

const RX_MODES: Readonly<Record<string, NativeRxMode>> = { v2: 2, v3: 3, recvmmsg: 0 };

/**
 * TPACKET_V2 frames in the receive ring (64 KiB each, for super-frames: 64 MiB of kernel memory). The ring is the
 * first queue a sender's burst meets, and TCP's window (4 MiB sockets) does not cover it: with 256 frames a kernel
 * sender at MTU 1500 overflowed it (5–9 % of frames dropped, 0.7–1.2 Gbit/s in); 512 still dropped a few;
 * 1024 dropped none (2.6–3.1 Gbit/s; with the peer's offloads on 5.9–7.0 against 3.0 with 256). docs/PERFORMANCE.md.
 */
export const DEFAULT_RX_FRAMES = 1024;

/** The interface `ifname: 'auto'` picks among `interfaces`, or undefined. */
export function firstEthernetInterface(interfaces: readonly InterfaceFacts[]): InterfaceFacts | undefined {
  return interfaces.find((i) => i.up && !i.loopback && i.ethernet);
}

function resolveInterface(binding: NativeBinding, ifname: string, netns: string | null): InterfaceFacts {
  if (ifname !== 'auto') return binding.interfaceInfo(ifname, netns);
  const all = binding.listInterfaces(netns);
  const found = firstEthernetInterface(all);
  if (!found) {
    const seen = all.map((i) => `${i.name}${i.up ? '' : ' (down)'}${i.ethernet ? '' : ' (not Ethernet)'}`).join(', ');
    throw new Error(`packet link: ifname 'auto' found no Ethernet interface that is up${netns ? ` in ${netns}` : ''} (saw: ${seen || 'none'})`);
  }
  return found;
}

function checkSpec(spec: LinkSpec): PacketLinkSpec {
  const s = spec as PacketLinkSpec;
  if (typeof s.ifname !== 'string' || s.ifname === '') throw new TypeError("packet link: spec.ifname must be an interface name or 'auto'");
  if (s.netns !== undefined && typeof s.netns !== 'string') throw new TypeError('packet link: spec.netns must be a string');
  if (s.rxRing !== undefined && !(s.rxRing in RX_MODES)) {
    throw new TypeError(`packet link: spec.rxRing must be 'v2', 'v3' or 'recvmmsg', not ${JSON.stringify(s.rxRing)}`);
  }
  return s;
}

export const packetDriver: LinkDriver = {
  name: 'packet',
  create(spec: LinkSpec, role: LinkRole) {
    const s = checkSpec(spec);
    const binding = requireNative('the packet link');
    const netns = netnsPath(s.netns);
    const facts = resolveInterface(binding, s.ifname, netns);
    const vnetHdr = s.vnetHdr ?? false;
    const receives = role !== 'transmit';
    let handle;
    try {
      handle = binding.packetOpen(facts.name, netns, {
        vnetHdr,
        receive: receives,
        qdiscBypass: s.qdiscBypass ?? !vnetHdr,
        rxMode: RX_MODES[s.rxRing ?? 'v2'],
        frameSize: s.frameSize,
        frameCount: s.frameCount ?? (s.rxRing === undefined || s.rxRing === 'v2' ? DEFAULT_RX_FRAMES : undefined),
        blockSize: s.blockSize,
        blockCount: s.blockCount,
      });
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      if (e.code === 'EPERM' || /Operation not permitted/.test(e.message)) {
        // Say what would make it work (docs/TESTBED.md, "Running without root").
        e.message += netns
          ? ' (a packet socket needs CAP_NET_RAW, and opening it inside another namespace CAP_SYS_ADMIN: run inside it with `ip netns exec` instead)'
          : ' (a packet socket needs CAP_NET_RAW: run as root, or e.g. `setpriv --inh-caps=+net_raw --ambient-caps=+net_raw`, or `setcap cap_net_raw+ep` on node)';
      }
      throw error;
    }
    return new NativeDevice(binding, handle, {
      name: facts.name,
      mtu: facts.mtu,
      mac: facts.mac,
      offloads: nativeOffloads('packet', vnetHdr),
      receives,
      inPlaceRing: s.rxRing === undefined || s.rxRing === 'v2',
    });
  },
};
