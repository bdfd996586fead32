import { FrameRing } from '../shared-ring/index.js';
import type { LinkDevice } from './device.js';
import { WrappedDevice } from './device-wrapper.js';
import { SeededRandom } from './prng.js';

/** Impairments of a link, as smoltcp's FaultInjector has them. Probabilities are 0..1; a run with one seed repeats. */
export interface FaultOptions {
  readonly loss?: number;
  readonly duplicate?: number;
  /** Probability that a frame is held back so the frames after it overtake it. */
  readonly reorder?: number;
  /** Probability that one bit of the frame is flipped (checksums must catch it). */
  readonly corrupt?: number;
  /** One-way delay added to every frame, in ms. */
  readonly delayMs?: number;
  /** Serialisation rate in bits per second (0 or absent: unlimited); a queue beyond `queueBytes` drops its tail. */
  readonly rateBps?: number;
  readonly queueBytes?: number;
  readonly seed?: number;
  /** Which way the faults apply: frames we send, frames we receive, or both. Default: transmit. */
  readonly direction?: 'transmit' | 'receive' | 'both';
}

export function hasFaults(f: FaultOptions | undefined): boolean {
  return !!f && !!(f.loss || f.duplicate || f.reorder || f.corrupt || f.delayMs || f.rateBps);
}

/** Checks a FaultOptions object and says clearly what is wrong with it. */
export function validateFaultOptions(f: FaultOptions): void {
  for (const key of ['loss', 'duplicate', 'reorder', 'corrupt'] as const) {
    const v = f[key];
    if (v !== undefined && !(typeof v === 'number' && v >= 0 && v <= 1)) {
      throw new RangeError(`${key} must be a probability between 0 and 1, got ${String(v)}`);
    }
  }
  for (const key of ['delayMs', 'rateBps', 'queueBytes'] as const) {
    const v = f[key];
    if (v !== undefined && !(typeof v === 'number' && v >= 0 && Number.isFinite(v))) {
      throw new RangeError(`${key} must be a finite number ≥ 0, got ${String(v)}`);
    }
  }
}

interface HeldFrame {
  bytes: Uint8Array;
  length: number;
  flags: number;
  port: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
  aux: number;
  releaseAt: number;
  order: number;
}

/** Frames held back for delay, reorder or rate, released in (time, arrival) order. A binary min-heap. */
class HoldQueue {
  private readonly heap: HeldFrame[] = [];
  private readonly spare: HeldFrame[] = [];
  bytes = 0;

  get size(): number {
    return this.heap.length;
  }

  earliest(): number {
    return this.heap.length ? this.heap[0].releaseAt : Infinity;
  }

  /** A frame record to fill, its buffer at least `length` long (reused: no allocation in steady state). */
  take(length: number): HeldFrame {
    let f = this.spare.pop();
    if (!f) {
      f = { bytes: new Uint8Array(0), length: 0, flags: 0, port: 0, gsoSize: 0, csumStart: 0, csumOffset: 0, aux: 0, releaseAt: 0, order: 0 };
    }
    if (f.bytes.length < length) f.bytes = new Uint8Array(Math.max(2048, length + 8));
    f.length = length;
    return f;
  }

  push(f: HeldFrame): void {
    const h = this.heap;
    h.push(f);
    this.bytes += f.length;
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i], h[parent])) break;
      [h[i], h[parent]] = [h[parent], h[i]];
      i = parent;
    }
  }

  peek(): HeldFrame | undefined {
    return this.heap[0];
  }

  /** Removes the earliest frame; the caller hands it back with `recycle` when done with its bytes. */
  pop(): HeldFrame {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    this.bytes -= top.length;
    if (h.length) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < h.length && before(h[l], h[m])) m = l;
        if (r < h.length && before(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }

  recycle(f: HeldFrame): void {
    this.spare.push(f);
  }
}

function before(a: HeldFrame, b: HeldFrame): boolean {
  return a.releaseAt < b.releaseAt || (a.releaseAt === b.releaseAt && a.order < b.order);
}

const HOLD_LIMIT_BYTES = 32 << 20;
const STAGING_BYTES = 4 << 20;

/** One direction's impairment: frames in through `admit`, out through `release` when due. */
class Impairment {
  readonly random: SeededRandom;
  readonly queue = new HoldQueue();
  private order = 0;
  private nextFreeAt = 0;
  readonly counts = { dropped: 0, duplicated: 0, reordered: 0, corrupted: 0, rateDropped: 0 };

  constructor(private readonly faults: FaultOptions, seed: number) {
    this.random = new SeededRandom(seed);
  }

  get full(): boolean {
    return this.queue.bytes > HOLD_LIMIT_BYTES;
  }

