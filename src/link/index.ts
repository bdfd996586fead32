import type { LinkDevice, LinkRole, LinkSpec } from './device.js';
import { FaultInjector, hasFaults, type FaultOptions } from './fault-injector.js';
import { loopbackDriver } from './loopback.js';
import { memoryDriver } from './memory.js';
import { packetDriver } from './packet.js';
import { rawDriver } from './raw.js';
import { PcapWriter } from './pcap-writer.js';
import { createLinkDevice, registerLinkDriver } from './registry.js';
import { WithoutTso } from './device-wrapper.js';
import { tapDriver } from './tap.js';

export * from './device.js';
export * from './device-wrapper.js';
export * from './fault-injector.js';
export * from './link-name.js';
export * from './loopback.js';
export * from './memory.js';
export * from './native.js';
export * from './native-device.js';
export * from './packet.js';
export * from './packet-rx-ring.js';
export * from './pcap-writer.js';
export * from './prng.js';
export * from './raw.js';
export * from './raw-socket-pump.js';
export * from './registry.js';
export * from './ring-device.js';
export * from './tap.js';

registerLinkDriver(memoryDriver);
registerLinkDriver(loopbackDriver);
// raw: the stages' half; its raw sockets run on the main thread (RawSocketPump, opened by createStack).
registerLinkDriver(rawDriver);
// The addon loads only when one of these creates a device; without it they say why they are unavailable.
registerLinkDriver(packetDriver);
registerLinkDriver(tapDriver);

/** Wrappers any link may ask for in its spec: a capture file and impairments. */
export interface LinkWrapperOptions {
  /** Append every frame to this pcap file (created beforehand by `createPcapFile`). */
  readonly pcap?: string;
  /** Wall-clock ms at which the stack clock read 0, for pcap timestamps. */
  readonly epochMs?: number;
  readonly faults?: FaultOptions;
  /** false: never hand the device TCP super-segments even if it cuts them (`ethtool -K dev tso off`). */
  readonly tso?: boolean;
}

/**
 * Builds a device from its spec in the calling thread, wrapped as the spec asks: the pcap writer sits next to the
 * device (it records the real wire), the fault injector outside it.
 */
export async function openLink(spec: LinkSpec & LinkWrapperOptions, role: LinkRole): Promise<LinkDevice> {
  let device = await createLinkDevice(spec, role);
  if (spec.tso === false && device.offloads.tso) device = new WithoutTso(device);
  if (spec.pcap) device = new PcapWriter(device, spec.pcap, spec.epochMs ?? 0);
  if (hasFaults(spec.faults)) device = new FaultInjector(device, spec.faults!);
  return device;
}
