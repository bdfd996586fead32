import type { LinkDriver, LinkSpec } from './device.js';
import { INTACT_MEDIUM_OFFLOADS } from './memory.js';
import { RingDevice, ringForRole, roleReceives, roleTransmits } from './ring-device.js';

/** Loopback: what the stack transmits it receives back, through one frame ring shared by its rx and tx halves. */
export interface LoopbackLinkSpec extends LinkSpec {
  readonly driver: 'loopback';
  readonly ring: SharedArrayBuffer;
  readonly mtu?: number;
}

export const LOOPBACK_MTU = 65535;

export const loopbackDriver: LinkDriver = {
  name: 'loopback',
  create(spec, role) {
    const s = spec as LoopbackLinkSpec;
    if (!(s.ring instanceof SharedArrayBuffer)) throw new TypeError('loopback link: ring must be a SharedArrayBuffer');
    return new RingDevice({
      name: 'lo',
      mtu: s.mtu ?? LOOPBACK_MTU,
      mac: 0,
      needsArp: false,
      offloads: INTACT_MEDIUM_OFFLOADS, // as Linux's lo: nothing on the way can damage a frame
      receiveRing: ringForRole(s.ring, roleReceives(role)),
      transmitRing: ringForRole(s.ring, roleTransmits(role)),
    });
  },
};
