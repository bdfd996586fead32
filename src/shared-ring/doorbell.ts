// Doorbells: one word a thread sleeps on, whatever number of rings it waits for (docs/ARCHITECTURE.md,
// "Doorbells"). The table lives in one SharedArrayBuffer per process; ids are slot indices, 0 means "none".

export type WaitResult = 'ok' | 'not-equal' | 'timed-out';

const TABLE_MAGIC = 0x52534442; // "RSDB"
/** Each slot owns a 64-byte line so one doorbell's traffic never slows another's. */
const SLOT_WORDS = 16;
const SEQ = 0;
const SLEEPERS = 1;
const IN_USE = 2;
/** fd + 1 of an eventfd the owner also sleeps on (in poll(2) with a device fd); 0 = none. */
const EVENT_FD = 3;

/**
 * How this thread signals an eventfd (the native addon's eventfdSignal), installed by whoever loaded it; shared-ring
 * itself does no I/O. Without one, doorbells with an eventfd are only notified through Atomics.
 */
let eventFdSignaller: ((fd: number) => void) | undefined;

export function installEventFdSignaller(signal: (fd: number) => void): void {
  eventFdSignaller = signal;
}
// Slot 0 is never handed out ("none"): its words hold the table header.
const HEADER_MAGIC = 0;
const HEADER_SLOTS = 1;
const HEADER_HINT = 2;

const DEFAULT_SLOTS = 1024;

type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
// Atomics.waitAsync is in Node 20 (V8 ≥ 8.7) but only in TypeScript's ES2024 lib; this project targets ES2023.
const atomicsWaitAsync = (Atomics as unknown as {
  waitAsync?: (typedArray: Int32Array, index: number, value: number, timeout?: number) => WaitAsyncResult;
}).waitAsync;

