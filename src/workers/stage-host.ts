import { DoorbellTable, FrameRing } from '../shared-ring/index.js';
import {
  loadNative, openLink, type DirectRings, type FrameSource, type LinkDevice, type LinkOffloads, type LinkRole, type NativeBinding,
} from '../link/index.js';
import { RxStage } from './rx/rx-stage.js';
import { TxStage } from './tx/tx-stage.js';
import { ProtocolStage, type ProtocolInterfaceConfig } from './tcp/protocol-stage.js';
import { OUTPUT_HEADROOM_BYTES, type InterfaceConfig, type Stage, type StageCounters } from './stage-common.js';

export type StageName = 'rx' | 'proto' | 'tx';

/** What opening an interface's device told us; the protocol stage needs it. */
export interface LinkFacts {
  readonly name: string;
  readonly mtu: number;
  readonly mac: number;
  readonly needsArp: boolean;
  readonly offloads: LinkOffloads;
}

export interface StageHostOptions {
  readonly stages: readonly StageName[];
  readonly doorbells: DoorbellTable;
  readonly doorbellId: number;
  /** How long an idle host keeps polling before it sleeps, µs (a wake-up costs ~20 µs; see packet-path-facts.md). */
  readonly spinMicros: number;
  /**
   * Inline hosts (the caller's thread, which must not block): the thread's event loop watches each kernel device's
   * fd and the watcher runs the host when one is readable, instead of the host sleeping in poll(2).
   */
  readonly fdWatcher?: FdWatcher;
}

/** Who watches kernel device fds for a host that must not block (the inline scheduler). */
export interface FdWatcher {
  watch(fd: number): void;
  /** Called before the fd is closed. */
  unwatch(fd: number): void;
}

/**
 * Runs a set of stages in one thread: mTCP's main loop, one `runOnce` at a time — rx (batch receive), proto
 * (process, timers, app commands), tx (batch send). The same object runs inside a worker (`runLoop`) and inline on
 * the caller's thread (the caller calls `runOnce` with its clock). It opens devices for the halves it runs.
 */
export class StageHost {
  readonly rx: RxStage | null;
  readonly proto: ProtocolStage | null;
  readonly tx: TxStage | null;
  private readonly stages: Stage[] = [];
  private readonly devices = new Map<number, LinkDevice[]>();
  /** Interfaces whose device's rings the protocol stage uses itself (memory wire with all stages here). */
  private readonly direct = new Map<number, DirectRings>();
  /** Interfaces whose received frames the protocol stage reads in place (a packet socket's ring, rx and proto here). */
  private readonly inPlace = new Map<number, FrameSource>();
  private stopped = false;
  /** A kernel fd to sleep on (packet socket, TAP) with our doorbell's eventfd, when a device has one. */
  private sleepFd = -1;
  private eventFd = -1;
  private native: NativeBinding | null = null;

  constructor(readonly options: StageHostOptions) {
    const names = new Set(options.stages);
    this.rx = names.has('rx') ? new RxStage() : null;
    this.proto = names.has('proto') ? new ProtocolStage(options.doorbellId) : null;
    this.tx = names.has('tx') ? new TxStage() : null;
    for (const s of [this.rx, this.proto, this.tx]) if (s) this.stages.push(s);
  }

  /** Opens the device halves this host needs (rx and/or tx) for an interface. Returns the device's facts. */
  async openInterface(config: InterfaceConfig): Promise<LinkFacts | null> {
    if (!this.rx && !this.tx) return null;
    const role: LinkRole = this.rx && this.tx ? 'both' : this.rx ? 'receive' : 'transmit';
    const device = await openLink(config.link, role);
    if (device.wait.kind === 'doorbell') device.wait.attach(this.options.doorbellId);
    else if (device.wait.kind === 'fd') this.sleepOnFd(device.wait.fd);
    // With every stage in this thread and a medium of plain rings, the protocol stage produces into and consumes from
    // the wire itself: two copies per frame less, and no rx/tx pass over it (the checks rx would make, proto makes).
    // (A wire ring too small to keep the protocol stage's output headroom stays behind the tx stage's ring.)
    const direct = this.rx && this.tx && this.proto ? device.directRings?.() ?? null : null;
    if (direct && direct.transmit.capacity >= 4 * OUTPUT_HEADROOM_BYTES) {
      this.direct.set(config.index, direct);
      this.devices.set(config.index, [device]);
      return { name: device.name, mtu: device.mtu, mac: device.mac, needsArp: device.needsArp, offloads: device.offloads };
    }
    if (this.rx) {
      const ring = FrameRing.attach(config.rxRing);
      // With the protocol stage here too, it parses the kernel's ring itself: one copy per frame less. The rx
      // stage keeps the device for its counters; the checks it would make, the protocol stage makes.
      const inPlace = this.proto ? device.directReceive?.() ?? null : null;
      if (inPlace) this.inPlace.set(config.index, inPlace);
      this.rx.addInterface(config.index, device, ring, inPlace !== null);
    }
    if (this.tx) {
      const ring = FrameRing.attach(config.txRing);
      ring.setConsumerDoorbell(this.options.doorbellId);
      this.tx.addInterface(config.index, device, ring);
    }
    this.devices.set(config.index, [device]);
    return { name: device.name, mtu: device.mtu, mac: device.mac, needsArp: device.needsArp, offloads: device.offloads };
  }

