// The `tap` driver: a TAP device (IFF_TAP | IFF_NO_PI) through the native addon. The kernel side of the TAP is the
// kernel's interface; our stack is the host at the other end of the cable, with a MAC of its own.
import type { LinkDriver, LinkRole, LinkSpec } from './device.js';
import { NativeDevice, nativeOffloads } from './native-device.js';
import { netnsPath, requireNative } from './native.js';

export interface TapLinkSpec extends LinkSpec {
  readonly driver: 'tap';
  /** The TAP device's name (attached if it exists, created if we may). */
  readonly name: string;
  /** Network namespace (name or path) in which `name` lives. */
  readonly netns?: string;
  /** IFF_VNET_HDR + TUNSETOFFLOAD: partial checksums and TCPv4 super-frames both ways. Default false. */
  readonly vnetHdr?: boolean;
  /**
   * A TAP fd already open in this process (see openSharedTap). A single-queue TAP has exactly one fd, so when the
   * rx and tx stages run in different threads both instances must use the same one; it stays open on close().
   */
  readonly fd?: number;
  /** Our stack's MAC (48-bit number); default: the TAP's own MAC with the lowest bit of the last byte flipped. */
  readonly mac?: number;
}

function checkSpec(spec: LinkSpec): TapLinkSpec {
  const s = spec as TapLinkSpec;
  if (typeof s.name !== 'string' || s.name === '') throw new TypeError('tap link: spec.name must be a TAP device name');
  if (s.fd !== undefined && !(Number.isInteger(s.fd) && s.fd >= 0)) throw new TypeError('tap link: spec.fd must be a file descriptor');
  if (s.mac !== undefined && !(Number.isInteger(s.mac) && s.mac > 0 && s.mac < 2 ** 48 && (Math.floor(s.mac / 2 ** 40) & 1) === 0)) {
    throw new TypeError('tap link: spec.mac must be a unicast 48-bit MAC as a number');
  }
  return s;
}

/** The MAC our end of the cable uses when the spec names none: next to the kernel's, never equal to it. */
export function tapPeerMac(tapMac: number): number {
  return tapMac % 2 === 0 ? tapMac + 1 : tapMac - 1;
}

export const tapDriver: LinkDriver = {
  name: 'tap',
  create(spec: LinkSpec, role: LinkRole) {
    const s = checkSpec(spec);
    const binding = requireNative('the tap link');
    const netns = netnsPath(s.netns);
    if (s.fd === undefined && role === 'transmit') {
      throw new Error(
        `tap link ${s.name}: a transmit-only instance needs spec.fd (open the TAP once with openSharedTap and give its ` +
          'fd to both stages): a single-queue TAP device accepts only one open fd',
      );
    }
    const handle = s.fd !== undefined ? binding.tapAttach(s.fd) : binding.tapOpen(s.name, netns, { vnetHdr: s.vnetHdr ?? false });
    try {
      const info = binding.handleInfo(handle);
      const facts = binding.interfaceInfo(info.name, netns);
      return new NativeDevice(binding, handle, {
        name: info.name,
        mtu: facts.mtu,
        mac: s.mac ?? tapPeerMac(facts.mac),
        offloads: nativeOffloads('tap', info.vnetHdr),
        receives: role !== 'transmit',
      });
    } catch (error) {
      binding.closeHandle(handle);
      throw error;
    }
  },
};

/** A TAP fd for the whole process (the thread that made the stack owns it): pass `fd` in the tap spec. */
export interface SharedTap {
  readonly fd: number;
  close(): void;
}

export function openSharedTap(name: string, options: { netns?: string; vnetHdr?: boolean } = {}): SharedTap {
  const binding = requireNative('openSharedTap');
  const handle = binding.tapOpen(name, netnsPath(options.netns), { vnetHdr: options.vnetHdr ?? false });
  return { fd: binding.handleInfo(handle).fd, close: () => binding.closeHandle(handle) };
}
