import type { FrameRing } from '../shared-ring/index.js';
import type { LinkDevice } from '../link/index.js';
import type { StageCounters } from './stage-common.js';

/** An interface as a device stage holds it: its device half and the ring between it and the protocol stage. */
export interface DeviceInterface {
  readonly index: number;
  readonly device: LinkDevice;
  /** rx: the rx → protocol ring (this stage produces); tx: the protocol → tx ring (this stage consumes). */
  readonly ring: FrameRing;
  /** rx: the protocol stage reads this device's frames in place (LinkDevice.directReceive); here only its counters. */
  readonly readInPlace: boolean;
}

/** What the rx and tx stages share: their interfaces, the devices' timers and the devices' counters. */
export abstract class DeviceStage {
  protected readonly interfaces = new Map<number, DeviceInterface>();

  addInterface(index: number, device: LinkDevice, ring: FrameRing, readInPlace = false): void {
    this.interfaces.set(index, { index, device, ring, readInPlace });
  }

  removeInterface(index: number): LinkDevice | undefined {
    const i = this.interfaces.get(index);
    this.interfaces.delete(index);
    return i?.device;
  }

  pollAt(now: number): number {
    let at = Infinity;
    for (const iface of this.interfaces.values()) at = Math.min(at, iface.device.pollAt(now));
    return at;
  }

  /** Adds each device's own counters to `out`, as `if<index>.<name>`. */
  protected deviceCounters(out: StageCounters): StageCounters {
    for (const iface of this.interfaces.values()) {
      for (const [k, v] of Object.entries(iface.device.counters())) out[`if${iface.index}.${k}`] = v;
    }
    return out;
  }

  close(): void {
    this.interfaces.clear();
  }
}
