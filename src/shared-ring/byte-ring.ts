// The byte ring: an SPSC byte stream over a (Shared)ArrayBuffer, used as socket buffer (docs/ARCHITECTURE.md,
// "Byte ring"). The producer may place bytes ahead of the tail before publishing them (out-of-order TCP segments
// land in place, RFC 9293 §3.10.7.4) and the consumer may read bytes after the head without releasing them (the
// send buffer keeps unacknowledged data for retransmission until ACKed, RFC 9293 §3.8.1). Every write, read and
// advance publishes its index at once.
import {
  CONTROL_BLOCK_BYTES,
  RING_KIND_BYTE,
  WORD_HEAD,
  WORD_TAIL,
  createRingBuffer,
  validateRingBuffer,
  type RingCreateOptions,
} from './control-block.js';
import { copyBytes } from './copy.js';
import { RingBase, checkRange } from './ring-base.js';

/**
 * A reader that runs on the writer's thread (an `inline` stack: protocol stage and socket share one) with a
 * buffer of its own ready. While the ring is empty the writer may hand it in-order bytes from where they are, so
 * they are copied once instead of into the ring and out again (docs/ARCHITECTURE.md, "Byte ring").
 */
export interface ByteRingDirectReader {
  /** Copies up to `len` bytes of `src` from `srcOffset` into the reader's buffer; returns how many (0: none now). */
  take(src: Uint8Array, srcOffset: number, len: number): number;
}

/**
 * Direct readers by ring memory. Per thread by construction (module state is per isolate): a writer on another
 * thread never finds one, and the bytes go through the ring as always.
 */
const directReaders = new WeakMap<SharedArrayBuffer | ArrayBuffer, ByteRingDirectReader>();

export class ByteRing extends RingBase {
  private tail: number;
  private cachedHead: number;
  private head: number;
  private cachedTail: number;

  private constructor(buffer: SharedArrayBuffer | ArrayBuffer, capacity: number) {
    super(buffer, capacity);
    this.tail = this.cachedTail = Atomics.load(this.control, WORD_TAIL) >>> 0;
    this.head = this.cachedHead = Atomics.load(this.control, WORD_HEAD) >>> 0;
  }

  /** A new ring of `capacityBytes` (a power of two ≥ 4096), SharedArrayBuffer-backed unless shared: false. */
  static create(capacityBytes: number, options?: RingCreateOptions): ByteRing {
    return new ByteRing(createRingBuffer('ByteRing.create', RING_KIND_BYTE, capacityBytes, options, 1), capacityBytes);
  }

  /** This thread's view of a ring created elsewhere; throws if the buffer is not an intact byte ring. */
  static attach(buffer: SharedArrayBuffer | ArrayBuffer): ByteRing {
    return new ByteRing(buffer, validateRingBuffer('ByteRing.attach', buffer, RING_KIND_BYTE, 1));
  }

  // ---- producer ----

  /** Free bytes after the tail (fresh head). */
  writableBytes(): number {
    this.cachedHead = Atomics.load(this.control, WORD_HEAD) >>> 0;
    return this.capacity - ((this.tail - this.cachedHead) >>> 0);
  }

  /** Copies min(len, free) bytes at the tail and publishes them; returns how many. */
  write(src: Uint8Array, srcOffset: number, len: number): number {
    checkRange('ByteRing.write', src, srcOffset, len);
    const count = Math.min(len, this.freeAtLeast(len));
    if (count === 0) return 0;
    this.copyIn(this.tail, src, srcOffset, count);
    this.publishTail((this.tail + count) >>> 0);
    return count;
  }

  /** Places bytes `aheadOfTail` bytes after the tail without publishing them; false (nothing written) if they do not fit. */
  writeAt(aheadOfTail: number, src: Uint8Array, srcOffset: number, len: number): boolean {
    checkRange('ByteRing.writeAt', src, srcOffset, len);
    if (aheadOfTail >>> 0 !== aheadOfTail) throw new RangeError(`ByteRing.writeAt: bad offset ${aheadOfTail}`);
    if (aheadOfTail + len > this.freeAtLeast(aheadOfTail + len)) return false;
    this.copyIn((this.tail + aheadOfTail) >>> 0, src, srcOffset, len);
    return true;
  }

  /** Publishes `n` bytes already placed at the tail (writeAt, writableSpans) and rings the consumer's doorbell. */
  advanceTail(n: number): void {
    if (n >>> 0 !== n || n > this.freeAtLeast(n)) {
      throw new RangeError(`ByteRing.advanceTail: ${n} bytes exceed the ${this.writableBytes()} free`);
    }
    if (n !== 0) this.publishTail((this.tail + n) >>> 0);
  }

  /**
   * The free space `[tail + aheadOfTail, +len)` as up to two `[absoluteOffset, length]` spans of `bytes`, written to
   * out[0..3]; returns the number of spans. Throws if that space is not free.
   */
  writableSpans(aheadOfTail: number, len: number, out: Int32Array): number {
    if (aheadOfTail >>> 0 !== aheadOfTail || len >>> 0 !== len || aheadOfTail + len > this.freeAtLeast(aheadOfTail + len)) {
      throw new RangeError(`ByteRing.writableSpans: [${aheadOfTail}, +${len}) is not within the ${this.writableBytes()} free bytes`);
    }
    return this.spansAt((this.tail + aheadOfTail) >>> 0, len, out);
  }

  /**
   * This thread's direct reader of the ring, if it has one and the ring is empty: only then may bytes bypass the
   * ring without overtaking any in it.
   */
  directReader(): ByteRingDirectReader | undefined {
    const reader = directReaders.get(this.buffer);
    return reader !== undefined && this.writableBytes() === this.capacity ? reader : undefined;
  }