  /**
   * Frames from a kernel device wake no doorbell: the host then sleeps in poll(2) on the device's fd and an
   * eventfd that ringing our doorbell also signals. One such device per host is polled; with more, the others
   * are checked at least every millisecond. An inline host hands every such fd to its `fdWatcher` instead.
   */
  private sleepOnFd(fd: number): void {
    if (this.options.fdWatcher) {
      this.options.fdWatcher.watch(fd);
      return;
    }
    if (this.sleepFd >= 0) {
      this.extraFdDevices = true;
      return;
    }
    this.native ??= loadNative();
    if (!this.native) throw new Error('a device with a kernel fd needs the native addon, which is not loaded');
    if (this.eventFd < 0) {
      this.eventFd = this.native.eventfdCreate();
      this.options.doorbells.attachEventFd(this.options.doorbellId, this.eventFd);
    }
    this.sleepFd = fd;
  }

  private extraFdDevices = false;

  attachInterface(config: ProtocolInterfaceConfig, now: number): void {
    const direct = this.direct.get(config.index);
    this.proto?.attachInterface(
      direct ? { ...config, rxRing: ringBuffer(direct.receive), txRing: ringBuffer(direct.transmit) } : config,
      now,
      this.inPlace.get(config.index) ?? null,
    );
  }

  detachInterface(index: number): void {
    if (this.proto) {
      try {
        this.proto.detachInterface(index);
      } catch {
        // not attached to the protocol stage (a failed attach): the devices below still close
      }
    }
    this.rx?.removeInterface(index);
    this.tx?.removeInterface(index);
    this.direct.delete(index);
    this.inPlace.delete(index);
    for (const d of this.devices.get(index) ?? []) {
      // Never poll a closed fd: its number may already belong to something else (another device, a file).
      if (d.wait.kind === 'fd' && d.wait.fd === this.sleepFd) this.sleepFd = -1;
      if (d.wait.kind === 'fd') this.options.fdWatcher?.unwatch(d.wait.fd);
      d.close();
    }
    this.devices.delete(index);
  }

  runOnce(now: number): number {
    let work = 0;
    for (const s of this.stages) work += s.poll(now);
    return work;
  }

  pollAt(now: number): number {
    let at = Infinity;
    for (const s of this.stages) at = Math.min(at, s.pollAt(now));
    return at;
  }

  counters(): Record<string, StageCounters> {
    const out: Record<string, StageCounters> = {};
    if (this.rx) out.rx = this.rx.counters();
    if (this.proto) out.proto = this.proto.counters();
    if (this.tx) out.tx = this.tx.counters();
    return out;
  }

  /**
   * The worker's loop: work while there is work, spin briefly when idle, then sleep on the doorbell until the next
   * timer. It returns to the event loop after every sleep and every few ms of work, so control messages (comlink)
   * get through; the control side rings the doorbell after posting one.
   */
  runLoop(now: () => number, maxSleepMs = 50): void {
    const { doorbells, doorbellId, spinMicros } = this.options;
    const step = (): void => {
      if (this.stopped) return;
      const sliceEnd = now() + 2;
      for (;;) {
        let t = now();
        if (this.runOnce(t) > 0) {
          if (t > sliceEnd) break;
          continue;
        }
        const spinEnd = t + spinMicros / 1000;
        let found = false;
        while ((t = now()) < spinEnd) {
          if (this.runOnce(t) > 0) {
            found = true;
            break;
          }
        }
        if (found) continue;
        const seq = doorbells.prepareSleep(doorbellId);
        if (this.runOnce(t) === 0) {
          const timeout = Math.max(0, Math.min(this.pollAt(t) - t, this.extraFdDevices ? 1 : maxSleepMs));
          if (timeout > 0) {
            if (this.sleepFd >= 0) this.native!.pollFd(this.sleepFd, this.eventFd, Math.ceil(timeout));
            else doorbells.wait(doorbellId, seq, timeout);
          }
        }
        doorbells.finishSleep(doorbellId);
        break;
      }
      setImmediate(step);
    };
    setImmediate(step);
  }

  close(): void {
    this.stopped = true;
    for (const index of [...this.devices.keys()]) this.detachInterface(index);
    for (const s of this.stages) s.close();
    if (this.eventFd >= 0) {
      this.options.doorbells.attachEventFd(this.options.doorbellId, -1);
      this.native!.eventfdClose(this.eventFd);
      this.eventFd = -1;
    }
  }
}

function ringBuffer(ring: FrameRing): SharedArrayBuffer {
  if (!(ring.buffer instanceof SharedArrayBuffer)) throw new TypeError('a direct ring must be a SharedArrayBuffer ring');
  return ring.buffer;
}