export class DoorbellTable {
  readonly buffer: SharedArrayBuffer;
  /** Number of slots, including the reserved slot 0: ids run 1 .. slots - 1. */
  readonly slots: number;
  private readonly words: Int32Array;

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.words = new Int32Array(buffer);
    this.slots = this.words[HEADER_SLOTS];
  }

  static create(slots: number = DEFAULT_SLOTS): DoorbellTable {
    if (!Number.isInteger(slots) || slots < 2 || slots > 1 << 20) {
      throw new RangeError(`DoorbellTable.create: slots must be an integer from 2 to ${1 << 20}, got ${slots}`);
    }
    const buffer = new SharedArrayBuffer(slots * SLOT_WORDS * 4);
    const words = new Int32Array(buffer);
    words[HEADER_SLOTS] = slots;
    words[HEADER_HINT] = 1;
    Atomics.store(words, HEADER_MAGIC, TABLE_MAGIC);
    return new DoorbellTable(buffer);
  }

  static attach(buffer: SharedArrayBuffer): DoorbellTable {
    if (!(buffer instanceof SharedArrayBuffer)) {
      throw new TypeError('DoorbellTable.attach: expected the SharedArrayBuffer of a DoorbellTable');
    }
    if (buffer.byteLength < 2 * SLOT_WORDS * 4 || buffer.byteLength % (SLOT_WORDS * 4) !== 0) {
      throw new RangeError(`DoorbellTable.attach: ${buffer.byteLength} bytes is not the size of a doorbell table`);
    }
    const words = new Int32Array(buffer);
    const magic = Atomics.load(words, HEADER_MAGIC);
    if (magic !== TABLE_MAGIC) {
      throw new Error(`DoorbellTable.attach: not a doorbell table (magic 0x${(magic >>> 0).toString(16)})`);
    }
    if (words[HEADER_SLOTS] * SLOT_WORDS * 4 !== buffer.byteLength) {
      throw new Error(`DoorbellTable.attach: corrupt header: ${words[HEADER_SLOTS]} slots in ${buffer.byteLength} bytes`);
    }
    return new DoorbellTable(buffer);
  }

  /** A free doorbell id (≥ 1). Safe from any thread. Throws when every slot is taken. */
  allocate(): number {
    const hint = Atomics.load(this.words, HEADER_HINT);
    const start = hint >= 1 && hint < this.slots ? hint : 1;
    for (let i = 0; i < this.slots - 1; i++) {
      const id = ((start - 1 + i) % (this.slots - 1)) + 1;
      if (Atomics.compareExchange(this.words, id * SLOT_WORDS + IN_USE, 0, 1) === 0) {
        Atomics.store(this.words, HEADER_HINT, id + 1 < this.slots ? id + 1 : 1);
        return id;
      }
    }
    throw new Error(`DoorbellTable.allocate: all ${this.slots - 1} doorbells are in use`);
  }

  /** Returns a doorbell to the table; anyone still asleep on it is woken so it cannot sleep forever. */
  free(id: number): void {
    this.check(id, 'free');
    const base = id * SLOT_WORDS;
    if (Atomics.compareExchange(this.words, base + IN_USE, 1, 0) !== 1) {
      throw new Error(`DoorbellTable.free: doorbell ${id} is not allocated`);
    }
    Atomics.store(this.words, base + EVENT_FD, 0);
    Atomics.add(this.words, base + SEQ, 1);
    Atomics.notify(this.words, base + SEQ);
  }

  /** Wakes the sleepers of `id`, if any; otherwise costs one load. Id 0 ("none") is ignored. */
  ring(id: number): void {
    if (id === 0) return;
    this.check(id, 'ring');
    const base = id * SLOT_WORDS;
    if (Atomics.load(this.words, base + SLEEPERS) !== 0) {
      Atomics.add(this.words, base + SEQ, 1);
      Atomics.notify(this.words, base + SEQ);
      const eventFd = Atomics.load(this.words, base + EVENT_FD);
      if (eventFd !== 0) eventFdSignaller?.(eventFd - 1);
    }
  }

  /**
   * First step of a sleep: announces a sleeper and returns the sequence to wait on. The caller must then re-check
   * every input before waiting (a waker either sees the sleeper or its new data is seen by the re-check), and must
   * call finishSleep afterwards whatever happened.
   */
  prepareSleep(id: number): number {
    this.check(id, 'prepareSleep');
    const base = id * SLOT_WORDS;
    const seq = Atomics.load(this.words, base + SEQ);
    Atomics.add(this.words, base + SLEEPERS, 1);
    return seq;
  }

  /** Blocks until rung (or `timeoutMs`). Worker threads only: the main thread must use waitAsync. */
  wait(id: number, seq: number, timeoutMs: number): WaitResult {
    this.check(id, 'wait');
    return Atomics.wait(this.words, id * SLOT_WORDS + SEQ, seq, timeoutMs);
  }

  /** The main thread's wait: resolves when rung, at once with 'not-equal' if rung since prepareSleep. */
  waitAsync(id: number, seq: number, timeoutMs: number): Promise<WaitResult> {
    this.check(id, 'waitAsync');
    if (atomicsWaitAsync === undefined) {
      return Promise.reject(new Error('DoorbellTable.waitAsync: Atomics.waitAsync is not available in this runtime'));
    }
    const result = atomicsWaitAsync(this.words, id * SLOT_WORDS + SEQ, seq, timeoutMs);
    return result.async ? result.value : Promise.resolve(result.value);
  }

  finishSleep(id: number): void {
    this.check(id, 'finishSleep');
    Atomics.sub(this.words, id * SLOT_WORDS + SLEEPERS, 1);
  }

  /**
   * Declares that the owner of `id` sleeps in poll(2) on `eventFd` (with a device's fd) instead of Atomics.wait:
   * ringing it then also signals the eventfd. -1 removes it.
   */
  attachEventFd(id: number, eventFd: number): void {
    this.check(id, 'attachEventFd');
    Atomics.store(this.words, id * SLOT_WORDS + EVENT_FD, eventFd + 1);
  }

  private check(id: number, operation: string): void {
    // `id >>> 0 === id` rejects fractions, negatives and NaN in one comparison.
    if (id >>> 0 !== id || id === 0 || id >= this.slots) {
      throw new RangeError(`DoorbellTable.${operation}: no doorbell ${String(id)} (ids are 1..${this.slots - 1})`);
    }
  }
}

let installed: DoorbellTable | undefined;

/**
 * Makes `table` the doorbell table of this thread: rings ring the doorbells written in their control blocks
 * through it. Every thread of a process must install the same table (its buffer comes with the workerData).
 */
export function installDoorbellTable(table: DoorbellTable): void {
  installed = table;
}

/** The table installed in this thread, created on first use when nobody installed one (a single-thread process). */
export function doorbellTable(): DoorbellTable {
  if (installed === undefined) installed = DoorbellTable.create();
  return installed;
}
