import { requireNative, type NativeFdWatch } from '../link/index.js';
import type { FdWatcher, StageHost } from '../workers/stage-host.js';
import type { StackClock, VirtualClock } from './clock.js';

/** Something on the application side that has work after the stages ran (an app channel's event pump). */
export interface InlinePump {
  /** Handles what arrived; returns how much (0 = nothing). */
  drain(): number;
}

/**
 * Drives `inline` stacks on the caller's thread: runs every registered stage host until all are idle, lets the
 * application react (its pumps), and then, on a virtual clock, jumps to the earliest timer; on the real clock it
 * sets a timer for the earliest one. Stacks that share a memory wire must share a scheduler (and so a clock): one
 * stack's transmit is the other's receive. Kernel devices (packet, TAP; real clock only) are watched on this
 * thread's event loop (the addon's `watchFd`): a readable fd runs the hosts like an app command does.
 */
export class InlineScheduler implements FdWatcher {
  private readonly hosts = new Set<StageHost>();
  private readonly pumps = new Set<InlinePump>();
  private readonly watches = new Map<number, NativeFdWatch>();
  private readonly onReadable = (): void => this.kick();
  private scheduled = false;
  /** The real-clock timer for the earliest stage timer, and the clock time it was set for. */
  private timer: ReturnType<typeof setTimeout> | null = null;
  private timerAt = Infinity;

  constructor(readonly clock: StackClock) {}

  watch(fd: number): void {
    if (this.clock.virtual) throw new Error('a kernel device cannot run on a virtual clock'); // Stack refuses it first
    if (this.watches.has(fd)) return;
    this.watches.set(fd, requireNative('an inline stack on a kernel link').watchFd(fd, this.onReadable));
  }

  unwatch(fd: number): void {
    const watch = this.watches.get(fd);
    if (watch === undefined) return;
    this.watches.delete(fd);
    requireNative('an inline stack on a kernel link').unwatchFd(watch);
  }

  addHost(host: StageHost): void {
    this.hosts.add(host);
    this.kick();
  }

  removeHost(host: StageHost): void {
    this.hosts.delete(host);
    if (this.hosts.size === 0 && this.timer !== null) {
      // Nothing left to run: a pending timer would only keep the event loop alive.
      clearTimeout(this.timer);
      this.timer = null;
      this.timerAt = Infinity;
    }
  }

  addPump(pump: InlinePump): void {
    this.pumps.add(pump);
  }

  removePump(pump: InlinePump): void {
    this.pumps.delete(pump);
  }

  /** Something happened (an app command, a timer): run soon. */
  kick(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.run());
  }

  private run(): void {
    this.scheduled = false;
    if (this.hosts.size === 0) return;
    const clock = this.clock;
    // Stages first, until quiet, with the application's side in between; repeat while anything moves.
    let moved = 0;
    for (let rounds = 0; rounds < 1000; rounds++) {
      let work = 0;
      const now = clock.now();
      for (const h of this.hosts) work += h.runOnce(now);
      for (const p of this.pumps) work += p.drain();
      if (work === 0) break;
      moved += work;
    }
    if (moved > 0) {
      // Events were delivered: let the application's promise callbacks run (they may send more) before time moves.
      this.later(() => this.run());
      return;
    }
    let next = Infinity;
    const now = clock.now();
    for (const h of this.hosts) next = Math.min(next, h.pollAt(now));
    if (clock.virtual) {
      const virtual = clock as VirtualClock;
      next = Math.min(next, virtual.nextTimerAt());
      if (next === Infinity) return; // fully idle: the next app command kicks us
      virtual.advanceTo(Math.max(next, now));
      this.later(() => this.run());
      return;
    }
    if (next === Infinity || next >= this.timerAt) return;
    // A timer already set for this time or earlier stays: when it fires, run() looks again. Setting and clearing one
    // on every idle spell cost 7 % of this thread during a 1 GiB download (a new Timeout and a timer-list insert
    // each time the packet ring ran dry).
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerAt = next;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      this.kick();
    }, Math.max(0, next - now));
  }

  private later(fn: () => void): void {
    this.scheduled = true;
    setImmediate(fn);
  }
}