  // ---- consumer ----

  /** Registers (or, with null, removes) this thread's direct reader of the ring (ByteRingDirectReader). */
  setDirectReader(reader: ByteRingDirectReader | null): void {
    if (reader === null) directReaders.delete(this.buffer);
    else directReaders.set(this.buffer, reader);
  }

  /** Published bytes after the head (fresh tail). */
  readableBytes(): number {
    this.cachedTail = Atomics.load(this.control, WORD_TAIL) >>> 0;
    return (this.cachedTail - this.head) >>> 0;
  }

  /** Copies min(len, readable) bytes out and releases them; returns how many. */
  read(dst: Uint8Array, dstOffset: number, len: number): number {
    checkRange('ByteRing.read', dst, dstOffset, len);
    const count = Math.min(len, this.readableAtLeast(len));
    if (count === 0) return 0;
    this.copyOut(this.head, dst, dstOffset, count);
    this.releaseHead((this.head + count) >>> 0);
    return count;
  }

  /** Copies up to `len` bytes starting `behindHead` bytes after the head, without releasing; returns how many. */
  peekAt(behindHead: number, dst: Uint8Array, dstOffset: number, len: number): number {
    checkRange('ByteRing.peekAt', dst, dstOffset, len);
    if (behindHead >>> 0 !== behindHead) throw new RangeError(`ByteRing.peekAt: bad offset ${behindHead}`);
    const readable = this.readableAtLeast(behindHead + len);
    if (behindHead >= readable) return 0;
    const count = Math.min(len, readable - behindHead);
    this.copyOut((this.head + behindHead) >>> 0, dst, dstOffset, count);
    return count;
  }

  /**
   * Up to two [absoluteOffset, length] spans in `bytes` for `len` bytes starting `fromHead` bytes after the head;
   * writes them into out[0..3], returns how many spans (0, 1, 2). Lets the caller fuse checksum with its copy.
   * Throws if those bytes are not published.
   */
  spans(fromHead: number, len: number, out: Int32Array): number {
    if (fromHead >>> 0 !== fromHead || len >>> 0 !== len || fromHead + len > this.readableAtLeast(fromHead + len)) {
      throw new RangeError(`ByteRing.spans: [${fromHead}, +${len}) is not within the ${this.readableBytes()} readable bytes`);
    }
    return this.spansAt((this.head + fromHead) >>> 0, len, out);
  }

  /** Releases `n` bytes and rings the producer's doorbell. */
  advanceHead(n: number): void {
    if (n >>> 0 !== n || n > this.readableAtLeast(n)) {
      throw new RangeError(`ByteRing.advanceHead: ${n} bytes exceed the ${this.readableBytes()} readable`);
    }
    if (n !== 0) this.releaseHead((this.head + n) >>> 0);
  }

  // Both indices are published as soon as they move, so there is nothing pending at close.
  protected flushPending(): void {}

  /** Free bytes, re-reading the head only if the cached one says fewer than `wanted`. */
  private freeAtLeast(wanted: number): number {
    let free = this.capacity - ((this.tail - this.cachedHead) >>> 0);
    if (free < wanted) {
      this.cachedHead = Atomics.load(this.control, WORD_HEAD) >>> 0;
      free = this.capacity - ((this.tail - this.cachedHead) >>> 0);
    }
    return free;
  }

  /** Readable bytes, re-reading the tail only if the cached one says fewer than `wanted`. */
  private readableAtLeast(wanted: number): number {
    let readable = (this.cachedTail - this.head) >>> 0;
    if (readable < wanted) {
      this.cachedTail = Atomics.load(this.control, WORD_TAIL) >>> 0;
      readable = (this.cachedTail - this.head) >>> 0;
    }
    return readable;
  }

  private publishTail(tail: number): void {
    this.tail = tail;
    Atomics.store(this.control, WORD_TAIL, tail | 0);
    this.ringConsumer();
  }

  private releaseHead(head: number): void {
    this.head = head;
    Atomics.store(this.control, WORD_HEAD, head | 0);
    this.ringProducer();
  }

  private spansAt(position: number, len: number, out: Int32Array): number {
    if (out.length < 4) throw new RangeError('ByteRing: spans need an Int32Array of at least 4 elements');
    if (len === 0) return 0;
    const offset = position & this.mask;
    const first = Math.min(len, this.capacity - offset);
    out[0] = CONTROL_BLOCK_BYTES + offset;
    out[1] = first;
    if (first === len) return 1;
    out[2] = CONTROL_BLOCK_BYTES;
    out[3] = len - first;
    return 2;
  }

  private copyIn(position: number, src: Uint8Array, srcOffset: number, len: number): void {
    const offset = position & this.mask;
    const first = Math.min(len, this.capacity - offset);
    copyBytes(this.bytes, CONTROL_BLOCK_BYTES + offset, src, srcOffset, first);
    if (first < len) copyBytes(this.bytes, CONTROL_BLOCK_BYTES, src, srcOffset + first, len - first);
  }

  private copyOut(position: number, dst: Uint8Array, dstOffset: number, len: number): void {
    const offset = position & this.mask;
    const first = Math.min(len, this.capacity - offset);
    copyBytes(dst, dstOffset, this.bytes, CONTROL_BLOCK_BYTES + offset, first);
    if (first < len) copyBytes(dst, dstOffset + first, this.bytes, CONTROL_BLOCK_BYTES, len - first);
  }
}