  /** Moves up to `max` frames from `from` into the hold queue, impaired. Returns frames taken. */
  admit(from: FrameRing, max: number, now: number): number {
    const f = this.faults;
    let taken = 0;
    while (taken < max && !this.full) {
      const off = from.peek();
      if (off < 0) break;
      taken++;
      const length = from.frameLength;
      if (f.loss && this.random.next() < f.loss) {
        this.counts.dropped++;
        from.next();
        continue;
      }
      const copies = f.duplicate && this.random.next() < f.duplicate ? 2 : 1;
      if (copies === 2) this.counts.duplicated++;
      for (let c = 0; c < copies; c++) {
        let releaseAt = now + (f.delayMs ?? 0);
        if (f.reorder && this.random.next() < f.reorder) {
          // Held for one more delay (at least 1 ms) so the frames behind it overtake it.
          releaseAt += Math.max(1, f.delayMs ?? 0);
          this.counts.reordered++;
        }
        if (f.rateBps) {
          if (this.queue.bytes + length > (f.queueBytes ?? 1 << 20)) {
            this.counts.rateDropped++;
            continue;
          }
          this.nextFreeAt = Math.max(this.nextFreeAt, now) + ((length + 24) * 8 * 1000) / f.rateBps;
          releaseAt = Math.max(releaseAt, this.nextFreeAt);
        }
        const held = this.queue.take(length);
        held.bytes.set(from.bytes.subarray(off, off + length), 0);
        held.flags = from.flags;
        held.port = from.port;
        held.gsoSize = from.gsoSize;
        held.csumStart = from.csumStart;
        held.csumOffset = from.csumOffset;
        held.aux = from.aux;
        held.releaseAt = releaseAt;
        held.order = this.order++;
        if (length > 0 && f.corrupt && this.random.next() < f.corrupt) {
          held.bytes[this.random.below(length)] ^= 1 << this.random.below(8);
          this.counts.corrupted++;
        }
        this.queue.push(held);
      }
      from.next();
    }
    return taken;
  }

  /** Moves due frames into `into` (as producer, unpublished). Returns frames moved. */
  release(into: FrameRing, now: number): number {
    let moved = 0;
    for (let held = this.queue.peek(); held && held.releaseAt <= now; held = this.queue.peek()) {
      const dst = into.reserve(held.length);
      if (dst < 0) break;
      into.bytes.set(held.bytes.subarray(0, held.length), dst);
      into.commit(held.length, held.flags, held.port, held.gsoSize, held.csumStart, held.csumOffset, held.aux);
      this.queue.recycle(this.queue.pop());
      moved++;
    }
    return moved;
  }
}

/**
 * Wraps any device and impairs the frames crossing it — loss, duplication, reorder, delay, rate, corruption —
 * seeded so a run repeats. Dropping before our receive is wire loss as a peer sees it; delaying our transmit is
 * wire delay. Costs one copy per frame, and only when faults are asked for.
 */
export class FaultInjector extends WrappedDevice {
  private readonly outbound: Impairment | null;
  private readonly inbound: Impairment | null;
  private readonly outStaging: FrameRing;
  private readonly inStaging: FrameRing;

  constructor(inner: LinkDevice, faults: FaultOptions) {
    validateFaultOptions(faults);
    const direction = faults.direction ?? 'transmit';
    // Impaired on the way out, a TCP super-segment would be lost, delayed or corrupted as one 64 KiB frame: a wire
    // cuts it first. So with transmit faults the stack is told there is no TSO and builds MSS-sized frames.
    super(inner, direction !== 'receive' ? { ...inner.offloads, tso: false } : inner.offloads);
    const seed = faults.seed ?? 1;
    this.outbound = direction !== 'receive' ? new Impairment(faults, seed) : null;
    this.inbound = direction !== 'transmit' ? new Impairment(faults, (seed ^ 0x9e3779b9) >>> 0) : null;
    this.outStaging = FrameRing.create(STAGING_BYTES, { shared: false });
    this.inStaging = FrameRing.create(STAGING_BYTES, { shared: false });
  }

  /** Called with an empty `from` too when `pollAt` is due: that is how held frames leave. */
  override transmit(from: FrameRing, maxFrames: number, now: number): number {
    if (!this.outbound) return this.inner.transmit(from, maxFrames, now);
    const taken = this.outbound.admit(from, maxFrames, now);
    this.flushOutbound(now);
    return taken;
  }

  override receive(into: FrameRing, maxFrames: number, now: number, maxBytes?: number): number {
    if (!this.inbound) return this.inner.receive(into, maxFrames, now, maxBytes);
    if (this.inner.receive(this.inStaging, maxFrames, now, maxBytes) > 0) this.inStaging.publish();
    if (this.inbound.admit(this.inStaging, maxFrames, now) > 0) this.inStaging.release();
    return this.inbound.release(into, now);
  }

  private flushOutbound(now: number): void {
    if (this.outbound!.release(this.outStaging, now) > 0) this.outStaging.publish();
    if (this.inner.transmit(this.outStaging, 1 << 30, now) > 0) this.outStaging.release();
  }

  override pollAt(now: number): number {
    let at = this.inner.pollAt(now);
    if (this.outbound) {
      // Frames still held, or released but waiting for room on the inner device, need another call.
      if (this.outStaging.readableBytes() > 0) at = now;
      at = Math.min(at, this.outbound.queue.earliest());
    }
    if (this.inbound) at = Math.min(at, this.inbound.queue.earliest());
    return at;
  }

  override counters(): Readonly<Record<string, number>> {
    const out = { ...this.inner.counters() };
    for (const [prefix, imp] of [['tx', this.outbound], ['rx', this.inbound]] as const) {
      if (!imp) continue;
      for (const [k, v] of Object.entries(imp.counts)) out[`${prefix}Fault${k[0].toUpperCase()}${k.slice(1)}`] = v;
    }
    return out;
  }

}
