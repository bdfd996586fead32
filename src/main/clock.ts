/**
 * The stack's clock: milliseconds since the stack's epoch. Real stacks read the high-resolution clock, identical
 * in every thread; inline stacks may run on a virtual clock that jumps to the next timer when nothing is runnable,
 * so a lossy transfer that would take minutes of retransmission timeouts takes seconds of CPU.
 */
export interface StackClock {
  readonly virtual: boolean;
  /** performance.timeOrigin + performance.now() at which this clock read 0. */
  readonly epochMs: number;
  now(): number;
  setTimer(ms: number, fn: () => void): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

export interface TimerHandle {
  readonly id: number;
}

export function highResolutionWallMs(): number {
  return performance.timeOrigin + performance.now();
}

export class RealClock implements StackClock {
  readonly virtual = false;
  readonly epochMs: number;
  private readonly origin: number;
  private readonly timers = new Map<number, ReturnType<typeof setTimeout>>();
  private nextId = 1;

  constructor(epochMs = highResolutionWallMs()) {
    this.epochMs = epochMs;
    this.origin = performance.timeOrigin - epochMs;
  }

  now(): number {
    return this.origin + performance.now();
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, setTimeout(() => {
      this.timers.delete(id);
      fn();
    }, Math.max(0, ms)));
    return { id };
  }

  clearTimer(handle: TimerHandle): void {
    const t = this.timers.get(handle.id);
    if (t !== undefined) clearTimeout(t);
    this.timers.delete(handle.id);
  }
}

interface VirtualTimer {
  id: number;
  at: number;
  fn: () => void;
}

/** A clock that only moves when told to (`advanceTo`), by the inline scheduler or a test. */
export class VirtualClock implements StackClock {
  readonly virtual = true;
  readonly epochMs = highResolutionWallMs();
  private current = 0;
  private timers: VirtualTimer[] = [];
  private nextId = 1;

  now(): number {
    return this.current;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const t = { id: this.nextId++, at: this.current + Math.max(0, ms), fn };
    this.timers.push(t);
    this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
    return { id: t.id };
  }

  clearTimer(handle: TimerHandle): void {
    this.timers = this.timers.filter((t) => t.id !== handle.id);
  }

  nextTimerAt(): number {
    return this.timers.length ? this.timers[0].at : Infinity;
  }

  /** Moves time forward to `at` (never back) and runs the timers due by then, in order. */
  advanceTo(at: number): void {
    if (at > this.current) this.current = at;
    while (this.timers.length && this.timers[0].at <= this.current) {
      const t = this.timers.shift()!;
      t.fn();
    }
  }
}
